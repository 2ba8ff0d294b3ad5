"""Adam and AdamW: trajectories against a NumPy reference of the update rule and against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError
from chainrule.optim import Adam, AdamW
from tests.helpers import requires_torch, torch
from tests.optim.problems import (
    assert_params_close,
    chainrule_params,
    run_chainrule,
    run_reference,
    run_torch,
    set_chainrule_grads,
)

ADAM_CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "amsgrad": True},
    {"lr": 0.02, "maximize": True},
    {"lr": 0.05, "betas": (0.3, 0.9), "weight_decay": 0.1, "amsgrad": True, "maximize": True},
    {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
]
ADAMW_CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "weight_decay": 0.3},
    {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True},
    {"lr": 0.02, "weight_decay": 0.1, "maximize": True, "betas": (0.5, 0.95)},
]
STEPS = 30


def adam_reference(
    lr,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled_weight_decay=False,
):
    """Adam / AdamW as written in the papers and PyTorch's documentation, in float64."""
    beta1, beta2 = betas

    def update(p: np.ndarray, g: np.ndarray, state: dict, t: int) -> np.ndarray:
        if t == 1:
            state.update(m=np.zeros_like(p), v=np.zeros_like(p), v_max=np.zeros_like(p))
        g = -g if maximize else g
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        state["m"] = beta1 * state["m"] + (1 - beta1) * g
        state["v"] = beta2 * state["v"] + (1 - beta2) * g * g
        m_hat = state["m"] / (1 - beta1**t)
        if amsgrad:
            state["v_max"] = np.maximum(state["v_max"], state["v"])
            v_hat = state["v_max"] / (1 - beta2**t)
        else:
            v_hat = state["v"] / (1 - beta2**t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)

    return update


@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=str)
def test_adam_trajectory_matches_the_update_rule(config: dict) -> None:
    got, _ = run_chainrule(lambda p: Adam(p, **config), STEPS, np.float64)
    expected = run_reference(adam_reference(**config), STEPS)
    assert_params_close(got, expected, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("config", ADAMW_CONFIGS, ids=str)
def test_adamw_trajectory_matches_the_decoupled_update_rule(config: dict) -> None:
    got, _ = run_chainrule(lambda p: AdamW(p, **config), STEPS, np.float64)
    expected = run_reference(adam_reference(**{"weight_decay": 1e-2, **config, "decoupled_weight_decay": True}), STEPS)
    assert_params_close(got, expected, rtol=1e-11, atol=1e-11)


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=str)
def test_adam_trajectory_matches_torch(config: dict, dtype: type) -> None:
    got, optimizer = run_chainrule(lambda p: Adam(p, **config), STEPS, dtype)
    expected = run_torch(lambda p: torch.optim.Adam(p, **config), STEPS, dtype)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert_params_close(got, expected, rtol=tolerance, atol=tolerance)
    for state in optimizer.state.values():
        assert state["step"] == STEPS
        assert all(v.dtype == dtype for k, v in state.items() if k != "step")


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", ADAMW_CONFIGS, ids=str)
def test_adamw_trajectory_matches_torch(config: dict, dtype: type) -> None:
    got, _ = run_chainrule(lambda p: AdamW(p, **config), STEPS, dtype)
    expected = run_torch(lambda p: torch.optim.AdamW(p, **config), STEPS, dtype)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert_params_close(got, expected, rtol=tolerance, atol=tolerance)


def test_adamw_decays_weights_that_have_zero_gradient_while_adam_l2_does_not_move_them() -> None:
    # With g = 0, AdamW shrinks p by (1 - lr * wd) whatever the moments; Adam's L2 term goes through the
    # normalisation, so its first step is -lr * sign(p) instead.
    for cls, expected in ((AdamW, 2.0 * (1 - 0.1 * 0.5)), (Adam, 2.0 - 0.1)):
        p = cr.tensor([2.0], requires_grad=True)
        p.grad = cr.zeros(1)
        cls([p], lr=0.1, weight_decay=0.5).step()
        np.testing.assert_allclose(p.data, [expected], rtol=1e-6)


def test_adam_state_holds_step_and_moments_of_the_parameter_dtype() -> None:
    params = chainrule_params(np.float32)
    optimizer = Adam(params, amsgrad=True)
    set_chainrule_grads(params)
    optimizer.step()
    state = optimizer.state[params[0]]
    assert set(state) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert state["step"] == 1
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        assert state[key].dtype == np.float32 and state[key].shape == params[0].shape


def test_adam_first_step_moves_each_coordinate_by_about_lr() -> None:
    # m_hat / sqrt(v_hat) = g / |g| on the first step: the classic sanity check of the bias corrections.
    params = chainrule_params(np.float64)
    before = params[0].data.copy()
    set_chainrule_grads(params)
    Adam(params, lr=0.01).step()
    np.testing.assert_allclose(params[0].data - before, -0.01 * np.sign(params[0].grad.data), rtol=1e-6)


def test_adamw_default_weight_decay_is_1e_2_and_adams_is_0() -> None:
    p = cr.zeros(2, requires_grad=True)
    assert AdamW([p]).defaults["weight_decay"] == 1e-2
    assert Adam([p]).defaults["weight_decay"] == 0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"lr": -1e-3}, "lr must be a number >= 0.0, got -0.001"),
        ({"eps": -1e-8}, "eps must be a number >= 0.0, got -1e-08"),
        ({"weight_decay": -0.1}, "weight_decay must be a number >= 0.0, got -0.1"),
        ({"betas": (1.0, 0.999)}, "betas[0] must be a number in [0.0, 1.0), got 1.0"),
        ({"betas": (0.9, -0.1)}, "betas[1] must be a number in [0.0, 1.0), got -0.1"),
        ({"betas": 0.9}, "betas must be a pair (beta1, beta2), got 0.9"),
    ],
)
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_adam_rejects_invalid_hyperparameters_naming_the_argument(cls: type, kwargs: dict, needle: str) -> None:
    with pytest.raises(ArgumentError, match=f"^{cls.__name__}: ") as error:
        cls([cr.zeros(2, requires_grad=True)], **kwargs)
    assert needle in str(error.value)
