"""nn.init: PyTorch's gain table and fan rules, the distributions' ranges and spreads, in-place filling and
reproducibility through chainrule's generator."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from chainrule.nn import init
from tests.helpers import requires_torch, torch

NONLINEARITIES = [
    ("linear", None),
    ("conv1d", None),
    ("conv2d", None),
    ("conv3d", None),
    ("conv_transpose1d", None),
    ("conv_transpose2d", None),
    ("conv_transpose3d", None),
    ("sigmoid", None),
    ("tanh", None),
    ("relu", None),
    ("leaky_relu", None),
    ("leaky_relu", 0.2),
    ("leaky_relu", 0),
    ("leaky_relu", 3),
    ("selu", None),
]
SHAPES = [(30, 20), (8, 3, 5, 5), (6, 4, 3), (5, 2, 2, 3, 3)]


@pytest.fixture(autouse=True)
def seeded():
    """The statistical checks below run on fixed draws, so they cannot flake."""
    cr.manual_seed(2024)


def big(*shape: int, dtype=cr.float32) -> cr.Tensor:
    return cr.empty(*shape, dtype=dtype)


# -- gain and fans -----------------------------------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("nonlinearity, param", NONLINEARITIES)
def test_gain_table_equals_pytorch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_gain_rejects_unknown_names_and_bad_slopes():
    with pytest.raises(ArgumentError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ArgumentError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


@requires_torch
@pytest.mark.parametrize("shape", SHAPES)
def test_fan_in_and_fan_out_equal_pytorch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == expected


def test_fans_need_two_dimensions_and_a_known_mode():
    with pytest.raises(ShapeError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(cr.empty(5))
    with pytest.raises(ArgumentError, match="fan_avg"):
        init.kaiming_uniform_(cr.empty(3, 3), mode="fan_avg")


# -- distributions ---------------------------------------------------------------------------------------------
def test_uniform_and_normal_fill_with_the_requested_distribution():
    t = init.uniform_(big(200, 500), -3.0, 5.0)
    assert t.data.min() >= -3.0 and t.data.max() < 5.0
    assert abs(t.data.mean() - 1.0) < 0.02 and abs(t.data.std() - 8 / math.sqrt(12)) < 0.02
    t = init.normal_(big(200, 500), 2.0, 0.5)
    assert abs(t.data.mean() - 2.0) < 0.01 and abs(t.data.std() - 0.5) < 0.01
    with pytest.raises(ArgumentError, match="std"):
        init.normal_(big(2), std=-1.0)
    with pytest.raises(ArgumentError, match="a <= b"):
        init.uniform_(big(2), 1.0, 0.0)


@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_xavier_bounds_and_spread(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(cr.empty(*shape))
    std = 1.5 * math.sqrt(2 / (fan_in + fan_out))
    t = init.xavier_uniform_(big(*shape), gain=1.5)
    assert np.abs(t.data).max() <= math.sqrt(3) * std
    assert abs(t.data.std() - std) < 0.02 * std
    t = init.xavier_normal_(big(*shape), gain=1.5)
    assert abs(t.data.std() - std) < 0.02 * std and abs(t.data.mean()) < 0.02 * std


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "FAN_OUT"])
@pytest.mark.parametrize("nonlinearity, a", [("relu", 0), ("leaky_relu", 0.1), ("tanh", 0)])
def test_kaiming_bounds_and_spread(mode, nonlinearity, a):
    shape = (128, 64, 3, 3)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(cr.empty(*shape))
    fan = fan_in if mode.lower() == "fan_in" else fan_out
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    t = init.kaiming_uniform_(big(*shape), a=a, mode=mode, nonlinearity=nonlinearity)
    assert np.abs(t.data).max() <= math.sqrt(3) * std
    assert abs(t.data.std() - std) < 0.02 * std
    t = init.kaiming_normal_(big(*shape), a=a, mode=mode, nonlinearity=nonlinearity)
    assert abs(t.data.std() - std) < 0.02 * std


def test_kaiming_on_an_empty_tensor_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(cr.empty(0, 3))


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, -1.0, 2.0), (0.0, 0.02, -0.04, 0.04)])
def test_trunc_normal_stays_in_bounds_with_the_truncated_moments(mean, std, a, b):
    values = init.trunc_normal_(big(400, 500, dtype=cr.float64), mean, std, a, b).data
    assert values.min() >= a and values.max() <= b
    # the mean and variance of N(mean, std^2) truncated to [a, b], in closed form
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    mass = 0.5 * (math.erf(beta / math.sqrt(2)) - math.erf(alpha / math.sqrt(2)))
    shift = (pdf(alpha) - pdf(beta)) / mass
    expected_mean = mean + std * shift
    expected_std = std * math.sqrt(1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - shift**2)
    assert abs(values.mean() - expected_mean) < 0.01 * expected_std
    assert abs(values.std() - expected_std) < 0.01 * expected_std


def test_trunc_normal_handles_far_tails_and_checks_arguments():
    with pytest.warns(UserWarning, match="more than 2 std"):
        t = init.trunc_normal_(big(1000, dtype=cr.float64), mean=0.0, std=1.0, a=5.0, b=6.0)
    assert np.all((t.data >= 5.0) & (t.data <= 6.0))
    # the density falls like exp(-x^2/2) past 5: most values sit near the lower bound, but spread out
    assert 5.1 < np.mean(t.data) < 5.3 and np.unique(t.data).size == t.data.size
    with pytest.raises(ArgumentError, match="a < b"):
        init.trunc_normal_(big(3), a=1.0, b=0.0)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (8, 2, 3, 3), (5, 5)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    t = init.orthogonal_(big(*shape, dtype=cr.float64), gain=2.0)
    flat = t.data.reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-10)
    with pytest.raises(ShapeError, match="2 or more"):
        init.orthogonal_(big(3))


@requires_torch
def test_constant_fills_equal_pytorch():
    cases = [
        (lambda t: init.constant_(t, 0.25), lambda t: torch.nn.init.constant_(t, 0.25), (3, 4)),
        (init.zeros_, torch.nn.init.zeros_, (3, 4)),
        (init.ones_, torch.nn.init.ones_, (2, 5)),
        (init.eye_, torch.nn.init.eye_, (3, 5)),
        (init.dirac_, torch.nn.init.dirac_, (4, 3, 3, 3)),
        (lambda t: init.dirac_(t, 2), lambda t: torch.nn.init.dirac_(t, 2), (4, 2, 3)),
    ]
    for ours, theirs, shape in cases:
        np.testing.assert_array_equal(ours(cr.randn(*shape)).data, theirs(torch.randn(shape)).numpy())
    with pytest.raises(ShapeError, match="2-D"):
        init.eye_(cr.empty(2, 2, 2))


# -- in place, dtype, reproducibility --------------------------------------------------------------------------
def test_init_fills_in_place_and_returns_the_tensor():
    layer = nn.Linear(10, 5)
    weight, array = layer.weight, layer.weight.data
    assert init.xavier_normal_(weight) is weight
    assert weight.data is array and weight.is_leaf and weight.requires_grad and weight.grad is None
    assert weight.dtype == np.float32
    assert init.uniform_(nn.Parameter(cr.empty(3, dtype=cr.float64))).dtype == np.float64


def test_init_draws_from_the_seeded_default_generator():
    draws = []
    for _ in range(2):
        cr.manual_seed(123)
        draws.append(
            [
                init.uniform_(big(5)).data.copy(),
                init.kaiming_normal_(big(4, 3)).data.copy(),
                init.trunc_normal_(big(6)).data.copy(),
                init.orthogonal_(big(3, 3)).data.copy(),
            ]
        )
    for first, second in zip(*draws):
        np.testing.assert_array_equal(first, second)


def test_generator_argument_is_independent_of_the_default_one():
    cr.manual_seed(0)
    expected = init.normal_(big(5)).data.copy()
    cr.manual_seed(0)
    own = init.normal_(big(5), generator=cr.Generator(99)).data.copy()
    np.testing.assert_array_equal(init.normal_(big(5)).data, expected)  # the default one was not advanced
    np.testing.assert_array_equal(own, init.normal_(big(5), generator=cr.Generator(99)).data)


def test_random_init_refuses_integer_tensors_and_non_tensors():
    with pytest.raises(DTypeError, match="floating-point"):
        init.normal_(cr.zeros(3, dtype=cr.int64))
    with pytest.raises(ArgumentError, match="Tensor"):
        init.zeros_([1.0, 2.0])
    assert init.ones_(cr.zeros(2, dtype=cr.int64)).data.tolist() == [1, 1]


def test_non_contiguous_and_half_tensors_are_filled():
    array = np.zeros((4, 6), dtype=np.float32)
    view = cr.from_numpy(array[:, ::2])
    init.uniform_(view, 1.0, 2.0)
    assert np.all((array[:, ::2] >= 1.0) & (array[:, ::2] < 2.0)) and np.all(array[:, 1::2] == 0)
    half = init.normal_(cr.zeros(100, dtype=cr.float16))
    assert half.dtype == np.float16 and half.data.std() > 0.5
