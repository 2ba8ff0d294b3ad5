"""Embedding: a lookup table of learned vectors, one row per index (PyTorch's `nn.Embedding`)."""

# `input` is PyTorch's argument name in forward.
# ruff: noqa: A002

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.creation import empty
from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.embedding import _embedding, padding_index
from chainrule.tensor import DTypeLike, Tensor, as_array

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows of `weight` (num_embeddings, embedding_dim) picked by integer indices.

    input: int64 indices of any shape (*), each in [0, num_embeddings) -> (*, embedding_dim). weight is drawn
    from N(0, 1), as PyTorch, with the row `padding_idx` (if any) zeroed; that row gets no gradient, so it stays
    as it is. max_norm, norm_type, scale_grad_by_freq: see `chainrule.nn.functional.embedding`. sparse is
    accepted for PyTorch's signature; gradients are dense arrays. _weight: an initial weight (shared, not
    copied), as PyTorch's; _freeze=True makes it not require grad.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: DTypeLike = None,
    ) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ArgumentError(f"Embedding: {name} must be a non-negative int, got {value!r}")
        if device is not None and not str(device).startswith("cpu"):
            raise ArgumentError(f"Embedding: chainrule runs on the CPU only, got device {device!r}")
        if max_norm is not None and (isinstance(max_norm, bool) or not isinstance(max_norm, int | float)):
            raise ArgumentError(f"Embedding: max_norm must be a number or None, got {max_norm!r}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = padding_index(padding_idx, self.num_embeddings, "Embedding")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=dtype), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            weight = _weight if isinstance(_weight, Tensor) else Tensor._wrap(as_array(_weight))
            if weight.data.shape != (num_embeddings, embedding_dim):
                raise ShapeError(
                    f"Embedding: _weight must have shape (num_embeddings, embedding_dim) = "
                    f"{shape_str((num_embeddings, embedding_dim))}, got {shape_str(weight.data.shape)}"
                )
            self.weight = Parameter(weight, requires_grad=not _freeze)
        self.sparse = sparse

    def reset_parameters(self) -> None:
        """Draw the weight from N(0, 1) (from chainrule's generator) and zero the padding row."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:
        return _embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            f"Embedding({self.num_embeddings}, {self.embedding_dim})",
        )

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is `embeddings` (num_embeddings, embedding_dim), shared, not copied.
        freeze=True (the default) makes the weight not require grad. The padding row is not zeroed."""
        weight = embeddings if isinstance(embeddings, Tensor) else Tensor._wrap(as_array(embeddings))
        if weight.data.ndim != 2:
            raise ShapeError(
                f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, embedding_dim), got shape "
                f"{shape_str(weight.data.shape)}"
            )
        rows, cols = weight.data.shape
        return cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=weight,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            text += ", sparse=True"
        return text
