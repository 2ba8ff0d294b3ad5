"""Shape ops: views and rearrangements; their backward rearranges the gradient the other way.

Forward results are NumPy views of the input where NumPy can make one (reshape, transpose, expand, flip,
split ...), as in PyTorch. Each backward is the inverse rearrangement of the gradient: a reshape back, the
inverse permutation, a sum over expanded dims, the slice of a concatenation, a fold of padded borders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, DimError, ShapeError, shape_str
from chainrule.ops._util import normalize_dim, normalize_dims, resolve_dim_alias, unbroadcast
from chainrule.tensor import Tensor, result, tensors_of

_ALL = slice(None)


# -- argument parsing ------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _int_args(values: tuple[Any, ...], op: str, what: str) -> tuple[int, ...]:
    """Sizes or dims given PyTorch's two ways: as separate ints, or as one tuple / list."""
    if len(values) == 1 and type(values[0]) is tuple:
        values = values[0]
    for value in values:
        if type(value) is not int:
            break
    else:
        return values  # the common case: plain ints, nothing to convert
    if len(values) == 1 and not _is_int(values[0]):
        values = values[0]
        if isinstance(values, Tensor | np.ndarray):
            values = np.asarray(values).tolist()
        if not isinstance(values, Sequence):
            raise ArgumentError(f"{op}: {what} must be ints or a tuple of ints, got {type(values).__name__}")
    for value in values:
        if not _is_int(value):
            raise ArgumentError(f"{op}: {what} must be ints, got {tuple(values)!r}")
    return tuple(int(v) for v in values)


def _dim_list(dims: Any, ndim: int, op: str, what: str = "dims") -> tuple[int, ...]:
    """An int or a sequence of ints as a tuple of non-negative dims in the given order, without repeats."""
    if _is_int(dims):
        dims = (dims,)
    elif not isinstance(dims, Sequence):
        raise DimError(f"{op}: {what} must be an int or a tuple of ints, got {type(dims).__name__}")
    resolved = tuple(normalize_dim(d, ndim, op) for d in dims)
    if len(set(resolved)) != len(resolved):
        raise DimError(f"{op}: {what} {tuple(dims)} names a dimension more than once")
    return resolved


def _new_dim(dim: Any, ndim: int, op: str) -> int:
    """The position of a dim inserted into `ndim` dims (unsqueeze, stack): in [-ndim - 1, ndim]."""
    if not _is_int(dim) or not -ndim - 1 <= dim <= ndim:
        raise DimError(
            f"{op}: dim {dim!r} is out of range for inserting a dim into a tensor of {ndim} dimension(s) "
            f"(expected an int in [{-ndim - 1}, {ndim}])"
        )
    return int(dim) % (ndim + 1)


