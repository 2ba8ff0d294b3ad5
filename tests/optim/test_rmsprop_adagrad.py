"""RMSprop and Adagrad: trajectories against a NumPy reference of the update rule and against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError
from chainrule.optim import Adagrad, RMSprop
from tests.helpers import requires_torch, torch
from tests.optim.problems import (
    assert_params_close,
    chainrule_params,
    run_chainrule,
    run_reference,
    run_torch,
    set_chainrule_grads,
)

RMSPROP_CONFIGS = [
    {"lr": 0.01},
    {"lr": 0.01, "alpha": 0.9, "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.005, "momentum": 0.9},
    {"lr": 0.01, "centered": True},
    {"lr": 0.005, "momentum": 0.8, "centered": True, "weight_decay": 0.05, "alpha": 0.95},
    {"lr": 0.01, "maximize": True, "momentum": 0.5},
]
ADAGRAD_CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.1, "lr_decay": 0.05},
    {"lr": 0.1, "weight_decay": 0.1},
    {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6},
    {"lr": 0.05, "maximize": True, "lr_decay": 0.01, "weight_decay": 0.02},
]
STEPS = 30


def rmsprop_reference(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    """RMSprop as written in PyTorch's documentation, in float64."""

    def update(p: np.ndarray, g: np.ndarray, state: dict, t: int) -> np.ndarray:
        if t == 1:
            state.update(v=np.zeros_like(p), g_avg=np.zeros_like(p), b=np.zeros_like(p))
        g = -g if maximize else g
        g = g + weight_decay * p
        state["v"] = alpha * state["v"] + (1 - alpha) * g * g
        v_tilde = state["v"]
        if centered:
            state["g_avg"] = alpha * state["g_avg"] + (1 - alpha) * g
            v_tilde = v_tilde - state["g_avg"] ** 2
        if momentum > 0:
            state["b"] = momentum * state["b"] + g / (np.sqrt(v_tilde) + eps)
            return p - lr * state["b"]
        return p - lr * g / (np.sqrt(v_tilde) + eps)

    return update


def adagrad_reference(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    """Adagrad as written in PyTorch's documentation, in float64."""

    def update(p: np.ndarray, g: np.ndarray, state: dict, t: int) -> np.ndarray:
        if t == 1:
            state["sum"] = np.full_like(p, initial_accumulator_value)
        g = -g if maximize else g
        g = g + weight_decay * p
        step_lr = lr / (1 + (t - 1) * lr_decay)
        state["sum"] = state["sum"] + g * g
        return p - step_lr * g / (np.sqrt(state["sum"]) + eps)

    return update


@pytest.mark.parametrize("config", RMSPROP_CONFIGS, ids=str)
def test_rmsprop_trajectory_matches_the_update_rule(config: dict) -> None:
    got, _ = run_chainrule(lambda p: RMSprop(p, **config), STEPS, np.float64)
    expected = run_reference(rmsprop_reference(**config), STEPS)
    assert_params_close(got, expected, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("config", ADAGRAD_CONFIGS, ids=str)
def test_adagrad_trajectory_matches_the_update_rule(config: dict) -> None:
    got, _ = run_chainrule(lambda p: Adagrad(p, **config), STEPS, np.float64)
    expected = run_reference(adagrad_reference(**config), STEPS)
    assert_params_close(got, expected, rtol=1e-11, atol=1e-11)


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", RMSPROP_CONFIGS, ids=str)
def test_rmsprop_trajectory_matches_torch(config: dict, dtype: type) -> None:
    got, optimizer = run_chainrule(lambda p: RMSprop(p, **config), STEPS, dtype)
    expected = run_torch(lambda p: torch.optim.RMSprop(p, **config), STEPS, dtype)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert_params_close(got, expected, rtol=tolerance, atol=tolerance)
    for state in optimizer.state.values():
        assert state["step"] == STEPS
        assert all(v.dtype == dtype for k, v in state.items() if k != "step")


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", ADAGRAD_CONFIGS, ids=str)
def test_adagrad_trajectory_matches_torch(config: dict, dtype: type) -> None:
    got, optimizer = run_chainrule(lambda p: Adagrad(p, **config), STEPS, dtype)
    expected = run_torch(lambda p: torch.optim.Adagrad(p, **config), STEPS, dtype)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert_params_close(got, expected, rtol=tolerance, atol=tolerance)
    for state in optimizer.state.values():
        assert state["step"] == STEPS and state["sum"].dtype == dtype


def test_rmsprop_state_has_buffers_only_for_the_options_in_use() -> None:
    for kwargs, keys in (
        ({}, {"step", "square_avg"}),
        ({"momentum": 0.9}, {"step", "square_avg", "momentum_buffer"}),
        ({"centered": True}, {"step", "square_avg", "grad_avg"}),
    ):
        params = chainrule_params()
        optimizer = RMSprop(params, **kwargs)
        set_chainrule_grads(params)
        optimizer.step()
        assert set(optimizer.state[params[0]]) == keys


def test_adagrad_state_exists_from_construction_as_in_pytorch() -> None:
    params = chainrule_params()
    optimizer = Adagrad(params, initial_accumulator_value=0.25)
    assert set(optimizer.state_dict()["state"]) == {0, 1}
    assert optimizer.state[params[1]]["step"] == 0
    np.testing.assert_array_equal(optimizer.state[params[1]]["sum"], np.full(3, 0.25, dtype=np.float32))


def test_adagrad_initialises_the_state_of_a_group_added_later() -> None:
    optimizer = Adagrad([cr.zeros(2, requires_grad=True)], lr=0.1)
    extra = cr.tensor([1.0, -1.0], requires_grad=True)
    optimizer.add_param_group({"params": [extra], "initial_accumulator_value": 1.0})
    extra.grad = cr.tensor([1.0, 1.0])
    optimizer.step()
    # sum = 1 + 1 = 2: p - 0.1 * 1 / sqrt(2)
    np.testing.assert_allclose(extra.data, [1 - 0.1 / np.sqrt(2), -1 - 0.1 / np.sqrt(2)], rtol=1e-6)
    assert optimizer.state[extra]["step"] == 1


@pytest.mark.parametrize(
    ("cls", "kwargs", "needle"),
    [
        (RMSprop, {"lr": -0.01}, "RMSprop: lr must be a number >= 0.0, got -0.01"),
        (RMSprop, {"eps": -1.0}, "RMSprop: eps must be a number >= 0.0, got -1.0"),
        (RMSprop, {"momentum": -0.9}, "RMSprop: momentum must be a number >= 0.0, got -0.9"),
        (RMSprop, {"weight_decay": -0.1}, "RMSprop: weight_decay must be a number >= 0.0, got -0.1"),
        (RMSprop, {"alpha": -0.5}, "RMSprop: alpha must be a number >= 0.0, got -0.5"),
        (Adagrad, {"lr": -0.01}, "Adagrad: lr must be a number >= 0.0, got -0.01"),
        (Adagrad, {"lr_decay": -0.1}, "Adagrad: lr_decay must be a number >= 0.0, got -0.1"),
        (Adagrad, {"eps": -1.0}, "Adagrad: eps must be a number >= 0.0, got -1.0"),
        (Adagrad, {"initial_accumulator_value": -1}, "Adagrad: initial_accumulator_value must be a number >= 0.0"),
    ],
)
def test_rmsprop_and_adagrad_reject_invalid_hyperparameters(cls: type, kwargs: dict, needle: str) -> None:
    with pytest.raises(ArgumentError) as error:
        cls([cr.zeros(2, requires_grad=True)], **kwargs)
    assert needle in str(error.value)
