"""Elementwise ops: arithmetic, powers, exponentials, trigonometry, comparisons, casts.

Each op computes its forward with NumPy and, under it, the closure that maps d(loss)/d(out) to d(loss)/d(input)
(the local derivative, then `unbroadcast` back to the input's shape). Gradients of inputs that do not require
grad are never computed (None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd import owns
from chainrule.errors import DTypeError, ShapeError, shape_str
from chainrule.ops._util import unbroadcast, zero_where
from chainrule.tensor import DTypeLike, Tensor, as_dtype, as_tensor_arg, constant, result

Operand = Tensor | float | int | np.ndarray


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a Python number takes the other operand's float dtype."""
    if not isinstance(a, Tensor):
        a = as_tensor_arg(a, b.data if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = as_tensor_arg(b, a.data)
    return a, b


def _broadcast_error(op: str, a: Tensor, b: Tensor) -> ShapeError:
    return ShapeError(
        f"{op}: shapes {shape_str(a.data.shape)} and {shape_str(b.data.shape)} do not broadcast "
        "(trailing dimensions must be equal or 1)"
    )


# -- arithmetic ------------------------------------------------------------------------------------------
def add(a: Operand, b: Operand) -> Tensor:
    """a + b, broadcasting. d/da = 1, d/db = 1."""
    a, b = _operands(a, b)
    try:
        out = a.data + b.data
    except ValueError:
        raise _broadcast_error("add", a, b) from None

    def backward(grad: np.ndarray) -> tuple:
        return (
            unbroadcast(grad, a.data.shape) if a.requires_grad else None,
            unbroadcast(grad, b.data.shape) if b.requires_grad else None,
        )

    return result(out, (a, b), backward, "add")


def sub(a: Operand, b: Operand) -> Tensor:
    """a - b, broadcasting. d/da = 1, d/db = -1."""
    a, b = _operands(a, b)
    try:
        out = a.data - b.data
    except ValueError:
        raise _broadcast_error("sub", a, b) from None

    def backward(grad: np.ndarray) -> tuple:
        return (
            unbroadcast(grad, a.data.shape) if a.requires_grad else None,
            unbroadcast(-grad, b.data.shape) if b.requires_grad else None,
        )

    return result(out, (a, b), backward, "sub")


def rsub(a: Operand, b: Operand) -> Tensor:
    """b - a (the reflected operator of `a - b`)."""
    return sub(b, a)


def mul(a: Operand, b: Operand) -> Tensor:
    """a * b, broadcasting. d/da = b, d/db = a."""
    a, b = _operands(a, b)
    try:
        out = a.data * b.data
    except ValueError:
        raise _broadcast_error("mul", a, b) from None

    def backward(grad: np.ndarray) -> tuple:
        grad_b = unbroadcast(grad * a.data, b.data.shape) if b.requires_grad else None
        if not a.requires_grad:
            return None, grad_b
        # grad's last use: a's gradient may take its memory
        grad_a = np.multiply(grad, b.data, out=grad) if owns(grad) and grad.dtype == out.dtype else grad * b.data
        return unbroadcast(grad_a, a.data.shape), grad_b

    return result(out, (a, b), backward, "mul")


def div(a: Operand, b: Operand) -> Tensor:
    """a / b, broadcasting. d/da = 1/b, d/db = -a/b^2 = -out/b."""
    a, b = _operands(a, b)
    if a.data.dtype.kind != "f" and b.data.dtype.kind != "f":
        # true division of integers gives the default float dtype, as in PyTorch
        a, b = Tensor._wrap(a.data.astype(np.float32)), Tensor._wrap(b.data.astype(np.float32))
    try:
        out = a.data / b.data
    except ValueError:
        raise _broadcast_error("div", a, b) from None

    def backward(grad: np.ndarray) -> tuple:
        grad_over_b = grad / b.data
        return (
            unbroadcast(grad_over_b, a.data.shape) if a.requires_grad else None,
            unbroadcast(-grad_over_b * out, b.data.shape) if b.requires_grad else None,
        )

    return result(out, (a, b), backward, "div")


def rdiv(a: Operand, b: Operand) -> Tensor:
    """b / a (the reflected operator of `a / b`)."""
    return div(b, a)


def pow(a: Operand, b: Operand) -> Tensor:  # noqa: A001 (PyTorch's name)
    """a ** b. d/da = b * a^(b-1); d/db = a^b * log(a), taken as 0 where a == 0 and b >= 0 (as PyTorch)."""
    if not isinstance(b, Tensor) and isinstance(b, int | float) and isinstance(a, Tensor):
        return _pow_scalar(a, b)
    a, b = _operands(a, b)
    try:
        out = a.data**b.data
    except ValueError:
        raise _broadcast_error("pow", a, b) from None

    def backward(grad: np.ndarray) -> tuple:
        grad_a = grad_b = None
        if a.requires_grad:
            local = np.where(b.data == 0, 0.0, b.data * a.data ** np.where(b.data == 0, 1, b.data - 1))
            grad_a = unbroadcast(grad * local, a.data.shape)
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                local = out * np.log(a.data)
            local = np.where((a.data == 0) & (b.data >= 0), 0.0, local)
            grad_b = unbroadcast(grad * local, b.data.shape)
        return grad_a, grad_b

    return result(out, (a, b), backward, "pow")


def _pow_scalar(a: Tensor, exponent: float) -> Tensor:
    if exponent == 2:
        out = a.data * a.data  # faster than the general power, and exact
    else:
        out = a.data**exponent

    def backward(grad: np.ndarray) -> tuple:
        if exponent == 0:
            return (np.zeros_like(grad),)
        if exponent == 2:
            return (grad * (2 * a.data),)
        return (grad * (exponent * a.data ** (exponent - 1)),)

    return result(out, (a,), backward, "pow")


def rpow(a: Operand, b: Operand) -> Tensor:
    """b ** a (the reflected operator of `a ** b`)."""
    return pow(b, a)


def neg(a: Tensor) -> Tensor:
    """-a."""

    def backward(grad: np.ndarray) -> tuple:
        return (np.negative(grad, out=grad) if owns(grad) else -grad,)

    return result(-a.data, (a,), backward, "neg")


def abs(a: Tensor) -> Tensor:  # noqa: A001 (PyTorch's name)
    """|a|. d/da = sign(a), 0 at a == 0 (as PyTorch)."""

    def backward(grad: np.ndarray) -> tuple:
        return (grad * np.sign(a.data),)

    return result(np.abs(a.data), (a,), backward, "abs")


def square(a: Tensor) -> Tensor:
    """a^2."""
    return _pow_scalar(a, 2)


def reciprocal(a: Tensor) -> Tensor:
    """1 / a. d/da = -1/a^2 = -out^2."""
    data = a.data if a.data.dtype.kind == "f" else a.data.astype(np.float32)
    out = 1 / data

    def backward(grad: np.ndarray) -> tuple:
        return (-grad * out * out,)

    return result(out, (a,), backward, "reciprocal")


# -- exponentials and logarithms -----------------------------------------------------------------------
def _float_input(a: Tensor, op: str) -> np.ndarray:
    if a.data.dtype.kind == "f":
        return a.data
    if a.data.dtype.kind == "b":
        raise DTypeError(f"{op}: expected a floating-point tensor, got bool")
    return a.data.astype(np.float32)


def exp(a: Tensor) -> Tensor:
    """e^a. d/da = e^a = out."""
    out = np.exp(_float_input(a, "exp"))

    def backward(grad: np.ndarray) -> tuple:
        return (np.multiply(grad, out, out=grad) if owns(grad) else grad * out,)

    return result(out, (a,), backward, "exp")


def log(a: Tensor) -> Tensor:
    """Natural log. d/da = 1/a."""
    data = _float_input(a, "log")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(data)

    def backward(grad: np.ndarray) -> tuple:
        return (grad / data,)

    return result(out, (a,), backward, "log")


def log1p(a: Tensor) -> Tensor:
    """log(1 + a), accurate for small a. d/da = 1/(1 + a)."""
    data = _float_input(a, "log1p")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log1p(data)

    def backward(grad: np.ndarray) -> tuple:
        return (grad / (1 + data),)

    return result(out, (a,), backward, "log1p")


def expm1(a: Tensor) -> Tensor:
    """e^a - 1, accurate for small a. d/da = e^a = out + 1."""
    out = np.expm1(_float_input(a, "expm1"))

    def backward(grad: np.ndarray) -> tuple:
        return (grad * (out + 1),)

    return result(out, (a,), backward, "expm1")


def sqrt(a: Tensor) -> Tensor:
    """Square root. d/da = 1 / (2 sqrt(a))."""
    with np.errstate(invalid="ignore"):
        out = np.sqrt(_float_input(a, "sqrt"))

    def backward(grad: np.ndarray) -> tuple:
        with np.errstate(divide="ignore"):
            return (grad / (2 * out),)

    return result(out, (a,), backward, "sqrt")


def rsqrt(a: Tensor) -> Tensor:
    """1 / sqrt(a). d/da = -out^3 / 2."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1 / np.sqrt(_float_input(a, "rsqrt"))

    def backward(grad: np.ndarray) -> tuple:
        return (grad * (-0.5 * out * out * out),)

    return result(out, (a,), backward, "rsqrt")


# -- trigonometric and hyperbolic -----------------------------------------------------------------------
def sin(a: Tensor) -> Tensor:
    """sin(a). d/da = cos(a)."""
    data = _float_input(a, "sin")

    def backward(grad: np.ndarray) -> tuple:
        return (grad * np.cos(data),)

    return result(np.sin(data), (a,), backward, "sin")


def cos(a: Tensor) -> Tensor:
    """cos(a). d/da = -sin(a)."""
    data = _float_input(a, "cos")

    def backward(grad: np.ndarray) -> tuple:
        return (-grad * np.sin(data),)

    return result(np.cos(data), (a,), backward, "cos")


def tanh(a: Tensor) -> Tensor:
    """tanh(a). d/da = 1 - tanh(a)^2."""
    out = np.tanh(_float_input(a, "tanh"))

    def backward(grad: np.ndarray) -> tuple:
        local = np.multiply(out, out, out=np.empty_like(out))  # out=: an array even when out is 0-d
        np.subtract(1, local, out=local)
        return (np.multiply(local, grad, out=local),)

    return result(out, (a,), backward, "tanh")


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + e^-a), computed without overflow for any a. d/da = out (1 - out)."""
    data = _float_input(a, "sigmoid")
    # e^-|a| never overflows; the two branches are the same function rearranged for each sign.
    e = np.exp(-np.abs(data))
    out = np.maximum(e, data >= 0) / (1 + e)  # numerator 1 where a >= 0, else e^a (np.where is far slower)

    def backward(grad: np.ndarray) -> tuple:
        local = np.subtract(1, out, out=np.empty_like(out))  # out=: an array even when out is 0-d
        np.multiply(local, out, out=local)
        return (np.multiply(local, grad, out=local),)

    return result(out, (a,), backward, "sigmoid")


# -- piecewise ------------------------------------------------------------------------------------------
def clamp(a: Tensor, min: Operand | None = None, max: Operand | None = None) -> Tensor:  # noqa: A002
    """a limited to [min, max]. d/da = 1 where min <= a <= max, else 0 (as PyTorch). Tensor bounds get
    gradients where they are the value taken."""
    if min is None and max is None:
        raise ShapeError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = a
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    data = a.data
    out = np.clip(data, min, max)

    def backward(grad: np.ndarray) -> tuple:
        # PyTorch's where(min <= a <= max, grad, 0): 0 outside (and for a NaN input), even for an inf gradient.
        inside = np.ones(data.shape, dtype=bool)
        if min is not None:
            inside &= data >= min
        if max is not None:
            inside &= data <= max
        return (zero_where(grad, np.logical_not(inside, out=inside)),)

    return result(out, (a,), backward, "clamp")


clip = clamp


def _select_backward(a: Tensor, b: Tensor, pick_a: np.ndarray, tie: np.ndarray) -> Callable:
    """For maximum/minimum: the gradient goes to the chosen operand, split evenly at ties (as PyTorch)."""

    def backward(grad: np.ndarray) -> tuple:
        share_a = np.where(tie, 0.5, pick_a).astype(grad.dtype, copy=False)
        return (
            unbroadcast(grad * share_a, a.data.shape) if a.requires_grad else None,
            unbroadcast(grad * (1 - share_a), b.data.shape) if b.requires_grad else None,
        )

    return backward


def maximum(a: Operand, b: Operand) -> Tensor:
    """Elementwise max of a and b, broadcasting; at ties each gets half the gradient."""
    a, b = _operands(a, b)
    try:
        out = np.maximum(a.data, b.data)
    except ValueError:
        raise _broadcast_error("maximum", a, b) from None
    return result(out, (a, b), _select_backward(a, b, a.data > b.data, a.data == b.data), "maximum")


def minimum(a: Operand, b: Operand) -> Tensor:
    """Elementwise min of a and b, broadcasting; at ties each gets half the gradient."""
    a, b = _operands(a, b)
    try:
        out = np.minimum(a.data, b.data)
    except ValueError:
        raise _broadcast_error("minimum", a, b) from None
    return result(out, (a, b), _select_backward(a, b, a.data < b.data, a.data == b.data), "minimum")


def where(condition: Operand, a: Operand, b: Operand) -> Tensor:
    """a where condition is true, else b, all three broadcast together."""
    mask = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if mask.dtype != np.bool_:
        raise DTypeError(f"where: condition must be a bool tensor, got dtype {mask.dtype}")
    a, b = _operands(a, b)
    try:
        out = np.where(mask, a.data, b.data)
    except ValueError:
        raise ShapeError(
            f"where: condition {shape_str(mask.shape)}, input {shape_str(a.data.shape)} and other "
            f"{shape_str(b.data.shape)} do not broadcast together"
        ) from None

    def backward(grad: np.ndarray) -> tuple:
        zero = grad.dtype.type(0)
        return (
            unbroadcast(np.where(mask, grad, zero), a.data.shape) if a.requires_grad else None,
            unbroadcast(np.where(mask, zero, grad), b.data.shape) if b.requires_grad else None,
        )

    return result(out, (a, b), backward, "where")


def _zero_gradient_op(name: str, fn: Any) -> Any:
    """Ops that are piecewise constant: the gradient is zero almost everywhere (as PyTorch)."""

    def op(a: Tensor) -> Tensor:
        def backward(grad: np.ndarray) -> tuple:
            return (None,)

        return result(fn(a.data), (a,), backward, name)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"{name}(a), elementwise; its gradient is zero."
    return op


sign = _zero_gradient_op("sign", np.sign)
floor = _zero_gradient_op("floor", np.floor)
ceil = _zero_gradient_op("ceil", np.ceil)
round = _zero_gradient_op("round", np.round)  # noqa: A001 (PyTorch's name)
trunc = _zero_gradient_op("trunc", np.trunc)


# -- copies and casts ---------------------------------------------------------------------------------
def clone(a: Tensor) -> Tensor:
    """A copy of a's data; the gradient passes through unchanged."""

    def backward(grad: np.ndarray) -> tuple:
        return (grad,)

    return result(a.data.copy(), (a,), backward, "clone")


def cast(a: Tensor, dtype: DTypeLike) -> Tensor:
    """a converted to `dtype` (a itself when it has it). Between float dtypes the gradient is cast back;
    a cast to an integer or bool dtype leaves the graph."""
    target = as_dtype(dtype)
    source = a.data.dtype
    if target == source:
        return a
    out = a.data.astype(target)
    if target.kind != "f":
        return constant(out)

    def backward(grad: np.ndarray) -> tuple:
        return (grad.astype(source),)

    return result(out, (a,), backward, "cast")


# -- comparisons and logic (results are bool tensors outside the graph) -----------------------------------
def _comparison(name: str, ufunc: np.ufunc) -> Any:
    def op(a: Operand, b: Operand) -> Tensor:
        a, b = _operands(a, b)
        try:
            return constant(ufunc(a.data, b.data))
        except ValueError:
            raise _broadcast_error(name, a, b) from None

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"{name}(a, b), elementwise, broadcasting: a bool tensor outside the graph."
    return op


eq = _comparison("eq", np.equal)
ne = _comparison("ne", np.not_equal)
lt = _comparison("lt", np.less)
le = _comparison("le", np.less_equal)
gt = _comparison("gt", np.greater)
ge = _comparison("ge", np.greater_equal)
logical_and = _comparison("logical_and", np.logical_and)
logical_or = _comparison("logical_or", np.logical_or)
logical_xor = _comparison("logical_xor", np.logical_xor)


def logical_not(a: Tensor) -> Tensor:
    return constant(np.logical_not(a.data))


def isnan(a: Tensor) -> Tensor:
    return constant(np.isnan(a.data))


def isinf(a: Tensor) -> Tensor:
    return constant(np.isinf(a.data))


def isfinite(a: Tensor) -> Tensor:
    return constant(np.isfinite(a.data))


def allclose(a: Operand, b: Operand, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    a, b = _operands(a, b)
    return bool(np.allclose(a.data, b.data, rtol=rtol, atol=atol))
