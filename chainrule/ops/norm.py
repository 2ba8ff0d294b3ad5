"""Normalization, as in `torch.nn.functional`: batch_norm, layer_norm, group_norm, each one fused op.

All three standardise groups of values, xhat = (x - mean) / sqrt(var + eps) with the biased variance, then apply
a per-feature affine map y = xhat * weight + bias. They differ only in which values form a group: one channel
across the batch and the spatial dims (batch_norm), the trailing `normalized_shape` dims of one sample
(layer_norm), a block of C / G channels of one sample (group_norm).

The backward is the closed form, not a chain of small ops. With M values per group, g = dL/dy and
gxhat = g * weight, the gradient of the input is

    dx = invstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)),   the means taken over each group,

and dweight = sum(g * xhat), dbias = sum(g), summed over everything but the feature dim. For batch_norm the group
is the channel, so weight factors out of both means: dx = weight * invstd * (g - sum(g) / M - xhat * dweight / M),
which reuses dweight and dbias. In evaluation mode batch_norm is an affine map with fixed (running) statistics,
and its input gradient is g * weight * invstd.

Reductions are `np.einsum` ("ncl->c", "ncl,ncl->c"): one pass over strided data with no temporary, where
`x.sum(axis=(0, 2))` or `(g * xhat).sum(...)` allocate and walk the array again (measured 3 to 6 times slower
for (64, 32, 256) float32). The normalised input xhat is kept for the backward (one input-sized array); the
backward fills the input gradient in place in one new input-sized array (two for layer_norm and group_norm with a
weight, whose gxhat = g * weight is needed whole before the group means are known).
"""

# `input` is PyTorch's argument name throughout this file.
# ruff: noqa: A002

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.tensor import Tensor, as_tensor_arg, result

__all__ = ["batch_norm", "group_norm", "layer_norm"]


# -- argument checks -----------------------------------------------------------------------------------------
def _float_input(value: Any, where: object) -> Tensor:
    x = value if isinstance(value, Tensor) else as_tensor_arg(value)
    if x.data.dtype.kind != "f":
        raise DTypeError(f"{where}: expected a floating-point input, got dtype {x.data.dtype}")
    return x


def _affine(value: Any, x: np.ndarray, shape: tuple[int, ...], name: str, where: object) -> Tensor | None:
    """`weight` or `bias` as a Tensor of `shape` and x's dtype (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, Tensor):
        value = as_tensor_arg(value, x)
    if value.data.shape != shape:
        raise ShapeError(f"{where}: {name} must have shape {shape_str(shape)}, got {shape_str(value.data.shape)}")
    if value.data.dtype != x.dtype:
        raise DTypeError(
            f"{where}: {name} has dtype {value.data.dtype} but the input has {x.dtype}; convert one of them "
            "(e.g. module.double() or x.float())"
        )
    return value


def _running(value: Any, channels: int, name: str, where: object) -> np.ndarray | None:
    """The array of a running statistic (updated in place), of shape (channels,)."""
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise ArgumentError(f"{where}: {name} must be a floating-point tensor or None, got {type(value).__name__}")
    if array.shape != (channels,):
        raise ShapeError(
            f"{where}: {name} must have shape {shape_str((channels,))} (one value per channel of the input), got "
            f"{shape_str(array.shape)}"
        )
    return array


def _number(value: Any, name: str, where: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ArgumentError(f"{where}: {name} must be a number, got {value!r}")
    return float(value)


def _parents(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> tuple[Tensor, ...]:
    if weight is None:
        return (x,) if bias is None else (x, bias)
    return (x, weight) if bias is None else (x, weight, bias)


def _grads(
    weight: Tensor | None, bias: Tensor | None, grad_x: Any, grad_w: Any, grad_b: Any
) -> tuple[np.ndarray | None, ...]:
    """The backward's result in the order of `_parents`."""
    if weight is None:
        return (grad_x,) if bias is None else (grad_x, grad_b)
    return (grad_x, grad_w) if bias is None else (grad_x, grad_w, grad_b)


