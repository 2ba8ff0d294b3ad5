"""batch_norm, layer_norm and group_norm: values against the NumPy formula and PyTorch, gradients against finite
differences and PyTorch (training and evaluation, with and without weight and bias), running statistics, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops.norm import batch_norm, group_norm, layer_norm
from tests.helpers import check_gradients, compare_with_torch, random_array, requires_torch, torch

BN_SHAPES = [(5, 3), (4, 3, 2), (2, 3, 2, 3), (2, 3, 1, 2, 2)]
BN_IDS = ["N,C", "N,C,L", "N,C,H,W", "N,C,D,H,W"]


def _stats(channels: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    return random_array(channels, seed=seed), random_array(channels, seed=seed + 1, low=0.5, high=2.0)


def _reference_normalize(x: np.ndarray, axes: tuple[int, ...], eps: float = 1e-5) -> np.ndarray:
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


# -- batch_norm ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", BN_SHAPES, ids=BN_IDS)
def test_batch_norm_training_forward_matches_the_formula(shape):
    x = random_array(*shape, seed=1)
    weight, bias = random_array(3, seed=2), random_array(3, seed=3)
    out = batch_norm(cr.tensor(x), None, None, cr.tensor(weight), cr.tensor(bias), training=True)
    axes = (0, *range(2, len(shape)))
    view = (1, 3) + (1,) * (len(shape) - 2)
    expected = _reference_normalize(x, axes) * weight.reshape(view) + bias.reshape(view)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", BN_SHAPES, ids=BN_IDS)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_gradients_match_finite_differences(shape, affine):
    x = random_array(*shape, seed=4)
    if affine:
        check_gradients(
            lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
            x,
            random_array(3, seed=5),
            random_array(3, seed=6),
        )
    else:
        check_gradients(lambda x: batch_norm(x, None, None, training=True), x)


@pytest.mark.parametrize("shape", BN_SHAPES[:3], ids=BN_IDS[:3])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_gradients_match_finite_differences(shape, affine):
    mean, var = _stats(3)
    running_mean, running_var = cr.tensor(mean), cr.tensor(var)
    x = random_array(*shape, seed=8)
    if affine:
        check_gradients(
            lambda x, w, b: batch_norm(x, running_mean, running_var, w, b, training=False),
            x,
            random_array(3, seed=9),
            random_array(3, seed=10),
        )
    else:
        check_gradients(lambda x: batch_norm(x, running_mean, running_var), x)


def test_batch_norm_gradients_with_only_weight_or_only_bias():
    x = random_array(4, 3, 2, seed=11)
    check_gradients(lambda x, w: batch_norm(x, None, None, w, None, training=True), x, random_array(3, seed=12))
    check_gradients(lambda x, b: batch_norm(x, None, None, None, b, training=True), x, random_array(3, seed=13))


@requires_torch
@pytest.mark.parametrize("shape", BN_SHAPES, ids=BN_IDS)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(shape, training):
    mean, var = _stats(3)
    ours_stats = (cr.tensor(mean), cr.tensor(var))
    theirs_stats = (torch.tensor(mean), torch.tensor(var))
    compare_with_torch(
        lambda x, w, b: batch_norm(x, *ours_stats, w, b, training, 0.2, 1e-3),
        lambda x, w, b: torch.nn.functional.batch_norm(x, *theirs_stats, w, b, training, 0.2, 1e-3),
        random_array(*shape, seed=14),
        random_array(3, seed=15),
        random_array(3, seed=16),
        atol=1e-12,
    )
    np.testing.assert_allclose(ours_stats[0].data, theirs_stats[0].numpy(), rtol=1e-13)
    np.testing.assert_allclose(ours_stats[1].data, theirs_stats[1].numpy(), rtol=1e-13)


@requires_torch
def test_batch_norm_running_statistics_follow_torch_over_several_steps():
    ours = (cr.zeros(4, dtype=cr.float64), cr.ones(4, dtype=cr.float64))
    theirs = (torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))
    for step in range(5):
        x = random_array(6, 4, 3, seed=20 + step, low=-1, high=3)
        batch_norm(cr.tensor(x), *ours, training=True, momentum=0.3)
        torch.nn.functional.batch_norm(torch.tensor(x), *theirs, training=True, momentum=0.3)
    np.testing.assert_allclose(ours[0].data, theirs[0].numpy(), rtol=1e-13)
    np.testing.assert_allclose(ours[1].data, theirs[1].numpy(), rtol=1e-13)
    # the running variance is the unbiased one: after one step with momentum 1 it equals var(ddof=1)
    x = random_array(5, 4, seed=30)
    running_var = cr.ones(4, dtype=cr.float64)
    batch_norm(cr.tensor(x), None, running_var, training=True, momentum=1.0)
    np.testing.assert_allclose(running_var.data, x.var(axis=0, ddof=1), rtol=1e-13)


def test_batch_norm_eval_uses_running_statistics_and_leaves_them_alone():
    x = random_array(4, 3, 5, seed=31)
    mean, var = _stats(3)
    running_mean, running_var = cr.tensor(mean), cr.tensor(var)
    out = batch_norm(cr.tensor(x), running_mean, running_var, training=False, eps=1e-5)
    expected = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    np.testing.assert_array_equal(running_mean.data, mean)
    np.testing.assert_array_equal(running_var.data, var)


def test_batch_norm_keeps_float32_and_fills_no_gradient_it_was_not_asked_for():
    x = cr.randn(8, 3, 4)
    weight = cr.ones(3, requires_grad=True)
    bias = cr.zeros(3)
    running_mean, running_var = cr.zeros(3), cr.ones(3)
    out = batch_norm(x, running_mean, running_var, weight, bias, training=True)
    assert out.dtype == np.float32 and running_mean.dtype == np.float32 and running_var.dtype == np.float32
    out.sum().backward()
    assert x.grad is None and bias.grad is None
    assert weight.grad.dtype == np.float32 and weight.grad.shape == (3,)


def test_batch_norm_errors_name_the_problem():
    x = cr.randn(4, 3)
    with pytest.raises(ArgumentError, match="running_mean must be given in evaluation mode"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ArgumentError, match="more than 1 value per channel"):
        batch_norm(cr.randn(1, 3), None, None, training=True)
    with pytest.raises(ShapeError, match=r"weight must have shape \(3\), got \(4\)"):
        batch_norm(x, None, None, cr.ones(4), training=True)
    with pytest.raises(ShapeError, match=r"running_mean must have shape \(3\)"):
        batch_norm(x, cr.zeros(2), cr.ones(3))
    with pytest.raises(ShapeError, match=r"expected input of shape \(N, C\)"):
        batch_norm(cr.randn(3), None, None, training=True)
    with pytest.raises(DTypeError, match="float64"):
        batch_norm(x, None, None, cr.ones(3, dtype=cr.float64), training=True)
    with pytest.raises(DTypeError, match="floating-point input"):
        batch_norm(cr.tensor([[1, 2], [3, 4]]), None, None, training=True)


# -- layer_norm ---------------------------------------------------------------------------------------------
LN_CASES = [((4, 5), 5), ((2, 3, 4), (3, 4)), ((3, 4), [4]), ((6,), 6), ((2, 1, 3), (1, 3))]
LN_IDS = ["2d-int", "3d-two-dims", "list", "1d", "size-1-dim"]


@pytest.mark.parametrize(("shape", "normalized_shape"), LN_CASES, ids=LN_IDS)
def test_layer_norm_forward_matches_the_formula(shape, normalized_shape):
    x = random_array(*shape, seed=40)
    trailing = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    weight, bias = random_array(*trailing, seed=41), random_array(*trailing, seed=42)
    out = layer_norm(cr.tensor(x), normalized_shape, cr.tensor(weight), cr.tensor(bias))
    axes = tuple(range(len(shape) - len(trailing), len(shape)))
    np.testing.assert_allclose(out.data, _reference_normalize(x, axes) * weight + bias, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("shape", "normalized_shape"), LN_CASES, ids=LN_IDS)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_gradients_match_finite_differences(shape, normalized_shape, affine):
    x = random_array(*shape, seed=43)
    trailing = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if affine:
        check_gradients(
            lambda x, w, b: layer_norm(x, normalized_shape, w, b),
            x,
            random_array(*trailing, seed=44),
            random_array(*trailing, seed=45),
        )
    else:
        check_gradients(lambda x: layer_norm(x, normalized_shape), x)


@requires_torch
@pytest.mark.parametrize(("shape", "normalized_shape"), LN_CASES, ids=LN_IDS)
def test_layer_norm_matches_torch(shape, normalized_shape):
    trailing = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    compare_with_torch(
        lambda x, w, b: layer_norm(x, normalized_shape, w, b, eps=1e-3),
        lambda x, w, b: torch.nn.functional.layer_norm(x, trailing, w, b, eps=1e-3),
        random_array(*shape, seed=46),
        random_array(*trailing, seed=47),
        random_array(*trailing, seed=48),
        atol=1e-12,
    )


def test_layer_norm_errors_name_the_expected_trailing_shape():
    with pytest.raises(ShapeError, match=r"expected input of shape \(\*, 4\).*got \(3, 5\)"):
        layer_norm(cr.randn(3, 5), 4)
    with pytest.raises(ShapeError, match=r"weight must have shape \(4\)"):
        layer_norm(cr.randn(3, 4), 4, cr.ones(5))
    with pytest.raises(ArgumentError, match="normalized_shape"):
        layer_norm(cr.randn(3, 4), "4")


# -- group_norm ---------------------------------------------------------------------------------------------
GN_CASES = [((2, 4, 3), 2), ((2, 6, 2, 2), 3), ((3, 4), 2), ((2, 4, 3), 1), ((2, 4, 3), 4)]
GN_IDS = ["N,C,L", "N,C,H,W", "N,C", "one-group", "group-per-channel"]


@pytest.mark.parametrize(("shape", "groups"), GN_CASES, ids=GN_IDS)
def test_group_norm_forward_matches_the_formula(shape, groups):
    x = random_array(*shape, seed=50)
    channels = shape[1]
    weight, bias = random_array(channels, seed=51), random_array(channels, seed=52)
    out = group_norm(cr.tensor(x), groups, cr.tensor(weight), cr.tensor(bias))
    grouped = x.reshape(shape[0], groups, -1)
    expected = _reference_normalize(grouped, (2,)).reshape(shape)
    view = (1, channels) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(out.data, expected * weight.reshape(view) + bias.reshape(view), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("shape", "groups"), GN_CASES, ids=GN_IDS)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_gradients_match_finite_differences(shape, groups, affine):
    x = random_array(*shape, seed=53)
    if affine:
        channels = shape[1]
        check_gradients(
            lambda x, w, b: group_norm(x, groups, w, b),
            x,
            random_array(channels, seed=54),
            random_array(channels, seed=55),
        )
    else:
        check_gradients(lambda x: group_norm(x, groups), x)


@requires_torch
@pytest.mark.parametrize(("shape", "groups"), GN_CASES, ids=GN_IDS)
def test_group_norm_matches_torch(shape, groups):
    channels = shape[1]
    compare_with_torch(
        lambda x, w, b: group_norm(x, groups, w, b, eps=1e-4),
        lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b, eps=1e-4),
        random_array(*shape, seed=56),
        random_array(channels, seed=57),
        random_array(channels, seed=58),
        atol=1e-12,
    )


def test_group_norm_errors_name_channels_and_groups():
    with pytest.raises(ShapeError, match=r"channels of the input \(6.*divisible by num_groups=4"):
        group_norm(cr.randn(2, 6, 3), 4)
    with pytest.raises(ArgumentError, match="num_groups must be a positive int"):
        group_norm(cr.randn(2, 6, 3), 0)
    with pytest.raises(ShapeError, match=r"\(N, C, \*\)"):
        group_norm(cr.randn(6), 2)


@requires_torch
def test_float32_normalization_agrees_with_torch_to_float32_precision():
    x = random_array(8, 6, 5, 5, seed=60).astype(np.float32)
    weight = random_array(6, seed=61).astype(np.float32)
    bias = random_array(6, seed=62).astype(np.float32)
    cases = [
        (
            lambda x, w, b: batch_norm(x, None, None, w, b, True),
            lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, True),
        ),
        (lambda x, w, b: group_norm(x, 3, w, b), lambda x, w, b: torch.nn.functional.group_norm(x, 3, w, b)),
    ]
    for ours, theirs in cases:
        compare_with_torch(ours, theirs, x, weight, bias, atol=2e-4, rtol=1e-4)
    compare_with_torch(
        lambda x: layer_norm(x, (5, 5)), lambda x: torch.nn.functional.layer_norm(x, (5, 5)), x, atol=2e-4, rtol=1e-4
    )
