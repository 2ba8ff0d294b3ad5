"""Callbacks: code that `fit` calls at the start and end of the run, of each epoch and of each batch.

A callback subclasses `Callback` and overrides the hooks it needs; during `fit` its `run` attribute is the
running `Run`, through which it reaches the model, the optimizer, the scheduler and the History, and asks the
run to stop with `self.request_stop(reason)` (the reason becomes `History.stop_reason`). Epoch indices are
0-based, as in Keras; `logs` at an epoch's end hold that epoch's 'loss', metrics, 'val_' entries, 'lr' and
'epoch_time'; at a batch's end they hold 'batch', 'size' and the batch's 'loss'.

Callbacks that carry state across epochs (EarlyStopping, ReduceLROnPlateau ...) save it with `state_dict()`
in `fit`'s checkpoints, so a resumed run continues where it stopped.
"""

from __future__ import annotations

import copy
import csv
import inspect
import math
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.diagnostics.doctor import Doctor
from chainrule.errors import ArgumentError
from chainrule.optim import lr_scheduler as _lr_scheduler

if TYPE_CHECKING:
    from chainrule.train.loop import Run

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end")


class Callback:
    """The base of callbacks: every hook does nothing. `run` is set by `fit` for the duration of the run."""

    run: Run | None = None

    def set_run(self, run: Run | None) -> None:
        self.run = run

    # -- the run, for convenience -------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        return self._run("model").model

    @property
    def optimizer(self) -> Any:
        return self._run("optimizer").optimizer

    @property
    def scheduler(self) -> Any:
        return self._run("scheduler").scheduler

    @property
    def history(self) -> Any:
        return self._run("history").history

    def _run(self, what: str) -> Run:
        if self.run is None:
            raise ArgumentError(f"{type(self).__name__}.{what}: the callback is not attached to a running fit()")
        return self.run

    def request_stop(self, reason: str = "callback") -> None:
        """Ask the run to stop after the current batch; `reason` becomes `History.stop_reason`."""
        self._run("request_stop").request_stop(reason)

    # -- hooks ------------------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the last epoch, however the run ended (stop criterion, NaN, Ctrl-C)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Before the epoch's first batch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """After the epoch's validation, with the epoch's logs (keys may be added to them)."""

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Before a training batch's forward pass."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """After a training batch's optimizer step."""

    # -- state for checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The callback's state as JSON data (numbers, strings, lists, dicts), saved in checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state from `state_dict()` (called after `on_train_begin` when a run resumes)."""


def _overrides(callback: Callback, hook: str) -> bool:
    return hook in callback.__dict__ or getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList:
    """Calls each hook on every callback, in order. Batch hooks are called only on the callbacks that define
    them, so a run with none costs nothing per batch."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks: list[Callback] = []
        for callback in callbacks:
            if isinstance(callback, Doctor):
                raise ArgumentError("callbacks: a Doctor is not a callback; pass it as fit(..., doctor=Doctor(...))")
            if not isinstance(callback, Callback):
                raise ArgumentError(
                    f"callbacks: expected chainrule.train.Callback objects, got {type(callback).__name__}"
                )
            self.callbacks.append(callback)
        self.batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_batch_begin")]
        self.batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_batch_end")]

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def set_run(self, run: Run | None) -> None:
        for callback in self.callbacks:
            callback.set_run(run)

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: dict[str, Any]) -> None:
        for callback in self.batch_begin:
            callback.on_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        for callback in self.batch_end:
            callback.on_batch_end(batch, logs)


# -- monitoring helpers ------------------------------------------------------------------------------------


def resolve_mode(owner: str, monitor: str, mode: str, run: Run | None) -> str:
    """'min' or 'max' for `monitor`: `mode` itself, or with 'auto', from the name: losses are minimised, a
    metric goes its own direction (accuracy up, mse down)."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ArgumentError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return "min"
    if run is not None:
        for metric in run.metrics:
            if metric.name == name:
                return "max" if metric.direction == "max" else "min"
    raise ArgumentError(
        f"{owner}: monitor={monitor!r} with mode='auto': cannot tell whether it should be minimised or "
        "maximised; pass mode='min' or mode='max'"
    )


