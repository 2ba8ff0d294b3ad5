"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, with PyTorch's constructor arguments,
attributes, reprs, state_dict keys ("weight", "bias") and default initialisation.

Weights: Conv (out_channels, in_channels/groups, *kernel_size); ConvTranspose (in_channels,
out_channels/groups, *kernel_size). Both are initialised as PyTorch's: kaiming_uniform_(a=sqrt(5)) on the
weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range, where fan_in = weight.shape[1]
* prod(kernel_size) (so out_channels/groups * prod(kernel_size) for a transposed convolution, as in PyTorch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.creation import empty
from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, ntuple
from chainrule.ops.shape import pad
from chainrule.tensor import DTypeLike, Tensor

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _positive_int(value: Any, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ArgumentError(f"{layer}: {name} must be a positive int, got {value!r}")
    return value


class _ConvNd(Module):
    """What the convolution layers share: arguments, parameters, initialisation, repr, the input check."""

    _spatial = 2
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        output_padding: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any,
        dtype: DTypeLike,
    ) -> None:
        super().__init__()
        layer = type(self).__name__
        n = self._spatial
        in_channels = _positive_int(in_channels, "in_channels", layer)
        out_channels = _positive_int(out_channels, "out_channels", layer)
        groups = _positive_int(groups, "groups", layer)
        if in_channels % groups:
            raise ArgumentError(f"{layer}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ArgumentError(f"{layer}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if device is not None and not str(device).startswith("cpu"):
            raise ArgumentError(f"{layer}: chainrule runs on the CPU only, got device {device!r}")
        kernel_size = ntuple(kernel_size, n, "kernel_size", layer, 1)
        stride = ntuple(stride, n, "stride", layer, 1)
        dilation = ntuple(dilation, n, "dilation", layer, 1)
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                allowed = "an int or a tuple of ints" if self._transposed else "'same', 'valid', an int or a tuple"
                raise ArgumentError(f"{layer}: invalid padding {padding!r}, should be {allowed}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ArgumentError(f"{layer}: padding='same' is not supported for strided convolutions")
        else:
            padding = ntuple(padding, n, "padding", layer, 0)
        if padding_mode not in _PADDING_MODES:
            raise ArgumentError(f"{layer}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ArgumentError(f'{layer}: only "zeros" padding mode is supported, got {padding_mode!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = self._transposed
        self.output_padding = ntuple(output_padding, n, "output_padding", layer, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad's argument for the non-zero padding modes: the last dim first, (before, after) each.
        if padding == "same":
            pairs = []
            for k, d in zip(reversed(kernel_size), reversed(dilation)):
                total = d * (k - 1)
                pairs += [total // 2, total - total // 2]
            self._reversed_padding_repeated_twice = pairs
        elif padding == "valid":
            self._reversed_padding_repeated_twice = [0, 0] * n
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(padding) for _ in range(2)]
        if self._transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        self.weight = Parameter(empty(*shape, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights from PyTorch's default distribution (from chainrule's generator)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        n = self._spatial
        if self.padding != (0,) * n:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text

    def _check_input(self, input: Any) -> None:  # noqa: A002 (PyTorch's name)
        shape = getattr(input, "shape", None)
        n = self._spatial
        if shape is not None and len(shape) in (n + 1, n + 2) and shape[-n - 1] == self.in_channels:
            return
        dims = ("L",) if n == 1 else ("H", "W")
        batched = ", ".join(("N", str(self.in_channels), *dims))
        unbatched = ", ".join((str(self.in_channels), *dims))
        got = shape_str(shape) if shape is not None else type(input).__name__
        raise ShapeError(f"{self!r}: expected input ({batched}) or ({unbatched}), got {got}")


class _PlainConvNd(_ConvNd):
    """Conv1d and Conv2d: PyTorch's signature, and a forward that pads for non-zero padding modes."""

    _function: Any  # conv1d or conv2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias, padding_mode,
            device, dtype,
        )  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        shape = input.shape
        if len(shape) != self._spatial + 2 or shape[1] != self.in_channels:
            self._check_input(input)  # unbatched input passes; anything else raises naming the layer
        if self.padding_mode != "zeros":
            padded = pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return self._function(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return self._function(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_PlainConvNd):
    """2-d convolution (cross-correlation) over (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, Ho, Wo).

    Ho = (H + 2*padding - dilation*(kH - 1) - 1) // stride + 1 (likewise Wo). padding: an int, a tuple,
    'valid' or 'same'; padding_mode 'zeros', 'reflect', 'replicate' or 'circular'. weight: (C_out,
    C_in/groups, kH, kW); bias: (C_out,).
    """

    _function = staticmethod(conv2d)


class Conv1d(_PlainConvNd):
    """1-d convolution (cross-correlation) over (N, C_in, L) or (C_in, L) -> (N, C_out, Lo),
    Lo = (L + 2*padding - dilation*(kL - 1) - 1) // stride + 1. weight: (C_out, C_in/groups, kL)."""

    _spatial = 1
    _function = staticmethod(conv1d)


class _ConvTransposeNd(_ConvNd):
    """ConvTranspose1d and ConvTranspose2d: PyTorch's signature, and output_size -> output_padding."""

    _transposed = True
    _function: Any  # conv_transpose1d or conv_transpose2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups, bias,
            padding_mode, device, dtype,
        )  # fmt: skip

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
        self._check_input(input)
        output_padding = self._output_padding(input, output_size)
        return self._function(
            input, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups, self.dilation
        )

    def _output_padding(self, input: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:  # noqa: A002
        """output_padding, or the one that makes the output `output_size` (its last dims are the spatial size)."""
        if output_size is None:
            return self.output_padding
        n = self._spatial
        sizes = [int(s) for s in output_size][-n:]
        if len(sizes) != n:
            raise ArgumentError(f"{self!r}: output_size must have {n} or {n + 2} elements, got {output_size!r}")
        spatial = input.shape[-n:]
        paddings = []
        for d in range(n):
            smallest = (
                (spatial[d] - 1) * self.stride[d]
                - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1)
                + 1
            )
            largest = smallest + self.stride[d] - 1
            if not smallest <= sizes[d] <= largest:
                raise ShapeError(
                    f"{self!r}: requested an output size of {sizes}, but the valid sizes for input of shape "
                    f"{shape_str(input.shape)} range from {smallest} to {largest} in dimension {d}"
                )
            paddings.append(sizes[d] - smallest)
        return tuple(paddings)


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution over (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, Ho, Wo),
    Ho = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1 (likewise Wo).
    weight: (C_in, C_out/groups, kH, kW); bias: (C_out,). forward(input, output_size) picks output_padding."""

    _function = staticmethod(conv_transpose2d)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution over (N, C_in, L) or (C_in, L) -> (N, C_out, Lo),
    Lo = (L - 1)*stride - 2*padding + dilation*(kL - 1) + output_padding + 1. weight: (C_in, C_out/groups, kL)."""

    _spatial = 1
    _function = staticmethod(conv_transpose1d)
