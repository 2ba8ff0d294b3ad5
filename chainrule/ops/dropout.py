"""Dropout, as in `torch.nn.functional`: dropout (each element), and dropout1d / dropout2d / dropout3d (whole
channels).

Inverted dropout: in training each element (or channel) is kept with probability 1 - p and scaled by 1 / (1 - p),
so the expected output equals the input and evaluation needs no rescaling. The mask is drawn from
`chainrule.random`'s default generator (or `generator=`), so `chainrule.manual_seed` makes it reproducible.

The mask is one array of the input's dtype holding 0 or 1 / (1 - p), built in place in the array of uniform
draws (u >= p, then scaled), so the forward is one multiply and the backward, grad * mask, another.
p = 0 and evaluation return the input itself; p = 1 gives zeros (and a zero gradient), as PyTorch.
"""

# `input` is PyTorch's argument name throughout this file.
# ruff: noqa: A002

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule.autograd import grad_mode, owns
from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor, as_tensor_arg, result

__all__ = ["check_probability", "dropout", "dropout1d", "dropout2d", "dropout3d"]


def check_probability(p: Any, where: object) -> float:
    """`p` as a float in [0, 1], or an ArgumentError naming `where`."""
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating) or not 0.0 <= p <= 1.0:
        raise ArgumentError(f"{where}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def _mask(shape: tuple[int, ...], dtype: np.dtype, p: float, generator: Generator | None) -> np.ndarray:
    """0 with probability p, else 1 / (1 - p), in one array of `dtype` (float16 masks are drawn in float32)."""
    rng = numpy_generator(generator)
    draw = dtype if dtype == np.float32 or dtype == np.float64 else np.dtype(np.float32)
    mask = rng.random(shape, dtype=draw)
    np.greater_equal(mask, p, out=mask)  # keep with probability 1 - p: u in [0, 1) is >= p that often
    mask *= 1.0 / (1.0 - p)
    return mask if mask.dtype == dtype else mask.astype(dtype)


def _apply(x: Tensor, p: float, mask_shape: tuple[int, ...], inplace: bool, generator: Generator | None) -> Tensor:
    """x * mask for a mask of `mask_shape` (x's shape, or x's with size-1 spatial dims to drop whole channels)."""
    X = x.data  # noqa: N806
    recording = grad_mode.enabled and x.requires_grad
    if p == 1.0:
        mask = np.zeros(mask_shape, dtype=X.dtype)
    else:
        mask = _mask(mask_shape, X.dtype, p, generator)
    if inplace and not recording:
        # PyTorch's inplace: the input's own array is overwritten. With the graph recording, the previous op's
        # backward may still need that array, so the result is computed out of place instead.
        X *= mask  # noqa: N806
        return x
    out = X * mask

    def backward(grad: np.ndarray) -> tuple:
        return (np.multiply(grad, mask, out=grad) if owns(grad) else grad * mask,)

    return result(out, (x,), backward, "dropout")


def _float_input(value: Any, op: str) -> Tensor:
    x = value if isinstance(value, Tensor) else as_tensor_arg(value)
    if x.data.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a floating-point input, got dtype {x.data.dtype}")
    return x


def dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (torch.nn.functional.dropout).

    input: any shape; returns the same shape. training=False or p=0 returns input itself. inplace=True
    overwrites input's array when no graph is recorded (else the result is a new tensor). generator: a
    chainrule.Generator to draw the mask from, instead of the default one.
    """
    p = check_probability(p, "dropout")
    x = _float_input(input, "dropout")
    if not training or p == 0.0:
        return x
    return _apply(x, p, x.data.shape, inplace, generator)


def _feature_dropout(
    x: Tensor, p: float, training: bool, inplace: bool, generator: Generator | None, batched: bool
) -> Tensor:
    """Drop whole channels: the mask has the sizes of the batch and channel dims and 1 elsewhere."""
    if not training or p == 0.0:
        return x
    shape = x.data.shape
    lead = 2 if batched else 1
    return _apply(x, p, shape[:lead] + (1,) * (len(shape) - lead), inplace, generator)


def dropout1d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *, generator: Generator | None = None
) -> Tensor:
    """Zero whole channels with probability p, scaling the rest by 1 / (1 - p) (torch.nn.functional.dropout1d).

    input: (N, C, L) or unbatched (C, L); each of the N * C channels is kept or dropped as a whole.
    """
    p = check_probability(p, "dropout1d")
    x = _float_input(input, "dropout1d")
    if x.data.ndim not in (2, 3):
        raise ShapeError(
            f"dropout1d: expected input of shape (N, C, L) or (C, L), got {shape_str(x.data.shape)} (use dropout "
            "for element-wise dropout)"
        )
    return _feature_dropout(x, p, training, inplace, generator, batched=x.data.ndim == 3)


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *, generator: Generator | None = None
) -> Tensor:
    """Zero whole channels with probability p, scaling the rest by 1 / (1 - p) (torch.nn.functional.dropout2d).

    input: (N, C, H, W). As PyTorch, a 3-D input is read as (N, C, L) (with a warning), and other ranks are
    accepted with a warning, their first two dims taken as (N, C).
    """
    p = check_probability(p, "dropout2d")
    x = _float_input(input, "dropout2d")
    ndim = x.data.ndim
    if ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: received a {ndim}-D input; dropout2d drops channels of (N, C, H, W) inputs, and PyTorch "
            "deprecates other ranks: use dropout instead",
            UserWarning,
            stacklevel=2,
        )
    elif ndim == 3:
        warnings.warn(
            "dropout2d: received a 3-D input, read as (N, C, L) as PyTorch does today (a future PyTorch reads it "
            "as an unbatched (C, H, W)); use dropout1d for channel-wise 1-D dropout",
            UserWarning,
            stacklevel=2,
        )
    if ndim < 2:
        raise ShapeError(f"dropout2d: expected input of shape (N, C, H, W), got {shape_str(x.data.shape)}")
    return _feature_dropout(x, p, training, inplace, generator, batched=True)


def dropout3d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *, generator: Generator | None = None
) -> Tensor:
    """Zero whole channels with probability p, scaling the rest by 1 / (1 - p) (torch.nn.functional.dropout3d).

    input: (N, C, D, H, W) or unbatched (C, D, H, W); other ranks are accepted with a warning, as PyTorch.
    """
    p = check_probability(p, "dropout3d")
    x = _float_input(input, "dropout3d")
    ndim = x.data.ndim
    if ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: received a {ndim}-D input; dropout3d drops channels of (N, C, D, H, W) inputs, and "
            "PyTorch deprecates other ranks: use dropout instead",
            UserWarning,
            stacklevel=2,
        )
    if ndim < 1:
        raise ShapeError(f"dropout3d: expected input of shape (N, C, D, H, W), got {shape_str(x.data.shape)}")
    return _feature_dropout(x, p, training, inplace, generator, batched=ndim == 5)
