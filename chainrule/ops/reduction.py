"""Reductions over `dim` (an int, a tuple, or None for all; `axis` accepted), with `keepdim` (`keepdims` accepted).

Each op reduces with NumPy's ufunc.reduce (np.sum and friends add microseconds of Python), keeping the reduced
dimensions as size 1 where the backward needs the result to broadcast against the input (`*_keep`); the user
gets a squeezed view. The backward turns d(loss)/d(out) back into that kept shape and spreads it over the
reduced elements by the local derivative:

    sum        dx = g                          mean      dx = g / N
    var        dx = g * 2 (x - mean) / (N - c) std       dx = var's dx with g / (2 std) (0 where std == 0)
    amax/amin  dx = g / (number of ties) at the extremes (max()/min() without dim likewise)
    max(dim)   dx = g at the returned index    logsumexp dx = g * softmax(x)
    prod       dx = g * product of the others (exclusive cumulative products when some x is 0)
    norm       dx = g * d||x||_p / dx, with PyTorch's subgradient 0 at x = 0

As in PyTorch, `dim=None` and `dim=()` both reduce over every dimension (any/all: `dim=()` reduces none).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from chainrule.errors import ArgumentError, DimError, DTypeError, ShapeError, shape_str
from chainrule.ops import elementwise
from chainrule.ops._util import normalize_dim, normalize_dims, resolve_dim_alias
from chainrule.tensor import DTypeLike, Tensor, as_dtype, constant, result

Dim = int | Sequence[int] | None

_builtin_max = max
_builtin_any = any


class MaxResult(NamedTuple):
    """What `max(x, dim)` returns, like `torch.return_types.max`: the values and their int64 indices."""

    values: Tensor
    indices: Tensor


class MinResult(NamedTuple):
    """What `min(x, dim)` returns, like `torch.return_types.min`: the values and their int64 indices."""

    values: Tensor
    indices: Tensor


# -- helpers ---------------------------------------------------------------------------------------------
def _axes(x: Tensor, dim: object, axis: object, op: str) -> tuple[int, ...] | None:
    """The reduced dims as a sorted tuple, or None for all of them: dim None or () (as in PyTorch), every dim
    named, or a 0-d tensor (which takes dim 0 or -1)."""
    if axis is not None:
        dim = resolve_dim_alias(dim, axis, op)
    if dim is None:
        return None
    ndim = x.data.ndim
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, without the general checks
        return None if ndim == 1 else (dim % ndim,)
    dims = normalize_dims(dim, ndim, op)
    return None if ndim == 0 or len(dims) in (0, ndim) else dims


def _kept(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """`shape` with the reduced dims set to 1: the shape of a reduction with keepdim=True."""
    if axes is None:
        return (1,) * len(shape)
    kept = list(shape)
    for a in axes:
        kept[a] = 1
    return tuple(kept)


def _count(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> int:
    """How many elements each output element reduces."""
    return math.prod(shape) if axes is None else math.prod(shape[a] for a in axes)


def _expand(grad: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...] | None) -> np.ndarray:
    """d(loss)/d(out) spread over the input's `shape` as a read-only view with stride 0 along the reduced dims:
    what np.broadcast_to makes, without its ~8 us of Python per call."""
    if axes is None:  # grad has one element (NumPy may hand it over as a scalar)
        grad, strides = _array(grad), (0,) * len(shape)
    else:
        grad = grad.reshape(_kept(shape, axes))
        if not grad.flags.c_contiguous:
            return np.broadcast_to(grad, shape)
        strides = list(grad.strides)
        for a in axes:
            strides[a] = 0
    view = np.ndarray(shape, grad.dtype, grad, 0, strides)
    view.flags.writeable = False  # a write would land in every position sharing the element
    return view


def _array(value: np.ndarray | np.generic) -> np.ndarray:
    # NumPy reductions of 0-d arrays return scalars even with keepdims=True; tensors hold arrays.
    return value if type(value) is np.ndarray else np.asarray(value)


def _float_data(x: Tensor, op: str, dtype: DTypeLike | None = None) -> np.ndarray:
    """x's array, cast to `dtype` when given; ops defined only for floats reject integer and bool input."""
    data = x.data if dtype is None else x.data.astype(as_dtype(dtype), copy=False)
    if data.dtype.kind != "f":
        raise DTypeError(
            f"{op}: expected a floating-point tensor, got {data.dtype}; convert it with .float() or pass "
            "dtype=chainrule.float32"
        )
    return data


