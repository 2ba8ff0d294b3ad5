"""fit stops for each criterion and says which in History.stop_reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.train import Callback, EarlyStopping, LambdaCallback, TerminateOnNaN, fit
from tests.train.scripted import OneWeight, ScriptedLoss, one_batch_data, scripted_run


def weight(model: OneWeight) -> float:
    return float(model.w.data[0])


def test_runs_to_max_epochs_without_a_criterion():
    history, model, _ = scripted_run([1.0, 0.9, 0.8])
    assert history.stop_reason == "max_epochs"
    assert history.epoch == [0, 1, 2]
    assert history.stopped_epoch == 2
    assert history["loss"] == [1.0, 0.9, 0.8]
    assert weight(model) == -3.0


def test_target_loss_stops_once_the_epoch_loss_is_strictly_below_it():
    history, model, _ = scripted_run([1.0, 0.5, 0.5, 0.25, 0.1, 0.1], target_loss=0.5)
    assert history.stop_reason == "target_loss"
    assert history.stopped_epoch == 3  # 0.5 is not below 0.5; 0.25 is
    assert len(history) == 4
    assert weight(model) == -4.0


def sklearn_stop_epoch(losses: list[float], tol: float, n_iter_no_change: int) -> int | None:
    """The epoch at which scikit-learn's MLP stops on this loss curve, by its own method."""
    from sklearn.neural_network import MLPRegressor

    reference = MLPRegressor(tol=tol, n_iter_no_change=n_iter_no_change)
    reference.best_loss_ = np.inf
    reference._no_improvement_count = 0
    reference.loss_curve_ = []
    for epoch, loss in enumerate(losses):
        reference.loss_curve_.append(loss)
        reference._update_no_improvement_count(False, None, None, None)
        if reference._no_improvement_count > reference.n_iter_no_change:
            return epoch
    return None


PLATEAU_CASES = [
    # constant loss: n_iter_no_change epochs without improvement are allowed, the next one stops (strict >)
    ([1.0] * 8, 0.01, 2, 3),
    # an improvement of exactly tol counts as one (loss > best - tol is false), resetting the count
    ([1.0, 1.0, 1.0, 0.75, 0.75, 0.75, 0.75, 0.75], 0.25, 2, 6),
    # slow progress smaller than tol is no improvement, though best_loss still follows it down
    ([1.0, 0.99, 0.98, 0.97, 0.96, 0.95], 0.05, 3, 4),
    # improvement by more than tol keeps the run going
    ([1.0, 0.8, 0.6, 0.4, 0.2, 0.1], 0.05, 1, None),
]


@pytest.mark.parametrize(("losses", "tol", "n_iter_no_change", "expected"), PLATEAU_CASES)
def test_plateau_follows_scikit_learns_count_exactly(losses, tol, n_iter_no_change, expected):
    history, _, _ = scripted_run(losses, tol=tol, n_iter_no_change=n_iter_no_change)
    if expected is None:
        assert history.stop_reason == "max_epochs"
        assert len(history) == len(losses)
    else:
        assert history.stop_reason == "plateau"
        assert history.stopped_epoch == expected
        assert len(history) == expected + 1
    try:
        reference = sklearn_stop_epoch(losses, tol, n_iter_no_change)
    except (ImportError, AttributeError, TypeError):
        pytest.skip("scikit-learn's private _update_no_improvement_count is not available")
    assert reference == expected


def test_plateau_alone_uses_scikit_learns_default_tol():
    # n_iter_no_change given, tol takes sklearn's 1e-4: improvements of 1e-5 do not count
    losses = [1.0 - 1e-5 * i for i in range(6)]
    history, _, _ = scripted_run(losses, n_iter_no_change=2)
    assert history.stop_reason == "plateau"
    assert history.stopped_epoch == 3


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history, model, _ = scripted_run([1.0] * 8, val=[1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6, 0.5], early_stopping=stopper)
    assert history.stop_reason == "early_stopping"
    assert history.stopped_epoch == 3
    assert history.best_epoch == 1
    assert stopper.best == 0.8
    assert weight(model) == -2.0  # the weights at the end of epoch 1, not epoch 3's -4


