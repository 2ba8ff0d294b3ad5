"""Activations, as in `torch.nn.functional`: relu and its piecewise-linear kin, the exponential family (elu, selu,
celu), the smooth gates (gelu, silu, mish, softplus, logsigmoid), and softmax / log_softmax along a dim.

Every function maps a tensor to one of the same shape (softmax along `dim`). Values at the kinks and their
gradients follow PyTorch exactly: relu'(0) = 0, leaky_relu'(0) = negative_slope, elu'(0) = alpha, hardtanh'
is 0 at both bounds. Scalar hyper-parameters are turned into Python floats first, so a float32 input stays
float32 whatever NumPy scalar the caller passes.

gelu's exact form needs the error function, which NumPy lacks: `_erf`, `_erfc_tail` and `_normal_cdf` below
evaluate W. J. Cody's rational Chebyshev approximations (Math. Comp. 23, 1969; netlib specfun CALERF),
vectorised, in the input's own float dtype, with relative error near 1e-16 in float64; float32 takes Numerical
Recipes' shorter erfc, accurate to float32's own rounding of its argument.

Branches are taken without branching: `np.where`, boolean indexing and `copyto(where=)` over a mask that
flips at random (as the sign of an activation's input does) measured some 15 times slower than a multiply by
the mask (a mispredicted branch per element), so each piecewise function is written as arithmetic: a gradient
zeroed where PyTorch's backward takes where(mask, 0, grad) (relu, hardtanh, hardsigmoid) by a bitwise AND with
the mask (`_util.zero_where`, which keeps an inf gradient from becoming inf * 0 = NaN), a pick between two
finite values as a * mask + b * (1 - mask) (exact: the products are a value or zero), and sigmoid's two
rearrangements as maximum(e, x >= 0) / (1 + e).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd import owns
from chainrule.errors import ArgumentError, DimError, DTypeError
from chainrule.ops._util import normalize_dim, resolve_dim_alias, zero_where
from chainrule.tensor import DTypeLike, Tensor, as_dtype, as_tensor_arg, result

# -- helpers -----------------------------------------------------------------------------------------------


def _input(x: Any, op: str) -> tuple[Tensor, np.ndarray]:
    """x as a Tensor, and its data as a floating array of at least one dimension (integers compute in float32;
    booleans are refused). A 0-d input is viewed as shape (1,): NumPy turns 0-d results into scalars, which the
    in-place steps below cannot write to; `_result` restores the shape."""
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x)
    data = x.data
    if data.dtype.kind != "f":
        if data.dtype.kind == "b":
            raise DTypeError(f"{op}: expected a floating-point tensor, got bool")
        data = data.astype(np.float32)
    if data.ndim == 0:
        data = data.reshape(1)
    return x, data


def _result(out: np.ndarray, x: Tensor, backward: Callable, op: str) -> Tensor:
    """`result` for a one-input op computed by way of `_input`: gives a 0-d input its shape back."""
    if x.data.ndim == 0:
        out = out.reshape(())
        backward_1d = backward

        def backward(grad: np.ndarray) -> tuple:
            return (backward_1d(grad.reshape(1))[0].reshape(()),)

    return result(out, (x,), backward, op)


def _sigmoid_parts(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e, sigmoid(data)) with e = exp(-|data|), never overflowing and precise in both tails: sigmoid is
    1/(1+e) for data >= 0 and e/(1+e) below, the numerator picked branch-free as max(e, data >= 0)."""
    e = np.abs(data)
    np.negative(e, out=e)
    np.exp(e, out=e)
    sigmoid = np.maximum(e, data >= 0)
    sigmoid /= 1 + e
    return e, sigmoid


# -- piecewise linear -------------------------------------------------------------------------------------


