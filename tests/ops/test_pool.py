"""Pooling and nearest-neighbour resizing against finite differences and PyTorch: max and average pools (with
ties, padding, ceil mode, dilation), adaptive pools, interpolate."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops.conv import conv2d
from chainrule.ops.pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    interpolate,
    max_pool1d,
    max_pool2d,
)
from tests.helpers import check_gradients, compare_with_torch, random_array, requires_torch, torch

if torch is not None:
    import torch.nn.functional as F


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """Values at least 0.1 apart: a max pool's gradient is then smooth, and finite differences are valid."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1 - 1.0


def ties(*shape: int, seed: int = 0) -> np.ndarray:
    """Small integers: many windows hold their maximum more than once (as ReLU's zeros do)."""
    return np.random.default_rng(seed).integers(-1, 2, size=shape).astype(np.float64)


def with_indices(ours, theirs):
    """compare_with_torch's functions for a pool that returns (output, indices): the indices must be equal,
    the output is compared (with its gradient) by the helper."""

    def ours_out(x):
        out, indices = ours(x)
        ours_out.indices = indices.data
        return out

    def theirs_out(x):
        out, indices = theirs(x)
        theirs_out.indices = indices.numpy()
        return out

    return ours_out, theirs_out


MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1),  # overlapping windows: gradients add up
    dict(kernel_size=(3, 2), stride=(2, 1), padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=1, dilation=2),
    dict(kernel_size=(2, 3), stride=2, padding=(1, 1), dilation=(2, 1), ceil_mode=True),
    dict(kernel_size=4, stride=3, ceil_mode=True),
    dict(kernel_size=1, stride=2),
    dict(kernel_size=5, stride=1, padding=2),  # a kernel of more than 2 keeps small-int offsets
]


@requires_torch
@pytest.mark.parametrize("make", [distinct, ties, lambda *s: np.maximum(ties(*s), 0)], ids=["distinct", "ties", "relu"])
@pytest.mark.parametrize("options", MAX_CASES, ids=str)
def test_max_pool2d_matches_pytorch_values_indices_and_gradients(options, make):
    ours, theirs = with_indices(
        lambda x: max_pool2d(x, return_indices=True, **options),
        lambda x: F.max_pool2d(x, return_indices=True, **options),
    )
    compare_with_torch(ours, theirs, make(2, 3, 9, 8), atol=1e-12, rtol=1e-12)
    np.testing.assert_array_equal(ours.indices, theirs.indices)


@pytest.mark.parametrize("options", MAX_CASES[:6], ids=str)
def test_max_pool2d_gradients_match_finite_differences(options):
    check_gradients(lambda x: max_pool2d(x, **options), distinct(1, 2, 7, 6, seed=1))


@requires_torch
def test_max_pool2d_ties_go_to_the_first_maximum_in_row_major_order():
    # Each window holds its maximum at (0, 1) and (1, 0): PyTorch's gradient goes to (0, 1), the first in
    # row-major order (a pool that reduced columns first would pick (1, 0)).
    x = np.array([[0.0, 1.0], [1.0, 0.0]])[None, None]
    x_ours = cr.tensor(x, requires_grad=True)
    max_pool2d(x_ours, 2).backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x_ours.grad.data[0, 0], [[0.0, 1.0], [0.0, 0.0]])
    reference = torch.tensor(x, requires_grad=True)
    F.max_pool2d(reference, 2).backward(torch.ones(1, 1, 1, 1))
    np.testing.assert_array_equal(x_ours.grad.data, reference.grad.numpy())


@requires_torch
def test_max_pool2d_with_nan_and_infinite_gradients_matches_pytorch():
    x = distinct(2, 2, 6, 6, seed=2)
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = x[1, 1, 4, 4] = np.nan
    ours, theirs = with_indices(
        lambda x: max_pool2d(x, 3, 2, return_indices=True), lambda x: F.max_pool2d(x, 3, 2, return_indices=True)
    )
    x_ours, x_theirs = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(x_ours), theirs(x_theirs)
    np.testing.assert_array_equal(out.data, ref.detach().numpy())  # NaN windows are NaN in both
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    grad = np.full(out.shape, np.inf)
    grad[0, 1, 0, 0] = np.nan
    out.backward(grad)
    ref.backward(torch.tensor(grad))
    # Positions that are no window's maximum get exactly 0, even from an infinite or NaN gradient.
    np.testing.assert_array_equal(x_ours.grad.data, x_theirs.grad.numpy())


