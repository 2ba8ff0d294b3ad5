"""Shared helpers of the ops: undoing broadcasting, resolving `dim` arguments, checking shapes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule.errors import DimError, ShapeError, shape_str

_ones: dict[tuple[int, np.dtype], np.ndarray] = {}


def column_sums(a: np.ndarray) -> np.ndarray:
    """a (rows, cols) summed over its rows: (cols,). For float32/float64 a matrix-vector product with a vector
    of ones (BLAS): NumPy's own reduction over axis 0 walks one row at a time and ran 3 to 15 times slower on
    the narrow matrices gradients are made of (a bias's: (batch, features), or (pixels, channels))."""
    rows = a.shape[0]
    if a.dtype == np.float16:  # accumulated in float32: float16 sums of a few thousand rows lose 1% and more
        return np.add.reduce(a, axis=0, dtype=np.float32).astype(np.float16)
    if a.dtype not in (np.float32, np.float64) or rows < 8:
        return np.add.reduce(a, axis=0)
    key = (rows, a.dtype)
    ones = _ones.get(key)
    if ones is None:
        if len(_ones) > 64:
            _ones.clear()
        ones = _ones[key] = np.ones(rows, dtype=a.dtype)
    return np.matmul(ones, a)


_INTS = {size: np.dtype(f"i{size}") for size in (1, 2, 4, 8)}


def int_view(array: np.ndarray) -> np.ndarray:
    """The bits of a float array as ints of the same size (a view), for masking values with bitwise ops."""
    return array.view(_INTS[array.dtype.itemsize])


def zero_where(grad: np.ndarray, drop: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """grad with +0.0 where the bool array `drop` (of grad's shape) is True and grad's own value elsewhere, in
    `out` (grad itself may be passed; a new array when None). `drop` is consumed: its memory holds the mask.

    PyTorch's where(drop, 0, grad), which the backward of relu, hardtanh and clamp use: a multiply by a 0/1 mask
    would turn an inf or NaN gradient into NaN where it is dropped. As fast as that multiply, and without the
    mispredicted branch per value of np.where: a bitwise AND of grad's bits with the mask, one byte per value
    (-1, all bits set, where kept), which the AND widens with its sign."""
    keep = drop.view(np.int8)
    np.subtract(keep, 1, out=keep)
    if out is None:
        out = np.empty_like(grad)
    np.bitwise_and(int_view(grad), keep, out=int_view(out))
    return out


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` back to `shape`, undoing NumPy broadcasting (leading dims added, size-1 dims stretched)."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead and grad.shape[lead:] == shape and grad.flags.c_contiguous:  # only leading dims: a bias's gradient
        return column_sums(grad.reshape(-1, grad[(0,) * lead].size)).reshape(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes)
    return grad.reshape(shape)


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...], op: str) -> tuple[int, ...]:
    """The broadcast shape of two operands, or a ShapeError naming the op and both shapes."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise ShapeError(
            f"{op}: shapes {shape_str(a)} and {shape_str(b)} do not broadcast (trailing dimensions must be equal or 1)"
        ) from None


def check_broadcast(source: tuple[int, ...], target: tuple[int, ...], op: str) -> None:
    """Raise ShapeError unless `source` broadcasts to exactly `target`."""
    try:
        if np.broadcast_shapes(source, target) == tuple(target):
            return
    except ValueError:
        pass
    raise ShapeError(f"{op}: a value of shape {shape_str(source)} cannot broadcast to {shape_str(target)}")


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """`dim` as a non-negative index into `ndim` dimensions (negative counts from the end)."""
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise DimError(f"{op}: dim must be an int, got {type(dim).__name__} {dim!r}")
    # A 0-d tensor accepts dim 0 and -1, as in PyTorch.
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise DimError(
            f"{op}: dim {dim} is out of range for a tensor of {ndim} dimension(s) "
            f"(expected a value in [{-size}, {size - 1}])"
        )
    return int(dim) % size


def normalize_dims(dim: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...] | None:
    """A `dim` argument (an int, a tuple of ints, or None for all) as a sorted tuple of non-negative dims."""
    if dim is None:
        return None
    if isinstance(dim, int | np.integer) and not isinstance(dim, bool):
        return (normalize_dim(dim, ndim, op),)
    if not isinstance(dim, Sequence):
        raise DimError(f"{op}: dim must be an int, a tuple of ints or None, got {type(dim).__name__}")
    dims = tuple(normalize_dim(d, ndim, op) for d in dim)
    if len(set(dims)) != len(dims):
        raise DimError(f"{op}: dim {tuple(dim)} names a dimension more than once")
    if ndim == 0:
        return ()
    return tuple(sorted(dims))


def resolve_dim_alias(dim: object, axis: object, op: str) -> object:
    """Accept NumPy's `axis=` as an alias of `dim=`, but not both."""
    if axis is None:
        return dim
    if dim is not None:
        raise DimError(f"{op}: pass dim or axis (its NumPy alias), not both")
    return axis
