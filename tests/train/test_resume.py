"""Checkpoints written by fit, and resuming from them: the same weights as an uninterrupted run, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import io, nn, optim
from chainrule.train import EarlyStopping, LambdaCallback, ReduceLROnPlateau, fit


def data(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (np.sin(x).sum(axis=1, keepdims=True) > 0).astype(np.float32)
    return x, y


def make_run(seed: int) -> tuple[nn.Module, optim.Optimizer, optim.lr_scheduler.LRScheduler]:
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.Adam(model.parameters(), lr=0.02)
    return model, opt, optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)


def train(model, opt, scheduler, epochs, generator, **kwargs):
    return fit(
        model, nn.BCEWithLogitsLoss(), opt, data(), val_split=0.25, epochs=epochs, batch_size=10, shuffle=True,
        metrics=["accuracy"], scheduler=scheduler, generator=generator, verbose=0, **kwargs,
    )  # fmt: skip


def assert_same_run(model_a, opt_a, history_a, model_b, opt_b, history_b) -> None:
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    state_a, state_b = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    for index in state_a:
        np.testing.assert_array_equal(state_a[index]["exp_avg_sq"], state_b[index]["exp_avg_sq"])
        assert state_a[index]["step"] == state_b[index]["step"]
    assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]
    assert history_a.epoch == history_b.epoch
    for key in history_a.history:
        if key != "epoch_time":
            assert history_a[key] == history_b[key], key


@pytest.mark.parametrize("own_generator", [True, False])
def test_resume_gives_the_uninterrupted_runs_weights_bit_for_bit(tmp_path, own_generator):
    path = tmp_path / "run.ckpt"
    model_a, opt_a, sched_a = make_run(0)
    history_a = train(model_a, opt_a, sched_a, 6, cr.Generator(7) if own_generator else None)

    model_b, opt_b, sched_b = make_run(0)
    train(model_b, opt_b, sched_b, 3, cr.Generator(7) if own_generator else None, checkpoint_path=path)
    assert io.load_checkpoint(path).epoch == 3

    cr.manual_seed(123)  # anything drawn between the runs must not matter: the checkpoint holds the states
    cr.randn(5)
    model_c, opt_c, sched_c = make_run(99)  # other initial weights: all are replaced by the checkpoint's
    history_c = train(model_c, opt_c, sched_c, 6, cr.Generator(1) if own_generator else None, resume_from=path)
    assert history_c.stop_reason == "max_epochs"
    assert_same_run(model_a, opt_a, history_a, model_c, opt_c, history_c)


def test_resume_after_ctrl_c_continues_from_the_last_completed_epoch(tmp_path):
    path = tmp_path / "run.ckpt"
    model_a, opt_a, sched_a = make_run(0)
    history_a = train(model_a, opt_a, sched_a, 5, cr.Generator(3))

    def interrupt(batch, logs):
        if interrupt.calls == 30:  # in the fifth epoch of 8 batches
            raise KeyboardInterrupt
        interrupt.calls += 1

    interrupt.calls = 0
    model_b, opt_b, sched_b = make_run(0)
    stopper = LambdaCallback(on_batch_end=interrupt)
    history_b = train(model_b, opt_b, sched_b, 5, cr.Generator(3), checkpoint_path=path, callbacks=[stopper])
    assert history_b.stop_reason == "interrupted"
    assert len(history_b) == 3

    model_c, opt_c, sched_c = make_run(5)
    history_c = train(model_c, opt_c, sched_c, 5, cr.Generator(3), resume_from=path, callbacks=[LambdaCallback()])
    assert_same_run(model_a, opt_a, history_a, model_c, opt_c, history_c)


def test_resume_restores_the_callbacks_states(tmp_path):
    path = tmp_path / "run.ckpt"

    def callbacks():
        return [
            # min_delta and threshold chosen so that the best epoch (3) is not the last and the lr is reduced
            EarlyStopping(monitor="val_loss", patience=50, min_delta=0.05, restore_best_weights=True),
            ReduceLROnPlateau(monitor="loss", patience=0, factor=0.8, threshold=0.3),
        ]

    model_a, opt_a, sched_a = make_run(0)
    callbacks_a = callbacks()
    history_a = train(model_a, opt_a, sched_a, 6, cr.Generator(2), callbacks=callbacks_a)

    model_b, opt_b, sched_b = make_run(0)
    train(model_b, opt_b, sched_b, 3, cr.Generator(2), callbacks=callbacks(), checkpoint_path=path)

    model_c, opt_c, sched_c = make_run(0)
    callbacks_c = callbacks()
    history_c = train(model_c, opt_c, sched_c, 6, cr.Generator(2), callbacks=callbacks_c, resume_from=path)
    stopper_a, stopper_c = callbacks_a[0], callbacks_c[0]
    assert (stopper_c.best, stopper_c.best_epoch, stopper_c.wait) == (
        stopper_a.best,
        stopper_a.best_epoch,
        stopper_a.wait,
    )
    assert history_c.best_epoch == history_a.best_epoch == 3
    assert history_c["lr"] == history_a["lr"]
    assert callbacks_c[1].lr_scheduler.num_bad_epochs == callbacks_a[1].lr_scheduler.num_bad_epochs
    for a, c in zip(model_a.parameters(), model_c.parameters()):
        np.testing.assert_array_equal(a.numpy(), c.numpy())  # both restored the same best weights


def test_resume_with_other_callbacks_warns_and_leaves_their_states(tmp_path):
    path = tmp_path / "run.ckpt"
    model, opt, sched = make_run(0)
    train(model, opt, sched, 1, cr.Generator(0), checkpoint_path=path, callbacks=[EarlyStopping(patience=3)])
    with pytest.warns(UserWarning, match="differ from this run's"):
        train(model, opt, sched, 2, cr.Generator(0), resume_from=path)


def test_checkpoint_path_may_name_each_epoch(tmp_path):
    model, opt, sched = make_run(0)
    train(model, opt, sched, 2, cr.Generator(0), checkpoint_path=tmp_path / "e{epoch}.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.ckpt", "e2.ckpt"]
    checkpoint = io.load_checkpoint(tmp_path / "e2.ckpt")
    assert checkpoint.epoch == 2
    assert checkpoint.history["epoch"] == [0, 1]
    assert set(checkpoint.rng_state) == {"default", "shuffle"}


def test_resuming_a_finished_run_trains_no_further(tmp_path):
    path = tmp_path / "run.ckpt"
    model, opt, sched = make_run(0)
    train(model, opt, sched, 2, cr.Generator(0), checkpoint_path=path)
    before = [p.numpy().copy() for p in model.parameters()]
    history = train(model, opt, sched, 2, cr.Generator(0), resume_from=path)
    assert history.stop_reason == "max_epochs" and len(history) == 2
    for a, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, p.numpy())
