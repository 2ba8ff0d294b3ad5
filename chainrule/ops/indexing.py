"""Indexing: basic and advanced `__getitem__`, gather, index_select, masked_fill; backward scatters with accumulation.

Forward is NumPy's indexing (basic indexing gives a view). Backward puts the gradient back where the values
came from: an assignment into zeros when no position can be picked twice (ints, slices, masks), an accumulating
scatter when integer arrays can repeat a position (`x[[0, 0]]` sends both gradients to x[0]).

The accumulating scatters flatten the problem first: the linear position of every picked element in the input,
then one 1-D `np.add.at` over the flat gradient, which is several times faster than `np.add.at` along an axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import DimError, DTypeError, ShapeError, shape_str
from chainrule.ops._util import broadcast_shape, normalize_dim, unbroadcast
from chainrule.tensor import Tensor, result

_ALL = slice(None)


# -- index arguments -------------------------------------------------------------------------------------
def _index_array(array: np.ndarray, op: str) -> np.ndarray:
    if array.dtype.kind not in "iub":
        raise DTypeError(f"{op}: indices must be integer or bool tensors / arrays, got dtype {array.dtype}")
    return array


def _index_part(part: Any) -> Any:
    if isinstance(part, Tensor | np.ndarray):
        array = _index_array(part.data if isinstance(part, Tensor) else part, "index")
        # A 0-d integer index is an int, as in PyTorch (basic indexing: a view, no advanced-index broadcasting).
        return int(array) if array.ndim == 0 and array.dtype.kind in "iu" else array
    if isinstance(part, list):
        array = np.asarray(part)
        if array.size == 0:
            return np.zeros(array.shape, dtype=np.intp)  # [] is an empty integer index, not float64
        return _index_array(array, "index")
    if isinstance(part, float | np.floating):
        raise DTypeError(f"index: a float ({part!r}) cannot be an index; use an int")
    return part


def normalize_index(index: Any) -> Any:
    """An index for NumPy: Tensors (also inside tuples) become their arrays, lists become integer or bool arrays.

    Raises DTypeError for float indices (a float scalar, or a float tensor / array / list).
    """
    kind = type(index)
    if kind is int or kind is slice:
        return index
    if kind is tuple:
        return tuple(_index_part(part) for part in index)
    return _index_part(index)


def _integer_index(index: Any, op: str) -> np.ndarray:
    """An integer index argument (Tensor, array or list) as an ndarray."""
    array = np.asarray(index.data if isinstance(index, Tensor) else index)
    if array.dtype.kind not in "iu":
        if array.size == 0 and array.dtype.kind == "f":
            return array.astype(np.intp)
        raise DTypeError(f"{op}: index must be an integer tensor, got dtype {array.dtype}")
    return array


def _check_range(index: np.ndarray, size: int, dim: int, op: str, negative: bool) -> np.ndarray:
    """Raise DimError naming the first index outside [0, size) (or [-size, size) when `negative`)."""
    if index.size == 0:
        return index
    low, high = index.min(), index.max()
    if high < size and low >= (-size if negative else 0):
        return index
    bad = high if high >= size else low
    allowed = f"[{-size}, {size - 1}]" if negative else f"[0, {size - 1}]"
    raise DimError(f"{op}: index {int(bad)} is out of range for dim {dim} of size {size} (expected {allowed})")


# -- scatters (the backward of every gather) --------------------------------------------------------------------
def _scatter_add_along(grad: np.ndarray, index: np.ndarray, dim: int, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of `shape` with grad[..., j, ...] added at position index[..., j, ...] along `dim`.

    index broadcasts to grad's shape; grad's sizes in the other dims are at most shape's (PyTorch's gather).
    Repeated positions accumulate.
    """
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    index = index.astype(np.intp, copy=False)
    if index.size and index.min() < 0:
        index = np.where(index < 0, index + shape[dim], index)
    linear = index * strides[dim] if strides[dim] != 1 else index
    ndim = grad.ndim
    for k in range(ndim):
        if k != dim and grad.shape[k] != 1:
            linear = linear + (np.arange(grad.shape[k]) * strides[k]).reshape((-1,) + (1,) * (ndim - 1 - k))
    flat = np.zeros(int(np.prod(shape)), dtype=grad.dtype)
    np.add.at(flat, np.broadcast_to(linear, grad.shape).reshape(-1), grad.reshape(-1))
    return flat.reshape(shape)


def _scatter_add_axis(grad: np.ndarray, index: np.ndarray, axis: int, shape: tuple[int, ...]) -> np.ndarray:
    """The backward of `np.take(x, index, axis)` for an x of `shape`: grad has index's dims in place of `axis`."""
    flat_index = index.reshape(-1)
    grad = grad.reshape((*shape[:axis], flat_index.size, *shape[axis + 1 :]))
    return _scatter_add_along(grad, flat_index.reshape((-1,) + (1,) * (len(shape) - 1 - axis)), axis, shape)


