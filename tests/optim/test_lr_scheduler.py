"""Learning-rate schedulers: each one's lr sequence against torch.optim.lr_scheduler's over ~30 steps, state_dict
round trips, call-order warnings, errors."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError
from chainrule.optim import SGD, Adagrad, Adam
from chainrule.optim import lr_scheduler as ours
from tests.helpers import requires_torch, torch

STEPS = 30


def decay(epoch: int) -> float:
    return 0.95**epoch


def halve_every_ten(epoch: int) -> float:
    return 0.5 ** (epoch // 10)


def shrink(epoch: int) -> float:
    return 0.9 if epoch % 3 else 1.0


# Each case: (builder of a scheduler from (lr_scheduler module, optimizer), optimizer name, steps).
CASES: dict[str, tuple[Callable[[Any, Any], Any], str, int]] = {
    "StepLR": (lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), "SGD", STEPS),
    "MultiStepLR": (lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 20], gamma=0.3), "SGD", STEPS),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.9), "SGD", STEPS),
    "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), "SGD", STEPS),
    "CosineAnnealingLR-eta0": (lambda m, o: m.CosineAnnealingLR(o, T_max=7), "Adam", STEPS),
    "LinearLR-warmup": (lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=8), "SGD", STEPS),
    "LinearLR-decay": (lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=10), "SGD", STEPS),
    "LambdaLR": (lambda m, o: m.LambdaLR(o, decay), "SGD", STEPS),
    "LambdaLR-per-group": (lambda m, o: m.LambdaLR(o, [decay, halve_every_ten]), "SGD", STEPS),
    "MultiplicativeLR": (lambda m, o: m.MultiplicativeLR(o, shrink), "SGD", STEPS),
    "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4), "SGD", STEPS),
    "PolynomialLR": (lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0), "SGD", STEPS),
    "CosineAnnealingWarmRestarts": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01),
        "SGD",
        STEPS,
    ),
    "OneCycleLR-cos-SGD": (lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.1], total_steps=STEPS), "SGD", STEPS),
    "OneCycleLR-linear-Adam": (
        lambda m, o: m.OneCycleLR(o, max_lr=0.5, epochs=3, steps_per_epoch=10, anneal_strategy="linear"),
        "Adam",
        STEPS,
    ),
    "OneCycleLR-three-phase": (
        lambda m, o: m.OneCycleLR(o, max_lr=0.8, total_steps=STEPS, three_phase=True, pct_start=0.25),
        "SGD",
        STEPS,
    ),
    "OneCycleLR-no-momentum": (
        lambda m, o: m.OneCycleLR(o, max_lr=0.8, total_steps=STEPS, cycle_momentum=False, div_factor=10.0),
        "Adagrad",
        STEPS,
    ),
    "SequentialLR": (
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.2, total_iters=5), m.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)],
            milestones=[5],
        ),
        "SGD",
        STEPS,
    ),
    "SequentialLR-three": (
        lambda m, o: m.SequentialLR(
            o,
            [m.ConstantLR(o, factor=0.1, total_iters=3), m.ExponentialLR(o, gamma=0.9), m.StepLR(o, 4, 0.5)],
            milestones=[3, 12],
        ),
        "SGD",
        STEPS,
    ),
    "ChainedScheduler": (
        lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, gamma=0.95), m.StepLR(o, step_size=5, gamma=0.5)]),
        "SGD",
        STEPS,
    ),
}

MOMENTUM = {"SGD": {"momentum": 0.9}, "Adam": {}, "Adagrad": {}}


def make_optimizer(library: Any, name: str, tensor: Callable) -> Any:
    """An optimizer with two groups of different lrs (schedulers must treat groups independently)."""
    groups = [{"params": [tensor(np.zeros(2))]}, {"params": [tensor(np.zeros(3))], "lr": 0.01}]
    return getattr(library, name)(groups, lr=0.1, **MOMENTUM[name])


def ours_optimizer(name: str) -> Any:
    return make_optimizer(cr.optim, name, lambda a: cr.tensor(a, requires_grad=True))


def torch_optimizer(name: str) -> Any:
    return make_optimizer(torch.optim, name, lambda a: torch.tensor(a, requires_grad=True))


def trace(optimizer: Any, scheduler: Any, steps: int) -> list[tuple]:
    """Per step (from the constructor's): last lrs, group lrs, and the groups' momentum or beta1."""
    rows = []
    for step in range(steps + 1):
        if step:
            optimizer.step()
            scheduler.step()
        momenta = [g.get("momentum", g.get("betas", (None,))[0]) for g in optimizer.param_groups]
        rows.append((list(scheduler.get_last_lr()), [g["lr"] for g in optimizer.param_groups], momenta))
    return rows


@requires_torch
@pytest.mark.parametrize("case", list(CASES))
def test_lr_sequence_equals_torchs(case: str) -> None:
    build, optimizer_name, steps = CASES[case]
    optimizer = ours_optimizer(optimizer_name)
    got = trace(optimizer, build(ours, optimizer), steps)
    their_optimizer = torch_optimizer(optimizer_name)
    expected = trace(their_optimizer, build(torch.optim.lr_scheduler, their_optimizer), steps)
    for step, (a, b) in enumerate(zip(got, expected)):
        assert a == b, f"step {step}"
    assert len({tuple(row[1]) for row in got}) > 1  # the schedule does change the lr


def test_step_lr_decays_by_gamma_every_step_size_epochs() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.StepLR(optimizer, step_size=3, gamma=0.5)
    lrs = [row[1][0] for row in trace(optimizer, scheduler, 7)]
    assert lrs == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]


def test_cosine_annealing_follows_the_closed_form_within_rounding() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.001)
    lrs = [row[1][0] for row in trace(optimizer, scheduler, 25)]
    expected = [0.001 + (0.1 - 0.001) * (1 + np.cos(np.pi * t / 10)) / 2 for t in range(26)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-9, atol=1e-12)


def test_linear_warmup_reaches_the_base_lr_and_stays() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.LinearLR(optimizer, start_factor=0.25, total_iters=3)
    lrs = [row[1][0] for row in trace(optimizer, scheduler, 6)]
    np.testing.assert_allclose(lrs, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1], rtol=1e-12)


def test_one_cycle_lr_peaks_at_max_lr_and_ends_at_max_lr_over_div_factors() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.OneCycleLR(optimizer, max_lr=1.0, total_steps=20, pct_start=0.25)
    rows = trace(optimizer, scheduler, 19)
    lrs = [row[1][0] for row in rows]
    momenta = [row[2][0] for row in rows]
    assert lrs[0] == pytest.approx(1.0 / 25) and max(lrs) == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert lrs.index(max(lrs)) == 4  # the end of the warm-up phase: 0.25 * 20 - 1
    assert momenta[0] == pytest.approx(0.95) and momenta[4] == pytest.approx(0.85)
    with pytest.raises(ArgumentError, match="OneCycleLR: stepped 21 times, but total_steps is 20"):
        optimizer.step()
        scheduler.step()
        scheduler.step()


# -- ReduceLROnPlateau --------------------------------------------------------------------------------
METRICS = [1.0, 0.9, 0.9, 0.95, 0.9, 0.89995, 0.91, 0.92, 0.93, 0.5, 0.6, 0.7, 0.7, 0.7, 0.45, 0.45]
METRICS += [0.46, 0.47, 0.44999, 0.48, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]

PLATEAU_CASES = [
    {"patience": 2},
    {"patience": 1, "cooldown": 2, "factor": 0.5},
    {"patience": 0, "min_lr": [0.02, 0.001], "factor": 0.3},
    {"patience": 2, "threshold": 0.05, "threshold_mode": "abs"},
    {"mode": "max", "patience": 1, "threshold": 0.01},
    {"mode": "max", "patience": 2, "threshold_mode": "abs", "threshold": 0.0, "min_lr": 0.004, "eps": 1e-3},
]


@requires_torch
@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=str)
def test_reduce_lr_on_plateau_follows_torch_on_a_scripted_metric(kwargs: dict) -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.ReduceLROnPlateau(optimizer, **kwargs)
    their_optimizer = torch_optimizer("SGD")
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(their_optimizer, **kwargs)
    changes = 0
    for step, metric in enumerate(METRICS):
        before = scheduler.get_last_lr()
        scheduler.step(cr.tensor(np.float64(metric)) if step % 2 else metric)  # a tensor works too
        theirs.step(metric)
        changes += scheduler.get_last_lr() != before
        assert scheduler.get_last_lr() == theirs.get_last_lr(), f"step {step}"
        assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in their_optimizer.param_groups]
        for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            assert getattr(scheduler, key) == getattr(theirs, key), f"{key} at step {step}"
    assert changes > 0


def test_reduce_lr_on_plateau_waits_patience_bad_epochs_then_reduces() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.ReduceLROnPlateau(optimizer, patience=2, factor=0.5)
    lrs = []
    for metric in [1.0, 1.0, 1.0, 1.0, 0.5, 0.6]:
        scheduler.step(metric)
        lrs.append(scheduler.get_last_lr()[0])
    assert lrs == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05]


# -- state_dict -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["StepLR", "CosineAnnealingLR", "OneCycleLR-cos-SGD", "SequentialLR", "LambdaLR"])
def test_a_scheduler_state_dict_round_trip_mid_run_continues_identically(case: str) -> None:
    build, optimizer_name, _ = CASES[case]
    optimizer = ours_optimizer(optimizer_name)
    uninterrupted = trace(optimizer, build(ours, optimizer), 20)

    optimizer = ours_optimizer(optimizer_name)
    scheduler = build(ours, optimizer)
    trace(optimizer, scheduler, 10)
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_scheduler = copy.deepcopy(scheduler.state_dict())

    resumed_optimizer = ours_optimizer(optimizer_name)
    resumed = build(ours, resumed_optimizer)  # made first: a new scheduler sets the lrs
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved_scheduler)
    continued = trace(resumed_optimizer, resumed, 10)
    assert continued == uninterrupted[10:]


def test_reduce_lr_on_plateau_state_dict_round_trip() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.ReduceLROnPlateau(optimizer, patience=1, cooldown=1)
    for metric in METRICS[:12]:
        scheduler.step(metric)
    saved = copy.deepcopy(scheduler.state_dict())
    other = ours.ReduceLROnPlateau(ours_optimizer("SGD"))
    other.optimizer.load_state_dict(optimizer.state_dict())
    other.load_state_dict(saved)
    for metric in METRICS[12:]:
        scheduler.step(metric)
        other.step(metric)
        assert other.get_last_lr() == scheduler.get_last_lr()


def test_lambda_lr_state_dict_leaves_plain_functions_out() -> None:
    optimizer = ours_optimizer("SGD")
    assert ours.LambdaLR(optimizer, decay).state_dict()["lr_lambdas"] == [None, None]


# -- call order, resuming, errors -------------------------------------------------------------------
def test_stepping_the_scheduler_before_the_optimizer_warns() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.StepLR(optimizer, step_size=2)
    with pytest.warns(UserWarning, match=r"scheduler.step\(\) was called before optimizer.step\(\)"):
        scheduler.step()


def test_the_usual_call_order_does_not_warn() -> None:
    optimizer = ours_optimizer("SGD")
    scheduler = ours.StepLR(optimizer, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            optimizer.step()
            scheduler.step()


@requires_torch
def test_step_with_an_epoch_uses_the_closed_form_like_torch() -> None:
    optimizer, their_optimizer = ours_optimizer("SGD"), torch_optimizer("SGD")
    scheduler = ours.StepLR(optimizer, step_size=3, gamma=0.5)
    theirs = torch.optim.lr_scheduler.StepLR(their_optimizer, step_size=3, gamma=0.5)
    optimizer.step()
    their_optimizer.step()
    with pytest.warns(UserWarning, match="epoch argument"):
        scheduler.step(7)
    with pytest.warns(UserWarning):
        theirs.step(7)
    assert scheduler.get_last_lr() == theirs.get_last_lr()


def test_resuming_with_last_epoch_needs_initial_lr_in_the_groups() -> None:
    with pytest.raises(ArgumentError, match=r"needs 'initial_lr' in every parameter group.*param_groups\[0\]"):
        ours.StepLR(ours_optimizer("SGD"), step_size=2, last_epoch=4)


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda o: ours.StepLR(o, step_size=0), "StepLR: step_size must be an int >= 1, got 0"),
        (lambda o: ours.StepLR(object(), step_size=2), "StepLR: expected a chainrule.optim optimizer"),
        (lambda o: ours.CosineAnnealingLR(o, T_max=0), "CosineAnnealingLR: T_max must be an int >= 1, got 0"),
        (lambda o: ours.LinearLR(o, start_factor=0), "LinearLR: start_factor must be a number in (0, 1], got 0"),
        (lambda o: ours.LinearLR(o, end_factor=1.5), "LinearLR: end_factor must be a number in [0.0, 1.0], got 1.5"),
        (lambda o: ours.LambdaLR(o, [decay]), "LambdaLR: lr_lambda must have one value per parameter group (2)"),
        (lambda o: ours.OneCycleLR(o, max_lr=1.0), "OneCycleLR: give total_steps, or both epochs and steps_per_epoch"),
        (lambda o: ours.OneCycleLR(o, 1.0, total_steps=10, pct_start=1.5), "pct_start must be a number in [0.0, 1.0]"),
        (lambda o: ours.OneCycleLR(o, 1.0, total_steps=10, anneal_strategy="exp"), "anneal_strategy must be 'cos'"),
        (
            lambda o: ours.SequentialLR(o, [ours.StepLR(o, 2), ours.StepLR(o, 3)], milestones=[]),
            "SequentialLR: expected one milestone fewer than schedulers (1), got 0",
        ),
        (lambda o: ours.ReduceLROnPlateau(o, factor=1.0), "ReduceLROnPlateau: factor must be a number in [0.0, 1.0)"),
        (lambda o: ours.ReduceLROnPlateau(o, mode="up"), "ReduceLROnPlateau: mode must be 'min' or 'max', got 'up'"),
        (lambda o: ours.ReduceLROnPlateau(o, threshold_mode="x"), "threshold_mode must be 'rel' or 'abs', got 'x'"),
        (lambda o: ours.ReduceLROnPlateau(o, min_lr=[0.1]), "min_lr must have one value per parameter group (2)"),
    ],
)
def test_bad_scheduler_arguments_raise_argument_error_naming_them(build: Callable, needle: str) -> None:
    with pytest.raises(ArgumentError) as error:
        build(ours_optimizer("SGD"))
    assert needle in str(error.value)


def test_one_cycle_momentum_needs_an_optimizer_with_momentum_or_betas() -> None:
    optimizer = Adagrad([cr.zeros(1, requires_grad=True)])
    with pytest.raises(ArgumentError, match="cycle_momentum=True needs an optimizer with momentum"):
        ours.OneCycleLR(optimizer, max_lr=1.0, total_steps=10)


def test_sequential_lr_rejects_a_scheduler_of_another_optimizer() -> None:
    optimizer = ours_optimizer("SGD")
    other = SGD([cr.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ArgumentError, match=r"schedulers\[1\] \(StepLR\) has another one"):
        ours.SequentialLR(optimizer, [ours.StepLR(optimizer, 2), ours.StepLR(other, 2)], milestones=[3])


def test_reduce_lr_on_plateau_rejects_a_non_numeric_metric() -> None:
    scheduler = ours.ReduceLROnPlateau(Adam([cr.zeros(1, requires_grad=True)]))
    with pytest.raises(ArgumentError, match="metrics must be a number or a one-element tensor"):
        scheduler.step(cr.zeros(3))
