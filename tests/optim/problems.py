"""A fixed linear least-squares problem, and drivers that run an optimizer on it for a number of steps: ours,
PyTorch's, or a hand-written NumPy reference of the update rule. Gradients are computed by hand in NumPy
from each run's own current parameters, so runs differ only by their optimizers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr

try:
    import torch
except ImportError:
    torch = None

_rng = np.random.default_rng(1234)
X = _rng.normal(size=(8, 4))
Y = _rng.normal(size=(8, 3))
W0 = _rng.normal(size=(3, 4))
B0 = _rng.normal(size=(3,))


def gradients(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d/d(W, b) of 0.5 * mean over rows of ||x W^T + b - y||^2, in the parameters' dtype."""
    x, y = X.astype(weight.dtype), Y.astype(weight.dtype)
    residual = x @ weight.T + bias - y
    return residual.T @ x / len(x), residual.sum(axis=0) / len(x)


def initial(dtype: Any) -> list[np.ndarray]:
    return [W0.astype(dtype), B0.astype(dtype)]


def chainrule_params(dtype: Any = np.float32) -> list[cr.Tensor]:
    return [cr.tensor(a, requires_grad=True) for a in initial(dtype)]


def set_chainrule_grads(params: list[cr.Tensor]) -> None:
    for p, g in zip(params, gradients(params[0].data, params[1].data)):
        p.grad = cr.tensor(g)


def run_chainrule(
    make: Callable[[list[cr.Tensor]], Any], steps: int, dtype: Any = np.float32
) -> tuple[list[np.ndarray], Any]:
    """Final parameters (copies) and the optimizer after `steps` steps of `make(params)`."""
    params = chainrule_params(dtype)
    optimizer = make(params)
    for _ in range(steps):
        set_chainrule_grads(params)
        optimizer.step()
    return [p.data.copy() for p in params], optimizer


def run_torch(make: Callable[[list[Any]], Any], steps: int, dtype: Any = np.float32) -> list[np.ndarray]:
    params = [torch.tensor(a, requires_grad=True) for a in initial(dtype)]
    optimizer = make(params)
    for _ in range(steps):
        grads = gradients(params[0].detach().numpy(), params[1].detach().numpy())
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        optimizer.step()
    return [p.detach().numpy().copy() for p in params]


def run_reference(update: Callable[[np.ndarray, np.ndarray, dict, int], np.ndarray], steps: int) -> list[np.ndarray]:
    """Float64 parameters after `steps` of `update(param, grad, state, t) -> new param` (t counts from 1)."""
    params = initial(np.float64)
    states: list[dict] = [{} for _ in params]
    for t in range(1, steps + 1):
        grads = gradients(*params)
        params = [update(p.copy(), g, s, t) for p, g, s in zip(params, grads, states)]
    return params


def assert_params_close(got: list[np.ndarray], expected: list[np.ndarray], rtol: float, atol: float) -> None:
    for i, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"parameter {i}")
