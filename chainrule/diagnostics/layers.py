"""The layers the doctor watches: modules that own parameters (for gradient health) and ReLU modules (for dead
units), each under its dotted name from `model.named_modules()`, in the order the forward pass calls them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chainrule.nn.activation import ReLU, ReLU6
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = ["DEAD_UNIT_MODULES", "Layer", "activation_modules", "describe", "parameter_layers"]

# Modules whose units can die: their output is exactly 0 for every negative input, so a unit that never fires gets
# no gradient and never recovers. LeakyReLU, ELU, GELU ... keep a gradient on the negative side and are not listed.
DEAD_UNIT_MODULES: tuple[type, ...] = (ReLU, ReLU6)


@dataclass
class Layer:
    """A module that owns parameters: its dotted name, class name, the parameters that require grad, and their
    total number of elements."""

    name: str
    module: Module
    params: list[Parameter] = field(default_factory=list)
    numel: int = 0

    @property
    def kind(self) -> str:
        return type(self.module).__name__

    @property
    def label(self) -> str:
        return describe(self.name, self.module)


def describe(name: str, module: Any) -> str:
    """ "'2' (Linear)": a layer as the doctor's messages name it; the root module is 'model'."""
    kind = type(module).__name__
    return f"'{name}' ({kind})" if name else f"the model's own forward ({kind})"


def parameter_layers(model: Module) -> list[Layer]:
    """The modules that own parameters requiring grad, in registration order; a shared Parameter belongs to the
    first module that has it."""
    seen: set[int] = set()
    layers = []
    for name, module in model.named_modules():
        params = []
        for param in module._parameters.values():
            if param is None or not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            params.append(param)
        if params:
            layers.append(Layer(name, module, params, sum(p.data.size for p in params)))
    return layers


def activation_modules(model: Module) -> list[tuple[str, Module]]:
    """(name, module) of the ReLU-family modules, whose dead units the doctor counts."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, DEAD_UNIT_MODULES)]


def tensors_in(value: Any) -> Iterable[Tensor]:
    """The Tensors in a forward's arguments or output (a Tensor, or tuples / lists / dicts of them)."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)


def in_call_order(layers: list[Layer], order: list[str]) -> list[Layer]:
    """`layers` sorted by the forward's call order; layers the forward did not call keep their place at the end.
    A layer's forward hook fires when it returns, so a container that owns parameters itself is placed after its
    children; for the usual layers (Linear, Conv, norms) the order is the forward's."""
    rank = {name: i for i, name in enumerate(order)}
    called = sorted((layer for layer in layers if layer.name in rank), key=lambda layer: rank[layer.name])
    return called + [layer for layer in layers if layer.name not in rank]