def check_monitor_available(owner: str, monitor: str, run: Run | None) -> None:
    """Fail before the first epoch when a 'val_' quantity is monitored in a run without validation data."""
    if run is not None and monitor.startswith("val_") and not run.has_validation:
        raise ArgumentError(
            f"{owner}: monitor={monitor!r} needs validation data, and this run has none: pass val_data= or "
            "val_split= to fit(), or monitor a training quantity such as 'loss'"
        )


def monitored_value(owner: str, monitor: str, logs: dict[str, Any] | None) -> float:
    """logs[monitor] as a float, or an ArgumentError listing the keys there are."""
    logs = logs or {}
    if monitor not in logs:
        raise ArgumentError(
            f"{owner}: monitor={monitor!r} is not in the epoch's logs; available: "
            f"{', '.join(map(repr, logs)) or 'none'}"
        )
    return float(logs[monitor])


def copy_weights(model: Any) -> dict[str, np.ndarray]:
    """A snapshot of the model's parameters and buffers (copies, not views)."""
    return {key: np.array(value.data, copy=True) for key, value in model.state_dict().items()}


def _check_int(owner: str, name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ArgumentError(f"{owner}: {name} must be an int >= {low}, got {value!r}")


def _check_real(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ArgumentError(f"{owner}: {name} must be a number, got {value!r}")


# -- the callbacks ----------------------------------------------------------------------------------------


class EarlyStopping(Callback):
    """Stop when a monitored quantity has stopped improving, with Keras 3's semantics.

    monitor: a key of the epoch logs ('val_loss', 'val_accuracy', 'loss' ...). min_delta: an improvement is a
    change of more than |min_delta| in the right direction. patience: epochs without improvement before the
    run stops (the run never stops at its first epoch). mode: 'auto' (from the name), 'min' or 'max'.
    baseline: the count of epochs without improvement restarts only when the value also beats the baseline.
    restore_best_weights: at the end of training, however it ends (this stop, another criterion, the maximum
    of epochs, Ctrl-C), load the weights of the best epoch. start_from_epoch: epochs of warm-up that are not
    monitored. The stop reason is 'early_stopping'; `best_epoch` and `stopped_epoch` are 0-based.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        verbose: int = 0,
    ) -> None:
        name = "EarlyStopping"
        if not isinstance(monitor, str):
            raise ArgumentError(f"{name}: monitor must be a key of the logs (a str), got {monitor!r}")
        _check_real(name, "min_delta", min_delta)
        _check_int(name, "patience", patience, 0)
        _check_int(name, "start_from_epoch", start_from_epoch, 0)
        if mode not in ("auto", "min", "max"):
            raise ArgumentError(f"{name}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if baseline is not None:
            _check_real(name, "baseline", baseline)
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = patience
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self.direction: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.direction == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        check_monitor_available("EarlyStopping", self.monitor, self.run)
        self.direction = resolve_mode("EarlyStopping", self.monitor, self.mode, self.run)
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch < self.start_from_epoch:
            return
        if self.direction is None:
            self.direction = resolve_mode("EarlyStopping", self.monitor, self.mode, self.run)
        current = monitored_value("EarlyStopping", self.monitor, logs)
        if self.restore_best_weights and self.best_weights is None:
            # the first monitored epoch's weights are the best seen so far
            self.best_weights = copy_weights(self.model)
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = copy_weights(self.model)
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.request_stop("early_stopping")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        state = {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "direction": self.direction,
        }
        if self.best_weights is not None:
            state["best_weights"] = self.best_weights
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        self.best = state.get("best")
        self.best_epoch = int(state.get("best_epoch", 0))
        self.direction = state.get("direction", self.direction)
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else {k: np.array(v, copy=True) for k, v in weights.items()}


class ReduceLROnPlateau(Callback):
    """Reduce the learning rate when a monitored quantity stops improving: `chainrule.optim.lr_scheduler.
    ReduceLROnPlateau` (PyTorch's arithmetic: factor, patience, threshold, threshold_mode, cooldown, min_lr,
    eps) stepped at the end of every epoch with `logs[monitor]`. mode: 'auto' (from the name), 'min' or 'max'.
    `lr_scheduler` is that scheduler, made when training begins.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
        verbose: int = 0,
    ) -> None:
        if not isinstance(monitor, str):
            raise ArgumentError(f"ReduceLROnPlateau: monitor must be a key of the logs (a str), got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ArgumentError(f"ReduceLROnPlateau: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.options = {
            "factor": factor,
            "patience": patience,
            "threshold": threshold,
            "threshold_mode": threshold_mode,
            "cooldown": cooldown,
            "min_lr": min_lr,
            "eps": eps,
        }
        self.verbose = verbose
        self.lr_scheduler: Any = None  # made in on_train_begin, when the optimizer is known

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        check_monitor_available("ReduceLROnPlateau", self.monitor, self.run)
        mode = resolve_mode("ReduceLROnPlateau", self.monitor, self.mode, self.run)
        self.lr_scheduler = _lr_scheduler.ReduceLROnPlateau(self.optimizer, mode=mode, **self.options)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        before = [group["lr"] for group in self.optimizer.param_groups]
        self.lr_scheduler.step(monitored_value("ReduceLROnPlateau", self.monitor, logs))
        after = [group["lr"] for group in self.optimizer.param_groups]
        if self.verbose > 0 and after != before:
            print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {after[0]:.4g}.")

    def state_dict(self) -> dict[str, Any]:
        return {} if self.lr_scheduler is None else copy.deepcopy(self.lr_scheduler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state and self.lr_scheduler is not None:
            self.lr_scheduler.load_state_dict(dict(state))


def step_scheduler(scheduler: Any, logs: dict[str, Any], monitor: str | None = None) -> None:
    """Step `scheduler` at the end of an epoch: a ReduceLROnPlateau with logs[monitor] (by default 'val_loss'
    when there is validation, else 'loss'), any other with no argument."""
    if isinstance(scheduler, _lr_scheduler.ReduceLROnPlateau):
        key = monitor or ("val_loss" if "val_loss" in logs else "loss")
        scheduler.step(monitored_value("scheduler", key, logs))
    else:
        scheduler.step()


class LearningRateScheduler(Callback):
    """Set the learning rate each epoch.

    schedule: Keras's form, a function `schedule(epoch, lr) -> new lr` (or `schedule(epoch)`) called before
    each epoch, whose value is set in every parameter group; or a `chainrule.optim.lr_scheduler` scheduler,
    stepped after each epoch (a ReduceLROnPlateau with `logs[monitor]`).
    """

    def __init__(self, schedule: Any, monitor: str | None = None, verbose: int = 0) -> None:
        self.is_scheduler = isinstance(schedule, _lr_scheduler.LRScheduler | _lr_scheduler.ReduceLROnPlateau)
        if not self.is_scheduler and not callable(schedule):
            raise ArgumentError(
                "LearningRateScheduler: schedule must be a function (epoch, lr) -> lr or a chainrule.optim "
                f"lr_scheduler, got {type(schedule).__name__}"
            )
        self.schedule = schedule
        self.monitor = monitor
        self.verbose = verbose
        self._two_arguments = True
        if not self.is_scheduler:
            try:
                parameters = inspect.signature(schedule).parameters.values()
                positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                variadic = any(p.kind == p.VAR_POSITIONAL for p in parameters)
                self._two_arguments = variadic or len(positional) >= 2
            except (TypeError, ValueError):
                self._two_arguments = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.is_scheduler:
            return
        groups = self.optimizer.param_groups
        value = self.schedule(epoch, float(groups[0]["lr"])) if self._two_arguments else self.schedule(epoch)
        try:
            lr = float(value)
        except (TypeError, ValueError):
            raise ArgumentError(
                f"LearningRateScheduler: schedule({epoch}) must return a number, got {value!r}"
            ) from None
        if not math.isfinite(lr) or lr < 0:
            raise ArgumentError(f"LearningRateScheduler: schedule({epoch}) returned {lr}; expected a number >= 0")
        for group in groups:
            group["lr"] = lr
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr:.4g}.")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.is_scheduler:
            step_scheduler(self.schedule, logs or {}, self.monitor)

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.schedule.state_dict()) if self.is_scheduler else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.is_scheduler and state:
            self.schedule.load_state_dict(dict(state))


class ModelCheckpoint(Callback):
    """Save the model at the end of epochs, with `chainrule.io`.

    filepath: a path, formatted with `epoch` (1-based, as Keras) and the epoch's logs, e.g.
    'ckpt-{epoch:03d}-{val_loss:.4f}.safetensors'. save_best_only: save only when `monitor` improves on the best
    value so far (and on `initial_value_threshold`, when given). mode: 'auto', 'min' or 'max'.
    save_weights_only: save the model's state_dict alone (`chainrule.io.save`); otherwise a full checkpoint
    (`chainrule.io.save_checkpoint`: model, optimizer, scheduler, epoch, history). `saved` lists the paths
    written; `best` is the best monitored value.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = False,
        save_weights_only: bool = False,
        initial_value_threshold: float | None = None,
        verbose: int = 0,
    ) -> None:
        if not isinstance(filepath, str | os.PathLike):
            raise ArgumentError(f"ModelCheckpoint: filepath must be a path (str), got {type(filepath).__name__}")
        if mode not in ("auto", "min", "max"):
            raise ArgumentError(f"ModelCheckpoint: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if initial_value_threshold is not None:
            _check_real("ModelCheckpoint", "initial_value_threshold", initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.mode = mode
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.initial_value_threshold = initial_value_threshold
        self.verbose = verbose
        self.best: float | None = initial_value_threshold
        self.direction: str | None = None
        self.saved: list[str] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.save_best_only:
            check_monitor_available("ModelCheckpoint", self.monitor, self.run)
            self.direction = resolve_mode("ModelCheckpoint", self.monitor, self.mode, self.run)

    def _path(self, epoch: int, logs: dict[str, Any]) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as error:
            raise ArgumentError(
                f"ModelCheckpoint: filepath {self.filepath!r} could not be formatted ({error!r}); it may use "
                f"{{epoch}} and the keys of the logs: {', '.join(logs)}"
            ) from None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            current = monitored_value("ModelCheckpoint", self.monitor, logs)
            if math.isnan(current):
                return
            better = (
                self.best is None
                or (self.direction == "min" and current < self.best)
                or (self.direction == "max" and current > self.best)
            )
            if not better:
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {current}, saving the model")
            self.best = current
        self._save(self._path(epoch, logs), epoch)

    def _save(self, path: str, epoch: int) -> None:
        from chainrule import io

        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            io.save(self.model.state_dict(), path)
        else:
            run = self._run("save")
            io.save_checkpoint(
                path,
                model=run.model,
                optimizer=run.optimizer,
                scheduler=run.scheduler,
                epoch=epoch + 1,
                history=run.history.to_dict(),
            )
        self.saved.append(path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "saved": list(self.saved)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best", self.best)
        self.saved = list(state.get("saved", self.saved))


class TerminateOnNaN(Callback):
    """Stop when a batch's loss is NaN or infinite (reason 'nan'). `fit` itself never steps on a non-finite
    loss and stops with the weights from before that batch; this callback makes that explicit and works in
    loops that call the batch hooks themselves."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.request_stop("nan")


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file: 'epoch' (0-based) and the logs' keys in their order.

    append: add to an existing file (for resumed runs; a header is written only when the file is new or empty)
    instead of starting it anew. The file is flushed after each row.
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        if not isinstance(filename, str | os.PathLike):
            raise ArgumentError(f"CSVLogger: filename must be a path (str), got {type(filename).__name__}")
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self.keys: list[str] | None = None
        self._file: Any = None
        self._writer: Any = None
        self._needs_header = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        existing = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._needs_header = not existing
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = list(logs)
            if self._needs_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(logs.get(key, "NA") for key in self.keys)])
        self._file.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


class LambdaCallback(Callback):
    """A callback from functions: on_train_begin(logs), on_train_end(logs), on_epoch_begin(epoch, logs),
    on_epoch_end(epoch, logs), on_batch_begin(batch, logs), on_batch_end(batch, logs); any may be omitted."""

    def __init__(
        self,
        on_epoch_begin: Callable[[int, dict[str, Any]], Any] | None = None,
        on_epoch_end: Callable[[int, dict[str, Any]], Any] | None = None,
        on_batch_begin: Callable[[int, dict[str, Any]], Any] | None = None,
        on_batch_end: Callable[[int, dict[str, Any]], Any] | None = None,
        on_train_begin: Callable[[dict[str, Any]], Any] | None = None,
        on_train_end: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        given = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_batch_begin": on_batch_begin,
            "on_batch_end": on_batch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
        }
        for hook, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise ArgumentError(f"LambdaCallback: {hook} must be callable, got {type(fn).__name__}")
            setattr(self, hook, fn)
