"""DataLoader: batches of a dataset, epoch after epoch, PyTorch's `torch.utils.data.DataLoader`.

The fast path: when the dataset is a TensorDataset (or an array, or a Subset of either, as `random_split`
makes) and the batches are made by the default collate, each batch is taken with one fancy index per tensor
on the whole array; no sample is fetched, no list is stacked. It gives the same batches as the per-sample path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.data.collate import default_collate, default_convert
from chainrule.data.dataset import Subset, TensorDataset
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    _check_generator,
    _epoch_indices,
    index_batches,
)
from chainrule.errors import ArgumentError
from chainrule.random import Generator
from chainrule.tensor import Tensor


class DataLoader:
    """Iterates over `dataset` in batches; each `iter()` is one epoch (a new order when shuffling).

    dataset: a map-style dataset (`__getitem__` and `__len__`): a TensorDataset, a Subset, any Dataset, an array.
    batch_size: samples per batch; None yields single samples (converted to Tensors, not batched).
    shuffle: a new random order each epoch, drawn from `generator` (chainrule's default generator when None)
        when iteration starts.
    sampler / batch_sampler: a custom order of indices / of batches of indices, instead of shuffle (and, for
        batch_sampler, of batch_size and drop_last).
    collate_fn: makes a batch from a list of samples; `default_collate` by default (stacks into Tensors).
    drop_last: drop the last batch when it is smaller than batch_size.
    num_workers, pin_memory: accepted for PyTorch code and ignored: batches are made in the calling process
        (with NumPy's fancy indexing, worker processes would cost more than they save).
    len(loader): the number of batches: ceil(n / batch_size), or floor with drop_last.
    Batches are Tensors that do not require grad, of the dataset's dtypes (float64 stays float64).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[int] | None = None,
        batch_sampler: Sampler | Iterable[Sequence[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        generator: Generator | None = None,
    ) -> None:
        op = "DataLoader"
        if not hasattr(dataset, "__getitem__"):
            raise ArgumentError(
                f"{op}: dataset must be a map-style dataset (with __getitem__ and __len__), such as a TensorDataset; "
                f"got {type(dataset).__name__}"
            )
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size <= 0
        ):
            raise ArgumentError(f"{op}: batch_size must be a positive int or None, got {batch_size!r}")
        if shuffle is not None and not isinstance(shuffle, bool):
            raise ArgumentError(f"{op}: shuffle must be a bool, got {shuffle!r}")
        if not isinstance(drop_last, bool):
            raise ArgumentError(f"{op}: drop_last must be a bool, got {drop_last!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ArgumentError(f"{op}: num_workers must be a non-negative int, got {num_workers!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise ArgumentError(f"{op}: collate_fn must be callable, got {type(collate_fn).__name__}")
        _check_generator(generator, op)
        if sampler is not None and shuffle:
            raise ArgumentError(f"{op}: sampler and shuffle=True exclude each other; the sampler sets the order")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ArgumentError(
                    f"{op}: batch_sampler excludes batch_size, shuffle, sampler and drop_last (it sets all four)"
                )
            batch_size = None
        elif batch_size is None and drop_last:
            raise ArgumentError(f"{op}: batch_size=None (no batching) excludes drop_last=True")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, int(batch_size), drop_last)

        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.generator = generator
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None else default_convert)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        """One epoch. The order is drawn here, when iteration starts."""
        if self.batch_sampler is None:
            indices = _epoch_indices(self.sampler)
            if indices is None:
                order = iter(self.sampler)
            else:
                order = iter(indices if isinstance(indices, range) else indices.tolist())
            return (self.collate_fn(self.dataset[i]) for i in order)
        batches = index_batches(self.batch_sampler)
        source = _array_source(self.dataset) if self.collate_fn is default_collate else None
        if source is not None:
            return _fast_batches(batches, *source)
        return self._batches(batches)

    def _batches(self, batches: Iterator[Any]) -> Iterator[Any]:
        dataset = self.dataset
        fetch = getattr(dataset, "__getitems__", None)
        collate = self.collate_fn
        for batch in batches:
            if isinstance(batch, slice):
                batch = range(batch.start, batch.stop)
            elif isinstance(batch, np.ndarray):
                batch = batch.tolist()
            samples = fetch(list(batch)) if callable(fetch) else [dataset[i] for i in batch]
            yield collate(samples)

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, sampler={type(self.sampler).__name__}, "
            f"drop_last={self.drop_last})"
        )


def _fast_batches(
    batches: Iterator[Any], arrays: list[np.ndarray], mapping: np.ndarray | None, single: bool
) -> Iterator[Any]:
    for batch in batches:
        if mapping is not None:
            index = mapping[batch]
        elif isinstance(batch, slice | np.ndarray):
            index = batch
        else:
            index = np.asarray(batch, dtype=np.int64)
        if isinstance(index, slice):
            # A copy, as the per-sample path's stacking makes: an in-place edit of a batch must not reach the data.
            parts = [array[index].copy() for array in arrays]
        else:
            parts = [array[index] for array in arrays]
        yield Tensor._wrap(parts[0]) if single else [Tensor._wrap(part) for part in parts]


def _array_source(dataset: Any) -> tuple[list[np.ndarray], np.ndarray | None, bool] | None:
    """(arrays, index mapping or None, whether samples are single arrays) when batches of `dataset` can be taken by
    fancy indexing with the same result as fetching and collating samples; else None."""
    chain = []
    while isinstance(dataset, Subset) and _plain(dataset, Subset, "__getitem__", "__getitems__"):
        chain.append(dataset.indices)
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset) and _plain(dataset, TensorDataset, "__getitem__", "__getitems__"):
        arrays, single = [t.data for t in dataset.tensors], False
    elif isinstance(dataset, Tensor):
        arrays, single = [dataset.data], True
    elif isinstance(dataset, np.ndarray) and dataset.ndim >= 1 and dataset.dtype.kind in "fiub":
        arrays, single = [dataset], True
    else:
        return None
    mapping = None
    size = arrays[0].shape[0]
    for indices in reversed(chain):
        positions = _index_array(indices)
        if positions is None:
            return None
        if positions.size and (positions.min() < -size or positions.max() >= size):
            bad = positions[(positions < -size) | (positions >= size)][0]
            raise IndexError(f"Subset: index {int(bad)} is out of range for a dataset of {size} samples")
        mapping = positions if mapping is None else mapping[positions]
        size = len(positions)
    return arrays, mapping, single


def _plain(dataset: Any, cls: type, *methods: str) -> bool:
    """Whether `dataset` uses `cls`'s own methods (a subclass may override them, e.g. to transform samples)."""
    kind = type(dataset)
    return all(getattr(kind, name, None) is getattr(cls, name, None) for name in methods)


def _index_array(indices: Any) -> np.ndarray | None:
    if isinstance(indices, range):
        return np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
    if isinstance(indices, Tensor):
        indices = indices.data
    try:
        positions = np.asarray(indices)
    except (TypeError, ValueError):
        return None
    if positions.ndim != 1 or (positions.size and positions.dtype.kind not in "iu"):
        return None
    return positions.astype(np.int64, copy=False)
