"""The training loop: `fit`, and `evaluate` / `predict` for trained models.

`fit` runs the plain PyTorch step on every batch,

    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()

so the gradient is that of the batch's mean loss (the losses' default reduction), and adds around it what a
Keras user expects: validation, metrics over whole epochs, stop criteria, callbacks, progress, checkpoints
and exact resumption. Per batch it adds only `loss.item()`, a finiteness check and what the caller asked for
(metrics, batch callbacks, a progress bar): a run without them costs what the hand-written loop costs. The
model is put in training mode once per epoch, before its first batch (and again after a batch callback that
left it in eval mode), rather than at every step; validation runs in eval mode under no_grad.

Stop criteria, as `History.stop_reason`:
- 'max_epochs': `epochs` epochs ran.
- 'target_loss': the epoch's training loss fell below `target_loss` (strictly).
- 'plateau': scikit-learn's `tol` / `n_iter_no_change` on the training loss, exactly as its MLP: after each
  epoch, `count += 1` if `loss > best_loss - tol` else `count = 0`; then `best_loss = min(best_loss, loss)`;
  the run stops when `count > n_iter_no_change` -- strictly greater, so the run goes on for n_iter_no_change
  epochs without improvement and stops on the next one without it.
- 'early_stopping': an `EarlyStopping` (given as `early_stopping=` or among the callbacks) asked to stop.
- 'nan': a batch's loss was NaN or infinite, or (with the doctor on, the default) its gradient was. That batch's
  step is not taken, so the weights are those from before it (and if they themselves hold a non-finite value,
  because the previous step's update overflowed while its loss and gradient did not, the weights from the
  start of the epoch are restored). That epoch is not recorded. The doctor names the op and the layer where the
  NaN or Inf first appeared.
- 'interrupted': Ctrl-C (KeyboardInterrupt) during an epoch or a callback: the run ends cleanly, the History
  keeps the epochs that completed, the weights are kept as they are (`on_train_end` still runs, so
  EarlyStopping's restore_best_weights applies).
- any other string: a callback's `request_stop(reason)`.
When several criteria hold at the same epoch: 'target_loss', then 'plateau', then a callback's reason.

The training doctor (`chainrule.diagnostics.Doctor`, on by default, `doctor=False` turns it off) watches the run
for vanishing or exploding gradients, dead ReLU units, plateaus, slow convergence, divergence, overfitting and
NaN/Inf; its findings are in `History.diagnosis` (JSON data) and, when there are any, printed at the end of the
run (verbose > 0). Its cost is a dot product per parameter per step and a few measurements every
`sample_every` steps (benchmarks/doctor_overhead.py). It never changes the training unless asked to treat
(`Doctor(treat='reduce_lr' | 'restart')`).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.autograd import no_grad
from chainrule.diagnostics.doctor import Doctor
from chainrule.errors import ArgumentError, ShapeError, shape_str
from chainrule.nn.module import Module
from chainrule.optim import lr_scheduler as _lr_scheduler
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor, as_array
from chainrule.train.callbacks import Callback, CallbackList, EarlyStopping, copy_weights, step_scheduler
from chainrule.train.history import History
from chainrule.train.metrics import Metric, get_metric
from chainrule.train.progress import Progress

__all__ = ["Run", "evaluate", "fit", "predict"]

_PLATEAU_DEFAULTS = {"tol": 1e-4, "n_iter_no_change": 10}  # scikit-learn's MLP defaults


class Run:
    """One `fit` call as its callbacks see it: the model, loss_fn, optimizer, scheduler, history, the metrics
    (training ones; validation ones are their clones), `epoch` (0-based, the current one), `epochs`,
    `has_validation`, `params`, and `request_stop(reason)`."""

    def __init__(
        self,
        model: Module,
        loss_fn: Any,
        optimizer: Optimizer,
        scheduler: Any,
        history: History,
        metrics: list[Metric],
        epochs: int,
        has_validation: bool,
    ) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.history = history
        self.metrics = metrics
        self.epochs = epochs
        self.epoch = 0
        self.has_validation = has_validation
        self.params: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.bad_loss: tuple[int, float] | None = None  # (batch index, loss) of a non-finite loss or gradient
        self.bad_gradient = False  # whether bad_loss is about the gradient (the loss itself was finite)
        self.doctor: Doctor | None = None

    def request_stop(self, reason: str = "callback") -> None:
        """Stop after the current batch; the first reason asked for is kept."""
        if not isinstance(reason, str) or not reason:
            raise ArgumentError(f"request_stop: reason must be a non-empty str, got {reason!r}")
        if self.stop_reason is None:
            self.stop_reason = reason


class _Plateau:
    """scikit-learn's no-improvement count on the training loss (see the module's docstring)."""

    def __init__(self, tol: float, n_iter_no_change: int) -> None:
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best_loss = math.inf
        self.count = 0

    def update(self, loss: float) -> bool:
        if loss > self.best_loss - self.tol:
            self.count += 1
        else:
            self.count = 0
        if loss < self.best_loss:
            self.best_loss = loss
        return self.count > self.n_iter_no_change


# -- argument checks --------------------------------------------------------------------------------------


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ArgumentError(f"fit: {name} must be an int >= {low}, got {value!r}")


def _check_number(name: str, value: Any, low: float | None = None) -> None:
    valid = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if valid and math.isnan(float(value)):
        valid = False
    if valid and low is not None and value < low:
        valid = False
    if not valid:
        expected = "a number" if low is None else f"a number >= {low}"
        raise ArgumentError(f"fit: {name} must be {expected}, got {value!r}")


def _model_dtype(model: Module) -> np.dtype | None:
    for param in model.parameters():
        if param.data.dtype.kind == "f":
            return param.data.dtype
    return None


# -- data -------------------------------------------------------------------------------------------------


def _as_tensors(arrays: Sequence[Any], what: str, dtype: np.dtype | None) -> list[Tensor]:
    """The arrays of a tuple (X, y, ...) as Tensors with one length; floating ones in the model's dtype."""
    tensors = []
    for index, item in enumerate(arrays):
        try:
            data = item.data if isinstance(item, Tensor) else as_array(item)
        except (TypeError, ValueError) as error:
            raise ArgumentError(
                f"{what}: element {index} of the tuple is not an array or Tensor ({type(item).__name__}): {error}"
            ) from None
        if data.ndim == 0:
            raise ShapeError(f"{what}: element {index} of the tuple is a scalar; expected arrays with a batch dim")
        if dtype is not None and data.dtype.kind == "f" and data.dtype != dtype:
            data = data.astype(dtype)
        tensors.append(item if isinstance(item, Tensor) and item.data is data else Tensor._wrap(data))
    lengths = {t.data.shape[0] for t in tensors}
    if len(lengths) > 1:
        raise ShapeError(
            f"{what}: the arrays of the tuple have different lengths "
            f"({', '.join(shape_str(t.data.shape) for t in tensors)}); expected the same first dimension"
        )
    return tensors


