"""Pooling and nearest-neighbour resizing, as in `torch.nn.functional`: max_pool1d/2d, avg_pool1d/2d,
adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d, interpolate (modes 'nearest', 'nearest-exact', 'area').

A 2-d window is the product of a row range and a column range, so max and sum over it are separable: a 1-d
pass along the width (one NumPy op per kernel column offset, over strided views of the whole batch) and then one
along the height. A 2x2 max pool is then a few array ops, not a loop over pixels, and never a copy of the
windows. Each pass keeps which offset held the maximum (an int8 mask for a kernel of 2), and the backward routes
each output's gradient along the same two steps: to the row that held the window's maximum, then to the column
within that row. That is PyTorch's tie rule exactly: the first maximum in the window's row-major order wins
(the earliest row holding it, then its earliest column). The routing ANDs the gradient's bits with the mask, so
positions that are no window's maximum get exactly 0 even from an inf or NaN gradient, as in PyTorch. Where
windows overlap, the gradients of the windows sharing a pixel add up. A NaN in a window is its maximum (and,
as in PyTorch, its last NaN gets the gradient).

A 1-d pool is the 2-d one with a kernel of height 1 (views, no copy). Arrays keep the memory order they come in
(a convolution's output is (H, W, N, C) in memory: a window's pixels are then runs of N*C contiguous values),
and every op here reads and writes in that order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.ops._util import int_view
from chainrule.ops.conv import ntuple, pad_spatial
from chainrule.tensor import Tensor, as_tensor_arg, constant, result

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "interpolate",
    "max_pool1d",
    "max_pool2d",
]

IntOrTuple = int | Sequence[int]
_grad_mode = autograd.grad_mode
_ALL = slice(None)


# -- arguments and shapes ---------------------------------------------------------------------------------------


def _input(x: Any, spatial: int, op: str, floating: bool = True) -> tuple[Tensor, np.ndarray, bool]:
    """x as a Tensor and its data as a 4-d (N, C, H, W) array (a view), and whether it came unbatched."""
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x)
    X = x.data  # noqa: N806
    if X.ndim not in (spatial + 1, spatial + 2):
        dims = "(N, C, L) or (C, L)" if spatial == 1 else "(N, C, H, W) or (C, H, W)"
        raise ShapeError(f"{op}: expected input {dims}, got shape {shape_str(X.shape)}")
    if X.dtype.kind == "b" or (floating and X.dtype.kind != "f"):
        raise DTypeError(f"{op}: expected a floating-point input, got {X.dtype}")
    unbatched = X.ndim == spatial + 1
    if unbatched:
        X = X[None]  # noqa: N806
    if spatial == 1:
        X = X[:, :, None, :]  # noqa: N806
    if 0 in X.shape[2:]:
        raise ShapeError(f"{op}: expected an input with non-zero spatial size, got shape {shape_str(x.data.shape)}")
    return x, X, unbatched


def _output(out: np.ndarray, spatial: int, unbatched: bool) -> np.ndarray:
    """A 4-d result back in the input's form: the height axis of a 1-d op and the batch axis of an unbatched
    input dropped (views)."""
    if spatial == 1:
        out = out[:, :, 0, :]
    if unbatched:
        out = out[0]
    return out


def _grad_4d(grad: np.ndarray, spatial: int, unbatched: bool) -> np.ndarray:
    if unbatched:
        grad = grad[None]
    if spatial == 1:
        grad = grad[:, :, None, :]
    return grad


def _windows(
    kernel_size: Any, stride: Any, padding: Any, dilation: Any, spatial: int, op: str
) -> tuple[tuple[int, int], ...]:
    """kernel, stride, padding, dilation as 2-tuples (height 1 / stride 1 / no padding for a 1-d op)."""
    kernel = ntuple(kernel_size, spatial, "kernel_size", op, 1)
    stride = kernel if stride is None or (isinstance(stride, Sequence) and len(stride) == 0) else stride
    stride = ntuple(stride, spatial, "stride", op, 1)
    padding = ntuple(padding, spatial, "padding", op, 0)
    dilation = ntuple(dilation, spatial, "dilation", op, 1)
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise ArgumentError(
                f"{op}: padding should be at most half of the kernel size, got padding={padding} and "
                f"kernel_size={kernel}"
            )
    if spatial == 1:
        return (1, *kernel), (1, *stride), (0, *padding), (1, *dilation)
    return kernel, stride, padding, dilation


def _pooled_len(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size; in ceil mode, a last window must start inside the input or its left
    padding."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    n = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (n - 1) * stride >= size + padding:
        n -= 1
    return n


def _geometry(
    X: np.ndarray,  # noqa: N803
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    ceil_mode: bool,
    spatial: int,
    op: str,
) -> tuple[tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]:
    """(output size, pads): the pads put `padding` before each dim and, after it, exactly what the last
    window reaches (more than `padding` in ceil mode, less (a crop) where the last rows are in no window)."""
    size = X.shape[2:]
    out = tuple(_pooled_len(*args, ceil_mode) for args in zip(size, kernel, stride, padding, dilation))
    if min(out) < 1:
        shown = slice(2 - spatial, None)
        raise ShapeError(
            f"{op}: the output size {shape_str(out[shown])} is too small for input of spatial size "
            f"{shape_str(size[shown])}, kernel_size {kernel[shown]}, stride {stride[shown]}, padding "
            f"{padding[shown]}, dilation {dilation[shown]}"
        )
    reach = tuple((n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(out, kernel, stride, dilation))
    pads = tuple((p, r - p - n) for p, r, n in zip(padding, reach, size))
    return out, pads


def _unpad(image: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """The gradient of `pad_spatial(x, pads)` with respect to x: the padding cut off, zeros where x was cropped."""
    return pad_spatial(image, tuple((-before, -after) for before, after in pads))


def _along(a: np.ndarray, axis: int, start: int, count: int, step: int) -> np.ndarray:
    """The view a[..., start : start + step*(count-1) + 1 : step, ...] along `axis` (2 or 3)."""
    window = slice(start, start + step * (count - 1) + 1, step)
    return a[:, :, window] if axis == 2 else a[:, :, :, window]


def _tiles(length: int, kernel: int, stride: int, dilation: int, count: int) -> bool:
    """Whether the windows along an axis cover each of `length` positions exactly once."""
    return dilation == 1 and stride == kernel and count * kernel == length


def _disjoint(kernel: int, stride: int, dilation: int, count: int) -> bool:
    """Whether no two windows along an axis share a position."""
    return kernel == 1 or count == 1 or stride >= dilation * (kernel - 1) + 1


# -- max pooling ------------------------------------------------------------------------------------------------


def _all_ones(mask: np.ndarray) -> np.ndarray:
    """A bool mask as int8: -1 (all bits set) where True, 0 where False. ANDed with a float's bits (the int8
    widens with its sign) it keeps the float or gives +0.0; a multiply by the mask would turn an inf or NaN
    gradient into NaN where PyTorch gives 0."""
    return np.negative(mask.view(np.int8))


def _max_along(
    a: np.ndarray, axis: int, kernel: int, stride: int, dilation: int, count: int, track: bool, nan_aware: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """out[..., y, ...] = max over i < kernel of a[..., y*stride + i*dilation, ...] along `axis`, and (when
    `track`) which i holds it, the first one on ties: for a kernel of 2 an int8 mask, -1 where it is i = 1,
    else small ints. With `nan_aware`, a NaN wins every comparison and the last one wins, as in PyTorch's loop."""
    first = _along(a, axis, 0, count, stride)
    if kernel == 1:
        return (a if first.shape == a.shape else np.array(first)), None
    out = arg = None
    for i in range(1, kernel):
        view = _along(a, axis, i * dilation, count, stride)
        current = first if out is None else out
        if track:
            taken = np.greater(view, current)
            if nan_aware:
                taken |= np.isnan(view)
            if kernel == 2:
                arg = _all_ones(taken)
            elif arg is None:
                arg = taken.astype(np.uint8 if kernel < 256 else np.int32)
            else:
                np.copyto(arg, i, where=taken)
        if out is None:
            out = np.maximum(first, view)
        else:
            np.maximum(out, view, out=out)
    return out, arg


