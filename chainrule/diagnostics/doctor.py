"""The training doctor: watches a training run and names what goes wrong with backpropagation.

The seeds' four limitations of backpropagation, and the doctor's evidence for each:
- poor local minima and plateaus: the loss stalls far above where it started ('plateau'); softmax outputs
  saturated on wrong classes ('saturated_outputs'); opt-in treatments: ReduceLROnPlateau or restarts from new
  initialisations keeping the best weights (`treat=`).
- vanishing and exploding gradients: per-layer gradient norms, weight norms and update-to-weight ratios, and the
  RMS of the gradient that backpropagation brings to each layer's output, sampled every `sample_every` steps;
  the ratio of that gradient at the first layer to the one at the last, and the layer from which it falls below
  (or rises above) a tenth (ten times) of the last layer's, name vanishing or exploding gradients and where they
  start ('vanishing_gradients', 'exploding_gradients'); so do a first loss far above a uniform guess's (a badly
  scaled initialisation), an update larger than the weights, and a spike of the gradient norm; a loss that
  climbs ('divergence'); NaN or Inf in the loss or in a gradient, found in the step where it first appears, with
  the op and the layer named ('nonfinite'), the step not taken.
- slow convergence: the loss's rate of decrease over its recent epochs ('slow_convergence').
- overfitting: the train/validation gap and its trend ('overfitting').
Dead ReLU units (never firing over an epoch's sampled batches) are counted per layer ('dead_units').

`fit` runs a Doctor by default (`fit(..., doctor=False)` turns it off; `doctor=Doctor(...)` sets it up) and
stores its findings in `History.diagnosis`. In a hand-written loop, call its hooks:

    doctor = Doctor()
    doctor.begin(model, optimizer, loss_fn)
    for epoch in range(epochs):
        for x, y in loader:
            doctor.batch_begin()
            optimizer.zero_grad()
            output = model(x)
            loss = loss_fn(output, y)
            value = loss.item()
            if not math.isfinite(value):
                doctor.nonfinite_loss(value, (x,), y, loss)
                break
            loss.backward()
            if not doctor.after_backward(value, (x,), output, y):
                break  # a NaN/Inf gradient: the step is not taken
            optimizer.step()
            doctor.after_step()
        doctor.epoch_end(epoch, {"loss": epoch_loss, "val_loss": val_loss})
    print(doctor.report(doctor.end()))

Cost: on an ordinary step, a step counter, a comparison of the loss, and (with `check_finite`) a hook on each
parameter that takes the squared norm of its gradient (one BLAS dot product) as backward delivers it, while it
is still in the cache; every `sample_every` steps, the per-layer norms, a strided copy of the weights (for the
update ratio) and a look at the layers' outputs and the gradients reaching them. benchmarks/doctor_overhead.py
measures it on W1: about 3% of the step time at the defaults.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.diagnostics.curves import SUGGEST_DIVERGENCE, CurveSettings, analyze_curves, stopped_by_overfitting
from chainrule.diagnostics.findings import Finding, format_report
from chainrule.diagnostics.layers import (
    Layer,
    activation_modules,
    describe,
    in_call_order,
    parameter_layers,
    tensors_in,
)
from chainrule.diagnostics.nonfinite import Origin, forward_origin, locate_in_backward, locate_in_forward
from chainrule.errors import ArgumentError
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["Doctor"]

_dot = np.dot
_UPDATE_SAMPLE = 4096
_SPIKE_WINDOW = 50
MAX_TRACE = 2048
_isfinite = math.isfinite

SUGGEST_VANISHING = (
    "ReLU-family activations (ReLU, LeakyReLU, GELU) instead of sigmoid/tanh in hidden layers, He/Kaiming init "
    "for ReLU or Xavier init for tanh (chainrule.nn.init), normalisation layers (BatchNorm, LayerNorm), residual "
    "connections, or a shallower network."
)
SUGGEST_EXPLODING = (
    "a lower learning rate, gradient clipping (chainrule.nn.utils.clip_grad_norm_), a scaled initialisation "
    "(He/Kaiming or Xavier, chainrule.nn.init) and normalisation layers (BatchNorm, LayerNorm)."
)
SUGGEST_DEAD = (
    "He/Kaiming init with zero biases (chainrule.nn.init.kaiming_normal_), LeakyReLU, ELU or GELU instead of "
    "ReLU, a lower learning rate (one large step can push units dead for good), or BatchNorm before the ReLU."
)
SUGGEST_SATURATED = (
    "a lower learning rate, a smaller initialisation of the last layer, standardised inputs, or label smoothing "
    "(CrossEntropyLoss(label_smoothing=0.1)); a saturated softmax passes almost no gradient to its confident, "
    "wrong outputs' logits."
)
SUGGEST_SLOW_LR = (
    "a higher learning rate (chainrule.diagnostics.lr_find proposes one), or Adam, whose steps do not scale with "
    "the gradient's size."
)
_OP_ADVICE = {
    "log": "a log of 0 or of a negative number: add a small epsilon (log(x + 1e-8)), clamp the input, or use a "
    "loss that works on logits (CrossEntropyLoss, BCEWithLogitsLoss)",
    "log1p": "a log1p of a number <= -1: clamp the input",
    "div": "a division by 0 (or inf / inf): add a small epsilon to the denominator",
    "reciprocal": "a reciprocal of 0: add a small epsilon",
    "sqrt": "a square root of a negative number, or its gradient at 0 (infinite): clamp the input to a small "
    "positive value (sqrt(x + 1e-12))",
    "rsqrt": "an rsqrt of 0 or of a negative number: add a small epsilon",
    "pow": "a power of 0 or of a negative number (or its gradient at 0): clamp the base",
    "exp": "an exp that overflows: clamp its input, or use a stable form (logsumexp, softmax, log_softmax)",
}
_DEFAULT_ADVICE = (
    "a lower learning rate, gradient clipping (chainrule.nn.utils.clip_grad_norm_), and a check of the data for "
    "NaN or extreme values"
)
TREATMENTS = (None, "reduce_lr", "restart")


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and _isfinite(v)]
    return statistics.median(values) if values else None


def _check(owner: str, name: str, value: Any, low: float, high: float | None = None, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    valid = isinstance(value, kinds) and not isinstance(value, bool) and not math.isnan(value)
    valid = valid and value >= low and (high is None or value <= high)
    if not valid:
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ArgumentError(f"{owner}: {name} must be {'an int' if integer else 'a number'} {bound}, got {value!r}")


class Doctor:
    """Watches a training run and names its problems (see the module docstring for the hooks and the findings).

    sample_every: take the per-layer measurements (norms, update ratios, ReLU outputs, softmax saturation) on
    every this many training steps (and on the first); between samples a step costs the doctor only a counter
    and, with `check_finite`, a dot product per parameter. check_finite: check every step's gradient before the
    optimizer uses it (through hooks on the parameters, registered in `begin` and removed in `end`/`detach`); a
    NaN/Inf gradient stops the run without the step.

    `trace` keeps the sampled measurements (per-layer gradient norms, weight norms, update ratios, RMS of the
    gradient reaching each layer's output and of its output), at most MAX_TRACE records spread over the run.

    Thresholds: vanishing_ratio / exploding_ratio: the RMS of the gradient that reaches the first layer's output
    over the one that reaches the last layer's (the median over an epoch's samples), below / above which
    gradients vanish / explode. update_ratio_high: an update larger than this many times the weights' own norm
    (one step) is exploding. update_ratio_low: when the loss is slow or stalled and the updates change the
    weights by less than this fraction in every layer (median over an epoch), the learning rate is too small.
    spike_factor: a sampled gradient norm this many times the median of the recent samples is a spike.
    diverge_factor: a step's loss this many times the first step's is divergence. init_loss_factor: a
    classifier's first loss this many times ln(classes) (a uniform guess's) is a badly scaled initialisation.
    dead_threshold: the fraction of
    a layer's ReLU units that never fire in an epoch from which they are reported. saturation: the softmax
    probability above which an output is saturated; saturated_fraction: the share of sampled predictions that
    are saturated and wrong from which it is reported. patience, plateau_tol, slow_rate, stall_level,
    overfit_rise: the loss curves' rules (chainrule.diagnostics.curves).

    treat: None (diagnose only), 'reduce_lr' (a ReduceLROnPlateau with factor `lr_factor` and patience
    `patience` on 'val_loss', or 'loss' without validation) or 'restart' (when the loss stalls on a plateau,
    re-initialise every module with `reset_parameters()` and the optimizer's state, up to `max_restarts` times;
    at the end of the run the best attempt's weights are kept; a run resumed from a checkpoint does not have the
    weights of the attempts before it).
    """

    def __init__(
        self,
        sample_every: int = 20,
        check_finite: bool = True,
        *,
        vanishing_ratio: float = 1e-4,
        exploding_ratio: float = 1e4,
        update_ratio_high: float = 1.0,
        update_ratio_low: float = 1e-4,
        spike_factor: float = 1e3,
        diverge_factor: float = 5.0,
        init_loss_factor: float = 3.0,
        dead_threshold: float = 0.5,
        saturation: float = 0.999,
        saturated_fraction: float = 0.25,
        patience: int = 3,
        plateau_tol: float = 1e-3,
        slow_rate: float = 1e-2,
        stall_level: float = 0.5,
        overfit_rise: float = 0.2,
        treat: str | None = None,
        max_restarts: int = 3,
        lr_factor: float = 0.1,
    ) -> None:
        name = "Doctor"
        _check(name, "sample_every", sample_every, 1, integer=True)
        _check(name, "vanishing_ratio", vanishing_ratio, 0.0, 1.0)
        _check(name, "exploding_ratio", exploding_ratio, 1.0)
        _check(name, "update_ratio_high", update_ratio_high, 0.0)
        _check(name, "update_ratio_low", update_ratio_low, 0.0)
        _check(name, "spike_factor", spike_factor, 1.0)
        _check(name, "diverge_factor", diverge_factor, 1.0)
        _check(name, "init_loss_factor", init_loss_factor, 1.0)
        _check(name, "dead_threshold", dead_threshold, 0.0, 1.0)
        _check(name, "saturation", saturation, 0.5, 1.0)
        _check(name, "saturated_fraction", saturated_fraction, 0.0, 1.0)
        _check(name, "patience", patience, 1, integer=True)
        _check(name, "plateau_tol", plateau_tol, 0.0)
        _check(name, "slow_rate", slow_rate, 0.0)
        _check(name, "stall_level", stall_level, 0.0)
        _check(name, "overfit_rise", overfit_rise, 0.0)
        _check(name, "max_restarts", max_restarts, 0, integer=True)
        _check(name, "lr_factor", lr_factor, 0.0, 1.0)
        if treat not in TREATMENTS:
            raise ArgumentError(f"Doctor: treat must be None, 'reduce_lr' or 'restart', got {treat!r}")
        self.sample_every = sample_every
        self.check_finite = bool(check_finite)
        self.vanishing_ratio = float(vanishing_ratio)
        self.exploding_ratio = float(exploding_ratio)
        self.update_ratio_high = float(update_ratio_high)
        self.update_ratio_low = float(update_ratio_low)
        self.spike_factor = float(spike_factor)
        self.diverge_factor = float(diverge_factor)
        self.init_loss_factor = float(init_loss_factor)
        self.dead_threshold = float(dead_threshold)
        self.saturation = float(saturation)
        self.saturated_fraction = float(saturated_fraction)
        self.curve_settings = CurveSettings(patience, plateau_tol, slow_rate, stall_level, overfit_rise)
        self.treat = treat
        self.max_restarts = max_restarts
        self.lr_factor = float(lr_factor)
        self.model: Module | None = None
        self._reset()

    # -- state --------------------------------------------------------------------------------------------
    def _reset(self) -> None:
        self.optimizer: Any = None
        self.loss_fn: Callable | None = None
        self.layers: list[Layer] = []
        self.step = 0  # the number of training steps begun
        self.epoch = 0
        self.initial_loss: float | None = None
        self.trace: list[dict[str, Any]] = []
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.lrs: list[float] = []
        self.stopped: Finding | None = None
        self.restarts = 0
        self._findings: dict[tuple[str, str | None], Finding] = {}
        self._params: list[Any] = []
        self._grad_hooks: list[Callable[[], None]] = []
        self._grad_sq: dict[int, float] | None = None  # id(param) -> squared norm of this step's gradient
        self._activations: list[tuple[str, Module]] = []
        self._handles: list[Any] = []
        self._order: list[str] = []
        self._order_known = False
        self._layer_stats: dict[str, list[float]] = {}  # name -> [out sq, out n, in sq, in n, delta sq, delta n]
        self._sampling = False
        self._countdown = 0
        self._diverge_at = math.inf
        self._first_of_attempt = False
        self._before: list[np.ndarray] | None = None
        self._strides: list[int] = []
        self._pending: dict[str, Any] | None = None
        self._norms: deque[float] = deque(maxlen=_SPIKE_WINDOW)  # the recent sampled gradient norms
        self._samples = 0
        self._trace_stride = 1
        self._new_epoch_buffers()
        self._attempt_start = 0
        self._best_value = math.inf
        self._best_weights: dict[str, np.ndarray] | None = None
        self._best_attempt = 0
        self._scheduler: Any = None
        self._optimizer_start: Any = None

    def _new_epoch_buffers(self) -> None:
        self._epoch_rms: list[list[float]] = []
        self._epoch_updates: list[list[float | None]] = []
        self._dead: dict[str, list[Any]] = {}
        self._saturated = [0, 0]  # saturated-and-wrong predictions, predictions

    # -- the hooks ----------------------------------------------------------------------------------------
    def begin(self, model: Module, optimizer: Any = None, loss_fn: Callable | None = None, history: Any = None) -> None:
        """Start watching a run of `model` (trained by `optimizer` on `loss_fn`). history: the History (or its
        `history` dict) of the epochs already done, when a run is resumed, so the curves' rules see them."""
        if not isinstance(model, Module):
            raise ArgumentError(f"Doctor.begin: model must be a chainrule.nn.Module, got {type(model).__name__}")
        self.detach()
        self._reset()
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.layers = parameter_layers(model)
        self._params = [p for layer in self.layers for p in layer.params]
        self._activations = activation_modules(model)
        if self.check_finite:
            # The gradient's check runs as backward hands each parameter its gradient, while the array is still in
            # the cache: read again after backward, the gradients of W1 cost 5x more to scan.
            self._grad_sq = {}
            self._grad_hooks = [param.register_hook(self._gradient_hook(id(param))) for param in self._params]
        curves = getattr(history, "history", history) or {}
        if isinstance(curves, dict) and curves.get("loss"):
            self.losses = [float(v) for v in curves["loss"]]
            self.val_losses = [float(v) for v in curves.get("val_loss", [math.nan] * len(self.losses))]
            self.lrs = [float(v) for v in curves.get("lr", [math.nan] * len(self.losses))]
            self.epoch = len(self.losses)
        if self.treat == "reduce_lr":
            if optimizer is None:
                raise ArgumentError("Doctor(treat='reduce_lr') needs the optimizer: begin(model, optimizer, ...)")
            from chainrule.optim.lr_scheduler import ReduceLROnPlateau

            self._scheduler = ReduceLROnPlateau(
                optimizer, mode="min", factor=self.lr_factor, patience=self.curve_settings.patience
            )
        elif self.treat == "restart":
            if optimizer is None:
                raise ArgumentError("Doctor(treat='restart') needs the optimizer: begin(model, optimizer, ...)")
            self._optimizer_start = copy.deepcopy(optimizer.state_dict())

    def batch_begin(self) -> None:
        """Before a training batch's forward pass: a new step's gradient record; on a sampled step, the forward
        hooks on the layers and the ReLUs (removed in after_backward)."""
        if self._grad_sq is not None:
            self._grad_sq = {}
        self.step += 1
        self._countdown -= 1
        if self._countdown > 0:
            self._sampling = False
            return
        self._countdown = self.sample_every
        self._sampling = True
        self._layer_stats = {}
        handles = self._handles
        for layer in self.layers:
            handles.append(layer.module.register_forward_hook(self._layer_hook(layer.name)))
        for name, module in self._activations:
            handles.append(module.register_forward_hook(self._activation_hook(name)))

    def after_backward(self, loss: float, inputs: tuple[Any, ...] = (), output: Any = None, target: Any = None) -> bool:
        """After backward, before the optimizer's step. Returns False when the gradient holds a NaN or an Inf:
        the step must not be taken (the finding is in `self.stopped`). loss: the batch's loss as a float;
        inputs, output, target: the batch's, for locating a non-finite gradient and measuring saturation."""
        if self.initial_loss is None:
            if _isfinite(loss):
                self.initial_loss = loss
                self._diverge_at = self.diverge_factor * loss if loss > 0 else math.inf
                self._first_of_attempt = self._sampling
        elif loss > self._diverge_at:
            self._diverging(loss)
        if self._sampling:
            self._remove_hooks()
            with np.errstate(all="ignore"):
                return self._sample(loss, inputs, output, target)
        if self._grad_sq is not None and not _isfinite(sum(self._grad_sq.values())):
            return self._nonfinite_gradient(loss, inputs, target)
        return True

    def after_step(self) -> None:
        """After the optimizer's step: on a sampled step, the update-to-weight ratios."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        before = self._before
        self._before = None
        updates: list[float | None] = []
        index = 0
        with np.errstate(all="ignore"):
            for layer in self.layers:
                change = 0.0
                size = 0.0
                for param in layer.params:
                    old = before[index]
                    index += 1
                    now = _every(param.data.ravel(), self._strides[index - 1])
                    size += float(_dot(old, old))
                    np.subtract(now, old, out=old)
                    change += float(_dot(old, old))
                ok = size > 0 and _isfinite(change) and _isfinite(size)
                updates.append(math.sqrt(change / size) if ok else None)
        record = pending["record"]
        record["update_ratio"] = updates
        self._epoch_updates.append(updates)
        self._check_updates(updates, record["step"])

    def nonfinite_loss(
        self, loss: float, inputs: tuple[Any, ...] = (), target: Any = None, loss_tensor: Any = None
    ) -> Finding:
        """A batch's loss is NaN or Inf (its backward and step must not run): find the op and the layer where the
        first non-finite value appears (by running the batch's forward again with labelling hooks), record the
        finding and return it."""
        self._remove_hooks()
        self._pending = None
        origin = None
        if inputs and self.model is not None:
            origin = locate_in_forward(self.model, tuple(inputs), self.loss_fn, target)
        if origin is None and isinstance(loss_tensor, Tensor):
            with np.errstate(all="ignore"):
                origin = forward_origin(loss_tensor)
        kind = "NaN" if math.isnan(loss) else "Inf"
        where = f"; it first appears in the forward pass, {_origin_text(origin)}" if origin is not None else ""
        finding = Finding(
            "nonfinite",
            f"the loss of step {self.step} is {loss}{where}. Training stopped with the weights from before that step.",
            _advice(origin),
            layer=origin.layer if origin is not None else None,
            epoch=self.epoch,
            step=self.step - 1,
            data={"value": kind, "stage": "forward", **_origin_data(origin)},
        )
        self.stopped = self._add(finding)
        return self.stopped

    def epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> list[Finding]:
        """After an epoch (and its validation): the epoch-level diagnoses; returns the findings of this epoch.
        logs: 'loss' (the epoch's mean training loss), 'val_loss' when there is validation, 'lr'."""
        logs = logs or {}
        self.epoch = epoch
        self.losses.append(float(logs.get("loss", math.nan)))
        self.val_losses.append(float(logs.get("val_loss", math.nan)))
        self.lrs.append(float(logs.get("lr", math.nan)))
        found = self._gradient_findings(epoch) + self._dead_findings(epoch) + self._saturation_findings(epoch)
        has_val = any(_isfinite(v) for v in self.val_losses)
        found += analyze_curves(
            self.losses,
            self.val_losses if has_val else None,
            self.initial_loss,
            self.curve_settings,
            self._attempt_start,
        )
        slow = self._slow_updates(epoch, found)
        if slow:  # the loss creeps because the steps are tiny: that is the diagnosis, not a plateau
            found = [f for f in found if f.kind not in ("plateau", "slow_convergence")] + slow
        for finding in found:
            self._add(finding)
        self._treat(epoch, logs, found)
        self._new_epoch_buffers()
        self.epoch = epoch + 1
        return found

    def end(self, logs: dict[str, Any] | None = None, stop_reason: str | None = None) -> list[Finding]:
        """After the run: remove every hook, keep the best attempt's weights when restarts ran; the findings.
        stop_reason: why the run ended (fit's History.stop_reason); a run that early stopping ended while the
        validation loss rose and the training loss fell is named overfitting, however short."""
        self.detach()
        if self._epoch_rms or self._dead or self._saturated[1]:  # the samples of an epoch cut short (NaN, stop)
            partial = self._gradient_findings(self.epoch) + self._dead_findings(self.epoch)
            for finding in partial + self._saturation_findings(self.epoch):
                self._add(finding)
            self._new_epoch_buffers()
        self._settle(stop_reason)
        if self.treat == "restart" and self._best_weights is not None and self.model is not None:
            final = self._monitored(logs or {})
            if final is None or not final <= self._best_value:
                self.model.load_state_dict(self._best_weights)
                self._add(
                    Finding(
                        "treatment",
                        f"kept the weights of attempt {self._best_attempt + 1} (monitored loss "
                        f"{self._best_value:.4g}, better than the last attempt's {_fmt(final)}).",
                        severity="info",
                        epoch=self.epoch,
                    ),
                    key=("treatment", "best"),
                )
            self._best_weights = None
        return self.findings

    def _settle(self, stop_reason: str | None) -> None:
        """The curve findings as the run ended: overfitting that no longer holds at the last epoch was a passing
        bump of the validation loss and is dropped; a plateau or a slow stretch that the loss left behind becomes
        a note. A run that early stopping ended on a rising validation loss is overfitting, however short."""
        settings, start = self.curve_settings, self._attempt_start
        stopped = None
        if stop_reason == "early_stopping":
            stopped = stopped_by_overfitting(self.losses, self.val_losses, settings, start)
        if ("overfitting", None) in self._findings:
            has_val = any(_isfinite(v) for v in self.val_losses)
            still = has_val and any(
                f.kind == "overfitting" for f in analyze_curves(self.losses, self.val_losses, None, settings, start)
            )
            if not still and stopped is None:
                del self._findings[("overfitting", None)]
        elif stopped is not None:
            self._add(stopped)
        final = self.losses[-1] if self.losses else math.nan
        reference = self.initial_loss
        for kind in ("plateau", "slow_convergence"):
            found = self._findings.get((kind, None))
            if found is None or found.severity != "warning" or "learning rate is too small" in found.message:
                continue
            level = found.data.get("reference", reference)
            if _isfinite(final) and level and final <= settings.stall_level * level:
                found.severity = "info"
                found.message += f" It resolved later: the loss reached {final:.4g} by the last epoch."

    def detach(self) -> None:
        """Remove the doctor's hooks from the model and its parameters (end() does it too); safe at any time."""
        for remove in self._grad_hooks:
            remove()
        self._grad_hooks = []
        self._remove_hooks()
        self._pending = None
        self._before = None

    # -- results ------------------------------------------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        """Every finding so far, in the order first seen."""
        return list(self._findings.values())

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self._findings.values() if f.severity == "warning"]

    def report(self, findings: list[Finding] | None = None) -> str:
        """The findings as a few plain lines."""
        return format_report(self.findings if findings is None else findings)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        """Everything measured, as JSON data: the layers, the sampled trace (per-layer gradient norms, weight
        norms and update ratios over time), the epoch curves and the findings. What `save_run_diagnostics`
        writes as diagnosis.json."""
        return {
            "layers": [{"name": layer.name, "kind": layer.kind, "numel": layer.numel} for layer in self.layers],
            "sample_every": self.sample_every,
            "initial_loss": self.initial_loss,
            "steps": self.step,
            "trace": self.trace,
            "curves": {"loss": self.losses, "val_loss": self.val_losses, "lr": self.lrs},
            "findings": [f.to_dict() for f in self.findings],
        }

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs (saved in fit's checkpoints): the step count, the first loss, the restarts
        and the findings so far. The trace is not kept."""
        return {
            "step": self.step,
            "initial_loss": self.initial_loss,
            "restarts": self.restarts,
            "attempt_start": self._attempt_start,
            "findings": [f.to_dict() for f in self.findings],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state.get("step", 0))
        self.initial_loss = state.get("initial_loss")
        if self.initial_loss is not None and self.initial_loss > 0:
            self._diverge_at = self.diverge_factor * self.initial_loss
        self.restarts = int(state.get("restarts", 0))
        self._attempt_start = int(state.get("attempt_start", 0))
        self._findings = {}
        for item in state.get("findings", []):
            finding = Finding.from_dict(item)
            self._findings[(finding.kind, finding.layer)] = finding

    # -- measurements -------------------------------------------------------------------------------------
    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if not self._order_known and self._order:
            self.layers = in_call_order(self.layers, self._order)
            self._params = [p for layer in self.layers for p in layer.params]
            self._order_known = True

    def _gradient_hook(self, key: int) -> Callable[[np.ndarray], None]:
        """Adds the squared norm of a parameter's gradient, as backward delivers it, to this step's record."""

        def hook(grad: np.ndarray) -> None:
            flat = grad.ravel()
            with np.errstate(all="ignore"):  # an overflowing square is an exploding gradient, not an error here
                value = float(_dot(flat, flat))
            record = self._grad_sq
            if record is not None:
                record[key] = record.get(key, 0.0) + value

        return hook

    def _layer_hook(self, name: str) -> Callable[..., None]:
        """On a sampled step: the RMS of the layer's input and output, and a hook on the output for the RMS of
        the gradient that backpropagation brings to it (the 'delta' whose shrinking or growing from layer to
        layer is what vanishing and exploding gradients are)."""
        stats = self._layer_stats
        order = self._order

        def record_delta(grad: np.ndarray) -> None:
            flat = grad.ravel()
            entry = stats[name]
            with np.errstate(all="ignore"):
                entry[4] += float(_dot(flat, flat))
            entry[5] += flat.size

        def hook(module: Module, args: Any, output: Any) -> None:
            if not self._order_known and name not in order:
                order.append(name)
            out = next(iter(tensors_in(output)), None)
            if out is None or out.data.dtype.kind != "f":
                return
            entry = stats.get(name)
            if entry is None:
                entry = stats[name] = [0.0, 0, 0.0, 0, 0.0, 0]
            flat = out.data.ravel()
            # the input's size is needed only for the gains of the first step (the initial scale check)
            given = next(iter(tensors_in(args)), None) if self.initial_loss is None else None
            with np.errstate(all="ignore"):
                entry[0] += float(_dot(flat, flat))
                entry[1] += flat.size
                if given is not None and given.data.dtype.kind == "f":
                    flat = given.data.ravel()
                    entry[2] += float(_dot(flat, flat))
                    entry[3] += flat.size
            if out.requires_grad:
                out.register_hook(record_delta)

        return hook

    def _activation_hook(self, name: str) -> Callable[..., None]:
        dead = self._dead

        def hook(module: Module, args: Any, output: Any) -> None:
            if not isinstance(output, Tensor):
                return
            data = output.data
            if data.ndim < 2:
                return
            if data.ndim == 2:
                fired = (data > 0).any(axis=0)
            else:  # (N, C, ...): a unit is a channel, as for convolutions and BatchNorm
                fired = (data > 0).any(axis=tuple(i for i in range(data.ndim) if i != 1))
            entry = dead.get(name)
            if entry is None or entry[0].shape != fired.shape:
                dead[name] = [fired, data.shape[0], module]
            else:
                np.logical_or(entry[0], fired, out=entry[0])
                entry[1] += data.shape[0]

        return hook

    def _sample(self, loss: float, inputs: tuple[Any, ...], output: Any, target: Any) -> bool:
        grad_sq = []
        weight_sq = []
        known = self._grad_sq
        for layer in self.layers:
            g_total = 0.0
            w_total = 0.0
            for param in layer.params:
                flat = param.data.ravel()
                w_total += float(_dot(flat, flat))
                if known is not None:
                    g_total += known.get(id(param), 0.0)
                elif param.grad is not None:
                    flat = param.grad.data.ravel()
                    g_total += float(_dot(flat, flat))
            grad_sq.append(g_total)
            weight_sq.append(w_total)
        total = sum(grad_sq)
        if not _isfinite(total) and self.check_finite:
            if not self._nonfinite_gradient(loss, inputs, target):
                return False
        step = self.step - 1
        lr = None
        if self.optimizer is not None and getattr(self.optimizer, "param_groups", None):
            lr = float(self.optimizer.param_groups[0].get("lr", math.nan))
        stats = [self._layer_stats.get(layer.name) for layer in self.layers]
        delta = [math.sqrt(e[4] / e[5]) if e is not None and e[5] else None for e in stats]
        activation = [math.sqrt(e[0] / e[1]) if e is not None and e[1] else None for e in stats]
        gain = [
            math.sqrt((e[0] / e[1]) / (e[2] / e[3])) if e is not None and e[1] and e[3] and e[2] > 0 else None
            for e in stats
        ]
        record = {
            "step": step,
            "epoch": self.epoch,
            "loss": loss,
            "lr": lr,
            "grad_norm": [math.sqrt(v) for v in grad_sq],
            "weight_norm": [math.sqrt(v) for v in weight_sq],
            "update_ratio": None,
            "delta_rms": delta,
            "activation_rms": activation,
        }
        self._keep(record)
        self._epoch_rms.append(delta)
        self._check_spike(math.sqrt(total), step)
        if self._first_of_attempt:
            self._first_of_attempt = False
            self._check_initial_scale(loss, output, gain, step)
        self._measure_saturation(output, target)
        # The update ratio is measured on an evenly strided subset of each large parameter (at most
        # _UPDATE_SAMPLE values): a ratio of norms needs no more, and copying every weight is the sample's main cost.
        self._strides = [max(1, p.data.size // _UPDATE_SAMPLE) for p in self._params]
        self._before = [np.array(_every(p.data.ravel(), k)) for p, k in zip(self._params, self._strides)]
        self._pending = {"record": record}
        return True

    def _measure_saturation(self, output: Any, target: Any) -> None:
        """Count the predictions that are wrong with a probability above `saturation` (the sample's only)."""
        if not isinstance(output, Tensor) or target is None:
            return
        logits = output.data
        labels = target.data if isinstance(target, Tensor) else np.asarray(target)
        name = type(self.loss_fn).__name__ if self.loss_fn is not None else ""
        if "CrossEntropy" in name and logits.ndim == 2 and logits.shape[1] >= 2 and labels.ndim == 1:
            if labels.dtype.kind not in "iu" or labels.shape[0] != logits.shape[0]:
                return
            wrong = logits.argmax(axis=1) != labels
            confident = 0
            if wrong.any():  # the softmax only of the wrong rows: few, in a run that learns
                rows = logits[wrong]
                with np.errstate(all="ignore"):
                    top = 1.0 / np.exp(rows - rows.max(axis=1, keepdims=True)).sum(axis=1)  # the largest probability
                confident = int(np.count_nonzero(top > self.saturation))
        elif "BCEWithLogits" in name and logits.shape == labels.shape:
            wrong = (logits > 0) != (labels > 0.5)
            with np.errstate(all="ignore"):
                confident = int(
                    np.count_nonzero(wrong & (np.abs(logits) > math.log(self.saturation / (1 - self.saturation))))
                )
        else:
            return
        self._saturated[0] += confident
        self._saturated[1] += int(wrong.size)

    # -- per-sample checks ----------------------------------------------------------------------------------
    def _check_initial_scale(self, loss: float, output: Any, gains: list[float | None], step: int) -> None:
        """A classifier's first loss far above that of a uniform guess (ln C) means outputs far too large: a badly
        scaled initialisation, whose huge gradients make the first steps explode."""
        if not isinstance(output, Tensor) or output.data.ndim < 1 or not self.layers:
            return
        name = type(self.loss_fn).__name__ if self.loss_fn is not None else ""
        if "CrossEntropy" in name and output.data.ndim >= 2 and output.data.shape[1] >= 2:
            classes = output.data.shape[1]
        elif "BCEWithLogits" in name:
            classes = 2
        else:
            return
        uniform = math.log(classes)
        if not loss > self.init_loss_factor * uniform:
            return
        growing = [(layer, g) for layer, g in zip(self.layers, gains) if g is not None and g > 2.0]
        if growing:
            layer = growing[0][0]
            shown = ", ".join(f"{g:.2g}x through {lay.label}" for lay, g in growing[:4])
            detail = f"the activations grow {shown}"
        else:
            known = [(layer, g) for layer, g in zip(self.layers, gains) if g is not None]
            layer = max(known, key=lambda item: item[1])[0] if known else self.layers[-1]
            detail = f"the output layer {layer.label} makes logits far too large"
        self._add(
            Finding(
                "exploding_gradients",
                f"the first loss, {loss:.4g}, is {loss / uniform:.0f}x the {uniform:.3g} of a uniform guess over "
                f"{classes} classes: {detail}; the initialisation is badly scaled, and its huge gradients make the "
                "first steps explode.",
                SUGGEST_EXPLODING,
                layer=layer.name,
                epoch=self.epoch,
                step=step,
                data={
                    "initial_loss": loss,
                    "uniform_loss": uniform,
                    "gains": {lay.name: g for lay, g in zip(self.layers, gains)},
                },
            ),
            key=("exploding_gradients", "init"),
        )

    def _keep(self, record: dict[str, Any]) -> None:
        """Add a sample to the trace. The trace keeps at most MAX_TRACE records over the whole run: when full,
        every other record is dropped and from then on one sample in twice as many is kept."""
        self._samples += 1
        if (self._samples - 1) % self._trace_stride:
            return
        self.trace.append(record)
        if len(self.trace) >= MAX_TRACE:
            self.trace = self.trace[::2]
            self._trace_stride *= 2

    def _check_spike(self, norm: float, step: int) -> None:
        recent = list(self._norms)
        self._norms.append(norm)
        if len(recent) < 5 or not _isfinite(norm):
            return
        typical = statistics.median(recent)
        if typical > 0 and norm > self.spike_factor * typical:
            self._add(
                Finding(
                    "exploding_gradients",
                    f"the gradient norm jumped to {norm:.3g} at step {step + 1}, {norm / typical:.0f}x the median "
                    f"{typical:.3g} of the previous samples.",
                    SUGGEST_EXPLODING,
                    epoch=self.epoch,
                    step=step,
                    data={"grad_norm": norm, "typical": typical},
                ),
                key=("exploding_gradients", "spike"),
            )

    def _check_updates(self, updates: list[float | None], step: int) -> None:
        worst = None
        for layer, ratio in zip(self.layers, updates):
            if ratio is not None and ratio > self.update_ratio_high and (worst is None or ratio > worst[1]):
                worst = (layer, ratio)
        if worst is None:
            return
        layer, ratio = worst
        self._add(
            Finding(
                "exploding_gradients",
                f"one optimizer step (step {step + 1}) changed the weights of layer {layer.label} by {ratio:.3g}x "
                "their own norm (healthy steps change them by about 1e-3): the gradient, or the learning rate, is "
                "far too large.",
                SUGGEST_EXPLODING,
                layer=layer.name,
                epoch=self.epoch,
                step=step,
                data={"update_ratio": ratio},
            ),
            key=("exploding_gradients", "update"),
        )

    def _diverging(self, loss: float) -> None:
        if ("divergence", None) in self._findings:
            return
        self._add(
            Finding(
                "divergence",
                f"the loss reached {loss:.4g} at step {self.step}, more than {self.diverge_factor:g}x the "
                f"{self.initial_loss:.4g} of the first step: the learning rate is likely too high.",
                SUGGEST_DIVERGENCE,
                epoch=self.epoch,
                step=self.step - 1,
                data={"loss": loss, "initial_loss": self.initial_loss},
            )
        )

    def _nonfinite_gradient(self, loss: float, inputs: tuple[Any, ...], target: Any) -> bool:
        names = {id(p): name for name, p in self.model.named_parameters()} if self.model is not None else {}
        bad = [names.get(id(p), "?") for p in self._params if p.grad is not None and not np.isfinite(p.grad.data).all()]
        if not bad:  # every value is finite: their squares overflowed, the gradient is just enormous
            self._add(
                Finding(
                    "exploding_gradients",
                    f"the gradient at step {self.step} is so large that its squared norm overflows "
                    f"{self._params[0].data.dtype}.",
                    SUGGEST_EXPLODING,
                    epoch=self.epoch,
                    step=self.step - 1,
                ),
                key=("exploding_gradients", "overflow"),
            )
            return True
        self._remove_hooks()
        origin = None
        if inputs and self.model is not None and self.loss_fn is not None:
            origin = locate_in_backward(self.model, tuple(inputs), self.loss_fn, target)
        shown = ", ".join(f"'{name}'" for name in bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
        where = ""
        if origin is not None:
            where = f"; it first appears in the {origin.stage} pass, {_origin_text(origin)}"
        finding = Finding(
            "nonfinite",
            f"the gradient of step {self.step} holds NaN or Inf (in {shown}) while the loss, {loss:.4g}, is "
            f"finite{where}. Training stopped without taking that step.",
            _advice(origin),
            layer=origin.layer if origin is not None else None,
            epoch=self.epoch,
            step=self.step - 1,
            data={
                "stage": origin.stage if origin is not None else "backward",
                "parameters": bad,
                **_origin_data(origin),
            },
        )
        self.stopped = self._add(finding)
        self._pending = None
        self._before = None
        return False

    # -- epoch-level diagnoses ----------------------------------------------------------------------------
    def _gradient_findings(self, epoch: int) -> list[Finding]:
        if not self._epoch_rms or len(self.layers) < 2:
            return []
        columns = list(zip(*self._epoch_rms))
        rms = [_median(list(column)) for column in columns]
        last = rms[-1]
        if last is None or last <= 0:
            return []
        ratios = [None if value is None else value / last for value in rms]
        first = ratios[0]
        found = []
        data = {"first_to_last": first, "delta_rms": {layer.name: value for layer, value in zip(self.layers, rms)}}
        if first is not None and first < self.vanishing_ratio:
            onset = _onset(ratios, lambda r: r < 0.1)
            layer = self.layers[onset]
            zero = [layer.name for layer, value in zip(self.layers, rms) if value == 0]
            if zero:
                names = ", ".join(repr(n) for n in zero[:4])
                detail = (
                    f"{'layers ' + names + ' receive' if len(zero) > 1 else 'layer ' + names + ' receives'} no "
                    "gradient at all (exactly 0: a zero or constant initialisation, units that are all dead, or a "
                    "graph cut by detach / no_grad)"
                )
            else:
                detail = (
                    f"the gradient reaching the first layer's output is {first:.2g} times the one reaching the last "
                    "layer's (RMS)"
                )
            found.append(
                Finding(
                    "vanishing_gradients",
                    f"{detail}; the gradient falls below a tenth of the last layer's from layer {layer.label} "
                    "towards the input, so the layers below it barely learn.",
                    SUGGEST_VANISHING,
                    layer=layer.name,
                    epoch=epoch,
                    data=data,
                )
            )
        elif first is not None and first > self.exploding_ratio:
            onset = _onset(ratios, lambda r: r > 10.0)
            layer = self.layers[onset]
            found.append(
                Finding(
                    "exploding_gradients",
                    f"the gradient reaching the first layer's output is {first:.3g} times the one reaching the last "
                    f"layer's (RMS); it grows above 10x the last layer's from layer {layer.label} towards the input.",
                    SUGGEST_EXPLODING,
                    layer=layer.name,
                    epoch=epoch,
                    data=data,
                )
            )
        return found

    def _slow_updates(self, epoch: int, found: list[Finding]) -> list[Finding]:
        """Tiny update-to-weight ratios in every layer make a slow or stalled loss a learning rate too small."""
        if not self._epoch_updates or not any(f.kind in ("slow_convergence", "plateau") for f in found):
            return []
        columns = list(zip(*self._epoch_updates))
        medians = [_median([v for v in column if v is not None]) for column in columns]
        known = [m for m in medians if m is not None]
        if not known or max(known) >= self.update_ratio_low:
            return []
        return [
            Finding(
                "slow_convergence",
                f"each step changes the weights by at most {max(known):.2g} of their norm (median per layer; about "
                "1e-3 is typical of healthy training): the learning rate is too small.",
                SUGGEST_SLOW_LR,
                epoch=epoch,
                data={"update_ratio": {layer.name: m for layer, m in zip(self.layers, medians)}},
            )
        ]

    def _dead_findings(self, epoch: int) -> list[Finding]:
        fractions = {}
        counts = {}
        worst = None
        for name, (fired, samples, module) in self._dead.items():
            fraction = 1.0 - float(np.count_nonzero(fired)) / fired.size
            fractions[name] = fraction
            counts[name] = (fired.size, samples, module)
            if worst is None or fraction > fractions[worst]:
                worst = name
        if worst is None or fractions[worst] < self.dead_threshold:
            return []
        listed = [n for n in fractions if fractions[n] >= self.dead_threshold]
        parts = [f"{fractions[n]:.0%} of the {counts[n][0]} units of layer {describe(n, counts[n][2])}" for n in listed]
        samples = max(counts[n][1] for n in listed)
        return [
            Finding(
                "dead_units",
                f"{'; '.join(parts)} never fired (output > 0) on the {samples} sampled inputs of epoch {epoch + 1}: "
                "dead ReLU units pass no gradient and stop learning.",
                SUGGEST_DEAD,
                layer=worst,
                epoch=epoch,
                data={"fractions": fractions, "samples": samples},
            )
        ]

    def _saturation_findings(self, epoch: int) -> list[Finding]:
        wrong, total = self._saturated
        if total == 0 or wrong / total < self.saturated_fraction:
            return []
        return [
            Finding(
                "saturated_outputs",
                f"{wrong / total:.0%} of the sampled predictions of epoch {epoch + 1} are confidently wrong "
                f"(probability above {self.saturation} on a wrong class): the output is saturated, a state that "
                "traps training on a plateau.",
                SUGGEST_SATURATED,
                epoch=epoch,
                data={"fraction": wrong / total, "predictions": total},
            )
        ]

    # -- treatments ---------------------------------------------------------------------------------------
    def _monitored(self, logs: dict[str, Any]) -> float | None:
        value = logs.get("val_loss", logs.get("loss"))
        return float(value) if value is not None and _isfinite(float(value)) else None

    def _treat(self, epoch: int, logs: dict[str, Any], found: list[Finding]) -> None:
        if self.treat == "reduce_lr" and self._scheduler is not None:
            value = self._monitored(logs)
            if value is None:
                return
            before = [group["lr"] for group in self.optimizer.param_groups]
            self._scheduler.step(value)
            after = [group["lr"] for group in self.optimizer.param_groups]
            if after != before:
                previous = self._findings.get(("treatment", "reduce_lr"))
                times = 1 + (previous.data.get("times", 0) if previous is not None else 0)
                finding = Finding(
                    "treatment",
                    f"reduced the learning rate {times} time{'s' if times > 1 else ''}, last from {before[0]:.3g} to "
                    f"{after[0]:.3g} at epoch {epoch + 1} (the monitored loss had not improved for "
                    f"{self.curve_settings.patience} epochs).",
                    severity="info",
                    epoch=epoch,
                    data={"times": times, "lr": after[0]},
                )
                self._add(finding, key=("treatment", "reduce_lr"), replace=True)
        elif self.treat == "restart" and any(f.kind == "plateau" for f in found):
            self._restart(epoch, logs)

    def _restart(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.restarts >= self.max_restarts or self.model is None:
            return
        resettable = [m for _, m in self.model.named_modules() if callable(getattr(m, "reset_parameters", None))]
        if not resettable:
            self._add(
                Finding(
                    "treatment",
                    "could not restart: no module of the model has reset_parameters().",
                    severity="info",
                    epoch=epoch,
                ),
                key=("treatment", "restart"),
            )
            return
        value = self._monitored(logs)
        if value is not None and value < self._best_value:
            self._best_value = value
            self._best_attempt = self.restarts
            self._best_weights = {k: np.array(v.data, copy=True) for k, v in self.model.state_dict().items()}
        for module in resettable:
            module.reset_parameters()
        if self._optimizer_start is not None:
            self.optimizer.load_state_dict(copy.deepcopy(self._optimizer_start))
        self.restarts += 1
        self._attempt_start = epoch + 1
        self._countdown = 0  # sample the new attempt's first step
        self.initial_loss = None
        self._diverge_at = math.inf
        self._add(
            Finding(
                "treatment",
                f"restarted {self.restarts} time{'s' if self.restarts > 1 else ''} from a new initialisation (last at "
                f"the end of epoch {epoch + 1}, where the loss had stalled at {_fmt(value)}); the best attempt's "
                "weights are kept at the end.",
                severity="info",
                epoch=epoch,
                data={"restarts": self.restarts},
            ),
            key=("treatment", "restart"),
            replace=True,
        )

    # -- bookkeeping --------------------------------------------------------------------------------------
    def _add(self, finding: Finding, key: tuple[str, str | None] | None = None, replace: bool = False) -> Finding:
        """Record a finding; one seen before (same kind and layer, or `key`) keeps its first epoch and takes the
        new message and numbers."""
        key = key or (finding.kind, finding.layer)
        previous = self._findings.get(key)
        if previous is None or replace:
            if previous is not None:
                finding.epoch = previous.epoch
            finding.last_epoch = finding.epoch if finding.last_epoch is None else finding.last_epoch
            self._findings[key] = finding
            return finding
        previous.message = finding.message
        previous.data = finding.data
        previous.layer = finding.layer
        previous.last_epoch = finding.epoch if finding.epoch is not None else previous.last_epoch
        return previous

    def __repr__(self) -> str:
        state = f"{len(self.warnings)} warnings" if self.model is not None else "idle"
        return f"Doctor(sample_every={self.sample_every}, treat={self.treat!r}, {state})"


def _every(flat: np.ndarray, stride: int) -> np.ndarray:
    return flat if stride == 1 else flat[::stride]


def _onset(ratios: list[float | None], bad: Callable[[float], bool]) -> int:
    """The layer nearest the output such that it and every layer before it are `bad` (ratio to the last layer)."""
    onset = 0
    for index, ratio in enumerate(ratios[:-1]):
        if ratio is None or not bad(ratio):
            break
        onset = index
    return onset


def _origin_text(origin: Origin) -> str:
    return origin.describe()


def _origin_data(origin: Origin | None) -> dict[str, Any]:
    if origin is None:
        return {}
    return {
        "origin": origin.what,
        "op": origin.op,
        "layer_kind": origin.layer_kind,
        "parameter": origin.parameter,
        "where": origin.describe(),
    }


def _advice(origin: Origin | None) -> str:
    if origin is not None and origin.what == "op" and origin.op in _OP_ADVICE:
        return _OP_ADVICE[origin.op] + "; otherwise " + _DEFAULT_ADVICE + "."
    if origin is not None and origin.what == "input":
        return "remove or impute the NaN/Inf values of the data (chainrule.isfinite finds them)."
    return _DEFAULT_ADVICE + "."


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
