"""Dropout layers: Dropout (each element), Dropout1d, Dropout2d and Dropout3d (whole channels).

Active in training mode only: `model.eval()` makes each of them the identity. The masks come from
`chainrule.random`'s default generator, so `chainrule.manual_seed` makes a run reproducible.
"""

# `input` is PyTorch's argument name in forward.
# ruff: noqa: A002

from __future__ import annotations

from chainrule.nn.module import Module
from chainrule.ops.dropout import check_probability, dropout, dropout1d, dropout2d, dropout3d
from chainrule.tensor import Tensor

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = check_probability(p, type(self).__name__)
        self.inplace = bool(inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training, zero each element with probability p and scale the others by 1 / (1 - p); any shape.

    inplace=True overwrites the input's array when no graph is recorded (under no_grad, or for an input that
    needs no gradient); otherwise the result is a new tensor, as the graph needs the input unchanged.
    """

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """In training, zero whole channels of (N, C, L) or (C, L) inputs with probability p, scaling the others by
    1 / (1 - p)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """In training, zero whole channels of (N, C, H, W) inputs with probability p, scaling the others by
    1 / (1 - p). A 3-D input is read as (N, C, L), with a warning, as PyTorch does."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """In training, zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p, scaling
    the others by 1 / (1 - p)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout3d(input, self.p, self.training, self.inplace)
