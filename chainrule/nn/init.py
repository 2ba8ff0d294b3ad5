"""Weight initialisation, PyTorch's `torch.nn.init`: fills a tensor in place and returns it.

Fan-in and fan-out follow PyTorch: for a weight of shape (out, in, *kernel), fan_in = in * prod(kernel) and
fan_out = out * prod(kernel). Every draw comes from `chainrule.random`'s default generator (or the one passed
as `generator=`), so `chainrule.manual_seed` makes initialisation reproducible. The values are written into
the tensor's own array, outside the graph (as under `no_grad`), so Parameters held by an optimizer see them.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, DTypeError, ShapeError, shape_str
from chainrule.random import Generator, numpy_generator
from chainrule.tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR_GAIN_ONE = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale of the weights for a layer followed by `nonlinearity` (PyTorch's table):
    linear, conv* and sigmoid 1; tanh 5/3; relu sqrt(2); leaky_relu sqrt(2 / (1 + negative_slope^2))
    (negative_slope = `param`, default 0.01); selu 3/4."""
    if nonlinearity in _LINEAR_GAIN_ONE:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, int | float):
            negative_slope = param
        else:
            raise ArgumentError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ArgumentError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR_GAIN_ONE)}, tanh, relu, leaky_relu, selu"
    )


def _array(tensor: Any, op: str, floating: bool = True) -> np.ndarray:
    if isinstance(tensor, Tensor):
        array = tensor.data
    elif isinstance(tensor, np.ndarray):
        array = tensor
    else:
        raise ArgumentError(f"{op}: expected a Tensor (or ndarray) to fill, got {type(tensor).__name__}")
    if floating and array.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a floating-point tensor, got {array.dtype}")
    return array


def _fill_uniform(array: np.ndarray, low: float, high: float, generator: Generator | None) -> None:
    rng = numpy_generator(generator)
    if array.size == 0:
        return
    if array.dtype in (np.float32, np.float64) and array.flags.c_contiguous:
        rng.random(dtype=array.dtype, out=array)  # straight into the tensor's memory, no temporary
    else:
        array[...] = rng.random(array.shape, dtype=np.float64)
    array *= array.dtype.type(high - low)
    array += array.dtype.type(low)


def _fill_normal(array: np.ndarray, mean: float, std: float, generator: Generator | None) -> None:
    rng = numpy_generator(generator)
    if array.size == 0:
        return
    if array.dtype in (np.float32, np.float64) and array.flags.c_contiguous:
        rng.standard_normal(dtype=array.dtype, out=array)
    else:
        array[...] = rng.standard_normal(array.shape)
    array *= array.dtype.type(std)
    array += array.dtype.type(mean)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with samples of U(a, b)."""
    if a > b:
        raise ArgumentError(f"uniform_: expected a <= b (the range [a, b)), got a={a}, b={b}")
    _fill_uniform(_array(tensor, "uniform_"), a, b, generator)
    return tensor


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    if std < 0:
        raise ArgumentError(f"normal_: std must be non-negative, got {std}")
    _fill_normal(_array(tensor, "normal_"), mean, std, generator)
    return tensor


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile function (inverse CDF) for p in (0, 1), by Acklam's rational
    approximation: relative error below 1.2e-9, far below float32's resolution."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)  # fmt: skip
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p = np.asarray(p, dtype=np.float64)
    x = np.empty_like(p)
    low = p < 0.02425
    high = p > 1 - 0.02425
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    x[mid] = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    for mask, sign, tail in ((low, 1.0, p[low]), (high, -1.0, 1 - p[high])):
        q = np.sqrt(-2 * np.log(tail))
        x[mask] = (
            sign
            * (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        )
    return x


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Generator | None = None,
) -> Tensor:
    """Fill with samples of N(mean, std^2) truncated to [a, b] (absolute bounds, as PyTorch), by inverting the
    normal CDF on uniform samples between CDF(a) and CDF(b)."""
    array = _array(tensor, "trunc_normal_")
    if std <= 0:
        raise ArgumentError(f"trunc_normal_: std must be positive, got {std}")
    if not a < b:
        raise ArgumentError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "trunc_normal_: mean is more than 2 std from [a, b]; the distribution of values may be incorrect",
            stacklevel=2,
        )
    if array.size == 0:
        return tensor

    def cdf(value: float) -> float:
        return 0.5 * math.erfc(-(value - mean) / (std * math.sqrt(2)))

    low, high = cdf(a), cdf(b)
    uniform = numpy_generator(generator).random(array.shape) * (high - low) + low
    # Keep p strictly inside (0, 1) so that the quantile stays finite; the clip below bounds the result anyway.
    tiny = np.finfo(np.float64).tiny
    values = mean + std * _norm_ppf(np.clip(uniform, tiny, 1 - np.finfo(np.float64).epsneg))
    np.clip(values, a, b, out=values)
    array[...] = values
    return tensor


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with `val`."""
    _array(tensor, "constant_", floating=False)[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal of a rectangular one)."""
    array = _array(tensor, "eye_", floating=False)
    if array.ndim != 2:
        raise ShapeError(f"eye_: only 2-D tensors are supported, got shape {shape_str(array.shape)}")
    array[...] = np.eye(*array.shape, dtype=array.dtype)
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight (out, in, *kernel) with the Dirac delta: the convolution
    passes its input channels through unchanged (per group)."""
    array = _array(tensor, "dirac_", floating=False)
    if array.ndim not in (3, 4, 5):
        raise ShapeError(f"dirac_: only 3-, 4- and 5-D tensors are supported, got shape {shape_str(array.shape)}")
    if array.shape[0] % groups != 0:
        raise ArgumentError(f"dirac_: dim 0 ({array.shape[0]}) must be divisible by groups ({groups})")
    out_per_group = array.shape[0] // groups
    min_dim = min(out_per_group, array.shape[1])
    array[...] = 0
    centre = tuple(size // 2 for size in array.shape[2:])
    for g in range(groups):
        for d in range(min_dim):
            array[(g * out_per_group + d, d, *centre)] = 1
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel): in * prod(kernel) and out * prod(kernel)."""
    shape = _array(tensor, "fan computation", floating=False).shape
    if len(shape) < 2:
        raise ShapeError(
            f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape "
            f"{shape_str(shape)}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ArgumentError(f"mode {mode!r} not supported, please use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot: U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, op: str) -> float | None:
    if 0 in _array(tensor, op).shape:
        warnings.warn(f"{op}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a) and fan
    the fan_in or fan_out (`mode`). `a` is the negative slope of a following leaky_relu."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix, scaled by `gain`: the rows (or columns, whichever are fewer) of
    the tensor viewed as (shape[0], rest) are orthonormal. Q of the QR decomposition of a Gaussian matrix, with
    the signs fixed by R's diagonal so that Q is uniformly distributed (Saxe et al. 2013)."""
    array = _array(tensor, "orthogonal_")
    if array.ndim < 2:
        raise ShapeError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got {array.ndim}")
    if array.size == 0:
        return tensor
    rows = array.shape[0]
    cols = array.size // rows
    flat = numpy_generator(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    array[...] = (gain * q).reshape(array.shape)
    return tensor


# PyTorch's private helpers are used by layers and by users' code; keep both spellings.
calculate_fan_in_and_fan_out = _calculate_fan_in_and_fan_out