# -- shared by layer_norm and group_norm: standardise each row of a 2-D array --------------------------------
def _normalize_rows(rows: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(xhat, invstd) for rows (R, F): each row standardised with its own mean and biased variance."""
    features = rows.shape[1]
    mean = np.einsum("rf->r", rows)
    mean /= features
    xhat = rows - mean[:, None]
    var = np.einsum("rf,rf->r", xhat, xhat)
    var /= features
    var += eps
    invstd = np.sqrt(var, out=var)
    np.divide(1.0, invstd, out=invstd)
    xhat *= invstd[:, None]
    return xhat, invstd


def _rows_backward(gxhat: np.ndarray, xhat: np.ndarray, invstd: np.ndarray) -> np.ndarray:
    """dL/drows from gxhat = dL/dxhat (R, F): invstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))."""
    features = xhat.shape[1]
    mean_g = np.einsum("rf->r", gxhat)
    mean_g /= features
    mean_gx = np.einsum("rf,rf->r", gxhat, xhat)
    mean_gx /= features
    grad = xhat * mean_gx[:, None]
    np.subtract(gxhat, grad, out=grad)
    grad -= mean_g[:, None]
    grad *= invstd[:, None]
    return grad


# -- batch_norm ---------------------------------------------------------------------------------------------
def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over the channel dim 1 (torch.nn.functional.batch_norm).

    input: (N, C) or (N, C, *) (e.g. (N, C, L), (N, C, H, W)); running_mean, running_var: (C,) or None;
    weight, bias: (C,) or None. Returns input's shape.

    training=True: each channel is standardised with the batch's mean and biased variance over N and the
    spatial dims; running_mean and running_var, when given, are updated in place as
    running = (1 - momentum) * running + momentum * batch_stat, with the unbiased variance (as PyTorch).
    momentum must be a number here; the layers turn momentum=None (a cumulative average) into 1 / batches seen.
    training=False: the running statistics are used, and nothing is updated.
    """
    x = _float_input(input, "batch_norm")
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, "batch_norm")


def _batch_norm(
    x: Tensor,
    running_mean: Any,
    running_var: Any,
    weight: Any,
    bias: Any,
    training: bool,
    momentum: float,
    eps: float,
    where: object,
) -> Tensor:
    """batch_norm, its errors naming `where` (the op's name, or the layer: its repr is taken only on error)."""
    X = x.data  # noqa: N806 (the input array)
    shape = X.shape
    if X.ndim < 2:
        raise ShapeError(f"{where}: expected input of shape (N, C) or (N, C, *), got {shape_str(shape)}")
    n, channels = shape[0], shape[1]
    length = math.prod(shape[2:])
    count = n * length  # values per channel
    mean_r = _running(running_mean, channels, "running_mean", where)
    var_r = _running(running_var, channels, "running_var", where)
    weight = _affine(weight, X, (channels,), "weight", where)
    bias = _affine(bias, X, (channels,), "bias", where)
    eps = _number(eps, "eps", where)
    X3 = X.reshape(n, channels, length)  # noqa: N806 (a view for a contiguous input)
    W = None if weight is None else weight.data[:, None]  # noqa: N806 (broadcast over (N, C, L))
    B = None if bias is None else bias.data[:, None]  # noqa: N806

    if not training:
        if mean_r is None or var_r is None:
            missing = "running_mean" if mean_r is None else "running_var"
            raise ArgumentError(
                f"{where}: {missing} must be given in evaluation mode (training=False); pass training=True to "
                "normalise with the batch's own statistics"
            )
        return _batch_norm_eval(x, X3, mean_r, var_r, weight, bias, eps)

    if count <= 1:
        raise ArgumentError(
            f"{where}: expected more than 1 value per channel when training, got input of shape {shape_str(shape)}"
        )
    mean = np.einsum("ncl->c", X3)
    mean /= count
    xhat = X3 - mean[:, None]
    var = np.einsum("ncl,ncl->c", xhat, xhat)
    var /= count
    if mean_r is not None or var_r is not None:
        momentum = _number(momentum, "momentum", where)
        if mean_r is not None:
            mean_r *= 1.0 - momentum
            mean_r += momentum * mean
        if var_r is not None:
            var_r *= 1.0 - momentum
            var_r += (momentum * count / (count - 1)) * var  # the unbiased variance, as PyTorch tracks it
    invstd = var
    invstd += eps
    np.sqrt(invstd, out=invstd)
    np.divide(1.0, invstd, out=invstd)
    xhat *= invstd[:, None]
    if W is not None:
        out = xhat * W
        if B is not None:
            out += B
    elif B is not None:
        out = xhat + B
    else:
        out = xhat
    out = out.reshape(shape)

    def backward(grad: np.ndarray) -> tuple:
        g = grad.reshape(n, channels, length)
        need_x = x.requires_grad
        grad_b = np.einsum("ncl->c", g) if need_x or (bias is not None and bias.requires_grad) else None
        grad_w = np.einsum("ncl,ncl->c", g, xhat) if need_x or (weight is not None and weight.requires_grad) else None
        grad_x = None
        if need_x:
            scale = invstd if W is None else W[:, 0] * invstd
            grad_x = xhat * (grad_w / count)[:, None]
            np.subtract(g, grad_x, out=grad_x)
            grad_x -= (grad_b / count)[:, None]
            grad_x *= scale[:, None]
            grad_x = grad_x.reshape(shape)
        return _grads(weight, bias, grad_x, grad_w, grad_b)

    return result(out, _parents(x, weight, bias), backward, "batch_norm")


