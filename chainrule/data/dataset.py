"""Datasets: indexable collections of samples, PyTorch's `torch.utils.data` classes.

A Dataset maps an index 0 .. len-1 to one sample (a Tensor, a tuple of them, a dict ...). The DataLoader draws
indices, fetches samples and collates them into batches; for a `TensorDataset` it skips the per-sample work
and takes each batch with one fancy index per tensor.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor, as_array


class Dataset:
    """The base of map-style datasets: subclasses define `__getitem__(index)` and `__len__()`.

    `a + b` concatenates two datasets (a ConcatDataset).
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index), as every Dataset")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the rows of the given tensors: item i is `(t0[i], t1[i], ...)`, a tuple of Tensors.

    tensors: Tensors or ndarrays (or nested lists), all with the same first dimension (the number of samples).
    They are kept as they are, without a copy: float64 stays float64, labels keep their integer dtype.
    """

    tensors: tuple[Tensor, ...]

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ArgumentError("TensorDataset: expected at least one tensor, got none")
        kept = [item if isinstance(item, Tensor) else Tensor._wrap(as_array(item)) for item in tensors]
        for position, tensor in enumerate(kept):
            if tensor.data.ndim == 0:
                raise ShapeError(
                    f"TensorDataset: tensor {position} is a scalar (shape ()); each tensor needs a first dimension "
                    "that indexes the samples"
                )
        sizes = [t.data.shape[0] for t in kept]
        if len(set(sizes)) > 1:
            shapes = ", ".join(shape_str(t.data.shape) for t in kept)
            raise ShapeError(
                f"TensorDataset: the tensors must have the same size in their first dimension (the samples); got "
                f"sizes {sizes} (shapes {shapes})"
            )
        self.tensors = tuple(kept)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(Tensor._wrap(_row(t.data, index)) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].data.shape[0]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{t.data.dtype}{shape_str(t.data.shape)}" for t in self.tensors)
        return f"TensorDataset({shapes})"


def _row(data: np.ndarray, index: Any) -> np.ndarray:
    if isinstance(index, Tensor):
        index = index.data
    value = data[index]
    # The row of a 1-D array is a NumPy scalar: keep it an array (0-d), so a Tensor wraps it.
    return value if isinstance(value, np.ndarray) else np.asarray(value)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order: item i is `dataset[indices[i]]`."""

    dataset: Any
    indices: Sequence[int]

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        if not hasattr(indices, "__len__") or not hasattr(indices, "__getitem__"):
            raise ArgumentError(
                f"Subset: indices must be a sequence of ints (a list, range or array), got {type(indices).__name__}"
            )
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        fetch = getattr(self.dataset, "__getitems__", None)
        if callable(fetch):
            return fetch([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, {len(self.indices)} indices)"


class ConcatDataset(Dataset):
    """The samples of several datasets, one after the other."""

    datasets: list[Any]
    cumulative_sizes: list[int]

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ArgumentError("ConcatDataset: datasets must not be empty")
        self.cumulative_sizes = []
        total = 0
        for position, dataset in enumerate(self.datasets):
            if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
                raise ArgumentError(
                    f"ConcatDataset: dataset {position} ({type(dataset).__name__}) has no __len__ / __getitem__; "
                    "only map-style datasets can be concatenated"
                )
            total += len(dataset)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ArgumentError(f"ConcatDataset: an index must be an int, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for a dataset of {n} samples")
        if index < 0:
            index += n
        which = bisect.bisect_right(self.cumulative_sizes, index)
        offset = index if which == 0 else index - self.cumulative_sizes[which - 1]
        return self.datasets[which][offset]


def random_split(dataset: Any, lengths: Sequence[int | float], generator: Generator | None = None) -> list[Subset]:
    """Split `dataset` into non-overlapping random Subsets of the given lengths.

    lengths: ints summing to len(dataset), or fractions summing to 1; then each part gets floor(n * fraction)
    samples and the remainder is handed out one by one from the first part on (PyTorch's rule).
    generator: draws the permutation; chainrule's default generator when None.
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ArgumentError("random_split: lengths must not be empty")
    for value in lengths:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or value < 0:
            raise ArgumentError(f"random_split: lengths must be non-negative ints or fractions, got {lengths!r}")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [math.floor(n * fraction) for fraction in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(
                    f"random_split: part {i} has length 0 ({lengths[i]} of {n} samples)", UserWarning, stacklevel=2
                )
    else:
        if not all(isinstance(v, int | np.integer) for v in lengths):
            raise ArgumentError(f"random_split: fractional lengths must sum to 1, got {lengths!r} (sum {sum(lengths)})")
        counts = [int(v) for v in lengths]
    if sum(counts) != n:
        raise ArgumentError(f"random_split: the lengths {counts} sum to {sum(counts)}, but the dataset has {n} samples")
    order = numpy_generator(generator).permutation(n).tolist()
    parts = []
    start = 0
    for count in counts:
        parts.append(Subset(dataset, order[start : start + count]))
        start += count
    return parts
