"""Activations: values and gradients against NumPy, finite differences and PyTorch; kinks, tails, stability."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DimError, DTypeError
from chainrule.ops import activation as act
from tests.helpers import check_gradients, compare_with_torch, random_array, requires_torch, torch

F = torch.nn.functional if torch is not None else None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _np_softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, x)


def _np_elu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _np_gelu(x: np.ndarray) -> np.ndarray:
    return x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


# (id, ours, torch's, NumPy's forward)
ELEMENTWISE = [
    ("relu", act.relu, lambda x: F.relu(x), lambda x: np.maximum(x, 0)),
    ("leaky_relu", act.leaky_relu, lambda x: F.leaky_relu(x), lambda x: np.where(x > 0, x, 0.01 * x)),
    (
        "leaky_relu_0.2",
        lambda x: act.leaky_relu(x, 0.2),
        lambda x: F.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
    ),
    (
        "leaky_relu_steep",
        lambda x: act.leaky_relu(x, 1.5),
        lambda x: F.leaky_relu(x, 1.5),
        lambda x: np.where(x > 0, x, 1.5 * x),
    ),
    (
        "leaky_relu_negative",
        lambda x: act.leaky_relu(x, -0.5),
        lambda x: F.leaky_relu(x, -0.5),
        lambda x: np.where(x > 0, x, -0.5 * x),
    ),
    ("hardtanh", act.hardtanh, lambda x: F.hardtanh(x), lambda x: np.clip(x, -1, 1)),
    (
        "hardtanh_bounds",
        lambda x: act.hardtanh(x, min_val=-2.0, max_val=0.5),
        lambda x: F.hardtanh(x, min_val=-2.0, max_val=0.5),
        lambda x: np.clip(x, -2, 0.5),
    ),
    ("relu6", act.relu6, lambda x: F.relu6(x), lambda x: np.clip(x, 0, 6)),
    ("hardsigmoid", act.hardsigmoid, lambda x: F.hardsigmoid(x), lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    ("hardswish", act.hardswish, lambda x: F.hardswish(x), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("elu", act.elu, lambda x: F.elu(x), lambda x: _np_elu(x, 1.0)),
    ("elu_alpha", lambda x: act.elu(x, alpha=0.5), lambda x: F.elu(x, alpha=0.5), lambda x: _np_elu(x, 0.5)),
    (
        "selu",
        act.selu,
        lambda x: F.selu(x),
        lambda x: 1.0507009873554805 * _np_elu(x, 1.6732632423543772),
    ),
    (
        "celu",
        lambda x: act.celu(x, alpha=2.0),
        lambda x: F.celu(x, alpha=2.0),
        lambda x: np.where(x > 0, x, 2.0 * np.expm1(np.minimum(x, 0) / 2.0)),
    ),
    ("gelu", act.gelu, lambda x: F.gelu(x), _np_gelu),
    (
        "gelu_tanh",
        lambda x: act.gelu(x, approximate="tanh"),
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    ("softplus", act.softplus, lambda x: F.softplus(x), _np_softplus),
    (
        "softplus_beta_threshold",
        lambda x: act.softplus(x, beta=2.0, threshold=5.0),
        lambda x: F.softplus(x, beta=2.0, threshold=5.0),
        lambda x: np.where(2 * x > 5, x, _np_softplus(2 * x) / 2),
    ),
    (
        "softplus_negative_beta",
        lambda x: act.softplus(x, beta=-1.0),
        lambda x: F.softplus(x, beta=-1.0),
        lambda x: np.where(-x > 20, x, -_np_softplus(-x)),
    ),
    ("silu", act.silu, lambda x: F.silu(x), lambda x: x * _sigmoid(x)),
    ("mish", act.mish, lambda x: F.mish(x), lambda x: x * np.tanh(_np_softplus(x))),
    ("logsigmoid", act.logsigmoid, lambda x: F.logsigmoid(x), lambda x: -_np_softplus(-x)),
]
ELEMENTWISE_IDS = [case[0] for case in ELEMENTWISE]


def _torch_rtol(name: str) -> float:
    # PyTorch's hardsigmoid backward multiplies by the float32 constant 1/6 in every dtype (0.16666667163...);
    # ours uses the exact 1/6, so the two differ in the 8th digit.
    return 1e-7 if name == "hardsigmoid" else 1e-10


@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), ELEMENTWISE, ids=ELEMENTWISE_IDS)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4), (1, 3)])
def test_elementwise_activation_gradients_match_finite_differences(name, ours, theirs, reference, shape):
    # Uniform values miss the kinks (0, +-1, +-3, 6) by far more than the finite-difference step.
    check_gradients(ours, random_array(*shape, seed=len(shape), low=-7.0, high=7.0))


@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_activation_forward_matches_numpy(name, ours, theirs, reference):
    x = random_array(4, 6, low=-9.0, high=9.0)
    np.testing.assert_allclose(ours(cr.tensor(x)).data, reference(x), rtol=1e-12, atol=1e-14)


@requires_torch
@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_activation_matches_torch(name, ours, theirs, reference):
    compare_with_torch(ours, theirs, random_array(3, 7, low=-12.0, high=12.0), atol=1e-12, rtol=_torch_rtol(name))


@requires_torch
@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_activation_values_and_gradients_at_kinks_match_torch(name, ours, theirs, reference):
    kinks = np.array([-6.0, -3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 2.5, 3.0, 6.0, 20.0, 30.0])
    compare_with_torch(ours, theirs, kinks, atol=1e-12, rtol=_torch_rtol(name))


@requires_torch
@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_activation_keeps_float32(name, ours, theirs, reference):
    x = cr.tensor(random_array(5, 4, low=-5.0, high=5.0).astype(np.float32), requires_grad=True)
    incoming = []  # the gradient as the op's backward returns it, before the leaf's .grad casts it
    x.register_hook(lambda grad: incoming.append(grad.dtype))
    out = ours(x)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == np.float32
    assert incoming == [np.float32]
    expected = theirs(torch.tensor(x.data)).numpy()
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_activation_is_finite_and_silent_at_extreme_inputs(name, ours, theirs, reference):
    x = cr.tensor(np.array([-1e4, -800.0, -100.0, 100.0, 800.0, 1e4]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from exp of the discarded branch
        out = ours(x)
        out.backward(np.ones(out.shape))
    assert np.all(np.isfinite(out.data))
    assert np.all(np.isfinite(x.grad.data))


@pytest.mark.parametrize(("name", "ours", "theirs", "reference"), ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_elementwise_activation_of_an_empty_tensor_is_empty(name, ours, theirs, reference):
    x = cr.tensor(np.zeros((0, 3)), requires_grad=True)
    out = ours(x)
    out.backward(np.zeros((0, 3)))
    assert out.shape == (0, 3) and x.grad.shape == (0, 3)


def test_relu_gradient_is_zero_at_zero_and_one_above():
    x = cr.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    act.relu(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])


# x, then for each op: (chainrule's, PyTorch's, where the gradient passes, the factor it passes with).
MASK_INPUT = np.array([-4.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 4.0, np.nan])
DROPPING = [
    ("relu", act.relu, "relu", ~(np.maximum(MASK_INPUT, 0) <= 0), 1.0),
    ("hardtanh", act.hardtanh, "hardtanh", ~((MASK_INPUT <= -1) | (MASK_INPUT >= 1)), 1.0),
    ("relu6", act.relu6, "relu6", ~((MASK_INPUT <= 0) | (MASK_INPUT >= 6)), 1.0),
    ("hardsigmoid", act.hardsigmoid, "hardsigmoid", (MASK_INPUT > -3) & (MASK_INPUT < 3), 1 / 6),
    ("clamp", lambda t: t.clamp(-1.0, 1.0), None, (MASK_INPUT >= -1) & (MASK_INPUT <= 1), 1.0),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "passes", "factor"), DROPPING, ids=[d[0] for d in DROPPING])
@pytest.mark.parametrize("upstream", [np.inf, -np.inf, np.nan, 2.0])
def test_a_dropped_gradient_is_exactly_zero_even_when_it_is_inf_or_nan(name, ours, theirs, passes, factor, upstream):
    # PyTorch's backward of these ops is where(mask, grad, 0): a multiply by the mask would give inf * 0 = NaN.
    # A NaN input passes its gradient through relu, hardtanh and relu6 (their masks test for the dropped side).
    x = cr.tensor(MASK_INPUT.copy(), requires_grad=True)
    ours(x).backward(np.full(MASK_INPUT.shape, upstream))
    expected = np.where(passes, upstream * factor, 0.0)
    np.testing.assert_array_equal(x.grad.data, expected)
    assert not np.signbit(x.grad.data[~passes]).any()  # +0.0, as PyTorch
    if torch is not None:
        t = torch.tensor(MASK_INPUT, requires_grad=True)
        out = getattr(torch.nn.functional, theirs)(t) if theirs else t.clamp(-1.0, 1.0)
        out.backward(torch.full(MASK_INPUT.shape, upstream, dtype=torch.float64))
        # (PyTorch's hardsigmoid multiplies by 1/6 rounded to float32 even in float64: hence the tolerance.)
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-7, atol=0)


def test_relu_keeps_integer_dtype():
    out = act.relu(cr.tensor([-2, 0, 3]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.data, [0, 0, 3])


def test_leaky_relu_with_numpy_float64_slope_keeps_float32():
    x = cr.tensor(np.array([-1.0, 2.0], dtype=np.float32))
    assert act.leaky_relu(x, np.float64(0.1)).dtype == np.float32


def test_softplus_is_linear_above_threshold_and_never_overflows():
    x = cr.tensor(np.array([19.0, 21.0, 1000.0]), requires_grad=True)
    out = act.softplus(x)
    out.backward(np.ones(3))
    assert out.data[1] == 21.0 and out.data[2] == 1000.0
    assert out.data[0] == pytest.approx(19.0 + math.log1p(math.exp(-19.0)), rel=1e-15)
    np.testing.assert_array_equal(x.grad.data[1:], [1.0, 1.0])


def test_gelu_exact_matches_torch_to_1e_12_over_minus_10_to_10():
    if torch is None:
        pytest.skip("PyTorch is not installed")
    grid = np.linspace(-10, 10, 4001)
    x = cr.tensor(grid, requires_grad=True)
    out = act.gelu(x)
    out.backward(np.ones_like(grid))
    reference = torch.tensor(grid, requires_grad=True)
    expected = F.gelu(reference)
    expected.backward(torch.ones_like(expected))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.data, reference.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gelu_exact_in_float16_stays_float16_and_accurate():
    grid = np.linspace(-8, 8, 161)
    out = act.gelu(cr.tensor(grid.astype(np.float16)))
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.data.astype(np.float64), _np_gelu(grid.astype(np.float16)), rtol=2e-3, atol=1e-4)


def test_gelu_exact_in_float32_is_accurate_in_both_tails_across_blocks():
    # 300,001 values: several of _normal_cdf's blocks. Reference: the float64 path (1e-16) on the same float32
    # inputs. The relative error grows with |x| as float32's own rounding of x / sqrt 2 does (1e-5 at -13).
    grid = np.linspace(-13, 13, 300_001).astype(np.float32)
    got = act._normal_cdf(grid)
    assert got.dtype == np.float32
    exact = act._normal_cdf(grid.astype(np.float64))
    relative = np.abs(got - exact) / exact
    assert relative[np.abs(grid) < 3].max() < 2e-6
    assert relative[np.abs(grid) < 6].max() < 6e-6
    assert relative.max() < 3e-5
    np.testing.assert_array_equal(act._normal_cdf(np.array([-np.inf, np.inf, np.nan], np.float32))[:2], [0, 1])
    assert np.isnan(act._normal_cdf(np.array([np.nan], np.float32))[0])
    out = act.gelu(cr.tensor(grid))
    np.testing.assert_allclose(out.data, grid.astype(np.float64) * exact, rtol=3e-5, atol=1e-30)


def test_gelu_keeps_its_inputs_memory_order():
    x = np.random.default_rng(5).standard_normal((6, 5, 4)).astype(np.float32).transpose(2, 0, 1)  # not C-order
    assert act._normal_cdf(x).strides == np.empty_like(x).strides  # block by block, in x's own order
    out = act.gelu(cr.tensor(x))
    assert out.data.strides == np.empty_like(x).strides
    np.testing.assert_array_equal(out.data, act.gelu(cr.tensor(np.ascontiguousarray(x))).data)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ArgumentError, match=r"gelu.*approximate.*'fast'"):
        act.gelu(cr.tensor([1.0]), approximate="fast")


def test_gelu_left_tail_keeps_relative_precision():
    # x Phi(x) at x = -10 is about -7.62e-23; 1 + erf(x / sqrt 2) would cancel to a few ulps of 1.
    expected = -10 * 0.5 * math.erfc(10 / math.sqrt(2))
    assert act.gelu(cr.tensor(np.array([-10.0]))).data[0] == pytest.approx(expected, rel=1e-13)


# -- the error function behind gelu --------------------------------------------------------------------------


def test_erf_matches_math_erf_to_double_precision_over_a_grid_with_tails():
    grid = np.concatenate([np.linspace(-8, 8, 16001), [-30.0, -6.5, 0.46875, -0.46875, 4.0, 27.0, 1e-300, -1e-20]])
    expected = np.array([math.erf(v) for v in grid])
    got = act._erf(grid)
    relative = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-300)
    assert relative.max() < 2e-15


def test_erfc_keeps_relative_precision_far_into_the_right_tail():
    grid = np.concatenate([np.linspace(-3, 26.5, 6001), [0.46875, 4.0]])
    expected = np.array([math.erfc(v) for v in grid])
    got = act._erfc(grid)
    assert (np.abs(got - expected) / expected).max() < 2e-15
    assert act._erfc(np.array([30.0, np.inf]))[0] == 0.0


def test_erf_keeps_float32_and_handles_infinities_and_nan():
    x = np.linspace(-6, 6, 241, dtype=np.float32)
    got = act._erf(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [math.erf(v) for v in x.astype(np.float64)], atol=2e-7)
    special = act._erf(np.array([np.inf, -np.inf, np.nan]))
    assert special[0] == 1.0 and special[1] == -1.0 and np.isnan(special[2])


# -- softmax and log_softmax ---------------------------------------------------------------------------------

SOFTMAX_SHAPES_AND_DIMS = [((5,), 0), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((1, 3), 1), ((2, 1), 1)]


@pytest.mark.parametrize("fn", [act.softmax, act.log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "dim"), SOFTMAX_SHAPES_AND_DIMS)
def test_softmax_gradients_match_finite_differences(fn, shape, dim):
    check_gradients(lambda x: fn(x, dim), random_array(*shape, seed=3))


@requires_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "dim"), SOFTMAX_SHAPES_AND_DIMS)
def test_softmax_matches_torch(name, shape, dim):
    ours, theirs = getattr(act, name), getattr(F, name)
    compare_with_torch(lambda x: ours(x, dim=dim), lambda x: theirs(x, dim=dim), random_array(*shape), atol=1e-12)


def test_softmax_forward_matches_numpy_and_rows_sum_to_one():
    x = random_array(4, 5)
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    out = act.softmax(cr.tensor(x), dim=1)
    np.testing.assert_allclose(out.data, expected, rtol=1e-13)
    np.testing.assert_allclose(out.data.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(act.log_softmax(cr.tensor(x), dim=1).data, np.log(expected), rtol=1e-13)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_is_finite_and_correct_at_logits_of_1e4(name):
    logits = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4 + 2.0]])
    # Shift invariance: the exact answer is that of the logits minus their row max.
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    expected = probabilities if name == "softmax" else shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    x = cr.tensor(logits, requires_grad=True)
    out = getattr(act, name)(x, dim=1)
    out.backward(np.ones(logits.shape))
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(x.grad.data))
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-300)


@requires_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_with_minus_infinity_entries_matches_torch(name):
    # A mask of -inf added to the logits, as attention does: masked entries get probability 0 (log: -inf),
    # the others share the mass, and every gradient stays finite.
    mask = np.array([[-np.inf, 0.0, 0.0], [0.0, -np.inf, -np.inf]])
    x = random_array(2, 3)
    ours, theirs = getattr(act, name), getattr(F, name)
    np.testing.assert_array_equal(
        ours(cr.tensor(x + mask), dim=-1).data, theirs(torch.tensor(x + mask), dim=-1).numpy()
    )
    # Through exp, log_softmax's -inf become 0, so the weighted sum the comparison backprops stays finite.
    finish = (lambda out: out) if name == "softmax" else (lambda out: out.exp())
    compare_with_torch(
        lambda t: finish(ours(t + cr.tensor(mask), dim=-1)),
        lambda t: finish(theirs(t + torch.tensor(mask), dim=-1)),
        x,
        atol=1e-14,
    )


def test_log_softmax_gradient_through_minus_infinity_entry_is_the_incoming_gradient():
    x = cr.tensor(np.array([-np.inf, 0.0, 1.0]), requires_grad=True)
    act.log_softmax(x, dim=0).backward(np.array([0.5, 0.0, 0.0]))
    p = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(x.grad.data, [0.5, -0.5 * p[0], -0.5 * p[1]], rtol=1e-14)


def test_softmax_accepts_axis_alias_and_positional_dim():
    x = cr.tensor(random_array(2, 3))
    np.testing.assert_array_equal(act.softmax(x, axis=0).data, act.softmax(x, 0).data)
    np.testing.assert_array_equal(act.log_softmax(x, axis=-1).data, act.log_softmax(x, dim=1).data)


@pytest.mark.parametrize("fn", [act.softmax, act.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_requires_a_dim(fn):
    with pytest.raises(DimError, match="dim is required"):
        fn(cr.tensor([1.0, 2.0]))
    with pytest.raises(DimError, match="not both"):
        fn(cr.tensor([1.0, 2.0]), dim=0, axis=0)
    with pytest.raises(DimError, match="out of range"):
        fn(cr.tensor([1.0, 2.0]), dim=1)


def test_softmax_dtype_argument_casts_first():
    x = cr.tensor(np.array([1.0, 2.0], dtype=np.float32))
    out = act.softmax(x, dim=0, dtype=np.float64)
    assert out.dtype == np.float64
    assert act.log_softmax(x, -1).dtype == np.float32


def test_softmax_of_a_0d_tensor_is_one_and_of_an_empty_tensor_is_empty():
    assert act.softmax(cr.tensor(3.0), dim=0).item() == 1.0
    assert act.log_softmax(cr.tensor(3.0), dim=-1).item() == 0.0
    assert act.softmax(cr.tensor(np.zeros((3, 0))), dim=1).shape == (3, 0)


# -- arguments and methods ---------------------------------------------------------------------------------


def test_activations_refuse_bool_tensors():
    with pytest.raises(DTypeError, match="silu"):
        act.silu(cr.tensor([True, False]))
    with pytest.raises(DTypeError, match="relu"):
        act.relu(cr.tensor([True, False]))


def test_hardtanh_rejects_min_above_max():
    with pytest.raises(ArgumentError, match=r"hardtanh.*min_val"):
        act.hardtanh(cr.tensor([0.0]), min_val=1.0, max_val=-1.0)


def test_activations_are_tensor_methods_and_public_functions():
    x = cr.tensor(random_array(2, 3))
    np.testing.assert_array_equal(x.relu().data, act.relu(x).data)
    np.testing.assert_array_equal(x.softmax(-1).data, act.softmax(x, dim=-1).data)
    np.testing.assert_array_equal(cr.gelu(x).data, act.gelu(x).data)
