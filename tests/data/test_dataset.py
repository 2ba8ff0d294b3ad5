"""TensorDataset, Subset, ConcatDataset and random_split."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from chainrule.errors import ArgumentError, DTypeError, ShapeError


def test_tensor_dataset_items_are_tuples_of_rows_keeping_dtypes():
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([3, 1, 0, 2], dtype=np.int64)
    ds = TensorDataset(cr.tensor(x), y)
    assert len(ds) == 4
    row, label = ds[2]
    assert isinstance(row, cr.Tensor) and isinstance(label, cr.Tensor)
    np.testing.assert_array_equal(row.data, x[2])
    assert row.dtype == np.float64 and label.dtype == np.int64 and label.shape == () and label.item() == 0


def test_tensor_dataset_shares_memory_with_its_arrays():
    x = np.zeros((3, 2), dtype=np.float32)
    ds = TensorDataset(x)
    assert np.shares_memory(ds.tensors[0].data, x)


def test_tensor_dataset_of_different_lengths_names_the_sizes():
    with pytest.raises(ShapeError, match=r"\[4, 3\]"):
        TensorDataset(np.zeros((4, 2)), np.zeros(3))


def test_tensor_dataset_rejects_scalars_strings_and_nothing():
    with pytest.raises(ShapeError, match="scalar"):
        TensorDataset(np.zeros(3), np.float32(1.0))
    with pytest.raises(DTypeError):
        TensorDataset(np.array(["a", "b"]))
    with pytest.raises(ArgumentError):
        TensorDataset()


def test_dataset_base_needs_getitem_and_adds_into_a_concat():
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    both = TensorDataset(np.arange(3)) + TensorDataset(np.arange(10, 12))
    assert isinstance(both, ConcatDataset) and len(both) == 5


def test_subset_maps_indices_and_lists_of_indices():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3
    assert sub[0][0].item() == 70 and sub[-1][0].item() == 50
    (values,) = sub[[0, 1]]
    assert values.tolist() == [70, 20]
    assert [s[0].item() for s in sub.__getitems__([2, 0])] == [50, 70]


def test_concat_dataset_indexes_across_parts_and_from_the_end():
    ds = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(100, 102))])
    assert [ds[i][0].item() for i in range(len(ds))] == [0, 1, 2, 100, 101]
    assert ds[-1][0].item() == 101 and ds[-5][0].item() == 0
    assert ds.cumulative_sizes == [3, 5]
    with pytest.raises(IndexError, match="out of range"):
        ds[5]
    with pytest.raises(ArgumentError):
        ConcatDataset([])


def test_random_split_by_counts_is_a_disjoint_cover():
    parts = random_split(range(20), [12, 5, 3], generator=cr.Generator(0))
    assert [len(p) for p in parts] == [12, 5, 3]
    seen = [p.dataset[i] for p in parts for i in p.indices]
    assert sorted(seen) == list(range(20))


def test_random_split_by_fractions_hands_out_the_remainder_as_torch():
    assert [len(p) for p in random_split(range(10), [0.33, 0.33, 0.34])] == [4, 3, 3]
    assert [len(p) for p in random_split(range(7), [0.5, 0.5])] == [4, 3]


def test_random_split_is_reproducible_with_a_seeded_generator_and_varies_without():
    a = random_split(range(50), [25, 25], generator=cr.Generator(3))
    b = random_split(range(50), [25, 25], generator=cr.Generator(3))
    c = random_split(range(50), [25, 25], generator=cr.Generator(4))
    assert a[0].indices == b[0].indices
    assert a[0].indices != c[0].indices


def test_random_split_uses_the_default_generator_not_numpys():
    cr.manual_seed(11)
    first = random_split(range(30), [15, 15])[0].indices
    np.random.seed(0)
    cr.manual_seed(11)
    np.random.rand()
    assert random_split(range(30), [15, 15])[0].indices == first


def test_random_split_rejects_lengths_that_do_not_add_up():
    with pytest.raises(ArgumentError, match="sum to 9"):
        random_split(range(10), [5, 4])
    with pytest.raises(ArgumentError, match="sum to 1"):
        random_split(range(10), [0.5, 0.2])
    with pytest.raises(ArgumentError):
        random_split(range(10), [-1, 11])


def test_random_split_warns_of_an_empty_part():
    with pytest.warns(UserWarning, match="length 0"):
        parts = random_split(range(3), [0.1, 0.1, 0.8])
    assert [len(p) for p in parts] == [1, 0, 2]