def _max_along_backward(
    grad: np.ndarray, arg: np.ndarray | None, like: np.ndarray, axis: int, kernel: int, stride: int, dilation: int
) -> np.ndarray:
    """The gradient of `_max_along` with respect to its input (shaped and ordered as `like`): each output's
    gradient goes to the position its window's `arg` names, and exactly 0 to the others."""
    count = grad.shape[axis]
    length = like.shape[axis]
    tiles = _tiles(length, kernel, stride, dilation, count)
    if kernel == 1 and tiles:
        return grad
    image = np.empty_like(like) if tiles else np.zeros_like(like)
    if kernel == 1:
        _along(image, axis, 0, count, stride)[...] = grad
        return image
    disjoint = _disjoint(kernel, stride, dilation, count)
    bits = int_view(grad)
    for i in range(kernel):
        target = int_view(_along(image, axis, i * dilation, count, stride))
        if kernel == 2 and i == 0:
            continue  # written below, from the i == 1 part
        mask = arg if kernel == 2 else _all_ones(arg == i)
        if disjoint:
            picked = np.bitwise_and(bits, mask, out=target)
        else:
            picked = np.bitwise_and(bits, mask)
            target.view(grad.dtype)[...] += picked.view(grad.dtype)
        if kernel == 2:  # the rest of each gradient goes to i = 0: grad XOR (grad AND mask)
            first = int_view(_along(image, axis, 0, count, stride))
            if disjoint:
                np.bitwise_xor(bits, picked, out=first)
            else:
                first.view(grad.dtype)[...] += np.bitwise_xor(bits, picked).view(grad.dtype)
    return image