def _single_axis(index: tuple, ndim: int) -> tuple[int, np.ndarray] | None:
    """(axis, array) when `index` is one integer array on one axis with only full slices and one optional
    Ellipsis around it (x[idx], x[:, idx], x[..., idx]): the common case, scattered by the fast path."""
    position = None
    ellipsis = None
    for i, part in enumerate(index):
        if isinstance(part, np.ndarray) and part.dtype.kind in "iu" and part.ndim > 0 and position is None:
            position = i
        elif part is Ellipsis and ellipsis is None:
            ellipsis = i
        elif not (isinstance(part, slice) and part == _ALL):
            return None
    if position is None:
        return None
    axis = ndim - (len(index) - position) if ellipsis is not None and ellipsis < position else position
    return axis, index[position]


def _accumulates(index: tuple) -> bool:
    """Whether the index holds an integer array, so that one input position may be picked more than once."""
    return any(isinstance(part, np.ndarray) and part.dtype.kind in "iu" for part in index)


def _split_ints(index: tuple) -> tuple[tuple, tuple] | None:
    """PyTorch applies ints as basic indexing before the advanced indices (x[1, :, [0, 1]] is (n, 2) in PyTorch but
    (2, n) in NumPy, whose ints join the advanced indices). For such a mix: (the ints' basic index, the rest)."""
    if not any(type(p) is int or isinstance(p, np.integer) for p in index):
        return None
    if not any(isinstance(p, np.ndarray) for p in index):
        return None
    ints: list[Any] = []
    rest: list[Any] = []
    for part in index:
        if type(part) is int or isinstance(part, np.integer):
            ints.append(part)
        elif part is None or isinstance(part, bool | np.bool_):
            rest.append(part)  # consumes no dim of the input
        elif part is Ellipsis:
            ints.append(part)
            rest.append(part)
        else:
            ints.extend([_ALL] * (part.ndim if isinstance(part, np.ndarray) and part.dtype == np.bool_ else 1))
            rest.append(part)
    return tuple(ints), tuple(rest)


