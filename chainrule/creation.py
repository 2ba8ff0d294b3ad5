"""Constructors: tensors from data, filled tensors, ranges and random tensors.

Shapes are given PyTorch's way, as separate ints or one tuple: `zeros(2, 3)` or `zeros((2, 3))`.
Float tensors are float32 unless `dtype` says otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, DTypeError
from chainrule.random import Generator, numpy_generator
from chainrule.tensor import DTypeLike, Tensor, as_array, as_dtype

_FLOAT = np.dtype(np.float32)


def _shape(size: tuple[Any, ...], op: str) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], tuple | list):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0:
            raise ArgumentError(f"{op}: sizes must be non-negative ints, got {size!r}")
    return tuple(int(s) for s in size)


def _float_dtype(dtype: DTypeLike | None, op: str) -> np.dtype:
    resolved = _FLOAT if dtype is None else as_dtype(dtype)
    if resolved.kind != "f":
        raise DTypeError(f"{op}: dtype must be a floating-point dtype, got {resolved}")
    return resolved


def _leaf(data: np.ndarray, requires_grad: bool) -> Tensor:
    tensor = Tensor._wrap(data)
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def tensor(data: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of `data` (numbers, nested lists, an ndarray or a Tensor).

    Python floats become float32, ints int64, bools bool; an ndarray keeps its dtype unless `dtype` is given.
    """
    return _leaf(np.array(as_array(data, dtype), copy=True), requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing `array`'s memory and dtype (no copy)."""
    if not isinstance(array, np.ndarray):
        raise DTypeError(f"from_numpy: expected an np.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def as_tensor(data: Any, dtype: DTypeLike | None = None) -> Tensor:
    """`data` as a tensor, sharing memory when it already is a Tensor or an ndarray of that dtype."""
    if isinstance(data, Tensor) and (dtype is None or as_dtype(dtype) == data.dtype):
        return data
    return Tensor._wrap(as_array(data, dtype))


def zeros(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.zeros(_shape(size, "zeros"), dtype=as_dtype(dtype or _FLOAT)), requires_grad)


def ones(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.ones(_shape(size, "ones"), dtype=as_dtype(dtype or _FLOAT)), requires_grad)


def empty(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.empty(_shape(size, "empty"), dtype=as_dtype(dtype or _FLOAT)), requires_grad)


def full(size: Any, fill_value: float, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with `fill_value`; the dtype follows the value (float32 for floats)."""
    shape = _shape((size,), "full")
    resolved = as_dtype(dtype) if dtype is not None else as_array(fill_value).dtype
    return _leaf(np.full(shape, fill_value, dtype=resolved), requires_grad)


def zeros_like(other: Tensor, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.zeros(other.shape, dtype=as_dtype(dtype or other.dtype)), requires_grad)


def ones_like(other: Tensor, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.ones(other.shape, dtype=as_dtype(dtype or other.dtype)), requires_grad)


def full_like(other: Tensor, fill_value: float, dtype: DTypeLike | None = None) -> Tensor:
    return Tensor._wrap(np.full(other.shape, fill_value, dtype=as_dtype(dtype or other.dtype)))


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: DTypeLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from `start` (0 if only one bound is given) up to, not including, `end`, by `step`.
    Integer bounds give int64, any float bound float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ArgumentError("arange: step must be non-zero")
    if dtype is None:
        is_int = all(isinstance(v, int | np.integer) for v in (start, end, step))
        dtype = np.int64 if is_int else np.float32
    return _leaf(np.arange(start, end, step, dtype=as_dtype(dtype)), requires_grad)


def linspace(
    start: float, end: float, steps: int, dtype: DTypeLike | None = None, requires_grad: bool = False
) -> Tensor:
    """`steps` evenly spaced values from `start` to `end`, both included."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise ArgumentError(f"linspace: steps must be a non-negative int, got {steps!r}")
    return _leaf(np.linspace(start, end, steps, dtype=_float_dtype(dtype, "linspace")), requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (m defaults to n)."""
    for name, value in (("n", n), ("m", n if m is None else m)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ArgumentError(f"eye: {name} must be a non-negative int, got {value!r}")
    return _leaf(np.eye(n, m, dtype=as_dtype(dtype or _FLOAT)), requires_grad)


def rand(
    *size: Any, generator: Generator | None = None, dtype: DTypeLike | None = None, requires_grad: bool = False
) -> Tensor:
    """Uniform samples in [0, 1)."""
    resolved = _float_dtype(dtype, "rand")
    data = numpy_generator(generator).random(_shape(size, "rand"), dtype=resolved)
    return _leaf(data, requires_grad)


def randn(
    *size: Any, generator: Generator | None = None, dtype: DTypeLike | None = None, requires_grad: bool = False
) -> Tensor:
    """Standard normal samples."""
    resolved = _float_dtype(dtype, "randn")
    data = numpy_generator(generator).standard_normal(_shape(size, "randn"), dtype=resolved)
    return _leaf(data, requires_grad)


def randint(
    low: int,
    high: int | None = None,
    size: Any = (),
    generator: Generator | None = None,
    dtype: DTypeLike | None = None,
) -> Tensor:
    """Integers uniformly drawn from [low, high) (from [0, low) when `high` is omitted), int64 by default."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ArgumentError(f"randint: expected low < high, got low={low}, high={high}")
    resolved = as_dtype(dtype or np.int64)
    shape = _shape((size,), "randint")
    return Tensor._wrap(numpy_generator(generator).integers(low, high, size=shape, dtype=resolved))


def randperm(n: int, generator: Generator | None = None) -> Tensor:
    """A random permutation of 0 .. n-1, int64."""
    return Tensor._wrap(numpy_generator(generator).permutation(n).astype(np.int64))


def rand_like(other: Tensor, generator: Generator | None = None) -> Tensor:
    return rand(other.shape, generator=generator, dtype=other.dtype)


def randn_like(other: Tensor, generator: Generator | None = None) -> Tensor:
    return randn(other.shape, generator=generator, dtype=other.dtype)