def _batch_norm_eval(
    x: Tensor,
    X3: np.ndarray,  # noqa: N803
    mean_r: np.ndarray,
    var_r: np.ndarray,
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
) -> Tensor:
    """Evaluation mode: y = x * scale + shift per channel, scale = weight * invstd, shift = bias - mean * scale,
    with the running statistics (cast to the input's dtype)."""
    dtype = X3.dtype
    mean = mean_r.astype(dtype, copy=False)
    invstd = 1.0 / np.sqrt(var_r.astype(dtype) + eps)
    scale = invstd if weight is None else weight.data * invstd
    shift = -mean * scale
    if bias is not None:
        shift += bias.data
    out = X3 * scale[:, None]
    out += shift[:, None]
    shape = x.data.shape
    out = out.reshape(shape)

    def backward(grad: np.ndarray) -> tuple:
        g = grad.reshape(X3.shape)
        grad_x = grad_w = grad_b = None
        if x.requires_grad:
            grad_x = (g * scale[:, None]).reshape(shape)
        if (weight is not None and weight.requires_grad) or (bias is not None and bias.requires_grad):
            grad_b = np.einsum("ncl->c", g)
            if weight is not None and weight.requires_grad:
                # sum(g * xhat) with xhat = (x - mean) * invstd, without forming xhat
                grad_w = (np.einsum("ncl,ncl->c", g, X3) - mean * grad_b) * invstd
        return _grads(weight, bias, grad_x, grad_w, grad_b)

    return result(out, _parents(x, weight, bias), backward, "batch_norm")


