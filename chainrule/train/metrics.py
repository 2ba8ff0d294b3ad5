"""Metrics: plain functions for one batch, and accumulating objects for a whole epoch.

An accumulating metric keeps exact running sums (counts, sums of errors, Chan's merged moments for R²), so the
value at the end of an epoch is the metric over every sample of the epoch, not an average of batch averages.
`update(output, target)` takes Tensors or ndarrays; `compute()` returns a Python float; `reset()` starts over.

Shapes:
- accuracy: logits or scores `(N, C)` (also `(N, C, d1, ...)`) with class indices `(N,)` (`(N, d1, ...)`) or
  one-hot / probability targets of the output's shape; or one score per sample, `(N,)` or `(N, 1)`, against
  0/1 targets of the same size: binary, `score > threshold` (on probabilities), or `logit > log(t / (1 - t))`
  with `from_logits=True`.
- top_k_accuracy: `(N, C)` scores with `(N,)` class indices; a sample counts when fewer than k classes score
  strictly higher than its true class (ties at the boundary count as hits, as TensorFlow's `in_top_k`).
- mse, mae, r2: outputs and targets of the same number of elements (an `(N, 1)` output against `(N,)` targets
  is read as `(N,)`); r2 is scikit-learn's `r2_score` with `multioutput='uniform_average'` over the columns
  of 2-D targets, and its `force_finite` rule for constant targets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.tensor import Tensor

__all__ = [
    "Accuracy",
    "MeanAbsoluteError",
    "MeanMetric",
    "MeanSquaredError",
    "Metric",
    "R2Score",
    "TopKAccuracy",
    "accuracy",
    "get_metric",
    "mae",
    "mse",
    "r2",
    "top_k_accuracy",
]


def _array(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value)


def _same_size(name: str, output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`output` in `target`'s shape: equal shapes pass; equal sizes (e.g. (N, 1) against (N,)) are reshaped."""
    if output.shape == target.shape:
        return output
    if output.size != target.size:
        raise ShapeError(
            f"{name}: the output has shape {shape_str(output.shape)} and the target {shape_str(target.shape)}; "
            "expected the same number of elements"
        )
    return output.reshape(target.shape)


class Metric:
    """An accumulating metric. Subclasses set `name` and `direction` ('max' when higher is better, else 'min'),
    and implement `reset`, `update(output, target)` and `compute()`."""

    name: str = "metric"
    direction: str = "max"

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, output: Any, target: Any) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError

    def __call__(self, output: Any, target: Any) -> float:
        """The metric of this one batch alone (the accumulated state is left untouched)."""
        fresh = self.clone()
        fresh.update(output, target)
        return fresh.compute()

    def clone(self) -> Metric:
        """A new metric of the same kind and settings, with empty state."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.reset()
        return twin

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """The fraction of correct predictions: multi-class (argmax over dim 1) or binary (one score per sample,
    thresholded). threshold: on probabilities; with `from_logits=True` the score is a logit and is compared
    with the threshold's logit (0 for 0.5)."""

    direction = "max"

    def __init__(self, threshold: float = 0.5, from_logits: bool = False, name: str = "accuracy") -> None:
        if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0.0 < threshold < 1.0:
            raise ArgumentError(f"Accuracy: threshold must be a number in (0, 1), got {threshold!r}")
        self.threshold = float(threshold)
        self.from_logits = bool(from_logits)
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        output, target = _array(output), _array(target)
        if output.ndim >= 2 and output.shape[1] >= 2:
            predicted = output.argmax(axis=1)
            if target.shape == output.shape:  # one-hot or probability targets
                target = target.argmax(axis=1)
            elif target.shape != predicted.shape:
                raise ShapeError(
                    f"accuracy: scores of shape {shape_str(output.shape)} need class indices of shape "
                    f"{shape_str(predicted.shape)} or targets of the scores' shape, got {shape_str(target.shape)}"
                )
            self.correct += int(np.count_nonzero(predicted == target))
            self.count += predicted.size
            return
        output = _same_size("accuracy", output, target)
        cut = math.log(self.threshold / (1.0 - self.threshold)) if self.from_logits else self.threshold
        predicted = output > cut
        expected = target > 0.5 if target.dtype.kind == "f" else target.astype(bool)
        self.correct += int(np.count_nonzero(predicted == expected))
        self.count += predicted.size

    def compute(self) -> float:
        return self.correct / self.count if self.count else math.nan