def _is_dataset(data: Any) -> bool:
    from chainrule.data import Dataset

    return isinstance(data, Dataset) or (
        hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, str | bytes | dict)
    )


def _as_loader(
    data: Any, what: str, batch_size: int, shuffle: bool, generator: Any, dtype: np.dtype | None
) -> Iterable[Any]:
    """A DataLoader for `data`: a DataLoader (used as it is), a Dataset, or a tuple (X, y) of arrays/Tensors."""
    from chainrule.data import DataLoader, TensorDataset

    if isinstance(data, DataLoader):
        return data
    if isinstance(data, tuple | list):
        if len(data) < 2:
            raise ArgumentError(f"{what}: a tuple must hold inputs and targets, (X, y); got {len(data)} element(s)")
        tensors = _as_tensors(data, what, dtype)
        return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=shuffle, generator=generator)
    if isinstance(data, Tensor | np.ndarray):
        raise ArgumentError(f"{what}: got a single array; pass inputs and targets as a tuple (X, y)")
    if _is_dataset(data):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    raise ArgumentError(
        f"{what}: expected a Dataset, a DataLoader or a tuple (X, y) of arrays or Tensors, got {type(data).__name__}"
    )


def _split_off_validation(train_data: Any, val_split: float) -> tuple[Any, Any]:
    """(train part, validation part): the validation part is the last `val_split` fraction of the samples,
    taken before any shuffling, as Keras's validation_split (ceil((1 - val_split) * n) samples train)."""
    from chainrule.data import DataLoader, Subset

    if isinstance(train_data, DataLoader):
        raise ArgumentError(
            "fit: val_split needs train_data as a Dataset or a tuple (X, y), got a DataLoader; split the dataset "
            "with chainrule.data.random_split and pass val_data= instead"
        )
    n = len(train_data[0]) if isinstance(train_data, tuple | list) else len(train_data)
    split_at = math.ceil(n * (1.0 - val_split))
    if split_at <= 0 or split_at >= n:
        raise ArgumentError(
            f"fit: val_split={val_split} of {n} samples leaves {split_at} for training and {n - split_at} for "
            "validation; each part needs at least one sample"
        )
    if isinstance(train_data, tuple | list):
        return (
            tuple(item[:split_at] for item in train_data),
            tuple(item[split_at:] for item in train_data),
        )
    return Subset(train_data, range(split_at)), Subset(train_data, range(split_at, n))


