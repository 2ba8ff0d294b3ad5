"""Pooling and upsampling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d,
Upsample and UpsamplingNearest2d, modules around `chainrule.ops.pool` with PyTorch's constructor arguments,
attributes and reprs. They hold no parameters (their state_dict is empty, as in PyTorch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.errors import ShapeError, shape_str
from chainrule.nn.module import Module
from chainrule.ops import pool as F
from chainrule.tensor import Tensor

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "MaxPool1d",
    "MaxPool2d",
    "Upsample",
    "UpsamplingNearest2d",
]

IntOrTuple = int | Sequence[int]


def _check_dims(layer: Module, input: Any, spatial: int) -> None:  # noqa: A002 (PyTorch's name)
    """A ShapeError naming the layer unless the input is (N, C, *spatial) or (C, *spatial)."""
    shape = getattr(input, "shape", None)
    if shape is not None and len(shape) in (spatial + 1, spatial + 2):
        return
    dims = "L" if spatial == 1 else "H, W"
    got = shape_str(shape) if shape is not None else type(input).__name__
    raise ShapeError(f"{layer!r}: expected input (N, C, {dims}) or (C, {dims}), got {got}")


def _single(value: Any) -> Any:
    """PyTorch's `_single`: an int as a 1-tuple (AvgPool1d stores its arguments so)."""
    return tuple(value) if isinstance(value, Sequence) else (value,)


class _MaxPoolNd(Module):
    _spatial = 2

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPoolNd):
    """Max over kH x kW windows: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo); stride defaults to kernel_size.
    With return_indices=True, returns (output, indices) (flat indices into each input plane)."""

    def forward(self, input: Tensor) -> Any:  # noqa: A002 (PyTorch's name)
        if len(input.shape) != 4:
            _check_dims(self, input, 2)
        return F.max_pool2d(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )


class MaxPool1d(_MaxPoolNd):
    """Max over windows of kernel_size: (N, C, L) or (C, L) -> (N, C, Lo); stride defaults to kernel_size."""

    def forward(self, input: Tensor) -> Any:  # noqa: A002 (PyTorch's name)
        _check_dims(self, input, 1)
        return F.max_pool1d(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )


class AvgPool2d(Module):
    """Mean over kH x kW windows: (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo); stride defaults to kernel_size.
    count_include_pad: whether zero padding counts in the divisor; divisor_override replaces the divisor."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        if len(input.shape) != 4:
            _check_dims(self, input, 2)
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """Mean over windows of kernel_size: (N, C, L) or (C, L) -> (N, C, Lo); stride defaults to kernel_size."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        _check_dims(self, input, 1)
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool(Module):
    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool):
    """Mean over PyTorch's adaptive windows to a fixed (Ho, Wo) = output_size (None keeps that input size):
    (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo). output_size=1 is global average pooling."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        _check_dims(self, input, 2)
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveAvgPool1d(_AdaptivePool):
    """Mean over adaptive windows to a fixed length: (N, C, L) or (C, L) -> (N, C, output_size)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        _check_dims(self, input, 1)
        return F.adaptive_avg_pool1d(input, self.output_size)


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Max over adaptive windows to a fixed (Ho, Wo): (N, C, H, W) or (C, H, W) -> (N, C, Ho, Wo)."""

    def forward(self, input: Tensor) -> Any:  # noqa: A002 (PyTorch's name)
        _check_dims(self, input, 2)
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Max over adaptive windows to a fixed length: (N, C, L) or (C, L) -> (N, C, output_size)."""

    def forward(self, input: Tensor) -> Any:  # noqa: A002 (PyTorch's name)
        _check_dims(self, input, 1)
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) to `size` or by `scale_factor` (F.interpolate); modes 'nearest',
    'nearest-exact' and 'area'."""

    def __init__(
        self,
        size: IntOrTuple | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor: Any = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Upsample with mode='nearest' on (N, C, H, W)."""

    def __init__(self, size: IntOrTuple | None = None, scale_factor: float | Sequence[float] | None = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")
