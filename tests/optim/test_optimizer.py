"""The Optimizer base, through every optimizer: parameter groups, state, zero_grad, step(closure),
state_dict / load_state_dict, in-place updates, errors."""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ShapeError
from chainrule.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from tests.helpers import requires_torch, torch
from tests.optim.problems import chainrule_params, gradients, initial, set_chainrule_grads

# Every optimizer with options that give it every kind of state.
FULL_CONFIGS = [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (Adam, {"lr": 0.05, "amsgrad": True, "weight_decay": 0.01}),
    (AdamW, {"lr": 0.05, "amsgrad": True}),
    (RMSprop, {"lr": 0.01, "momentum": 0.9, "centered": True}),
    (Adagrad, {"lr": 0.1, "lr_decay": 0.01}),
]
IDS = [cls.__name__ for cls, _ in FULL_CONFIGS]


def run(optimizer: Optimizer, params: list[cr.Tensor], steps: int) -> None:
    for _ in range(steps):
        set_chainrule_grads(params)
        optimizer.step()


# -- construction and parameter groups -----------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_defaults_and_signature_order_match_torch(name: str) -> None:
    ours = getattr(cr.optim, name)([cr.zeros(2, requires_grad=True)]).defaults
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key
    our_args = list(inspect.signature(getattr(cr.optim, name)).parameters)
    their_args = list(inspect.signature(getattr(torch.optim, name)).parameters)
    assert [a for a in their_args if a in our_args] == our_args  # the same order, ours a subset


def test_a_list_of_tensors_makes_one_group_with_the_defaults() -> None:
    params = chainrule_params()
    optimizer = SGD(params, lr=0.1, momentum=0.5)
    assert len(optimizer.param_groups) == 1
    group = optimizer.param_groups[0]
    assert group["params"][0] is params[0] and group["params"][1] is params[1]
    assert group["lr"] == 0.1 and group["momentum"] == 0.5 and group["nesterov"] is False


def test_a_generator_of_parameters_is_accepted() -> None:
    params = chainrule_params()
    optimizer = Adam(p for p in params)
    assert len(optimizer.param_groups[0]["params"]) == 2


