"""Indexing ops: values against NumPy, gradients (with repeated indices) against finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DimError, DTypeError, ShapeError
from chainrule.ops.indexing import normalize_index
from tests.helpers import check_gradients, compare_with_torch, random_array, torch

SHAPE = (4, 5, 3)
MASK = random_array(*SHAPE[:2], seed=11) > 0
MASK[0, 0] = True

# name: (index into an array of SHAPE, whether PyTorch accepts it as is (no negative steps))
INDICES = {
    "int": ((1,), True),
    "negative_int": ((-1, 2), True),
    "slice": ((slice(1, 3),), True),
    "negative_step_slice": ((slice(None, None, -2), slice(3, 0, -1)), False),
    "none_and_ellipsis": ((None, Ellipsis, 1), True),
    "ellipsis_slice": ((Ellipsis, slice(0, 2)), True),
    "bool_mask": ((MASK,), True),
    "bool_mask_after_slice": ((slice(None), MASK[0]), True),
    "repeated_int_list": (([0, 0, 3, 0],), True),
    "repeated_ints_on_middle_axis": ((slice(None), [4, 4, -1]), True),
    "repeated_ints_on_last_axis_after_ellipsis": ((Ellipsis, [2, 2, 0]), True),
    "2d_int_array": ((np.array([[0, 2], [0, 0]]),), True),
    "pairs_of_int_arrays": (([0, 1, 0], [2, 2, 2]), True),
    "advanced_split_by_slice": (([0, 0], slice(None), [1, 2]), True),
    "mixed_int_slice_array": ((1, slice(None, 4), [2, 2, 0]), True),
    "ellipsis_int_array": ((Ellipsis, 1, [0, 1, 1]), True),
    "none_then_array": ((None, slice(1, 3), [2, 2, 0]), True),
    "array_and_mask": (([1, 1, 3], np.array([True, False, True, False, True])), True),
}


def _torch_index(index):
    return tuple(torch.tensor(p) if isinstance(p, list | np.ndarray) else p for p in index)


@pytest.mark.parametrize("name", INDICES)
def test_getitem_matches_numpy_and_finite_differences(name):
    index, _ = INDICES[name]
    a = random_array(*SHAPE, seed=1)
    out = cr.tensor(a)[index]
    expected = a[tuple(np.asarray(p) if isinstance(p, list) else p for p in index)]
    if name == "mixed_int_slice_array":
        expected = a[1][:4, [2, 2, 0]]  # PyTorch applies ints first; NumPy would move the advanced dims to the front
    np.testing.assert_array_equal(out.data, expected)
    check_gradients(lambda x: x[index], a)


@pytest.mark.parametrize("name", [n for n, (_, in_torch) in INDICES.items() if in_torch])
def test_getitem_matches_torch(name):
    index, _ = INDICES[name]
    compare_with_torch(lambda x: x[index], lambda x: x[_torch_index(index)], random_array(*SHAPE, seed=2))


def test_negative_step_gradient_matches_torch_flip():
    a = random_array(4, 5, seed=3)
    compare_with_torch(lambda x: x[::-1, 3:0:-2], lambda x: x.flip(0)[:, 1:4:2].flip(1), a)


def test_ints_apply_before_advanced_indices_as_in_torch():
    x = cr.zeros(4, 5, 3)
    assert x[1, :, [0, 1]].shape == (5, 2)  # NumPy's rule would give (2, 5)
    assert x[cr.tensor(1), :, cr.tensor([0, 1])].shape == (5, 2)
    assert x[..., 1, [0, 1, 1]].shape == (4, 3)
    assert x[None, 1, :, [0, 1]].shape == (1, 5, 2)
    assert x[[0, 1], :, 1].shape == (2, 5)


def test_repeated_indices_accumulate_gradient():
    x = cr.tensor(np.zeros((3, 2)), requires_grad=True)
    (x[[0, 2, 0, 0]] * cr.tensor([[1.0], [2.0], [3.0], [4.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[8.0, 8.0], [0.0, 0.0], [2.0, 2.0]])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_fast_scatter_matches_np_add_at(axis):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((6, 7, 8))
    idx = rng.integers(-a.shape[axis], a.shape[axis], size=(5, 9))
    index = (slice(None),) * axis + (idx,)
    x = cr.tensor(a, requires_grad=True)
    out = x[index]
    grad = rng.standard_normal(out.shape)
    out.backward(grad)
    expected = np.zeros_like(a)
    np.add.at(expected, index, grad)
    np.testing.assert_allclose(x.grad.data, expected, atol=1e-12)


def test_index_tensors_act_like_arrays():
    a = random_array(4, 3, seed=5)
    x = cr.tensor(a)
    np.testing.assert_array_equal(x[cr.tensor([3, 0, 3])].data, a[[3, 0, 3]])
    np.testing.assert_array_equal(x[cr.tensor(a[:, 0] > 0)].data, a[a[:, 0] > 0])
    np.testing.assert_array_equal(x[cr.tensor(2)].data, a[2])
    assert np.shares_memory(x[cr.tensor(2)].data, x.data)  # a 0-d integer tensor indexes like an int
    np.testing.assert_array_equal(x[1:, cr.tensor([0, 2])].data, a[1:, [0, 2]])
    assert x[[]].shape == (0, 3)


def test_getitem_basic_result_is_a_float32_view():
    x = cr.zeros(3, 4)
    out = x[1:, ::2]
    assert out.dtype == np.float32 and np.shares_memory(out.data, x.data)
    assert x[0, 0].shape == () and isinstance(x[0, 0].data, np.ndarray)


def test_normalize_index_converts_tensors_and_rejects_floats():
    index = normalize_index((cr.tensor([1, 2]), slice(None), cr.tensor(True)))
    assert isinstance(index[0], np.ndarray) and index[0].dtype == np.int64
    assert index[1] == slice(None)
    assert isinstance(index[2], np.ndarray)
    assert normalize_index(3) == 3
    for bad in (cr.tensor([0.0, 1.0]), 1.0, [0.5], np.array([1.0]), (0, cr.tensor([1.0]))):
        with pytest.raises(DTypeError):
            normalize_index(bad)


def test_setitem_takes_tensor_indices():
    x = cr.zeros(3, 2)
    x[cr.tensor([0, 2])] = 1.0
    np.testing.assert_array_equal(x.data, [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])


@pytest.mark.parametrize(
    ("index", "pattern"),
    [
        ((5,), r"index 5 .* size 3"),
        ((slice(None), [0, 7]), r"index 7 .* size 4"),
        ((0, 0, 0), "too many indices"),
        ((np.array([True, False]),), "size of axis is 3"),
    ],
)
def test_out_of_range_index_raises_dim_error(index, pattern):
    with pytest.raises(DimError, match=pattern):
        cr.zeros(3, 4)[index]
    with pytest.raises(IndexError):  # DimError is also an IndexError, as Python users expect
        cr.zeros(3, 4)[index]


def test_float_index_raises_dtype_error():
    x = cr.zeros(3, 4)
    with pytest.raises(DTypeError, match="float32"):
        x[cr.tensor([1.0])]
    with pytest.raises(DTypeError):
        x[1.0]


# -- gather, take_along_dim, index_select --------------------------------------------------------------------
GATHERS = [
    # (input shape, dim, index shape, index high)
    ((4, 5, 3), 1, (4, 7, 3), 5),
    ((4, 5, 3), 0, (6, 2, 3), 4),
    ((4, 5, 3), -1, (2, 3, 4), 3),
    ((3, 4), 1, (3, 1), 4),
    ((5,), 0, (8,), 5),
]


@pytest.mark.parametrize(("shape", "dim", "index_shape", "high"), GATHERS)
def test_gather_matches_numpy_and_finite_differences(shape, dim, index_shape, high):
    a = random_array(*shape, seed=6)
    idx = np.random.default_rng(7).integers(0, high, size=index_shape)  # many repeats
    source = a[tuple(slice(None) if k == dim % a.ndim else slice(0, n) for k, n in enumerate(index_shape))]
    np.testing.assert_array_equal(cr.gather(cr.tensor(a), dim, idx).data, np.take_along_axis(source, idx, dim))
    check_gradients(lambda x: x.gather(dim, idx), a)
    compare_with_torch(lambda x, i: cr.gather(x, dim, i), lambda x, i: torch.gather(x, dim, i), a, idx)


def test_gather_picks_class_scores():
    scores = cr.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    np.testing.assert_allclose(scores.gather(1, cr.tensor([[1], [0]])).data, [[0.7], [0.5]])


@pytest.mark.parametrize(
    ("shape", "index_shape", "dim"),
    [((4, 5, 3), (4, 2, 3), 1), ((4, 5, 3), (1, 6, 1), 1), ((4, 1, 3), (2, 3, 1), 0), ((4, 5), (2, 3), None)],
)
def test_take_along_dim_broadcasts_and_matches_torch(shape, index_shape, dim):
    a = random_array(*shape, seed=8)
    size = a.size if dim is None else shape[dim]
    idx = np.random.default_rng(9).integers(0, size, size=index_shape)
    if dim is None:
        expected = a.reshape(-1)[idx.reshape(-1)]
    else:
        expected = np.take_along_axis(a, idx, dim)  # NumPy broadcasts the other dims too
    np.testing.assert_array_equal(cr.take_along_dim(cr.tensor(a), idx, dim).data, expected)
    check_gradients(lambda x: x.take_along_dim(idx, dim), a)
    compare_with_torch(lambda x, i: cr.take_along_dim(x, i, dim), lambda x, i: torch.take_along_dim(x, i, dim), a, idx)


def test_take_along_dim_accepts_negative_indices():
    a = random_array(3, 4, seed=10)
    idx = np.array([[-1, 0], [-4, -4], [2, -2]])
    np.testing.assert_array_equal(cr.take_along_dim(cr.tensor(a), idx, 1).data, np.take_along_axis(a, idx, 1))
    check_gradients(lambda x: cr.take_along_dim(x, idx, 1), a)


@pytest.mark.parametrize(
    ("shape", "dim", "index"), [((4, 5), 0, [3, 3, 0, 3]), ((2, 5, 3), 1, [4, 0, 4]), ((3, 4), -1, [2])]
)
def test_index_select_matches_numpy_and_accumulates(shape, dim, index):
    a = random_array(*shape, seed=12)
    idx = np.array(index)
    np.testing.assert_array_equal(cr.index_select(cr.tensor(a), dim, idx).data, np.take(a, idx, axis=dim))
    check_gradients(lambda x: x.index_select(dim, cr.tensor(idx)), a)
    compare_with_torch(lambda x, i: cr.index_select(x, dim, i), lambda x, i: torch.index_select(x, dim, i), a, idx)


def test_index_select_with_0d_index_keeps_the_dim():
    assert cr.zeros(3, 4).index_select(0, cr.tensor(1)).shape == (1, 4)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda x: x.gather(1, cr.tensor([[0.0]])), DTypeError),
        (lambda x: x.gather(1, cr.tensor([[4]])), DimError),
        (lambda x: x.gather(1, cr.tensor([[-1]])), DimError),
        (lambda x: x.gather(1, cr.tensor([1])), ShapeError),
        (lambda x: x.gather(1, cr.zeros(4, 2, dtype=cr.int64)), ShapeError),
        (lambda x: x.gather(2, cr.tensor([[0]])), DimError),
        (lambda x: x.take_along_dim(cr.tensor([[4]]), 1), DimError),
        (lambda x: x.take_along_dim(cr.tensor([1]), 1), ShapeError),
        (lambda x: x.index_select(0, cr.tensor([3])), DimError),
        (lambda x: x.index_select(0, cr.tensor([-1])), DimError),
        (lambda x: x.index_select(0, cr.tensor([[0]])), ShapeError),
        (lambda x: x.index_select(0, cr.tensor([0.0])), DTypeError),
    ],
)
def test_gather_family_errors(call, error):
    with pytest.raises(error):
        call(cr.zeros(3, 4))


def test_gather_error_names_the_index_and_size():
    with pytest.raises(DimError, match=r"index 7 .* dim 1 of size 4"):
        cr.zeros(3, 4).gather(1, cr.tensor([[7]]))


# -- masked_fill -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "mask_shape"), [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (2, 3, 4)), ((4,), ())])
def test_masked_fill_matches_numpy_and_finite_differences(shape, mask_shape):
    a = random_array(*shape, seed=13)
    mask = random_array(*mask_shape, seed=14) > 0
    np.testing.assert_array_equal(cr.tensor(a).masked_fill(cr.tensor(mask), -9.0).data, np.where(mask, -9.0, a))
    check_gradients(lambda x: cr.masked_fill(x, mask, 2.5), a)
    compare_with_torch(lambda x, m: cr.masked_fill(x, m, 2.5), lambda x, m: torch.masked_fill(x, m, 2.5), a, mask)


def test_masked_fill_value_tensor_gets_the_filled_gradients():
    a = random_array(3, 4, seed=15)
    mask = random_array(3, 4, seed=16) > 0
    check_gradients(lambda x, v: x.masked_fill(mask, v), a, np.array(0.5))
    compare_with_torch(
        lambda x, v: x.masked_fill(cr.tensor(mask), v),
        lambda x, v: x.masked_fill(torch.tensor(mask), v),
        a,
        np.array(0.5),
    )


def test_masked_fill_zeroes_gradient_where_filled_and_keeps_float32():
    x = cr.ones(2, 2, requires_grad=True)
    out = x.masked_fill(cr.tensor([[True, False], [False, True]]), float("-inf"))
    assert out.dtype == np.float32
    out.exp().sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0.0, np.e], [np.e, 0.0]], rtol=1e-6)


def test_masked_fill_errors():
    x = cr.zeros(2, 3)
    with pytest.raises(DTypeError):
        x.masked_fill(cr.tensor([1, 0, 1]), 1.0)
    with pytest.raises(ShapeError):
        x.masked_fill(cr.tensor([True, False]), 1.0)
    with pytest.raises(ShapeError):
        x.masked_fill(cr.tensor([True, False, True]), cr.tensor([1.0, 2.0]))
