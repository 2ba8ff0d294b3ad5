"""Losses, as in `torch.nn.functional`, each one fused op: the per-element (or per-sample) loss and its derivative
are computed together in NumPy, so a loss adds one node to the graph, not a chain of small ones.

Regression: mse_loss, l1_loss, huber_loss, smooth_l1_loss. Binary: binary_cross_entropy (on probabilities),
binary_cross_entropy_with_logits (on logits, stable for any logit). Classification: cross_entropy (log-softmax +
NLL in one pass, class-index or class-probability targets, weights, ignore_index, label smoothing) and nll_loss
(on log-probabilities).

`reduction` is 'mean' (default), 'sum' or 'none' everywhere; the deprecated `size_average` / `reduce` arguments sit
where PyTorch has them, so positional calls bind as they do there. Results keep the input's float dtype.

Unlike PyTorch, input and target of the pointwise losses must have the same shape: PyTorch only warns and
broadcasts, which silently averages the wrong numbers (an (N, 1) output against an (N,) target gives N * N terms).
"""

# `input` is PyTorch's argument name in every loss; it shadows the builtin throughout this file.
# ruff: noqa: A001, A002

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd import grad_mode
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.tensor import Tensor, as_tensor_arg, result

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]

_REDUCTIONS = ("mean", "sum", "none")
# PyTorch's floor for x (1 - x) in the gradient of binary_cross_entropy, and its floor for the logs.
_BCE_EPSILON = 1e-12
_BCE_LOG_FLOOR = -100.0


# -- argument checks -----------------------------------------------------------------------------------------
def resolve_reduction(reduction: Any, size_average: Any, reduce: Any, op: str) -> str:
    """The reduction mode, from `reduction` or from PyTorch's deprecated pair (size_average, reduce)."""
    if size_average is not None or reduce is not None:
        warnings.warn(
            f"{op}: size_average and reduce are deprecated, use reduction='mean' | 'sum' | 'none' instead",
            DeprecationWarning,
            stacklevel=3,
        )
        size_average = True if size_average is None else bool(size_average)
        reduce = True if reduce is None else bool(reduce)
        reduction = ("mean" if size_average else "sum") if reduce else "none"
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _float_input(input: Any, op: str) -> Tensor:
    input = as_tensor_arg(input)
    if input.data.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a floating-point input, got dtype {input.data.dtype}")
    return input


def _float_target(target: Any, input: Tensor, op: str) -> Tensor:
    """A target of real values (regression, BCE), of input's shape; converted to input's dtype if needed."""
    target = as_tensor_arg(target, input.data)
    if target.data.shape != input.data.shape:
        raise ShapeError(
            f"{op}: target must have the input's shape {shape_str(input.data.shape)}, got "
            f"{shape_str(target.data.shape)} (PyTorch would broadcast them and average the wrong terms)"
        )
    if target.data.dtype != input.data.dtype:
        if target.data.dtype.kind == "b":
            raise DTypeError(f"{op}: expected a numeric target, got dtype bool")
        # float64 targets with float32 outputs (or integer targets) compute in the input's dtype; the
        # target's gradient, if any, is cast back to its own dtype by the engine.
        target = _cast(target, input.data.dtype)
    return target


def _cast(tensor: Tensor, dtype: np.dtype) -> Tensor:
    if not tensor.requires_grad:
        return Tensor._wrap(tensor.data.astype(dtype))
    from chainrule.ops.elementwise import cast

    return cast(tensor, dtype)


def _weight(weight: Any, input: Tensor, op: str, name: str = "weight") -> Tensor | None:
    """`weight` as a Tensor of input's dtype (None stays None)."""
    if weight is None:
        return None
    weight = as_tensor_arg(weight, input.data)
    if weight.data.dtype.kind not in "fiu":
        raise DTypeError(f"{op}: {name} must be a floating-point tensor, got dtype {weight.data.dtype}")
    if weight.data.dtype != input.data.dtype:
        weight = _cast(weight, input.data.dtype)
    return weight


