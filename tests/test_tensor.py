"""Tensor construction, the dtype policy, conversions, in-place edits and the constructors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError


def test_python_numbers_follow_the_dtype_policy():
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor([[1.0, 2.0]]).dtype == np.float32
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor([True, False]).dtype == np.bool_
    assert cr.tensor(np.zeros(2)).dtype == np.float64  # an ndarray keeps its dtype
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == np.float64
    assert cr.tensor(1.0, dtype="float64").dtype == np.float64


def test_tensor_copies_and_from_numpy_shares():
    array = np.zeros(3)
    copied, shared = cr.tensor(array), cr.from_numpy(array)
    array[0] = 5.0
    assert copied.data[0] == 0.0 and shared.data[0] == 5.0


def test_unsupported_data_is_a_dtype_error():
    with pytest.raises(DTypeError, match="numbers or booleans"):
        cr.tensor(["a", "b"])
    with pytest.raises(DTypeError, match="dtype"):
        cr.tensor([1.0], dtype="not-a-dtype")


def test_attributes_and_conversions():
    t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-2) == 2 and t.numel() == 6
    assert len(t) == 2 and t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert np.asarray(t) is t.data and t.numpy() is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert cr.tensor([2.5]).item() == 2.5 and float(cr.tensor(2.5)) == 2.5 and int(cr.tensor(3)) == 3
    assert bool(cr.tensor([1.0])) and [float(row[0]) for row in t] == [1.0, 4.0]


def test_item_of_many_elements_is_an_error():
    with pytest.raises(ArgumentError, match=r"shape \(2,\)|shape \(2\)"):
        cr.tensor([1.0, 2.0]).item()
    with pytest.raises(ArgumentError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))


def test_repr_shows_values_and_graph_state():
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "requires_grad=True" in repr(cr.tensor([1.0], requires_grad=True))
    assert "grad_fn=mul" in repr(cr.tensor([1.0], requires_grad=True) * 2.0)
    assert "dtype=float64" in repr(cr.tensor(np.ones(2)))


def test_tensors_hash_by_identity_for_dicts_and_sets():
    a, b = cr.tensor([1.0]), cr.tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


def test_in_place_helpers_edit_the_array():
    t = cr.zeros(3)
    t.fill_(2.0).add_(cr.ones(3), alpha=3.0).mul_(2.0).sub_(1.0).div_(3.0)
    np.testing.assert_allclose(t.data, [3.0, 3.0, 3.0])
    t.zero_()
    np.testing.assert_allclose(t.data, 0.0)
    t.copy_(np.array([1.0, 2.0, 3.0]))
    t.clamp_(max=2.0)
    np.testing.assert_allclose(t.data, [1.0, 2.0, 2.0])
    t[0] = 9.0
    t[cr.tensor([1, 2])] = cr.tensor([7.0, 8.0])
    np.testing.assert_allclose(t.data, [9.0, 7.0, 8.0])


def test_in_place_with_a_mismatched_shape_names_both():
    with pytest.raises(ArgumentError, match=r"shape \(3,\)"):
        cr.zeros(3).add_(cr.ones(4))


def test_constructors_shapes_and_dtypes():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros((2, 3)).dtype == np.float32
    assert cr.ones(4, dtype=cr.float64).dtype == np.float64
    assert cr.full((2, 2), 7).dtype == np.int64 and cr.full((2,), 0.5).dtype == np.float32
    np.testing.assert_array_equal(cr.arange(4).data, [0, 1, 2, 3])
    assert cr.arange(4).dtype == np.int64 and cr.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_allclose(cr.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(cr.eye(2, 3).data, np.eye(2, 3))
    assert cr.zeros_like(cr.ones(2, dtype=cr.float64)).dtype == np.float64
    assert cr.ones_like(cr.zeros(3)).data.sum() == 3
    assert cr.empty(2, 2).shape == (2, 2)
    with pytest.raises(ArgumentError, match="non-negative"):
        cr.zeros(-1)
    with pytest.raises(ArgumentError, match="step"):
        cr.arange(0, 1, 0)


def test_random_constructors_are_reproducible_with_manual_seed():
    cr.manual_seed(123)
    first = (cr.rand(3).data, cr.randn(2, 2).data, cr.randint(0, 10, (5,)).data, cr.randperm(4).data)
    cr.manual_seed(123)
    second = (cr.rand(3).data, cr.randn(2, 2).data, cr.randint(0, 10, (5,)).data, cr.randperm(4).data)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first[0].dtype == np.float32 and first[1].dtype == np.float32 and first[2].dtype == np.int64
    assert ((first[0] >= 0) & (first[0] < 1)).all()
    assert sorted(first[3].tolist()) == [0, 1, 2, 3]


def test_an_explicit_generator_is_independent_of_the_default():
    generator = cr.Generator(7)
    cr.manual_seed(0)
    a = cr.randn(3, generator=generator).data
    b = cr.randn(3, generator=cr.Generator(7)).data
    np.testing.assert_array_equal(a, b)


def test_generator_state_round_trips():
    generator = cr.Generator(1)
    state = generator.get_state()
    a = cr.rand(4, generator=generator).data
    generator.set_state(state)
    np.testing.assert_array_equal(cr.rand(4, generator=generator).data, a)
    with pytest.raises(ArgumentError, match="non-negative int"):
        cr.manual_seed(-3)


def test_randint_rejects_an_empty_range():
    with pytest.raises(ArgumentError, match="low < high"):
        cr.randint(5, 5, (2,))