def relu(x: Tensor) -> Tensor:
    """max(x, 0), elementwise; any shape. d/dx = 1 where x > 0, else 0 (0 at x == 0, as PyTorch). As PyTorch's
    threshold_backward, the gradient is dropped where the output is <= 0: exactly 0 there even for an inf
    gradient, and passed where the output is NaN. Integer tensors stay integer."""
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x)
    data = x.data
    if data.dtype.kind == "b":
        raise DTypeError("relu: expected a numeric tensor, got bool")
    if data.ndim == 0:
        data = data.reshape(1)
    out = np.maximum(data, 0)

    def backward(grad: np.ndarray) -> tuple:
        return (zero_where(grad, np.less_equal(out, 0), grad if owns(grad) else None),)

    return _result(out, x, backward, "relu")


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x; any shape. d/dx = 1 where x > 0, else negative_slope."""
    x, data = _input(x, "leaky_relu")
    slope = float(negative_slope)
    # For slope <= 1, x >= slope x exactly when x >= 0, so the max picks the right branch (min for slope > 1).
    out = np.maximum(data, data * slope) if slope <= 1 else np.minimum(data, data * slope)

    def backward(grad: np.ndarray) -> tuple:
        # 1 where x > 0, slope elsewhere; a bool array times a Python float would be float64, hence dtype=.
        local = np.multiply(data > 0, 1 - slope, dtype=grad.dtype)
        local += slope
        local *= grad
        return (local,)

    return _result(out, x, backward, "leaky_relu")


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val]; any shape. d/dx = 1 strictly inside, 0 at and beyond the bounds
    (as PyTorch; `clamp` passes the gradient at the bounds)."""
    x, data = _input(x, "hardtanh")
    low, high = float(min_val), float(max_val)
    if low > high:
        raise ArgumentError(f"hardtanh: min_val ({low}) must not be greater than max_val ({high})")
    out = np.clip(data, low, high)

    def backward(grad: np.ndarray) -> tuple:
        at_bounds = np.less_equal(data, low)  # PyTorch's mask: a NaN input passes its gradient
        at_bounds |= data >= high
        return (zero_where(grad, at_bounds, grad if owns(grad) else None),)

    return _result(out, x, backward, "hardtanh")


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6); any shape. hardtanh(x, 0, 6), so the gradient is 0 at 0 and at 6 (as PyTorch)."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Tensor) -> Tensor:
    """clip(x / 6 + 1/2, 0, 1); any shape. d/dx = 1/6 for -3 < x < 3, else 0."""
    x, data = _input(x, "hardsigmoid")
    out = data / 6
    out += 0.5
    np.clip(out, 0, 1, out=out)

    def backward(grad: np.ndarray) -> tuple:
        drop = np.greater(data, -3)
        drop &= data < 3
        np.logical_not(drop, out=drop)  # outside (-3, 3), and NaN: PyTorch's mask
        local = grad / 6
        return (zero_where(local, drop, local),)

    return _result(out, x, backward, "hardsigmoid")


def hardswish(x: Tensor) -> Tensor:
    """x * relu6(x + 3) / 6; any shape. d/dx = 0 for x <= -3, x/3 + 1/2 for -3 < x < 3, 1 for x >= 3."""
    x, data = _input(x, "hardswish")
    gate = data / 6
    gate += 0.5
    np.clip(gate, 0, 1, out=gate)
    out = data * gate

    def backward(grad: np.ndarray) -> tuple:
        local = data / 3
        local += 0.5
        local *= (data > -3) & (data < 3)
        local += data >= 3
        local *= grad
        return (local,)

    return _result(out, x, backward, "hardswish")


# -- exponential family -------------------------------------------------------------------------------------


