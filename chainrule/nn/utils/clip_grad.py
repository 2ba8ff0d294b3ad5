"""Gradient clipping, in place on the parameters' `.grad`: by the total norm, or by value.

As in PyTorch, the total norm is the norm of the per-parameter norms (so, for p = 2, the norm of all gradients
concatenated), and clipping scales every gradient by min(1, max_norm / (total_norm + 1e-6)).
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, NonFiniteError
from chainrule.tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]

TensorOrTensors = Tensor | Iterable[Tensor]


def _tensors(values: Any, op: str, what: str) -> list[Tensor]:
    if isinstance(values, Tensor):
        return [values]
    if not isinstance(values, Iterable):
        raise ArgumentError(f"{op}: expected a Tensor or an iterable of Tensors as {what}, got {type(values).__name__}")
    is_generator = isinstance(values, types.GeneratorType)
    tensors = list(values)
    if is_generator and not tensors and what == "parameters":
        warnings.warn(f"{op}: `parameters` is an empty generator, no gradient clipping will occur", stacklevel=3)
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise ArgumentError(f"{op}: {what}[{i}] is a {type(tensor).__name__}, not a Tensor")
    return tensors


def _norm(array: np.ndarray, norm_type: float) -> Any:
    """The vector norm of all elements of `array`, as a NumPy scalar of its dtype."""
    flat = array.reshape(-1)
    dtype = array.dtype.type
    if flat.size == 0:
        return dtype(0.0)
    if norm_type == 2.0:
        return np.sqrt(np.dot(flat, flat))
    if norm_type == math.inf:
        return np.max(np.abs(flat))
    if norm_type == -math.inf:
        return np.min(np.abs(flat))
    if norm_type == 0.0:
        return dtype(np.count_nonzero(flat))
    if norm_type == 1.0:
        return np.sum(np.abs(flat))
    return np.sum(np.abs(flat) ** norm_type) ** (1.0 / norm_type)


def get_total_norm(tensors: TensorOrTensors, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """The norm of the norms of `tensors` (for p = 2: of all their elements together), a 0-d Tensor.

    norm_type: p of the p-norm, or inf for the largest absolute value. error_if_nonfinite: raise NonFiniteError
    when the norm is NaN or infinite.
    """
    tensors = _tensors(tensors, "get_total_norm", "tensors")
    labels = [f"tensors[{i}]" for i in range(len(tensors))]
    return _total_norm([t.data for t in tensors], labels, norm_type, error_if_nonfinite, "get_total_norm")


def _total_norm(
    arrays: list[np.ndarray], labels: list[str], norm_type: Any, error_if_nonfinite: bool, op: str
) -> Tensor:
    norm_type = _check_norm_type(op, norm_type)
    if not arrays:
        return Tensor._wrap(np.asarray(0.0, dtype=np.float32))
    dtype = np.result_type(*arrays)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite norms are reported below
        norms = np.array([_norm(a, norm_type) for a in arrays], dtype=dtype)
        total = _norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        bad = [f"{labels[i]} (shape {tuple(arrays[i].shape)})" for i in range(len(arrays)) if not np.isfinite(norms[i])]
        where = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise NonFiniteError(
            f"{op}: the total norm of order {norm_type} of the gradients is {float(total)}, so they cannot be "
            f"clipped; non-finite: {where or 'none alone (the sum of their norms overflowed)'}. "
            "Pass error_if_nonfinite=False to scale by the non-finite norm anyway"
        )
    return Tensor._wrap(np.asarray(total, dtype=dtype))


def clip_grads_with_norm_(parameters: TensorOrTensors, max_norm: float, total_norm: Tensor | float) -> None:
    """Scale the `.grad` of `parameters` in place by min(1, max_norm / (total_norm + 1e-6)), given the total
    norm (from `get_total_norm`)."""
    parameters = _tensors(parameters, "clip_grads_with_norm_", "parameters")
    max_norm = _check_max("clip_grads_with_norm_", "max_norm", max_norm)
    grads = [p.grad.data for p in parameters if p.grad is not None]
    if not grads:
        return
    total = total_norm.data if isinstance(total_norm, Tensor) else np.asarray(total_norm, dtype=np.float32)
    # PyTorch computes max_norm / x as reciprocal(x) * max_norm, in the norm's dtype: kept for equal bits.
    coef = np.reciprocal(total + 1e-6) * max_norm
    if coef >= 1.0:  # clamped to 1: the gradients stay (a NaN coefficient goes on, as in PyTorch)
        return
    with np.errstate(invalid="ignore"):  # an infinite norm gives coef 0, and inf * 0 = nan, as in PyTorch
        for grad in grads:
            np.multiply(grad, coef, out=grad)


def clip_grad_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Rescale the gradients of `parameters` in place so that their total norm is at most `max_norm`.

    parameters: a Tensor or an iterable of Tensors (model.parameters()); those without .grad are skipped.
    norm_type: p of the p-norm (inf: the largest absolute value). error_if_nonfinite: raise NonFiniteError
    when the total norm is NaN or infinite instead of scaling by it. Returns the total norm before clipping,
    a 0-d Tensor (a float32 one for float32 gradients).
    """
    parameters = _tensors(parameters, "clip_grad_norm_", "parameters")
    max_norm = _check_max("clip_grad_norm_", "max_norm", max_norm)
    with_grad = [i for i, p in enumerate(parameters) if p.grad is not None]
    grads = [parameters[i].grad.data for i in with_grad]
    labels = [f"parameter {i}" for i in with_grad]
    total_norm = _total_norm(grads, labels, norm_type, error_if_nonfinite, "clip_grad_norm_")
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_norm(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Deprecated spelling of `clip_grad_norm_` (as in PyTorch)."""
    warnings.warn("clip_grad_norm is deprecated in favor of clip_grad_norm_", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)


def clip_grad_value_(parameters: TensorOrTensors, clip_value: float) -> None:
    """Clamp the gradients of `parameters` in place to [-clip_value, clip_value]; those without .grad are
    skipped."""
    parameters = _tensors(parameters, "clip_grad_value_", "parameters")
    clip_value = _check_max("clip_grad_value_", "clip_value", clip_value)
    for p in parameters:
        if p.grad is not None:
            grad = p.grad.data
            np.clip(grad, -clip_value, clip_value, out=grad)


def _check_max(op: str, name: str, value: Any) -> float:
    if isinstance(value, Tensor) and value.data.size == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not value >= 0:
        raise ArgumentError(f"{op}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _check_norm_type(op: str, norm_type: Any) -> float:
    if isinstance(norm_type, str) and norm_type == "inf":
        return math.inf
    if (
        isinstance(norm_type, bool)
        or not isinstance(norm_type, int | float | np.integer | np.floating)
        or math.isnan(norm_type)
    ):
        raise ArgumentError(f"{op}: norm_type must be a number (p of the p-norm) or inf, got {norm_type!r}")
    return float(norm_type)
