"""Convolutions: conv1d, conv2d, conv_transpose1d, conv_transpose2d against finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops import conv
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from tests.helpers import check_gradients, compare_with_torch, random_array, requires_torch, torch

if torch is not None:
    import torch.nn.functional as F

# PyTorch warns that its own 'same' padding with an even kernel copies the input; that is its concern, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


@pytest.fixture(params=["by rows", "by columns"], autouse=True)
def gemm_layout(request, monkeypatch):
    """Every test runs both ways of making a convolution's GEMMs: one GEMM per output row over the rows unrolled
    along the kernel's width, and im2col's chunks (chosen by the GEMM's size, which is small in these tests)."""
    monkeypatch.setattr(conv, "_ONE_THREAD_GEMM", 0 if request.param == "by rows" else 1 << 62)
    monkeypatch.setattr(conv, "_ROWS_MAX_CHANNELS", 1 << 62)
    return request.param


CONV2D_CASES = [
    dict(),
    dict(stride=2),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(padding=1, dilation=2),
    dict(padding="same"),
    dict(padding="same", dilation=(2, 1)),
    dict(padding="valid", stride=(1, 3)),
    dict(groups=2),
    dict(groups=2, stride=2, padding=1, dilation=(1, 2)),
    # A dilated kernel height: the rows an output row reads are grouped by remainder (period 1, 3 and 2).
    dict(stride=(2, 1), dilation=(2, 1), padding=(2, 0)),
    dict(stride=2, dilation=(3, 1), padding=(3, 0)),
    dict(stride=(3, 1), dilation=2, padding=2, groups=2),
    # One output column for a kernel of width 4 dilated by 3: input columns no window reaches (no valid offset).
    dict(dilation=(1, 3), padding=(0, 1)),
]


@requires_torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("options", CONV2D_CASES, ids=str)
def test_conv2d_matches_pytorch_values_and_gradients(options, bias):
    groups = options.get("groups", 1)
    x = random_array(2, 4, 9, 8, seed=1)
    w = random_array(6, 4 // groups, 3, 4, seed=2)  # an even kernel width exercises 'same''s extra column
    arrays = (x, w, random_array(6, seed=3)) if bias else (x, w)
    compare_with_torch(
        lambda *a: conv2d(*a, **options), lambda *a: F.conv2d(*a, **options), *arrays, atol=1e-10, rtol=1e-10
    )


@pytest.mark.parametrize("options", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2)], ids=str)
def test_conv2d_gradients_match_finite_differences(options):
    x, w, b = random_array(2, 2, 5, 6, seed=4), random_array(3, 2, 3, 2, seed=5), random_array(3, seed=6)
    check_gradients(lambda x, w, b: conv2d(x, w, b, **options), x, w, b)


def test_grouped_conv2d_gradients_match_finite_differences():
    x, w = random_array(1, 4, 5, 5, seed=7), random_array(4, 2, 2, 3, seed=8)
    check_gradients(lambda x, w: conv2d(x, w, groups=2, stride=(1, 2), padding=1), x, w)


@pytest.mark.parametrize(
    "needs", [(True, False, False), (False, True, False), (False, False, True), (True, True, False)], ids=str
)
def test_conv2d_computes_the_gradient_of_each_operand_alone(needs):
    arrays = random_array(2, 3, 6, 5, seed=40), random_array(4, 3, 3, 2, seed=41), random_array(4, seed=42)
    full = [cr.tensor(a, requires_grad=True) for a in arrays]
    conv2d(*full, padding=1).sum().backward()
    part = [cr.tensor(a, requires_grad=need) for a, need in zip(arrays, needs)]
    conv2d(*part, padding=1).sum().backward()
    for tensor, reference, need in zip(part, full, needs):
        if need:
            np.testing.assert_allclose(tensor.grad.data, reference.grad.data, rtol=1e-12, atol=1e-12)
        else:
            assert tensor.grad is None


