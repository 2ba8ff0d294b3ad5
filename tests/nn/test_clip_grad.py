"""Gradient clipping (chainrule.nn.utils): total norms and clipped gradients against torch.nn.utils."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, NonFiniteError
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from tests.helpers import requires_torch, torch

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def grads(scale: float, dtype: type = np.float32, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=shape) * scale).astype(dtype) for shape in SHAPES]


def ours_with(arrays: list[np.ndarray | None]) -> list[cr.Tensor]:
    params = []
    for a in arrays:
        p = cr.zeros(*(a.shape if a is not None else (2,)), dtype=a.dtype if a is not None else None)
        p.requires_grad_(True)
        p.grad = None if a is None else cr.tensor(a.copy())
        params.append(p)
    return params


def torch_with(arrays: list[np.ndarray | None]) -> list:
    params = []
    for a in arrays:
        p = torch.zeros(a.shape if a is not None else (2,), dtype=torch.from_numpy(a).dtype if a is not None else None)
        p.grad = None if a is None else torch.from_numpy(a.copy())
        params.append(p)
    return params


@requires_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5, -math.inf])
@pytest.mark.parametrize("scale", [0.01, 1.0, 10.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_matches_torch(norm_type: float, scale: float, dtype: type) -> None:
    arrays = grads(scale, dtype)
    params, theirs = ours_with(arrays), torch_with(arrays)
    total = clip_grad_norm_(params, max_norm=1.5, norm_type=norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.5, norm_type=norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == () and total.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(total.data, their_total.numpy(), rtol=rtol)
    for p, q in zip(params, theirs):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=rtol, atol=1e-30)
        assert p.grad.data.dtype == dtype


def test_clipped_gradients_have_the_max_norm_and_keep_their_direction() -> None:
    arrays = grads(10.0, np.float64)
    params = ours_with(arrays)
    total = clip_grad_norm_(params, max_norm=2.0)
    expected_total = np.sqrt(sum((a**2).sum() for a in arrays))
    np.testing.assert_allclose(float(total), expected_total, rtol=1e-12)
    clipped = np.sqrt(sum((p.grad.data**2).sum() for p in params))
    np.testing.assert_allclose(clipped, 2.0 * expected_total / (expected_total + 1e-6), rtol=1e-12)
    for p, a in zip(params, arrays):
        np.testing.assert_allclose(p.grad.data, a * (2.0 / (expected_total + 1e-6)), rtol=1e-12)


def test_gradients_under_the_max_norm_are_left_untouched_in_place() -> None:
    params = ours_with(grads(0.01))
    before = [p.grad.data for p in params]
    copies = [a.copy() for a in before]
    clip_grad_norm_(params, max_norm=5.0)
    for p, b, c in zip(params, before, copies):
        assert p.grad.data is b
        np.testing.assert_array_equal(b, c)


def test_clipping_scales_the_gradient_arrays_in_place() -> None:
    params = ours_with(grads(10.0))
    before = [p.grad.data for p in params]
    clip_grad_norm_(params, max_norm=0.1)
    assert all(p.grad.data is b for p, b in zip(params, before))


def test_parameters_without_a_gradient_are_skipped_and_a_single_tensor_is_accepted() -> None:
    arrays = grads(10.0, np.float64)
    params = ours_with([arrays[0], None, arrays[1]])
    total = clip_grad_norm_(params, max_norm=1.0, norm_type="inf")
    assert float(total) == pytest.approx(max(np.abs(arrays[0]).max(), np.abs(arrays[1]).max()))
    assert params[1].grad is None
    single = ours_with([arrays[2]])[0]
    total = clip_grad_norm_(single, max_norm=1.0)
    np.testing.assert_allclose(float(total), np.linalg.norm(arrays[2]), rtol=1e-12)


def test_no_gradients_give_a_total_norm_of_zero() -> None:
    params = ours_with([None, None])
    total = clip_grad_norm_(params, max_norm=1.0)
    assert float(total) == 0.0 and total.dtype == np.float32
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((p for p in []), max_norm=1.0)


def test_error_if_nonfinite_names_the_parameters_with_non_finite_gradients() -> None:
    arrays = grads(1.0)
    arrays[2][0, 0, 1] = np.nan
    params = ours_with([arrays[0], None, arrays[1], arrays[2]])
    with pytest.raises(NonFiniteError, match=r"total norm of order 2.0 of the gradients is nan.*parameter 3 \(shape"):
        clip_grad_norm_(params, max_norm=1.0, error_if_nonfinite=True)
    assert not np.isnan(params[0].grad.data).any()  # nothing was scaled


@requires_torch
def test_a_non_finite_norm_without_the_error_scales_like_torch() -> None:
    for bad in (np.nan, np.inf):
        arrays = grads(1.0)
        arrays[0][1, 1] = bad
        params, theirs = ours_with(arrays), torch_with(arrays)
        total = clip_grad_norm_(params, max_norm=1.0)
        their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.0)
        np.testing.assert_array_equal(total.data, their_total.numpy())
        for p, q in zip(params, theirs):
            np.testing.assert_array_equal(p.grad.data, q.grad.numpy())


@requires_torch
def test_get_total_norm_and_clip_grads_with_norm_match_torch() -> None:
    arrays = grads(3.0)
    params, theirs = ours_with(arrays), torch_with(arrays)
    total = get_total_norm([p.grad for p in params], norm_type=2.0)
    their_total = torch.nn.utils.get_total_norm([q.grad for q in theirs], norm_type=2.0)
    np.testing.assert_allclose(total.data, their_total.numpy(), rtol=1e-6)
    clip_grads_with_norm_(params, 1.0, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 1.0, their_total)
    for p, q in zip(params, theirs):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("clip_value", [0.0, 0.3, 5.0])
def test_clip_grad_value_matches_torch(clip_value: float) -> None:
    arrays = grads(1.0)
    arrays[1][2] = np.nan
    params, theirs = ours_with([*arrays, None]), torch_with([*arrays, None])
    before = [p.grad.data for p in params[:-1]]
    clip_grad_value_(params, clip_value)
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q, b in zip(params, theirs, before):
        assert p.grad.data is b
        np.testing.assert_array_equal(p.grad.data, q.grad.numpy())
    assert params[-1].grad is None


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda ps: clip_grad_norm_(ps, max_norm=-1.0), "clip_grad_norm_: max_norm must be a number >= 0, got -1.0"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="l2"), "norm_type must be a number (p of the p-norm) or inf"),
        (lambda ps: clip_grad_norm_(3.0, 1.0), "expected a Tensor or an iterable of Tensors as parameters, got float"),
        (lambda ps: clip_grad_norm_([ps[0], 1.0], 1.0), "clip_grad_norm_: parameters[1] is a float, not a Tensor"),
        (lambda ps: clip_grad_value_(ps, -0.5), "clip_grad_value_: clip_value must be a number >= 0, got -0.5"),
    ],
)
def test_bad_arguments_raise_argument_error(call: object, needle: str) -> None:
    params = ours_with(grads(1.0))
    with pytest.raises(ArgumentError) as error:
        call(params)
    assert needle in str(error.value)
