"""Binary classification: breast tumours, malignant or benign, from 30 measurements; BCEWithLogitsLoss.

The network outputs one logit per sample, (N, 1); `nn.BCEWithLogitsLoss` takes it with 0/1 targets of the same
shape, as floats, and fuses the sigmoid with the binary cross-entropy (stable for large logits). The 'accuracy'
metric sees that the loss takes logits, so it predicts class 1 where the logit is positive.

Run: `python examples/binary_breast_cancer.py` (a few seconds; needs scikit-learn for the data).
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import breast_cancer
from chainrule.train import EarlyStopping, evaluate, fit


def main(epochs: int = 100, verbose: int = 1) -> float:
    cr.manual_seed(0)
    x_train, labels_train = breast_cancer(split="train")  # x (455, 30) float32, standardized; labels (455,) 0/1
    x_test, labels_test = breast_cancer(split="test")  # (114, 30), (114,)
    y_train = labels_train.astype(np.float32).reshape(-1, 1)  # the logits' shape (N, 1), as floats
    y_test = labels_test.astype(np.float32).reshape(-1, 1)

    model = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 1))  # (N, 30) -> logits (N, 1)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)

    history = fit(
        model, loss_fn, optimizer, (x_train, y_train), val_split=0.1, epochs=epochs, batch_size=32,
        metrics=["accuracy"], early_stopping=EarlyStopping("val_loss", patience=10, restore_best_weights=True),
        verbose=verbose,
    )  # fmt: skip
    test = evaluate(model, loss_fn, (x_test, y_test), metrics=["accuracy"])
    print(f"stopped after {len(history)} epochs ({history.stop_reason})")
    print(f"test accuracy: {test['accuracy']:.4f}")
    return test["accuracy"]


if __name__ == "__main__":
    main()