def _offsets(arg: np.ndarray | None, kernel: int, shape: tuple[int, ...]) -> np.ndarray:
    """`_max_along`'s arg as int64 kernel offsets."""
    if arg is None:
        return np.zeros(shape, np.int64)
    return (arg != 0).astype(np.int64) if kernel == 2 else arg.astype(np.int64)


def _memory_order(array: np.ndarray) -> list[int]:
    """The axes from the largest stride to the smallest (ties, as from size-1 axes, in axis order)."""
    strides = array.strides
    return sorted(range(array.ndim), key=lambda axis: -strides[axis])


def _in_order_of(array: np.ndarray, template: np.ndarray) -> np.ndarray:
    """`array` in `template`'s memory order (a copy only when they differ): elementwise ops over operands of
    one order run along the same contiguous runs."""
    if _memory_order(array) == _memory_order(template):
        return array
    ordered = np.empty_like(template, dtype=array.dtype)
    np.copyto(ordered, array)
    return ordered


def _max_pool(
    x: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
    spatial: int,
    op: str,
) -> Tensor | tuple[Tensor, Tensor]:
    x, X, unbatched = _input(x, spatial, op, floating=False)  # noqa: N806
    kernel, stride, padding, dilation = _windows(kernel_size, stride, padding, dilation, spatial, op)
    (Ho, Wo), pads = _geometry(X, kernel, stride, padding, dilation, ceil_mode, spatial, op)  # noqa: N806
    floating = X.dtype.kind == "f"
    lowest = -np.inf if floating else np.iinfo(X.dtype).min
    xp = pad_spatial(X, pads, lowest)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    needs_grad = _grad_mode.enabled and x.requires_grad
    track = needs_grad or return_indices

    def passes(nan_aware: bool) -> tuple:
        rows, col_arg = _max_along(xp, 3, kw, sw, dw, Wo, track, nan_aware)
        out, row_arg = _max_along(rows, 2, kh, sh, dh, Ho, track, nan_aware)
        return rows, col_arg, out, row_arg

    rows, col_arg, out, row_arg = passes(False)
    if track and floating and np.isnan(out).any():
        rows, col_arg, out, row_arg = passes(True)
    if not needs_grad:
        rows = None

    def backward(grad: np.ndarray) -> tuple:
        grad = _in_order_of(_grad_4d(grad, spatial, unbatched), out)
        grad_rows = _max_along_backward(grad, row_arg, rows, 2, kh, sh, dh)
        image = _max_along_backward(grad_rows, col_arg, xp, 3, kw, sw, dw)
        return (_output(_unpad(image, pads), spatial, unbatched),)

    output = result(_output(out, spatial, unbatched), (x,), backward, op)
    if not return_indices:
        return output
    # Flat indices into each (H, W) plane of the unpadded input, as PyTorch's.
    W = X.shape[3]  # noqa: N806
    i = _offsets(row_arg, kh, out.shape)
    row_in_rows = np.arange(Ho)[:, None] * sh + i * dh
    j = _offsets(None if col_arg is None else np.take_along_axis(col_arg, row_in_rows, axis=2), kw, out.shape)
    h = row_in_rows - pads[0][0]
    w = np.arange(Wo) * sw + j * dw - pads[1][0]
    indices = h * W + w
    return output, constant(np.ascontiguousarray(_output(indices, spatial, unbatched)))


