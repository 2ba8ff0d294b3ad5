"""Findings: what the training doctor concluded, one record per problem, as plain JSON data.

A Finding names the problem (`kind`, one of KINDS), how serious it is ('warning' for a problem that costs
accuracy or time, 'info' for a note: a treatment applied, a measurement), the layer it concerns when there is one
(its dotted module name, as in `model.named_modules()`), a sentence saying what was seen with the numbers, and a
sentence saying what usually helps. `data` keeps the numbers themselves (fractions per layer, ratios ...), so a
test or a dashboard need not parse the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from chainrule.errors import ArgumentError

__all__ = ["KINDS", "Finding", "format_report"]

KINDS = {
    "vanishing_gradients": "vanishing gradients",
    "exploding_gradients": "exploding gradients",
    "divergence": "divergence",
    "dead_units": "dead units",
    "plateau": "plateau",
    "saturated_outputs": "saturated outputs",
    "slow_convergence": "slow convergence",
    "overfitting": "overfitting",
    "nonfinite": "NaN/Inf",
    "treatment": "treatment",
}
SEVERITIES = ("warning", "info")


def _plain(value: Any) -> Any:
    """JSON data for `value`: NumPy scalars become Python numbers, containers are converted recursively."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


@dataclass
class Finding:
    """One diagnosis. epoch: the 0-based epoch it was first seen in (None when not tied to one); step: the
    global training step (0-based) for findings tied to one; last_epoch: the last epoch it was seen in."""

    kind: str
    message: str
    suggestion: str = ""
    layer: str | None = None
    severity: str = "warning"
    epoch: int | None = None
    step: int | None = None
    last_epoch: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ArgumentError(f"Finding: kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ArgumentError(f"Finding: severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def title(self) -> str:
        """The problem's name, as a person would say it ('vanishing gradients')."""
        return KINDS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON data (non-finite numbers in `data` stay floats: json writes them as NaN/Infinity)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "layer": self.layer,
            "message": self.message,
            "suggestion": self.suggestion,
            "epoch": self.epoch,
            "step": self.step,
            "last_epoch": self.last_epoch,
            "data": _plain(self.data),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        if not isinstance(data, dict) or "kind" not in data or "message" not in data:
            raise ArgumentError(f"Finding.from_dict: expected a dict from Finding.to_dict(), got {data!r}")
        return cls(
            kind=data["kind"],
            message=data["message"],
            suggestion=data.get("suggestion", ""),
            layer=data.get("layer"),
            severity=data.get("severity", "warning"),
            epoch=data.get("epoch"),
            step=data.get("step"),
            last_epoch=data.get("last_epoch"),
            data=dict(data.get("data") or {}),
        )

    def line(self) -> str:
        """'warning: vanishing gradients (layer '36'): ... Try: ...' on one line."""
        where = f" (layer '{self.layer}')" if self.layer is not None else ""
        when = ""
        if self.epoch is not None:
            when = f" [epoch {self.epoch + 1}" + (
                f"-{self.last_epoch + 1}]" if self.last_epoch is not None and self.last_epoch != self.epoch else "]"
            )
        text = f"{self.severity}: {self.title}{where}{when}: {self.message}"
        if self.suggestion:
            text += f" Try: {self.suggestion}"
        return text


def format_report(findings: list[Finding] | list[dict[str, Any]], header: str = "Doctor") -> str:
    """A few plain lines: 'Doctor: no problems found' or a line per finding, warnings first."""
    items = [f if isinstance(f, Finding) else Finding.from_dict(f) for f in findings]
    warnings = [f for f in items if f.severity == "warning"]
    notes = [f for f in items if f.severity != "warning"]
    if not warnings:
        head = f"{header}: no problems found"
    else:
        names = ", ".join(dict.fromkeys(f.title for f in warnings))
        head = f"{header}: {len(warnings)} problem{'s' if len(warnings) > 1 else ''} found ({names})"
    return "\n".join([head, *("  " + f.line() for f in [*warnings, *notes])])


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
