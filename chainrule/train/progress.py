"""Progress display for `fit`: a tqdm bar per epoch on a terminal, one plain line per epoch elsewhere.

verbose=0: nothing. verbose=1: a bar on stderr when stderr is a terminal (the running loss in its postfix,
refreshed a few times a second, not at every batch), else one line per epoch on stdout. verbose=2: one line per
epoch on stdout, always (as Keras's verbose=2).
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress", "format_logs"]

_REFRESH_SECONDS = 0.25


def format_logs(logs: dict[str, Any]) -> str:
    """'loss: 0.1234 - accuracy: 0.9500 - ...' (epoch_time and lr in their own formats)."""
    parts = []
    for key, value in logs.items():
        if key == "epoch_time":
            continue
        if isinstance(value, float):
            parts.append(f"{key}: {value:.4g}" if key == "lr" else f"{key}: {value:.4f}")
        else:
            parts.append(f"{key}: {value}")
    return " - ".join(parts)


class Progress:
    """One run's display. `mode`: 'bar', 'line' or 'none', chosen from `verbose` and the terminal."""

    def __init__(self, verbose: int, epochs: int) -> None:
        if verbose <= 0:
            self.mode = "none"
        elif verbose == 1 and _stderr_is_terminal():
            self.mode = "bar"
        else:
            self.mode = "line"
        self.epochs = epochs
        self.bar: Any = None
        self._next_refresh = 0.0

    @property
    def wants_batches(self) -> bool:
        """Whether `batch()` needs calling after each training batch."""
        return self.mode == "bar"

    def epoch_begin(self, epoch: int, steps: int | None) -> None:
        if self.mode != "bar":
            return
        from tqdm import tqdm

        self.bar = tqdm(
            total=steps,
            desc=f"Epoch {epoch + 1}/{self.epochs}",
            unit="batch",
            leave=True,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self._next_refresh = time.perf_counter() + _REFRESH_SECONDS

    def batch(self, running_loss: float) -> None:
        bar = self.bar
        bar.update(1)
        now = time.perf_counter()
        if now >= self._next_refresh:
            bar.set_postfix_str(f"loss={running_loss:.4f}", refresh=False)
            self._next_refresh = now + _REFRESH_SECONDS

    def epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.mode == "bar" and self.bar is not None:
            shown = {k: v for k, v in logs.items() if k not in ("epoch_time", "lr")}
            self.bar.set_postfix_str(format_logs(shown).replace(": ", "=").replace(" - ", ", "), refresh=True)
            self.close()
        elif self.mode == "line":
            seconds = logs.get("epoch_time", 0.0)
            print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - {format_logs(logs)}", flush=True)

    def message(self, text: str) -> None:
        if self.mode == "none":
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
