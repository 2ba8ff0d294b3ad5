"""Convolutions, as in `torch.nn.functional`: conv1d, conv2d, conv_transpose1d, conv_transpose2d.

A convolution is a GEMM over windows, made one of two ways; both write the output transposed,

    out^T (columns, O) = columns^T @ weight^T,

so that its memory order is (Ho, Wo, N, O). The output is the (N, O, Ho, Wo) view of that array, without a copy:
the ops that follow (activations, pooling) read any memory order and keep it (NumPy's order='K'), and channels
innermost gives a pooling window long contiguous runs.

- By rows (for few output channels, when the GEMM of one output row still runs on two BLAS threads; see
  _ROWS_MAX_CHANNELS): the input is copied
  once into (G, Hp, C/G, Wp, N) memory order, padded (the batch innermost: a window's row of Wo pixels is a
  contiguous run of Wo*N values, for all images at once), and its rows are unrolled along the kernel's width:
  U (rows, C/G, kw, Wo, N), kw shifted copies. The columns matrix of one output row, (C/G*kh*kw) by (Wo*N), is
  then a strided view of U, its kernel rows one unrolled row apart (_row_products): one GEMM per output row
  (batched in one matmul call), and no im2col copy. LeNet's second layer ran 20% faster so.
- By columns (im2col), for many output channels or small GEMMs: the input in (C, Hp, Wp, N) memory order, its
  windows read through a strided view (C, kh, kw, Ho, Wo, N) and copied into the columns matrix of C*kh*kw
  rows by Ho*Wo*N columns, a chunk of output rows at a time so that the chunk stays in cache for the GEMM.

The backward:

    grad_weight^T = columns @ grad^T (the columns of each band or chunk computed again, rather than kept, unless
                 a single band of unrolled rows covers the whole input),
    grad_input = a GEMM per input column with the weight flipped along the width, over the gradient's output
                 columns that column reads (a contiguous block of the gradient, transposed once), then kh
                 shifted adds of whole row blocks (see _input_grad); for a stride along the width, weight^T @
                 grad and im2col's adjoint (one strided add per kernel offset).

No loop runs over pixels or batch items; the loops are over bands or chunks of output rows and over kernel
offsets. Groups split the channels: a batched GEMM over the G groups. A 1-d convolution is the 2-d one with a
kernel of height 1 (views, no copy). A transposed convolution is the backward of a convolution with respect to
its input: its forward is the GEMM weight^T @ input followed by im2col's adjoint; its backward is im2col of the
gradient and two GEMMs.

Weights are in PyTorch's layout: conv (out_channels, in_channels/groups, kH, kW); transposed conv
(in_channels, out_channels/groups, kH, kW).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.ops._util import column_sums
from chainrule.tensor import Tensor, as_tensor_arg, result

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

IntOrTuple = int | Sequence[int]
_grad_mode = autograd.grad_mode


# -- arguments ------------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def ntuple(value: Any, n: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of `n` ints (or of one, repeated) as a tuple of `n` ints, each >= `minimum`."""
    if type(value) is int and value >= minimum:  # the common case, without the general checks
        return (value,) * n
    if _is_int(value):
        values: tuple[int, ...] = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str) and all(_is_int(v) for v in value):
        values = tuple(int(v) for v in value)
        if len(values) == 1:
            values *= n
        if len(values) != n:
            raise ArgumentError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    else:
        raise ArgumentError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ArgumentError(f"{op}: {name} must be >= {minimum} in every dimension, got {value!r}")
    return values


def float_operands(op: str, x: Any, weight: Any, bias: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    """The operands as Tensors of one floating dtype, or a DTypeError naming them."""
    if not isinstance(weight, Tensor):
        weight = as_tensor_arg(weight)
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x, weight.data)
    if bias is not None and not isinstance(bias, Tensor):
        bias = as_tensor_arg(bias, weight.data)
    dtypes = [x.data.dtype, weight.data.dtype] + ([] if bias is None else [bias.data.dtype])
    if any(dtype.kind != "f" for dtype in dtypes) or len(set(dtypes)) != 1:
        names = ("input", "weight", "bias")
        listed = ", ".join(f"{name} {dtype}" for name, dtype in zip(names, dtypes))
        raise DTypeError(
            f"{op}: input, weight and bias must have the same floating dtype, got {listed}; convert with "
            ".float() or .double()"
        )
    return x, weight, bias


def _groups(groups: Any, op: str) -> int:
    if not _is_int(groups) or groups < 1:
        raise ArgumentError(f"{op}: groups must be a positive int, got {groups!r}")
    return int(groups)


# -- the building blocks: layout, im2col, col2im -----------------------------------------------------------------

