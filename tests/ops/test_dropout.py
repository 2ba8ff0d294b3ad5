"""dropout and the channel-wise dropout1d/2d/3d: the fraction dropped, the scaling, reproducibility from the seed,
the gradient (the same mask), the identity cases, and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.ops.dropout import dropout, dropout1d, dropout2d, dropout3d
from chainrule.random import Generator


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest_by_one_over_one_minus_p(p):
    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(1).uniform(1, 2, size=(200, 500)))
    out = dropout(x, p)
    dropped = out.data == 0
    # 100,000 Bernoulli(p) draws: the fraction is within 5 standard deviations of p
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / dropped.size)
    np.testing.assert_allclose(out.data[~dropped], x.data[~dropped] / (1 - p), rtol=1e-15)
    assert abs(out.data.mean() / x.data.mean() - 1) < 0.02  # the expectation is preserved


def test_dropout_is_reproducible_from_the_seed_and_varies_between_calls():
    x = cr.ones(50, 40)
    cr.manual_seed(123)
    first, second = dropout(x).data, dropout(x).data
    cr.manual_seed(123)
    np.testing.assert_array_equal(dropout(x).data, first)
    np.testing.assert_array_equal(dropout(x).data, second)
    assert not np.array_equal(first, second)


def test_dropout_with_its_own_generator_leaves_the_default_one_alone():
    x = cr.ones(30, 30)
    cr.manual_seed(5)
    expected_default = dropout(x).data
    cr.manual_seed(5)
    a = dropout(x, generator=Generator(9)).data
    b = dropout(x, generator=Generator(9)).data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dropout(x).data, expected_default)


def test_dropout_gradient_is_the_same_mask():
    cr.manual_seed(2)
    x = cr.tensor(np.random.default_rng(3).uniform(1, 2, size=(20, 30)), requires_grad=True)
    out = dropout(x, 0.3)
    upstream = np.random.default_rng(4).uniform(-1, 1, size=out.shape)
    out.backward(upstream)
    mask = out.data / x.data
    np.testing.assert_allclose(x.grad.data, upstream * mask, rtol=1e-15)
    assert set(np.unique(np.round(mask, 12))) <= {0.0, round(1 / 0.7, 12)}


@pytest.mark.parametrize("dtype", [cr.float32, cr.float64, cr.float16])
def test_dropout_keeps_the_dtype(dtype):
    x = cr.ones(10, 10, dtype=dtype, requires_grad=True)
    out = dropout(x, 0.5)
    assert out.dtype == dtype
    out.sum().backward()
    assert x.grad.dtype == dtype


def test_dropout_identity_cases_return_the_input_itself():
    x = cr.randn(4, 5, requires_grad=True)
    assert dropout(x, 0.0) is x
    assert dropout(x, 0.7, training=False) is x
    assert dropout2d(cr.randn(2, 3, 4, 4), 0.5, training=False).shape == (2, 3, 4, 4)


def test_dropout_with_p_one_gives_zeros_and_a_zero_gradient():
    x = cr.randn(3, 4, requires_grad=True)
    out = dropout(x, 1.0)
    np.testing.assert_array_equal(out.data, np.zeros((3, 4), dtype=np.float32))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros((3, 4), dtype=np.float32))


def test_dropout_inplace_overwrites_the_input_when_no_graph_is_recorded():
    cr.manual_seed(0)
    x = cr.ones(10, 10)
    out = dropout(x, 0.5, inplace=True)
    assert out is x and (x.data == 0).any() and (x.data == 2).any()
    recorded = cr.ones(10, 10, requires_grad=True)
    out = dropout(recorded, 0.5, inplace=True)
    assert out is not recorded and (recorded.data == 1).all()


@pytest.mark.parametrize("p", [-0.1, 1.5, "half", None])
def test_dropout_rejects_a_probability_outside_zero_one(p):
    with pytest.raises(ArgumentError, match="dropout probability has to be between 0 and 1"):
        dropout(cr.ones(3), p)


def test_dropout_rejects_integer_input():
    with pytest.raises(DTypeError, match="floating-point"):
        dropout(cr.tensor([1, 2, 3]))


def _assert_whole_channels(out: np.ndarray, x: np.ndarray, p: float, lead: int) -> None:
    channels = out.reshape(*out.shape[:lead], -1)
    inputs = x.reshape(*x.shape[:lead], -1)
    dropped = (channels == 0).all(axis=-1)
    kept = np.isclose(channels, inputs / (1 - p), rtol=1e-6).all(axis=-1)
    assert (dropped | kept).all()
    assert dropped.any() and kept.any()


def test_dropout2d_drops_whole_channels_of_a_batch():
    cr.manual_seed(1)
    x = cr.tensor(np.random.default_rng(0).uniform(1, 2, size=(8, 16, 3, 3)), requires_grad=True)
    out = dropout2d(x, 0.5)
    _assert_whole_channels(out.data, x.data, 0.5, lead=2)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, out.data / x.data, rtol=1e-12)


def test_dropout1d_and_dropout3d_handle_batched_and_unbatched_inputs():
    cr.manual_seed(2)
    rng = np.random.default_rng(5)
    for fn, shape, lead in [
        (dropout1d, (8, 16, 5), 2),
        (dropout1d, (32, 5), 1),
        (dropout3d, (4, 16, 2, 2, 2), 2),
        (dropout3d, (32, 2, 2, 2), 1),
    ]:
        x = rng.uniform(1, 2, size=shape)
        _assert_whole_channels(fn(cr.tensor(x), 0.5).data, x, 0.5, lead)


def test_dropout2d_reads_a_3d_input_as_batch_channels_length_with_a_warning():
    cr.manual_seed(3)
    x = np.random.default_rng(6).uniform(1, 2, size=(8, 16, 5))
    with pytest.warns(UserWarning, match="3-D input"):
        out = dropout2d(cr.tensor(x), 0.5)
    _assert_whole_channels(out.data, x, 0.5, lead=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dropout2d(cr.ones(2, 3, 4, 4))  # the (N, C, H, W) layout does not warn


def test_dropout1d_rejects_other_ranks():
    with pytest.raises(ShapeError, match=r"dropout1d: expected input of shape \(N, C, L\) or \(C, L\)"):
        dropout1d(cr.ones(2, 3, 4, 5))
