"""History: what `fit` records, one entry per completed epoch, with Keras's keys and layout.

`history.history` maps each key ('loss', the metrics, 'val_loss', 'val_' + metric, 'lr', 'epoch_time', and
anything a callback adds to the epoch's logs) to a list with one value per epoch; `history.epoch` lists the
epochs' indices (0-based, as Keras). `stop_reason` says why the run ended, `stopped_epoch` the index of the
epoch during which it ended, and `best_epoch` the best epoch found by early stopping (when it was used).
`diagnosis` holds the training doctor's findings (`chainrule.diagnostics.Finding.to_dict()` records: kind,
severity, layer, message, suggestion ...), kept in checkpoints; `doctor` is the Doctor itself (not saved).
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any

from chainrule.errors import ArgumentError

__all__ = ["History"]


def _plain(value: Any) -> Any:
    """A Python number for NumPy scalars and one-element tensors, so the history is JSON data."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class History:
    """The per-epoch record of a training run (see the module's docstring)."""

    def __init__(self) -> None:
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []
        self.stop_reason: str | None = None
        self.stopped_epoch: int | None = None
        self.best_epoch: int | None = None
        self.params: dict[str, Any] = {}
        self.diagnosis: list[dict[str, Any]] = []
        self.doctor: Any = None

    def record(self, epoch: int, logs: dict[str, Any]) -> None:
        """Append one epoch's logs. A key first seen now is padded with NaN for the earlier epochs, and a key
        missing now gets NaN, so every list keeps one value per epoch."""
        done = len(self.epoch)
        for key, value in logs.items():
            if key not in self.history:
                self.history[key] = [math.nan] * done
            self.history[key].append(_plain(value))
        for values in self.history.values():
            if len(values) == done:
                values.append(math.nan)
        self.epoch.append(int(epoch))

    def update_last(self, logs: dict[str, Any]) -> None:
        """Set the last epoch's values from `logs` again, adding keys that appeared since `record`."""
        if not self.epoch:
            return
        done = len(self.epoch)
        for key, value in logs.items():
            if key not in self.history:
                self.history[key] = [math.nan] * (done - 1) + [_plain(value)]
            else:
                self.history[key][-1] = _plain(value)

    def __getitem__(self, key: str) -> list[Any]:
        return self.history[key]

    def __contains__(self, key: object) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def last(self, key: str, default: Any = None) -> Any:
        """The value of `key` at the last recorded epoch, or `default`."""
        values = self.history.get(key)
        return values[-1] if values else default

    # -- persistence ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The whole record as plain JSON data (lists, numbers, strings), for checkpoints."""
        return {
            "history": {key: list(values) for key, values in self.history.items()},
            "epoch": list(self.epoch),
            "stop_reason": self.stop_reason,
            "stopped_epoch": self.stopped_epoch,
            "best_epoch": self.best_epoch,
            "params": dict(self.params),
            "diagnosis": [dict(item) for item in self.diagnosis],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The History saved by `to_dict()`."""
        if not isinstance(data, dict) or "history" not in data or "epoch" not in data:
            raise ArgumentError(
                "History.from_dict: expected a dict with 'history' and 'epoch', as from History.to_dict(), got "
                f"{type(data).__name__}{' with keys ' + str(sorted(data)) if isinstance(data, dict) else ''}"
            )
        history = cls()
        history.history = {str(key): list(values) for key, values in data["history"].items()}
        history.epoch = [int(e) for e in data["epoch"]]
        history.stop_reason = data.get("stop_reason")
        history.stopped_epoch = data.get("stopped_epoch")
        history.best_epoch = data.get("best_epoch")
        history.params = dict(data.get("params") or {})
        history.diagnosis = [dict(item) for item in data.get("diagnosis") or []]
        return history

    def to_csv(self, path: str | os.PathLike[str], separator: str = ",") -> None:
        """Write one row per epoch: 'epoch' (0-based), then every key in the order first recorded."""
        keys = list(self.history)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter=separator)
            writer.writerow(["epoch", *keys])
            for row, epoch in enumerate(self.epoch):
                writer.writerow([epoch, *(self.history[key][row] for key in keys)])

    def __repr__(self) -> str:
        parts = [f"epochs={len(self.epoch)}"]
        if self.stop_reason is not None:
            parts.append(f"stop_reason={self.stop_reason!r}")
        if self.best_epoch is not None:
            parts.append(f"best_epoch={self.best_epoch}")
        problems = sum(1 for item in self.diagnosis if item.get("severity") == "warning")
        if problems:
            parts.append(f"doctor: {problems} problem{'s' if problems > 1 else ''}")
        shown = [key for key in self.history if key != "epoch_time"]
        if self.epoch and shown:
            last = ", ".join(f"{key}={_short(self.history[key][-1])}" for key in shown)
            parts.append(f"last: {last}")
        return f"History({', '.join(parts)})"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
