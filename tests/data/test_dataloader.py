"""DataLoader, samplers and default_collate."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)
from chainrule.errors import ArgumentError, DTypeError, ShapeError


def make_dataset(n: int = 10, dtype=np.float32) -> TensorDataset:
    x = np.arange(n * 3, dtype=dtype).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(x, y)


class Samples(Dataset):
    """A dataset without the fast path, returning whatever samples it is given."""

    def __init__(self, samples):
        self.samples = samples

    def __getitem__(self, index):
        return self.samples[index]

    def __len__(self):
        return len(self.samples)


def labels_of(loader) -> list[list[int]]:
    return [batch[1].tolist() for batch in loader]


def flat(batches: list[list[int]]) -> list[int]:
    return [label for batch in batches for label in batch]


def test_batches_in_order_with_shapes_and_dtypes_kept():
    loader = DataLoader(make_dataset(10, np.float64), batch_size=4)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert [b[1].shape for b in batches] == [(4,), (4,), (2,)]
    assert all(b[0].dtype == np.float64 and b[1].dtype == np.int64 for b in batches)
    assert labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(not t.requires_grad for b in batches for t in b)


def test_len_counts_batches_as_torch():
    ds = make_dataset(10)
    assert len(DataLoader(ds, batch_size=4)) == 3
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(ds, batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(ds)) == 10
    assert len(DataLoader(ds, batch_size=None)) == 10


def test_drop_last_drops_the_short_batch():
    loader = DataLoader(make_dataset(10), batch_size=4, drop_last=True, shuffle=True, generator=cr.Generator(0))
    batches = list(loader)
    assert len(batches) == len(loader) == 2
    assert all(b[0].shape == (4, 3) for b in batches)


def test_shuffle_is_reproducible_with_a_seeded_generator_and_new_each_epoch():
    ds = make_dataset(50)
    first = DataLoader(ds, batch_size=8, shuffle=True, generator=cr.Generator(5))
    second = DataLoader(ds, batch_size=8, shuffle=True, generator=cr.Generator(5))
    epoch1, epoch2 = labels_of(first), labels_of(first)
    assert epoch1 == labels_of(second)
    assert epoch2 == labels_of(second)
    assert epoch1 != epoch2
    for epoch in (epoch1, epoch2):
        assert sorted(flat(epoch)) == list(range(50))


def test_shuffle_without_a_generator_follows_manual_seed_not_numpy():
    ds = make_dataset(40)
    cr.manual_seed(123)
    order = labels_of(DataLoader(ds, batch_size=40, shuffle=True))
    cr.manual_seed(123)
    np.random.seed(0)
    np.random.permutation(40)
    assert labels_of(DataLoader(ds, batch_size=40, shuffle=True)) == order


def test_the_order_is_drawn_when_iteration_starts():
    generator = cr.Generator(0)
    loader = DataLoader(make_dataset(30), batch_size=30, shuffle=True, generator=generator)
    state = generator.get_state()
    iterator = iter(loader)
    assert generator.get_state() != state
    generator.set_state(state)
    assert next(iter(loader))[1].tolist() == next(iterator)[1].tolist()


def test_fast_path_gives_the_same_batches_as_the_per_sample_path():
    ds = make_dataset(23, np.float64)
    for kwargs in ({}, {"shuffle": True}, {"drop_last": True, "shuffle": True}):
        fast = DataLoader(ds, batch_size=5, generator=cr.Generator(9), **kwargs)
        slow = DataLoader(ds, batch_size=5, generator=cr.Generator(9), collate_fn=default_collate.__call__, **kwargs)
        for a, b in zip(fast, slow, strict=True):
            assert isinstance(a, list) and isinstance(b, list)
            for ta, tb in zip(a, b, strict=True):
                assert ta.dtype == tb.dtype
                np.testing.assert_array_equal(ta.data, tb.data)


def test_fast_path_does_not_fetch_samples(monkeypatch):
    original = TensorDataset.__getitem__
    calls = []

    def spy(self, index):
        calls.append(index)
        return original(self, index)

    monkeypatch.setattr(TensorDataset, "__getitem__", spy)
    list(DataLoader(make_dataset(8), batch_size=4, shuffle=True))
    assert calls == []
    list(DataLoader(make_dataset(8), batch_size=4, collate_fn=default_collate.__call__))
    assert len(calls) == 8


def test_a_subclass_overriding_getitem_is_fetched_sample_by_sample():
    class Doubled(TensorDataset):
        def __getitem__(self, index):
            (x,) = super().__getitem__(index)
            return (x * 2,)

    (batch,) = next(iter(DataLoader(Doubled(np.arange(4.0)), batch_size=4)))
    assert batch.tolist() == [0.0, 2.0, 4.0, 6.0]


def test_batches_are_copies_so_editing_one_leaves_the_data_alone():
    x = np.zeros((6, 2), dtype=np.float32)
    for shuffle in (False, True):
        for batch, _ in DataLoader(TensorDataset(x, np.zeros(6)), batch_size=3, shuffle=shuffle):
            batch.data += 1
    assert not x.any()


def test_subsets_of_a_tensor_dataset_take_the_fast_path_with_the_right_rows():
    ds = make_dataset(20)
    train, val = random_split(ds, [15, 5], generator=cr.Generator(1))
    nested = Subset(train, [14, 0, 3])
    (x, y) = next(iter(DataLoader(nested, batch_size=3)))
    expected = [train.indices[14], train.indices[0], train.indices[3]]
    assert y.tolist() == expected
    np.testing.assert_array_equal(x.data, ds.tensors[0].data[expected])
    assert sorted(flat(labels_of(DataLoader(val, batch_size=2, shuffle=True)))) == sorted(val.indices)
    tail = Subset(ds, range(15, 20))
    assert flat(labels_of(DataLoader(tail, batch_size=2))) == [15, 16, 17, 18, 19]


def test_a_subset_index_out_of_range_is_reported():
    with pytest.raises(IndexError, match="index 20 is out of range"):
        list(DataLoader(Subset(make_dataset(20), [3, 20]), batch_size=2))


def test_an_array_dataset_gives_tensor_batches():
    x = np.arange(10.0).reshape(5, 2)
    batches = list(DataLoader(x, batch_size=2))
    assert all(isinstance(b, cr.Tensor) for b in batches)
    assert batches[0].dtype == np.float64 and batches[2].shape == (1, 2)
    assert next(iter(DataLoader(cr.tensor(x), batch_size=5))).tolist() == x.tolist()


def test_default_collate_stacks_tuples_into_a_list_and_dicts_key_by_key():
    samples = [
        {"image": np.full((2, 2), i, dtype=np.float64), "label": i, "weight": 0.5, "pair": (i, float(i))}
        for i in range(3)
    ]
    batch = next(iter(DataLoader(Samples(samples), batch_size=3)))
    assert set(batch) == {"image", "label", "weight", "pair"}
    assert batch["image"].shape == (3, 2, 2) and batch["image"].dtype == np.float64
    assert batch["label"].dtype == np.int64 and batch["label"].tolist() == [0, 1, 2]
    assert batch["weight"].dtype == np.float32
    assert isinstance(batch["pair"], list) and batch["pair"][1].dtype == np.float32


def test_default_collate_keeps_numpy_scalar_dtypes_named_tuples_and_strings():
    Point = namedtuple("Point", ["x", "name"])
    batch = default_collate([Point(np.float64(1.5), "a"), Point(np.float64(2.5), "b")])
    assert isinstance(batch, Point)
    assert batch.x.dtype == np.float64 and batch.name == ["a", "b"]
    bools = default_collate([True, False])
    assert bools.dtype == np.bool_


def test_default_collate_stacks_tensors_without_grad():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    batch = default_collate([a, b])
    assert batch.shape == (2, 2) and not batch.requires_grad and batch.dtype == np.float32


def test_default_collate_reports_mismatched_samples():
    with pytest.raises(ShapeError, match=r"\(2\).*\(3\)|\(3\).*\(2\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ShapeError, match="different lengths"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(DTypeError):
        default_collate([None, None])


def test_custom_collate_fn_gets_the_list_of_samples():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return "batch"

    assert list(DataLoader(make_dataset(5), batch_size=2, collate_fn=collate)) == ["batch"] * 3
    assert seen == [2, 2, 1]


def test_batch_size_none_yields_converted_samples():
    items = list(DataLoader(make_dataset(3), batch_size=None))
    assert len(items) == 3 and isinstance(items[0], list)
    assert items[2][1].item() == 2 and items[0][0].shape == (3,)


def test_samplers_and_batch_samplers_set_the_order():
    ds = make_dataset(6)
    assert flat(labels_of(DataLoader(ds, batch_size=4, sampler=[5, 4, 3, 0]))) == [5, 4, 3, 0]
    batches = [[0, 5], [2], [1, 3, 4]]
    assert labels_of(DataLoader(ds, batch_sampler=batches)) == batches
    loader = DataLoader(ds, batch_size=2, sampler=SubsetRandomSampler([1, 3, 5], generator=cr.Generator(0)))
    assert sorted(flat(labels_of(loader))) == [1, 3, 5]


def test_batch_sampler_groups_indices_as_torch():
    assert list(BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2


def test_random_sampler_with_replacement_and_more_samples_than_data():
    sampler = RandomSampler(range(4), num_samples=10, generator=cr.Generator(0))
    drawn = list(sampler)
    assert len(drawn) == len(sampler) == 10
    assert sorted(drawn[:4]) == [0, 1, 2, 3] and sorted(drawn[4:8]) == [0, 1, 2, 3]
    with_replacement = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=cr.Generator(0)))
    assert len(with_replacement) == 50 and set(with_replacement) <= {0, 1, 2}


def test_weighted_random_sampler_never_draws_zero_weights():
    drawn = list(WeightedRandomSampler([0.0, 1.0, 3.0], 200, generator=cr.Generator(0)))
    assert 0 not in drawn and drawn.count(2) > drawn.count(1)
    distinct = list(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False, generator=cr.Generator(0)))
    assert sorted(distinct) == [0, 1, 2]
    with pytest.raises(ArgumentError):
        WeightedRandomSampler([1, 0], 2, replacement=False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"batch_size": 2.5},
        {"shuffle": "yes"},
        {"sampler": [0, 1], "shuffle": True},
        {"batch_sampler": [[0]], "batch_size": 4},
        {"batch_size": None, "drop_last": True},
        {"generator": np.random.default_rng(0)},
        {"collate_fn": 3},
    ],
)
def test_bad_arguments_raise_argument_error(kwargs):
    with pytest.raises(ArgumentError):
        DataLoader(make_dataset(4), **kwargs)


def test_a_non_dataset_is_refused():
    with pytest.raises(ArgumentError, match="map-style"):
        DataLoader(42)


def test_loader_exposes_torch_attributes():
    generator = cr.Generator(0)
    loader = DataLoader(make_dataset(4), batch_size=2, shuffle=True, generator=generator, num_workers=2)
    assert loader.generator is generator and loader.batch_size == 2 and not loader.drop_last
    assert isinstance(loader.sampler, RandomSampler) and isinstance(loader.batch_sampler, BatchSampler)
    assert loader.collate_fn is default_collate
