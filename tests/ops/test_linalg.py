"""matmul, dot and the fused linear: values against NumPy, gradients against finite differences and PyTorch,
shape and dtype errors, and the backward skipping operands that do not require grad."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops.linalg import dot, linear, matmul
from tests.helpers import check_gradients, compare_with_torch, random_array, requires_torch, torch

MATMUL_SHAPES = [
    ((3, 4), (4, 2)),  # matrix @ matrix
    ((4,), (4,)),  # vector . vector -> scalar
    ((4,), (4, 3)),  # vector @ matrix
    ((3, 4), (4,)),  # matrix @ vector
    ((2, 3, 4), (4, 5)),  # batch @ shared matrix (folded into one GEMM)
    ((2, 3, 4), (2, 4, 5)),  # batch @ batch
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dims broadcast: (2, 1) with (5,)
    ((1, 3, 4), (2, 4, 2)),  # size-1 batch dim stretched
    ((3, 4), (2, 4, 5)),  # matrix @ batch
    ((4,), (2, 4, 3)),  # vector @ batch
    ((2, 3, 4), (4,)),  # batch @ vector
]
MATMUL_IDS = [f"{a}@{b}" for a, b in MATMUL_SHAPES]


def _matmul_operands(shape_a: tuple, shape_b: tuple) -> tuple[np.ndarray, np.ndarray]:
    return random_array(*shape_a, seed=1), random_array(*shape_b, seed=2)


@pytest.mark.parametrize(("shape_a", "shape_b"), MATMUL_SHAPES, ids=MATMUL_IDS)
def test_matmul_gradients_match_finite_differences(shape_a, shape_b):
    check_gradients(matmul, *_matmul_operands(shape_a, shape_b))


@pytest.mark.parametrize(("shape_a", "shape_b"), MATMUL_SHAPES, ids=MATMUL_IDS)
def test_matmul_forward_matches_numpy(shape_a, shape_b):
    a, b = _matmul_operands(shape_a, shape_b)
    out = matmul(cr.tensor(a), cr.tensor(b))
    assert isinstance(out.data, np.ndarray)
    assert out.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(out.data, np.matmul(a, b), rtol=1e-14)


@requires_torch
@pytest.mark.parametrize(("shape_a", "shape_b"), MATMUL_SHAPES, ids=MATMUL_IDS)
def test_matmul_matches_torch(shape_a, shape_b):
    compare_with_torch(matmul, torch.matmul, *_matmul_operands(shape_a, shape_b), atol=1e-12)


def test_matmul_operator_method_and_reflected_ndarray_operand():
    a, b = _matmul_operands((2, 3), (3, 4))
    expected = a @ b
    np.testing.assert_allclose((cr.tensor(a) @ cr.tensor(b)).data, expected, rtol=1e-14)
    np.testing.assert_allclose(cr.tensor(a).matmul(cr.tensor(b)).data, expected, rtol=1e-14)
    np.testing.assert_allclose((a @ cr.tensor(b)).data, expected, rtol=1e-14)
    np.testing.assert_allclose(cr.matmul(cr.tensor(a), b).data, expected, rtol=1e-14)


def test_matmul_keeps_float32_forward_and_backward():
    a = cr.tensor(np.ones((2, 3, 4), dtype=np.float32), requires_grad=True)
    b = cr.tensor(np.ones((4, 5), dtype=np.float32), requires_grad=True)
    out = a @ b
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == a.grad.dtype == b.grad.dtype == np.float32


def test_matmul_mismatched_inner_dims_names_both_shapes_and_dims():
    with pytest.raises(ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\).*\(3\).*\(4\)"):
        matmul(cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((4, 5))))
    with pytest.raises(ShapeError, match=r"\(3,\)|\(3\)"):
        matmul(cr.tensor(np.ones((2, 4))), cr.tensor(np.ones(3)))


def test_matmul_unbroadcastable_batch_dims_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"batch dims.*\(2\) and \(3\)"):
        matmul(cr.tensor(np.ones((2, 3, 4))), cr.tensor(np.ones((3, 4, 5))))


def test_matmul_refuses_0d_operands_and_mixed_dtypes():
    with pytest.raises(ShapeError, match="at least 1 dimension"):
        matmul(cr.tensor(2.0), cr.tensor(np.ones(3)))
    with pytest.raises(DTypeError, match="float32 and float64"):
        matmul(cr.tensor(np.ones((2, 2), dtype=np.float32)), cr.tensor(np.ones((2, 2))))


@pytest.mark.parametrize(("shape_a", "shape_b"), [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5))])
def test_matmul_backward_skips_the_gradient_of_an_operand_that_does_not_require_grad(shape_a, shape_b, monkeypatch):
    a, b = _matmul_operands(shape_a, shape_b)
    x = cr.tensor(a)  # an input batch: no gradient wanted
    w = cr.tensor(b, requires_grad=True)
    out = matmul(x, w)
    calls = []
    original = np.matmul
    monkeypatch.setattr(np, "matmul", lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    out.backward(np.ones(out.shape))
    assert len(calls) == 1
    assert x.grad is None
    expected = np.matmul(np.swapaxes(a, -1, -2), np.ones(out.shape))
    np.testing.assert_allclose(w.grad.data, expected.reshape(-1, *b.shape).sum(axis=0), rtol=1e-13)


# -- dot ----------------------------------------------------------------------------------------------------


def test_dot_value_gradients_and_torch():
    a, b = random_array(5, seed=1), random_array(5, seed=2)
    out = dot(cr.tensor(a), cr.tensor(b))
    assert out.shape == () and isinstance(out.data, np.ndarray)
    assert out.item() == pytest.approx(float(np.dot(a, b)), rel=1e-14)
    check_gradients(dot, a, b)
    if torch is not None:
        compare_with_torch(dot, torch.dot, a, b, atol=1e-12)


def test_dot_refuses_matrices_and_vectors_of_different_sizes():
    with pytest.raises(ShapeError, match=r"dot: expected two 1-D tensors, got shapes \(2, 2\)"):
        dot(cr.tensor(np.ones((2, 2))), cr.tensor(np.ones(2)))
    with pytest.raises(ShapeError, match="same size, got 3 and 4"):
        dot(cr.tensor(np.ones(3)), cr.tensor(np.ones(4)))
    with pytest.raises(DTypeError, match="dot"):
        dot(cr.tensor(np.ones(3, dtype=np.float32)), cr.tensor(np.ones(3)))


# -- linear -------------------------------------------------------------------------------------------------

LINEAR_CASES = [
    ((4, 3), 2, True),  # a batch of rows
    ((2, 3, 4), 5, True),  # a sequence batch: leading dims folded
    ((3,), 2, True),  # a single sample
    ((4, 3), 2, False),  # no bias
    ((2, 1, 3), 1, False),
]
LINEAR_IDS = [f"x{shape}-out{out}-{'bias' if bias else 'nobias'}" for shape, out, bias in LINEAR_CASES]


def _linear_arrays(x_shape: tuple, out_features: int, bias: bool) -> list[np.ndarray]:
    in_features = x_shape[-1]
    arrays = [random_array(*x_shape, seed=1), random_array(out_features, in_features, seed=2)]
    if bias:
        arrays.append(random_array(out_features, seed=3))
    return arrays


def _numpy_linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    return x @ w.T + (0 if b is None else b)


@pytest.mark.parametrize(("x_shape", "out_features", "bias"), LINEAR_CASES, ids=LINEAR_IDS)
def test_linear_gradients_match_finite_differences(x_shape, out_features, bias):
    check_gradients(linear, *_linear_arrays(x_shape, out_features, bias))


@pytest.mark.parametrize(("x_shape", "out_features", "bias"), LINEAR_CASES, ids=LINEAR_IDS)
def test_linear_forward_matches_numpy(x_shape, out_features, bias):
    arrays = _linear_arrays(x_shape, out_features, bias)
    out = linear(*[cr.tensor(a) for a in arrays])
    assert out.shape == (*x_shape[:-1], out_features)
    np.testing.assert_allclose(out.data, _numpy_linear(*arrays), rtol=1e-14)


@requires_torch
@pytest.mark.parametrize(("x_shape", "out_features", "bias"), LINEAR_CASES, ids=LINEAR_IDS)
def test_linear_matches_torch(x_shape, out_features, bias):
    compare_with_torch(linear, torch.nn.functional.linear, *_linear_arrays(x_shape, out_features, bias), atol=1e-12)


def test_linear_keeps_float32_forward_and_backward():
    x = cr.tensor(np.ones((6, 3), dtype=np.float32), requires_grad=True)
    w = cr.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    b = cr.tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    out = linear(x, w, b)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    np.testing.assert_array_equal(b.grad.data, [6.0, 6.0])


def test_linear_backward_skips_the_input_gradient_of_a_batch(monkeypatch):
    x_data, w_data, b_data = _linear_arrays((2, 4, 3), 5, True)
    x = cr.tensor(x_data)  # the network's input: never requires grad
    w = cr.tensor(w_data, requires_grad=True)
    b = cr.tensor(b_data, requires_grad=True)
    out = linear(x, w, b)
    calls = []
    original = np.matmul
    monkeypatch.setattr(
        np, "matmul", lambda *args, **kwargs: calls.append(np.ndim(args[0])) or original(*args, **kwargs)
    )
    grad = random_array(*out.shape, seed=4)
    out.backward(grad)
    assert calls.count(2) == 1  # grad_W only (the bias's column sums are a product with a vector of ones)
    assert x.grad is None
    np.testing.assert_allclose(w.grad.data, grad.reshape(-1, 5).T @ x_data.reshape(-1, 3), rtol=1e-13)
    np.testing.assert_allclose(b.grad.data, grad.reshape(-1, 5).sum(axis=0), rtol=1e-13)


def test_linear_with_wrong_in_features_names_linear_the_expected_size_and_the_input_shape():
    with pytest.raises(ShapeError, match=r"linear: expected input of shape \(\*, in_features=3\).*\(8, 4\)"):
        linear(cr.tensor(np.ones((8, 4))), cr.tensor(np.ones((2, 3))))


def test_linear_refuses_bad_weight_bias_and_mixed_dtypes():
    x = cr.tensor(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"linear: weight must be 2-D.*got shape \(3\)"):
        linear(x, cr.tensor(np.ones(3)))
    with pytest.raises(ShapeError, match=r"linear: bias must have shape \(2\).*got \(3\)"):
        linear(x, cr.tensor(np.ones((2, 3))), cr.tensor(np.ones(3)))
    with pytest.raises(DTypeError, match=r"linear.*float32 and float64"):
        linear(cr.tensor(np.ones((4, 3), dtype=np.float32)), cr.tensor(np.ones((2, 3))))
    with pytest.raises(DTypeError, match="linear"):
        linear(x, cr.tensor(np.ones((2, 3))), cr.tensor(np.ones(2, dtype=np.float32)))