def _constant_weight(weight: Tensor | None, op: str, name: str = "weight") -> np.ndarray | None:
    """The array of a weight the loss does not differentiate (as PyTorch, which refuses one requiring grad)."""
    if weight is None:
        return None
    if weight.requires_grad and grad_mode.enabled:
        raise ArgumentError(
            f"{op}: the loss is not differentiable with respect to {name}, but {name} requires grad; pass "
            f"{name}.detach()"
        )
    return weight.data


def _check_broadcasts_to(array: np.ndarray, shape: tuple[int, ...], op: str, name: str) -> None:
    try:
        if np.broadcast_shapes(array.shape, shape) == shape:
            return
    except ValueError:
        pass
    raise ShapeError(f"{op}: {name} of shape {shape_str(array.shape)} must broadcast to the input's {shape_str(shape)}")


# -- the pointwise losses --------------------------------------------------------------------------------------
LocalGrads = Callable[[bool, bool], tuple[np.ndarray | None, np.ndarray | None]]


def _pointwise(
    op: str,
    loss: np.ndarray,
    local_grads: LocalGrads,
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    mean_by_weight: bool,
    weight_differentiable: bool,
) -> Tensor:
    """Weight and reduce an elementwise loss, and record its backward.

    loss: the unweighted loss per element, input's shape. local_grads(need_input, need_target) returns
    (d loss / d input, d loss / d target) elementwise, each None when not needed. weight: multiplies the loss
    elementwise. mean_by_weight: 'mean' divides by sum(weight) (mse, l1) instead of the element count (huber, bce).
    """
    if weight is None or not weight_differentiable:
        weight_data = _constant_weight(weight, op)
    else:
        weight_data = weight.data
    weighted = loss if weight_data is None else loss * weight_data
    count = loss.size
    denominator: Any = count
    if reduction == "none":
        out = weighted
    else:
        out = np.asarray(weighted.sum(dtype=weighted.dtype))
        if reduction == "mean":
            if weight_data is not None and mean_by_weight:
                denominator = weight_data.sum(dtype=weighted.dtype)
            with np.errstate(invalid="ignore", divide="ignore"):  # an empty input gives nan, as in PyTorch
                out = out / denominator

    def backward(grad: np.ndarray) -> tuple:
        scale = grad / denominator if reduction == "mean" else grad
        if weight_data is not None:
            scale = scale * weight_data
        local_input, local_target = local_grads(input.requires_grad, target.requires_grad)
        grads: list[np.ndarray | None] = [
            local_input * scale if local_input is not None else None,
            local_target * scale if local_target is not None else None,
        ]
        if weight is not None:
            grad_weight = None
            if weight_differentiable and weight.requires_grad:
                if reduction == "mean" and mean_by_weight:
                    # d/dw_i of sum(w l) / sum(w) = (l_i - out) / sum(w)
                    grad_weight = (loss - out) * (grad / denominator)
                elif reduction == "mean":
                    grad_weight = loss * (grad / denominator)
                else:
                    grad_weight = loss * grad
            grads.append(grad_weight)
        return tuple(grads)

    parents = (input, target) if weight is None else (input, target, weight)
    return result(out, parents, backward, op)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Squared error (input - target)^2; input and target of the same shape, any shape.

    weight (input's shape): multiplies each term; 'mean' is then sum(weight * loss) / sum(weight), as PyTorch.
    Output: a scalar, or input's shape for reduction='none'. d/dinput = 2 (input - target) = -d/dtarget.
    """
    op = "mse_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    input = _float_input(input, op)
    target = _float_target(target, input, op)
    weight = _same_shape_weight(weight, input, op)
    diff = input.data - target.data
    loss = diff * diff

    def local_grads(need_input: bool, need_target: bool) -> tuple:
        slope = diff * 2.0
        return (slope if need_input else None, -slope if need_target else None)

    return _pointwise(op, loss, local_grads, input, target, weight, reduction, True, True)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Absolute error |input - target|; input and target of the same shape, any shape.

    weight (input's shape): multiplies each term; 'mean' is then sum(weight * loss) / sum(weight), as PyTorch.
    d/dinput = sign(input - target) (0 where they are equal, as PyTorch) = -d/dtarget.
    """
    op = "l1_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    input = _float_input(input, op)
    target = _float_target(target, input, op)
    weight = _same_shape_weight(weight, input, op)
    diff = input.data - target.data
    loss = np.abs(diff)

    def local_grads(need_input: bool, need_target: bool) -> tuple:
        slope = np.sign(diff)
        return (slope if need_input else None, -slope if need_target else None)

    return _pointwise(op, loss, local_grads, input, target, weight, reduction, True, True)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target; same shapes, any shape.

    weight (input's shape): multiplies each term; 'mean' is then the plain mean of the weighted terms (PyTorch's
    rule for huber_loss, unlike mse_loss). d/dinput = d clipped to [-delta, delta] = -d/dtarget.
    """
    op = "huber_loss"
    reduction = resolve_reduction(reduction, None, None, op)
    delta = float(delta)
    if not delta > 0:
        raise ArgumentError(f"{op}: delta must be positive, got {delta}")
    input = _float_input(input, op)
    target = _float_target(target, input, op)
    weight = _same_shape_weight(weight, input, op)
    diff = input.data - target.data
    magnitude = np.abs(diff)
    quadratic = magnitude < delta
    loss = np.where(quadratic, 0.5 * diff * diff, delta * (magnitude - 0.5 * delta))

    def local_grads(need_input: bool, need_target: bool) -> tuple:
        slope = np.clip(diff, -delta, delta)
        return (slope if need_input else None, -slope if need_target else None)

    return _pointwise(op, loss, local_grads, input, target, weight, reduction, False, True)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, d = input - target; same shapes, any shape.

    beta = 0 is the L1 loss. d/dinput = d / beta clipped to [-1, 1] = -d/dtarget. (huber_loss is beta * this,
    with delta = beta.)
    """
    op = "smooth_l1_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    beta = float(beta)
    if beta < 0:
        raise ArgumentError(f"{op}: beta must be non-negative, got {beta}")
    input = _float_input(input, op)
    target = _float_target(target, input, op)
    diff = input.data - target.data
    magnitude = np.abs(diff)
    if beta == 0:  # no quadratic region: the L1 loss (and its gradient, sign(d))
        loss = magnitude
    else:
        loss = np.where(magnitude < beta, (0.5 / beta) * diff * diff, magnitude - 0.5 * beta)

    def local_grads(need_input: bool, need_target: bool) -> tuple:
        slope = np.sign(diff) if beta == 0 else np.clip(diff * (1.0 / beta), -1.0, 1.0)
        return (slope if need_input else None, -slope if need_target else None)

    return _pointwise(op, loss, local_grads, input, target, None, reduction, False, False)


def _same_shape_weight(weight: Any, input: Tensor, op: str) -> Tensor | None:
    weight = _weight(weight, input, op)
    if weight is not None and weight.data.shape != input.data.shape:
        raise ShapeError(
            f"{op}: weight must have the input's shape {shape_str(input.data.shape)}, got "
            f"{shape_str(weight.data.shape)}"
        )
    return weight


# -- binary cross-entropy --------------------------------------------------------------------------------------
def _probability_target(target: Any, input: Tensor, op: str) -> Tensor:
    target = as_tensor_arg(target, input.data)
    if target.data.dtype.kind != "f":
        raise DTypeError(
            f"{op}: expected a floating-point target of probabilities in [0, 1] (e.g. labels.float()), got "
            f"dtype {target.data.dtype}"
        )
    return _float_target(target, input, op)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """-weight (t log(x) + (1 - t) log(1 - x)) for probabilities x (input) and t (target) in [0, 1]; same
    shapes, any shape. Each log is floored at -100, as PyTorch, so x = 0 or 1 gives a finite loss.

    weight: broadcasts to the input's shape; not differentiated. 'mean' averages over elements.
    d/dx = (x - t) / max(x (1 - x), 1e-12) (PyTorch's guarded form); d/dt = log(1 - x) - log(x), floored logs.
    """
    op = "binary_cross_entropy"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    input = _float_input(input, op)
    target = _probability_target(target, input, op)
    weight = _weight(weight, input, op)
    if weight is not None:
        _check_broadcasts_to(weight.data, input.data.shape, op, "weight")
    x, t = input.data, target.data
    if x.size and not (x.min() >= 0 and x.max() <= 1):  # also refuses nan
        raise ArgumentError(
            f"{op}: every input element must be a probability in [0, 1], got values in [{x.min()}, {x.max()}]; "
            "pass logits to binary_cross_entropy_with_logits instead, or apply sigmoid first"
        )
    if t.size and not (t.min() >= 0 and t.max() <= 1):
        raise ArgumentError(f"{op}: every target element must be in [0, 1], got values in [{t.min()}, {t.max()}]")
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(x), _BCE_LOG_FLOOR)
        log_not_x = np.maximum(np.log1p(-x), _BCE_LOG_FLOOR)
    loss = (t - 1.0) * log_not_x
    loss -= t * log_x

    def local_grads(need_input: bool, need_target: bool) -> tuple:
        grad_x = grad_t = None
        if need_input:
            grad_x = (x - t) / np.maximum(x * (1.0 - x), _BCE_EPSILON)
        if need_target:
            grad_t = log_not_x - log_x
        return grad_x, grad_t

    return _pointwise(op, loss, local_grads, input, target, weight, reduction, False, False)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """binary_cross_entropy(sigmoid(x), t) computed from the logits x (input) without overflow, for any x:
    max(x, 0) - x t + log(1 + exp(-|x|)). Same shapes, any shape.

    pos_weight: weights the positive term, -pos_weight t log(sigmoid(x)); broadcasts against the input (a (C,)
    pos_weight applies per class along the last dim). weight: broadcasts to the input's shape. Neither is
    differentiated. 'mean' averages over elements.
    d/dx = weight (l sigmoid(x) - pos_weight t) with l = 1 + (pos_weight - 1) t (= sigmoid(x) - t without
    pos_weight); d/dt = weight ((pos_weight - 1) softplus(-x) - x).
    """
    op = "binary_cross_entropy_with_logits"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    input = _float_input(input, op)
    target = _probability_target(target, input, op)
    weight = _weight(weight, input, op)
    if weight is not None:
        _check_broadcasts_to(weight.data, input.data.shape, op, "weight")
    pos = _constant_weight(_weight(pos_weight, input, op, "pos_weight"), op, "pos_weight")
    if pos is not None:
        _check_broadcasts_to(pos, input.data.shape, op, "pos_weight")
    x, t = input.data, target.data
    e = np.exp(-np.abs(x))  # never overflows; log1p(e) and sigmoid below are built from it
    log1p_e = np.log1p(e)
    if pos is None:
        loss = np.maximum(x, 0)
        loss -= x * t
        loss += log1p_e
    else:
        # (1 - t) x + l softplus(-x), with softplus(-x) = log1p(e) + max(-x, 0)
        softplus_neg = log1p_e + np.maximum(-x, 0)
        log_weight = (pos - 1.0) * t + 1.0
        loss = (1.0 - t) * x + log_weight * softplus_neg

    def local_grads(need_input: bool, need_target: bool) -> tuple:
        grad_x = grad_t = None
        if need_input:
            sigmoid = np.where(x >= 0, 1.0, e).astype(x.dtype, copy=False)
            sigmoid /= 1.0 + e
            grad_x = sigmoid - t if pos is None else log_weight * sigmoid - pos * t
        if need_target:
            grad_t = -x if pos is None else (pos - 1.0) * softplus_neg - x
        return grad_x, grad_t

    return _pointwise(op, loss, local_grads, input, target, weight, reduction, False, False)