def _check_nonempty(shape: tuple[int, ...], axes: tuple[int, ...] | None, op: str) -> None:
    """Maxima, minima and their indices over zero elements do not exist: say so (PyTorch raises too)."""
    if 0 not in shape or (axes is not None and not _builtin_any(shape[a] == 0 for a in axes)):
        return
    where = "all dims (pass a dim whose size is not 0)" if axes is None else f"dim {_dims_str(axes)}"
    raise ShapeError(
        f"{op}: cannot reduce a tensor of shape {shape_str(shape)} over {where}: it has zero elements there"
    )


def _dims_str(axes: tuple[int, ...]) -> str:
    return str(axes[0]) if len(axes) == 1 else str(axes)


def _split_among_ties(
    data: np.ndarray, out_keep: np.ndarray, grad_keep: np.ndarray, axes: tuple[int, ...] | None, nan_ties: bool
) -> np.ndarray:
    """The gradient of an extreme value, shared evenly by the elements equal to it (PyTorch's amax rule).

    nan_ties: a NaN extreme is shared by the NaNs (max()/min() without dim); without it a NaN slice gets NaN
    gradients (amax/amin), both as PyTorch does.
    """
    mask = data == out_keep
    if nan_ties and data.dtype.kind == "f":
        mask |= np.isnan(data) & np.isnan(out_keep)
    count = np.add.reduce(mask, axis=axes, keepdims=True, dtype=grad_keep.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):  # a count of 0: the NaN slices of amax
        return (grad_keep / count) * mask


def _extreme(x: Tensor, dim: Dim, keepdim: bool, nan_ties: bool, reduce: np.ufunc, op: str, axis: Dim = None):
    """amax/amin (and max/min without dim): the extreme over `dim`, gradient split among ties."""
    data = x.data
    axes = _axes(x, dim, axis, op)
    if 0 in data.shape:
        _check_nonempty(data.shape, axes, op)
    out_keep = _array(reduce.reduce(data, axis=axes, keepdims=True))

    def backward(grad: np.ndarray) -> tuple:
        return (_split_among_ties(data, out_keep, grad.reshape(out_keep.shape), axes, nan_ties),)

    return result(out_keep if keepdim else out_keep.squeeze(axes), (x,), backward, op)


def _extreme_along(x: Tensor, dim: int, keepdim: bool, arg: np.ufunc, op: str) -> tuple[Tensor, Tensor]:
    """max/min along one dim: values and the index of the first extreme; the gradient goes to that index."""
    data = x.data
    d = normalize_dim(dim, data.ndim, op)
    work = data if data.ndim else data.reshape(1)  # a 0-d tensor reduces as a 1-element vector
    if work.shape[d] == 0:
        _check_nonempty(work.shape, (d,), op)
    index_keep = arg(work, axis=d, keepdims=True)
    # The value at the index, as the reduction computes it faster than a gather (NaN wins in both).
    values_keep = (np.maximum if arg is np.argmax else np.minimum).reduce(work, axis=d, keepdims=True)
    if keepdim and data.ndim:
        values, index = values_keep, index_keep
    else:
        values, index = values_keep.squeeze(d), index_keep.squeeze(d)
        if not data.ndim:
            values, index = values.reshape(()), index.reshape(())

    def backward(grad: np.ndarray) -> tuple:
        grad_x = np.zeros(work.shape, dtype=data.dtype)
        np.put_along_axis(grad_x, index_keep, grad.reshape(index_keep.shape), axis=d)
        return (grad_x.reshape(data.shape),)

    return result(values, (x,), backward, op), constant(index.astype(np.int64, copy=False))