def test_early_stopping_restores_the_best_weights_when_the_run_ends_at_max_epochs():
    # Keras 3: restore_best_weights applies however training ends
    stopper = EarlyStopping(patience=5, restore_best_weights=True)
    history, model, _ = scripted_run([1.0] * 3, val=[1.0, 0.5, 0.9], callbacks=[stopper])
    assert history.stop_reason == "max_epochs"
    assert history.best_epoch == 1
    assert weight(model) == -2.0


def test_early_stopping_without_restore_keeps_the_last_weights():
    stopper = EarlyStopping(patience=1)
    history, model, _ = scripted_run([1.0] * 5, val=[1.0, 1.1, 1.2, 0.1, 0.1], early_stopping=stopper)
    assert history.stop_reason == "early_stopping"
    assert history.stopped_epoch == 1
    assert weight(model) == -2.0


def test_early_stopping_min_delta_counts_small_gains_as_none():
    stopper = EarlyStopping(monitor="val_loss", min_delta=0.1, patience=1)
    history, _, _ = scripted_run([1.0] * 3, val=[1.0, 0.95, 0.5], early_stopping=stopper)
    assert history.stop_reason == "early_stopping"
    assert history.stopped_epoch == 1


def test_early_stopping_baseline_keeps_counting_until_it_is_beaten():
    with_baseline = EarlyStopping(patience=2, baseline=0.5)
    history, _, _ = scripted_run([1.0] * 3, val=[1.0, 0.9, 0.95], early_stopping=with_baseline)
    assert history.stop_reason == "early_stopping"
    assert history.stopped_epoch == 2  # epochs 0 and 1 improve but miss the baseline: the wait reaches 3
    without = EarlyStopping(patience=2)
    history, _, _ = scripted_run([1.0] * 3, val=[1.0, 0.9, 0.95], early_stopping=without)
    assert history.stop_reason == "max_epochs"


def test_early_stopping_start_from_epoch_skips_the_warm_up():
    stopper = EarlyStopping(monitor="loss", patience=0, start_from_epoch=2)
    history, _, _ = scripted_run([1.0] * 6, early_stopping=stopper)
    assert history.stopped_epoch == 3


def test_early_stopping_mode_auto_maximises_accuracy():
    # the model outputs x * w with w = -(epoch + 1) after each epoch: predictions stay 0 (< 0.5) ...
    stopper = EarlyStopping(monitor="accuracy", patience=1)
    model = OneWeight()
    x = np.ones((4, 1), dtype=np.float32)
    y = np.array([[0.0], [0.0], [1.0], [1.0]], dtype=np.float32)
    loss = ScriptedLoss(model, [1.0] * 5)
    history = fit(
        model, loss, optim.SGD(model.parameters(), lr=1.0), (x, y), batch_size=4, epochs=5, verbose=0,
        metrics=["accuracy"], early_stopping=stopper,
    )  # fmt: skip
    assert stopper.direction == "max"
    assert history["accuracy"] == [0.5, 0.5]  # ... so accuracy never rises and the run stops at epoch 1
    assert history.stop_reason == "early_stopping"


def test_non_finite_loss_stops_with_the_weights_from_before_the_bad_step():
    history, model, _ = scripted_run([1.0, 0.9, math.nan, 0.5])
    assert history.stop_reason == "nan"
    assert history.stopped_epoch == 2
    assert history["loss"] == [1.0, 0.9]  # the epoch with the NaN is not recorded
    assert weight(model) == -2.0  # two steps taken; the NaN batch's step is not


def test_infinite_loss_stops_too():
    history, _, _ = scripted_run([1.0, math.inf, 0.5])
    assert history.stop_reason == "nan"


