"""Parameter: a Tensor that a Module registers as one of its learnable weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tensor import Tensor, as_array


class Parameter(Tensor):
    """A leaf Tensor that requires grad and that `Module` registers when assigned as an attribute.

    data: a Tensor (its array is shared, not copied), an ndarray (its dtype kept: float64 stays float64), or
    numbers (float32). None gives an empty float32 tensor. requires_grad: False for a frozen weight.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            array = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data.data
        else:
            array = as_array(data)
        self.data = array
        self.grad = None
        self.requires_grad = False
        self._node = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: int) -> tuple:
        # Rebuilt from (array, requires_grad) so pickling and deepcopy carry no graph or hooks.
        return (Parameter, (self.data, self.requires_grad))
