"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3).

Train for `num_iter` steps while the learning rate grows exponentially from `start_lr` to `end_lr`, recording the
loss of each step's batch; the loss falls once the rate is large enough to make progress, and blows up once it is
too large. The recording follows torch-lr-finder's `range_test(step_mode='exp')`: the loss is smoothed as
`smooth * loss + (1 - smooth) * previous`, and the test stops early when the smoothed loss exceeds
`diverge_threshold` times the best one. Afterwards the model's weights and buffers, the optimizer's state (its
learning rates included), the gradients, the train/eval mode and chainrule's default random generator (which
shuffling and dropout draw from) are put back as they were: the test leaves no trace.

The suggestion, `LRFinderResult.suggested_lr`, is the learning rate where the smoothed loss falls fastest: the
minimum of its gradient along the curve (torch-lr-finder's rule), leaving out the first 10 and last 5 points
where the curve is noisiest (when there are enough). `min_loss_lr / 10`, fastai's older rule, is given too, as
`lr_min_div10`: one order of magnitude below the lr of the lowest loss, a safe step back from the blow-up.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.errors import ArgumentError
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, as_array

__all__ = ["LRFinderResult", "lr_find"]

SKIP_START = 10
SKIP_END = 5


@dataclass
class LRFinderResult:
    """lrs: the learning rate of each step; losses: the smoothed losses (what is plotted); raw_losses: the batch
    losses; suggested_lr: the steepest descent of the smoothed curve (None when the curve is too short);
    min_loss_lr: the lr of the lowest smoothed loss; diverged: whether the test stopped on a blow-up."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    raw_losses: list[float] = field(default_factory=list)
    suggested_lr: float | None = None
    min_loss_lr: float | None = None
    diverged: bool = False

    @property
    def lr_min_div10(self) -> float | None:
        """fastai's older rule: the lr of the lowest loss, divided by 10."""
        return None if self.min_loss_lr is None else self.min_loss_lr / 10.0

    def plot(self, path: str | os.PathLike[str]) -> str:
        """Write the loss-against-lr curve (log lr axis), the suggestion marked, to the PNG `path`."""
        from chainrule.diagnostics.plots import plot_lr_find

        return plot_lr_find(self, path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lrs": list(self.lrs),
            "losses": list(self.losses),
            "raw_losses": list(self.raw_losses),
            "suggested_lr": self.suggested_lr,
            "min_loss_lr": self.min_loss_lr,
            "lr_min_div10": self.lr_min_div10,
            "diverged": self.diverged,
        }

    def __repr__(self) -> str:
        suggestion = "None" if self.suggested_lr is None else f"{self.suggested_lr:.3g}"
        return (
            f"LRFinderResult(suggested_lr={suggestion}, steps={len(self.lrs)}, "
            f"lr_range=({self.lrs[0]:.3g}, {self.lrs[-1]:.3g}), diverged={self.diverged})"
            if self.lrs
            else "LRFinderResult(steps=0)"
        )


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"lr_find: {name} must be a positive number, got {value!r}")
    return float(value)


def _batches(data: Any, batch_size: int, dtype: np.dtype | None) -> Iterator[Any]:
    """Batches of `data` (a DataLoader, a Dataset, or a tuple (X, y) of arrays/Tensors), round and round."""
    from chainrule.data import DataLoader, Dataset, TensorDataset

    if isinstance(data, DataLoader):
        loader = data
    elif isinstance(data, tuple | list):
        if len(data) < 2:
            raise ArgumentError(
                f"lr_find: data as a tuple must hold inputs and targets, (X, y); got {len(data)} item(s)"
            )
        arrays = []
        for item in data:
            array = item.data if isinstance(item, Tensor) else as_array(item)
            if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
                array = array.astype(dtype)
            arrays.append(array)
        loader = DataLoader(TensorDataset(*arrays), batch_size=batch_size, shuffle=True)
    elif isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        loader = DataLoader(data, batch_size=batch_size, shuffle=True)
    else:
        raise ArgumentError(
            f"lr_find: data must be a DataLoader, a Dataset or a tuple (X, y), got {type(data).__name__}"
        )
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ArgumentError("lr_find: data yielded no batches")