def max_pool2d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """2-d max pooling (torch.nn.functional.max_pool2d).

    input: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo), Ho = floor-or-ceil((H + 2*padding - dilation*(kH-1)
    - 1) / stride) + 1. stride defaults to kernel_size; padding (at most half the kernel) counts as -inf.
    With return_indices, also the int64 flat index (h * W + w) of each maximum in its input plane.
    The gradient goes to the first maximum of each window (row-major), summed where windows overlap.
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def max_pool1d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """1-d max pooling (torch.nn.functional.max_pool1d): (N, C, L) or (C, L) -> (N, C, Lo), as max_pool2d."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


# -- average pooling --------------------------------------------------------------------------------------------


def _sum_along(a: np.ndarray, axis: int, kernel: int, stride: int, count: int) -> np.ndarray:
    out = np.array(_along(a, axis, 0, count, stride))
    for i in range(1, kernel):
        out += _along(a, axis, i, count, stride)
    return out


def _sum_along_backward(grad: np.ndarray, like: np.ndarray, axis: int, kernel: int, stride: int) -> np.ndarray:
    count = grad.shape[axis]
    tiles = _tiles(like.shape[axis], kernel, stride, 1, count)
    image = np.empty_like(like) if tiles else np.zeros_like(like)
    disjoint = _disjoint(kernel, stride, 1, count)
    for i in range(kernel):
        target = _along(image, axis, i, count, stride)
        if disjoint:
            target[...] = grad
        else:
            target += grad
    return image


