"""Convolution, pooling and upsampling layers: PyTorch's reprs, state_dict keys, initialisation and values, and
shape errors that name the layer."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.errors import ArgumentError, ShapeError
from chainrule.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from chainrule.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    Upsample,
    UpsamplingNearest2d,
)
from tests.helpers import random_array, requires_torch, torch

CONV_LAYERS = [
    ("Conv2d", (1, 6, 5), {}),
    ("Conv2d", (3, 6, (3, 2)), dict(stride=2, padding=1, dilation=2, groups=3, bias=False, padding_mode="reflect")),
    ("Conv2d", (2, 4, 3), dict(padding="same")),
    ("Conv2d", (4, 4, 3), dict(padding="valid", padding_mode="circular")),
    ("Conv2d", (2, 4, 3), dict(padding=(2, 1), padding_mode="replicate")),
    ("Conv1d", (2, 4, 3), dict(stride=2)),
    ("Conv1d", (4, 6, 4), dict(padding="same", dilation=2, groups=2, padding_mode="reflect")),
    ("ConvTranspose2d", (4, 2, 3), dict(stride=2, output_padding=1)),
    ("ConvTranspose2d", (4, 6, (2, 3)), dict(stride=(2, 1), padding=1, groups=2, bias=False, dilation=2)),
    ("ConvTranspose1d", (4, 2, 3), dict(stride=3, padding=1, output_padding=2)),
]
OURS = {"Conv1d": Conv1d, "Conv2d": Conv2d, "ConvTranspose1d": ConvTranspose1d, "ConvTranspose2d": ConvTranspose2d}


def pair(name, args, kwargs):
    """Our layer and PyTorch's, float64, with PyTorch's weights loaded into ours."""
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = OURS[name](*args, **kwargs, dtype=cr.float64)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@requires_torch
@pytest.mark.parametrize(("name", "args", "kwargs"), CONV_LAYERS, ids=lambda v: str(v))
def test_conv_layers_match_pytorch_repr_state_dict_values_and_gradients(name, args, kwargs):
    ours, theirs = pair(name, args, kwargs)
    assert repr(ours) == repr(theirs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    spatial = 1 if name.endswith("1d") else 2
    x = random_array(2, args[0], *(7,) * spatial, seed=1)
    x_ours, x_theirs = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(x_ours), theirs(x_theirs)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    weights = random_array(*out.shape, seed=2)
    (out * cr.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x_ours.grad.data, x_theirs.grad.numpy(), rtol=1e-10, atol=1e-10)
    for (key, param), reference in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(param.grad.data, reference.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=key)


def test_conv_default_init_is_uniform_within_one_over_sqrt_fan_in():
    cr.manual_seed(0)
    for layer, fan_in in (
        (Conv2d(8, 16, 3), 8 * 9),
        (ConvTranspose2d(8, 16, 3, groups=2), 8 * 9),
        (Conv1d(4, 8, 5), 20),
    ):
        bound = 1 / math.sqrt(fan_in)
        for values in (layer.weight.data, layer.bias.data):
            assert np.abs(values).max() <= bound
        assert np.abs(layer.weight.data).max() > 0.95 * bound
        assert layer.weight.dtype == np.float32


def test_conv_parameters_and_attributes_follow_pytorch():
    layer = Conv2d(4, 8, (3, 5), stride=2, groups=2)
    assert layer.weight.shape == (8, 2, 3, 5) and layer.bias.shape == (8,)
    assert (layer.kernel_size, layer.stride, layer.padding, layer.dilation) == ((3, 5), (2, 2), (0, 0), (1, 1))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    transposed = ConvTranspose2d(4, 6, 3, groups=2, bias=False)
    assert transposed.weight.shape == (4, 3, 3, 3) and transposed.bias is None
    assert list(transposed.state_dict()) == ["weight"]


@requires_torch
def test_conv_transpose_output_size_picks_output_padding_as_pytorch():
    ours, theirs = pair("ConvTranspose2d", (3, 2, 3), dict(stride=2, padding=1))
    x = random_array(1, 3, 4, 5, seed=3)
    for size in ((7, 9), (8, 10), (1, 2, 8, 9)):
        out = ours(cr.tensor(x), output_size=size)
        np.testing.assert_allclose(out.data, theirs(torch.tensor(x), output_size=size).detach().numpy(), atol=1e-12)
    with pytest.raises(ShapeError, match="valid sizes for input of shape"):
        ours(cr.tensor(x), output_size=(10, 10))


def test_conv_layer_shape_errors_name_the_layer():
    with pytest.raises(
        ShapeError,
        match=r"^Conv2d\(1, 6, kernel_size=\(5, 5\), stride=\(1, 1\)\): expected input \(N, 1, H, W\) or \(1, H, W\), "
        r"got \(8, 3, 28, 28\)$",
    ):
        Conv2d(1, 6, 5)(cr.randn(8, 3, 28, 28))
    with pytest.raises(
        ShapeError, match=r"^Conv1d\(2, 4, .*expected input \(N, 2, L\) or \(2, L\), got \(3, 5, 2, 9\)"
    ):
        Conv1d(2, 4, 3)(cr.randn(3, 5, 2, 9))
    with pytest.raises(ShapeError, match=r"^MaxPool2d\(kernel_size=2, .*expected input \(N, C, H, W\) or \(C, H, W\)"):
        MaxPool2d(2)(cr.randn(8, 8))


def test_conv_layer_argument_errors():
    with pytest.raises(ArgumentError, match="in_channels \\(3\\) must be divisible by groups \\(2\\)"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ArgumentError, match="padding='same' is not supported for strided convolutions"):
        Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ArgumentError, match="padding_mode must be one of"):
        Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ArgumentError, match='only "zeros" padding mode is supported'):
        ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ArgumentError, match="kernel_size must be an int or a tuple of 2 ints"):
        Conv2d(3, 4, (3, 3, 3))


def test_conv2d_accepts_unbatched_input():
    layer = Conv2d(3, 5, 3, padding=1)
    x = cr.randn(3, 6, 7)
    np.testing.assert_allclose(layer(x).data, layer(x.unsqueeze(0)).data[0], rtol=1e-6)


POOL_LAYERS = [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((2, 3),), dict(stride=1, padding=1, ceil_mode=True)),
    ("MaxPool1d", (3,), dict(stride=2, dilation=2)),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3, 2, 1, True, False, 4), {}),
    ("AvgPool1d", (2,), {}),
    ("AvgPool1d", (3,), dict(stride=1, padding=1, count_include_pad=False)),
    ("AdaptiveAvgPool2d", ((5, None),), {}),
    ("AdaptiveAvgPool2d", (1,), {}),
    ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveMaxPool2d", (2,), {}),
    ("AdaptiveMaxPool1d", (4,), {}),
    ("Upsample", (), dict(scale_factor=2)),
    ("Upsample", (), dict(size=(3, 4))),
    ("Upsample", (), dict(scale_factor=(2, 3), mode="nearest-exact")),
    ("UpsamplingNearest2d", (), dict(scale_factor=2)),
]
POOLS = {
    cls.__name__: cls
    for cls in (
        AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d,
        MaxPool2d, Upsample, UpsamplingNearest2d,
    )
}  # fmt: skip


@requires_torch
@pytest.mark.parametrize(("name", "args", "kwargs"), POOL_LAYERS, ids=lambda v: str(v))
def test_pool_layers_match_pytorch_repr_and_values(name, args, kwargs):
    ours, theirs = POOLS[name](*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {} and len(theirs.state_dict()) == 0
    spatial = 1 if name.endswith("1d") else 2
    x = random_array(2, 3, *(8,) * spatial, seed=4)
    np.testing.assert_allclose(ours(cr.tensor(x)).data, theirs(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_layer_returns_indices_when_asked():
    _, indices = MaxPool2d(2, return_indices=True)(cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4)))
    np.testing.assert_array_equal(indices.data[0, 0], [[5, 7], [13, 15]])
    assert indices.dtype == np.int64 and not indices.requires_grad


@requires_torch
def test_lenet_training_step_matches_pytorch():
    """LeNet-5 built from our layers computes PyTorch's loss and gradients from the same weights."""

    def lenet(lib, conv, pool):
        return lib.Sequential(
            conv(1, 6, 5), lib.ReLU(), pool(2), conv(6, 16, 5), lib.ReLU(), pool(2), lib.Flatten(),
            lib.Linear(256, 120), lib.ReLU(), lib.Linear(120, 84), lib.ReLU(), lib.Linear(84, 10),
        )  # fmt: skip

    theirs = lenet(torch.nn, torch.nn.Conv2d, torch.nn.MaxPool2d).double()
    ours = lenet(nn, Conv2d, MaxPool2d).to(cr.float64)
    ours.load_state_dict(theirs.state_dict())
    x = random_array(4, 1, 28, 28, seed=5)
    y = np.array([3, 1, 4, 1])
    loss = nn.CrossEntropyLoss()(ours(cr.tensor(x)), cr.tensor(y))
    reference = torch.nn.CrossEntropyLoss()(theirs(torch.tensor(x)), torch.tensor(y))
    loss.backward()
    reference.backward()
    np.testing.assert_allclose(loss.item(), reference.item(), rtol=1e-12)
    for (key, param), ref in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(param.grad.data, ref.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=key)
