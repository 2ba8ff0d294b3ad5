"""Linear and Identity, Flatten and Unflatten: shapes, gradients, PyTorch's values and initialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.errors import ArgumentError, ShapeError
from tests.helpers import check_gradients, random_array, requires_torch, torch


def linear64(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    cr.manual_seed(3)
    return nn.Linear(in_features, out_features, bias=bias, dtype=cr.float64)


@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 5, 3), (1, 1, 3)])
def test_linear_maps_the_last_dimension(shape):
    layer = nn.Linear(3, 2)
    x = cr.randn(*shape)
    out = layer(x)
    assert out.shape == (*shape[:-1], 2) and out.dtype == np.float32
    expected = x.data @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-6)


def test_linear_parameters_shapes_names_and_dtype():
    layer = nn.Linear(5, 7)
    assert layer.weight.shape == (7, 5) and layer.bias.shape == (7,)
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    no_bias = nn.Linear(5, 7, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]
    assert repr(no_bias) == "Linear(in_features=5, out_features=7, bias=False)"
    assert nn.Linear(2, 3, dtype=cr.float64).weight.dtype == np.float64


@pytest.mark.parametrize("shape", [(3, 4), (2, 2, 4), (4,)])
def test_linear_input_gradient_matches_finite_differences(shape):
    layer = linear64(4, 3)
    check_gradients(layer, random_array(*shape, seed=1))
    check_gradients(linear64(4, 2, bias=False), random_array(*shape, seed=2))


def test_linear_parameter_gradients_match_finite_differences():
    layer = linear64(3, 2)
    x = cr.tensor(random_array(4, 3, seed=4), requires_grad=True)
    assert cr.gradcheck(lambda x, weight, bias: layer(x), [x, layer.weight, layer.bias])


@requires_torch
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_pytorch_values_and_gradients(bias):
    theirs = torch.nn.Linear(6, 4, bias=bias).double()
    ours = nn.Linear(6, 4, bias=bias, dtype=cr.float64)
    ours.load_state_dict(theirs.state_dict())
    x = random_array(3, 2, 6, seed=5)
    x_ours, x_theirs = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(x_ours), theirs(x_theirs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = random_array(*out.shape, seed=6)
    (out * cr.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x_ours.grad.data, x_theirs.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(ours.bias.grad.data, theirs.bias.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    cr.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.99 * bound
    # U(-b, b) has std b / sqrt(3)
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(layer.weight.data.mean()) < 0.01 * bound


@requires_torch
def test_linear_default_init_has_pytorchs_spread():
    torch.manual_seed(0)
    cr.manual_seed(0)
    ours, theirs = nn.Linear(300, 200), torch.nn.Linear(300, 200)
    np.testing.assert_allclose(ours.weight.data.std(), theirs.weight.detach().numpy().std(), rtol=0.02)
    np.testing.assert_allclose(np.abs(ours.bias.data).max(), np.abs(theirs.bias.detach().numpy()).max(), rtol=0.05)


def test_linear_init_is_reproducible_by_seed():
    cr.manual_seed(7)
    first = nn.Linear(4, 3)
    cr.manual_seed(7)
    second = nn.Linear(4, 3)
    third = nn.Linear(4, 3)
    np.testing.assert_array_equal(first.weight.data, second.weight.data)
    np.testing.assert_array_equal(first.bias.data, second.bias.data)
    assert not np.array_equal(second.weight.data, third.weight.data)


def test_linear_wrong_feature_count_names_layer_and_shapes():
    layer = nn.Linear(784, 10)
    with pytest.raises(ShapeError) as info:
        layer(cr.zeros(32, 100))
    message = str(info.value)
    assert "Linear(in_features=784, out_features=10, bias=True)" in message
    assert "784" in message and "(32, 100)" in message


def test_linear_error_suggests_flatten_for_image_batches():
    with pytest.raises(ShapeError, match=r"\(8, 1, 28, 28\).*nn.Flatten"):
        nn.Linear(784, 10)(cr.zeros(8, 1, 28, 28))
    with pytest.raises(ShapeError, match=r"got input of shape \(\)"):
        nn.Linear(1, 1)(cr.tensor(1.0))


def test_linear_rejects_bad_sizes():
    with pytest.raises(ArgumentError, match="in_features"):
        nn.Linear(-1, 2)
    with pytest.raises(ArgumentError, match="out_features"):
        nn.Linear(2, 2.5)
    with pytest.raises(ArgumentError, match="CPU"):
        nn.Linear(2, 2, device="cuda")


def test_identity_returns_its_input_and_ignores_arguments():
    x = cr.zeros(2)
    assert nn.Identity(54, unused="argument")(x) is x
    assert list(nn.Identity().parameters()) == []


# -- Flatten / Unflatten --------------------------------------------------------------------------------------
def test_flatten_keeps_the_batch_dimension_by_default():
    x = cr.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Flatten(start_dim=2)(x).shape == (2, 3, 20)


def test_unflatten_splits_a_dimension():
    x = cr.randn(2, 12)
    assert nn.Unflatten(1, (3, 4))(x).shape == (2, 3, 4)
    assert nn.Unflatten(-1, [2, -1])(x).shape == (2, 2, 6)
    with pytest.raises(ArgumentError, match="unflattened_size"):
        nn.Unflatten(1, 12)


def test_flatten_then_unflatten_round_trip_carries_gradients():
    x = cr.randn(2, 3, 4, requires_grad=True)
    y = nn.Unflatten(1, (3, 4))(nn.Flatten()(x))
    np.testing.assert_array_equal(y.data, x.data)
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3, 4), 2, np.float32))


@requires_torch
def test_flatten_modules_repr_and_values_match_pytorch():
    x = random_array(2, 3, 4)
    for ours, theirs in (
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, -2), torch.nn.Flatten(0, -2)),
        (nn.Unflatten(2, (2, 2)), torch.nn.Unflatten(2, (2, 2))),
    ):
        assert repr(ours) == repr(theirs)
        np.testing.assert_array_equal(ours(cr.tensor(x)).data, theirs(torch.tensor(x)).numpy())
