"""Small networks and data that go wrong on purpose, one per problem the doctor names."""

from __future__ import annotations

import itertools

import numpy as np

import chainrule as cr
from chainrule import nn


def blobs(n: int = 256, features: int = 16, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs and random class labels (nothing to learn but memorisation)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, classes, n)


def xor_data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points of the plane labelled by the sign of x0 * x1: learnable, but not by a linear model."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    return x, ((x[:, 0] * x[:, 1]) > 0).astype(np.float32)[:, None]


def mlp(sizes: list[int], activation: type = nn.ReLU, seed: int = 0) -> nn.Sequential:
    cr.manual_seed(seed)
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def deep_sigmoid(depth: int = 20, width: int = 32, features: int = 64, classes: int = 10) -> nn.Sequential:
    """`depth` Linear layers with sigmoids between them: the textbook case of vanishing gradients."""
    return mlp([features] + [width] * (depth - 1) + [classes], nn.Sigmoid)


def scaled_relu(depth: int = 10, scale: float = 4.0, width: int = 32, features: int = 16, classes: int = 4):
    """A deep ReLU MLP with He init times `scale`: each layer multiplies the backpropagated gradient by about
    `scale`, so it explodes towards the input."""
    model = mlp([features] + [width] * (depth - 1) + [classes])
    with cr.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight)
                module.weight.mul_(scale)
                module.bias.zero_()
    return model


def zero_initialised(model: nn.Module) -> nn.Module:
    with cr.no_grad():
        for param in model.parameters():
            param.zero_()
    return model


class RowNormalize(nn.Module):
    """x / sum(|x|) per row: a 0/0 (NaN) for a row of zeros."""

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x / x.abs().sum(dim=1, keepdim=True)


class SqrtOfZero(nn.Module):
    """x + sqrt(0 * x): the forward is x, finite, but sqrt's derivative at 0 is infinite and the chain rule
    multiplies it by 0: NaN, in PyTorch as here. (sqrt(relu(x)) is no such case: ReLU's backward drops the
    infinite gradient at 0 to exactly 0, as PyTorch's does.)"""

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return x + (x * 0.0).sqrt()


def weights_of(model: nn.Module) -> dict[str, np.ndarray]:
    return {key: value.data.copy() for key, value in model.state_dict().items()}


def same_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> bool:
    return all(np.array_equal(value.data, weights[key]) for key, value in model.state_dict().items())
