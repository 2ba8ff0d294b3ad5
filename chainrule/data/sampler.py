"""Samplers: the order in which a DataLoader visits a dataset's indices (PyTorch's `torch.utils.data` samplers).

Random samplers draw from their `generator` (a chainrule.Generator) or, when it is None, from chainrule's default
generator, at the moment iteration starts, so every epoch (every `iter()`) gets a new order, reproducible after
`chainrule.manual_seed`. NumPy's global state is never used.

The built-in samplers also hand the DataLoader their whole epoch's indices as one array (`_epoch_indices`), so a
batch is a slice of it rather than a Python list built index by index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from itertools import islice
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor


def _check_generator(generator: Any, op: str) -> None:
    if generator is not None and not isinstance(generator, Generator):
        raise ArgumentError(f"{op}: generator must be a chainrule.Generator or None, got {type(generator).__name__}")


def _check_positive_int(value: Any, name: str, op: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ArgumentError(f"{op}: {name} must be a positive int, got {value!r}")


class Sampler:
    """The base of samplers: `__iter__` yields dataset indices; `__len__` (optional) says how many."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__, as every Sampler")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _indices(self) -> range:
        return range(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """The indices of `data_source` in a random order, new at each iteration.

    replacement: draw `num_samples` indices independently (repeats possible); otherwise a permutation
    (concatenated permutations when num_samples exceeds the dataset's size). num_samples: len(data_source) by default.
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Generator | None = None,
    ) -> None:
        if not isinstance(replacement, bool):
            raise ArgumentError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        if num_samples is not None:
            _check_positive_int(num_samples, "num_samples", "RandomSampler")
        _check_generator(generator, "RandomSampler")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def _indices(self) -> np.ndarray:
        n = len(self.data_source)
        count = self.num_samples
        rng = numpy_generator(self.generator)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        if self.replacement:
            return rng.integers(0, n, size=count, dtype=np.int64)
        if count == n:
            return rng.permutation(n)
        full, rest = divmod(count, n)
        parts = [rng.permutation(n) for _ in range(full)]
        if rest:
            parts.append(rng.permutation(n)[:rest])
        return np.concatenate(parts)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order, new at each iteration."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        _check_generator(generator, "SubsetRandomSampler")
        self.indices = indices
        self.generator = generator

    def _indices(self) -> np.ndarray:
        order = numpy_generator(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices, dtype=np.int64)[order]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """`num_samples` indices 0 .. len(weights) - 1, index i drawn with probability weights[i] / sum(weights).

    weights: (N,) non-negative, not all zero (they need not sum to 1). replacement: False draws distinct indices.
    """

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Generator | None = None,
    ) -> None:
        values = np.asarray(weights.data if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if values.ndim != 1:
            raise ShapeError(f"WeightedRandomSampler: weights must be 1-D, got shape {shape_str(values.shape)}")
        if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
            raise ArgumentError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        _check_positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        if not isinstance(replacement, bool):
            raise ArgumentError(f"WeightedRandomSampler: replacement must be a bool, got {replacement!r}")
        if not replacement and num_samples > np.count_nonzero(values):
            raise ArgumentError(
                f"WeightedRandomSampler: cannot draw {num_samples} distinct indices without replacement from "
                f"{np.count_nonzero(values)} non-zero weights"
            )
        _check_generator(generator, "WeightedRandomSampler")
        self.weights = values
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _indices(self) -> np.ndarray:
        rng = numpy_generator(self.generator)
        p = self.weights / self.weights.sum()
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


_BUILT_IN = (SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler)


def _epoch_indices(sampler: Any) -> np.ndarray | range | None:
    """The whole epoch's indices in one go, drawn now, for a built-in sampler (not one overriding __iter__)."""
    for cls in _BUILT_IN:
        if isinstance(sampler, cls) and type(sampler).__iter__ is cls.__iter__:
            return sampler._indices()
    return None


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of `batch_size`; the last, shorter one is dropped if drop_last."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        _check_positive_int(batch_size, "batch_size", "BatchSampler")
        if not isinstance(drop_last, bool):
            raise ArgumentError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        for batch in index_batches(self):
            if isinstance(batch, slice):
                yield list(range(batch.start, batch.stop))
            elif isinstance(batch, np.ndarray):
                yield batch.tolist()
            else:
                yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def index_batches(batch_sampler: Any) -> Iterator[slice | np.ndarray | list[int]]:
    """The batches of indices of `batch_sampler`, drawn now (this call starts the epoch).

    A plain BatchSampler over a built-in sampler gives slices (sequential order) or views of one index array;
    any other batch sampler gives what it yields.
    """
    if type(batch_sampler) is BatchSampler or (
        isinstance(batch_sampler, BatchSampler) and type(batch_sampler).__iter__ is BatchSampler.__iter__
    ):
        indices = _epoch_indices(batch_sampler.sampler)
        if indices is not None:
            return _chunks(indices, batch_sampler.batch_size, batch_sampler.drop_last)
        return _chunk_iterator(iter(batch_sampler.sampler), batch_sampler.batch_size, batch_sampler.drop_last)
    return iter(batch_sampler)


def _chunks(indices: np.ndarray | range, size: int, drop_last: bool) -> Iterator[slice | np.ndarray]:
    n = len(indices)
    stop = n - n % size if drop_last else n
    if isinstance(indices, range):
        for start in range(0, stop, size):
            yield slice(indices.start + start, indices.start + min(start + size, stop))
    else:
        for start in range(0, stop, size):
            yield indices[start : start + size]


def _chunk_iterator(indices: Iterator[int], size: int, drop_last: bool) -> Iterator[list[int]]:
    while True:
        batch = list(islice(indices, size))
        if not batch or (drop_last and len(batch) < size):
            return
        yield batch
