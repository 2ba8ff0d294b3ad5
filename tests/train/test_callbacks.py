"""The callbacks: hook order, learning-rate callbacks, ModelCheckpoint, CSVLogger, and History itself."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from chainrule import io, optim
from chainrule.errors import ArgumentError
from chainrule.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    fit,
)
from tests.train.scripted import OneWeight, ScriptedLoss, one_batch_data, scripted_run


def test_hooks_are_called_in_order_with_0_based_indices_and_the_epoch_logs():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin",))

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(("epoch_begin", epoch))

        def on_batch_begin(self, batch, logs=None):
            calls.append(("batch_begin", batch, logs["size"]))

        def on_batch_end(self, batch, logs=None):
            calls.append(("batch_end", batch, logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", epoch, sorted(logs)))
            assert self.history is self.run.history and self.model is self.run.model

        def on_train_end(self, logs=None):
            calls.append(("train_end", logs["loss"]))

    model = OneWeight()
    x, y = one_batch_data(6)
    fit(
        model, ScriptedLoss(model, [1.0, 2.0, 3.0, 4.0]), optim.SGD(model.parameters(), lr=1.0), (x, y),
        batch_size=4, epochs=2, verbose=0, callbacks=[Recorder()],
    )  # fmt: skip
    keys = ["epoch_time", "loss", "lr"]
    assert calls == [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_begin", 0, 4),
        ("batch_end", 0, 1.0),
        ("batch_begin", 1, 2),
        ("batch_end", 1, 2.0),
        ("epoch_end", 0, keys),
        ("epoch_begin", 1),
        ("batch_begin", 0, 4),
        ("batch_end", 0, 3.0),
        ("batch_begin", 1, 2),
        ("batch_end", 1, 4.0),
        ("epoch_end", 1, keys),
        ("train_end", pytest.approx((3.0 * 4 + 4.0 * 2) / 6)),
    ]


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    model = OneWeight()
    x, y = one_batch_data(6)
    history = fit(
        model, ScriptedLoss(model, [1.0, 4.0]), optim.SGD(model.parameters(), lr=1.0), (x, y), batch_size=4,
        epochs=1, verbose=0,
    )  # fmt: skip
    assert history["loss"] == [pytest.approx((1.0 * 4 + 4.0 * 2) / 6)]


def test_lambda_callback_calls_the_functions_given():
    seen = []
    callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])))
    scripted_run([3.0, 2.0], callbacks=[callback])
    assert seen == [(0, 3.0), (1, 2.0)]
    with pytest.raises(ArgumentError, match="on_epoch_end must be callable"):
        LambdaCallback(on_epoch_end=3)


def test_keys_added_by_a_callback_are_recorded_in_the_history():
    def add_key(epoch, logs):
        logs["twice_loss"] = 2 * logs["loss"]

    history, _, _ = scripted_run([3.0, 2.0], callbacks=[LambdaCallback(on_epoch_end=add_key)])
    assert history["twice_loss"] == [6.0, 4.0]


def test_learning_rate_scheduler_sets_the_lr_before_each_epoch_and_history_logs_it():
    schedule = LearningRateScheduler(lambda epoch, lr: 0.5**epoch)
    history, model, _ = scripted_run([1.0] * 3, callbacks=[schedule])
    assert history["lr"] == [1.0, 0.5, 0.25]
    assert float(model.w.data[0]) == -1.75  # the lr scales each step of gradient 1

    one_argument = LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1))
    history, _, _ = scripted_run([1.0] * 2, callbacks=[one_argument])
    assert history["lr"] == [pytest.approx(0.1), pytest.approx(0.2)]


def test_scheduler_argument_steps_an_lr_scheduler_after_each_epoch():
    model = OneWeight()
    opt = optim.SGD(model.parameters(), lr=1.0)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(
        model, ScriptedLoss(model, [1.0] * 3), opt, one_batch_data(), batch_size=4, epochs=3, verbose=0,
        scheduler=scheduler,
    )  # fmt: skip
    assert history["lr"] == [1.0, 0.5, 0.25]
    assert opt.param_groups[0]["lr"] == 0.125


def test_scheduler_argument_steps_reduce_lr_on_plateau_with_the_validation_loss():
    model = OneWeight()
    opt = optim.SGD(model.parameters(), lr=1.0)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    history = fit(
        model, ScriptedLoss(model, [1.0] * 4, val=[1.0, 2.0, 0.5, 0.6]), opt, one_batch_data(),
        val_data=one_batch_data(), batch_size=4, epochs=4, verbose=0, scheduler=plateau,
    )  # fmt: skip
    assert history["lr"] == [1.0, 1.0, 0.5, 0.5]
    assert opt.param_groups[0]["lr"] == 0.25


def test_reduce_lr_on_plateau_callback_follows_its_monitor():
    callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    history, _, _ = scripted_run([1.0, 1.0, 1.0, 1.0, 1.0], callbacks=[callback])
    # epoch 0 sets the best; 1 is bad (1 <= patience); 2 is the second bad epoch: reduce; cooldown 0
    assert history["lr"] == [1.0, 1.0, 1.0, 0.5, 0.5]


def test_model_checkpoint_save_best_only_writes_only_on_improvement(tmp_path):
    template = str(tmp_path / "ckpt-{epoch:03d}-{val_loss:.2f}.safetensors")
    checkpoint = ModelCheckpoint(template, monitor="val_loss", save_best_only=True, save_weights_only=True)
    scripted_run([1.0] * 5, val=[1.0, 0.8, 0.9, 0.7, 0.75], callbacks=[checkpoint])
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["ckpt-001-1.00.safetensors", "ckpt-002-0.80.safetensors", "ckpt-004-0.70.safetensors"]
    assert checkpoint.best == 0.7
    weights = io.load(tmp_path / "ckpt-004-0.70.safetensors")
    assert float(np.asarray(weights["w"])[0]) == -4.0  # the model after epoch 4 (1-based)


def test_model_checkpoint_mode_max_and_every_epoch(tmp_path):
    best = ModelCheckpoint(str(tmp_path / "best.ckpt"), monitor="val_loss", mode="max", save_best_only=True)
    every = ModelCheckpoint(str(tmp_path / "e{epoch}.ckpt"), save_weights_only=True)
    scripted_run([1.0] * 3, val=[1.0, 0.5, 2.0], callbacks=[best, every])
    assert best.saved == [str(tmp_path / "best.ckpt")] * 2  # epochs 1 and 3 raise the maximum
    assert every.saved == [str(tmp_path / f"e{i}.ckpt") for i in (1, 2, 3)]
    checkpoint = io.load_checkpoint(tmp_path / "best.ckpt")
    assert checkpoint.epoch == 3
    assert float(np.asarray(checkpoint.model_state["w"])[0]) == -3.0


def test_model_checkpoint_template_with_an_unknown_key_is_an_error(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "{val_accuracy}.ckpt"), save_weights_only=True)
    with pytest.raises(ArgumentError, match="filepath"):
        scripted_run([1.0], callbacks=[checkpoint])


def test_csv_logger_writes_a_header_and_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    history, _, _ = scripted_run([3.0, 2.0], val=[1.5, 1.25], callbacks=[CSVLogger(path)])
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["epoch", "loss", "val_loss", "lr", "epoch_time"]
    assert [row[:4] for row in rows[1:]] == [["0", "3.0", "1.5", "1.0"], ["1", "2.0", "1.25", "1.0"]]
    assert [float(row[4]) for row in rows[1:]] == history["epoch_time"]

    scripted_run([0.5], val=[0.25], callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 4 and rows[3][:3] == ["0", "0.5", "0.25"]  # appended, no second header

    scripted_run([0.5], val=[0.25], callbacks=[CSVLogger(path)])
    with open(path, newline="") as handle:
        assert len(list(csv.reader(handle))) == 2  # append=False starts the file anew


def test_monitor_absent_from_the_logs_is_an_error_naming_it():
    with pytest.raises(ArgumentError, match="monitor='val_loss' needs validation data"):
        scripted_run([1.0, 1.0], early_stopping=EarlyStopping())
    with pytest.raises(ArgumentError, match="monitor='val_acc' is not in the epoch's logs"):
        scripted_run([1.0, 1.0], val=[1.0, 1.0], early_stopping=EarlyStopping(monitor="val_acc", mode="max"))
    with pytest.raises(ArgumentError, match="cannot tell whether it should be minimised or maximised"):
        scripted_run([1.0, 1.0], early_stopping=EarlyStopping(monitor="score"))


def test_early_stopping_checks_its_arguments():
    with pytest.raises(ArgumentError, match="patience must be an int >= 0, got -1"):
        EarlyStopping(patience=-1)
    with pytest.raises(ArgumentError, match="mode must be 'auto', 'min' or 'max', got 'up'"):
        EarlyStopping(mode="up")


# -- History ----------------------------------------------------------------------------------------------


def test_history_round_trips_through_json_data():
    history, _, _ = scripted_run([3.0, 2.0], val=[1.0, 0.5], early_stopping=EarlyStopping(patience=3))
    data = json.loads(json.dumps(history.to_dict()))
    again = History.from_dict(data)
    assert again.history == history.history
    assert again.epoch == [0, 1]
    assert (again.stop_reason, again.stopped_epoch, again.best_epoch) == ("max_epochs", 1, 1)
    with pytest.raises(ArgumentError, match=r"History\.from_dict"):
        History.from_dict({"loss": [1.0]})


def test_history_pads_keys_that_appear_late_with_nan():
    history = History()
    history.record(0, {"loss": 1.0})
    history.record(1, {"loss": 0.5, "extra": 2.0})
    history.record(2, {"extra": 3.0})
    assert history["loss"][:2] == [1.0, 0.5] and math.isnan(history["loss"][2])
    assert math.isnan(history["extra"][0]) and history["extra"][1:] == [2.0, 3.0]


def test_history_to_csv_and_repr(tmp_path):
    history, _, _ = scripted_run([3.0, 2.0], target_loss=2.5)
    path = tmp_path / "history.csv"
    history.to_csv(path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["epoch", "loss", "lr", "epoch_time"]
    assert [row[:2] for row in rows[1:]] == [["0", "3.0"], ["1", "2.0"]]
    assert repr(history) == "History(epochs=2, stop_reason='target_loss', last: loss=2, lr=1)"


# -- progress ---------------------------------------------------------------------------------------------


def test_verbose_prints_one_line_per_epoch_off_a_terminal_and_nothing_at_zero(capsys):
    scripted_run([3.0, 2.0], verbose=1)
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - ") and "loss: 3.0000" in lines[0] and "lr: 1" in lines[0]
    scripted_run([3.0, 2.0], verbose=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_one_cycle_lr_is_stepped_after_every_batch():
    model = OneWeight()
    opt = optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    x, y = one_batch_data(8)
    scheduler = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=3, steps_per_epoch=2)
    history = fit(
        model, ScriptedLoss(model, [1.0] * 6), opt, (x, y), batch_size=4, epochs=3, verbose=0, scheduler=scheduler
    )
    assert scheduler.last_epoch == 6  # one step per batch, ending exactly at total_steps
    assert history["lr"][0] == pytest.approx(1.0 / 25)  # the cycle starts at max_lr / div_factor


def test_a_stop_asked_for_before_an_epoch_skips_it():
    def stop_at_second(epoch, logs):
        if epoch == 1:
            stopper.request_stop("before")

    stopper = LambdaCallback(on_epoch_begin=stop_at_second)
    history, model, _ = scripted_run([1.0] * 4, callbacks=[stopper])
    assert history.stop_reason == "before"
    assert history.stopped_epoch == 1
    assert len(history) == 1 and float(model.w.data[0]) == -1.0
