"""The ops' shared helpers: column sums by BLAS, undoing broadcasting, zeroing a dropped gradient."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.ops._util import column_sums, unbroadcast, zero_where


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.float16])
@pytest.mark.parametrize("shape", [(1, 5), (7, 3), (128, 10), (4096, 16)])
def test_column_sums_match_numpy_in_every_dtype(shape, dtype):
    a = (np.random.default_rng(0).standard_normal(shape) * 10).astype(dtype)
    got = column_sums(a)
    assert got.dtype == dtype and got.shape == (shape[1],)
    expected = a.astype(np.float64).sum(axis=0)
    tolerance = {np.float16: 1e-3, np.float32: 1e-5}.get(dtype, 1e-12)
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * np.abs(a).sum(axis=0).max())


def test_column_sums_of_float16_accumulate_in_float32():
    # A float16 accumulator over 4,096 rows errs by 4e-4 of the absolute sum; float32's by the final rounding.
    a = (np.random.default_rng(3).standard_normal((4096, 16)) * 10).astype(np.float16)
    got = column_sums(a)
    exact = a.astype(np.float64).sum(axis=0)
    assert got.dtype == np.float16
    assert np.abs(got - exact).max() <= 1e-4 * np.abs(a.astype(np.float64)).sum(axis=0).max()


def test_column_sums_of_a_transposed_view():
    a = np.random.default_rng(1).standard_normal((16, 300)).astype(np.float32)
    np.testing.assert_allclose(column_sums(a.T), a.sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize(
    ("grad_shape", "shape"),
    [
        ((64, 10), (10,)),
        ((2, 32, 5), (5,)),
        ((2, 32, 5), (32, 5)),
        ((2, 32, 5), (1, 5)),
        ((2, 32, 5), (32, 1)),
        ((4, 3), ()),
    ],
)
def test_unbroadcast_sums_leading_and_stretched_dims(grad_shape, shape):
    grad = np.random.default_rng(2).standard_normal(grad_shape)
    lead = len(grad_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, size in enumerate(shape) if size == 1)
    expected = grad.sum(axis=axes).reshape(shape)
    np.testing.assert_allclose(unbroadcast(grad, shape), expected, rtol=1e-12)
    np.testing.assert_allclose(unbroadcast(np.asfortranarray(grad), shape), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("in_place", [False, True])
def test_zero_where_drops_to_exact_zero_and_keeps_every_other_value_bit_for_bit(dtype, in_place):
    grad = np.array([[1.5, np.inf, -np.inf, np.nan], [-0.0, 2.0, np.nan, -3.0]], dtype=dtype).T  # a strided view
    before = grad.copy()
    drop = np.array([[True, True, False, True], [False, False, False, True]]).T.copy()
    got = zero_where(grad, drop.copy(), grad if in_place else None)
    assert got.dtype == dtype and got.shape == grad.shape
    assert (got is grad) == in_place

    def bits(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a).view(np.uint8)

    np.testing.assert_array_equal(bits(got), bits(np.where(drop, dtype(0), before)))
    if not in_place:
        np.testing.assert_array_equal(bits(grad), bits(before))  # the input is only read