class TopKAccuracy(Metric):
    """The fraction of samples whose true class is among the k highest scores. output: (N, C); target: (N,)."""

    direction = "max"

    def __init__(self, k: int = 5, name: str | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ArgumentError(f"TopKAccuracy: k must be an int >= 1, got {k!r}")
        self.k = k
        self.name = name if name is not None else f"top_{k}_accuracy"
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        output, target = _array(output), _array(target)
        if output.ndim != 2 or target.shape != output.shape[:1]:
            raise ShapeError(
                f"top_k_accuracy: expected scores (N, C) and class indices (N,), got {shape_str(output.shape)} "
                f"and {shape_str(target.shape)}"
            )
        true_scores = np.take_along_axis(output, target.reshape(-1, 1).astype(np.intp, copy=False), axis=1)
        higher = np.count_nonzero(output > true_scores, axis=1)
        self.correct += int(np.count_nonzero(higher < self.k))
        self.count += target.shape[0]

    def compute(self) -> float:
        return self.correct / self.count if self.count else math.nan


class _MeanError(Metric):
    """The mean over every element of the epoch of a per-element error of (output - target)."""

    direction = "min"
    default_name = ""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.default_name
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        target = _array(target)
        diff = _same_size(self.name, _array(output), target) - target
        self.total += self._error_sum(diff)
        self.count += diff.size

    def _error_sum(self, diff: np.ndarray) -> float:
        raise NotImplementedError  # each subclass names its error

    def compute(self) -> float:
        return self.total / self.count if self.count else math.nan


class MeanSquaredError(_MeanError):
    """The mean of (output - target)² over every element of the epoch."""

    default_name = "mse"

    def _error_sum(self, diff: np.ndarray) -> float:
        return float(np.vdot(diff, diff)) if diff.dtype.kind == "f" else float(np.sum(diff * diff))


class MeanAbsoluteError(_MeanError):
    """The mean of |output - target| over every element of the epoch."""

    default_name = "mae"

    def _error_sum(self, diff: np.ndarray) -> float:
        return float(np.abs(diff).sum(dtype=np.float64))


class R2Score(Metric):
    """The coefficient of determination 1 - SS_res / SS_tot over the epoch, averaged over output columns.

    The target's mean is the epoch's, not the batch's: batch moments are merged with Chan's formula, in float64.
    A constant target column scores 1.0 when predicted exactly, else 0.0 (scikit-learn's `force_finite`).
    """

    direction = "max"

    def __init__(self, name: str = "r2") -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.mean: np.ndarray | float = 0.0
        self.m2: np.ndarray | float = 0.0
        self.ss_res: np.ndarray | float = 0.0

    def update(self, output: Any, target: Any) -> None:
        target = _array(target)
        output = _same_size(self.name, _array(output), target)
        target = target.reshape(target.shape[0], -1) if target.ndim else target.reshape(1, 1)
        output = output.reshape(target.shape)
        target64 = target.astype(np.float64, copy=False)
        n = target64.shape[0]
        if n == 0:
            return
        batch_mean = target64.mean(axis=0)
        batch_m2 = ((target64 - batch_mean) ** 2).sum(axis=0)
        residual = target64 - output
        self.ss_res = self.ss_res + (residual * residual).sum(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + batch_m2 + delta * delta * (self.count * n / total)
        self.count = total

    def compute(self) -> float:
        if self.count < 2:
            return math.nan  # as scikit-learn: R² is not defined for fewer than two samples
        ss_res = np.atleast_1d(self.ss_res)
        ss_tot = np.atleast_1d(self.m2)
        scores = np.where(ss_res == 0, 1.0, 0.0)
        nonconstant = ss_tot != 0
        scores[nonconstant] = 1.0 - ss_res[nonconstant] / ss_tot[nonconstant]
        return float(scores.mean())


class MeanMetric(Metric):
    """A user's function `fn(output, target) -> number` of a batch, averaged over the epoch weighted by the
    batch sizes: exact for functions that are a mean over the batch's samples."""

    def __init__(self, fn: Callable[[Any, Any], Any], name: str | None = None, direction: str = "max") -> None:
        if not callable(fn):
            raise ArgumentError(f"MeanMetric: fn must be callable, got {type(fn).__name__}")
        if direction not in ("min", "max"):
            raise ArgumentError(f"MeanMetric: direction must be 'min' or 'max', got {direction!r}")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        self.direction = direction
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        value = self.fn(output, target)
        n = _array(target).shape[0] if _array(target).ndim else 1
        self.total += float(value) * n
        self.count += n

    def compute(self) -> float:
        return self.total / self.count if self.count else math.nan


# -- one-batch functions -------------------------------------------------------------------------------


def accuracy(output: Any, target: Any, threshold: float = 0.5, from_logits: bool = False) -> float:
    """The fraction of correct predictions (see `Accuracy`)."""
    return Accuracy(threshold, from_logits)(output, target)


def top_k_accuracy(output: Any, target: Any, k: int = 5) -> float:
    """The fraction of samples whose true class is among the k highest scores (see `TopKAccuracy`)."""
    return TopKAccuracy(k)(output, target)


def mse(output: Any, target: Any) -> float:
    """The mean squared error over all elements."""
    return MeanSquaredError()(output, target)


def mae(output: Any, target: Any) -> float:
    """The mean absolute error over all elements."""
    return MeanAbsoluteError()(output, target)


def r2(output: Any, target: Any) -> float:
    """The coefficient of determination, as scikit-learn's `r2_score` (see `R2Score`)."""
    return R2Score()(output, target)


# -- names ---------------------------------------------------------------------------------------------

_NAMED: dict[str, Callable[[], Metric]] = {
    "accuracy": lambda: Accuracy(name="accuracy"),
    "acc": lambda: Accuracy(name="acc"),
    "top_k_accuracy": lambda: TopKAccuracy(5, name="top_k_accuracy"),
    "mse": lambda: MeanSquaredError("mse"),
    "mean_squared_error": lambda: MeanSquaredError("mean_squared_error"),
    "mae": lambda: MeanAbsoluteError("mae"),
    "mean_absolute_error": lambda: MeanAbsoluteError("mean_absolute_error"),
    "r2": lambda: R2Score("r2"),
    "r2_score": lambda: R2Score("r2_score"),
}
_FUNCTIONS: dict[Callable[..., float], str] = {
    accuracy: "accuracy",
    top_k_accuracy: "top_k_accuracy",
    mse: "mse",
    mae: "mae",
    r2: "r2",
}
_TOP_K = re.compile(r"top_(\d+)_accuracy")


def _logits_loss(loss_fn: Any) -> bool:
    """Whether the loss takes logits for a binary output (so 'accuracy' thresholds logits at 0)."""
    from chainrule.nn.loss import BCEWithLogitsLoss

    return isinstance(loss_fn, BCEWithLogitsLoss) or getattr(loss_fn, "__name__", "") in (
        "binary_cross_entropy_with_logits",
    )


def get_metric(spec: str | Metric | Callable[[Any, Any], Any], loss_fn: Any = None) -> Metric:
    """A fresh accumulating metric for `spec`: a name ('accuracy', 'acc', 'top_k_accuracy', 'top_3_accuracy',
    'mse', 'mae', 'r2' and their long names), a Metric (cloned, so its state is not shared), or a function
    (this module's are mapped to their metric; any other is averaged over the epoch by `MeanMetric`).

    loss_fn: when it takes logits of a binary output (BCEWithLogitsLoss), 'accuracy' thresholds logits.
    """
    if isinstance(spec, Metric):
        return spec.clone()
    if isinstance(spec, str):
        match = _TOP_K.fullmatch(spec)
        if match and int(match.group(1)) >= 1:
            return TopKAccuracy(int(match.group(1)), name=spec)
        if spec not in _NAMED:
            raise ArgumentError(
                f"metrics: unknown metric name {spec!r}; expected one of {', '.join(map(repr, _NAMED))}, "
                "'top_<k>_accuracy', a Metric object or a function (output, target) -> number"
            )
        metric = _NAMED[spec]()
        if isinstance(metric, Accuracy) and _logits_loss(loss_fn):
            metric.from_logits = True
        return metric
    if callable(spec):
        if spec in _FUNCTIONS:
            return get_metric(_FUNCTIONS[spec], loss_fn)
        return MeanMetric(spec)
    raise ArgumentError(
        f"metrics: expected metric names, Metric objects or functions, got an item of type {type(spec).__name__}"
    )