@requires_torch
@pytest.mark.parametrize("options", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)])
def test_max_pool1d_matches_pytorch(options):
    ours, theirs = with_indices(
        lambda x: max_pool1d(x, return_indices=True, **options),
        lambda x: F.max_pool1d(x, return_indices=True, **options),
    )
    for x in (ties(2, 3, 11), ties(3, 10, seed=1)):
        compare_with_torch(ours, theirs, x, atol=1e-12, rtol=1e-12)
        np.testing.assert_array_equal(ours.indices, theirs.indices)


@requires_torch
def test_max_pool_after_a_conv_matches_pytorch():
    # The pool reads the conv's output in its (C, H, W, N) memory order, and hands its gradient back in it.
    x, w = random_array(3, 2, 10, 10, seed=3), random_array(4, 2, 3, 3, seed=4)
    compare_with_torch(
        lambda x, w: max_pool2d(conv2d(x, w).relu(), 2), lambda x, w: F.max_pool2d(F.conv2d(x, w).relu(), 2), x, w
    )


def test_max_pool2d_keeps_float32_and_accepts_unbatched_input():
    x = cr.randn(3, 8, 8, requires_grad=True)
    out = max_pool2d(x, 2)
    assert out.shape == (3, 4, 4) and out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.data.sum() == 48


AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
]


@requires_torch
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("options", AVG_CASES, ids=str)
def test_avg_pool2d_matches_pytorch(options, count_include_pad):
    f = dict(options, count_include_pad=count_include_pad)
    compare_with_torch(lambda x: avg_pool2d(x, **f), lambda x: F.avg_pool2d(x, **f), random_array(2, 3, 9, 8, seed=5))


@requires_torch
def test_avg_pool2d_divisor_override_and_avg_pool1d_match_pytorch():
    x = random_array(2, 3, 7, 9, seed=6)
    compare_with_torch(
        lambda x: avg_pool2d(x, 3, 2, 1, divisor_override=4), lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=4), x
    )
    for options in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)):
        compare_with_torch(lambda x, o=options: avg_pool1d(x, **o), lambda x, o=options: F.avg_pool1d(x, **o), x[0])


@pytest.mark.parametrize("options", AVG_CASES, ids=str)
def test_avg_pool2d_gradients_match_finite_differences(options):
    check_gradients(lambda x: avg_pool2d(x, count_include_pad=False, **options), random_array(1, 2, 5, 6, seed=7))


@requires_torch
@pytest.mark.parametrize("size", [1, 3, (4, 3), (None, 5), (2, 4), (9, 8), (5, 7)], ids=str)
def test_adaptive_pools_match_pytorch(size):
    x = ties(2, 3, 9, 8, seed=8)
    compare_with_torch(lambda x: adaptive_avg_pool2d(x, size), lambda x: F.adaptive_avg_pool2d(x, size), x)
    ours, theirs = with_indices(
        lambda x: adaptive_max_pool2d(x, size, return_indices=True),
        lambda x: F.adaptive_max_pool2d(x, size, return_indices=True),
    )
    compare_with_torch(ours, theirs, x, atol=1e-12, rtol=1e-12)
    np.testing.assert_array_equal(ours.indices, theirs.indices)


@requires_torch
@pytest.mark.parametrize("size", [1, 3, 4, 7])
def test_adaptive_pools_1d_match_pytorch(size):
    x = ties(2, 3, 8, seed=9)
    compare_with_torch(lambda x: adaptive_avg_pool1d(x, size), lambda x: F.adaptive_avg_pool1d(x, size), x)
    ours, theirs = with_indices(
        lambda x: adaptive_max_pool1d(x, size, return_indices=True),
        lambda x: F.adaptive_max_pool1d(x, size, return_indices=True),
    )
    compare_with_torch(ours, theirs, x, atol=1e-12, rtol=1e-12)
    np.testing.assert_array_equal(ours.indices, theirs.indices)