def _window_counts(size: int, kernel: int, stride: int, padding: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per window along one axis: its length clipped to the padded input, and the number of input (not padding)
    positions in it: PyTorch's two divisors."""
    start = np.arange(count) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    with_pad = end - start
    inside = np.minimum(end, size) - np.maximum(start, 0)
    return with_pad, inside


def _avg_pool(
    x: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
    spatial: int,
    op: str,
) -> Tensor:
    x, X, unbatched = _input(x, spatial, op)  # noqa: N806
    kernel, stride, padding, dilation = _windows(kernel_size, stride, padding, 1, spatial, op)
    (Ho, Wo), pads = _geometry(X, kernel, stride, padding, dilation, ceil_mode, spatial, op)  # noqa: N806
    (kh, kw), (sh, sw) = kernel, stride
    xp = pad_spatial(X, pads)
    rows = _sum_along(xp, 3, kw, sw, Wo)
    out = _sum_along(rows, 2, kh, sh, Ho)
    if divisor_override is not None:
        if not isinstance(divisor_override, int | np.integer) or divisor_override == 0:
            raise ArgumentError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
        scale: Any = X.dtype.type(1.0 / divisor_override)
    else:
        counts = [
            _window_counts(n, k, s, p, m)[0 if count_include_pad else 1]
            for n, k, s, p, m in zip(X.shape[2:], kernel, stride, padding, (Ho, Wo))
        ]
        divisor = counts[0][:, None] * counts[1][None, :]
        if (divisor == kh * kw).all():
            scale = X.dtype.type(1.0 / (kh * kw))
        else:
            scale = (1.0 / divisor).astype(X.dtype)
    out *= scale
    if not (_grad_mode.enabled and x.requires_grad):
        rows = xp = None

    def backward(grad: np.ndarray) -> tuple:
        grad = _in_order_of(_grad_4d(grad, spatial, unbatched), out) * scale
        image = _sum_along_backward(_sum_along_backward(grad, rows, 2, kh, sh), xp, 3, kw, sw)
        return (_output(_unpad(image, pads), spatial, unbatched),)

    return result(_output(out, spatial, unbatched), (x,), backward, op)


def avg_pool2d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-d average pooling (torch.nn.functional.avg_pool2d): (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo).

    Each window's sum is divided by divisor_override if given, else by the window's size clipped to the padded
    input (count_include_pad=True) or by its number of input pixels (False). Padding is zeros.
    """
    return _avg_pool(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2, "avg_pool2d"
    )


def avg_pool1d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-d average pooling (torch.nn.functional.avg_pool1d): (N, C, L) or (C, L) -> (N, C, Lo)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


# -- adaptive pooling -------------------------------------------------------------------------------------------


def _adaptive_size(output_size: Any, size: tuple[int, ...], op: str) -> tuple[int, ...]:
    """output_size (an int, or a tuple whose None entries keep the input's size) as a tuple of ints."""
    n = len(size)
    if output_size is None or _is_size(output_size):
        values = (output_size,) * n
    elif isinstance(output_size, Sequence) and len(output_size) == n:
        values = tuple(output_size)
    else:
        raise ArgumentError(f"{op}: output_size must be an int or a tuple of {n} ints (or None), got {output_size!r}")
    sizes = tuple(s if v is None else v for v, s in zip(values, size))
    if not all(_is_size(v) for v in sizes) or min(sizes) < 1:
        raise ArgumentError(f"{op}: output_size must be positive ints (or None), got {output_size!r}")
    return tuple(int(v) for v in sizes)


def _is_size(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows along one axis: [floor(i*size/out), ceil((i+1)*size/out))."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _average_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size): row i averages the positions of adaptive window i."""
    start, end = _adaptive_bounds(size, out)
    positions = np.arange(size)
    inside = (positions >= start[:, None]) & (positions < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_avg_pool(x: Any, output_size: Any, spatial: int, op: str) -> Tensor:
    x, X, unbatched = _input(x, spatial, op)  # noqa: N806
    H, W = X.shape[2:]  # noqa: N806
    Ho, Wo = (1, *_adaptive_size(output_size, (W,), op)) if spatial == 1 else _adaptive_size(output_size, (H, W), op)  # noqa: N806
    if Ho == 1 and Wo == 1:  # global average pooling
        out = X.mean(axis=(2, 3), keepdims=True)

        def backward(grad: np.ndarray) -> tuple:
            grad = _grad_4d(grad, spatial, unbatched)
            image = np.empty(X.shape, dtype=grad.dtype)
            np.multiply(grad, grad.dtype.type(1.0 / (H * W)), out=image)  # broadcasts over H, W
            return (_output(image, spatial, unbatched),)

        return result(_output(out, spatial, unbatched), (x,), backward, op)
    if H % Ho == 0 and W % Wo == 0:  # equal windows: an average pool with kernel = stride
        kernel = (H // Ho, W // Wo) if spatial == 2 else (W // Wo,)
        return _avg_pool(x, kernel, kernel, 0, False, True, None, spatial, op)
    # Unequal windows: out = A_h @ X @ A_w^T, with A the (out, in) averaging matrices of each axis.
    rows = _average_matrix(H, Ho, X.dtype)
    cols = _average_matrix(W, Wo, X.dtype)
    out = np.matmul(rows, np.matmul(X, cols.T))

    def backward(grad: np.ndarray) -> tuple:
        grad = _grad_4d(grad, spatial, unbatched)
        return (_output(np.matmul(np.matmul(rows.T, grad), cols), spatial, unbatched),)

    return result(_output(out, spatial, unbatched), (x,), backward, op)


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:  # noqa: A002
    """Adaptive 2-d average pooling (torch.nn.functional.adaptive_avg_pool2d): (N, C, H, W) or (C, H, W) ->
    (N, C, Ho, Wo); output window i spans [floor(i*H/Ho), ceil((i+1)*H/Ho)) (and likewise for the width).
    output_size: an int, or (Ho, Wo) where None keeps the input's size. (1, 1) is global average pooling."""
    return _adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input: Tensor, output_size: int) -> Tensor:  # noqa: A002
    """Adaptive 1-d average pooling (torch.nn.functional.adaptive_avg_pool1d): (N, C, L) or (C, L) -> (N, C, Lo)."""
    return _adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def _adaptive_max_pool(x: Any, output_size: Any, return_indices: bool, spatial: int, op: str) -> Any:
    x, X, unbatched = _input(x, spatial, op)  # noqa: N806
    N, C, H, W = X.shape  # noqa: N806
    Ho, Wo = (1, *_adaptive_size(output_size, (W,), op)) if spatial == 1 else _adaptive_size(output_size, (H, W), op)  # noqa: N806
    if H % Ho == 0 and W % Wo == 0:  # equal windows: a max pool with kernel = stride
        kernel = (H // Ho, W // Wo) if spatial == 2 else (W // Wo,)
        return _max_pool(x, kernel, kernel, 0, 1, False, return_indices, spatial, op)
    # Unequal windows: gather each window padded to the longest by repeating its last position (which changes
    # neither the maximum nor which position is first to hold it), then one argmax over the window axis.
    gathered = []
    for size, out in ((H, Ho), (W, Wo)):
        start, end = _adaptive_bounds(size, out)
        longest = int((end - start).max())
        gathered.append(np.minimum(start[:, None] + np.arange(longest), end[:, None] - 1))
    rows, cols = gathered
    kh, kw = rows.shape[1], cols.shape[1]
    windows = X[:, :, rows[:, :, None, None], cols[None, None, :, :]]  # (N, C, Ho, kh, Wo, kw)
    windows = windows.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, Ho, Wo, kh * kw)
    arg = windows.argmax(axis=-1)
    out = np.take_along_axis(windows, arg[..., None], axis=-1)[..., 0]
    indices = rows[np.arange(Ho)[:, None], arg // kw] * W + cols[np.arange(Wo), arg % kw]

    def backward(grad: np.ndarray) -> tuple:
        grad = _grad_4d(grad, spatial, unbatched)
        planes = (np.arange(N * C) * (H * W)).reshape(N, C, 1, 1)
        image = np.bincount((indices + planes).ravel(), weights=grad.ravel(), minlength=N * C * H * W)
        return (_output(image.astype(grad.dtype).reshape(N, C, H, W), spatial, unbatched),)

    output = result(_output(out, spatial, unbatched), (x,), backward, op)
    if return_indices:
        return output, constant(_output(indices, spatial, unbatched))
    return output


def adaptive_max_pool2d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    output_size: int | Sequence[int | None],
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Adaptive 2-d max pooling (torch.nn.functional.adaptive_max_pool2d): (N, C, H, W) or (C, H, W) ->
    (N, C, Ho, Wo) over PyTorch's adaptive windows; with return_indices, also the flat index of each maximum."""
    return _adaptive_max_pool(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool1d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    output_size: int,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Adaptive 1-d max pooling (torch.nn.functional.adaptive_max_pool1d): (N, C, L) or (C, L) -> (N, C, Lo)."""
    return _adaptive_max_pool(input, output_size, return_indices, 1, "adaptive_max_pool1d")


# -- nearest-neighbour resizing ---------------------------------------------------------------------------------


def _nearest_index(size: int, out: int, scale: float | None, exact: bool) -> np.ndarray:
    """PyTorch's source index of each output position, in its float32 arithmetic: floor(o * s) (or
    floor((o + 0.5) * s) for 'nearest-exact'), s = 1/scale_factor when given, else size/out."""
    if not exact and out == size:
        return np.arange(out)
    if not exact and out == 2 * size:
        return np.arange(out) >> 1
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(size) / np.float32(out)
    o = np.arange(out)
    position = ((o + 0.5) * np.float64(s)).astype(np.float32) if exact else o.astype(np.float32) * s
    return np.minimum(np.floor(position).astype(np.int64), size - 1)


def _sum_to_sources(grad: np.ndarray, index: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The adjoint of `take(index, axis)` for a non-decreasing index: sums of the runs of equal sources."""
    if index.size == size and (index == np.arange(size)).all():
        return grad
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    sums = np.add.reduceat(grad, starts, axis=axis)
    if starts.size == size:
        return sums
    shape = list(grad.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=grad.dtype)
    out[(_ALL,) * axis + (index[starts],)] = sums
    return out


def interpolate(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dims (torch.nn.functional.interpolate), modes 'nearest', 'nearest-exact' and 'area'.

    input: (N, C, L) or (N, C, H, W). Give `size` (the output's spatial size) or `scale_factor` (output size
    floor(size * scale_factor)). 'nearest' copies input position floor(o / scale_factor) (PyTorch's float32
    rule, including its rounding); 'nearest-exact' floor((o + 0.5) / scale_factor); 'area' is adaptive
    average pooling to the output size. An integer scale factor repeats each value (the gradient sums the
    copies back).
    """
    op = "interpolate"
    if not isinstance(input, Tensor):
        input = as_tensor_arg(input)  # noqa: A001
    X = input.data  # noqa: N806
    if X.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape {shape_str(X.shape)}")
    if X.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a floating-point input, got {X.dtype}")
    if mode not in ("nearest", "nearest-exact", "area"):
        raise ArgumentError(
            f"{op}: mode {mode!r} is not supported; chainrule has 'nearest', 'nearest-exact' and 'area'"
        )
    if align_corners is not None:
        raise ArgumentError(
            f"{op}: align_corners can only be set with the interpolating modes (linear, bilinear, bicubic, "
            f"trilinear), not with mode={mode!r}"
        )
    if antialias:
        raise ArgumentError(f"{op}: antialias is not supported for mode={mode!r}")
    spatial = X.ndim - 2
    in_size = X.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ArgumentError(
            f"{op}: give exactly one of size and scale_factor, got size={size!r}, scale_factor={scale_factor!r}"
        )
    scales: tuple[float | None, ...]
    if size is not None:
        out_size = ntuple(size, spatial, "size", op, 1)
        scales = (None,) * spatial
    else:
        if isinstance(scale_factor, Sequence):
            factors = tuple(float(f) for f in scale_factor)
            if len(factors) != spatial:
                raise ArgumentError(
                    f"{op}: scale_factor must have {spatial} entries for a {X.ndim}-D input, got {scale_factor!r}"
                )
        else:
            factors = (float(scale_factor),) * spatial
        if min(factors) <= 0:
            raise ArgumentError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
        out_size = tuple(math.floor(n * f) for n, f in zip(in_size, factors))
        if min(out_size) < 1:
            raise ShapeError(f"{op}: scale_factor {scale_factor!r} gives an empty output for input size {in_size}")
        scales = (None,) * spatial if recompute_scale_factor else factors
    if mode == "area":
        return _adaptive_avg_pool(input, out_size if spatial == 2 else out_size[0], spatial, op)

    exact = mode == "nearest-exact"
    indices = [_nearest_index(n, m, s, exact) for n, m, s in zip(in_size, out_size, scales)]
    factors_int = [m // n if m % n == 0 else 0 for n, m in zip(in_size, out_size)]
    repeats = all(f and np.array_equal(i, np.arange(m) // f) for f, i, m in zip(factors_int, indices, out_size))
    if repeats:  # every value copied f times along each axis: a broadcast, and a reshaped sum backward
        expanded = X[(_ALL, _ALL, *sum(((_ALL, None) for _ in range(spatial)), ()))]
        shape = X.shape[:2] + sum(((n, f) for n, f in zip(in_size, factors_int)), ())
        out = np.broadcast_to(expanded, shape).reshape(X.shape[:2] + tuple(out_size))
    else:
        grids = np.ix_(*indices)
        out = X[(_ALL, _ALL, *grids)]

    def backward(grad: np.ndarray) -> tuple:
        if repeats:
            split = grad.shape[:2] + sum(((n, f) for n, f in zip(in_size, factors_int)), ())
            return (grad.reshape(split).sum(axis=tuple(range(3, 3 + 2 * spatial, 2))),)
        for axis in range(spatial):
            grad = _sum_to_sources(grad, indices[axis], in_size[axis], axis + 2)
        return (grad,)

    return result(out, (input,), backward, op)
