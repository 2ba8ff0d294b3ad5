"""Bind the ops onto Tensor as methods and operators: `x.exp()` and `x + y` are the functions of `chainrule.ops`.

Binding the functions themselves (no wrapper) keeps an operator call to one Python call.
"""

from __future__ import annotations

from collections.abc import Callable

from chainrule.ops import activation, elementwise, indexing, linalg, reduction, shape
from chainrule.tensor import Tensor


def _reflected(fn: Callable) -> Callable:
    def method(self: Tensor, other: object) -> Tensor:
        return fn(other, self)

    method.__name__ = fn.__name__
    return method


_OPERATORS = {
    "__add__": elementwise.add,
    "__radd__": elementwise.add,
    "__sub__": elementwise.sub,
    "__rsub__": elementwise.rsub,
    "__mul__": elementwise.mul,
    "__rmul__": elementwise.mul,
    "__truediv__": elementwise.div,
    "__rtruediv__": elementwise.rdiv,
    "__pow__": elementwise.pow,
    "__rpow__": elementwise.rpow,
    "__neg__": elementwise.neg,
    "__pos__": lambda self: self,
    "__abs__": elementwise.abs,
    "__matmul__": linalg.matmul,
    "__rmatmul__": _reflected(linalg.matmul),
    "__eq__": elementwise.eq,
    "__ne__": elementwise.ne,
    "__lt__": elementwise.lt,
    "__le__": elementwise.le,
    "__gt__": elementwise.gt,
    "__ge__": elementwise.ge,
    "__and__": elementwise.logical_and,
    "__or__": elementwise.logical_or,
    "__xor__": elementwise.logical_xor,
    "__invert__": elementwise.logical_not,
    "__getitem__": indexing.getitem,
}

_METHODS = {
    elementwise: (
        "add sub mul div pow neg abs square reciprocal exp log log1p expm1 sqrt rsqrt sin cos tanh sigmoid "
        "clamp clip maximum minimum sign floor ceil round trunc eq ne lt le gt ge logical_not isnan isinf "
        "isfinite allclose"
    ),
    activation: "relu leaky_relu elu selu celu gelu hardtanh softplus silu mish softmax log_softmax",
    reduction: "sum mean var std max min amax amin logsumexp prod argmax argmin norm any all",
    shape: (
        "reshape view flatten unflatten squeeze unsqueeze transpose permute expand expand_as broadcast_to "
        "split chunk flip repeat movedim"
    ),
    indexing: "gather index_select masked_fill take_along_dim",
    linalg: "matmul dot",
}

for _name, _fn in _OPERATORS.items():
    setattr(Tensor, _name, _fn)
for _module, _names in _METHODS.items():
    for _name in _names.split():
        setattr(Tensor, _name, getattr(_module, _name))
Tensor.subtract = elementwise.sub
Tensor.multiply = elementwise.mul
Tensor.divide = Tensor.true_divide = elementwise.div
Tensor.swapaxes = Tensor.transpose
Tensor.view_as = lambda self, other: shape.reshape(self, other.data.shape)
Tensor.reshape_as = Tensor.view_as
