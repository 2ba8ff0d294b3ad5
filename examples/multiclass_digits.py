"""Multi-class classification: handwritten digits (8x8 images, 10 classes), an MLP and cross-entropy.

The network outputs one logit per class; `nn.CrossEntropyLoss` takes those logits and the class indices (it
applies log-softmax itself, fused with the negative log-likelihood). `chainrule.train.fit` runs the PyTorch
training step over shuffled mini-batches, holds out the last 10% of the training part for validation, and stops
once the validation loss has not improved for 10 epochs, keeping the best epoch's weights.

Run: `python examples/multiclass_digits.py` (a few seconds; needs scikit-learn for the data).
"""

from __future__ import annotations

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import digits
from chainrule.train import EarlyStopping, evaluate, fit


def main(epochs: int = 100, verbose: int = 1) -> float:
    cr.manual_seed(0)
    x_train, y_train = digits(split="train")  # x (1437, 64) float32, standardized; y (1437,) int64 in 0..9
    x_test, y_test = digits(split="test")  # (360, 64), (360,): the same seed gives the complementary part

    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))  # (N, 64) -> logits (N, 10)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    history = fit(
        model, loss_fn, optimizer, (x_train, y_train), val_split=0.1, epochs=epochs, batch_size=64,
        metrics=["accuracy"], early_stopping=EarlyStopping("val_loss", patience=10, restore_best_weights=True),
        verbose=verbose,
    )  # fmt: skip
    test = evaluate(model, loss_fn, (x_test, y_test), metrics=["accuracy"])
    print(f"stopped after {len(history)} epochs ({history.stop_reason})")
    print(f"test accuracy: {test['accuracy']:.4f}")
    return test["accuracy"]


if __name__ == "__main__":
    main()
