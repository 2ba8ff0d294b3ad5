"""Check analytic gradients against central finite differences, in float64.

For a function f of tensors, the backward pass computes each row of the Jacobian J (d out_i / d input_j) by
a backward of a one-hot gradient; finite differences compute each column as (f(x + eps) - f(x - eps)) / 2 eps.
The two must agree within atol + rtol * |numerical| everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.errors import ArgumentError, DTypeError, GradcheckError
from chainrule.tensor import Tensor


def _outputs(value: Any) -> list[Tensor]:
    values = list(value) if isinstance(value, tuple | list) else [value]
    for v in values:
        if not isinstance(v, Tensor):
            raise ArgumentError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, got {type(v).__name__}")
    return values


def _numerical_jacobian(fn: Callable[..., Any], inputs: list[Tensor], index: int, eps: float, n_out: int) -> np.ndarray:
    """J[:, j] by central differences on element j of inputs[index]; shape (total outputs, input size)."""
    target = inputs[index].data
    flat = target.reshape(-1)  # a view: perturbing it perturbs the input in place
    jacobian = np.zeros((n_out, flat.size))
    with no_grad():
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = np.concatenate([o.data.reshape(-1) for o in _outputs(fn(*inputs))]).astype(np.float64)
            flat[j] = original - eps
            minus = np.concatenate([o.data.reshape(-1) for o in _outputs(fn(*inputs))]).astype(np.float64)
            flat[j] = original
            jacobian[:, j] = (plus - minus) / (2 * eps)
    return jacobian


def _analytic_jacobians(fn: Callable[..., Any], inputs: list[Tensor], checked: list[int]) -> list[np.ndarray]:
    outputs = _outputs(fn(*inputs))
    n_out = sum(o.data.size for o in outputs)
    jacobians = [np.zeros((n_out, inputs[i].data.size)) for i in checked]
    row = 0
    for output in outputs:
        for k in range(output.data.size):
            for i in checked:
                inputs[i].grad = None
            if output.requires_grad:
                seed = np.zeros(output.data.shape, dtype=output.data.dtype)
                seed.reshape(-1)[k] = 1
                output.backward(seed, retain_graph=True)
            for column, i in enumerate(checked):
                grad = inputs[i].grad
                if grad is not None:
                    if grad.data.shape != inputs[i].data.shape:
                        raise GradcheckError(
                            f"gradcheck: the gradient of input {i} has shape {grad.data.shape}, expected "
                            f"{inputs[i].data.shape}"
                        )
                    jacobians[column][row] = grad.data.reshape(-1)
            row += 1
    for i in checked:
        inputs[i].grad = None
    return jacobians


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Tensor] | Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """True when `fn`'s backward agrees with central finite differences for every input that requires grad.

    fn: takes the tensors of `inputs` and returns a Tensor or a tuple of Tensors.
    inputs: float64 tensors (checked ones with requires_grad=True); finite differences in float32 are too
    coarse to check anything. On disagreement raises GradcheckError naming the input, the worst output and
    input elements, and both values (or returns False when raise_exception=False).
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ArgumentError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].data.dtype != np.float64:
            raise DTypeError(
                f"gradcheck: input {i} is {inputs[i].data.dtype}; use float64 inputs, finite differences in "
                "lower precision cannot resolve gradient errors"
            )
    analytic = _analytic_jacobians(fn, inputs, checked)
    n_out = analytic[0].shape[0]
    for column, i in enumerate(checked):
        numerical = _numerical_jacobian(fn, inputs, i, eps, n_out)
        error = np.abs(analytic[column] - numerical)
        allowed = atol + rtol * np.abs(numerical)
        bad = ~(error <= allowed)  # NaN counts as a failure
        if bad.any():
            excess = np.where(np.isnan(error), np.inf, error - allowed)
            out_index, in_index = np.unravel_index(np.argmax(excess), excess.shape)
            shape = inputs[i].data.shape
            where = tuple(int(k) for k in np.unravel_index(in_index, shape)) if shape else ()
            message = (
                f"gradcheck: input {i} (shape {shape}) has {int(bad.sum())} of {bad.size} Jacobian entries out "
                f"of tolerance; worst at output element {int(out_index)}, input element "
                f"{where}: analytic {float(analytic[column][out_index, in_index])!r}, numerical "
                f"{float(numerical[out_index, in_index])!r} "
                f"(atol={atol}, rtol={rtol})"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