def test_weights_broken_by_an_overflowing_gradient_are_replaced_by_the_epochs_start():
    model = OneWeight()

    calls = []

    def loss_fn(output: cr.Tensor, target: cr.Tensor) -> cr.Tensor:
        calls.append(None)
        w = model.w
        if len(calls) <= 2:  # epoch 0, two batches: ordinary steps
            return (w - w.detach()).sum() + 1.0
        # epoch 1: a finite loss (0) with an infinite gradient, then the NaN it causes
        with np.errstate(all="ignore"):
            return cr.sqrt(w - w.detach()).sum()

    x, y = one_batch_data(8)
    with np.errstate(all="ignore"):
        history = fit(model, loss_fn, optim.SGD(model.parameters(), lr=1.0), (x, y), batch_size=4, epochs=3, verbose=0)
    assert history.stop_reason == "nan"
    assert history.stopped_epoch == 1
    assert weight(model) == -2.0  # the weights at the start of epoch 1, not -inf


def test_terminate_on_nan_callback_stops_on_a_logged_nan():
    stopper = TerminateOnNaN()

    class Run:
        stop_reason = None

        def request_stop(self, reason: str) -> None:
            self.stop_reason = reason

    stopper.set_run(Run())
    stopper.on_batch_end(0, {"loss": 1.0})
    assert stopper.run.stop_reason is None
    stopper.on_batch_end(1, {"loss": float("nan")})
    assert stopper.run.stop_reason == "nan"


def test_keyboard_interrupt_ends_the_run_cleanly_with_history_and_weights():
    ended = []

    def interrupt(batch: int, logs: dict) -> None:
        if len(ended) == 0 and logs["loss"] == 0.8:
            raise KeyboardInterrupt

    callbacks = [
        LambdaCallback(on_batch_end=interrupt, on_train_end=lambda logs: ended.append(True)),
    ]
    history, model, _ = scripted_run([1.0, 0.9, 0.8, 0.7, 0.6], callbacks=callbacks)
    assert history.stop_reason == "interrupted"
    assert history.stopped_epoch == 2
    assert history["loss"] == [1.0, 0.9]  # the interrupted epoch is not recorded
    assert weight(model) == -3.0  # its step had been taken before the interrupt
    assert ended == [True]  # on_train_end still ran


def test_a_callback_stops_the_run_with_its_own_reason():
    class StopAtSecondEpoch(Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 1:
                self.request_stop("enough")

    history, _, _ = scripted_run([1.0] * 5, callbacks=[StopAtSecondEpoch()])
    assert history.stop_reason == "enough"
    assert history.stopped_epoch == 1
    assert len(history) == 2


def test_a_stop_requested_mid_epoch_ends_that_epoch_early_and_records_it():
    model = OneWeight()
    loss = ScriptedLoss(model, [1.0, 3.0, 5.0, 7.0])

    class StopAfterFirstBatch(Callback):
        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.request_stop("mid-epoch")

    x, y = one_batch_data(8)
    history = fit(
        model, loss, optim.SGD(model.parameters(), lr=1.0), (x, y), batch_size=4, epochs=2, verbose=0,
        shuffle=False, callbacks=[StopAfterFirstBatch()],
    )  # fmt: skip
    assert history.stop_reason == "mid-epoch"
    assert history["loss"] == [1.0]
    assert weight(model) == -1.0


def test_target_loss_wins_over_a_callback_stop_at_the_same_epoch():
    stopper = EarlyStopping(monitor="val_loss", patience=0)
    history, _, _ = scripted_run([1.0, 0.5, 0.4], val=[1.0, 2.0, 3.0], early_stopping=stopper, target_loss=0.6)
    assert stopper.stopped_epoch == 1  # early stopping asked to stop too
    assert history.stop_reason == "target_loss"
    assert history.stopped_epoch == 1