def _suggestion(lrs: list[float], losses: list[float]) -> float | None:
    if len(losses) >= SKIP_START + SKIP_END + 2:
        lrs, losses = lrs[SKIP_START:-SKIP_END], losses[SKIP_START:-SKIP_END]
    if len(losses) < 2:
        return None
    return float(lrs[int(np.gradient(np.asarray(losses, dtype=np.float64)).argmin())])


def lr_find(
    model: Module,
    loss_fn: Callable[[Any, Any], Tensor],
    optimizer: Any,
    data: Any,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    smooth: float = 0.05,
    diverge_threshold: float = 5.0,
    batch_size: int = 32,
) -> LRFinderResult:
    """Run the learning-rate range test and restore everything afterwards (see the module docstring).

    model, loss_fn, optimizer: as for training; every parameter group's lr is set at each step. data: a
    DataLoader, a Dataset or a tuple (X, y) (shuffled in batches of `batch_size`); batches are (inputs...,
    target), cycled when there are fewer than num_iter. start_lr, end_lr: the range, swept exponentially over
    num_iter steps. smooth: the weight of the new loss in the smoothing, in [0, 1) (0: no smoothing).
    diverge_threshold: stop when the smoothed loss exceeds this many times the best (a value <= 1 never stops).
    Returns an LRFinderResult; `result.plot(path)` draws the curve.
    """
    if not isinstance(model, Module):
        raise ArgumentError(f"lr_find: model must be a chainrule.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ArgumentError(f"lr_find: loss_fn must be callable, got {loss_fn!r}")
    if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "state_dict"):
        raise ArgumentError(f"lr_find: optimizer must be a chainrule.optim optimizer, got {type(optimizer).__name__}")
    start_lr = _positive("start_lr", start_lr)
    end_lr = _positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ArgumentError(f"lr_find: end_lr ({end_lr}) must be larger than start_lr ({start_lr})")
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 2:
        raise ArgumentError(f"lr_find: num_iter must be an int >= 2, got {num_iter!r}")
    if isinstance(smooth, bool) or not isinstance(smooth, int | float) or not 0.0 <= smooth < 1.0:
        raise ArgumentError(f"lr_find: smooth must be a number in [0, 1), got {smooth!r}")
    if isinstance(diverge_threshold, bool) or not isinstance(diverge_threshold, int | float):
        raise ArgumentError(f"lr_find: diverge_threshold must be a number, got {diverge_threshold!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"lr_find: batch_size must be an int >= 1, got {batch_size!r}")

    dtype = next((p.data.dtype for p in model.parameters() if p.data.dtype.kind == "f"), None)
    weights = {key: np.array(value.data, copy=True) for key, value in model.state_dict().items()}
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    grads = [(p, p.grad) for p in model.parameters()]
    rng = _random.get_rng_state()
    training = model.training
    result = LRFinderResult()
    try:
        model.train()
        batches = _batches(data, batch_size, dtype)
        best = math.inf
        ratio = end_lr / start_lr
        for step in range(num_iter):
            lr = start_lr * ratio ** (step / (num_iter - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = next(batches)
            if not isinstance(batch, tuple | list) or len(batch) < 2:
                raise ArgumentError(f"lr_find: each batch must be a tuple (inputs, target), got {type(batch).__name__}")
            optimizer.zero_grad()
            loss = loss_fn(model(*batch[:-1]), batch[-1])
            if not isinstance(loss, Tensor) or loss.data.size != 1:
                raise ArgumentError("lr_find: loss_fn must return a scalar Tensor")
            value = loss.item()
            if not math.isfinite(value):
                result.diverged = True
                break
            loss.backward()
            optimizer.step()
            smoothed = value if step == 0 or smooth == 0 else smooth * value + (1 - smooth) * result.losses[-1]
            best = min(best, smoothed)
            result.lrs.append(lr)
            result.raw_losses.append(value)
            result.losses.append(smoothed)
            if diverge_threshold > 1 and smoothed > diverge_threshold * best:
                result.diverged = True
                break
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(optimizer_state)
        for param, grad in grads:
            param.grad = grad
        _random.set_rng_state(rng)
        model.train(training)
    if result.losses:
        result.min_loss_lr = float(result.lrs[int(np.argmin(result.losses))])
        result.suggested_lr = _suggestion(result.lrs, result.losses)
    return result