def test_conv2d_forward_is_the_sum_over_windows():
    x, w, b = random_array(2, 3, 6, 5, seed=9), random_array(4, 3, 3, 2, seed=10), random_array(4, seed=11)
    out = conv2d(cr.tensor(x), cr.tensor(w), cr.tensor(b), stride=(2, 1)).data
    expected = np.empty((2, 4, 2, 4))
    for y in range(2):
        for xo in range(4):
            window = x[:, :, 2 * y : 2 * y + 3, xo : xo + 2]
            expected[:, :, y, xo] = np.einsum("nchw,ochw->no", window, w) + b
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("chunk", [1, 300, 700])
def test_conv2d_in_many_chunks_matches_pytorch(monkeypatch, chunk):
    # Chunks and bands of one output row (chunk=1) or a few, so the forward and both backward passes loop.
    monkeypatch.setattr(conv, "_CHUNK", chunk)
    monkeypatch.setattr(conv, "_UNROLL_CHUNK", chunk)
    monkeypatch.setattr(conv, "_GRADIENT_CHUNK", chunk)
    x, w, b = random_array(3, 2, 9, 6, seed=12), random_array(4, 2, 3, 3, seed=13), random_array(4, seed=14)
    cases = (
        dict(padding=1),
        dict(stride=2, dilation=(1, 2), padding=(2, 1)),
        dict(groups=2),
        dict(dilation=(2, 1), padding=1),
        dict(stride=(2, 1), dilation=(3, 1), padding=(2, 0)),
    )
    for options in cases:
        weight = w[:, : 2 // options.get("groups", 1)]
        compare_with_torch(
            lambda *a, o=options: conv2d(*a, **o),
            lambda *a, o=options: F.conv2d(*a, **o),
            x,
            weight,
            b,
            atol=1e-10,
            rtol=1e-10,
        )
        compare_with_torch(
            lambda *a: conv_transpose2d(*a, stride=2), lambda *a: F.conv_transpose2d(*a, stride=2), x,
            random_array(2, 3, 3, 3, seed=15), atol=1e-10, rtol=1e-10,
        )  # fmt: skip


@requires_torch
def test_conv2d_accepts_unbatched_input_and_any_memory_order():
    x, w = random_array(3, 7, 6, seed=16), random_array(5, 3, 3, 3, seed=17)
    compare_with_torch(lambda x, w: conv2d(x, w, padding=1), lambda x, w: F.conv2d(x, w, padding=1), x, w)
    assert conv2d(cr.tensor(x), cr.tensor(w)).shape == (5, 5, 4)
    batched = random_array(2, 6, 7, 3, seed=18)
    transposed = cr.tensor(batched).permute(0, 3, 1, 2)  # (2, 3, 6, 7), channels innermost in memory
    expected = conv2d(cr.tensor(np.ascontiguousarray(transposed.data)), cr.tensor(w))
    np.testing.assert_allclose(conv2d(transposed, cr.tensor(w)).data, expected.data, rtol=1e-12, atol=1e-12)


@requires_torch
def test_conv_output_feeds_the_next_conv_and_its_gradients_flow_back():
    # The first conv's output is a view in (C, H, W, N) memory order; the second reads it without a copy.
    x, w1, w2 = random_array(2, 1, 9, 9, seed=19), random_array(3, 1, 3, 3, seed=20), random_array(2, 3, 3, 3, seed=21)
    compare_with_torch(
        lambda x, a, b: conv2d(conv2d(x, a).relu(), b, padding=1),
        lambda x, a, b: F.conv2d(F.conv2d(x, a).relu(), b, padding=1),
        x, w1, w2, atol=1e-10, rtol=1e-10,
    )  # fmt: skip


def test_conv2d_keeps_float32():
    x = cr.randn(2, 3, 8, 8)
    w = cr.randn(4, 3, 3, 3, requires_grad=True)
    out = conv2d(x, w, cr.zeros(4))
    assert out.dtype == np.float32
    out.sum().backward()
    assert w.grad.dtype == np.float32


@requires_torch
@pytest.mark.parametrize(
    "options", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=3), dict(groups=3, stride=3)], ids=str
)
def test_conv1d_matches_pytorch(options):
    x, w, b = (
        random_array(2, 6, 11, seed=22),
        random_array(3, 6 // options.get("groups", 1), 4, seed=23),
        random_array(3),
    )
    compare_with_torch(
        lambda *a: conv1d(*a, **options), lambda *a: F.conv1d(*a, **options), x, w, b, atol=1e-10, rtol=1e-10
    )
    compare_with_torch(lambda x, w: conv1d(x, w, **options), lambda x, w: F.conv1d(x, w, **options), x[0], w)


def test_conv1d_gradients_match_finite_differences():
    check_gradients(
        lambda x, w, b: conv1d(x, w, b, stride=2, padding=1, dilation=2),
        random_array(2, 2, 9, seed=24), random_array(3, 2, 3, seed=25), random_array(3, seed=26),
    )  # fmt: skip


TRANSPOSE_CASES = [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(3, 2), padding=(1, 0), output_padding=(2, 1), dilation=(1, 2)),
    dict(stride=2, padding=2, output_padding=1, dilation=3),
    dict(groups=2, stride=(1, 2), padding=1),
]


