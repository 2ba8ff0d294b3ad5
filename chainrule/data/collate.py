"""Collation: a list of samples into one batch, PyTorch's `default_collate` rules.

Tensors and ndarrays are stacked along a new first dimension, keeping their dtype (float64 stays float64);
NumPy scalars keep theirs; Python floats become float32 (chainrule's default, where PyTorch makes float64), ints
int64, bools bool; strings stay a list. Tuples and lists are collated position by position (a tuple of samples
gives a list, as in PyTorch), named tuples keep their type, dicts are collated key by key. Batches never require
grad.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.errors import DTypeError, ShapeError, shape_str
from chainrule.tensor import Tensor, as_array

_ACCEPTED = "Tensors, ndarrays, numbers, strings, dicts, tuples or lists"


def default_collate(batch: Sequence[Any]) -> Any:
    """One batch from a list of samples of the same structure (see the module's rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor | np.ndarray):
        return Tensor._wrap(_stack([item.data if isinstance(item, Tensor) else np.asarray(item) for item in batch]))
    if isinstance(elem, np.generic):
        return Tensor._wrap(_numeric(np.array(batch)))
    if isinstance(elem, bool | int | float):
        return Tensor._wrap(as_array(list(batch)))
    if isinstance(elem, str | bytes):
        return list(batch)
    if isinstance(elem, Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        if type(elem) is dict:
            return collated
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        _check_lengths(batch)
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, Sequence):
        _check_lengths(batch)
        columns = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple) or type(elem) is list:
            return columns
        try:
            return type(elem)(columns)
        except TypeError:
            return columns
    raise DTypeError(f"default_collate: samples must be {_ACCEPTED}; got {type(elem).__name__}")


def default_convert(data: Any) -> Any:
    """One sample as Tensors, without batching (what a DataLoader with batch_size=None yields):
    ndarrays and NumPy scalars become Tensors of their dtype; containers are converted element by element."""
    if isinstance(data, Tensor):
        return data.detach() if data.requires_grad else data
    if isinstance(data, np.ndarray | np.generic):
        array = np.asarray(data)
        return Tensor._wrap(array) if array.dtype.kind in "fiub" else data
    if isinstance(data, Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        if type(data) is dict:
            return converted
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(item) for item in data))
    if isinstance(data, tuple):
        return [default_convert(item) for item in data]
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        try:
            return type(data)([default_convert(item) for item in data])
        except TypeError:
            return [default_convert(item) for item in data]
    return data


def _numeric(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "fiub":
        raise DTypeError(
            f"default_collate: samples must be {_ACCEPTED}; got arrays of dtype {array.dtype}, which a Tensor "
            "cannot hold"
        )
    return array


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    first = arrays[0].shape
    for array in arrays:
        if array.shape != first:
            shapes = sorted({shape_str(a.shape) for a in arrays})
            raise ShapeError(
                f"default_collate: cannot stack samples of different shapes ({', '.join(shapes)}) into one batch; "
                "pass a collate_fn that pads or crops them"
            )
    return _numeric(np.stack(arrays))


def _check_lengths(batch: Sequence[Any]) -> None:
    length = len(batch[0])
    for sample in batch:
        if len(sample) != length:
            lengths = sorted({len(s) for s in batch})
            raise ShapeError(
                f"default_collate: the samples are sequences of different lengths {lengths}; each must have the "
                "same number of elements"
            )
