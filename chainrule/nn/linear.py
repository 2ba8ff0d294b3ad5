"""Linear (a fully connected layer, y = x W^T + b) and Identity."""

from __future__ import annotations

import math
from typing import Any

from chainrule.creation import empty
from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.linalg import linear
from chainrule.tensor import DTypeLike, Tensor

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged; takes (and ignores) any constructor arguments, as PyTorch's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:  # noqa: A002 (PyTorch's name)
        return input


class Linear(Module):
    """y = x @ weight.T + bias.

    x: (*, in_features) -> y: (*, out_features). weight: (out_features, in_features); bias: (out_features,).
    Initialised as PyTorch: weight by kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in_features),
    1/sqrt(in_features)), and bias from the same range. `device` is accepted for PyTorch's signature ("cpu").
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: DTypeLike = None
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ArgumentError(f"Linear: {name} must be a non-negative int, got {value!r}")
        if device is not None and not str(device).startswith("cpu"):
            raise ArgumentError(f"Linear: chainrule runs on the CPU only, got device {device!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights from PyTorch's default distribution (from chainrule's generator)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        shape = input.shape
        if not shape or shape[-1] != self.in_features:
            raise self._input_error(shape)
        return linear(input, self.weight, self.bias)

    def _input_error(self, shape: tuple[int, ...]) -> ShapeError:
        message = (
            f"{self!r}: expected input of shape (*, {self.in_features}) (in_features={self.in_features} in the "
            f"last dimension), got input of shape {shape_str(shape)}"
        )
        if len(shape) > 2 and math.prod(shape[1:]) == self.in_features:
            message += f"; flatten it to (batch, {self.in_features}) first, e.g. with nn.Flatten()"
        elif shape and shape[0] == self.in_features and len(shape) == 2:
            message += "; the features seem to be in the first dimension: transpose the input"
        return ShapeError(message)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