def test_groups_override_defaults_and_each_uses_its_own_lr() -> None:
    params = chainrule_params()
    optimizer = SGD([{"params": [params[0]]}, {"params": params[1], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    before = [p.data.copy() for p in params]
    set_chainrule_grads(params)
    optimizer.step()
    for p, b, lr in zip(params, before, (0.1, 0.5)):
        np.testing.assert_allclose(p.data, b - np.float32(lr) * p.grad.data, rtol=1e-6)


def test_add_param_group_fills_in_defaults_and_steps_the_new_parameters() -> None:
    params = chainrule_params()
    optimizer = Adam([params[0]], lr=0.01)
    optimizer.add_param_group({"params": [params[1]], "lr": 0.02})
    assert optimizer.param_groups[1]["betas"] == (0.9, 0.999)
    assert optimizer.param_groups[1]["lr"] == 0.02
    before = params[1].data.copy()
    set_chainrule_grads(params)
    optimizer.step()
    assert not np.array_equal(params[1].data, before)


def test_a_parameter_in_two_groups_is_an_error() -> None:
    params = chainrule_params()
    optimizer = SGD(params, lr=0.1)
    with pytest.raises(ArgumentError, match="some parameters appear in more than one parameter group"):
        optimizer.add_param_group({"params": [params[1]]})
    with pytest.raises(ArgumentError, match="more than one parameter group"):
        SGD([{"params": params}, {"params": [params[0]]}], lr=0.1)


def test_a_parameter_listed_twice_in_a_group_is_an_error() -> None:
    p = cr.zeros(2, requires_grad=True)
    with pytest.raises(ArgumentError, match="SGD: a parameter group lists the same parameter more than once"):
        SGD([p, p], lr=0.1)


def test_named_parameters_keep_their_names_in_the_groups_and_the_state_dict() -> None:
    params = chainrule_params()
    optimizer = SGD([("weight", params[0]), ("bias", params[1])], lr=0.1)
    assert all(a is b for a, b in zip(optimizer.param_groups[0]["params"], params))
    assert optimizer.param_groups[0]["param_names"] == ["weight", "bias"]
    assert optimizer.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ArgumentError, match="all parameter groups must be with names or all without"):
        optimizer.add_param_group({"params": [cr.zeros(1, requires_grad=True)]})


def test_a_tensor_that_does_not_require_grad_is_accepted_as_in_torch() -> None:
    frozen = cr.zeros(3)
    optimizer = Adam([frozen])
    optimizer.step()  # no grad: skipped
    np.testing.assert_array_equal(frozen.data, np.zeros(3, dtype=np.float32))


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ([], "SGD: got an empty parameter list"),
        (cr.zeros(2, requires_grad=True), "SGD: params must be an iterable of Tensors or of dicts"),
        ({cr.zeros(2, requires_grad=True)}, "SGD: params must be an ordered collection"),
        ([np.zeros(2)], "SGD: can only optimize Tensors, but parameter 0 is a ndarray"),
        ([cr.zeros(2), cr.tensor([1, 2])], "SGD: can only optimize floating-point tensors, but parameter 1 has dtype"),
        ([{"lr": 0.1}], "SGD.add_param_group: the group has no 'params' key"),
        ({"params": [cr.zeros(1)]}, "SGD: params is a single dict; pass parameter groups as a list of dicts"),
    ],
)
def test_bad_parameter_lists_are_rejected_with_a_clear_message(params: object, needle: str) -> None:
    with pytest.raises(ArgumentError) as error:
        SGD(params, lr=0.1)
    assert needle in str(error.value)


def test_a_non_leaf_tensor_cannot_be_optimized() -> None:
    leaf = cr.ones(2, requires_grad=True)
    with pytest.raises(ArgumentError, match=r"can't optimize a non-leaf tensor .* op 'mul'"):
        SGD([leaf * 2.0], lr=0.1)


# -- step, zero_grad ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "config"), FULL_CONFIGS, ids=IDS)
def test_step_updates_the_parameter_arrays_in_place_and_never_writes_the_gradients(cls: type, config: dict) -> None:
    kwargs = {**config, "maximize": True}
    if cls is not AdamW:
        kwargs["weight_decay"] = 0.1
    params = chainrule_params()
    arrays = [p.data for p in params]
    optimizer = cls(params, **kwargs)
    for _ in range(3):
        set_chainrule_grads(params)
        grads = [p.grad.data.copy() for p in params]
        optimizer.step()
        for p, g in zip(params, grads):
            np.testing.assert_array_equal(p.grad.data, g)
    assert all(p.data is a for p, a in zip(params, arrays))
    assert not np.array_equal(params[0].data, initial(np.float32)[0])
    assert all(p.data.dtype == np.float32 for p in params)


@pytest.mark.parametrize(("cls", "config"), FULL_CONFIGS, ids=IDS)
def test_parameters_without_a_gradient_are_skipped(cls: type, config: dict) -> None:
    params = chainrule_params()
    optimizer = cls(params, **config)
    set_chainrule_grads(params)
    params[1].grad = None
    optimizer.step()
    np.testing.assert_array_equal(params[1].data, initial(np.float32)[1])
    if cls is not Adagrad:  # Adagrad's state exists from construction, as in PyTorch
        assert params[1] not in optimizer.state
    else:
        assert optimizer.state[params[1]]["step"] == 0


def test_zero_grad_sets_gradients_to_none_by_default() -> None:
    params = chainrule_params()
    optimizer = SGD(params, lr=0.1)
    set_chainrule_grads(params)
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_without_set_to_none_zeroes_the_same_arrays() -> None:
    params = chainrule_params()
    optimizer = SGD(params, lr=0.1)
    set_chainrule_grads(params)
    arrays = [p.grad.data for p in params]
    optimizer.zero_grad(set_to_none=False)
    for p, a in zip(params, arrays):
        assert p.grad.data is a and not a.any()