def _split_batch(batch: Any, what: str) -> tuple[tuple[Any, ...], Any]:
    """(inputs, target) of a batch (x, y) or (x1, x2, ..., y)."""
    if isinstance(batch, tuple | list) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    raise ArgumentError(
        f"{what}: each batch must be a tuple (inputs, target), got {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, tuple | list) else "")
    )


def _count(target: Any) -> int:
    """The number of samples of a batch: the target's first dimension."""
    shape = target.data.shape if isinstance(target, Tensor) else np.shape(target)
    return shape[0] if shape else 1


def _bad_loss(loss: Any) -> None:
    if not isinstance(loss, Tensor):
        raise ArgumentError(f"fit: loss_fn must return a Tensor (a scalar loss), got {type(loss).__name__}")
    raise ShapeError(
        f"fit: loss_fn must return a scalar loss, got a tensor of shape {shape_str(loss.data.shape)}; use a "
        "loss with reduction='mean' (the default) or 'sum', or reduce it (loss.mean())"
    )


def _data_of(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _weights_finite(model: Module) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters() if p.data.dtype.kind == "f")


# -- epochs -----------------------------------------------------------------------------------------------


def _train_epoch(
    run: Run, loader: Iterable[Any], callbacks: CallbackList, progress: Progress, batch_scheduler: Any
) -> float | None:
    """One pass over the training data; the sample-weighted mean of the batch losses, or None when a batch's
    loss (or, with the doctor, its gradient) was not finite (its step is not taken; `run.bad_loss` holds (batch
    index, loss))."""
    model, loss_fn, optimizer, metrics, doctor = run.model, run.loss_fn, run.optimizer, run.metrics, run.doctor
    for metric in metrics:
        metric.reset()
    zero_grad, step = optimizer.zero_grad, optimizer.step
    batch_begin, batch_end = callbacks.batch_begin, callbacks.batch_end
    show = progress.wants_batches
    isfinite = math.isfinite
    total = 0.0
    count = 0
    model.train()
    for index, batch in enumerate(loader):
        kind = type(batch)
        if (kind is list or kind is tuple) and len(batch) == 2:  # the common case, without the general unpacking
            inputs, target = (batch[0],), batch[1]
        else:
            inputs, target = _split_batch(batch, "train_data")
        n = _count(target)
        if batch_begin:
            callbacks.on_batch_begin(index, {"batch": index, "size": n})
            if not model.training:
                model.train()
        zero_grad()
        if doctor is not None:
            doctor.batch_begin()
        output = model(*inputs)
        loss = loss_fn(output, target)
        if type(loss) is not Tensor or loss.data.size != 1:
            _bad_loss(loss)
        value = loss.item()
        if not isfinite(value):
            run.bad_loss = (index, value)
            if doctor is not None:
                doctor.nonfinite_loss(value, inputs, target, loss)
            return None
        loss.backward()
        if doctor is not None and not doctor.after_backward(value, inputs, output, target):
            run.bad_loss = (index, value)
            run.bad_gradient = True
            return None
        step()
        if doctor is not None:
            doctor.after_step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        total += value * n
        count += n
        if metrics:
            output_data, target_data = _data_of(output), _data_of(target)
            for metric in metrics:
                metric.update(output_data, target_data)
        if show:
            progress.batch(total / count)
        if batch_end:
            callbacks.on_batch_end(index, {"batch": index, "size": n, "loss": value})
            if not model.training:
                model.train()
        if run.stop_reason is not None:
            break
    if count == 0:
        raise ArgumentError("fit: train_data yielded no samples (is it empty, or smaller than a batch with drop_last?)")
    return total / count


