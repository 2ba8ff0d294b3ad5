"""Reductions: values against NumPy, gradients against finite differences and PyTorch, and the edge cases
(ties, zeros in products, huge logits, too few elements for a variance, empty and bad dims)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DimError, DTypeError, ShapeError
from tests.helpers import check_gradients, compare_with_torch, random_array, torch

# (shape, dim, keepdim): every dim spelling PyTorch takes, on 0-d, size-1 and 3-d tensors.
DIM_CASES = [
    ((2, 3, 4), None, False),
    ((2, 3, 4), None, True),
    ((2, 3, 4), 1, False),
    ((2, 3, 4), -1, True),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (-1, -2), True),
    ((3, 1), 1, False),
    ((3, 1), 0, True),
    ((5,), 0, False),
    ((), None, False),
    ((), 0, True),
]


def numpy_axis(shape: tuple[int, ...], dim: object) -> object:
    """The NumPy `axis` for a PyTorch `dim` (a 0-d tensor takes dim 0 but NumPy wants None)."""
    return None if dim is None or not shape else dim


def torch_dim(shape: tuple[int, ...], dim: object) -> object:
    """amax and logsumexp spell 'every dim' as a tuple in PyTorch, not None."""
    return tuple(range(len(shape))) if dim is None and shape else (0 if dim is None else dim)


def np_logsumexp(x: np.ndarray, axis: object, keepdims: bool) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


# name: (ours(x, dim, keepdim), theirs(t, dim, keepdim), numpy(x, axis, keepdims), needs 2+ reduced elements)
REDUCTIONS = {
    "sum": (lambda x, d, k: cr.sum(x, d, k), lambda t, d, k: torch.sum(t, d, k), np.sum, False),
    "mean": (lambda x, d, k: cr.mean(x, d, k), lambda t, d, k: torch.mean(t, d, k), np.mean, False),
    "var": (
        lambda x, d, k: cr.var(x, d, keepdim=k),
        lambda t, d, k: torch.var(t, d, keepdim=k),
        lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims, ddof=1),
        True,
    ),
    "std_population": (
        lambda x, d, k: cr.std(x, d, keepdim=k, correction=0),
        lambda t, d, k: torch.std(t, d, keepdim=k, correction=0),
        lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims),
        True,
    ),
    "amax": (
        lambda x, d, k: cr.amax(x, d, k),
        lambda t, d, k: torch.amax(t, torch_dim(t.shape, d), k),
        np.max,
        False,
    ),
    "amin": (
        lambda x, d, k: cr.amin(x, d, k),
        lambda t, d, k: torch.amin(t, torch_dim(t.shape, d), k),
        np.min,
        False,
    ),
    "logsumexp": (
        lambda x, d, k: cr.logsumexp(x, torch_dim(x.shape, d), k),
        lambda t, d, k: torch.logsumexp(t, torch_dim(t.shape, d), k),
        np_logsumexp,
        False,
    ),
    "norm": (
        lambda x, d, k: cr.norm(x, dim=d, keepdim=k),
        lambda t, d, k: torch.norm(t, dim=d, keepdim=k),
        lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
        False,
    ),
}


def reduced_count(shape: tuple[int, ...], dim: object) -> int:
    if dim is None or not shape:
        return math.prod(shape)
    dims = (dim,) if isinstance(dim, int) else dim
    return math.prod(shape[d] for d in dims)


# A variance of one element is NaN and cannot be checked by finite differences: the too-few-elements tests
# below cover it.
REDUCTION_CASES = [
    (name, shape, dim, keepdim)
    for name in REDUCTIONS
    for shape, dim, keepdim in DIM_CASES
    if not (REDUCTIONS[name][3] and reduced_count(shape, dim) < 2)
]


@pytest.mark.parametrize(("name", "shape", "dim", "keepdim"), REDUCTION_CASES)
def test_reduction_matches_numpy_and_finite_differences(name, shape, dim, keepdim):
    ours, _, reference, _ = REDUCTIONS[name]
    x = random_array(*shape, seed=7)
    out = ours(cr.tensor(x), dim, keepdim)
    expected = np.asarray(reference(x, axis=numpy_axis(shape, dim), keepdims=keepdim))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    check_gradients(lambda t: ours(t, dim, keepdim), x)


@pytest.mark.parametrize(("name", "shape", "dim", "keepdim"), REDUCTION_CASES)
def test_reduction_matches_torch(name, shape, dim, keepdim):
    ours, theirs, _, _ = REDUCTIONS[name]
    compare_with_torch(lambda t: ours(t, dim, keepdim), lambda t: theirs(t, dim, keepdim), random_array(*shape, seed=8))


def test_empty_tuple_dim_reduces_every_dim_as_in_torch():
    x = random_array(2, 3, seed=9)
    for op in (cr.sum, cr.mean, cr.amax):
        np.testing.assert_allclose(op(cr.tensor(x), ()).data, op(cr.tensor(x)).data)


def test_axis_and_keepdims_are_aliases_of_dim_and_keepdim():
    x = cr.tensor(random_array(2, 3, 4, seed=10))
    for op in (cr.sum, cr.mean, cr.var, cr.std, cr.amax, cr.amin, cr.logsumexp, cr.norm):
        np.testing.assert_array_equal(op(x, axis=(0, 2), keepdims=True).data, op(x, dim=(0, 2), keepdim=True).data)
    np.testing.assert_array_equal(cr.argmax(x, axis=1, keepdims=True).data, cr.argmax(x, 1, True).data)
    assert cr.max(x, axis=2).values.shape == (2, 3)
    with pytest.raises(DimError, match="sum: pass dim or axis"):
        cr.sum(x, dim=0, axis=1)


def test_reductions_are_tensor_methods():
    x = cr.tensor(random_array(2, 3, seed=11))
    np.testing.assert_allclose(x.sum(1).data, cr.sum(x, 1).data)
    np.testing.assert_allclose(x.max(0).values.data, cr.max(x, 0).values.data)
    assert x.norm().item() == pytest.approx(np.linalg.norm(x.data))


def test_the_gradient_a_reduction_hands_a_leaf_is_its_own_writable_array():
    # sum and mean pass a stride-0 view backward; the leaf must still get an array it can edit in place.
    a = cr.tensor(np.ones((2, 3)), requires_grad=True)
    b = cr.tensor(np.ones((2, 3)), requires_grad=True)
    (cr.sum(a) + cr.mean(b, 1).sum()).backward()
    a.grad.data += 1.0
    b.grad.data *= 3.0
    np.testing.assert_array_equal(a.grad.data, np.full((2, 3), 2.0))
    np.testing.assert_array_equal(b.grad.data, np.ones((2, 3)))


# -- sum and mean --------------------------------------------------------------------------------------------
def test_sum_of_integers_and_bools_is_int64_like_torch():
    assert cr.sum(cr.tensor(np.arange(4, dtype=np.int32))).dtype == np.int64
    total = cr.sum(cr.tensor([True, False, True]))
    assert total.dtype == np.int64 and total.item() == 2


def test_sum_dtype_casts_first_and_the_gradient_keeps_the_input_dtype():
    x = cr.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    out = cr.sum(x, 1, dtype=cr.float64)
    assert out.dtype == np.float64
    out.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))


def test_mean_of_integers_raises_like_torch_unless_a_float_dtype_is_given():
    x = cr.tensor([1, 2])
    with pytest.raises(DTypeError, match="mean: expected a floating-point tensor, got int64"):
        cr.mean(x)
    assert cr.mean(x, dtype=cr.float32).item() == 1.5


def test_mean_over_zero_elements_is_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(cr.mean(cr.tensor(np.zeros(0))).item())
        np.testing.assert_array_equal(cr.mean(cr.tensor(np.zeros((2, 0))), 1).data, [np.nan, np.nan])
        np.testing.assert_array_equal(cr.sum(cr.tensor(np.zeros((2, 0))), 1).data, [0.0, 0.0])


# -- var and std ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("correction", [0, 1, 0.5, 2])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_var_and_std_corrections_match_torch_and_finite_differences(op, correction, dim):
    x = random_array(3, 4, seed=12)
    ours = lambda t: getattr(cr, op)(t, dim, correction=correction)  # noqa: E731
    compare_with_torch(ours, lambda t: getattr(torch, op)(t, dim, correction=correction), x)
    check_gradients(ours, x)


def test_unbiased_is_the_older_spelling_of_correction():
    x = cr.tensor(random_array(3, 4, seed=13))
    np.testing.assert_allclose(cr.var(x, 1, False).data, cr.var(x, 1, correction=0).data)
    np.testing.assert_allclose(cr.var(x, unbiased=True).data, cr.var(x).data)
    np.testing.assert_allclose(cr.std(x, False).data, np.std(x.data))  # torch.std(x, False): no dim
    with pytest.raises(ArgumentError, match="var: pass correction= or unbiased="):
        cr.var(x, unbiased=False, correction=0)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch warns about degrees of freedom <= 0
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize(
    ("values", "dim", "correction"),
    [
        ([2.0], None, 1),  # N == correction: 0 / 0
        ([1.0, 2.0], None, 2),  # N == correction: c / 0
        ([1.0, 2.0], None, 3),  # N < correction
        ([1.0, 1.0], None, 2),
        ([[1.0, 2.0], [3.0, 3.0]], 1, 2),
        ([[1.0, 2.0], [3.0, 5.0]], 1, 3),
        ([[1.0, 2.0]], 0, 1),
        (2.0, None, 1),  # a 0-d tensor
    ],
)
def test_var_and_std_with_too_few_elements_give_torchs_inf_and_nan(op, values, dim, correction):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # NumPy must not complain either
        compare_with_torch(
            lambda t: getattr(cr, op)(t, dim, correction=correction),
            lambda t: getattr(torch, op)(t, dim, correction=correction),
            np.asarray(values, dtype=np.float64),
        )


def test_std_of_constant_values_has_zero_gradient_like_torch():
    x = cr.tensor(np.full((2, 3), 4.0), requires_grad=True)
    cr.std(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros((2, 3)))


def test_var_of_integers_raises():
    with pytest.raises(DTypeError, match="var: expected a floating-point tensor"):
        cr.var(cr.tensor([1, 2, 3]))


# -- max, min, amax, amin ------------------------------------------------------------------------------------
def grad_of(fn, values, dtype=np.float64):
    x = cr.tensor(np.asarray(values, dtype=dtype), requires_grad=True)
    out = fn(x)
    out.sum().backward()
    return out, x.grad.data


@pytest.mark.parametrize(
    ("fn", "values", "expected"),
    [
        (cr.max, [1.0, 3.0, 3.0, 2.0], [0, 0.5, 0.5, 0]),
        (cr.min, [1.0, 1.0, 3.0, 2.0], [0.5, 0.5, 0, 0]),
        (cr.max, [[5.0, 1.0], [5.0, 5.0]], [[1 / 3, 0], [1 / 3, 1 / 3]]),
        (cr.amax, [1.0, 3.0, 3.0, 3.0], [0, 1 / 3, 1 / 3, 1 / 3]),
        (cr.amin, [[2.0, 2.0], [2.0, 7.0]], [[1 / 3, 1 / 3], [1 / 3, 0]]),
        (lambda x: cr.amax(x, 0), [[1.0, 3.0], [1.0, 2.0]], [[0.5, 1], [0.5, 0]]),
        (lambda x: cr.amin(x, (0, 2)), [[[1.0, 1.0]], [[1.0, 2.0]]], [[[1 / 3, 1 / 3]], [[1 / 3, 0]]]),
    ],
)
def test_full_max_min_and_amax_amin_share_the_gradient_evenly_among_ties(fn, values, expected):
    _, grad = grad_of(fn, values)
    np.testing.assert_allclose(grad, expected, rtol=1e-15)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_gradient_at_ties_matches_torch(name):
    x = np.array([[1.0, 3.0, 3.0, 1.0], [2.0, 2.0, 2.0, 2.0], [0.0, 3.0, 0.0, 3.0]])
    ours, theirs = getattr(cr, name), getattr(torch, name) if torch is not None else None
    compare_with_torch(ours, theirs, x)
    if name in ("amax", "amin"):
        compare_with_torch(lambda t: ours(t, 1), lambda t: theirs(t, 1), x)
    else:
        compare_with_torch(lambda t: ours(t, 1).values, lambda t: theirs(t, 1).values, x)


def test_max_along_a_dim_gives_the_first_index_on_ties_and_all_the_gradient_to_it():
    x = cr.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), requires_grad=True)
    values, indices = cr.max(x, 1)
    np.testing.assert_array_equal(values.data, [3.0, 2.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert indices.dtype == np.int64 and not indices.requires_grad
    values.sum().backward()
    grad = x.grad.data
    np.testing.assert_array_equal(grad, [[0, 1, 0], [1, 0, 0]])
    mins = cr.min(cr.tensor([4.0, 1.0, 1.0]), 0)
    assert mins.indices.item() == 1 and mins.values.item() == 1.0


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize(
    ("shape", "dim", "keepdim"),
    [((2, 3, 4), 1, False), ((2, 3, 4), -1, True), ((3, 1), 1, False), ((5,), 0, True), ((), 0, False)],
)
def test_max_min_along_a_dim_match_numpy_torch_and_finite_differences(name, shape, dim, keepdim):
    x = random_array(*shape, seed=14)
    ours = getattr(cr, name)
    result = ours(cr.tensor(x), dim, keepdim)
    assert type(result).__name__ == ("MaxResult" if name == "max" else "MinResult")
    arg = np.argmax if name == "max" else np.argmin
    axis = dim if shape else None
    np.testing.assert_array_equal(result.indices.data, arg(x, axis=axis, keepdims=keepdim and bool(shape)))
    np.testing.assert_array_equal(result.values.data, getattr(np, name)(x, axis=axis, keepdims=keepdim and bool(shape)))
    check_gradients(lambda t: ours(t, dim, keepdim).values, x)
    compare_with_torch(
        lambda t: ours(t, dim, keepdim).values, lambda t: getattr(torch, name)(t, dim, keepdim).values, x
    )
    if torch is not None:
        ref = getattr(torch, name)(torch.tensor(x), dim, keepdim)
        np.testing.assert_array_equal(result.indices.data, ref.indices.numpy())


def test_max_and_min_without_dim_return_a_0d_tensor_matching_torch():
    x = random_array(3, 4, seed=15)
    for name in ("max", "min"):
        out = getattr(cr, name)(cr.tensor(x))
        assert out.shape == () and out.item() == getattr(np, name)(x)
        compare_with_torch(getattr(cr, name), getattr(torch, name) if torch is not None else None, x)


def test_max_and_min_of_two_tensors_are_the_elementwise_maximum_and_minimum():
    a, b = random_array(3, 1, seed=16), random_array(4, seed=17)
    out = cr.max(cr.tensor(a, requires_grad=True), cr.tensor(b))
    assert out.grad_fn == "maximum"
    np.testing.assert_array_equal(out.data, np.maximum(a, b))
    np.testing.assert_array_equal(cr.min(cr.tensor(a), cr.tensor(b)).data, np.minimum(a, b))
    compare_with_torch(cr.max, torch.max if torch is not None else None, a, b)


def test_a_nan_is_the_extreme_and_takes_the_gradient_like_torch():
    x = np.array([1.0, np.nan, 2.0])
    compare_with_torch(cr.max, torch.max if torch is not None else None, x)
    compare_with_torch(lambda t: cr.max(t, 0).values, lambda t: torch.max(t, 0).values, x)
    compare_with_torch(cr.amax, torch.amax if torch is not None else None, x)
    assert cr.argmax(cr.tensor(x)).item() == 1 and cr.argmin(cr.tensor(x)).item() == 1


def test_max_amax_argmax_over_zero_elements_raise_shape_error():
    empty = cr.tensor(np.zeros((2, 0)))
    with pytest.raises(ShapeError, match=r"max: cannot reduce a tensor of shape \(2, 0\) over all dims"):
        cr.max(empty)
    with pytest.raises(ShapeError, match=r"amax: cannot reduce a tensor of shape \(2, 0\) over dim 1"):
        cr.amax(empty, 1)
    with pytest.raises(ShapeError, match="argmin"):
        cr.argmin(empty)
    assert cr.amax(empty, 0).shape == (0,)


def test_max_with_several_dims_points_to_amax():
    with pytest.raises(DimError, match=r"max: dim must be a single int.*use amax"):
        cr.max(cr.tensor(np.ones((2, 3))), (0, 1))


# -- argmax, argmin, any, all ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize(("dim", "keepdim"), [(None, False), (None, True), (0, False), (1, True), (-1, False)])
def test_argmax_argmin_match_torch_with_first_index_on_ties(name, dim, keepdim):
    x = np.array([[1.0, 5.0, 5.0], [0.0, 0.0, -1.0], [5.0, 0.0, 5.0]])
    out = getattr(cr, name)(cr.tensor(x), dim, keepdim)
    assert out.dtype == np.int64 and not out.requires_grad
    if torch is not None:
        ref = getattr(torch, name)(torch.tensor(x), dim, keepdim)
        assert out.shape == tuple(ref.shape)
        np.testing.assert_array_equal(out.data, ref.numpy())
    else:
        pytest.skip("PyTorch is not installed")


def test_argmax_of_a_0d_tensor_is_zero():
    assert cr.argmax(cr.tensor(3.0)).item() == 0 and cr.argmin(cr.tensor(3.0), 0).shape == ()


@pytest.mark.parametrize("name", ["any", "all"])
@pytest.mark.parametrize(("dim", "keepdim"), [(None, False), (1, False), (-1, True), ((0, 2), False), ((), False)])
def test_any_all_match_torch_and_give_bool_constants(name, dim, keepdim):
    x = np.array([[[0.0, 1.0], [2.0, 3.0]], [[0.0, 0.0], [1.0, 1.0]], [[4.0, 5.0], [0.0, 6.0]]])
    out = getattr(cr, name)(cr.tensor(x, requires_grad=True), dim, keepdim)
    assert out.dtype == np.bool_ and not out.requires_grad
    expected = getattr(np, name)(x != 0, axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(out.data, expected)
    if torch is not None:
        np.testing.assert_array_equal(out.data, getattr(torch, name)(torch.tensor(x), dim=dim, keepdim=keepdim).numpy())


# -- logsumexp -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_of_huge_logits_is_finite_and_exact(dtype):
    logits = np.array([[1e4, 1e4, 0.0], [-1e4, 0.0, 1e4 - 1.0]], dtype=dtype)
    out, grad = grad_of(lambda t: cr.logsumexp(t, 1), logits, dtype)
    assert np.isfinite(out.data).all() and out.dtype == dtype
    np.testing.assert_allclose(out.data, [1e4 + math.log(2.0), 1e4 - 1.0], rtol=1e-7)
    np.testing.assert_allclose(grad, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], atol=1e-7)
    compare_with_torch(lambda t: cr.logsumexp(t, 1), lambda t: torch.logsumexp(t, 1), logits.astype(np.float64))


def test_logsumexp_gradient_is_softmax():
    x = random_array(3, 5, seed=18)
    _, grad = grad_of(lambda t: cr.logsumexp(t, -1), x)
    np.testing.assert_allclose(grad, np.exp(x) / np.exp(x).sum(-1, keepdims=True), rtol=1e-12)


def test_logsumexp_with_minus_infinity_entries_matches_torch():
    x = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out, grad = grad_of(lambda t: cr.logsumexp(t, 1), x)
    np.testing.assert_allclose(out.data, [math.log(1 + math.e), -np.inf])
    np.testing.assert_allclose(grad[0], [0.0, 1 / (1 + math.e), math.e / (1 + math.e)])
    compare_with_torch(lambda t: cr.logsumexp(t, 1), lambda t: torch.logsumexp(t, 1), x)
    np.testing.assert_array_equal(cr.logsumexp(cr.tensor(np.zeros((2, 0))), 1).data, [-np.inf, -np.inf])


def test_logsumexp_requires_dim_like_torch():
    with pytest.raises(ArgumentError, match="logsumexp: dim is required"):
        cr.logsumexp(cr.tensor([1.0, 2.0]))


# -- prod ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "dim", "expected"),
    [
        ([2.0, 0.0, 3.0, 4.0], None, [0, 24, 0, 0]),
        ([0.0, 2.0, 0.0], None, [0, 0, 0]),
        ([[0.0, 2.0, 0.0], [1.0, 2.0, 3.0], [5.0, 0.0, 2.0]], 1, [[0, 0, 0], [6, 3, 2], [0, 10, 0]]),
        ([[0.0, 2.0], [3.0, 0.0]], None, [[0, 0], [0, 0]]),
        ([[0.0, 2.0], [3.0, 4.0]], None, [[24, 0], [0, 0]]),
        ([0.0], 0, [1]),
    ],
)
def test_prod_gradient_is_exact_with_one_or_several_zeros(values, dim, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no division by zero anywhere
        _, grad = grad_of(lambda t: cr.prod(t, dim), values)
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize(
    ("shape", "dim", "keepdim"),
    [
        ((2, 3, 4), None, False),
        ((2, 3, 4), 1, True),
        ((3, 4), -1, False),
        ((3, 1), 1, False),
        ((), None, False),
        ((), 0, True),
    ],
)
@pytest.mark.parametrize("with_zeros", [False, True])
def test_prod_matches_numpy_torch_and_finite_differences(shape, dim, keepdim, with_zeros):
    x = random_array(*shape, seed=19)
    if with_zeros and x.size > 1:
        x.reshape(-1)[::3] = 0.0
    out = cr.prod(cr.tensor(x), dim, keepdim)
    np.testing.assert_allclose(out.data, np.prod(x, axis=numpy_axis(shape, dim), keepdims=keepdim), rtol=1e-12)
    check_gradients(lambda t: cr.prod(t, dim, keepdim), x)
    if dim is None:
        compare_with_torch(lambda t: cr.prod(t), torch.prod if torch is not None else None, x)
    else:
        compare_with_torch(lambda t: cr.prod(t, dim, keepdim), lambda t: torch.prod(t, dim, keepdim), x)


def test_prod_of_integers_is_int64_and_takes_one_dim():
    assert cr.prod(cr.tensor(np.array([2, 3], dtype=np.int32))).dtype == np.int64
    with pytest.raises(DimError, match="prod: dim must be a single int or None"):
        cr.prod(cr.tensor(np.ones((2, 2))), (0, 1))


# -- norm ----------------------------------------------------------------------------------------------------
NORM_ORDERS = [1, 2, "fro", math.inf, -math.inf, 0, 0.5, 1.5, 3, -1]


@pytest.mark.parametrize("p", NORM_ORDERS)
@pytest.mark.parametrize(("dim", "keepdim"), [(None, False), (1, True), ((0, 2), False)])
def test_norm_matches_numpy_torch_and_finite_differences(p, dim, keepdim):
    x = random_array(2, 3, 4, seed=20)
    order = 2 if p == "fro" else p
    axis = dim
    magnitude = np.abs(x)
    if order == math.inf:
        expected = magnitude.max(axis=axis, keepdims=keepdim)
    elif order == -math.inf:
        expected = magnitude.min(axis=axis, keepdims=keepdim)
    elif order == 0:
        expected = (x != 0).sum(axis=axis, keepdims=keepdim).astype(float)
    else:
        expected = (magnitude**order).sum(axis=axis, keepdims=keepdim) ** (1 / order)
    ours = lambda t: cr.norm(t, p, dim, keepdim)  # noqa: E731
    np.testing.assert_allclose(ours(cr.tensor(x)).data, expected, rtol=1e-12)
    check_gradients(ours, x)
    compare_with_torch(ours, lambda t: torch.norm(t, p, dim, keepdim), x)


@pytest.mark.parametrize("p", [2, 1.5, 3, 0.5, 1, math.inf])
def test_norm_of_a_zero_vector_has_zero_gradient_like_torch(p):
    x = np.zeros((2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _, grad = grad_of(lambda t: cr.norm(t, p, 1), x)
    np.testing.assert_array_equal(grad, np.zeros((2, 3)))
    compare_with_torch(lambda t: cr.norm(t, p, 1), lambda t: torch.norm(t, p, 1), x)


def test_norm_with_some_zero_entries_matches_torch():
    x = np.array([[0.0, 3.0, -4.0], [0.0, 0.0, 2.0]])
    for p in (2, 1, 0.5, 1.5, 3, -1, math.inf):
        compare_with_torch(lambda t, p=p: cr.norm(t, p, 1), lambda t, p=p: torch.norm(t, p, 1), x)


def test_norm_rejects_unknown_orders_and_integer_input():
    x = cr.tensor(np.ones((2, 2)))
    with pytest.raises(ArgumentError, match="norm: the nuclear norm"):
        cr.norm(x, "nuc")
    with pytest.raises(ArgumentError, match="norm: p must be a number"):
        cr.norm(x, "l2")
    with pytest.raises(DimError, match="norm: the Frobenius norm takes at most 2 dims"):
        cr.norm(cr.tensor(np.ones((2, 2, 2))), "fro", (0, 1, 2))
    with pytest.raises(DTypeError, match="norm: expected a floating-point tensor"):
        cr.norm(cr.tensor([3, 4]))


# -- dtypes and errors ---------------------------------------------------------------------------------------
FLOAT32_CASES = {
    "sum": lambda t: cr.sum(t, 1),
    "mean": lambda t: cr.mean(t),
    "var": lambda t: cr.var(t, 0),
    "std": lambda t: cr.std(t, (0, 1), correction=0),
    "max": lambda t: cr.max(t),
    "max_dim": lambda t: cr.max(t, 1).values,
    "min_dim": lambda t: cr.min(t, 0).values,
    "amax": lambda t: cr.amax(t, 1),
    "amin": lambda t: cr.amin(t),
    "logsumexp": lambda t: cr.logsumexp(t, 1),
    "prod": lambda t: cr.prod(t, 1),
    "prod_zeros": lambda t: cr.prod(t * cr.tensor(np.array([[0.0], [1.0]], dtype=np.float32))),
    "norm": lambda t: cr.norm(t),
    "norm_p": lambda t: cr.norm(t, 3.5, 1),
    "norm_small_p": lambda t: cr.norm(t, 0.5, 1),
    "norm_inf": lambda t: cr.norm(t, math.inf, 0),
}


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_stays_float32_in_values_and_gradients(name):
    x = cr.tensor(random_array(2, 3, seed=21).astype(np.float32), requires_grad=True)
    out = FLOAT32_CASES[name](x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize(
    "call",
    [
        lambda x: cr.sum(x, 2),
        lambda x: cr.mean(x, (0, -3)),
        lambda x: cr.var(x, 2),
        lambda x: cr.std(x, -3),
        lambda x: cr.amax(x, 2),
        lambda x: cr.amin(x, (1, 2)),
        lambda x: cr.max(x, 2),
        lambda x: cr.min(x, -3),
        lambda x: cr.argmax(x, 2),
        lambda x: cr.logsumexp(x, 2),
        lambda x: cr.prod(x, 2),
        lambda x: cr.norm(x, 2, 2),
        lambda x: cr.any(x, 2),
        lambda x: cr.all(x, -3),
    ],
)
def test_bad_dims_raise_dim_error_naming_the_op_the_dim_and_ndim(call):
    with pytest.raises(DimError) as error:
        call(cr.tensor(np.ones((2, 3))))
    message = str(error.value)
    assert "is out of range for a tensor of 2 dimension(s)" in message
    assert message.split(":")[0] in {"sum", "mean", "var", "std", "amax", "amin", "max", "min", "argmax",
                                     "logsumexp", "prod", "norm", "any", "all"}  # fmt: skip
    assert "dim 2" in message or "dim -3" in message


def test_a_repeated_dim_raises_dim_error():
    with pytest.raises(DimError, match=r"sum: dim \(1, -1\) names a dimension more than once"):
        cr.sum(cr.tensor(np.ones((2, 3))), (1, -1))