def _elu_family(x: Tensor, alpha: float, scale: float, input_scale: float, op: str) -> Tensor:
    """scale * x for x > 0, else scale * alpha * (exp(input_scale * x) - 1): elu, selu and celu in one.
    d/dx = scale for x > 0, else scale * alpha * input_scale * exp(input_scale * x) (so, at 0, the left side's
    slope, as PyTorch)."""
    x, data = _input(x, op)
    # min(x, 0) keeps expm1 from overflowing, and makes the negative branch exactly 0 for x > 0, so the two
    # branches add: out = max(x, 0) + alpha (exp(input_scale min(x, 0)) - 1).
    negative = np.minimum(data, 0)
    if input_scale != 1.0:
        negative *= input_scale
    np.expm1(negative, out=negative)
    negative *= alpha
    out = np.maximum(data, 0)
    out += negative
    if scale != 1.0:
        out *= scale

    def backward(grad: np.ndarray) -> tuple:
        # alpha exp(input_scale x) = negative + alpha (no second exponential); where x > 0 that is alpha, and
        # the mask term turns the slope into `scale`.
        negative_slope = scale * input_scale
        local = negative + alpha
        local *= negative_slope
        local += np.multiply(data > 0, scale - negative_slope * alpha, dtype=local.dtype)
        local *= grad
        return (local,)

    return _result(out, x, backward, op)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha * (exp(x) - 1); any shape. d/dx = 1 for x > 0, else alpha * exp(x)."""
    return _elu_family(x, float(alpha), 1.0, 1.0, "elu")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants (alpha ~ 1.6733, scale ~ 1.0507); any shape."""
    return _elu_family(x, _SELU_ALPHA, _SELU_SCALE, 1.0, "selu")


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha * (exp(x / alpha) - 1); any shape. d/dx = 1 for x > 0, else exp(x / alpha)."""
    alpha = float(alpha)
    if alpha == 0:
        raise ArgumentError("celu: alpha must not be 0 (the negative branch divides by it)")
    return _elu_family(x, alpha, 1.0, 1.0 / alpha, "celu")


# -- smooth gates ----------------------------------------------------------------------------------------------


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's linear region); any shape.
    d/dx = sigmoid(beta x), and 1 in the linear region."""
    x, data = _input(x, "softplus")
    beta, threshold = float(beta), float(threshold)
    if beta == 0:
        raise ArgumentError("softplus: beta must not be 0 (the result divides by it)")
    scaled = data * beta if beta != 1.0 else data
    # log(1 + e^s) / beta = max(s, 0) / beta + log(1 + e^-|s|) / beta: no overflow for any s. max(s, 0) / beta
    # is max(x, 0) for beta > 0 (min(x, 0) below), exact; in the linear region the log term is dropped, which
    # leaves x itself, as PyTorch returns.
    e = np.abs(scaled)
    np.negative(e, out=e)
    np.exp(e, out=e)
    linear = scaled > threshold
    out = np.log1p(e)
    out *= ~linear
    if beta != 1.0:
        out /= beta
    out += np.maximum(data, 0) if beta > 0 else np.minimum(data, 0)

    def backward(grad: np.ndarray) -> tuple:
        # sigmoid(s), picked branch-free as in _sigmoid_parts; max(., 1) makes it 1 in the linear region.
        local = np.maximum(e, scaled >= 0)
        local /= 1 + e
        np.maximum(local, linear, out=local)
        local *= grad
        return (local,)

    return _result(out, x, backward, "softplus")


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (swish); any shape. d/dx = s (1 + x (1 - s)) with s = sigmoid(x)."""
    x, data = _input(x, "silu")
    _, s = _sigmoid_parts(data)
    out = data * s

    def backward(grad: np.ndarray) -> tuple:
        local = 1 - s
        local *= data
        local += 1
        local *= s
        local *= grad
        return (local,)

    return _result(out, x, backward, "silu")


def mish(x: Tensor) -> Tensor:
    """x * tanh(softplus(x)); any shape. d/dx = t + x sigmoid(x) (1 - t^2) with t = tanh(softplus(x))."""
    x, data = _input(x, "mish")
    e, s = _sigmoid_parts(data)
    t = np.log1p(e)
    t += np.maximum(data, 0)
    np.tanh(t, out=t)
    out = data * t

    def backward(grad: np.ndarray) -> tuple:
        local = t * t
        np.subtract(1, local, out=local)
        local *= s
        local *= data
        local += t
        local *= grad
        return (local,)

    return _result(out, x, backward, "mish")


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), computed without overflow; any shape. d/dx = sigmoid(-x)."""
    x, data = _input(x, "logsigmoid")
    e = np.abs(data)
    np.negative(e, out=e)
    np.exp(e, out=e)
    out = np.minimum(data, 0)
    out -= np.log1p(e)

    def backward(grad: np.ndarray) -> tuple:
        # sigmoid(-x): 1/(1+e) for x < 0, e/(1+e) above, the numerator picked branch-free.
        local = np.maximum(e, data < 0)
        local /= 1 + e
        local *= grad
        return (local,)

    return _result(out, x, backward, "logsigmoid")