def _infer_shape(shape: tuple[int, ...], numel: int, source: tuple[int, ...], op: str) -> tuple[int, ...]:
    """`shape` with its one -1 replaced by the size that keeps `numel` elements."""

    def fail(reason: str) -> ShapeError:
        return ShapeError(
            f"{op}: cannot reshape a tensor of shape {shape_str(source)} ({numel} elements) into shape "
            f"{shape_str(shape)}: {reason}"
        )

    known = 1
    unknown = None
    for i, size in enumerate(shape):
        if size == -1:
            if unknown is not None:
                raise fail("only one dimension can be -1")
            unknown = i
        elif size < 0:
            raise fail(f"invalid size {size}")
        else:
            known *= size
    if unknown is None:
        if known != numel:
            raise fail(f"the new shape has {known} elements")
        return shape
    if known == 0:
        raise fail("the -1 is ambiguous when the other sizes multiply to 0")
    if numel % known:
        raise fail(f"{numel} is not divisible by {known}")
    return (*shape[:unknown], numel // known, *shape[unknown + 1 :])


# -- reshaping ---------------------------------------------------------------------------------------------
def _reshape(x: Tensor, target: tuple[int, ...], op: str) -> Tensor:
    source = x.data.shape

    def backward(grad: np.ndarray) -> tuple:
        return (grad.reshape(source),)

    return result(x.data.reshape(target), (x,), backward, op)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """x with a new shape of the same number of elements; one size may be -1 (inferred).

    `x.reshape(2, -1)` or `x.reshape((2, -1))`. A view of x when NumPy can make one.
    """
    target = _infer_shape(_int_args(shape, "reshape", "shape"), x.data.size, x.data.shape, "reshape")
    return _reshape(x, target, "reshape")


def view(x: Tensor, *shape: Any) -> Tensor:
    """Same as `reshape` (NumPy copies when a view is impossible, where PyTorch would raise)."""
    target = _infer_shape(_int_args(shape, "view", "shape"), x.data.size, x.data.shape, "view")
    return _reshape(x, target, "view")


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dims start_dim..end_dim (inclusive) merged into one: (2, 3, 4) with (1, 2) -> (2, 12). 0-d -> (1,)."""
    shape = x.data.shape
    if not shape:
        normalize_dim(start_dim, 0, "flatten")
        normalize_dim(end_dim, 0, "flatten")
        return _reshape(x, (1,), "flatten")
    start = normalize_dim(start_dim, len(shape), "flatten")
    end = normalize_dim(end_dim, len(shape), "flatten")
    if start > end:
        raise DimError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
    merged = 1
    for size in shape[start : end + 1]:
        merged *= size
    return _reshape(x, (*shape[:start], merged, *shape[end + 1 :]), "flatten")


def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Dim `dim` split into `sizes` (one may be -1): (2, 12) with (1, (3, 4)) -> (2, 3, 4)."""
    shape = x.data.shape
    d = normalize_dim(dim, len(shape), "unflatten")
    sizes = _int_args((sizes,), "unflatten", "sizes")
    if not sizes:
        raise ArgumentError("unflatten: sizes must be a non-empty tuple of ints")
    n = shape[d] if shape else 1
    try:
        sizes = _infer_shape(sizes, n, (n,), "unflatten")
    except ShapeError:
        raise ShapeError(
            f"unflatten: sizes {shape_str(sizes)} do not multiply to {n}, the size of dim {dim} of a tensor of "
            f"shape {shape_str(shape)}"
        ) from None
    return _reshape(x, shape[:d] + sizes + shape[d + 1 :], "unflatten")


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None, *, axis: Any = None) -> Tensor:
    """x without its size-1 dims (all of them, or those of `dim`; a named dim of another size stays)."""
    dim = resolve_dim_alias(dim, axis, "squeeze")
    shape = x.data.shape
    if dim is None:
        target = tuple(s for s in shape if s != 1)
    else:
        dims = normalize_dims(dim, len(shape), "squeeze")
        target = tuple(s for i, s in enumerate(shape) if s != 1 or i not in dims)
    return _reshape(x, target, "squeeze")


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """x with a size-1 dim inserted at `dim` (in [-ndim - 1, ndim]): (2, 3) with -1 -> (2, 3, 1)."""
    shape = x.data.shape
    d = _new_dim(dim, len(shape), "unsqueeze")
    return _reshape(x, (*shape[:d], 1, *shape[d:]), "unsqueeze")


# -- reordering dims -------------------------------------------------------------------------------------
def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """x with dims dim0 and dim1 swapped (a view)."""
    ndim = x.data.ndim
    d0 = normalize_dim(dim0, ndim, "transpose")
    d1 = normalize_dim(dim1, ndim, "transpose")
    if ndim < 2:
        d0 = d1 = 0  # a 0-d or 1-d tensor has only dim 0 to swap with itself
    out = np.swapaxes(x.data, d0, d1) if ndim else x.data.view()

    def backward(grad: np.ndarray) -> tuple:
        return (np.swapaxes(grad, d0, d1) if ndim else grad,)

    return result(out, (x,), backward, "transpose")


def permute(x: Tensor, *dims: Any) -> Tensor:
    """x with its dims reordered: output dim i is input dim dims[i]. `x.permute(2, 0, 1)` or `((2, 0, 1))`."""
    ndim = x.data.ndim
    order = _int_args(dims, "permute", "dims")
    if len(order) != ndim:
        raise DimError(
            f"permute: dims {order} must name each of the {ndim} dimension(s) of a tensor of shape "
            f"{shape_str(x.data.shape)} exactly once"
        )
    if sorted(order) != list(range(ndim)):  # the common case, non-negative dims, needs no normalizing
        order = _dim_list(order, ndim, "permute")

    def backward(grad: np.ndarray) -> tuple:
        inverse = [0] * ndim
        for position, d in enumerate(order):
            inverse[d] = position
        return (grad.transpose(inverse),)

    return result(x.data.transpose(order), (x,), backward, "permute")


