"""SGD: trajectories against a NumPy reference of the update rule and against torch.optim.SGD."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError
from chainrule.optim import SGD
from tests.helpers import requires_torch, torch
from tests.optim.problems import (
    assert_params_close,
    chainrule_params,
    run_chainrule,
    run_reference,
    run_torch,
    set_chainrule_grads,
)

CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.1, "weight_decay": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.02},
    {"lr": 0.01, "maximize": True},
    {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1, "maximize": True, "nesterov": True},
]
STEPS = 30


def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    """SGD as written in PyTorch's documentation, in float64."""

    def update(p: np.ndarray, g: np.ndarray, state: dict, t: int) -> np.ndarray:
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum != 0:
            state["b"] = g.copy() if t == 1 else momentum * state["b"] + (1 - dampening) * g
            g = g + momentum * state["b"] if nesterov else state["b"]
        return p - lr * g

    return update


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_sgd_trajectory_matches_the_update_rule(config: dict) -> None:
    got, _ = run_chainrule(lambda p: SGD(p, **config), STEPS, np.float64)
    expected = run_reference(sgd_reference(**config), STEPS)
    assert_params_close(got, expected, rtol=1e-12, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_sgd_trajectory_matches_torch(config: dict, dtype: type) -> None:
    got, _ = run_chainrule(lambda p: SGD(p, **config), STEPS, dtype)
    expected = run_torch(lambda p: torch.optim.SGD(p, **config), STEPS, dtype)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert_params_close(got, expected, rtol=tolerance, atol=tolerance)
    assert all(a.dtype == dtype for a in got)


def test_sgd_default_lr_is_1e_3_as_in_pytorch_2() -> None:
    params = chainrule_params()
    optimizer = SGD(params)
    assert optimizer.param_groups[0]["lr"] == 1e-3
    before = params[0].data.copy()
    set_chainrule_grads(params)
    expected = before - np.float32(1e-3) * params[0].grad.data
    optimizer.step()
    np.testing.assert_allclose(params[0].data, expected, rtol=1e-6)


def test_sgd_keeps_a_float32_momentum_buffer_that_starts_as_the_gradient() -> None:
    params = chainrule_params(np.float32)
    optimizer = SGD(params, lr=0.1, momentum=0.9)
    set_chainrule_grads(params)
    first_grad = params[0].grad.data.copy()
    optimizer.step()
    buf = optimizer.state[params[0]]["momentum_buffer"]
    assert isinstance(buf, np.ndarray) and buf.dtype == np.float32
    np.testing.assert_array_equal(buf, first_grad)
    assert buf is not params[0].grad.data  # a copy, not the gradient itself


def test_sgd_without_momentum_keeps_no_state() -> None:
    params = chainrule_params()
    optimizer = SGD(params, lr=0.1)
    set_chainrule_grads(params)
    optimizer.step()
    assert len(optimizer.state) == 0


def test_sgd_maximize_ascends_the_objective() -> None:
    params = chainrule_params()
    optimizer = SGD(params, lr=0.1, maximize=True)
    set_chainrule_grads(params)
    before = params[1].data.copy()
    optimizer.step()
    np.testing.assert_allclose(params[1].data, before + np.float32(0.1) * params[1].grad.data, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"lr": -0.1}, "lr must be a number >= 0.0, got -0.1"),
        ({"lr": "fast"}, "lr must be a number >= 0.0, got 'fast'"),
        ({"momentum": -0.5}, "momentum must be a number >= 0.0, got -0.5"),
        ({"weight_decay": -1e-4}, "weight_decay must be a number >= 0.0, got -0.0001"),
        ({"nesterov": True}, "nesterov=True requires momentum > 0 and dampening = 0, got momentum=0"),
        ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening=0.1"),
    ],
)
def test_sgd_rejects_invalid_hyperparameters_naming_the_argument(kwargs: dict, needle: str) -> None:
    with pytest.raises(ArgumentError, match=r"^SGD: ") as error:
        SGD([cr.zeros(2, requires_grad=True)], **kwargs)
    assert needle in str(error.value)


def test_sgd_checks_hyperparameters_of_added_groups() -> None:
    optimizer = SGD([cr.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ArgumentError, match=r"SGD: lr must be a number >= 0\.0, got -1"):
        optimizer.add_param_group({"params": [cr.zeros(3, requires_grad=True)], "lr": -1})
    assert len(optimizer.param_groups) == 1