# -- the error function (for gelu) ---------------------------------------------------------------------------
# W. J. Cody's coefficients, as published in CALERF. Each ratio is evaluated in Cody's nested form
# (top[-1] t + top[0]) t + ... over (t + bottom[0]) t + ..., whose denominator's leading coefficient is 1.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
          1.85777706184603153e-1)  # fmt: skip
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
          8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
          2.15311535474403846e-8)  # fmt: skip
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
          3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
          6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
          2.33520497626869185e-3)  # fmt: skip
_ERF_SMALL = 0.46875  # below: erf by the A/B ratio; above: erfc by C/D (up to 4) or P/Q (beyond)
_ONE_OVER_SQRT_PI = 0.56418958354775628695
_SQRT_HALF = math.sqrt(0.5)
_ONE_OVER_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _cody_ratio(t: np.ndarray, top: tuple[float, ...], bottom: tuple[float, ...]) -> np.ndarray:
    """Cody's rational function of t (len(top) == len(bottom) + 1), in t's dtype, in place where it can."""
    n = len(bottom)
    num = t * top[n]
    den = t + bottom[0]
    num += top[0]
    num *= t
    den *= t
    for i in range(1, n - 1):
        num += top[i]
        num *= t
        den += bottom[i]
        den *= t
    num += top[n - 1]
    den += bottom[n - 1]
    num /= den
    return num


def _erf_small(z: np.ndarray) -> np.ndarray:
    """erf(z) for |z| <= 0.46875; z beyond is clipped to the region's edge, so the (unused) value stays finite."""
    z = np.clip(z, -_ERF_SMALL, _ERF_SMALL)
    ratio = _cody_ratio(z * z, _ERF_A, _ERF_B)
    ratio *= z
    return ratio


def _erfc_tail(y: np.ndarray) -> np.ndarray:
    """erfc(y), accurate for y >= 0.46875, finite (and positive) for any y >= 0 or nan; full relative precision
    far into the tail, where erfc(y) ~ exp(-y^2)."""
    # Clipping to [0.46875, 28] changes no value that is used (erfc(28) is below the smallest double) and keeps
    # inf out of the exponent splitting below.
    y = np.clip(y, _ERF_SMALL, 28.0)
    out = _cody_ratio(np.minimum(y, 4.0), _ERF_C, _ERF_D)
    far = y > 4.0
    if far.any():  # rare in activations: beyond 4 the mask is sparse, where indexing is cheap
        y_far = y[far]
        inverse_square = 1 / (y_far * y_far)
        tail = _cody_ratio(inverse_square, _ERF_P, _ERF_Q)
        tail *= inverse_square
        np.subtract(_ONE_OVER_SQRT_PI, tail, out=tail)
        tail /= y_far
        out[far] = tail
    # exp(-y^2) as exp(-r^2) exp(-(y - r)(y + r)) with r = y rounded down to 1/16: r^2 is exact, so the
    # rounding error of squaring y is not amplified by the exponential.
    rounded = np.trunc(y * 16)
    rounded /= 16
    delta = y - rounded
    delta *= y + rounded
    np.negative(delta, out=delta)
    np.exp(delta, out=delta)
    np.square(rounded, out=rounded)
    np.negative(rounded, out=rounded)
    np.exp(rounded, out=rounded)
    out *= rounded
    out *= delta
    return out


