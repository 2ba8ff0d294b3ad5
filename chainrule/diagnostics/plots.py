"""The doctor's plots, as PNG files: loss curves, the learning rate, per-layer gradient norms and update ratios
over time, and the lr_find curve.

matplotlib is an optional extra (`pip install "chainrule[plot]"`), imported only when a plot is drawn; without it
these functions raise MissingDependencyError, which says what to install. Figures are drawn through matplotlib's
object API (`Figure` and the Agg canvas), never pyplot: no window opens and the caller's backend is untouched.

A History is taken as the object `fit` returns, its `to_dict()`, or a dict of curves (key -> one value per
epoch); the doctor's measurements as a Doctor or its `to_dict()` (diagnosis.json's 'doctor' entry).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from chainrule.errors import ArgumentError, MissingDependencyError

__all__ = ["plot_gradients", "plot_loss", "plot_lr", "plot_lr_find", "save_plots"]


def _figure(owner: str, width: float, height: float, panels: int = 1) -> tuple[Any, Any]:
    """(figure, axes list) of `panels` side by side, on an Agg canvas."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            f'{owner}: plots need matplotlib, an optional extra: pip install "chainrule[plot]" '
            "(or pip install matplotlib)"
        ) from None
    figure = Figure(figsize=(width * panels, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def _save(figure: Any, path: str | os.PathLike[str]) -> str:
    target = os.fspath(path)
    figure.savefig(target, dpi=100, format="png")
    return target


def _finite(values: Sequence[Any]) -> list[float]:
    out = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        out.append(number if math.isfinite(number) else math.nan)
    return out


def _curves(history: Any, owner: str) -> tuple[Mapping[str, Sequence[Any]], list[int]]:
    """(curves, 1-based epoch numbers) of a History, its to_dict(), or a dict of curves."""
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        curves, epochs = history.history, list(getattr(history, "epoch", []) or [])
    elif isinstance(history, Mapping) and isinstance(history.get("history"), Mapping):
        curves, epochs = history["history"], list(history.get("epoch") or [])
    elif isinstance(history, Mapping):
        curves, epochs = history, []
    else:
        raise ArgumentError(
            f"{owner}: expected a History, its to_dict() or a dict of curves, got {type(history).__name__}"
        )
    length = max((len(v) for v in curves.values()), default=0)
    if len(epochs) != length:
        epochs = list(range(length))
    return curves, [e + 1 for e in epochs]


def _measurements(doctor: Any, owner: str) -> dict[str, Any]:
    data = doctor.to_dict() if hasattr(doctor, "to_dict") and hasattr(doctor, "trace") else doctor
    if not isinstance(data, Mapping) or "trace" not in data or "layers" not in data:
        raise ArgumentError(f"{owner}: expected a Doctor or its to_dict(), got {type(doctor).__name__}")
    return dict(data)


def plot_loss(history: Any, path: str | os.PathLike[str], title: str | None = None) -> str:
    """The training and validation loss per epoch (log scale when they span more than a factor of 20)."""
    curves, epochs = _curves(history, "plot_loss")
    if "loss" not in curves:
        raise ArgumentError(f"plot_loss: the history has no 'loss' curve; its keys are {sorted(curves)}")
    figure, (ax,) = _figure("plot_loss", 6.0, 4.0)
    values = _finite(curves["loss"])
    ax.plot(epochs, values, label="train", color="C0", marker="." if len(values) < 40 else None)
    if "val_loss" in curves:
        ax.plot(epochs, _finite(curves["val_loss"]), label="validation", color="C1", linestyle="--")
    known = [v for v in values if v > 0 and math.isfinite(v)]
    if known and max(known) / min(known) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title or "loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(figure, path)


def plot_lr(history: Any, path: str | os.PathLike[str]) -> str:
    """The learning rate of each epoch (as fit logs it, 'lr')."""
    curves, epochs = _curves(history, "plot_lr")
    if "lr" not in curves:
        raise ArgumentError(f"plot_lr: the history has no 'lr' curve; its keys are {sorted(curves)}")
    figure, (ax,) = _figure("plot_lr", 6.0, 3.5)
    values = _finite(curves["lr"])
    ax.plot(epochs, values, color="C2", marker="." if len(values) < 40 else None, drawstyle="steps-post")
    known = [v for v in values if v > 0]
    if known and max(known) / min(known) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("learning rate")
    ax.grid(True, alpha=0.3)
    return _save(figure, path)


def plot_gradients(doctor: Any, path: str | os.PathLike[str]) -> str:
    """Per-layer gradient norms (left) and update-to-weight ratios (right) at the doctor's sampled steps, log
    scale; the dotted line marks the 1e-3 update ratio of healthy training."""
    data = _measurements(doctor, "plot_gradients")
    layers = [item["name"] if isinstance(item, Mapping) else str(item) for item in data["layers"]]
    kinds = [item.get("kind", "") if isinstance(item, Mapping) else "" for item in data["layers"]]
    trace = data["trace"]
    if not trace:
        raise ArgumentError("plot_gradients: the doctor has no sampled steps yet (train first)")
    figure, (left, right) = _figure("plot_gradients", 6.0, 4.2, panels=2)
    steps = [record["step"] + 1 for record in trace]
    colours = _colours(len(layers))
    for index, (name, kind) in enumerate(zip(layers, kinds)):
        label = f"{name} ({kind})" if kind else name
        grads = [_positive(record["grad_norm"], index) for record in trace]
        left.plot(steps, grads, label=label, color=colours[index])
        ratios = [_positive(record.get("update_ratio"), index) for record in trace]
        right.plot(steps, ratios, label=label, color=colours[index])
    right.axhline(1e-3, color="0.4", linestyle=":", linewidth=1.0)
    for ax, title in ((left, "gradient norm per layer"), (right, "update / weight norm per layer")):
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    left.legend(fontsize=7, ncol=1 if len(layers) <= 10 else 2)
    return _save(figure, path)


def _positive(values: Sequence[Any] | None, index: int) -> float:
    if not values or index >= len(values) or values[index] is None:
        return math.nan
    value = float(values[index])
    return value if value > 0 and math.isfinite(value) else math.nan


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        return [f"C{i}" for i in range(n)]
    cmap = colormaps["viridis"]
    return [cmap(i / max(1, n - 1)) for i in range(n)]


def plot_lr_find(result: Any, path: str | os.PathLike[str]) -> str:
    """The smoothed loss against the learning rate (log axis) of an lr_find run; the suggestion marked."""
    lrs = list(getattr(result, "lrs", None) or (result.get("lrs") if isinstance(result, Mapping) else []) or [])
    losses = list(
        getattr(result, "losses", None) or (result.get("losses") if isinstance(result, Mapping) else []) or []
    )
    if not lrs or len(lrs) != len(losses):
        raise ArgumentError("plot_lr_find: expected an LRFinderResult (or its to_dict()) with lrs and losses")
    suggested = getattr(result, "suggested_lr", None)
    if suggested is None and isinstance(result, Mapping):
        suggested = result.get("suggested_lr")
    figure, (ax,) = _figure("plot_lr_find", 6.0, 4.0)
    ax.plot(lrs, _finite(losses), color="C0")
    if suggested is not None:
        nearest = min(range(len(lrs)), key=lambda i: abs(math.log(lrs[i]) - math.log(suggested)))
        ax.scatter([lrs[nearest]], [losses[nearest]], color="C3", zorder=3, label=f"suggested lr {suggested:.3g}")
        ax.legend()
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    ax.set_title("learning-rate range test")
    ax.grid(True, alpha=0.3)
    return _save(figure, path)


PLOTS = ("loss", "lr", "gradients")


def save_plots(
    folder: str | os.PathLike[str], history: Any = None, doctor: Any = None, which: Sequence[str] = PLOTS
) -> list[str]:
    """Write loss.png and lr.png (from `history`) and gradients.png (from `doctor`, default `history.doctor`)
    into `folder`, those of them named in `which` and that there is data for; the paths written."""
    unknown = [name for name in which if name not in PLOTS]
    if unknown:
        raise ArgumentError(f"save_plots: which may name {PLOTS}, got {unknown}")
    directory = os.fspath(folder)
    os.makedirs(directory, exist_ok=True)
    written = []
    if doctor is None and history is not None:
        doctor = getattr(history, "doctor", None)
    if history is not None:
        curves, _ = _curves(history, "save_plots")
        if "loss" in which and curves.get("loss"):
            written.append(plot_loss(history, os.path.join(directory, "loss.png")))
        if "lr" in which and curves.get("lr"):
            written.append(plot_lr(history, os.path.join(directory, "lr.png")))
    if "gradients" in which and doctor is not None and _measurements(doctor, "save_plots")["trace"]:
        written.append(plot_gradients(doctor, os.path.join(directory, "gradients.png")))
    return written
