"""Elementwise ops: values against NumPy, gradients against finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DTypeError, ShapeError
from tests.helpers import check_gradients, compare_with_torch, random_array, torch

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (2, 3)), ((2, 1, 3), (4, 1))]

BINARY = {
    "add": (cr.add, np.add, "add"),
    "sub": (cr.sub, np.subtract, "sub"),
    "mul": (cr.mul, np.multiply, "mul"),
    "div": (cr.div, np.divide, "div"),
    "maximum": (cr.maximum, np.maximum, "maximum"),
    "minimum": (cr.minimum, np.minimum, "minimum"),
}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS)
def test_binary_op_matches_numpy_and_finite_differences(name, shapes):
    ours, reference, _ = BINARY[name]
    a, b = random_array(*shapes[0], seed=1), random_array(*shapes[1], seed=2)
    if name == "div":
        b = np.where(np.abs(b) < 0.5, 1.5, b)
    np.testing.assert_allclose(ours(cr.tensor(a), cr.tensor(b)).data, reference(a, b))
    check_gradients(ours, a, b)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS[:3])
def test_binary_op_matches_torch(name, shapes):
    ours, _, torch_name = BINARY[name]
    a, b = random_array(*shapes[0], seed=3), random_array(*shapes[1], seed=4) + 3.0
    compare_with_torch(ours, lambda x, y: getattr(torch, torch_name)(x, y), a, b)


UNARY = {
    # name: (ours, numpy reference, domain low, domain high)
    "neg": (cr.neg, np.negative, -2, 2),
    "abs": (cr.abs, np.abs, -2, 2),
    "exp": (cr.exp, np.exp, -2, 2),
    "log": (cr.log, np.log, 0.2, 3),
    "log1p": (cr.log1p, np.log1p, -0.5, 3),
    "expm1": (cr.expm1, np.expm1, -2, 2),
    "sqrt": (cr.sqrt, np.sqrt, 0.2, 3),
    "rsqrt": (cr.rsqrt, lambda x: 1 / np.sqrt(x), 0.2, 3),
    "sin": (cr.sin, np.sin, -3, 3),
    "cos": (cr.cos, np.cos, -3, 3),
    "tanh": (cr.tanh, np.tanh, -3, 3),
    "sigmoid": (cr.sigmoid, lambda x: 1 / (1 + np.exp(-x)), -5, 5),
    "square": (cr.square, np.square, -2, 2),
    "reciprocal": (cr.reciprocal, np.reciprocal, 0.3, 3),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 1, 3)])
def test_unary_op_matches_numpy_and_finite_differences(name, shape):
    ours, reference, low, high = UNARY[name]
    x = random_array(*shape, seed=5, low=low, high=high)
    if name == "abs":
        x = np.where(np.abs(x) < 0.1, 0.5, x)  # away from the kink, where finite differences are meaningless
    np.testing.assert_allclose(ours(cr.tensor(x)).data, reference(x), rtol=1e-12)
    check_gradients(ours, x)


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_matches_torch(name):
    ours, _, low, high = UNARY[name]
    x = random_array(3, 4, seed=6, low=low, high=high)
    compare_with_torch(ours, getattr(torch, name) if torch is not None else None, x)


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1.5, 0])
def test_pow_with_scalar_exponent(exponent):
    x = random_array(3, 4, seed=7, low=0.3, high=2)
    np.testing.assert_allclose(cr.tensor(x).pow(exponent).data, x**exponent)
    check_gradients(lambda t: t**exponent, x)
    compare_with_torch(lambda t: t**exponent, lambda t: t**exponent, x)


def test_pow_with_tensor_exponent_differentiates_both_operands():
    base = random_array(3, 1, seed=8, low=0.5, high=2)
    exponent = random_array(1, 4, seed=9, low=-2, high=2)
    check_gradients(cr.pow, base, exponent)
    compare_with_torch(cr.pow, torch.pow if torch is not None else None, base, exponent)


def test_pow_gradient_of_exponent_is_zero_where_base_is_zero():
    base = cr.tensor(np.array([0.0, 2.0]), requires_grad=True)
    exponent = cr.tensor(np.array([2.0, 3.0]), requires_grad=True)
    (base**exponent).sum().backward()
    np.testing.assert_allclose(exponent.grad.data, [0.0, 8 * np.log(2.0)])
    np.testing.assert_allclose(base.grad.data, [0.0, 12.0])


def test_scalar_on_either_side():
    x = random_array(2, 3, seed=10, low=0.5, high=2)
    check_gradients(lambda t: 2.0 - t, x)
    check_gradients(lambda t: 3.0 / t, x)
    check_gradients(lambda t: 2.0**t, x)
    check_gradients(lambda t: 1.5 + t * 4, x)
    np.testing.assert_allclose((2.0 - cr.tensor(x)).data, 2.0 - x)
    np.testing.assert_allclose((3.0 / cr.tensor(x)).data, 3.0 / x)
    np.testing.assert_allclose((2.0 ** cr.tensor(x)).data, 2.0**x)


def test_numpy_array_on_the_left_gives_a_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(out, cr.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


def test_float32_stays_float32_with_python_scalars():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2.5 + 1) / 3 - 0.5
    y = y**2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_float64_is_preserved():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = cr.exp(x * 2.0).sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_maximum_and_minimum_split_the_gradient_at_ties():
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = cr.tensor([1.0, 5.0, 0.0], requires_grad=True)
    cr.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad.data, [0.5, 1.0, 0.0])
    a.grad = b.grad = None
    cr.minimum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.5, 1.0, 0.0])


def test_maximum_ties_match_torch():
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0], [2.0]])
    compare_with_torch(cr.maximum, torch.maximum if torch is not None else None, a, b)


def test_abs_gradient_is_zero_at_zero():
    x = cr.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_allclose(x.grad.data, [-1.0, 0.0, 1.0])


def test_clamp_passes_gradient_inside_and_at_the_bounds():
    x = cr.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    y = x.clamp(-1.0, 1.0)
    np.testing.assert_allclose(y.data, [-1, -1, 0, 1, 1])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [0, 1, 1, 1, 0])
    check_gradients(lambda t: cr.clamp(t, min=-0.5), random_array(3, 4, seed=11))
    compare_with_torch(
        lambda t: t.clamp(-1.0, 1.0),
        lambda t: t.clamp(-1.0, 1.0),
        np.array([-2.0, -1.0, 0.0, 1.0, 2.0]),
    )


def test_clamp_with_tensor_bounds_differentiates_the_bounds():
    x, low = random_array(3, 4, seed=12), random_array(1, 4, seed=13, low=-0.5, high=0.5)
    check_gradients(lambda t, lo: cr.clamp(t, min=lo), x, low)


def test_clamp_without_bounds_is_an_error():
    with pytest.raises(ShapeError, match="clamp"):
        cr.tensor([1.0]).clamp()


def test_where_routes_the_gradient_by_the_mask():
    condition = np.array([[True, False, True]])
    a, b = random_array(2, 3, seed=14), random_array(3, seed=15)
    check_gradients(lambda x, y: cr.where(cr.tensor(condition), x, y), a, b)
    compare_with_torch(
        lambda x, y: cr.where(cr.tensor(condition), x, y),
        lambda x, y: torch.where(torch.tensor(condition), x, y),
        a,
        b,
    )


def test_where_rejects_a_non_boolean_condition():
    with pytest.raises(DTypeError, match="where: condition must be a bool"):
        cr.where(cr.tensor([1, 0]), cr.tensor([1.0, 2.0]), 0.0)


def test_sigmoid_is_finite_and_accurate_at_extremes():
    x = cr.tensor(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]), requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is the right answer
        y = cr.sigmoid(x)
    np.testing.assert_allclose(y.data, [0.0, 1 / (1 + np.exp(40.0)), 0.5, 1.0, 1.0], rtol=1e-12)
    y.sum().backward()
    assert np.isfinite(x.grad.data).all()


def test_piecewise_constant_ops_have_zero_gradient():
    x = cr.tensor([0.4, 1.6, -2.5], requires_grad=True)
    (cr.round(x) + cr.floor(x) + cr.ceil(x) + cr.sign(x) + cr.trunc(x) + x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0, 1.0, 1.0])


def test_comparisons_give_boolean_constants():
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (a > 2, [False, False, True]),
        (a >= 2, [False, True, True]),
        (a < 2, [True, False, False]),
        (a <= 2, [True, True, False]),
        (a == 2, [False, True, False]),
        (a != 2, [True, False, True]),
    ]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    np.testing.assert_array_equal(((a > 1) & (a < 3)).data, [False, True, False])
    np.testing.assert_array_equal((~(a > 1)).data, [True, False, False])


def test_cast_between_float_dtypes_carries_the_gradient_back():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, [2.0, 4.0])
    assert x.float() is x
    assert not x.long().requires_grad and x.long().dtype == np.int64


def test_clone_copies_and_passes_the_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert y.data is not x.data
    (y * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])


def test_shapes_that_do_not_broadcast_raise_a_shape_error_naming_both():
    with pytest.raises(ShapeError, match=r"mul: shapes \(2, 3\) and \(4,\)|mul: shapes \(2, 3\) and \(4\)"):
        cr.ones(2, 3) * cr.ones(4)
    with pytest.raises(ValueError):  # our errors are ValueErrors too
        cr.ones(2, 3) + cr.ones(3, 2)


def test_integer_division_gives_floats():
    out = cr.tensor([3, 4]) / cr.tensor([2, 2])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, [1.5, 2.0])