@requires_torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("options", TRANSPOSE_CASES, ids=str)
def test_conv_transpose2d_matches_pytorch(options, bias):
    x = random_array(2, 4, 5, 6, seed=27)
    w = random_array(4, 3, 3, 2, seed=28)
    groups = options.get("groups", 1)
    arrays = (x, w, random_array(3 * groups, seed=29)) if bias else (x, w)
    compare_with_torch(
        lambda *a: conv_transpose2d(*a, **options),
        lambda *a: F.conv_transpose2d(*a, **options),
        *arrays, atol=1e-10, rtol=1e-10,
    )  # fmt: skip


def test_conv_transpose2d_gradients_match_finite_differences():
    check_gradients(
        lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        random_array(1, 2, 3, 3, seed=30), random_array(2, 2, 3, 2, seed=31), random_array(2, seed=32),
    )  # fmt: skip


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    # <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for every x, y: the transposed conv is conv2d's adjoint.
    x, w, y = random_array(2, 3, 9, 8, seed=33), random_array(4, 3, 3, 3, seed=34), random_array(2, 4, 5, 4, seed=35)
    options = dict(stride=2, padding=1, dilation=1)
    forward = conv2d(cr.tensor(x), cr.tensor(w), **options).data
    backward = conv_transpose2d(cr.tensor(y), cr.tensor(w), output_padding=(0, 1), **options).data
    np.testing.assert_allclose((forward * y).sum(), (x * backward).sum(), rtol=1e-12)


@requires_torch
def test_conv_transpose1d_matches_pytorch():
    x, w, b = random_array(2, 4, 6, seed=36), random_array(4, 2, 3, seed=37), random_array(4, seed=38)
    options = dict(stride=2, padding=1, output_padding=1, groups=2)
    compare_with_torch(
        lambda *a: conv_transpose1d(*a, **options), lambda *a: F.conv_transpose1d(*a, **options), x, w, b,
        atol=1e-10, rtol=1e-10,
    )  # fmt: skip
    compare_with_torch(lambda x, w: conv_transpose1d(x, w), lambda x, w: F.conv_transpose1d(x, w), x[0], w[:, :1])


def test_conv_errors_name_the_op_and_the_shapes():
    x, w = cr.randn(2, 3, 8, 8), cr.randn(4, 3, 3, 3)
    with pytest.raises(
        ShapeError, match=r"conv2d: given groups=1, a weight of shape \(4, 3, 3, 3\) expects an input with 3"
    ):
        conv2d(cr.randn(2, 5, 8, 8), w)
    with pytest.raises(ShapeError, match="conv2d: expected a 4-D input"):
        conv2d(cr.randn(8, 8), w)
    with pytest.raises(ShapeError, match="weight must be 4-D"):
        conv2d(x, cr.randn(4, 3, 3))
    with pytest.raises(ShapeError, match="smaller than the"):
        conv2d(cr.randn(1, 3, 2, 2), w)
    with pytest.raises(ShapeError, match="divisible by groups"):
        conv2d(cr.randn(1, 6, 5, 5), cr.randn(5, 3, 3, 3), groups=2)
    with pytest.raises(ShapeError, match=r"bias must have shape \(4,\)"):
        conv2d(x, w, cr.randn(3))
    with pytest.raises(ArgumentError, match="padding='same' is not supported for strided"):
        conv2d(x, w, padding="same", stride=2)
    with pytest.raises(ArgumentError, match="padding must be an int, a tuple of ints, 'valid' or 'same'"):
        conv2d(x, w, padding="full")
    with pytest.raises(ArgumentError, match="stride must be >= 1"):
        conv2d(x, w, stride=0)
    with pytest.raises(ArgumentError, match="groups must be a positive int"):
        conv2d(x, w, groups=0)
    with pytest.raises(DTypeError, match="same floating dtype"):
        conv2d(x.double(), w)
    with pytest.raises(DTypeError, match="same floating dtype"):
        conv2d(cr.tensor(np.ones((1, 3, 5, 5), dtype=np.int64)), w.long())
    with pytest.raises(ArgumentError, match="output_padding must be smaller than either stride or dilation"):
        conv_transpose2d(x, cr.randn(3, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ShapeError, match="expects an input with 3 channels"):
        conv_transpose2d(cr.randn(1, 4, 5, 5), cr.randn(3, 2, 3, 3))