# -- layer_norm ---------------------------------------------------------------------------------------------
def normalized_shape_arg(normalized_shape: Any, where: object) -> tuple[int, ...]:
    """`normalized_shape` (an int or a sequence of ints) as a non-empty tuple of non-negative ints."""
    if isinstance(normalized_shape, int | np.integer) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if isinstance(normalized_shape, Sequence) and not isinstance(normalized_shape, str):
        dims = tuple(normalized_shape)
        if dims and all(isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0 for d in dims):
            return tuple(int(d) for d in dims)
    raise ArgumentError(
        f"{where}: normalized_shape must be an int or a non-empty sequence of non-negative ints, got "
        f"{normalized_shape!r}"
    )


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalization over the trailing dims (torch.nn.functional.layer_norm).

    input: (*, *normalized_shape); weight, bias: normalized_shape or None. Returns input's shape. Each sample's
    trailing `normalized_shape` values are standardised with their own mean and biased variance.
    """
    x = _float_input(input, "layer_norm")
    return _layer_norm(x, normalized_shape_arg(normalized_shape, "layer_norm"), weight, bias, eps, "layer_norm")


def _layer_norm(
    x: Tensor, normalized_shape: tuple[int, ...], weight: Any, bias: Any, eps: float, where: object
) -> Tensor:
    X = x.data  # noqa: N806
    shape = X.shape
    k = len(normalized_shape)
    if X.ndim < k or shape[X.ndim - k :] != normalized_shape:
        raise ShapeError(
            f"{where}: expected input of shape (*, {', '.join(map(str, normalized_shape))}) (normalized_shape "
            f"{shape_str(normalized_shape)} in the last {k} dim(s)), got {shape_str(shape)}"
        )
    weight = _affine(weight, X, normalized_shape, "weight", where)
    bias = _affine(bias, X, normalized_shape, "bias", where)
    eps = _number(eps, "eps", where)
    features = math.prod(normalized_shape)
    rows = math.prod(shape[: X.ndim - k])
    xhat, invstd = _normalize_rows(X.reshape(rows, features), eps)
    W = None if weight is None else weight.data.reshape(features)  # noqa: N806
    B = None if bias is None else bias.data.reshape(features)  # noqa: N806
    if W is not None:
        out = xhat * W
        if B is not None:
            out += B
    elif B is not None:
        out = xhat + B
    else:
        out = xhat
    out = out.reshape(shape)

    def backward(grad: np.ndarray) -> tuple:
        g = grad.reshape(rows, features)
        grad_x = grad_w = grad_b = None
        if weight is not None and weight.requires_grad:
            grad_w = np.einsum("rf,rf->f", g, xhat).reshape(normalized_shape)
        if bias is not None and bias.requires_grad:
            grad_b = np.einsum("rf->f", g).reshape(normalized_shape)
        if x.requires_grad:
            grad_x = _rows_backward(g if W is None else g * W, xhat, invstd).reshape(shape)
        return _grads(weight, bias, grad_x, grad_w, grad_b)

    return result(out, _parents(x, weight, bias), backward, "layer_norm")


# -- group_norm ---------------------------------------------------------------------------------------------
def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group normalization (torch.nn.functional.group_norm).

    input: (N, C, *) with C divisible by num_groups; weight, bias: (C,) or None. Returns input's shape. Each
    sample's channels are split into num_groups blocks of C / num_groups channels, and each block (with its
    spatial dims) is standardised with its own mean and biased variance; weight and bias are per channel.
    """
    x = _float_input(input, "group_norm")
    return _group_norm(x, num_groups, weight, bias, eps, "group_norm")


def _group_norm(x: Tensor, num_groups: int, weight: Any, bias: Any, eps: float, where: object) -> Tensor:
    X = x.data  # noqa: N806
    shape = X.shape
    if X.ndim < 2:
        raise ShapeError(f"{where}: expected input of shape (N, C, *), got {shape_str(shape)}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, int | np.integer) or num_groups <= 0:
        raise ArgumentError(f"{where}: num_groups must be a positive int, got {num_groups!r}")
    n, channels = shape[0], shape[1]
    if channels % num_groups:
        raise ShapeError(
            f"{where}: the number of channels of the input ({channels}, in input of shape {shape_str(shape)}) must "
            f"be divisible by num_groups={num_groups}"
        )
    weight = _affine(weight, X, (channels,), "weight", where)
    bias = _affine(bias, X, (channels,), "bias", where)
    eps = _number(eps, "eps", where)
    length = math.prod(shape[2:])
    rows, features = n * num_groups, (channels // num_groups) * length
    xhat_rows, invstd = _normalize_rows(X.reshape(rows, features), eps)
    xhat = xhat_rows.reshape(n, channels, length)
    W = None if weight is None else weight.data[:, None]  # noqa: N806 (broadcast over (N, C, L))
    B = None if bias is None else bias.data[:, None]  # noqa: N806
    if W is not None:
        out = xhat * W
        if B is not None:
            out += B
    elif B is not None:
        out = xhat + B
    else:
        out = xhat
    out = out.reshape(shape)

    def backward(grad: np.ndarray) -> tuple:
        g = grad.reshape(n, channels, length)
        grad_x = grad_w = grad_b = None
        if weight is not None and weight.requires_grad:
            grad_w = np.einsum("ncl,ncl->c", g, xhat)
        if bias is not None and bias.requires_grad:
            grad_b = np.einsum("ncl->c", g)
        if x.requires_grad:
            gxhat = g if W is None else g * W
            grad_x = _rows_backward(gxhat.reshape(rows, features), xhat_rows, invstd).reshape(shape)
        return _grads(weight, bias, grad_x, grad_w, grad_b)

    return result(out, _parents(x, weight, bias), backward, "group_norm")
