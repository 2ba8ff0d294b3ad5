"""A model and loss whose losses follow a script, to drive fit's stop criteria epoch by epoch.

The model has one float64 weight `w` (0 at the start) and returns `x * w`. The loss of a training batch is the next
value of `train` plus `(w - w.detach()).sum()`: that term is 0 in value and has gradient 1, so SGD(lr=1)
moves w by -1 per batch and the weights tell how many steps were taken. Validation batches (under no_grad)
take the next value of `val`. With one batch per epoch, epoch k's training loss is train[k] and after it
w == -(k + 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import chainrule as cr
from chainrule import nn, optim


class OneWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(cr.zeros(1, dtype=cr.float64))  # float64: the scripted values stay exact

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x * self.w


class ScriptedLoss:
    def __init__(self, model: OneWeight, train: Sequence[float], val: Sequence[float] = ()) -> None:
        self.model = model
        self.train = list(train)
        self.val = list(val)
        self.train_calls = 0
        self.val_calls = 0

    def __call__(self, output: cr.Tensor, target: cr.Tensor) -> cr.Tensor:
        w = self.model.w
        if cr.is_grad_enabled():
            value = self.train[self.train_calls]
            self.train_calls += 1
            return (w - w.detach()).sum() + value
        value = self.val[self.val_calls]
        self.val_calls += 1
        return (w * 0).sum() + value


def one_batch_data(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of n samples: with batch_size=n, one batch per epoch."""
    return np.ones((n, 1), dtype=np.float32), np.zeros((n, 1), dtype=np.float32)


def scripted_run(train: Sequence[float], val: Sequence[float] = (), **fit_kwargs):
    """fit the OneWeight model with SGD(lr=1) on one batch per epoch; returns (history, model, loss)."""
    from chainrule.train import fit

    model = OneWeight()
    loss = ScriptedLoss(model, train, val)
    data = one_batch_data()
    fit_kwargs.setdefault("epochs", len(train))
    fit_kwargs.setdefault("verbose", 0)
    if val:
        fit_kwargs.setdefault("val_data", data)
    history = fit(model, loss, optim.SGD(model.parameters(), lr=1.0), data, batch_size=4, **fit_kwargs)
    return history, model, loss