def movedim(x: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """x with dims `source` moved to positions `destination`, the others keeping their order."""
    ndim = x.data.ndim
    src = _dim_list(source, ndim, "movedim", "source")
    dst = _dim_list(destination, ndim, "movedim", "destination")
    if len(src) != len(dst):
        raise DimError(
            f"movedim: source and destination must have the same number of dims, got {len(src)} and {len(dst)}"
        )
    if ndim == 0:
        src = dst = ()

    def backward(grad: np.ndarray) -> tuple:
        return (np.moveaxis(grad, dst, src),)

    return result(np.moveaxis(x.data, src, dst), (x,), backward, "movedim")


# -- broadcasting ----------------------------------------------------------------------------------------
def _expand(x: Tensor, sizes: tuple[int, ...], op: str) -> Tensor:
    shape = x.data.shape
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ShapeError(
            f"{op}: the target shape {shape_str(sizes)} has fewer dims than the tensor's shape {shape_str(shape)}"
        )
    target = list(sizes)
    for i, size in enumerate(sizes):
        if i < lead:
            if size < 0:
                raise ShapeError(
                    f"{op}: size {size} is not allowed in the new leading dim {i} of target shape {shape_str(sizes)}"
                )
            continue
        existing = shape[i - lead]
        if size == -1:
            target[i] = existing
        elif size != existing and (existing != 1 or size < 0):
            raise ShapeError(
                f"{op}: the size {size} of target shape {shape_str(sizes)} must match the existing size "
                f"{existing} at non-singleton dim {i}; tensor shape {shape_str(shape)}"
            )
    target = tuple(target)

    def backward(grad: np.ndarray) -> tuple:
        return (unbroadcast(grad, shape),)

    # A read-only view with zero strides: no copy, as PyTorch's expand.
    return result(np.broadcast_to(x.data, target), (x,), backward, op)


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """x broadcast to `sizes` without copying; -1 keeps a dim's size, new dims may be added in front.

    `x.expand(4, -1, 3)` or `x.expand((4, -1, 3))`. Backward sums the gradient over the expanded dims.
    """
    return _expand(x, _int_args(sizes, "expand", "sizes"), "expand")


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    """x expanded to other's shape."""
    return _expand(x, tuple(np.shape(other.data if isinstance(other, Tensor) else other)), "expand_as")


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """x broadcast to `shape` (as `expand`)."""
    return _expand(x, _int_args((shape,), "broadcast_to", "shape"), "broadcast_to")


# -- joining and splitting ------------------------------------------------------------------------------------
def _common_dtype(arrays: list[np.ndarray]) -> np.dtype:
    """PyTorch's promotion for cat/stack: a float with an int gives the float (NumPy would give float64)."""
    first = arrays[0].dtype
    if all(a.dtype == first for a in arrays):
        return first
    floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
    return np.result_type(*floats) if floats else np.result_type(*[a.dtype for a in arrays])


def _grad_as(grad: np.ndarray, parent: Tensor) -> np.ndarray:
    return grad if grad.dtype == parent.data.dtype else grad.astype(parent.data.dtype)


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """The tensors joined along `dim`; their sizes must match in every other dim.

    (2, 3) and (4, 3) with dim=0 -> (6, 3). As in PyTorch, 1-D empty tensors (shape (0,)) are skipped.
    """
    if axis is not None:
        dim = axis
    parts = tensors_of(tensors, "cat")
    arrays = [t.data for t in parts]
    kept = [i for i, a in enumerate(arrays) if a.shape != (0,)]
    ref = kept[0] if kept else 0
    ref_shape = arrays[ref].shape
    if not ref_shape:
        raise ShapeError(f"cat: tensor {ref} is 0-d (a scalar) and cannot be concatenated; unsqueeze it first")
    d = normalize_dim(dim, len(ref_shape), "cat")
    for i in kept:
        shape = arrays[i].shape
        if len(shape) != len(ref_shape):
            raise ShapeError(
                f"cat: tensor {i} has shape {shape_str(shape)} ({len(shape)} dims) but tensor {ref} has shape "
                f"{shape_str(ref_shape)} ({len(ref_shape)} dims); all must have the same number of dims"
            )
        if shape[:d] != ref_shape[:d] or shape[d + 1 :] != ref_shape[d + 1 :]:
            raise ShapeError(
                f"cat: tensor {i} has shape {shape_str(shape)} but tensor {ref} has shape {shape_str(ref_shape)}; "
                f"sizes must match in every dim except dim {d}"
            )
    if not kept:
        kept = list(range(len(arrays)))
    out = np.concatenate([arrays[i] for i in kept], axis=d, dtype=_common_dtype(arrays), casting="unsafe")
    bounds = {}
    start = 0
    for i in kept:
        stop = start + arrays[i].shape[d]
        bounds[i] = (start, stop)
        start = stop

    def backward(grad: np.ndarray) -> tuple:
        grads = []
        for i, parent in enumerate(parts):
            if not parent.requires_grad:
                grads.append(None)
            elif i in bounds:
                lo, hi = bounds[i]
                grads.append(_grad_as(grad[(_ALL,) * d + (slice(lo, hi),)], parent))
            else:
                grads.append(np.zeros((0,), dtype=parent.data.dtype))
        return tuple(grads)

    return result(out, tuple(parts), backward, "cat")


def stack(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """The tensors, all of one shape, stacked along a new dim `dim`: three (2, 3) with dim=1 -> (2, 3, 3)."""
    if axis is not None:
        dim = axis
    parts = tensors_of(tensors, "stack")
    arrays = [t.data for t in parts]
    ref_shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != ref_shape:
            raise ShapeError(
                f"stack: tensor {i} has shape {shape_str(a.shape)} but tensor 0 has shape {shape_str(ref_shape)}; "
                "stack needs tensors of equal shape"
            )
    d = _new_dim(dim, len(ref_shape), "stack")
    out = np.stack(arrays, axis=d, dtype=_common_dtype(arrays), casting="unsafe")

    def backward(grad: np.ndarray) -> tuple:
        lead = (_ALL,) * d
        return tuple(
            _grad_as(grad[(*lead, i)], parent) if parent.requires_grad else None for i, parent in enumerate(parts)
        )

    return result(out, tuple(parts), backward, "stack")


def _narrow(x: Tensor, d: int, start: int, stop: int, op: str) -> Tensor:
    """x[..., start:stop, ...] along dim d, as a view; backward places the gradient back in that slice."""
    index = (_ALL,) * d + (slice(start, stop),)

    def backward(grad: np.ndarray) -> tuple:
        full = np.zeros(x.data.shape, dtype=grad.dtype)
        full[index] = grad
        return (full,)

    return result(x.data[index], (x,), backward, op)


def _pieces(x: Tensor, sizes: list[int], d: int, op: str) -> tuple[Tensor, ...]:
    pieces = []
    start = 0
    for size in sizes:
        pieces.append(_narrow(x, d, start, start + size, op))
        start += size
    return tuple(pieces)


def split(x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """x cut along `dim` into pieces of split_size (the last may be smaller), or of the listed sizes.

    (5, 3) with 2 -> (2, 3), (2, 3), (1, 3). Each piece is a view.
    """
    if x.data.ndim == 0:
        raise DimError("split: cannot split a 0-d tensor")
    d = normalize_dim(dim, x.data.ndim, "split")
    n = x.data.shape[d]
    if _is_int(split_size_or_sections):
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n != 0):
            raise ArgumentError(f"split: split_size must be a positive int (0 only for an empty dim), got {size}")
        # An empty dim gives one empty piece, as in PyTorch.
        sizes = [size] * (n // size) + ([n % size] if n % size else []) if n else [0]
    else:
        sizes = list(_int_args((split_size_or_sections,), "split", "sections"))
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ShapeError(
                f"split: sections {tuple(sizes)} must be non-negative and sum to {n}, the size of dim {dim} of a "
                f"tensor of shape {shape_str(x.data.shape)}"
            )
    return _pieces(x, sizes, d, "split")


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """x cut along `dim` into at most `chunks` pieces of size ceil(n / chunks) (the last may be smaller).

    As PyTorch, this may give fewer pieces than asked: 5 rows in 4 chunks -> sizes 2, 2, 1.
    """
    if not _is_int(chunks) or chunks <= 0:
        raise ArgumentError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if x.data.ndim == 0:
        raise DimError("chunk: cannot chunk a 0-d tensor")
    d = normalize_dim(dim, x.data.ndim, "chunk")
    n = x.data.shape[d]
    if n == 0:
        return _pieces(x, [0] * int(chunks), d, "chunk")
    size = -(-n // int(chunks))
    return _pieces(x, [size] * (n // size) + ([n % size] if n % size else []), d, "chunk")


# -- flips and tiles ---------------------------------------------------------------------------------------
def flip(x: Tensor, *dims: Any) -> Tensor:
    """x reversed along `dims` (an int, several ints or a tuple), as a view."""
    axes = _dim_list(_int_args(dims, "flip", "dims"), x.data.ndim, "flip")
    if x.data.ndim == 0:
        axes = ()

    def backward(grad: np.ndarray) -> tuple:
        return (np.flip(grad, axes),)

    return result(np.flip(x.data, axes), (x,), backward, "flip")


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """x tiled `sizes[i]` times along dim i (np.tile); extra leading sizes add dims: (2, 3) with (2, 1, 2)
    -> (2, 2, 6). Backward sums the gradient over the copies."""
    reps = _int_args(sizes, "repeat", "sizes")
    shape = x.data.shape
    if len(reps) < len(shape):
        raise ShapeError(
            f"repeat: got {len(reps)} repeat sizes {reps} for a tensor of shape {shape_str(shape)}; give at least "
            f"one per dim ({len(shape)})"
        )
    if any(r < 0 for r in reps):
        raise ArgumentError(f"repeat: repeat sizes must be non-negative, got {reps}")
    padded = (1,) * (len(reps) - len(shape)) + shape
    interleaved = tuple(n for pair in zip(reps, padded) for n in pair)

    def backward(grad: np.ndarray) -> tuple:
        # out dim i is (reps[i], padded[i]) laid out repeat-major; sum over the repeat axes.
        return (grad.reshape(interleaved).sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(shape),)

    return result(np.tile(x.data, reps), (x,), backward, "repeat")


# -- padding -------------------------------------------------------------------------------------------
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_pairs(x: Tensor, pad: Sequence[int], mode: str) -> list[tuple[int, int, int]]:
    """(dim, before, after) for each padded dim; pad lists the last dim's pair first, as in PyTorch."""
    if mode not in _PAD_MODES:
        raise ArgumentError(f"pad: mode must be one of {', '.join(_PAD_MODES)}; got {mode!r}")
    pad = _int_args((pad,), "pad", "pad")
    ndim = x.data.ndim
    if len(pad) % 2:
        raise ArgumentError(f"pad: pad must have an even length (before, after pairs, last dim first), got {pad}")
    k = len(pad) // 2
    if k > ndim:
        raise ArgumentError(
            f"pad: pad {pad} pads {k} dims but the tensor has shape {shape_str(x.data.shape)} ({ndim} dims)"
        )
    if mode != "constant" and (k == 0 or k > 3 or ndim not in (k + 1, k + 2)):
        raise ArgumentError(
            f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of a batched or unbatched input: a pad of length "
            f"2k needs a tensor of k + 1 or k + 2 dims; got pad {pad} and shape {shape_str(x.data.shape)}"
        )
    return [(ndim - 1 - i, pad[2 * i], pad[2 * i + 1]) for i in range(k)]


def _pad_constant(x: Tensor, pairs: list[tuple[int, int, int]], value: float) -> Tensor:
    shape = list(x.data.shape)
    src = [_ALL] * len(shape)
    dst = [_ALL] * len(shape)
    cropped = False
    for d, before, after in pairs:
        n = shape[d]
        kept = n - max(-before, 0) - max(-after, 0)
        if kept < 0:
            raise ShapeError(
                f"pad: negative pads ({before}, {after}) crop more than the size {n} of dim {d} of a tensor of "
                f"shape {shape_str(x.data.shape)}"
            )
        cropped = cropped or before < 0 or after < 0
        src[d] = slice(max(-before, 0), max(-before, 0) + kept)
        dst[d] = slice(max(before, 0), max(before, 0) + kept)
        shape[d] = n + before + after
    src, dst = tuple(src), tuple(dst)
    if value == 0:
        out = np.zeros(shape, dtype=x.data.dtype)
    else:
        out = np.full(shape, value, dtype=x.data.dtype)
    out[dst] = x.data[src]

    def backward(grad: np.ndarray) -> tuple:
        if not cropped:
            return (grad[dst],)
        full = np.zeros(x.data.shape, dtype=grad.dtype)
        full[src] = grad[dst]
        return (full,)

    return result(out, (x,), backward, "pad")


def _pad_index(n: int, before: int, after: int, mode: str, d: int) -> tuple[np.ndarray, int, int, int]:
    """For one dim: the input position of each output position, and (j0, j1, a) with
    index[j0:j1] == a + arange(j1 - j0), the straight (unpadded) run that backward copies in one slice."""
    if mode == "circular":
        # PyTorch crops first, then wraps around what is left.
        lo = max(-before, 0)
        m = n - lo - max(-after, 0)
        left, right = max(before, 0), max(after, 0)
        if m <= 0 or left > m or right > m:
            raise ArgumentError(
                f"pad: circular pads ({before}, {after}) of dim {d} (size {n}) must not wrap around more than once"
            )
        positions = np.arange(-left, m + right)
        return lo + positions % m, left, left + m, lo
    if mode == "reflect" and (before >= n or after >= n):
        raise ArgumentError(f"pad: reflect pads ({before}, {after}) must be smaller than the size {n} of dim {d}")
    positions = np.arange(-before, n + after)
    if positions.size <= 0:
        raise ShapeError(f"pad: pads ({before}, {after}) leave nothing of dim {d} (size {n})")
    if mode == "reflect":
        index = np.abs(positions)
        index = np.where(index >= n, 2 * (n - 1) - index, index)
    else:
        index = np.clip(positions, 0, n - 1)
    a = max(-before, 0)
    j0 = a + before
    j1 = min(n, n + after) + before
    return index, j0, max(j1, j0), a


def _pad_indexed(x: Tensor, pairs: list[tuple[int, int, int]], mode: str) -> Tensor:
    ndim = x.data.ndim
    k = len(pairs)
    maps = []
    selector: list[Any] = [_ALL] * (ndim - k)
    for d, before, after in reversed(pairs):  # from the first padded dim to the last
        index, j0, j1, a = _pad_index(x.data.shape[d], before, after, mode, d)
        maps.append((d, index, j0, j1, a))
        position = d - (ndim - k)
        selector.append(index.reshape((-1,) + (1,) * (k - 1 - position)))
    # One gather for all padded dims: the index arrays broadcast to an outer product.
    out = x.data[tuple(selector)]

    def backward(grad: np.ndarray) -> tuple:
        for d, index, j0, j1, a in maps:
            moved = np.moveaxis(grad, d, 0)
            folded = np.zeros((x.data.shape[d], *moved.shape[1:]), dtype=grad.dtype)
            folded[a : a + j1 - j0] = moved[j0:j1]
            # The borders are narrow, so accumulating them with add.at is cheap.
            if j0:
                np.add.at(folded, index[:j0], moved[:j0])
            if j1 < index.size:
                np.add.at(folded, index[j1:], moved[j1:])
            grad = np.moveaxis(folded, 0, d)
        return (grad,)

    return result(out, (x,), backward, "pad")


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """x padded as torch.nn.functional.pad: `pad` = (last dim before, last dim after, second-to-last before,
    ...). mode 'constant' fills with `value` (negative pads crop); 'reflect' mirrors without repeating the edge;
    'replicate' repeats the edge; 'circular' wraps around. (N, C, W) with (1, 2) -> (N, C, W + 3)."""
    pairs = _pad_pairs(x, pad, mode)
    if mode == "constant":
        return _pad_constant(x, pairs, 0.0 if value is None else value)
    if value is not None and value != 0:
        raise ArgumentError(f"pad: mode {mode!r} takes no fill value, got value={value!r}")
    return _pad_indexed(x, pairs, mode)