def test_adaptive_pool_gradients_match_finite_differences():
    x = distinct(1, 2, 7, 5, seed=10)
    for size in ((3, 2), 1, (7, 5)):
        check_gradients(lambda x, s=size: adaptive_avg_pool2d(x, s), x)
        check_gradients(lambda x, s=size: adaptive_max_pool2d(x, s), x)


def test_global_average_pooling_is_the_spatial_mean():
    x = random_array(2, 3, 5, 4, seed=11)
    out = adaptive_avg_pool2d(cr.tensor(x), 1)
    np.testing.assert_allclose(out.data, x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)


INTERPOLATE_CASES = [
    dict(scale_factor=2),
    dict(scale_factor=3),
    dict(scale_factor=1.7),
    dict(size=(5, 13)),
    dict(scale_factor=(0.5, 2.5)),
    dict(size=(18, 16)),
    dict(scale_factor=0.4, recompute_scale_factor=True),
]


@requires_torch
@pytest.mark.parametrize(
    "options",
    [dict(case, mode=mode) for case in INTERPOLATE_CASES for mode in ("nearest", "nearest-exact", "area")
     if not (mode == "area" and "recompute_scale_factor" in case)],  # PyTorch's 'area' refuses recompute_scale_factor
    ids=str,
)  # fmt: skip
def test_interpolate_matches_pytorch(options):
    f = options
    x = random_array(2, 3, 9, 8, seed=12)
    compare_with_torch(lambda x: interpolate(x, **f), lambda x: F.interpolate(x, **f), x)
    f1 = {key: value[0] if isinstance(value, tuple) else value for key, value in f.items()}
    compare_with_torch(lambda x: interpolate(x, **f1), lambda x: F.interpolate(x, **f1), x[:, :, 0])


def test_interpolate_gradients_match_finite_differences():
    x = random_array(1, 2, 3, 4, seed=13)
    for options in (dict(scale_factor=2), dict(size=(5, 3)), dict(scale_factor=1.5, mode="nearest-exact")):
        check_gradients(lambda x, o=options: interpolate(x, **o), x)


def test_nearest_upsampling_by_two_repeats_each_value():
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    out = interpolate(cr.tensor(x), scale_factor=2).data
    np.testing.assert_array_equal(out[0, 0], np.repeat(np.repeat(x[0, 0], 2, axis=0), 2, axis=1))


def test_pool_errors_name_the_op_and_the_argument():
    x = cr.randn(1, 2, 6, 6)
    with pytest.raises(ArgumentError, match="max_pool2d: padding should be at most half of the kernel size"):
        max_pool2d(x, 2, padding=2)
    with pytest.raises(ShapeError, match=r"max_pool2d: the output size .* is too small"):
        max_pool2d(x, 7)
    with pytest.raises(ArgumentError, match="kernel_size must be >= 1"):
        avg_pool2d(x, 0)
    with pytest.raises(ShapeError, match=r"avg_pool2d: expected input \(N, C, H, W\) or \(C, H, W\)"):
        avg_pool2d(cr.randn(6, 6), 2)
    with pytest.raises(DTypeError, match="avg_pool2d: expected a floating-point input"):
        avg_pool2d(cr.ones(1, 1, 4, 4, dtype=cr.int64), 2)
    with pytest.raises(ArgumentError, match="divisor_override must be a non-zero int"):
        avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ArgumentError, match="output_size must be positive ints"):
        adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ArgumentError, match="give exactly one of size and scale_factor"):
        interpolate(x, size=4, scale_factor=2)
    with pytest.raises(ArgumentError, match="mode 'bicubic' is not supported"):
        interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ArgumentError, match="align_corners can only be set"):
        interpolate(x, scale_factor=2, align_corners=True)


def test_max_pool_of_integers_keeps_them():
    x = cr.tensor(np.arange(16).reshape(1, 1, 4, 4))
    out, indices = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out.data[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(indices.data[0, 0], [[5, 7], [13, 15]])
