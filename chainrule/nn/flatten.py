"""Flatten and Unflatten: reshape between the image-like and the feature-vector view of a batch."""

from __future__ import annotations

from collections.abc import Sequence

from chainrule.errors import ArgumentError
from chainrule.nn.module import Module
from chainrule.ops.shape import flatten, unflatten
from chainrule.tensor import Tensor

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) with the defaults (the batch dim
    is kept). A view when the input is contiguous."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim `dim` into `unflattened_size`: (N, 784) -> (N, 1, 28, 28) with dim=1, size (1, 28, 28)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, Sequence) or isinstance(unflattened_size, str):
            raise ArgumentError(
                f"Unflatten: unflattened_size must be a tuple or list of ints, got {unflattened_size!r}"
            )
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