# Values per chunk of the im2col matrix (and of the unrolled gradient of _input_grad): 128K float32 values,
# 512 KB, stay in L2 cache next to the GEMM's other operands. A skinny GEMM reading its columns from cache ran
# three to four times faster here than one reading the whole matrix from memory (LeNet's first layer, 25 rows by
# 36,864 columns); larger and smaller chunks measured slower.
_CHUNK = 1 << 17
# Values per band of unrolled input rows (_row_bands), 4 MB. A band unrolls kh - 1 rows more than its output
# rows need: with bands of 1 MB, 16-channel layers on 12x12 to 32x32 images (forward and backward) ran 3-10%
# slower than with bands of 4 MB.
_UNROLL_CHUNK = 8 * _CHUNK
# Values of _input_grad's GEMM products per chunk of input columns. Its chunks alternate GEMMs on every BLAS
# thread and adds on one: a copy or add into lines the other core holds ran 2.5 times slower than on one
# thread, so fewer, larger chunks cost less, though one (4 MB) no longer fits in cache: one chunk rather than
# two for LeNet's second layer made the whole step 1.5% faster.
_GRADIENT_CHUNK = 8 * _CHUNK
_MIN_COLUMNS = 2048
# When a convolution's GEMMs go by output rows (see the module docstring). Im2col's copy costs about 10/O of its
# GEMM's time for O output channels (a group's): for few channels, GEMMs over views that need no copy win,
# LeNet's second layer's forward (16 channels) ran 20% faster so; from 32 channels on, the copy saved no longer
# paid for the smaller GEMMs of one row each (10-45% slower). And OpenBLAS runs a GEMM of fewer multiply-adds
# (m*n*k) than _ONE_THREAD_GEMM on one thread (interface/gemm.c: 65536 times GEMM_MULTITHREAD_THRESHOLD, 4): a
# layer whose GEMM per output row is that small (LeNet's first: 1,536 columns by 25 by 6) is done over im2col's
# chunks of several rows, as two-thread GEMMs (one GEMM per row ran 10% slower there).
_ROWS_MAX_CHANNELS = 16
_ONE_THREAD_GEMM = 1 << 18
_SCRATCH_LIMIT = 4 * _CHUNK
_scratch = threading.local()


def scratch(name: str, size: int, dtype: np.dtype) -> np.ndarray:
    """A 1-d work array of `size` elements for a temporary that never leaves an op (a columns chunk, an unrolled
    gradient), reused from call to call. A fresh array of a few hundred KB comes from new pages of memory, and
    the page faults of first writing it cost about as much as the arithmetic here (a third of LeNet's second
    convolution's backward). One array per name and thread is kept, up to _SCRATCH_LIMIT values; larger
    temporaries are allocated afresh. No op holds one across a call to another op."""
    if size > _SCRATCH_LIMIT:
        return np.empty(size, dtype=dtype)
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    key = (name, dtype)
    buffer = buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = buffers[key] = np.empty(size, dtype=dtype)
    return buffer[:size]


Pads = tuple[tuple[int, int], tuple[int, int]]


def _crop(x: np.ndarray, pads: Pads) -> tuple[np.ndarray, Pads]:
    """x (N, C, H, W) with the negative (before, after) amounts of `pads` cropped off its rows and columns, and
    the pads that remain to be added (none negative)."""
    (top, bottom), (left, right) = pads
    if min(top, bottom, left, right) >= 0:
        return x, pads
    H, W = x.shape[2:]  # noqa: N806
    x = x[:, :, max(-top, 0) : H - max(-bottom, 0), max(-left, 0) : W - max(-right, 0)]
    return x, ((max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0)))


def _zero_padded(view: np.ndarray, pads: Pads, h_axis: int, w_axis: int) -> np.ndarray:
    """A C-contiguous copy of `view` with (before, after) zero rows along h_axis and columns along w_axis (pads
    not negative); `view` itself when it is C-contiguous and nothing is padded."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return np.ascontiguousarray(view)
    shape = list(view.shape)
    shape[h_axis] += top + bottom
    shape[w_axis] += left + right
    padded = np.zeros(shape, dtype=view.dtype)
    inside = [slice(None)] * view.ndim
    inside[h_axis] = slice(top, top + view.shape[h_axis])
    inside[w_axis] = slice(left, left + view.shape[w_axis])
    padded[tuple(inside)] = view
    return padded


def to_chwn(x: np.ndarray, pads: Pads = ((0, 0), (0, 0))) -> np.ndarray:
    """x (N, C, H, W), in any memory order, as a C-contiguous (C, H + pad, W + pad, N) array with zero
    padding (a negative pad crops). x's own memory, without a copy, when it is laid out so and nothing is
    padded: the output of a convolution is."""
    x, pads = _crop(x, pads)
    return _zero_padded(x.transpose(1, 2, 3, 0), pads, 1, 2)


def _windows(
    xb: np.ndarray,
    rows: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_w: int,
) -> np.ndarray:
    """The (C, kh, kw, y1 - y0, Wo, N) view of xb (C, Hp, Wp, N), C-contiguous, holding at [c, i, j, y, x, n]
    the input pixel xb[c, (y0 + y)*sh + i*dh, x*sw + j*dw, n] under output pixel (y0 + y, x)'s kernel offset
    (i, j). Made by the ndarray constructor (which checks that it stays inside xb's memory): as_strided costs
    ten times as much, some 10 us a call."""
    y0, y1 = rows
    s_c, s_h, s_w, s_n = xb.strides
    windows = np.ndarray(
        (xb.shape[0], kernel[0], kernel[1], y1 - y0, out_w, xb.shape[3]),
        xb.dtype,
        xb,
        y0 * stride[0] * s_h,
        (s_c, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1], s_n),
    )
    windows.flags.writeable = False
    return windows


def _chunks(out_h: int, columns_per_row: int, rows_k: int) -> list[tuple[int, int]]:
    """Output rows [y0, y1) per chunk, so that each chunk's columns matrix holds about _CHUNK values, but has at
    least _MIN_COLUMNS columns (a GEMM of fewer is too small to be worth a call, less still on two threads)."""
    per = max(1, _CHUNK // max(1, rows_k * columns_per_row), -(-_MIN_COLUMNS // max(1, columns_per_row)))
    return [(y0, min(out_h, y0 + per)) for y0 in range(0, out_h, per)]


def _im2col(
    xb: np.ndarray,
    rows: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_w: int,
    ones: bool = False,
) -> np.ndarray:
    """The columns matrix of output rows [y0, y1): (C*kh*kw, (y1 - y0)*Wo*N) in a scratch array, and with
    `ones` a last row of ones (the bias's column of the weight then adds the bias within the GEMM). With unit
    stride along the width each row of it is a copy of contiguous runs of Wo*N values."""
    windows = _windows(xb, rows, kernel, stride, dilation, out_w)
    k = windows.shape[0] * kernel[0] * kernel[1]
    m = (rows[1] - rows[0]) * out_w * xb.shape[3]
    columns = scratch("columns", (k + ones) * m, xb.dtype).reshape(k + ones, m)
    np.copyto(columns[:k].reshape(windows.shape), windows)
    if ones:
        columns[k] = 1
    return columns


def _col2im(
    columns: np.ndarray,
    image: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """The adjoint of im2col: adds columns viewed as (C, kh, kw, Ho, Wo, N) onto image (C, Hp, Wp, N), each
    value onto the pixel it was read from. One add per kernel offset, of a whole (C, Ho, Wo, N) block."""
    _, kh, kw, Ho, Wo, _ = columns.shape  # noqa: N806
    (sh, sw), (dh, dw) = stride, dilation
    span_h, span_w = sh * (Ho - 1) + 1, sw * (Wo - 1) + 1
    for i in range(kh):
        for j in range(kw):
            target = image[:, i * dh : i * dh + span_h : sh, j * dw : j * dw + span_w : sw]
            np.add(target, columns[:, i, j], out=target)


def to_grouped_rows(x: np.ndarray, groups: int, pads: Pads) -> np.ndarray:
    """x (N, C, H, W), in any memory order, as a C-contiguous (G, H + pad, C/G, W + pad, N) array with zero
    padding (pads not negative, as a convolution's): the layout `_unroll_rows` reads whole runs of."""
    N, C, H, W = x.shape  # noqa: N806
    return _zero_padded(x.reshape(N, groups, C // groups, H, W).transpose(1, 3, 2, 4, 0), pads, 1, 3)


def _row_bands(out_h: int, row_values: int, kernel_h: int, stride_h: int, dilation_h: int) -> list[tuple[int, int]]:
    """Output rows [y0, y1) per band, so that the unrolled input rows of a band (`row_values` values each) hold
    about _UNROLL_CHUNK values: they stay in cache for the GEMMs that read them. At least one row a band."""
    fit = _UNROLL_CHUNK // max(1, row_values) - (kernel_h - 1) * dilation_h - 1
    per = max(1, fit // stride_h + 1)
    return [(y0, min(out_h, y0 + per)) for y0 in range(0, out_h, per)]


def _unroll_rows(
    xp: np.ndarray,
    band: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_w: int,
    keep: bool = False,
) -> tuple[np.ndarray, bool]:
    """The input rows that output rows [y0, y1) read, unrolled along the kernel's width, and whether the array
    is the caller's to keep: from xp (G, Hp, C/G, Wp, N), U (G, dh, Hq, C/G, kw, Wo, N) in a scratch array, or
    with `keep` in a fresh one when it holds at most _SCRATCH_LIMIT values,
    U[g, r, q, c, j, x, n] = xp[g, y0*sh + q*dh + r, c, j*dw + x*sw, n]. The rows are grouped by their remainder
    modulo the kernel's dilation dh (one group when dh = 1), so that the rows one output row reads are evenly
    spaced (see `_row_products`). kw*dh copies, each of whole runs of Wo*N values when sw = 1: about 1/kh of the
    values of im2col's matrix for a 5x5 kernel (kw rather than kh*kw copies of the input)."""
    G, _, Cg, _, N = xp.shape  # noqa: N806
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    start = band[0] * sh
    rows_in = (band[1] - band[0] - 1) * sh + (kh - 1) * dh + 1
    hq = -(-rows_in // dh)
    size = G * dh * hq * Cg * kw * out_w * N
    keep = keep and size <= _SCRATCH_LIMIT
    unrolled = np.empty(size, xp.dtype) if keep else scratch("unrolled rows", size, xp.dtype)
    unrolled = unrolled.reshape(G, dh, hq, Cg, kw, out_w, N)
    span = sw * (out_w - 1) + 1
    for r in range(min(dh, rows_in)):
        source = xp[:, start + r : start + rows_in : dh]
        for j in range(kw):
            unrolled[:, r, : source.shape[1], :, j] = source[:, :, :, j * dw : j * dw + span : sw]
    return unrolled, keep


def _row_products(
    unrolled: np.ndarray, band: tuple[int, int], kernel_h: int, stride_h: int
) -> list[tuple[np.ndarray, slice]]:
    """(A, rows) pairs covering the output rows of `band`: A (G, M, Wo*N, C/G*kh*kw) is a view of `unrolled`
    (from `_unroll_rows`) holding the columns matrix of the M output rows `rows` (a slice of all output rows),
    A[g, m, (x, n), (i, c, j)] = U[g, r, q_m + i, c, j, x, n]. For one output row the kh*C/G*kw rows of its
    matrix are evenly spaced in U (row i + 1 starts one unrolled row, C/G*kw*Wo*N values, after row i): a
    plain strided matrix a GEMM reads where it lies, without im2col's copy. Output rows whose input rows share
    a remainder modulo dh form one batch of M: one A per remainder (one A when dh = 1)."""
    G, dh, hq, Cg, kw, Wo, N = unrolled.shape  # noqa: N806
    columns = Wo * N
    row = Cg * kw * columns
    item = unrolled.itemsize
    period = dh // math.gcd(stride_h, dh)  # output rows this far apart start in rows of the same remainder
    step = period * stride_h // dh  # ... and this many unrolled rows apart
    products = []
    for p in range(min(period, band[1] - band[0])):
        first = p * stride_h
        count = len(range(band[0] + p, band[1], period))
        view = np.ndarray(
            (G, count, columns, kernel_h * Cg * kw),
            unrolled.dtype,
            unrolled,  # C-contiguous (made so by _unroll_rows): the constructor checks the view stays inside
            ((first % dh) * hq * row + (first // dh) * row) * item,
            (dh * hq * row * item, step * row * item, item, columns * item),
        )
        view.flags.writeable = False
        products.append((view, slice(band[0] + p, band[1], period)))
    return products


def _input_grad(
    g_t: np.ndarray,
    weight: np.ndarray,
    padded_size: tuple[int, int],
    stride_h: int,
    dilation: tuple[int, int],
    groups: int,
) -> np.ndarray:
    """The gradient of a convolution of unit stride along the width with respect to its padded input, as an
    array (Wp, C, Hp, N); g_t (Ho, Wo, N, O) is the output's gradient, weight (O, C/G, kh, kw).

    Column by column of the input: input column w gets its gradient from the output columns x = w - j*dw,

        image[w, c, y*sh + i*dh, n] += sum over (j, o) of weight[o, c, i, j] * g[o, y, w - j*dw, n],

    a GEMM whose inner dimension runs over the valid (j, o) only (kw*O in the middle, fewer at the edges),
    with no copy of the gradient but one transpose: laid out as (G, dw, Wo/dw, O/G, Ho, N), the output columns
    a column w reads are a contiguous block of it, as are the kernel's columns in the weight flipped along the
    width. The columns whose every kernel offset is valid go in one batched call per remainder modulo dw; then
    kh shifted adds of whole row blocks. On LeNet's second layer this ran 1.2 times as fast as unrolling the
    gradient along the kernel's width (a third of whose GEMM multiplied zeros) and 1.5 times as fast as
    im2col's adjoint. Chunked over input columns, so that the GEMMs' products stay near _GRADIENT_CHUNK values.
    """
    Ho, Wo, N, O = g_t.shape  # noqa: N806, E741 (the shapes' usual letters)
    _, group_channels, kh, kw = weight.shape
    Hp, Wp = padded_size  # noqa: N806
    dh, dw = dilation
    group_out = O // groups
    columns = Ho * N
    item = g_t.itemsize
    # blocks[r][g, (q, o), (y, n)] = g[g*O/G + o, y, r + q*dw, n]: the output columns of remainder r modulo dw.
    gathered = scratch("gradient", g_t.size, g_t.dtype)
    g_view = g_t.reshape(Ho, Wo, N, groups, group_out).transpose(3, 1, 4, 0, 2)  # (G, Wo, O/G, Ho, N)
    blocks, counts, start = [], [], 0
    for r in range(dw):
        count = len(range(r, Wo, dw))
        size = groups * count * group_out * columns
        np.copyto(gathered[start : start + size].reshape(groups, count, group_out, Ho, N), g_view[:, r::dw])
        blocks.append(gathered[start : start + size].reshape(groups, count * group_out, columns))
        counts.append(count)
        start += size
    # w_flip[g, 0, (i, c), (jf, o)] = weight[g*O/G + o, c, i, kw - 1 - jf]
    w_flip = weight[..., ::-1].reshape(groups, group_out, group_channels, kh, kw).transpose(0, 3, 2, 4, 1)
    w_flip = np.ascontiguousarray(w_flip).reshape(groups, 1, kh * group_channels, kw * group_out)
    rows = kh * group_channels
    image = np.zeros((Wp, groups, group_channels, Hp, N), dtype=g_t.dtype)
    per_chunk = max(1, _GRADIENT_CHUNK // (groups * rows * columns))
    for w0 in range(0, Wp, per_chunk):
        w1 = min(Wp, w0 + per_chunk)
        product = scratch("product", groups * (w1 - w0) * rows * columns, g_t.dtype)
        product = product.reshape(groups, w1 - w0, rows, columns)
        for r in range(min(dw, Wp)):
            g_r, count = blocks[r], counts[r]
            # Input column w = r + dw*qw reads output columns q = qw - j (j < kw, 0 <= q < count).
            low, high = max(0, -(-(w0 - r) // dw)), -(-(w1 - r) // dw)
            full_low, full_high = max(low, kw - 1), min(high, count)  # the columns with every offset valid
            for qw in range(low, high):
                if full_low <= qw < full_high:
                    continue
                q0, q1 = max(0, qw - kw + 1), min(count - 1, qw)
                target = product[:, r + dw * qw - w0]
                if q0 > q1:  # no valid offset: a column of the padding no window reaches
                    target.fill(0)
                    continue
                jf0 = q0 - (qw - kw + 1)
                taps = w_flip[:, 0, :, jf0 * group_out : (jf0 + q1 - q0 + 1) * group_out]
                np.matmul(taps, g_r[:, q0 * group_out : (q1 + 1) * group_out], out=target)
            if full_low < full_high:
                view = np.ndarray(
                    (groups, full_high - full_low, kw * group_out, columns),
                    g_r.dtype,
                    g_r,  # contiguous: the constructor checks that the overlapping windows stay inside it
                    (full_low - kw + 1) * group_out * columns * item,
                    (g_r.strides[0], group_out * columns * item, columns * item, item),
                )
                targets = slice(r + dw * full_low - w0, r + dw * (full_high - 1) - w0 + 1, dw)
                np.matmul(w_flip, view, out=product[:, targets])
        # image[w, g, c, y*sh + i*dh, n] += product[g, w, (i, c), (y, n)]
        product = product.reshape(groups, w1 - w0, kh, group_channels, Ho, N).transpose(1, 0, 2, 3, 4, 5)
        for i in range(kh):
            target = image[w0:w1, :, :, i * dh : i * dh + stride_h * (Ho - 1) + 1 : stride_h]
            np.add(target, product[:, :, i], out=target)
    return image.reshape(Wp, groups * group_channels, Hp, N)


def pad_spatial(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """x (N, C, H, W) with (before, after) rows and columns of `value` added, in x's memory order; a negative
    amount crops."""
    x, ((top, bottom), (left, right)) = _crop(x, pads)
    if not (top or bottom or left or right):
        return x
    N, C, H, W = x.shape  # noqa: N806
    order = np.argsort(x.strides)[::-1]  # the padded copy keeps x's memory order
    shape = np.array((N, C, H + top + bottom, W + left + right))
    padded = np.full(tuple(shape[order]), value, dtype=x.dtype).transpose(np.argsort(order))
    padded[:, :, top : top + H, left : left + W] = x
    return padded


def _out_len(size: int, kernel: int, stride: int, dilation: int) -> int:
    return (size - dilation * (kernel - 1) - 1) // stride + 1


# -- convolution --------------------------------------------------------------------------------------------------


def _conv_padding(
    padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], op: str
) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial dim. 'same' pads d*(k-1) in total, the odd one at the end (as PyTorch)."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ArgumentError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((total // 2, total - total // 2) for total in totals)
        raise ArgumentError(f"{op}: padding must be an int, a tuple of ints, 'valid' or 'same', got {padding!r}")
    return tuple((p, p) for p in ntuple(padding, n, "padding", op, 0))


def _conv(
    x: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any, spatial: int, op: str
) -> Tensor:
    x, weight, bias = float_operands(op, x, weight, bias)
    X, W = x.data, weight.data  # noqa: N806
    dims = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    if W.ndim != spatial + 2:
        wdims = (
            "(out_channels, in_channels/groups, kL)" if spatial == 1 else "(out_channels, in_channels/groups, kH, kW)"
        )
        raise ShapeError(f"{op}: weight must be {spatial + 2}-D {wdims}, got shape {shape_str(W.shape)}")
    if X.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(
            f"{op}: expected a {spatial + 2}-D input {dims} or an unbatched {spatial + 1}-D one, got shape "
            f"{shape_str(X.shape)}"
        )
    groups = _groups(groups, op)
    out_channels, group_channels = W.shape[:2]
    kernel = W.shape[2:]
    stride = ntuple(stride, spatial, "stride", op, 1)
    dilation = ntuple(dilation, spatial, "dilation", op, 1)
    pads = _conv_padding(padding, kernel, stride, dilation, op)
    channels = X.shape[-spatial - 1]
    if out_channels % groups:
        raise ShapeError(f"{op}: out_channels ({out_channels}, weight's dim 0) must be divisible by groups ({groups})")
    if channels != group_channels * groups:
        raise ShapeError(
            f"{op}: given groups={groups}, a weight of shape {shape_str(W.shape)} expects an input with "
            f"{group_channels * groups} channels, got input of shape {shape_str(X.shape)} ({channels} channels)"
        )
    if bias is not None and bias.data.shape != (out_channels,):
        raise ShapeError(
            f"{op}: bias must have shape ({out_channels},) (out_channels), got {shape_str(bias.data.shape)}"
        )
    unbatched = X.ndim == spatial + 1
    X4 = X[None] if unbatched else X  # noqa: N806
    if spatial == 1:  # a 1-d convolution is a 2-d one of height 1
        X4, W = X4[:, :, None, :], W[:, :, None, :]  # noqa: N806
        stride, dilation, pads, kernel = (1, *stride), (1, *dilation), ((0, 0), *pads), (1, *kernel)
    N, C, H, Wd = X4.shape  # noqa: N806
    padded_size = (H + pads[0][0] + pads[0][1], Wd + pads[1][0] + pads[1][1])
    out_size = tuple(_out_len(p, k, s, d) for p, k, s, d in zip(padded_size, kernel, stride, dilation))
    if min(out_size) < 1:
        extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        raise ShapeError(
            f"{op}: the padded input {shape_str(padded_size[2 - spatial :])} is smaller than the (dilated) kernel "
            f"{shape_str(extent[2 - spatial :])}, for input of shape {shape_str(X.shape)}"
        )
    Ho, Wo = out_size  # noqa: N806
    kh, kw = kernel
    group_out = out_channels // groups
    k_rows = group_channels * kh * kw  # the inner dimension of each group's GEMM
    columns_count = Ho * Wo * N
    # Both ways do the GEMM transposed, out^T (columns, O) = columns^T @ weight^T, so that the output's memory
    # order is (Ho, Wo, N, O): the channels innermost, where a pooling layer's windows read long contiguous runs
    # (a 2x2 max pool ran a fifth faster so than over (O, Ho, Wo, N)).
    by_rows = group_out <= _ROWS_MAX_CHANNELS and Wo * N * k_rows * group_out >= _ONE_THREAD_GEMM
    out_t = np.empty((Ho, Wo * N, groups, group_out), dtype=X.dtype)  # (Ho, Wo, N, O) in memory
    kept = None
    if by_rows:
        layout = to_grouped_rows(X4, groups, pads)
        bands = _row_bands(Ho, groups * group_channels * kw * Wo * N, kh, stride[0], dilation[0])
        # w_rows[g, 0, (i, c, j), o] = W[g*O/G + o, c, i, j]: the order of the rows of _row_products' matrices.
        w_rows = W.reshape(groups, group_out, group_channels, kh, kw).transpose(0, 3, 2, 4, 1)
        w_rows = w_rows.reshape(groups, 1, k_rows, group_out)
        # A single band's unrolled rows (when small) are kept for grad_weight's GEMMs rather than made again:
        # LeNet's step ran 1-2% faster so.
        keep = len(bands) == 1 and _grad_mode.enabled and weight.requires_grad
        for band in bands:
            unrolled, fresh = _unroll_rows(layout, band, kernel, stride, dilation, Wo, keep)
            for columns_t, rows in _row_products(unrolled, band, kh, stride[0]):
                np.matmul(columns_t, w_rows, out=out_t[rows].transpose(2, 0, 1, 3))
        if fresh:
            kept = unrolled
        fused = False
    else:
        layout = to_chwn(X4, pads)
        chunks = _chunks(Ho, Wo * N, C * kh * kw)
        # Without groups, the bias is one more column of the weight against a row of ones in the columns: it is
        # added within the GEMM (no pass over the output), and its gradient comes out of grad_weight's GEMM.
        fused = groups == 1 and bias is not None
        Wg = W.reshape(groups, group_out, k_rows)  # noqa: N806
        if fused:
            Wg = np.concatenate((Wg, bias.data.reshape(1, out_channels, 1)), axis=2)  # noqa: N806
        out_rows = out_t.reshape(columns_count, groups, group_out).transpose(1, 0, 2)
        for rows in chunks:
            columns = _im2col(layout, rows, kernel, stride, dilation, Wo, fused)
            per_group = columns.reshape(groups, k_rows + fused, -1).transpose(0, 2, 1)
            np.matmul(per_group, Wg.transpose(0, 2, 1), out=out_rows[:, rows[0] * Wo * N : rows[1] * Wo * N])
    out_t = out_t.reshape(columns_count, out_channels)
    if bias is not None and not fused:
        # Over rows of N*O values (the bias repeated N times): a row of O alone would make NumPy's loop short.
        out_t.reshape(Ho * Wo, N * out_channels)[...] += np.tile(bias.data, N)
    out = out_t.reshape(Ho, Wo, N, out_channels).transpose(2, 3, 0, 1)
    if spatial == 1:
        out = out[:, :, 0, :]
    if unbatched:
        out = out[0]

    def backward(grad: np.ndarray) -> tuple:
        if unbatched:
            grad = grad[None]
        if spatial == 1:
            grad = grad[:, :, None, :]
        g_t = grad.transpose(2, 3, 0, 1)  # (Ho, Wo, N, O): a view when grad is in the forward's order
        if not g_t.flags.c_contiguous:
            g_t = np.ascontiguousarray(g_t)
        g_t = g_t.reshape(columns_count, out_channels)
        grad_x = grad_w = grad_b = None
        with_bias = fused and weight.requires_grad  # grad_bias is then the last row of grad_weight's GEMM
        if bias is not None and bias.requires_grad and not with_bias:
            grad_b = column_sums(g_t)
        if weight.requires_grad:
            # grad_weight^T = columns @ grad^T, summed over chunks (or output rows). The columns are made again,
            # chunk by chunk (band by band), rather than kept from the forward; but a single band stays kept.
            g_groups = g_t.reshape(Ho, Wo * N, groups, group_out).transpose(2, 0, 1, 3)  # (G, Ho, Wo*N, O/G)
            grad_wt = np.zeros((groups, k_rows + with_bias, group_out), dtype=X.dtype)
            if by_rows:
                for band in bands:
                    unrolled = kept if kept is not None else _unroll_rows(layout, band, kernel, stride, dilation, Wo)[0]
                    for columns_t, rows in _row_products(unrolled, band, kh, stride[0]):
                        grad_wt += np.matmul(columns_t.swapaxes(2, 3), g_groups[:, rows]).sum(axis=1)
                # grad_wt[g, (i, c, j), o] -> grad_weight[g*O/G + o, c, i, j]
                grad_w = grad_wt.reshape(groups, kh, group_channels, kw, group_out).transpose(0, 4, 2, 1, 3)
            else:
                g_columns = g_groups.reshape(groups, columns_count, group_out)
                for rows in chunks:
                    columns = _im2col(layout, rows, kernel, stride, dilation, Wo, with_bias)
                    columns = columns.reshape(groups, k_rows + with_bias, -1)
                    grad_wt += np.matmul(columns, g_columns[:, rows[0] * Wo * N : rows[1] * Wo * N])
                if with_bias:
                    grad_b = grad_wt[0, k_rows] if bias.requires_grad else None
                    grad_wt = grad_wt[:, :k_rows]
                grad_w = grad_wt.transpose(0, 2, 1)  # [g, o, (c, i, j)]
            grad_w = grad_w.reshape(weight.data.shape)
        if x.requires_grad:
            (top, _), (left, _) = pads
            if stride[1] == 1:
                image = _input_grad(g_t.reshape(Ho, Wo, N, out_channels), W, padded_size, stride[0], dilation, groups)
                grad_x = image[left : left + Wd, :, top : top + H].transpose(3, 1, 2, 0)
            else:
                g = g_t.reshape(Ho, Wo, N, out_channels).transpose(3, 0, 1, 2).reshape(groups, group_out, -1)
                Wg = W.reshape(groups, group_out, k_rows)  # noqa: N806
                grad_columns = np.matmul(Wg.transpose(0, 2, 1), g)
                image = np.zeros((C, *padded_size, N), dtype=g_t.dtype)
                _col2im(grad_columns.reshape(C, kh, kw, Ho, Wo, N), image, kernel, stride, dilation)
                grad_x = image[:, top : top + H, left : left + Wd].transpose(3, 0, 1, 2)
            if spatial == 1:
                grad_x = grad_x[:, :, 0, :]
            if unbatched:
                grad_x = grad_x[0]
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, grad_b

    parents = (x, weight) if bias is None else (x, weight, bias)
    return result(out, parents, backward, op)


def conv2d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple | str = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Tensor:
    """2-d cross-correlation (torch.nn.functional.conv2d).

    input: (N, C, H, W) or unbatched (C, H, W); weight: (O, C/groups, kH, kW); bias: (O,) or None.
    Returns (N, O, Ho, Wo) with Ho = (H + pad_top + pad_bottom - dilation*(kH-1) - 1) // stride + 1 (and Wo
    likewise). padding: an int, a (pH, pW) tuple, 'valid' (none) or 'same' (output size = input size, stride
    1 only; for an even kernel the extra row/column of padding goes at the bottom/right, as PyTorch).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple | str = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Tensor:
    """1-d cross-correlation (torch.nn.functional.conv1d).

    input: (N, C, L) or unbatched (C, L); weight: (O, C/groups, kL); bias: (O,) or None. Returns (N, O, Lo),
    Lo = (L + 2*padding - dilation*(kL-1) - 1) // stride + 1; padding also 'valid' or 'same'.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


# -- transposed convolution ---------------------------------------------------------------------------------------


def _conv_transpose(
    x: Any,
    weight: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    spatial: int,
    op: str,
) -> Tensor:
    x, weight, bias = float_operands(op, x, weight, bias)
    X, W = x.data, weight.data  # noqa: N806
    dims = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    if W.ndim != spatial + 2:
        wdims = (
            "(in_channels, out_channels/groups, kL)" if spatial == 1 else "(in_channels, out_channels/groups, kH, kW)"
        )
        raise ShapeError(f"{op}: weight must be {spatial + 2}-D {wdims}, got shape {shape_str(W.shape)}")
    if X.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(
            f"{op}: expected a {spatial + 2}-D input {dims} or an unbatched {spatial + 1}-D one, got shape "
            f"{shape_str(X.shape)}"
        )
    groups = _groups(groups, op)
    in_channels, group_out = W.shape[:2]
    out_channels = group_out * groups
    kernel = W.shape[2:]
    stride = ntuple(stride, spatial, "stride", op, 1)
    dilation = ntuple(dilation, spatial, "dilation", op, 1)
    if isinstance(padding, str):
        raise ArgumentError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
    padding = ntuple(padding, spatial, "padding", op, 0)
    output_padding = ntuple(output_padding, spatial, "output_padding", op, 0)
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= max(s, d):
            raise ArgumentError(
                f"{op}: output_padding must be smaller than either stride or dilation, got output_padding="
                f"{output_padding}, stride={stride}, dilation={dilation}"
            )
    channels = X.shape[-spatial - 1]
    if in_channels % groups:
        raise ShapeError(f"{op}: in_channels ({in_channels}, weight's dim 0) must be divisible by groups ({groups})")
    if channels != in_channels:
        raise ShapeError(
            f"{op}: a weight of shape {shape_str(W.shape)} expects an input with {in_channels} channels, got input "
            f"of shape {shape_str(X.shape)} ({channels} channels)"
        )
    if bias is not None and bias.data.shape != (out_channels,):
        raise ShapeError(
            f"{op}: bias must have shape ({out_channels},) (out_channels), got {shape_str(bias.data.shape)}"
        )
    unbatched = X.ndim == spatial + 1
    X4 = X[None] if unbatched else X  # noqa: N806
    if spatial == 1:
        X4, W = X4[:, :, None, :], W[:, :, None, :]  # noqa: N806
        stride, dilation, kernel = (1, *stride), (1, *dilation), (1, *kernel)
        padding, output_padding = (0, *padding), (0, *output_padding)
    N, _, H, Wd = X4.shape  # noqa: N806
    # The input plays the part of a convolution's output: its pixels are the windows of the full output.
    full = tuple((n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip((H, Wd), kernel, stride, dilation))
    out_size = tuple(f - 2 * p + o for f, p, o in zip(full, padding, output_padding))
    if min(out_size) < 1:
        raise ShapeError(
            f"{op}: the output size {shape_str(out_size[2 - spatial :])} is not positive for input of shape "
            f"{shape_str(X.shape)}, kernel {shape_str(kernel[2 - spatial :])} and padding {padding[2 - spatial :]}"
        )
    kh, kw = kernel
    # The full output, cropped by `padding` at both ends and extended by `output_padding` at the end.
    crop = tuple((p, f - p - o) for f, p, o in zip(full, padding, out_size))
    k_rows = group_out * kh * kw
    columns_count = H * Wd * N
    Wg = W.reshape(groups, in_channels // groups, k_rows)  # noqa: N806
    x_rows = to_chwn(X4).reshape(groups, in_channels // groups, columns_count)
    columns = np.matmul(Wg.transpose(0, 2, 1), x_rows).reshape(out_channels, kh, kw, H, Wd, N)
    image = np.zeros((out_channels, *full, N), dtype=X.dtype)
    _col2im(columns, image, kernel, stride, dilation)
    del columns
    (top, bottom), (left, right) = crop
    out = image[:, top : full[0] - max(bottom, 0), left : full[1] - max(right, 0)]
    if min(bottom, right) < 0:  # output_padding beyond the full output: zeros
        out = to_chwn(out.transpose(3, 0, 1, 2), ((0, max(-bottom, 0)), (0, max(-right, 0))))
    if bias is not None:
        out += bias.data[:, None, None, None]  # out is the fresh image (or a crop of it): ours to write
    out = out.transpose(3, 0, 1, 2)
    if spatial == 1:
        out = out[:, :, 0, :]
    if unbatched:
        out = out[0]

    def backward(grad: np.ndarray) -> tuple:
        if unbatched:
            grad = grad[None]
        if spatial == 1:
            grad = grad[:, :, None, :]
        g_full = to_chwn(grad, crop)  # (O, full H, full W, N): zeros where the forward cropped
        chunks = _chunks(H, Wd * N, out_channels * kh * kw)
        grad_x = grad_w = grad_b = None
        if x.requires_grad:
            grad_x = np.empty((groups, in_channels // groups, columns_count), dtype=grad.dtype)
        grad_w_parts = []
        for rows in chunks:
            g_columns = _im2col(g_full, rows, kernel, stride, dilation, Wd).reshape(groups, k_rows, -1)
            m0, m1 = rows[0] * Wd * N, rows[1] * Wd * N
            if grad_x is not None:
                np.matmul(Wg, g_columns, out=grad_x[:, :, m0:m1])
            if weight.requires_grad:
                grad_w_parts.append(np.matmul(x_rows[:, :, m0:m1], g_columns.transpose(0, 2, 1)))
        if grad_x is not None:
            grad_x = grad_x.reshape(in_channels, H, Wd, N).transpose(3, 0, 1, 2)
            if spatial == 1:
                grad_x = grad_x[:, :, 0, :]
            if unbatched:
                grad_x = grad_x[0]
        if weight.requires_grad:
            grad_w = np.sum(grad_w_parts, axis=0).reshape(weight.data.shape)
        if bias is not None and bias.requires_grad:
            grad_b = grad.sum(axis=(0, 2, 3))
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, grad_b

    parents = (x, weight) if bias is None else (x, weight, bias)
    return result(out, parents, backward, op)


def conv_transpose2d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """2-d transposed convolution (torch.nn.functional.conv_transpose2d), the gradient of conv2d with respect
    to its input.

    input: (N, C, H, W) or unbatched (C, H, W); weight: (C, O/groups, kH, kW); bias: (O,) or None.
    Returns (N, O, Ho, Wo) with Ho = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1.
    """
    return _conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 2, "conv_transpose2d"
    )


def conv_transpose1d(
    input: Tensor,  # noqa: A002 (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """1-d transposed convolution (torch.nn.functional.conv_transpose1d).

    input: (N, C, L) or unbatched (C, L); weight: (C, O/groups, kL); bias: (O,) or None. Returns (N, O, Lo),
    Lo = (L - 1)*stride - 2*padding + dilation*(kL - 1) + output_padding + 1.
    """
    return _conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 1, "conv_transpose1d"
    )