@pytest.mark.parametrize(("cls", "config"), FULL_CONFIGS, ids=IDS)
def test_step_with_a_closure_evaluates_it_with_grad_enabled_and_returns_its_loss(cls: type, config: dict) -> None:
    w = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    optimizer = cls([w], **config)
    modes = []

    def closure() -> cr.Tensor:
        modes.append(cr.is_grad_enabled())
        optimizer.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        loss = optimizer.step(closure)
    assert modes == [True]
    assert float(loss) == pytest.approx(14.0)
    np.testing.assert_array_equal(w.grad.data, [2.0, -4.0, 6.0])
    assert np.all(np.abs(w.data) < [1.0, 2.0, 3.0])  # moved towards the minimum at 0


def test_a_changed_group_lr_takes_effect_at_the_next_step() -> None:
    p = cr.tensor([1.0], requires_grad=True)
    optimizer = SGD([p], lr=0.1)
    p.grad = cr.tensor([1.0])
    optimizer.step()
    optimizer.param_groups[0]["lr"] = 0.5
    optimizer.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1 - 0.5], rtol=1e-6)


def test_float64_hyperparameters_do_not_promote_float32_updates() -> None:
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    optimizer = SGD([p], lr=np.float64(0.1), momentum=np.float64(0.9))
    p.grad = cr.tensor([1.0, 1.0])
    optimizer.step()
    optimizer.step()
    assert p.data.dtype == np.float32
    assert optimizer.state[p]["momentum_buffer"].dtype == np.float32


# -- state_dict ----------------------------------------------------------------------------------------
def test_state_dict_has_torchs_layout() -> None:
    params = chainrule_params()
    extra = cr.zeros(5, requires_grad=True)
    optimizer = Adam([{"params": params}, {"params": [extra], "lr": 0.1}])
    set_chainrule_grads(params)
    optimizer.step()
    state_dict = optimizer.state_dict()
    assert set(state_dict) == {"state", "param_groups"}
    assert [g["params"] for g in state_dict["param_groups"]] == [[0, 1], [2]]
    assert state_dict["param_groups"][1]["lr"] == 0.1
    assert set(state_dict["state"]) == {0, 1}  # the extra parameter had no gradient: no state
    assert set(state_dict["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state_dict["state"][0]["step"] == 1
    assert isinstance(state_dict["state"][0]["exp_avg"], np.ndarray)
    assert state_dict["state"][0]["exp_avg"].dtype == np.float32


@pytest.mark.parametrize(("cls", "config"), FULL_CONFIGS, ids=IDS)
def test_a_state_dict_round_trip_mid_run_continues_bitwise_identically(cls: type, config: dict) -> None:
    uninterrupted = chainrule_params()
    run(cls(uninterrupted, **config), uninterrupted, 20)

    first = chainrule_params()
    optimizer = cls(first, **config)
    run(optimizer, first, 10)
    saved = pickle.loads(pickle.dumps(optimizer.state_dict()))  # as a checkpoint on disk would
    resumed = [cr.tensor(p.data, requires_grad=True) for p in first]
    fresh = cls(resumed, lr=1.0)  # the loaded groups replace these hyper-parameters
    fresh.load_state_dict(saved)
    run(fresh, resumed, 10)

    for a, b in zip(resumed, uninterrupted):
        np.testing.assert_array_equal(a.data, b.data)
    assert fresh.param_groups[0]["lr"] == config["lr"]


def test_load_state_dict_copies_the_arrays_so_the_two_optimizers_stay_independent() -> None:
    params = chainrule_params()
    optimizer = SGD(params, lr=0.1, momentum=0.9)
    run(optimizer, params, 2)
    state_dict = optimizer.state_dict()
    other_params = [cr.tensor(p.data, requires_grad=True) for p in params]
    other = SGD(other_params, lr=0.1, momentum=0.9)
    other.load_state_dict(state_dict)
    assert other.state[other_params[0]]["momentum_buffer"] is not state_dict["state"][0]["momentum_buffer"]
    run(optimizer, params, 1)
    assert not np.array_equal(
        other.state[other_params[0]]["momentum_buffer"], optimizer.state[params[0]]["momentum_buffer"]
    )


def test_load_state_dict_casts_state_to_the_parameter_dtype() -> None:
    params64 = chainrule_params(np.float64)
    optimizer = Adam(params64)
    run(optimizer, params64, 3)
    params32 = chainrule_params(np.float32)
    other = Adam(params32)
    other.load_state_dict(optimizer.state_dict())
    assert other.state[params32[0]]["exp_avg"].dtype == np.float32
    assert other.state[params32[0]]["step"] == 3


def test_load_state_dict_rejects_a_state_of_another_shape_of_groups() -> None:
    params = chainrule_params()
    state_dict = SGD(params, lr=0.1).state_dict()
    with pytest.raises(ArgumentError, match="the state has 1 parameter groups, this optimizer has 2"):
        SGD([{"params": [params[0]]}, {"params": [params[1]]}], lr=0.1).load_state_dict(state_dict)
    with pytest.raises(ArgumentError, match="parameter group 0 has 2 parameters in the state and 1 in this"):
        SGD([params[0]], lr=0.1).load_state_dict(state_dict)
    with pytest.raises(ArgumentError, match="expected a dict with 'state' and 'param_groups'"):
        SGD(params, lr=0.1).load_state_dict({"lr": 0.1})


@requires_torch
@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("SGD", {"lr": 0.05, "momentum": 0.9}),
        ("Adam", {"lr": 0.05, "amsgrad": True}),
        ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
        ("Adagrad", {"lr": 0.1}),
    ],
)
def test_a_torch_optimizer_state_dict_loads_and_the_run_continues_as_in_torch(name: str, config: dict) -> None:
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in initial(np.float64)]
    their_optimizer = getattr(torch.optim, name)(theirs, **config)

    def torch_steps(n: int) -> None:
        for _ in range(n):
            for p, g in zip(theirs, gradients(theirs[0].detach().numpy(), theirs[1].detach().numpy())):
                p.grad = torch.tensor(g)
            their_optimizer.step()

    torch_steps(5)
    ours = [cr.tensor(p.detach().numpy().copy(), requires_grad=True) for p in theirs]
    optimizer = getattr(cr.optim, name)(ours, **config)
    optimizer.load_state_dict(their_optimizer.state_dict())
    torch_steps(5)
    run(optimizer, ours, 5)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_deepcopy_of_an_optimizer_state_is_a_snapshot() -> None:
    params = chainrule_params()
    optimizer = Adam(params)
    run(optimizer, params, 2)
    snapshot = copy.deepcopy(optimizer.state_dict())
    run(optimizer, params, 1)
    assert snapshot["state"][0]["step"] == 2
    assert not np.array_equal(snapshot["state"][0]["exp_avg"], optimizer.state[params[0]]["exp_avg"])


def test_repr_lists_each_groups_hyperparameters() -> None:
    text = repr(SGD([cr.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n")
    assert "    lr: 0.1\n" in text and "    momentum: 0.9\n" in text


@pytest.mark.parametrize(("cls", "config"), FULL_CONFIGS, ids=IDS)
def test_a_gradient_of_the_wrong_shape_is_a_shape_error(cls: type, config: dict) -> None:
    p = cr.zeros(2, 3, requires_grad=True)
    p.grad = cr.zeros(3, 2)
    with pytest.raises(ShapeError, match=rf"{cls.__name__}.step: a parameter of shape \(2, 3\) has a .grad of shape"):
        cls([p], **config).step()