def _index_backward(grad: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of `shape` with `grad` put back at `index` (accumulating where integer arrays repeat positions)."""
    parts = index if type(index) is tuple else (index,)
    accumulates = _accumulates(parts)
    if accumulates:
        single = _single_axis(parts, len(shape))
        if single is not None:
            return _scatter_add_axis(grad, single[1], single[0], shape)
    full = np.zeros(shape, dtype=grad.dtype)
    if accumulates:
        np.add.at(full, index, grad)
    else:
        full[index] = grad  # no position can be picked twice: a plain assignment
    return full


# -- ops -------------------------------------------------------------------------------------------------------
def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index] with PyTorch's rules: ints, slices (NumPy's negative steps too), None, Ellipsis, bool masks,
    integer arrays / tensors / lists, and tuples mixing them. Basic indexing gives a view of x.

    Backward: zeros with the gradient assigned at the index; with integer arrays, repeated positions accumulate.
    """
    index = normalize_index(index)
    data = x.data
    split = _split_ints(index) if type(index) is tuple else None
    try:
        if split is None:
            out = data[index]
        else:
            inner = data[split[0]]
            out = inner[split[1]]
    except IndexError as error:
        raise DimError(f"index: {error} (indexing a tensor of shape {shape_str(data.shape)})") from None
    except ValueError as error:
        raise ShapeError(f"index: {error} (indexing a tensor of shape {shape_str(data.shape)})") from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)  # an int index on a 1-D array gives a NumPy scalar

    def backward(grad: np.ndarray) -> tuple:
        if split is None:
            return (_index_backward(grad, index, data.shape),)
        full = np.zeros(data.shape, dtype=grad.dtype)
        full[split[0]] = _index_backward(grad, split[1], inner.shape)
        return (full,)

    return result(out, (x,), backward, "getitem")


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim=0 (and likewise for other dims); PyTorch's gather.

    index: integers of x's number of dims, no larger than x in every dim but `dim`; out has index's shape.
    Backward adds each gradient at its source position (repeated indices accumulate).
    """
    idx = _integer_index(index, "gather")
    data = x.data
    d = normalize_dim(dim, data.ndim, "gather")
    if idx.ndim != data.ndim:
        raise ShapeError(
            f"gather: index must have the tensor's number of dims; got index of shape {shape_str(idx.shape)} for "
            f"a tensor of shape {shape_str(data.shape)}"
        )
    if data.ndim == 0:
        _check_range(idx, 1, d, "gather", negative=False)
        out = data.copy()

        def backward_scalar(grad: np.ndarray) -> tuple:
            return (grad.copy(),)

        return result(out, (x,), backward_scalar, "gather")
    for k in range(data.ndim):
        if k != d and idx.shape[k] > data.shape[k]:
            raise ShapeError(
                f"gather: index of shape {shape_str(idx.shape)} is larger than the tensor's shape "
                f"{shape_str(data.shape)} in dim {k} (only dim {d}, the gathered one, may differ)"
            )
    _check_range(idx, data.shape[d], d, "gather", negative=False)
    source = data
    if any(idx.shape[k] != data.shape[k] for k in range(data.ndim) if k != d):
        source = data[tuple(_ALL if k == d else slice(0, idx.shape[k]) for k in range(data.ndim))]
    out = np.take_along_axis(source, idx, axis=d)

    def backward(grad: np.ndarray) -> tuple:
        return (_scatter_add_along(grad, idx, d, data.shape),)

    return result(out, (x,), backward, "gather")


def take_along_dim(x: Tensor, indices: Any, dim: int | None = None) -> Tensor:
    """Values of x at `indices` along `dim`, x and indices broadcasting in the other dims (np.take_along_axis).

    dim=None: both are flattened first. Negative indices count from the end. Backward accumulates repeats.
    """
    idx = _integer_index(indices, "take_along_dim")
    data = x.data
    if dim is None:
        flat_idx = _check_range(idx.reshape(-1), data.size, 0, "take_along_dim", negative=True)
        out = data.reshape(-1)[flat_idx]

        def backward_flat(grad: np.ndarray) -> tuple:
            return (_scatter_add_along(grad, flat_idx, 0, (data.size,)).reshape(data.shape),)

        return result(out, (x,), backward_flat, "take_along_dim")
    d = normalize_dim(dim, data.ndim, "take_along_dim")
    if idx.ndim != data.ndim:
        raise ShapeError(
            f"take_along_dim: indices must have the tensor's number of dims; got indices of shape "
            f"{shape_str(idx.shape)} for a tensor of shape {shape_str(data.shape)}"
        )
    if data.ndim == 0:
        return gather(x, 0, idx)
    _check_range(idx, data.shape[d], d, "take_along_dim", negative=True)
    # Broadcast every dim but `dim`, which keeps its own size in x and in indices.
    others = broadcast_shape(
        (*data.shape[:d], 1, *data.shape[d + 1 :]), (*idx.shape[:d], 1, *idx.shape[d + 1 :]), "take_along_dim"
    )
    x_shape = (*others[:d], data.shape[d], *others[d + 1 :])
    idx_shape = (*others[:d], idx.shape[d], *others[d + 1 :])
    expanded = np.broadcast_to(data, x_shape)
    idx = np.broadcast_to(idx, idx_shape)
    out = np.take_along_axis(expanded, idx, axis=d)

    def backward(grad: np.ndarray) -> tuple:
        return (unbroadcast(_scatter_add_along(grad, idx, d, x_shape), data.shape),)

    return result(out, (x,), backward, "take_along_dim")


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """The entries of x at positions `index` (1-D integers, repeats allowed) along `dim`.

    x: (..., n, ...) -> (..., len(index), ...). Backward accumulates the gradients of repeated positions.
    """
    idx = _integer_index(index, "index_select")
    data = x.data
    d = normalize_dim(dim, data.ndim, "index_select")
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-D (or 0-d), got shape {shape_str(idx.shape)}")
    idx = idx.reshape(-1)
    if data.ndim == 0:
        _check_range(idx, 1, d, "index_select", negative=False)
        if idx.size != 1:
            raise ShapeError(f"index_select: a 0-d tensor takes an index of one value, got {idx.size}")
        return gather(x, 0, idx.reshape(()))
    _check_range(idx, data.shape[d], d, "index_select", negative=False)
    out = np.take(data, idx, axis=d)

    def backward(grad: np.ndarray) -> tuple:
        return (_scatter_add_axis(grad, idx, d, data.shape),)

    return result(out, (x,), backward, "index_select")


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """x with `value` where the bool `mask` (broadcast with x) is True; value is a number or a 0-d tensor.

    d/dx is the gradient where mask is False and 0 where it is filled; d/dvalue sums the filled gradients.
    """
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if m.dtype != np.bool_:
        raise DTypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    data = x.data
    shape = broadcast_shape(data.shape, m.shape, "masked_fill")
    if isinstance(value, Tensor):
        if value.data.ndim != 0:
            raise ShapeError(
                f"masked_fill: value must be a number or a 0-d tensor, got a tensor of shape "
                f"{shape_str(value.data.shape)}"
            )
        parents: tuple[Tensor, ...] = (x, value)
        fill = value.data.astype(data.dtype, copy=False)
    else:
        if np.ndim(value) != 0:
            raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {np.shape(value)}")
        parents = (x,)
        fill = np.asarray(value, dtype=data.dtype) if data.dtype.kind == "f" else np.asarray(value).astype(data.dtype)
    out = np.where(m, fill, data)

    def backward(grad: np.ndarray) -> tuple:
        grad_x = unbroadcast(np.where(m, 0, grad), data.shape) if x.requires_grad else None
        if len(parents) == 1:
            return (grad_x,)
        grad_value = None
        if value.requires_grad:
            grad_value = np.asarray(grad[np.broadcast_to(m, shape)].sum(), dtype=value.data.dtype)
        return grad_x, grad_value

    return result(out, parents, backward, "masked_fill")