def _evaluate_loader(
    model: Module, loss_fn: Any, loader: Iterable[Any], metrics: list[Metric], what: str
) -> dict[str, float]:
    """The loss (sample-weighted mean over batches) and metrics over all of `loader`, in eval mode, no grad."""
    for metric in metrics:
        metric.reset()
    total = 0.0
    count = 0
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                inputs, target = _split_batch(batch, what)
                output = model(*inputs)
                n = _count(target)
                if loss_fn is not None:
                    loss = loss_fn(output, target)
                    if type(loss) is not Tensor or loss.data.size != 1:
                        _bad_loss(loss)
                    total += loss.item() * n
                count += n
                if metrics:
                    output_data, target_data = _data_of(output), _data_of(target)
                    for metric in metrics:
                        metric.update(output_data, target_data)
    finally:
        model.train(was_training)
    if count == 0:
        raise ArgumentError(f"{what}: yielded no samples")
    logs: dict[str, float] = {}
    if loss_fn is not None:
        logs["loss"] = total / count
    for metric in metrics:
        logs[metric.name] = metric.compute()
    return logs


# -- fit --------------------------------------------------------------------------------------------------


def fit(
    model: Module,
    loss_fn: Any,
    optimizer: Optimizer,
    train_data: Any,
    val_data: Any = None,
    *,
    val_split: float | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    shuffle: bool = True,
    metrics: Sequence[Any] | None = None,
    callbacks: Sequence[Callback] | None = None,
    scheduler: Any = None,
    target_loss: float | None = None,
    tol: float | None = None,
    n_iter_no_change: int | None = None,
    early_stopping: EarlyStopping | None = None,
    generator: _random.Generator | None = None,
    verbose: int = 1,
    resume_from: str | os.PathLike[str] | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    doctor: bool | Doctor = True,
) -> History:
    """Train `model` on `train_data` for up to `epochs` epochs; return the History.

    model: a Module. loss_fn: `loss_fn(output, target) -> scalar Tensor` (a loss Module or function).
    optimizer: a chainrule.optim optimizer over the model's parameters.
    train_data, val_data: a Dataset, a DataLoader (used as it is: batch_size, shuffle and generator then do not
    apply) or a tuple (X, y) of arrays or Tensors (floating arrays are cast to the model's dtype). Batches are
    (inputs, target) or (input1, input2, ..., target); the model is called as `model(*inputs)`.
    val_split: a fraction in (0, 1) of train_data (a Dataset or tuple) held out for validation: the LAST
    fraction of the samples, taken before shuffling, as Keras. Not together with val_data.
    epochs: the maximum number of epochs. batch_size, shuffle, generator: for data not given as a DataLoader;
    shuffling draws a new permutation each epoch from `generator` (default: chainrule's default generator).
    metrics: names ('accuracy', 'top_k_accuracy', 'mse', 'mae', 'r2' ...), Metric objects or functions; each is
    logged as its name and, with validation, 'val_' + its name, computed over the whole epoch.
    callbacks: Callback objects. early_stopping: an EarlyStopping (added to the callbacks).
    scheduler: a chainrule.optim lr scheduler, stepped after each epoch (ReduceLROnPlateau with 'val_loss'
    when there is validation, else 'loss'); OneCycleLR is stepped after each batch.
    target_loss: stop once an epoch's training loss is below it. tol, n_iter_no_change: scikit-learn's plateau
    criterion on the training loss (either one turns it on; the other then takes scikit-learn's default,
    tol=1e-4, n_iter_no_change=10). See the module docstring for every stop reason.
    verbose: 0 silent, 1 a progress bar on a terminal (else a line per epoch), 2 a line per epoch.
    checkpoint_path: write a full checkpoint there at the end of every epoch (atomically; a '{epoch}' field is
    formatted 1-based): model, optimizer, scheduler, epochs done, History, the shuffling generator's and the
    default generator's states, and the callbacks' states. resume_from: such a checkpoint; the run continues
    from the epoch after it up to `epochs`, giving the weights an uninterrupted run would have, bit for bit.
    doctor: True (the default) runs a `chainrule.diagnostics.Doctor()` on the run, False none, or a Doctor with
    its settings. It only observes (unless made to treat): the weights are those of a run without it. Its
    findings are in `History.diagnosis` and `History.doctor` is the Doctor (its trace has the per-layer gradient
    norms over time).
    """
    if not isinstance(model, Module):
        raise ArgumentError(f"fit: model must be a chainrule.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise ArgumentError(f"fit: loss_fn must be callable, loss_fn(output, target) -> Tensor, got {loss_fn!r}")
    if not isinstance(optimizer, Optimizer):
        raise ArgumentError(
            f"fit: optimizer must be a chainrule.optim optimizer (SGD, Adam ...), got {type(optimizer).__name__}"
        )
    _check_int("epochs", epochs, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("verbose", verbose, 0)
    if val_split is not None:
        if val_data is not None:
            raise ArgumentError("fit: pass val_data or val_split, not both")
        _check_number("val_split", val_split)
        if not 0.0 < float(val_split) < 1.0:
            raise ArgumentError(f"fit: val_split must be a fraction in (0, 1), got {val_split!r}")
    if target_loss is not None:
        _check_number("target_loss", target_loss)
    plateau = None
    if tol is not None or n_iter_no_change is not None:
        tol = _PLATEAU_DEFAULTS["tol"] if tol is None else tol
        n_iter_no_change = _PLATEAU_DEFAULTS["n_iter_no_change"] if n_iter_no_change is None else n_iter_no_change
        _check_number("tol", tol, low=0.0)
        _check_int("n_iter_no_change", n_iter_no_change, 1)
        plateau = _Plateau(float(tol), int(n_iter_no_change))
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise ArgumentError(
            "fit: early_stopping must be an EarlyStopping(monitor=..., patience=...) object, got "
            f"{type(early_stopping).__name__}"
        )
    if generator is not None and not isinstance(generator, _random.Generator):
        raise ArgumentError(f"fit: generator must be a chainrule.Generator, got {type(generator).__name__}")
    if scheduler is not None and not isinstance(scheduler, _lr_scheduler.LRScheduler | _lr_scheduler.ReduceLROnPlateau):
        raise ArgumentError(
            f"fit: scheduler must be a chainrule.optim.lr_scheduler scheduler, got {type(scheduler).__name__}"
        )
    if scheduler is not None and scheduler.optimizer is not optimizer:
        raise ArgumentError("fit: scheduler was made for another optimizer than the one given")
    if doctor is True:
        doctor = Doctor()
    elif doctor is False or doctor is None:
        doctor = None
    elif not isinstance(doctor, Doctor):
        raise ArgumentError(
            f"fit: doctor must be True, False or a chainrule.diagnostics.Doctor, got {type(doctor).__name__}"
        )

    # data
    dtype = _model_dtype(model)
    if val_split is not None:
        train_data, val_data = _split_off_validation(train_data, float(val_split))
    train_loader = _as_loader(train_data, "train_data", batch_size, shuffle, generator, dtype)
    val_loader = None if val_data is None else _as_loader(val_data, "val_data", batch_size, False, None, dtype)
    shuffle_generator = getattr(train_loader, "generator", None) if generator is None else generator

    # metrics and callbacks
    train_metrics = [get_metric(spec, loss_fn) for spec in (metrics or [])]
    names = [m.name for m in train_metrics]
    for reserved in ("loss", "lr", "epoch_time"):
        if reserved in names:
            raise ArgumentError(f"fit: a metric may not be named {reserved!r} (a key fit logs itself)")
    if len(set(names)) != len(names):
        raise ArgumentError(f"metrics: two metrics have the same name: {names}; give them distinct names")
    val_metrics = [m.clone() for m in train_metrics]
    callback_items = list(callbacks or [])
    if early_stopping is not None and not any(cb is early_stopping for cb in callback_items):
        callback_items.append(early_stopping)
    callback_list = CallbackList(callback_items)
    batch_scheduler = scheduler if isinstance(scheduler, _lr_scheduler.OneCycleLR) else None
    epoch_scheduler = scheduler if batch_scheduler is None else None

    history = History()
    start_epoch = 0
    callback_states = None
    doctor_state = None
    if resume_from is not None:
        history, start_epoch, callback_states, doctor_state = _resume(
            resume_from, model, optimizer, scheduler, shuffle_generator, len(callback_list.callbacks)
        )
    steps = len(train_loader) if hasattr(train_loader, "__len__") else None
    history.params = {"epochs": epochs, "steps": steps, "batch_size": batch_size, "verbose": verbose}
    run = Run(model, loss_fn, optimizer, scheduler, history, train_metrics, epochs, val_loader is not None)
    run.params = history.params
    run.doctor = doctor
    if plateau is not None:
        for loss in history.history.get("loss", []):  # replay the resumed epochs: the same count, exactly
            plateau.update(loss)

    was_training = model.training
    progress = Progress(verbose, epochs)
    callback_list.set_run(run)
    logs: dict[str, Any] = {}
    try:
        if doctor is not None:
            doctor.begin(model, optimizer, loss_fn, history=history.history)
            if doctor_state is not None:
                doctor.load_state_dict(doctor_state)
        callback_list.on_train_begin({})
        if callback_states is not None:
            _load_callback_states(callback_list, callback_states)
        for epoch in range(start_epoch, epochs):
            run.epoch = epoch
            started = time.perf_counter()
            callback_list.on_epoch_begin(epoch, {})
            if run.stop_reason is not None:  # asked for before the epoch's first batch: it does not run
                history.stopped_epoch = epoch
                break
            lr = float(optimizer.param_groups[0]["lr"])
            snapshot = copy_weights(model)
            progress.epoch_begin(epoch, steps)
            train_loss = _train_epoch(run, train_loader, callback_list, progress, batch_scheduler)
            if train_loss is None:
                progress.close()
                index, value = run.bad_loss
                if not _weights_finite(model):
                    model.load_state_dict(snapshot)
                run.stop_reason = "nan"
                history.stopped_epoch = epoch
                what = (
                    f"the gradient of batch {index} is not finite"
                    if run.bad_gradient
                    else f"the loss of batch {index} is {value}"
                )
                found = doctor.stopped if doctor is not None else None
                where = f" (first in {found.data['where']})" if found is not None and found.data.get("where") else ""
                progress.message(f"Epoch {epoch + 1}: {what}{where}; stopped with the weights from before that batch")
                break
            del snapshot
            logs = {"loss": train_loss}
            for metric in train_metrics:
                logs[metric.name] = metric.compute()
            if val_loader is not None:
                val_logs = _evaluate_loader(model, loss_fn, val_loader, val_metrics, "val_data")
                for key, value in val_logs.items():
                    logs["val_" + key] = value
            logs["lr"] = lr
            if epoch_scheduler is not None:
                step_scheduler(epoch_scheduler, logs)
            logs["epoch_time"] = time.perf_counter() - started
            history.record(epoch, logs)
            if doctor is not None:
                doctor.epoch_end(epoch, logs)
                history.diagnosis = [finding.to_dict() for finding in doctor.findings]  # in checkpoints too
            callback_list.on_epoch_end(epoch, logs)
            history.update_last(logs)  # keys and values the callbacks added
            progress.epoch_end(epoch, logs)

            plateau_stop = plateau.update(train_loss) if plateau is not None else False
            if target_loss is not None and train_loss < target_loss:
                run.stop_reason = "target_loss"
            elif plateau_stop:
                run.stop_reason = "plateau"
            if checkpoint_path is not None:
                _save_run(checkpoint_path, run, epoch, shuffle_generator, callback_list)
            if run.stop_reason is not None:
                history.stopped_epoch = epoch
                break
    except KeyboardInterrupt:
        progress.close()
        run.stop_reason = "interrupted"
        history.stopped_epoch = run.epoch
        progress.message(f"Epoch {run.epoch + 1}: interrupted; the History keeps the {len(history)} completed epochs")
    finally:
        progress.close()
        if doctor is not None:
            doctor.detach()
    if run.stop_reason is None:
        run.stop_reason = "max_epochs"
        history.stopped_epoch = history.epoch[-1] if history.epoch else None
    history.stop_reason = run.stop_reason
    if doctor is not None:  # before the callbacks' end, so EarlyStopping's restore_best_weights has the last word
        history.diagnosis = [finding.to_dict() for finding in doctor.end(dict(logs), run.stop_reason)]
        history.doctor = doctor
        if doctor.findings:
            progress.message(doctor.report())
    try:
        callback_list.on_train_end(dict(logs))
    finally:
        model.train(was_training)
        callback_list.set_run(None)
    for callback in callback_list:
        if isinstance(callback, EarlyStopping) and callback.best is not None:
            history.best_epoch = callback.best_epoch
            break
    return history


# -- checkpoints ------------------------------------------------------------------------------------------


def _save_run(
    path: str | os.PathLike[str], run: Run, epoch: int, shuffle_generator: Any, callbacks: CallbackList
) -> None:
    from chainrule import io

    target = os.fspath(path)
    if "{" in target:
        target = target.format(epoch=epoch + 1)
    rng_state = {
        "default": _random.get_rng_state(),
        "shuffle": None if shuffle_generator is None else shuffle_generator.get_state(),
    }
    extra: dict[str, Any] = {
        "callbacks": [
            {"type": type(callback).__name__, "state": callback.state_dict()} for callback in callbacks.callbacks
        ]
    }
    if run.doctor is not None:
        extra["doctor"] = run.doctor.state_dict()
    io.save_checkpoint(
        target,
        model=run.model,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        epoch=epoch + 1,
        history=run.history.to_dict(),
        rng_state=rng_state,
        extra=extra,
    )


def _resume(
    path: str | os.PathLike[str],
    model: Module,
    optimizer: Optimizer,
    scheduler: Any,
    shuffle_generator: Any,
    n_callbacks: int,
) -> tuple[History, int, list[Any] | None, dict[str, Any] | None]:
    """Restore the model, optimizer, scheduler and generators from `path`; (History, first epoch, the callbacks'
    states, the doctor's state)."""
    from chainrule import io

    checkpoint = io.restore_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
    history = History.from_dict(checkpoint.history) if checkpoint.history else History()
    history.stop_reason = None
    history.stopped_epoch = None
    history.best_epoch = None
    start_epoch = int(checkpoint.epoch) if checkpoint.epoch is not None else len(history.epoch)
    rng_state = checkpoint.rng_state or {}
    if rng_state.get("default") is not None:
        _random.set_rng_state(rng_state["default"])
    if rng_state.get("shuffle") is not None and shuffle_generator is not None:
        shuffle_generator.set_state(rng_state["shuffle"])
    extra = checkpoint.extra or {}
    states = extra.get("callbacks") if isinstance(extra, dict) else None
    doctor_state = extra.get("doctor") if isinstance(extra, dict) else None
    return history, start_epoch, states, doctor_state


def _load_callback_states(callbacks: CallbackList, states: list[Any]) -> None:
    items = callbacks.callbacks
    if len(states) != len(items) or any(
        not isinstance(saved, dict) or saved.get("type") != type(cb).__name__ for saved, cb in zip(states, items)
    ):
        saved_types = [saved.get("type") if isinstance(saved, dict) else None for saved in states]
        warnings.warn(
            f"fit: the checkpoint's callbacks {saved_types} differ from this run's "
            f"{[type(cb).__name__ for cb in items]}; their states are not restored",
            UserWarning,
            stacklevel=3,
        )
        return
    for saved, callback in zip(states, items):
        callback.load_state_dict(saved.get("state") or {})


# -- evaluate and predict ---------------------------------------------------------------------------------


def evaluate(
    model: Module, loss_fn: Any, data: Any, metrics: Sequence[Any] | None = None, batch_size: int = 256
) -> dict[str, float]:
    """The mean loss and the metrics of `model` over `data`, in eval mode under no_grad.

    data: a Dataset, a DataLoader or a tuple (X, y). loss_fn: as in `fit`, or None for metrics alone.
    Returns {'loss': ..., metric name: ...}. The model's train/eval mode is restored afterwards.
    """
    if not isinstance(model, Module):
        raise ArgumentError(f"evaluate: model must be a chainrule.nn.Module, got {type(model).__name__}")
    if loss_fn is not None and not callable(loss_fn):
        raise ArgumentError(f"evaluate: loss_fn must be callable or None, got {loss_fn!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"evaluate: batch_size must be an int >= 1, got {batch_size!r}")
    loader = _as_loader(data, "evaluate: data", batch_size, False, None, _model_dtype(model))
    metric_objects = [get_metric(spec, loss_fn) for spec in (metrics or [])]
    return _evaluate_loader(model, loss_fn, loader, metric_objects, "evaluate: data")


def predict(model: Module, X: Any, batch_size: int = 256) -> Tensor:  # noqa: N803 (the usual name)
    """The model's outputs for `X`, batch by batch, in eval mode under no_grad, concatenated along dim 0.

    X: an array or Tensor (N, ...), a tuple of them for a model of several inputs, a Dataset or a DataLoader
    (whose batches are (inputs..., target): the target is dropped; batches of one Tensor are inputs).
    """
    if not isinstance(model, Module):
        raise ArgumentError(f"predict: model must be a chainrule.nn.Module, got {type(model).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"predict: batch_size must be an int >= 1, got {batch_size!r}")
    dtype = _model_dtype(model)
    batches: Iterable[tuple[Any, ...]]
    if isinstance(X, Tensor | np.ndarray | tuple | list):
        arrays = [t.data for t in _as_tensors(X if isinstance(X, tuple | list) else (X,), "predict: X", dtype)]
        n = arrays[0].shape[0]
        batches = (
            tuple(Tensor._wrap(a[start : start + batch_size]) for a in arrays) for start in range(0, n, batch_size)
        )
    else:
        from chainrule.data import DataLoader

        loader = X if isinstance(X, DataLoader) else None
        if loader is None:
            if not _is_dataset(X):
                raise ArgumentError(
                    "predict: X must be an array, a Tensor, a tuple of them, a Dataset or a DataLoader, got "
                    f"{type(X).__name__}"
                )
            loader = DataLoader(X, batch_size=batch_size, shuffle=False)
        batches = (
            (tuple(batch[:-1]) if isinstance(batch, tuple | list) and len(batch) >= 2 else _as_inputs(batch))
            for batch in loader
        )
    outputs = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for inputs in batches:
                output = model(*inputs)
                if not isinstance(output, Tensor):
                    raise ArgumentError(f"predict: the model must return a Tensor, got {type(output).__name__}")
                outputs.append(output.data)
    finally:
        model.train(was_training)
    if not outputs:
        raise ArgumentError("predict: X holds no samples")
    return Tensor._wrap(np.concatenate(outputs, axis=0) if len(outputs) > 1 else outputs[0])


def _as_inputs(batch: Any) -> tuple[Any, ...]:
    return tuple(batch) if isinstance(batch, tuple | list) else (batch,)
