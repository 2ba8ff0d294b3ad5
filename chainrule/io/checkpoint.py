"""Checkpoints: everything a training run needs to continue exactly where it stopped, in one safetensors file.

The model's tensors are stored as `model.<key>` (PyTorch's state_dict names), the optimizer's per-parameter
buffers as `optimizer.state.<index>.<name>`, and any other array by where it sits (`extra.<key>...`). Everything
else (hyper-parameters, step counts, the scheduler's counters, the epoch, the history, the generators' states)
is JSON in the file's metadata, one entry per part, next to 'format' and 'format_version'. Types JSON cannot
express (tuples, integer keys, inf, NumPy scalars) are tagged, so `optimizer_state` comes back equal to
`optimizer.state_dict()` to the bit, ints as ints and tuples as tuples (see `chainrule.io._codec`).

No pickle: loading a checkpoint runs no code from it. Written atomically, as `chainrule.io.save`.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, ChainruleError
from chainrule.io._codec import Encoder, decode
from chainrule.io.weights import PathLike, open_safetensors, read_tensor, write_safetensors
from chainrule.tensor import Tensor

__all__ = ["FORMAT", "FORMAT_VERSION", "Checkpoint", "load_checkpoint", "restore_checkpoint", "save_checkpoint"]

FORMAT = "chainrule.checkpoint"
FORMAT_VERSION = 1
_PARTS = ("model", "optimizer", "scheduler", "epoch", "history", "rng_state", "extra")


@dataclass
class Checkpoint:
    """What `load_checkpoint` read. Each field is None when the checkpoint does not hold it.

    model_state: name -> Tensor, as `model.state_dict()`. optimizer_state / scheduler_state: what their
    `state_dict()` returned (arrays as ndarrays). epoch, history, rng_state, extra: the data given to
    `save_checkpoint`.
    """

    model_state: dict[str, Tensor] | None = None
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    epoch: int | None = None
    history: Any = None
    rng_state: Any = None
    extra: Any = None

    def __repr__(self) -> str:
        model = "None" if self.model_state is None else f"<{len(self.model_state)} tensors>"
        optimizer = "None" if self.optimizer_state is None else "<state>"
        scheduler = "None" if self.scheduler_state is None else "<state>"
        return (
            f"Checkpoint(epoch={self.epoch!r}, model_state={model}, optimizer_state={optimizer}, "
            f"scheduler_state={scheduler}, history={'None' if self.history is None else '<data>'}, "
            f"rng_state={'None' if self.rng_state is None else '<data>'}, "
            f"extra={'None' if self.extra is None else '<data>'})"
        )


def save_checkpoint(
    path: PathLike,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    epoch: int | None = None,
    history: Any = None,
    rng_state: Any = None,
    extra: Any = None,
) -> None:
    """Write a checkpoint to `path` (one safetensors file, written atomically).

    model, optimizer, scheduler: objects with `state_dict()` (a Module, an Optimizer, a scheduler), or their
    state dicts. epoch: the number of epochs done. history: JSON data, or an object with `to_dict()` (a
    `chainrule.train.History`). rng_state: e.g. `chainrule.random.get_rng_state()`. extra: anything else made of
    numbers, strings, lists, tuples, dicts, arrays and Tensors (callbacks' states ...).
    """
    owner = "save_checkpoint"
    model_state = _state_of(model, "model", owner)
    if model_state is not None:
        model_state = _model_tensors(model_state, owner)
    if history is not None and callable(getattr(history, "to_dict", None)):
        history = history.to_dict()
    parts = {
        "model": model_state,
        "optimizer": _state_of(optimizer, "optimizer", owner),
        "scheduler": _state_of(scheduler, "scheduler", owner),
        "epoch": epoch,
        "history": history,
        "rng_state": rng_state,
        "extra": extra,
    }
    encoder = Encoder(owner)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
    for name, value in parts.items():
        data = encoder.encode(value, (name,))
        # allow_nan=False: non-finite floats were tagged, so the metadata is strict JSON any reader can parse.
        metadata[name] = json.dumps(data, allow_nan=False, separators=(",", ":"))
    write_safetensors(encoder.arrays, path, metadata, owner)


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Read the checkpoint at `path` (written by `save_checkpoint`) without applying it to anything.

    Raises ArgumentError naming the path when the file is missing, damaged or truncated, or is not a checkpoint.
    """
    owner = "load_checkpoint"
    name = os.fspath(path)
    with open_safetensors(path, owner) as file:
        metadata = file.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ArgumentError(
                f"{owner}: '{name}' is a safetensors file but not a chainrule checkpoint (its metadata has no "
                f"format '{FORMAT}'); read model weights with chainrule.load"
            )
        version = metadata.get("format_version", "")
        if not version.isdigit() or int(version) > FORMAT_VERSION:
            raise ArgumentError(
                f"{owner}: '{name}' has checkpoint format version {version!r}; this chainrule reads versions up "
                f"to {FORMAT_VERSION} (upgrade chainrule to read it)"
            )
        stored = set(file.keys())

        def fetch(key: str) -> np.ndarray:
            if key not in stored:
                raise ArgumentError(f"{owner}: '{name}' is damaged: its metadata refers to a missing tensor '{key}'")
            return read_tensor(file, key, path, owner)

        parts = {}
        for part in _PARTS:
            text = metadata.get(part)
            if text is None:
                parts[part] = None
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                raise ArgumentError(
                    f"{owner}: '{name}' is damaged: its '{part}' entry is not JSON ({error})"
                ) from error
            try:
                parts[part] = decode(data, fetch, owner)
            except ChainruleError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise ArgumentError(
                    f"{owner}: '{name}' is damaged: its '{part}' entry is malformed ({error!r})"
                ) from error
    return Checkpoint(
        model_state=parts["model"],
        optimizer_state=parts["optimizer"],
        scheduler_state=parts["scheduler"],
        epoch=parts["epoch"],
        history=parts["history"],
        rng_state=parts["rng_state"],
        extra=parts["extra"],
    )


def restore_checkpoint(
    path: PathLike, model: Any = None, optimizer: Any = None, scheduler: Any = None, strict: bool = True
) -> Checkpoint:
    """Read the checkpoint at `path` and load its states into the given objects with their
    `load_state_dict`: the model (with `strict`), then the optimizer, then the scheduler. Returns the
    Checkpoint, for the epoch, history, generator states and extras.

    Raises ArgumentError, before loading anything, if an object is given whose state the checkpoint lacks.
    """
    checkpoint = load_checkpoint(path)
    wanted = {
        "model": (model, checkpoint.model_state),
        "optimizer": (optimizer, checkpoint.optimizer_state),
        "scheduler": (scheduler, checkpoint.scheduler_state),
    }
    for what, (target, state) in wanted.items():
        if target is None:
            continue
        if state is None:
            raise ArgumentError(f"restore_checkpoint: '{os.fspath(path)}' holds no {what} state to restore")
        if not callable(getattr(target, "load_state_dict", None)):
            raise ArgumentError(
                f"restore_checkpoint: {what} must have a load_state_dict() method, got {type(target).__name__}"
            )
    if model is not None:
        if strict:
            model.load_state_dict(checkpoint.model_state)
        else:
            model.load_state_dict(checkpoint.model_state, strict=False)
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint.optimizer_state)  # copies what it keeps
    if scheduler is not None:
        # A scheduler keeps the lists it is given: a copy leaves the returned Checkpoint independent of it.
        scheduler.load_state_dict(copy.deepcopy(checkpoint.scheduler_state))
    return checkpoint


def _state_of(value: Any, what: str, owner: str) -> Any:
    """`value.state_dict()`, or `value` itself when it is already a state dict (or None)."""
    if value is None or isinstance(value, Mapping):
        return value
    state_dict = getattr(value, "state_dict", None)
    if not callable(state_dict):
        raise ArgumentError(
            f"{owner}: {what} must have a state_dict() method or be a state dict, got {type(value).__name__}"
        )
    return state_dict()


def _model_tensors(state: Mapping[str, Any], owner: str) -> dict[str, Tensor]:
    tensors = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise ArgumentError(f"{owner}: the model state's keys must be strings, got {key!r}")
        if isinstance(value, np.ndarray):
            value = Tensor(value)
        elif not isinstance(value, Tensor):
            raise ArgumentError(
                f"{owner}: the model state's '{key}' must be a Tensor or an ndarray, got {type(value).__name__}"
            )
        tensors[key] = value
    return tensors