# -- cross-entropy and NLL ----------------------------------------------------------------------------------------
def _rows(data: np.ndarray) -> np.ndarray:
    """(C,), (N, C) or (N, C, d1, ...) as (M, C) rows, one per sample and position (a view when it can be)."""
    if data.ndim == 1:
        return data[None, :]
    if data.ndim == 2:
        return data
    return np.moveaxis(data, 1, -1).reshape(-1, data.shape[1])


def _unrows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `_rows`: (M, C) back to `shape`."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    return np.moveaxis(rows.reshape((shape[0], *shape[2:], shape[1])), -1, 1)


def _class_input(input: Any, op: str) -> Tensor:
    input = _float_input(input, op)
    shape = input.data.shape
    if len(shape) == 0 or shape[min(1, len(shape) - 1)] == 0:
        raise ShapeError(
            f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ...) with at least one class, got "
            f"{shape_str(shape)}"
        )
    return input


def _index_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The class-index target's shape for an input of `shape`: the input without its class dim."""
    return () if len(shape) == 1 else (shape[0], *shape[2:])


def _class_indices(
    target: np.ndarray, classes: int, ignore_index: int, op: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Flat int64 indices, safe to index with (ignored entries replaced by 0), and the boolean mask of the
    entries that count (None when none is ignored). Out-of-range indices other than ignore_index raise."""
    t = target.reshape(-1)
    if t.dtype != np.int64:
        t = t.astype(np.int64)
    ignored = None
    if t.size and (t.min() < 0 or t.max() >= classes):
        ignored = t == ignore_index
        bad = ~ignored & ((t < 0) | (t >= classes))
        if bad.any():
            raise ArgumentError(
                f"{op}: target class index {int(t[np.argmax(bad)])} is out of range: expected indices in "
                f"[0, {classes}) for an input of {classes} classes, or ignore_index={ignore_index}"
            )
    elif 0 <= ignore_index < classes:
        ignored = t == ignore_index
    if ignored is None or not ignored.any():
        return t, None
    return np.where(ignored, 0, t), ~ignored


def _class_weight(weight: Tensor | None, classes: int, op: str) -> None:
    if weight is not None and weight.data.shape != (classes,):
        raise ShapeError(
            f"{op}: weight must be a 1-D tensor of one weight per class, shape ({classes},), got "
            f"{shape_str(weight.data.shape)}"
        )


def _target_error(op: str, input_shape: tuple[int, ...], target: Tensor, probabilities: bool) -> Exception:
    index_shape = _index_shape(input_shape)
    expected = f"class indices (an integer tensor of shape {shape_str(index_shape)})"
    if probabilities:
        expected += f" or class probabilities (a float tensor of shape {shape_str(input_shape)})"
    got = f"a {target.data.dtype} tensor of shape {shape_str(target.data.shape)}"
    kind: type[Exception] = ShapeError
    if target.data.dtype.kind not in "iuf":
        kind = DTypeError
    elif target.data.dtype.kind == "f" and target.data.shape == index_shape:
        kind = DTypeError
        got += " (class indices must be integers: use target.long())"
    return kind(f"{op}: expected target of {expected} for input of shape {shape_str(input_shape)}, got {got}")


def _reduce_rows(loss_rows: np.ndarray, reduction: str, denominator: Any, shape: tuple[int, ...]) -> np.ndarray:
    if reduction == "none":
        return loss_rows.reshape(shape)
    out = np.asarray(loss_rows.sum(dtype=loss_rows.dtype))
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):  # nothing counted (empty, all ignored): nan
            out = out / denominator
    return out


def _row_scale(grad: np.ndarray, reduction: str, denominator: Any) -> np.ndarray:
    """d(loss)/d(loss of each row): a scalar for 'sum'/'mean', the (M,) gradient itself for 'none'."""
    if reduction == "none":
        return grad.reshape(-1)
    if reduction == "mean":
        return grad / denominator
    return grad


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """The cross-entropy between softmax(input) over the class dim and the target: log-softmax and NLL fused.

    input: logits of shape (C,), (N, C) or (N, C, d1, ...). target: either class indices, an integer tensor of
    shape (), (N,) or (N, d1, ...) with values in [0, C) or equal to ignore_index; or class probabilities, a float
    tensor of input's shape. weight: (C,), a weight per class.

    Class indices: loss_n = -(1 - eps) w[y_n] log p[n, y_n] - (eps / C) sum_c w[c] log p[n, c] (eps =
    label_smoothing), 0 where y_n == ignore_index; 'mean' divides by sum_n w[y_n] over the counted samples
    (PyTorch's rule, which also applies to the smoothing term). Probabilities: the target is smoothed to
    (1 - eps) t + eps / C, loss_n = -sum_c w[c] t[n, c] log p[n, c], and 'mean' divides by the number of
    samples. Output: a scalar, or the target's shape without the class dim for reduction='none'.

    Backward (one pass): d loss_n / d input[n] = p[n] sum_c a[n, c] - a[n], a[n, c] = the coefficient of
    -log p[n, c] above; no one-hot matrix is built for class indices.
    """
    op = "cross_entropy"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    input = _class_input(input, op)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ArgumentError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    target = as_tensor_arg(target)
    shape = input.data.shape
    classes = shape[1] if len(shape) > 1 else shape[0]
    weight = _weight(weight, input, op)
    _class_weight(weight, classes, op)
    kind = target.data.dtype.kind
    if kind == "f" and target.data.shape == shape:
        if ignore_index >= 0:
            raise ArgumentError(
                f"{op}: ignore_index ({ignore_index}) applies to class-index targets only, not to class "
                "probabilities; leave it at its default"
            )
        return _cross_entropy_probabilities(input, target, weight, reduction, eps, classes, op)
    if kind not in "iu" or target.data.shape != _index_shape(shape):
        raise _target_error(op, shape, target, probabilities=True)
    return _cross_entropy_indices(input, target, _constant_weight(weight, op), ignore_index, reduction, eps, op)


def _cross_entropy_indices(
    input: Tensor,
    target: Tensor,
    weight: np.ndarray | None,
    ignore_index: int,
    reduction: str,
    eps: float,
    op: str,
) -> Tensor:
    shape = input.data.shape
    logits = _rows(input.data)
    count, classes = logits.shape
    t, valid = _class_indices(target.data, classes, ignore_index, op)
    if valid is not None:
        valid = valid.astype(logits.dtype)
    rows = np.arange(count)

    # log p = shifted - log(sum(exp(shifted))), shifted = logits - max: no overflow for any logit.
    shifted = logits - logits.max(axis=1, keepdims=True) if count else logits.copy()
    picked = shifted[rows, t]
    if eps:
        class_sum = shifted.sum(axis=1) if weight is None else shifted @ weight  # sum_c w[c] shifted[n, c]
    exp = np.exp(shifted, out=shifted)  # shifted is not needed any more: its memory holds exp
    total = exp.sum(axis=1)
    log_total = np.log(total)
    loss_rows = log_total - picked  # -log p[n, y_n]

    # row_weight[n] = w[y_n], 0 where ignored; None means 1 everywhere.
    if weight is None:
        row_weight = valid
    else:
        row_weight = weight[t]
        if valid is not None:
            row_weight *= valid
    if row_weight is not None:
        loss_rows *= row_weight
    weight_total = classes if weight is None else float(weight.sum(dtype=np.float64))
    if eps:
        # -(sum_c w[c] log p[n, c]) = log_total * sum(w) - sum_c w[c] shifted[n, c]
        smooth_rows = log_total * weight_total - class_sum
        if valid is not None:
            smooth_rows *= valid
        loss_rows *= 1.0 - eps
        loss_rows += smooth_rows * (eps / classes)
    if reduction == "mean":
        denominator: Any = count if row_weight is None else row_weight.sum(dtype=logits.dtype)
    else:
        denominator = 1
    out = _reduce_rows(loss_rows, reduction, denominator, target.data.shape)

    def backward(grad: np.ndarray) -> tuple:
        scale = _row_scale(grad, reduction, denominator)  # scalar, or (M,) for 'none'
        # sum_c a[n, c]: (1 - eps) w[y_n] + (eps / C) sum(w) for counted rows (just w[y_n] without weights)
        if weight is None:
            coefficient_total = row_weight
        else:
            smooth_part = eps / classes * weight_total
            coefficient_total = (1.0 - eps) * row_weight + (smooth_part if valid is None else smooth_part * valid)
        factor = scale / total if coefficient_total is None else scale * coefficient_total / total
        grad_logits = exp * factor[:, None]  # p[n] sum_c a[n, c]
        # minus a[n]: its one-hot part at y_n, then its smoothing part spread over the classes
        onehot_part = scale if row_weight is None else scale * row_weight
        if eps:
            onehot_part = onehot_part * (1.0 - eps)
            smooth_scale = scale * (eps / classes)
            if valid is not None:
                smooth_scale = smooth_scale * valid
            per_class = 1.0 if weight is None else weight
            grad_logits -= (smooth_scale[:, None] if np.ndim(smooth_scale) else smooth_scale) * per_class
        grad_logits[rows, t] -= onehot_part
        return (_unrows(grad_logits, shape), None)

    return result(out, (input, target), backward, op)


def _cross_entropy_probabilities(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    eps: float,
    classes: int,
    op: str,
) -> Tensor:
    shape = input.data.shape
    if target.data.dtype != input.data.dtype:
        target = _cast(target, input.data.dtype)
    logits = _rows(input.data)
    count = logits.shape[0]
    w = None if weight is None else weight.data
    smoothed = _rows(target.data)
    if eps:
        smoothed = smoothed * (1.0 - eps) + eps / classes
    coefficients = smoothed if w is None else smoothed * w  # a[n, c]: the coefficient of -log p[n, c]

    shifted = logits - logits.max(axis=1, keepdims=True) if count else logits.copy()
    exp = np.exp(shifted)
    total = exp.sum(axis=1)
    log_p = shifted
    log_p -= np.log(total)[:, None]
    loss_rows = -np.einsum("nc,nc->n", coefficients, log_p)
    out = _reduce_rows(loss_rows, reduction, count, _index_shape(shape))

    def backward(grad: np.ndarray) -> tuple:
        scale = _row_scale(grad, reduction, count)
        row_scale = scale[:, None] if np.ndim(scale) else scale
        grad_input = grad_target = grad_weight = None
        if input.requires_grad:
            grad_input = exp * (coefficients.sum(axis=1) / total)[:, None]
            grad_input -= coefficients
            grad_input *= row_scale
            grad_input = _unrows(grad_input, shape)
        if target.requires_grad:
            grad_target = log_p * (-(1.0 - eps) * row_scale)
            if w is not None:
                grad_target *= w
            grad_target = _unrows(grad_target, shape)
        if weight is not None and weight.requires_grad:
            grad_weight = -np.einsum("nc,nc->c", smoothed, log_p * row_scale)
        return (grad_input, grad_target) if weight is None else (grad_input, grad_target, grad_weight)

    parents = (input, target) if weight is None else (input, target, weight)
    return result(out, parents, backward, op)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The negative log-likelihood -w[y_n] input[n, y_n] of log-probabilities (e.g. log_softmax's output).

    input: (C,), (N, C) or (N, C, d1, ...). target: class indices, an integer tensor of shape (), (N,) or
    (N, d1, ...) with values in [0, C) or equal to ignore_index (those samples count 0). weight: (C,), a weight
    per class; 'mean' divides by sum_n w[y_n] over the counted samples, as PyTorch.
    Output: a scalar, or the target's shape for reduction='none'. d/dinput[n, y_n] = -w[y_n], 0 elsewhere.
    """
    op = "nll_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    input = _class_input(input, op)
    target = as_tensor_arg(target)
    shape = input.data.shape
    classes = shape[1] if len(shape) > 1 else shape[0]
    weight = _weight(weight, input, op)
    _class_weight(weight, classes, op)
    w = _constant_weight(weight, op)
    if target.data.dtype.kind not in "iu" or target.data.shape != _index_shape(shape):
        raise _target_error(op, shape, target, probabilities=False)
    log_p = _rows(input.data)
    count = log_p.shape[0]
    t, valid = _class_indices(target.data, classes, ignore_index, op)
    rows = np.arange(count)
    row_weight = None if w is None else w[t]
    if valid is not None:
        valid = valid.astype(log_p.dtype)
        row_weight = valid if row_weight is None else row_weight * valid
    loss_rows = -log_p[rows, t]
    if row_weight is not None:
        loss_rows *= row_weight
    denominator: Any = count if row_weight is None else row_weight.sum(dtype=log_p.dtype)
    out = _reduce_rows(loss_rows, reduction, denominator, target.data.shape)

    def backward(grad: np.ndarray) -> tuple:
        scale = _row_scale(grad, reduction, denominator)
        grad_rows = np.zeros(log_p.shape, dtype=log_p.dtype)
        grad_rows[rows, t] = -scale if row_weight is None else -scale * row_weight
        return (_unrows(grad_rows, shape), None)

    return result(out, (input, target), backward, op)
