"""Normalization layers: BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm and GroupNorm.

Constructor arguments, defaults, reprs and state_dict keys are PyTorch's, so weights and running statistics load
from and into PyTorch models. Each layer's forward is one fused op of `chainrule.ops.norm`.

BatchNorm keeps running statistics in buffers (running_mean, running_var, num_batches_tracked, an int64 0-d
count). In training mode it normalises with the batch's statistics and updates the buffers (momentum=None: a
cumulative average over the batches seen); in evaluation mode it uses the buffers. With
track_running_stats=False it has no buffers and always uses the batch's statistics.
"""

# `input` is PyTorch's argument name in forward.
# ruff: noqa: A002

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.creation import ones, zeros
from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.norm import _batch_norm, _group_norm, _layer_norm, normalized_shape_arg
from chainrule.tensor import DTypeLike, Tensor, as_tensor_arg

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "LayerNorm"]


def _positive_int(value: Any, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ArgumentError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


def _non_negative_number(value: Any, name: str, layer: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or value < 0:
        raise ArgumentError(f"{layer}: {name} must be a non-negative number, got {value!r}")
    return value


def _check_device(device: Any, layer: str) -> None:
    if device is not None and not str(device).startswith("cpu"):
        raise ArgumentError(f"{layer}: chainrule runs on the CPU only, got device {device!r}")


def _as_input(input: Any) -> Tensor:
    return input if isinstance(input, Tensor) else as_tensor_arg(input)


class _BatchNorm(Module):
    """The shared body of BatchNorm1d/2d/3d; subclasses name the input layouts they accept."""

    _layouts: tuple[int, ...] = ()  # the accepted numbers of input dims
    _layout_text = ""  # the accepted shapes, with C in place of the channel count

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: DTypeLike = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(num_features, "num_features", name)
        self.eps = _non_negative_number(eps, "eps", name)
        if momentum is not None:
            _non_negative_number(momentum, "momentum", name)
        _check_device(device, name)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(ones(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Reset the running statistics, and weight to 1 and bias to 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def _label(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def forward(self, input: Tensor) -> Tensor:
        x = _as_input(input)
        shape = x.data.shape
        if len(shape) not in self._layouts or shape[1] != self.num_features:
            expected = self._layout_text.replace("C", str(self.num_features))
            raise ShapeError(f"{self._label()}: expected input of shape {expected}, got {shape_str(shape)}")
        momentum = self.momentum
        factor = 0.0 if momentum is None else momentum
        tracking = self.training and self.track_running_stats and self.num_batches_tracked is not None
        if tracking and momentum is None:  # the cumulative average over all batches seen, this one included
            factor = 1.0 / (int(self.num_batches_tracked.data) + 1)
        if self.training:
            use_batch_stats = True
        else:
            use_batch_stats = self.running_mean is None and self.running_var is None
        # Buffers are passed only to be used (evaluation) or updated (training, when they are tracked).
        use_buffers = not self.training or self.track_running_stats
        out = _batch_norm(
            x,
            self.running_mean if use_buffers else None,
            self.running_var if use_buffers else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
            self._label(),
        )
        if tracking:  # counted once the batch went through (a rejected batch changes nothing)
            self.num_batches_tracked.data += 1
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over N (and L), per channel C = num_features.

    weight, bias: (C,) (with affine=True); buffers running_mean, running_var: (C,), num_batches_tracked: ().
    """

    _layouts = (2, 3)
    _layout_text = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs over N, H and W, per channel C = num_features.

    weight, bias: (C,) (with affine=True); buffers running_mean, running_var: (C,), num_batches_tracked: ().
    """

    _layouts = (4,)
    _layout_text = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalization of (N, C, D, H, W) inputs over N, D, H and W, per channel C = num_features.

    weight, bias: (C,) (with affine=True); buffers running_mean, running_var: (C,), num_batches_tracked: ().
    """

    _layouts = (5,)
    _layout_text = "(N, C, D, H, W)"


class LayerNorm(Module):
    """Layer normalization over the trailing dims `normalized_shape` of each sample.

    input: (*, *normalized_shape) -> the same shape. weight (ones) and bias (zeros): normalized_shape, with
    elementwise_affine=True (bias=False leaves the bias out).
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_arg(normalized_shape, "LayerNorm")
        self.eps = _non_negative_number(eps, "eps", "LayerNorm")
        _check_device(device, "LayerNorm")
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """weight to 1, bias to 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        return _layer_norm(
            _as_input(input),
            self.normalized_shape,
            self.weight,
            self.bias,
            self.eps,
            f"LayerNorm({self.normalized_shape})",
        )

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Group normalization: the C = num_channels channels of each sample split into num_groups groups, each
    normalised over its channels and spatial dims.

    input: (N, C, *) -> the same shape. weight (ones) and bias (zeros): (C,), with affine=True.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: DTypeLike = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_groups = _positive_int(num_groups, "num_groups", "GroupNorm")
        self.num_channels = _positive_int(num_channels, "num_channels", "GroupNorm")
        if num_channels % num_groups:
            raise ArgumentError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.eps = _non_negative_number(eps, "eps", "GroupNorm")
        _check_device(device, "GroupNorm")
        self.affine = bool(affine)
        if self.affine:
            self.weight = Parameter(ones(num_channels, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(num_channels, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """weight to 1, bias to 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        x = _as_input(input)
        shape = x.data.shape
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise ShapeError(
                f"GroupNorm({self.num_groups}, {self.num_channels}): expected input of shape "
                f"(N, {self.num_channels}, *), got {shape_str(shape)}"
            )
        return _group_norm(
            x, self.num_groups, self.weight, self.bias, self.eps, f"GroupNorm({self.num_groups}, {self.num_channels})"
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )
