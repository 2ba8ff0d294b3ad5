"""chainrule.io checkpoints: exact round trips of optimizer and scheduler states, exact continuation of a run."""

from __future__ import annotations

import json
import math
import os
from collections import Counter, OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.errors import ArgumentError
from chainrule.io import Checkpoint, load, load_checkpoint, load_metadata, restore_checkpoint, save, save_checkpoint
from chainrule.optim import lr_scheduler

X = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
Y = np.random.default_rng(1).standard_normal((8, 2)).astype(np.float32)


def assert_identical(a, b, where="value"):
    """Equal values of the same types, floats and arrays to the bit (NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, cr.Tensor):
        assert_identical(a.data, b.data, where)
    elif isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert a.hex() == b.hex() or (math.isnan(a) and math.isnan(b)), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def make_model(seed: int) -> cr.nn.Module:
    cr.manual_seed(seed)
    return cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))


def train(model, optimizer, scheduler, steps: int) -> None:
    loss_fn = cr.nn.MSELoss()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(cr.tensor(X)), cr.tensor(Y)).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


OPTIMIZERS = {
    "sgd_momentum": lambda params: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda params: optim.Adam(params, lr=0.05, betas=(0.8, 0.95), amsgrad=True),
    "adamw": lambda params: optim.AdamW(params, lr=0.05),
    "rmsprop": lambda params: optim.RMSprop(params, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda params: optim.Adagrad(params, lr=0.1),
}


@pytest.mark.parametrize("name", ["sgd_momentum", "adam"])
def test_training_continued_after_restore_matches_an_uninterrupted_run_bit_for_bit(tmp_path, name):
    uninterrupted = make_model(0)
    full_optimizer = OPTIMIZERS[name](uninterrupted.parameters())
    full_scheduler = lr_scheduler.StepLR(full_optimizer, step_size=2, gamma=0.5)
    train(uninterrupted, full_optimizer, full_scheduler, 7)

    first_half = make_model(0)
    optimizer = OPTIMIZERS[name](first_half.parameters())
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    train(first_half, optimizer, scheduler, 3)  # mid-run: between two lr decays
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=first_half, optimizer=optimizer, scheduler=scheduler, epoch=3)

    resumed = make_model(1)  # different weights: all must come from the checkpoint
    resumed_optimizer = OPTIMIZERS[name](resumed.parameters())
    resumed_scheduler = lr_scheduler.StepLR(resumed_optimizer, step_size=2, gamma=0.5)
    checkpoint = restore_checkpoint(path, model=resumed, optimizer=resumed_optimizer, scheduler=resumed_scheduler)
    assert checkpoint.epoch == 3
    assert_identical(resumed_optimizer.state_dict(), optimizer.state_dict())
    assert_identical(resumed_scheduler.state_dict(), scheduler.state_dict())
    train(resumed, resumed_optimizer, resumed_scheduler, 4)

    assert_identical(dict(resumed.state_dict()), dict(uninterrupted.state_dict()))
    assert_identical(resumed_optimizer.state_dict(), full_optimizer.state_dict())
    assert_identical(resumed_scheduler.state_dict(), full_scheduler.state_dict())


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_state_round_trips_exactly(tmp_path, name):
    model = make_model(0)
    optimizer = OPTIMIZERS[name](model.parameters())
    train(model, optimizer, None, 2)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, optimizer=optimizer)
    assert_identical(load_checkpoint(path).optimizer_state, optimizer.state_dict())


def test_optimizer_state_with_groups_names_and_a_param_without_grad_round_trips(tmp_path):
    model = make_model(0)
    named = list(model.named_parameters())
    optimizer = optim.Adam([{"params": named[:2], "lr": 0.01}, {"params": named[2:], "weight_decay": 0.1}])
    model[2].bias.requires_grad_(False)  # never gets a gradient, so has no state
    train(model, optimizer, None, 1)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, optimizer=optimizer)
    state = load_checkpoint(path).optimizer_state
    assert_identical(state, optimizer.state_dict())
    assert sorted(state["state"]) == [0, 1, 2]
    assert isinstance(state["param_groups"][0]["betas"], tuple)
    assert isinstance(state["state"][0]["step"], int)


SCHEDULERS = {
    "StepLR": lambda o: lr_scheduler.StepLR(o, step_size=2),
    "MultiStepLR": lambda o: lr_scheduler.MultiStepLR(o, milestones=[1, 3, 3]),
    "ExponentialLR": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingWarmRestarts": lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2),
    "OneCycleLR": lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10),
    "ReduceLROnPlateau": lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0),
    "SequentialLR": lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.ConstantLR(o, factor=0.5, total_iters=2), lr_scheduler.ExponentialLR(o, 0.9)], milestones=[2]
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_state_round_trips_exactly(tmp_path, name):
    model = make_model(0)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = SCHEDULERS[name](optimizer)
    for loss in (1.0, 2.0, 3.0):
        optimizer.step()
        scheduler.step(loss) if name == "ReduceLROnPlateau" else scheduler.step()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, optimizer=optimizer, scheduler=scheduler)
    checkpoint = load_checkpoint(path)
    assert_identical(checkpoint.scheduler_state, scheduler.state_dict())

    fresh_optimizer = optim.SGD(make_model(1).parameters(), lr=0.1, momentum=0.9)
    fresh = SCHEDULERS[name](fresh_optimizer)
    restored = restore_checkpoint(path, optimizer=fresh_optimizer, scheduler=fresh)
    assert_identical(fresh.state_dict(), scheduler.state_dict())
    for loss in (4.0, 5.0):  # still a working scheduler, whose steps leave the returned Checkpoint alone
        fresh_optimizer.step()
        fresh.step(loss) if name == "ReduceLROnPlateau" else fresh.step()
    assert fresh.last_epoch == scheduler.last_epoch + 2
    assert_identical(restored.scheduler_state, scheduler.state_dict())


def test_rng_state_history_and_extra_round_trip_exactly(tmp_path):
    cr.manual_seed(12345)
    cr.randn(3)
    rng_state = cr.random.get_rng_state()
    assert rng_state["bit_generator"]["state"]["state"] > 2**64  # a big int, beyond JSON's usual doubles
    weights = np.arange(4, dtype=np.float32)
    history = {"history": {"loss": [1.5, math.nan, 0.25], "acc": [0.1, 0.2, 1 / 3]}, "epoch": [0, 1, 2]}
    extra = {
        "best": math.inf,
        "worst": -math.inf,
        "tuple": (1, 2.5, "three", None, True),
        "int_keys": {0: "a", 10: "b"},
        "mixed_keys": {1: 1, "1": 2, (1, 2): 3},
        "reserved": {"__type__": "not a tag"},
        "counter": Counter([3, 3, 5]),
        "ordered": OrderedDict([("z", 1), ("a", 2)]),
        "set": {1, 2, 3},
        "scalars": [np.float32(0.1), np.int64(-(2**63)), np.bool_(True), np.float64(1 / 3), np.float16(0.5)],
        "zero": -0.0,
        "arrays": {"w": weights, "same_w": weights, "t": cr.tensor([[1.0, 2.0]]), "int": np.array([1, 2])},
        "callbacks": [{"type": "EarlyStopping", "state": {"wait": 2, "best": 0.125}}],
    }
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, epoch=3, history=history, rng_state=rng_state, extra=extra)
    checkpoint = load_checkpoint(path)
    assert checkpoint.model_state is None and checkpoint.optimizer_state is None
    assert_identical(checkpoint.epoch, 3)
    assert_identical(checkpoint.history, history)
    assert_identical(checkpoint.rng_state, rng_state)
    assert_identical(checkpoint.extra["set"], {1, 2, 3})
    restored = {k: v for k, v in checkpoint.extra.items() if k != "set"}
    assert_identical(restored, {k: v for k, v in extra.items() if k != "set"})
    assert checkpoint.extra["arrays"]["w"] is checkpoint.extra["arrays"]["same_w"]  # shared, as saved
    assert math.copysign(1.0, checkpoint.extra["zero"]) == -1.0

    expected = cr.randn(4).data
    cr.random.set_rng_state(checkpoint.rng_state)
    assert_identical(cr.randn(4).data, expected)


def test_history_object_is_saved_through_its_to_dict(tmp_path):
    class History:
        def to_dict(self):
            return {"history": {"loss": [0.5]}, "epoch": [0]}

    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, history=History())
    assert load_checkpoint(path).history == {"history": {"loss": [0.5]}, "epoch": [0]}


def test_checkpoint_layout_prefixed_tensors_and_strict_json_metadata(tmp_path):
    model = make_model(0)
    optimizer = optim.Adam(model.parameters())
    train(model, optimizer, None, 1)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=model, optimizer=optimizer, extra={"best": math.nan})
    tensors = load(path)
    assert {"model.0.weight", "model.2.bias", "optimizer.state.0.exp_avg", "optimizer.state.3.exp_avg_sq"} <= set(
        tensors
    )
    assert_identical(tensors["model.0.weight"].data, model[0].weight.data)
    metadata = load_metadata(path)
    assert metadata["format"] == "chainrule.checkpoint"
    assert metadata["format_version"] == "1"

    def reject(constant):
        raise ValueError(constant)

    for key in ("model", "optimizer", "scheduler", "epoch", "history", "rng_state", "extra"):
        json.loads(metadata[key], parse_constant=reject)  # no NaN/Infinity: any JSON reader can parse it
    checkpoint = load_checkpoint(path)
    assert list(checkpoint.model_state) == list(model.state_dict())
    assert all(isinstance(v, cr.Tensor) for v in checkpoint.model_state.values())
    assert isinstance(checkpoint, Checkpoint)
    assert "model_state=<4 tensors>" in repr(checkpoint)


def test_model_state_dict_and_optimizer_state_dict_are_accepted_as_well_as_objects(tmp_path):
    model = make_model(0)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, optimizer, None, 1)
    by_object, by_state = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(by_object, model=model, optimizer=optimizer)
    save_checkpoint(by_state, model=model.state_dict(), optimizer=optimizer.state_dict())
    assert_identical(load_checkpoint(by_state).model_state, load_checkpoint(by_object).model_state)
    assert_identical(load_checkpoint(by_state).optimizer_state, load_checkpoint(by_object).optimizer_state)


# -- atomicity and errors -------------------------------------------------------------------------------------


def test_checkpoint_crash_before_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = make_model(0)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=model, epoch=1)

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, model=make_model(1), epoch=2)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    checkpoint = load_checkpoint(path)
    assert checkpoint.epoch == 1
    assert_identical(checkpoint.model_state, dict(model.state_dict()))


def test_truncated_checkpoint_raises_our_error_with_the_path(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=make_model(0), epoch=1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArgumentError, match=r"ckpt\.safetensors.*truncated"):
        load_checkpoint(path)
    with pytest.raises(ArgumentError, match=r"ckpt\.safetensors"):
        restore_checkpoint(path, model=make_model(0))
    with pytest.raises(ArgumentError, match=r"no file at .*nothing\.safetensors"):
        load_checkpoint(tmp_path / "nothing.safetensors")


def test_weights_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.safetensors"
    save(make_model(0).state_dict(), path)
    with pytest.raises(ArgumentError, match=r"not a chainrule checkpoint.*chainrule\.load"):
        load_checkpoint(path)


def test_checkpoint_of_a_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "future.safetensors"
    save({}, path, metadata={"format": "chainrule.checkpoint", "format_version": "99"})
    with pytest.raises(ArgumentError, match="format version '99'"):
        load_checkpoint(path)


def test_unstorable_value_is_named_by_its_place_and_nothing_is_written(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    with pytest.raises(ArgumentError, match=r"extra\['callbacks'\]\[0\]\['fn'\], a function.*no pickled"):
        save_checkpoint(path, extra={"callbacks": [{"fn": lambda: 0}]})
    with pytest.raises(ArgumentError, match="dtype complex128"):
        save_checkpoint(path, extra={"z": np.complex128(1j)})
    with pytest.raises(ArgumentError, match=r"optimizer must have a state_dict\(\) method"):
        save_checkpoint(path, optimizer=3)
    with pytest.raises(ArgumentError, match="model state's 'w' must be a Tensor or an ndarray"):
        save_checkpoint(path, model={"w": [1.0]})
    assert os.listdir(tmp_path) == []


def test_restore_refuses_objects_whose_state_is_missing_before_changing_anything(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model=make_model(0))
    target = make_model(1)
    before = {k: v.data.copy() for k, v in target.state_dict().items()}
    with pytest.raises(ArgumentError, match="holds no optimizer state"):
        restore_checkpoint(path, model=target, optimizer=optim.SGD(target.parameters(), lr=0.1))
    assert_identical({k: v.data for k, v in target.state_dict().items()}, before)
