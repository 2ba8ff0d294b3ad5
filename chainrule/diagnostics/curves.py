"""What the loss curves say: plateaus, slow convergence, divergence and overfitting, read from the per-epoch
training loss (and validation loss), as pure functions of the curves, so that a run's History alone can be
diagnosed again later (`chainrule doctor RUN_FOLDER`).

Every rule looks at a window of the last `patience` epochs:
- rate: the mean relative decrease of the training loss per epoch over the window,
  (loss[e - patience] - loss[e]) / (patience * |loss[e - patience]|).
- plateau: |rate| < plateau_tol while the loss is still above `stall_level` times its reference (the loss of
  the first training step, or of the first epoch when the step is not known): the loss stalls far above where
  it started from, which a healthy run leaves behind within a few epochs.
- slow convergence: plateau_tol <= rate < slow_rate, with the loss above the same level: it falls, but at a
  pace that would need about ln(2) / rate more epochs just to halve it.
- divergence: the loss has risen over the window by more than slow_rate per epoch and is above its reference.
- overfitting: the validation loss, averaged over `patience` epochs, has risen for at least `patience` epochs
  since its best, by more than `overfit_rise` (relative), while the training loss (averaged likewise) kept
  falling; the gap between them has widened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chainrule.diagnostics.findings import Finding

__all__ = ["CurveSettings", "analyze_curves"]

SUGGEST_PLATEAU = (
    "a learning-rate schedule (ReduceLROnPlateau, cosine or one-cycle), momentum or Adam, warm restarts, or a new "
    "initialisation (Doctor(treat='restart') does that automatically); check that the inputs are standardised "
    "and that the layers' init suits their activations (He/Kaiming for ReLU, Xavier for tanh/sigmoid)."
)
SUGGEST_SLOW = (
    "a higher learning rate (chainrule.diagnostics.lr_find proposes one), momentum or Adam, standardised inputs, "
    "or normalisation layers (BatchNorm, LayerNorm)."
)
SUGGEST_DIVERGENCE = (
    "a learning rate 10x lower (chainrule.diagnostics.lr_find proposes one), gradient clipping "
    "(chainrule.nn.utils.clip_grad_norm_), or a warm-up of the learning rate."
)
SUGGEST_OVERFITTING = (
    "weight decay (the optimizer's weight_decay=), dropout, more training data or data augmentation, or a "
    "smaller model; EarlyStopping(restore_best_weights=True) keeps the best epoch's weights."
)


@dataclass
class CurveSettings:
    patience: int = 3
    plateau_tol: float = 1e-3
    slow_rate: float = 1e-2
    stall_level: float = 0.5
    overfit_rise: float = 0.2


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]


def analyze_curves(
    loss: Sequence[float],
    val_loss: Sequence[float] | None = None,
    reference: float | None = None,
    settings: CurveSettings | None = None,
    start: int = 0,
) -> list[Finding]:
    """The findings of the curves up to their last epoch (the epoch index is len(loss) - 1).

    loss, val_loss: one value per epoch. reference: the loss the run started from (its first step's), by
    default loss[start]. start: the first epoch of the current attempt (after a restart), the windows never reach
    before it.
    """
    settings = settings or CurveSettings()
    findings: list[Finding] = []
    epoch = len(loss) - 1
    window = settings.patience
    losses = [float(v) for v in loss]
    if epoch - start < window or not all(math.isfinite(v) for v in losses[epoch - window :]):
        return findings + _overfitting(losses, val_loss, settings, start)
    if reference is None or not math.isfinite(reference):
        reference = losses[start]
    now, then = losses[epoch], losses[epoch - window]
    rate = (then - now) / (window * abs(then)) if then != 0 else 0.0
    high = reference > 0 and now > settings.stall_level * reference
    data = {"loss": now, "reference": reference, "rate_per_epoch": rate, "window": window}
    if high and abs(rate) < settings.plateau_tol:
        findings.append(
            Finding(
                "plateau",
                f"the training loss has stalled at {now:.4g} ({now / reference:.0%} of the {reference:.4g} it "
                f"started from) for {window} epochs (change {-rate:+.2%} per epoch): the run is stuck on a plateau "
                "or in a poor minimum, if the data allow a lower loss.",
                SUGGEST_PLATEAU,
                epoch=epoch,
                data=data,
            )
        )
    elif high and settings.plateau_tol <= rate < settings.slow_rate:
        findings.append(
            Finding(
                "slow_convergence",
                f"the training loss falls by only {rate:.2%} per epoch over the last {window} epochs and is still "
                f"{now:.4g} ({now / reference:.0%} of the {reference:.4g} it started from): at this pace it needs "
                f"about {math.log(2) / rate:.0f} more epochs to halve.",
                SUGGEST_SLOW,
                epoch=epoch,
                data=data,
            )
        )
    elif rate < -settings.slow_rate and now > reference:
        findings.append(
            Finding(
                "divergence",
                f"the training loss rose from {then:.4g} to {now:.4g} over the last {window} epochs, above the "
                f"{reference:.4g} it started from: the learning rate is likely too high.",
                SUGGEST_DIVERGENCE,
                epoch=epoch,
                data=data,
            )
        )
    return findings + _overfitting(losses, val_loss, settings, start)


def _smoothed(values: list[float], window: int) -> list[float]:
    """The mean of each run of `window` epochs ending at each epoch (NaN until there are `window` values)."""
    out = []
    for end in range(len(values)):
        part = values[max(0, end - window + 1) : end + 1]
        out.append(sum(part) / len(part) if len(part) == window and all(map(math.isfinite, part)) else math.nan)
    return out


def _overfitting(
    losses: list[float], val_loss: Sequence[float] | None, settings: CurveSettings, start: int
) -> list[Finding]:
    """Compares the validation loss averaged over `patience` epochs (one noisy epoch is not a trend) at its best
    and now; the training loss and the gap likewise."""
    if not val_loss:
        return []
    window = settings.patience
    values = [float(v) for v in val_loss]
    epoch = len(values) - 1
    if epoch >= len(losses) or epoch - start < 2 * window - 1:
        return []
    val_mean = _smoothed(values, window)
    train_mean = _smoothed(losses, window)
    scored = [(v, e) for e, v in enumerate(val_mean) if e >= start + window - 1 and math.isfinite(v)]
    if not scored or not math.isfinite(val_mean[epoch]) or not math.isfinite(train_mean[epoch]):
        return []
    best_val, best = min(scored)
    if epoch - best < window or best_val <= 0:
        return []
    now_val = val_mean[epoch]
    rise = now_val / best_val - 1.0
    train_then, train_now = train_mean[best], train_mean[epoch]
    gap_then, gap_now = best_val - train_then, now_val - train_now
    if rise <= settings.overfit_rise or not train_now < train_then or not gap_now > gap_then:
        return []
    first = best - window + 2
    return [
        Finding(
            "overfitting",
            f"the validation loss (mean of {window} epochs) rose from {best_val:.4g} (epochs {first}-{best + 1}) "
            f"to {now_val:.4g} (+{rise:.0%}) while the training loss fell from {train_then:.4g} to {train_now:.4g}; "
            f"the gap widened from {gap_then:.4g} to {gap_now:.4g}: the model memorises the training data.",
            SUGGEST_OVERFITTING,
            epoch=epoch,
            data={
                "best_epoch": best,
                "best_val_loss": best_val,
                "val_loss": now_val,
                "train_loss": train_now,
                "gap": gap_now,
                "gap_at_best": gap_then,
                "rise": rise,
            },
        )
    ]


def stopped_by_overfitting(
    losses: Sequence[float], val_loss: Sequence[float], settings: CurveSettings, start: int = 0
) -> Finding | None:
    """For a run that early stopping ended: overfitting when the last validation loss is above its best by more
    than half of `overfit_rise` while the training loss fell since that best epoch. The raw values, and half the
    rise, because early stopping has already seen `patience` epochs without improvement: a stopped run may be too
    short for the averaged rule."""
    values = [float(v) for v in val_loss]
    train = [float(v) for v in losses]
    scored = [(v, e) for e, v in enumerate(values) if e >= start and math.isfinite(v)]
    if not scored or len(train) != len(values):
        return None
    best_val, best = min(scored)
    epoch = len(values) - 1
    now_val, now_train = values[epoch], train[epoch]
    if best == epoch or best_val <= 0 or not math.isfinite(now_val) or not math.isfinite(now_train):
        return None
    rise = now_val / best_val - 1.0
    if rise <= settings.overfit_rise / 2 or not now_train < train[best]:
        return None
    return Finding(
        "overfitting",
        f"early stopping ended the run: the validation loss rose from {best_val:.4g} (epoch {best + 1}) to "
        f"{now_val:.4g} (+{rise:.0%}) while the training loss fell from {train[best]:.4g} to {now_train:.4g}; "
        "the model had begun to memorise the training data.",
        SUGGEST_OVERFITTING,
        epoch=epoch,
        data={
            "best_epoch": best,
            "best_val_loss": best_val,
            "val_loss": now_val,
            "train_loss": now_train,
            "gap": now_val - now_train,
            "gap_at_best": best_val - train[best],
            "rise": rise,
        },
    )