# -- sums and means ----------------------------------------------------------------------------------------
def sum(  # noqa: A001 (PyTorch's name)
    x: Tensor,
    dim: Dim = None,
    keepdim: bool = False,
    *,
    dtype: DTypeLike | None = None,
    axis: Dim = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Sum over `dim` (all dims when None). x: (*); out: x's shape without `dim` (size 1 with keepdim).

    dtype: cast x to it first. Integer and bool tensors sum to int64, as in PyTorch.
    """
    data = x.data
    axes = _axes(x, dim, axis, "sum")
    if keepdims is not None:
        keepdim = keepdims
    if dtype is not None:
        out_dtype = as_dtype(dtype)
    elif data.dtype.kind in "biu":
        out_dtype = np.dtype(np.int64)
    else:
        out_dtype = None
    out = _array(np.add.reduce(data, axis=axes, dtype=out_dtype, keepdims=keepdim))

    def backward(grad: np.ndarray) -> tuple:
        if grad.dtype != data.dtype:
            grad = grad.astype(data.dtype)
        return (_expand(grad, data.shape, axes),)

    return result(out, (x,), backward, "sum")


def mean(
    x: Tensor,
    dim: Dim = None,
    keepdim: bool = False,
    *,
    dtype: DTypeLike | None = None,
    axis: Dim = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Mean over `dim` (all dims when None); NaN over zero elements. x: (*) floating point (or pass `dtype`)."""
    data = _float_data(x, "mean", dtype)
    axes = _axes(x, dim, axis, "mean")
    if keepdims is not None:
        keepdim = keepdims
    count = _count(data.shape, axes)
    out = _array(np.add.reduce(data, axis=axes, keepdims=keepdim))
    if count:
        out /= count
    else:
        out.fill(np.nan)  # 0 / 0, without NumPy's warning
    source_dtype = x.data.dtype

    def backward(grad: np.ndarray) -> tuple:
        grad = grad / count if count else grad
        return (_expand(grad if grad.dtype == source_dtype else grad.astype(source_dtype), data.shape, axes),)

    return result(out, (x,), backward, "mean")


# -- spread --------------------------------------------------------------------------------------------------
def _variance(
    x: Tensor, dim: object, unbiased: bool | None, correction: float | None, axis: object, op: str
) -> tuple[np.ndarray, tuple[int, ...] | None, object]:
    """var's forward, shared with std: (variance with the reduced dims kept as 1, the axes, var's backward)."""
    if isinstance(dim, bool):  # var(x, False): PyTorch's overload with `unbiased` in dim's place
        if unbiased is not None:
            raise ArgumentError(f"{op}: unbiased given twice (as the second argument and as unbiased=)")
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction is not None:
            raise ArgumentError(f"{op}: pass correction= or unbiased=, not both")
        correction = 1.0 if unbiased else 0.0
    elif correction is None:
        correction = 1.0
    data = _float_data(x, op)
    if axis is not None:
        dim = resolve_dim_alias(dim, axis, op)
    # PyTorch differentiates a full reduction (dim None, or a 0-d tensor) by its own rule when N - c <= 0.
    full = dim is None or data.ndim == 0
    axes = _axes(x, dim, None, op)
    count = _count(data.shape, axes)
    dof = count - float(correction)
    mean_keep = _array(np.add.reduce(data, axis=axes, keepdims=True))
    if count:
        mean_keep /= count
    centered = data - mean_keep
    var_keep = _array(np.add.reduce(centered * centered, axis=axes, keepdims=True))
    if dof > 0:
        var_keep /= dof
    else:  # PyTorch divides by max(N - c, 0): inf, or NaN for 0 / 0
        with np.errstate(divide="ignore", invalid="ignore"):
            var_keep /= 0.0

    def var_backward(grad_keep: np.ndarray) -> np.ndarray:
        if dof > 0:
            return (grad_keep * (2.0 / dof)) * centered
        with np.errstate(invalid="ignore"):
            if full:
                return grad_keep * np.where(centered == 0, np.nan, np.inf).astype(data.dtype, copy=False)
            return (grad_keep * (2.0 / dof if dof else math.inf)) * centered

    return var_keep, axes, var_backward


def var(
    x: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
    axis: Dim = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Variance over `dim`: sum((x - mean)^2) / max(N - correction, 0). x: (*) floating point.

    correction: 1 by default (Bessel's), 0 for the population variance; `unbiased=True/False` is the older
    spelling of correction=1/0. Too few elements (N <= correction) give inf or NaN, as in PyTorch.
    """
    var_keep, axes, var_backward = _variance(x, dim, unbiased, correction, axis, "var")

    def backward(grad: np.ndarray) -> tuple:
        return (var_backward(grad.reshape(var_keep.shape)),)

    keepdim = keepdim if keepdims is None else keepdims
    return result(var_keep if keepdim else var_keep.squeeze(axes), (x,), backward, "var")


def std(
    x: Tensor,
    dim: Dim = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
    axis: Dim = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Standard deviation over `dim`: sqrt(var(x, dim, correction=...)); arguments as `var`.

    Where std is 0 its gradient is taken as 0 (as PyTorch), not the infinite one-sided slope.
    """
    var_keep, axes, var_backward = _variance(x, dim, unbiased, correction, axis, "std")
    std_keep = np.sqrt(var_keep, out=var_keep)

    def backward(grad: np.ndarray) -> tuple:
        grad_keep = grad.reshape(std_keep.shape)
        zero = std_keep == 0
        if zero.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_var = np.where(zero, 0, grad_keep / (2 * std_keep))
        else:
            grad_var = grad_keep / (2 * std_keep)
        return (var_backward(grad_var),)

    keepdim = keepdim if keepdims is None else keepdims
    return result(std_keep if keepdim else std_keep.squeeze(axes), (x,), backward, "std")


# -- extremes ------------------------------------------------------------------------------------------------
def max(  # noqa: A001 (PyTorch's name)
    x: Tensor,
    dim: int | Tensor | None = None,
    keepdim: bool = False,
    *,
    axis: int | None = None,
    keepdims: bool | None = None,
) -> Tensor | MaxResult:
    """The largest element (a 0-d tensor; the gradient is shared evenly by ties), or along one `dim` a
    `MaxResult(values, indices)` (the first largest; the gradient goes to that index). `max(x, other)` with a
    tensor is the elementwise `maximum`, as in PyTorch. NaN counts as the largest."""
    if isinstance(dim, Tensor):
        return elementwise.maximum(x, dim)
    if axis is not None:
        dim = resolve_dim_alias(dim, axis, "max")
    keepdim = keepdim if keepdims is None else keepdims
    if dim is None:
        return _extreme(x, None, keepdim, True, np.maximum, "max")
    if not isinstance(dim, int | np.integer):
        raise DimError(f"max: dim must be a single int, got {dim!r}; use amax to reduce several dims")
    return MaxResult(*_extreme_along(x, dim, keepdim, np.argmax, "max"))


def min(  # noqa: A001 (PyTorch's name)
    x: Tensor,
    dim: int | Tensor | None = None,
    keepdim: bool = False,
    *,
    axis: int | None = None,
    keepdims: bool | None = None,
) -> Tensor | MinResult:
    """The smallest element (a 0-d tensor; the gradient is shared evenly by ties), or along one `dim` a
    `MinResult(values, indices)` (the first smallest; the gradient goes to that index). `min(x, other)` with a
    tensor is the elementwise `minimum`, as in PyTorch. NaN counts as the smallest."""
    if isinstance(dim, Tensor):
        return elementwise.minimum(x, dim)
    if axis is not None:
        dim = resolve_dim_alias(dim, axis, "min")
    keepdim = keepdim if keepdims is None else keepdims
    if dim is None:
        return _extreme(x, None, keepdim, True, np.minimum, "min")
    if not isinstance(dim, int | np.integer):
        raise DimError(f"min: dim must be a single int, got {dim!r}; use amin to reduce several dims")
    return MinResult(*_extreme_along(x, dim, keepdim, np.argmin, "min"))


def amax(
    x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None, keepdims: bool | None = None
) -> Tensor:
    """The largest values over `dim` (all dims when None); the gradient is shared evenly by ties."""
    return _extreme(x, dim, keepdim if keepdims is None else keepdims, False, np.maximum, "amax", axis)


def amin(
    x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None, keepdims: bool | None = None
) -> Tensor:
    """The smallest values over `dim` (all dims when None); the gradient is shared evenly by ties."""
    return _extreme(x, dim, keepdim if keepdims is None else keepdims, False, np.minimum, "amin", axis)


def _arg_extreme(x: Tensor, dim: int | None, keepdim: bool, arg: np.ufunc, op: str) -> Tensor:
    data = x.data
    if dim is None:
        _check_nonempty(data.shape, None, op)
        index = np.asarray(arg(data), dtype=np.int64)  # into the flattened tensor
        return constant(index.reshape((1,) * data.ndim) if keepdim else index)
    d = normalize_dim(dim, data.ndim, op)
    if data.ndim == 0:
        return constant(np.zeros((), dtype=np.int64))
    _check_nonempty(data.shape, (d,), op)
    return constant(arg(data, axis=d, keepdims=keepdim).astype(np.int64, copy=False))


def argmax(
    x: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None, keepdims: bool | None = None
) -> Tensor:
    """int64 indices of the largest values along `dim` (into the flattened tensor when None); the first one
    on ties, NaN counting as the largest. A constant: not part of the graph."""
    return _arg_extreme(
        x, resolve_dim_alias(dim, axis, "argmax"), keepdim if keepdims is None else keepdims, np.argmax, "argmax"
    )


def argmin(
    x: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None, keepdims: bool | None = None
) -> Tensor:
    """int64 indices of the smallest values along `dim` (into the flattened tensor when None); the first one
    on ties, NaN counting as the smallest. A constant: not part of the graph."""
    return _arg_extreme(
        x, resolve_dim_alias(dim, axis, "argmin"), keepdim if keepdims is None else keepdims, np.argmin, "argmin"
    )


# -- log-sum-exp, product, norm ------------------------------------------------------------------------------
def logsumexp(
    x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None, keepdims: bool | None = None
) -> Tensor:
    """log(sum(exp(x))) over `dim` (required, as in PyTorch), without overflow: the max is taken out first.

    Over zero elements it is -inf; a slice of -inf gives -inf. The gradient is softmax(x) along `dim`.
    """
    if dim is None and axis is None:
        raise ArgumentError("logsumexp: dim is required (an int or a tuple of ints), as in PyTorch")
    data = x.data if x.data.dtype.kind == "f" else x.data.astype(np.float32)
    axes = _axes(x, dim, axis, "logsumexp")
    if _count(data.shape, axes) == 0:
        total = shift = np.zeros(_kept(data.shape, axes), dtype=data.dtype)
        special = True
    else:
        shift = _array(np.maximum.reduce(data, axis=axes, keepdims=True))
        infinite = np.isinf(shift)
        special = bool(infinite.any())
        if special:
            shift[infinite] = 0  # a slice whose max is +-inf: exp(x - 0) gives the right inf or 0
        total = _array(np.add.reduce(np.exp(data - shift), axis=axes, keepdims=True))
    # Only infinite slices (and empty ones) make log(0), inf / inf and the like: silence NumPy just there.
    with _quiet(special):
        out_keep = _array(np.log(total))
    out_keep += shift

    def backward(grad: np.ndarray) -> tuple:
        # softmax as exp(x - shift) / total rather than exp(x - out): out is rounded to the precision of the
        # largest logit, which at 1e4 in float32 would put the gradient off by 1e-4.
        with _quiet(special):
            return (np.exp(data - shift) * (grad.reshape(total.shape) / total),)

    keepdim = keepdim if keepdims is None else keepdims
    return result(out_keep if keepdim else out_keep.squeeze(axes), (x,), backward, "logsumexp")


def _quiet(special: bool) -> contextlib.AbstractContextManager:
    """NumPy's warnings silenced for the special case (np.errstate costs ~1 us, so not on the common path)."""
    return np.errstate(divide="ignore", invalid="ignore") if special else contextlib.nullcontext()


def _exclusive_products(data: np.ndarray, axis: int) -> np.ndarray:
    """For each element, the product of the others along `axis`, by prefix x products from both sides (no
    division, so exact with zeros)."""
    n = data.shape[axis]
    before = np.ones_like(data)
    after = np.ones_like(data)
    if n > 1:
        head = (slice(None),) * axis + (slice(None, -1),)
        tail = (slice(None),) * axis + (slice(1, None),)
        np.cumprod(data[head], axis=axis, out=before[tail])
        np.cumprod(np.flip(data, axis)[head], axis=axis, out=np.flip(after, axis)[tail])
    before *= after
    return before


def prod(
    x: Tensor,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    dtype: DTypeLike | None = None,
    axis: int | None = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Product over one `dim` (all elements when None). dtype: cast x to it first; integer and bool tensors
    multiply to int64, as in PyTorch. The gradient is the product of the other elements, exact with zeros."""
    dim = resolve_dim_alias(dim, axis, "prod")
    data = x.data
    if dtype is not None:
        data = data.astype(as_dtype(dtype), copy=False)
    elif data.dtype.kind in "biu":
        data = data.astype(np.int64)
    if dim is None:
        work, d = data.reshape(-1), 0
    else:
        if not isinstance(dim, int | np.integer) or isinstance(dim, bool):
            raise DimError(f"prod: dim must be a single int or None, got {dim!r}")
        d = normalize_dim(dim, data.ndim, "prod")
        work = data if data.ndim else data.reshape(1)
    out_work = np.multiply.reduce(work, axis=d, keepdims=True)
    if keepdims is not None:
        keepdim = keepdims
    if dim is None:
        out = out_work.reshape((1,) * data.ndim if keepdim else ())
    else:
        out = out_work if keepdim and data.ndim else out_work.reshape(data.shape[:d] + data.shape[d + 1 :])
    source_dtype = x.data.dtype

    def backward(grad: np.ndarray) -> tuple:
        grad_work = grad.reshape(out_work.shape)
        if (work == 0).any():
            grad_x = grad_work * _exclusive_products(work, d)
        else:
            grad_x = grad_work * (out_work / work)  # one pass instead of two cumprods when no x is 0
        return (grad_x.reshape(data.shape).astype(source_dtype, copy=False),)

    return result(out, (x,), backward, "prod")


def _norm_order(p: float | str | None, dim: object, op: str) -> float:
    if p is None:
        return 2.0
    if isinstance(p, str):
        if p == "fro":
            if isinstance(dim, Sequence) and len(dim) > 2:
                raise DimError(f"{op}: the Frobenius norm takes at most 2 dims, got dim={tuple(dim)}")
            return 2.0
        if p == "nuc":
            raise ArgumentError(f"{op}: the nuclear norm (p='nuc') is not supported; use p='fro' or a number")
        raise ArgumentError(f"{op}: p must be a number, 'fro' or None, got {p!r}")
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
        raise ArgumentError(f"{op}: p must be a number, 'fro' or None, got {type(p).__name__} {p!r}")
    return float(p)


def norm(
    x: Tensor,
    p: float | str | None = "fro",
    dim: Dim = None,
    keepdim: bool = False,
    *,
    dtype: DTypeLike | None = None,
    axis: Dim = None,
    keepdims: bool | None = None,
) -> Tensor:
    """The vector p-norm (sum |x|^p)^(1/p) over `dim` (all elements when None), as `torch.norm`.

    p: 'fro' (the default) or 2, 1, inf (max |x|), -inf (min |x|), 0 (count of non-zeros), or any other
    number. x: (*) floating point (or pass `dtype`). At x = 0 the gradient is 0 (PyTorch's subgradient).
    """
    order = _norm_order(p, dim, "norm")
    data = _float_data(x, "norm", dtype)
    axes = _axes(x, dim, axis, "norm")
    magnitude = np.abs(data)
    if order == 2:
        out_keep = np.sqrt(_array(np.add.reduce(data * data, axis=axes, keepdims=True)))
    elif order == 1:
        out_keep = np.add.reduce(magnitude, axis=axes, keepdims=True)
    elif math.isinf(order):
        if _count(data.shape, axes) == 0:
            raise ShapeError(f"norm: the inf norm of zero elements is undefined (shape {shape_str(data.shape)})")
        out_keep = (np.maximum if order > 0 else np.minimum).reduce(magnitude, axis=axes, keepdims=True)
    elif order == 0:
        out_keep = np.count_nonzero(data, axis=axes, keepdims=True).astype(data.dtype)
    else:
        with np.errstate(divide="ignore"):
            out_keep = _array(np.add.reduce(magnitude**order, axis=axes, keepdims=True)) ** (1.0 / order)
    out_keep = _array(out_keep)
    source_dtype = x.data.dtype

    def backward(grad: np.ndarray) -> tuple:
        grad_keep = grad.reshape(out_keep.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            if order == 0:
                grad_x = np.zeros_like(data)
            elif order == 1:
                grad_x = grad_keep * np.sign(data)
            elif math.isinf(order):
                # max |x| (min |x|): shared by the ties, as amax; a NaN takes part, as in PyTorch.
                ties = (magnitude == out_keep) | np.isnan(magnitude)
                count = np.add.reduce(ties, axis=axes, keepdims=True, dtype=data.dtype)
                grad_x = np.sign(data) * ((grad_keep / count) * ties)
            elif order < 1:
                # d/dx = sign(x) |x|^(p-1) ||x||^(1-p), whose |x|^(p-1) blows up at x = 0: taken as 0 there.
                local = np.where(data == 0, 0, np.sign(data) * magnitude ** (order - 1))
                grad_x = local * (grad_keep * out_keep ** (1 - order))
            else:
                # d/dx = x |x|^(p-2) / ||x||^(p-1), taken as 0 where the norm is 0.
                scale = np.where(out_keep == 0, 0, grad_keep / out_keep ** (order - 1))
                if order == 2:
                    grad_x = data * scale
                elif order < 2:
                    grad_x = np.sign(data) * magnitude ** (order - 1) * scale
                else:
                    grad_x = data * magnitude ** (order - 2) * scale
        return (_array(grad_x).astype(source_dtype, copy=False),)

    keepdim = keepdim if keepdims is None else keepdims
    return result(out_keep if keepdim else out_keep.squeeze(axes), (x,), backward, "norm")


# -- logic ---------------------------------------------------------------------------------------------------
def _logical(x: Tensor, dim: Dim, keepdim: bool, reduce: np.ufunc, op: str) -> Tensor:
    # Unlike the numeric reductions, PyTorch's any/all with dim=() reduce nothing.
    axes = normalize_dims(dim, x.data.ndim, op)
    if x.data.ndim == 0:
        axes = None
    out = reduce(x.data.astype(np.bool_, copy=False), axis=axes, keepdims=keepdim)
    return constant(_array(out))


def any(x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None, keepdims: bool | None = None) -> Tensor:  # noqa: A001
    """Whether any element over `dim` (all when None) is non-zero: a bool tensor outside the graph."""
    return _logical(
        x, resolve_dim_alias(dim, axis, "any"), keepdim if keepdims is None else keepdims, np.logical_or.reduce, "any"
    )


def all(x: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None, keepdims: bool | None = None) -> Tensor:  # noqa: A001
    """Whether every element over `dim` (all when None) is non-zero: a bool tensor outside the graph."""
    return _logical(
        x, resolve_dim_alias(dim, axis, "all"), keepdim if keepdims is None else keepdims, np.logical_and.reduce, "all"
    )
