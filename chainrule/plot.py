"""Training curves as a PNG: `plot_history(history, path)`.

matplotlib is an optional extra (`pip install "chainrule[plot]"`), imported only when a plot is drawn; without
it `plot_history` raises MissingDependencyError, which says what to install. The figure is drawn through
matplotlib's object API (`Figure` and the Agg canvas), never pyplot, so it neither opens a window nor changes the
caller's backend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from chainrule.errors import ArgumentError, MissingDependencyError
from chainrule.train.history import History

__all__ = ["plot_history"]

# Keys of the History that are bookkeeping, not curves.
_NOT_CURVES = frozenset({"lr", "epoch_time"})


def _figure_class() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            'plot_history: drawing curves needs matplotlib, an optional extra: pip install "chainrule[plot]"'
        ) from None
    return Figure, FigureCanvasAgg


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) if isinstance(v, int | float) and math.isfinite(v) else math.nan for v in values]


def plot_history(
    history: History | Mapping[str, Sequence[float]],
    path: str | os.PathLike[str],
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> str:
    """Write the training curves of `history` to the PNG file `path`; return the path written.

    history: a History (from `chainrule.train.fit`) or its `.history` dict (key -> one value per epoch).
    The left panel shows 'loss' and 'val_loss'; one panel per metric follows (train solid, validation dashed),
    for `metrics` (names without 'val_'), by default every key the History logged besides the loss, 'lr' and
    'epoch_time'. The epoch that early stopping restored, when there is one, is marked with a dotted line.
    """
    if isinstance(history, History):
        curves, epochs, best_epoch = history.history, list(history.epoch), history.best_epoch
    elif isinstance(history, Mapping):
        curves, epochs, best_epoch = history, None, None
    else:
        raise ArgumentError(f"plot_history: expected a History or a dict of curves, got {type(history).__name__}")
    if "loss" not in curves:
        raise ArgumentError(f"plot_history: the history has no 'loss' curve; its keys are {sorted(curves)}")
    if metrics is None:
        metrics = [key for key in curves if key != "loss" and not key.startswith("val_") and key not in _NOT_CURVES]
    else:
        missing = [name for name in metrics if name not in curves]
        if missing:
            raise ArgumentError(f"plot_history: no curve named {missing}; the history holds {sorted(curves)}")
    figure_class, canvas_class = _figure_class()

    n = len(curves["loss"])
    x = [e + 1 for e in epochs] if epochs else list(range(1, n + 1))  # 1-based, as the progress lines count
    panels = ["loss", *metrics]
    figure = figure_class(figsize=(5.0 * len(panels), 3.8), layout="constrained")
    canvas_class(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, name in zip(axes, panels):
        ax.plot(x, _finite(curves[name]), label="train", color="C0", marker="." if n < 30 else None)
        if "val_" + name in curves:
            ax.plot(x, _finite(curves["val_" + name]), label="validation", color="C1", linestyle="--")
        if best_epoch is not None:
            ax.axvline(best_epoch + 1, color="0.5", linestyle=":", linewidth=1.0, label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    target = os.fspath(path)
    figure.savefig(target, dpi=100, format="png")
    return target