def _erf_regions(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(small, large, erfc(|z|) beyond the small region): `small` and `large` are 0/1 arrays of z's dtype
    marking |z| <= 0.46875 and the rest, to pick a region's value by multiplying."""
    y = np.abs(z)
    small_mask = y <= _ERF_SMALL
    small = small_mask.astype(z.dtype)
    large = np.subtract(1, small, out=np.empty_like(small))
    return small, large, _erfc_tail(y)


def _erf(z: np.ndarray) -> np.ndarray:
    """The error function, elementwise, in z's float dtype (at least 1-D)."""
    small, large, tail = _erf_regions(z)
    # Beyond the small region erf = sign(z) (1 - erfc(|z|)), written (0.5 - erfc) + 0.5 as Cody does.
    np.subtract(0.5, tail, out=tail)
    tail += 0.5
    np.copysign(tail, z, out=tail)
    tail *= large
    out = _erf_small(z)
    out *= small
    out += tail
    return out


def _erfc(z: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(z), elementwise; accurate in the right tail."""
    small, large, tail = _erf_regions(z)
    # erfc(z) = erfc(|z|) for z >= 0, 2 - erfc(|z|) below.
    tail += (z < 0) * (2 - 2 * tail)
    tail *= large
    out = 1 - _erf_small(z)
    out *= small
    out += tail
    return out


# Numerical Recipes' erfc (Press et al., 2nd ed., 6.2; a Chebyshev fit, fractional error under 1.2e-7 for any
# y >= 0): erfc(y) = t exp(-y^2 + P(t)), t = 1 / (1 + y/2), P the polynomial of these coefficients, lowest first.
_NR_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
            -0.82215223, 0.17087277)  # fmt: skip
_NR_ERFC_32 = tuple(np.float32(c) for c in _NR_ERFC)
# Values per block of _normal_cdf: the dozens of passes over a block run from cache (4.5 times as fast on 2M
# float32 values as over the whole array, together with the shorter float32 formula).
_CDF_BLOCK = 1 << 16


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x), the standard normal CDF, block by block, in x's memory order; float16 computes in float32.

    float64: through Cody's erfc in both tails (_normal_cdf_cody), with relative error near 1e-16, down to
    Phi(-38). float32: through Numerical Recipes' erfc (_normal_cdf_float32), 33 passes rather than some 70,
    with relative error 1e-6 where |x| < 3, 4e-6 out to 6 and 2e-5 down to Phi(-13), growing as float32's own
    rounding of x / sqrt 2 does (1.4 times Cody's formula in float32); both tails keep their relative
    precision (1 - erf would cancel to 0)."""
    if x.dtype.itemsize < 4:
        return _normal_cdf(x.astype(np.float32)).astype(x.dtype)
    out = np.empty_like(x)  # contiguous in x's memory order: both ravel to the same order of elements
    flat_x, flat_out = x.ravel(order="K"), out.ravel(order="K")
    for start in range(0, flat_x.size, _CDF_BLOCK):
        block = slice(start, start + _CDF_BLOCK)
        if x.dtype == np.float32:
            _normal_cdf_float32(flat_x[block], flat_out[block])
        else:
            flat_out[block] = _normal_cdf_cody(flat_x[block])
    return out


def _normal_cdf_float32(x: np.ndarray, out: np.ndarray) -> None:
    """Phi(x) into out, for 1-d float32 x: Phi(-|x|) = erfc(|x| / sqrt 2) / 2, then 1 - that for x >= 0."""
    c = _NR_ERFC_32
    y = np.abs(x)
    y *= np.float32(_SQRT_HALF)
    t = np.multiply(y, np.float32(0.5))
    t += np.float32(1)
    np.reciprocal(t, out=t)
    poly = np.multiply(t, c[9])
    for coefficient in c[8:0:-1]:
        poly += coefficient
        poly *= t
    poly += c[0]
    np.square(y, out=y)
    poly -= y
    np.exp(poly, out=poly)
    poly *= t
    poly *= np.float32(0.5)  # Phi(-|x|)
    # Phi(x) = Phi(-|x|) + [x >= 0] (1 - 2 Phi(-|x|)): a pick by arithmetic, exact where x < 0.
    np.greater_equal(x, 0, out=y)
    np.multiply(poly, np.float32(-2), out=out)
    out += np.float32(1)
    out *= y
    out += poly


def _normal_cdf_cody(x: np.ndarray) -> np.ndarray:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, through erfc in both tails so that Phi keeps its relative
    precision far left (Phi(-10) ~ 7.6e-24), where 1 + erf would cancel to 0."""
    z = x * _SQRT_HALF
    small, large, tail = _erf_regions(z)
    # Beyond the small region Phi = erfc(|z|) / 2 for z < 0, and 1 - erfc(|z|) / 2 for z > 0.
    tail *= 0.5
    tail += (z > 0) * (1 - 2 * tail)
    tail *= large
    out = _erf_small(z)
    out *= 0.5
    out += 0.5
    out *= small
    out += tail
    return out


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; any shape.

    approximate='none' (exact): d/dx = Phi(x) + x phi(x), phi the normal density.
    approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), and its exact derivative.
    """
    if approximate == "none":
        return _gelu_exact(x)
    if approximate == "tanh":
        return _gelu_tanh(x)
    raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_exact(x: Tensor) -> Tensor:
    x, data = _input(x, "gelu")
    cdf = _normal_cdf(data)
    out = data * cdf

    def backward(grad: np.ndarray) -> tuple:
        # x phi(x) + Phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        local = data * data
        local *= -0.5
        np.exp(local, out=local)
        local *= _ONE_OVER_SQRT_2PI
        local *= data
        local += cdf
        local *= grad
        return (local,)

    return _result(out, x, backward, "gelu")


_GELU_K = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


def _gelu_tanh(x: Tensor) -> Tensor:
    x, data = _input(x, "gelu")
    square = data * data
    inner = square * _GELU_C
    inner += 1
    inner *= data
    inner *= _GELU_K  # sqrt(2/pi) (x + c x^3)
    t = np.tanh(inner, out=inner)
    out = t + 1
    out *= data
    out *= 0.5

    def backward(grad: np.ndarray) -> tuple:
        # 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 c x^2)
        local = square * (3 * _GELU_C)
        local += 1
        local *= data
        local *= 0.5 * _GELU_K
        local *= 1 - t * t
        local += 0.5
        local += 0.5 * t
        local *= grad
        return (local,)

    return _result(out, x, backward, "gelu")


# -- softmax along a dim --------------------------------------------------------------------------------------


def _softmax_input(x: Any, dim: Any, axis: Any, dtype: DTypeLike | None, op: str) -> tuple[Tensor, np.ndarray, Any]:
    """The input (cast to `dtype` first when given, as PyTorch), its float data (0-d viewed as (1,)), and the
    axis."""
    dim = resolve_dim_alias(dim, axis, op)
    if dim is None:
        raise DimError(
            f"{op}: dim is required (the dimension along which the entries are normalised), e.g. {op}(x, dim=-1)"
        )
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x)
    if dtype is not None and as_dtype(dtype) != x.data.dtype:
        from chainrule.ops.elementwise import cast

        x = cast(x, dtype)
    x, data = _input(x, op)
    return x, data, normalize_dim(dim, x.data.ndim, op)


def softmax(x: Tensor, dim: int | None = None, *, dtype: DTypeLike | None = None, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim` (required; `axis` is its alias): entries along dim are positive and
    sum to 1. Any shape; the result has x's shape. Shifted by the max along dim, so logits of any size are
    safe; -inf entries get probability 0 (a row of only -inf gives nan, as in PyTorch).

    Backward (fused): grad_x = out * (grad - sum(grad * out, dim)).
    """
    x, data, axis_ = _softmax_input(x, dim, axis, dtype, "softmax")
    if data.size == 0:
        return result(data.copy(), (x,), lambda grad: (grad,), "softmax")
    with np.errstate(invalid="ignore"):  # -inf - -inf in a row of only -inf: nan, as PyTorch
        out = data - data.max(axis=axis_, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=axis_, keepdims=True)

    def backward(grad: np.ndarray) -> tuple:
        local = grad * out
        total = local.sum(axis=axis_, keepdims=True)
        np.subtract(grad, total, out=local)
        local *= out
        return (local,)

    return _result(out, x, backward, "softmax")


def log_softmax(
    x: Tensor, dim: int | None = None, *, dtype: DTypeLike | None = None, axis: int | None = None
) -> Tensor:
    """x - log(sum(exp(x))) along `dim` (required; `axis` is its alias); any shape, the result has x's shape.
    Shifted by the max along dim, so logits of any size are safe; -inf entries give -inf.

    Backward (fused): grad_x = grad - exp(out) * sum(grad, dim).
    """
    x, data, axis_ = _softmax_input(x, dim, axis, dtype, "log_softmax")
    if data.size == 0:
        return result(data.copy(), (x,), lambda grad: (grad,), "log_softmax")
    with np.errstate(invalid="ignore"):
        out = data - data.max(axis=axis_, keepdims=True)
    total = np.exp(out).sum(axis=axis_, keepdims=True)
    with np.errstate(divide="ignore"):
        out -= np.log(total, out=total)

    def backward(grad: np.ndarray) -> tuple:
        local = np.exp(out)
        local *= grad.sum(axis=axis_, keepdims=True)
        np.subtract(grad, local, out=local)
        return (local,)

    return _result(out, x, backward, "log_softmax")
