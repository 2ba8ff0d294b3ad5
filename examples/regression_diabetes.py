"""Regression: disease progression of diabetes patients a year on, from 10 measurements; MSELoss.

The network outputs one real number per patient, (N, 1), against targets of the same shape. The data comes
standardized (features and target, with the training part's mean and standard deviation), so the MSE is in
units of the target's variance: an MSE of 0.5 means half of it is left unexplained, an R2 of about 0.5, which
is what linear models also reach on this small, noisy table.

Run: `python examples/regression_diabetes.py` (a few seconds; needs scikit-learn for the data).
"""

from __future__ import annotations

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import diabetes
from chainrule.train import EarlyStopping, evaluate, fit


def main(epochs: int = 200, verbose: int = 1) -> tuple[float, float]:
    cr.manual_seed(0)
    x_train, y_train = diabetes(split="train")  # x (353, 10) float32; y (353, 1) float32, both standardized
    x_test, y_test = diabetes(split="test")  # (89, 10), (89, 1)

    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))  # (N, 10) -> (N, 1)
    loss_fn = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3)

    history = fit(
        model, loss_fn, optimizer, (x_train, y_train), val_split=0.1, epochs=epochs, batch_size=32,
        metrics=["r2"], early_stopping=EarlyStopping("val_loss", patience=20, restore_best_weights=True),
        verbose=verbose,
    )  # fmt: skip
    test = evaluate(model, loss_fn, (x_test, y_test), metrics=["mse", "r2"])
    print(f"stopped after {len(history)} epochs ({history.stop_reason})")
    print(f"test MSE: {test['mse']:.4f}, R2: {test['r2']:.4f}")
    return test["mse"], test["r2"]


if __name__ == "__main__":
    main()
