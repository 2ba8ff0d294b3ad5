"""A run folder's diagnosis: what `chainrule train` writes and `chainrule doctor RUN_FOLDER` reads.

`save_run_diagnostics(folder, history)` writes diagnosis.json (the findings, the report, the doctor's measurements
and the History, as strict JSON) and, when matplotlib is installed, loss.png, lr.png and gradients.png.

`report_run(folder)` reads a run folder back and returns the report: from diagnosis.json when it is there (the
findings recorded during training, which saw the gradients); otherwise from the training curves alone
(history.json as `History.to_dict()` writes it, a CSV of epochs such as `History.to_csv` or CSVLogger writes,
or the newest chainrule checkpoint in the folder), by the curve rules of `chainrule.diagnostics.curves`:
plateaus, slow convergence, divergence and overfitting.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
from typing import Any

from chainrule.diagnostics.curves import CurveSettings, analyze_curves
from chainrule.diagnostics.findings import Finding, format_report
from chainrule.diagnostics.plots import PLOTS
from chainrule.errors import ArgumentError, ChainruleError, MissingDependencyError

__all__ = ["DIAGNOSIS_FILE", "diagnose_run", "load_run", "report_run", "save_run_diagnostics"]

DIAGNOSIS_FILE = "diagnosis.json"
FORMAT = "chainrule.diagnosis"
HISTORY_FILES = ("history.json",)
CSV_FILES = ("history.csv", "log.csv", "training.csv", "metrics.csv")


def _strict(value: Any) -> Any:
    """JSON data without NaN or Infinity (they become null), so any JSON reader takes the file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    try:
        return _strict(float(value))
    except (TypeError, ValueError):
        return str(value)


def save_run_diagnostics(
    folder: str | os.PathLike[str], history: Any, doctor: Any = None, plots: Any = "auto", which: Any = PLOTS
) -> list[str]:
    """Write the run's diagnosis into `folder`: diagnosis.json, and the plots (loss.png, lr.png, gradients.png).

    history: the History `fit` returned (its `diagnosis` and `doctor` are used). doctor: a Doctor, by default
    `history.doctor`. plots: True (MissingDependencyError without matplotlib), False, or 'auto' (drawn when
    matplotlib is installed); which: the plots to draw, among 'loss', 'lr', 'gradients'. Returns the paths
    written.
    """
    directory = os.fspath(folder)
    os.makedirs(directory, exist_ok=True)
    if doctor is None:
        doctor = getattr(history, "doctor", None)
    findings = list(getattr(history, "diagnosis", None) or [])
    if not findings and doctor is not None:
        findings = [f.to_dict() for f in doctor.findings]
    data = {
        "format": FORMAT,
        "format_version": 1,
        "report": format_report(findings),
        "findings": findings,
        "doctor": doctor.to_dict() if doctor is not None else None,
        "history": history.to_dict() if hasattr(history, "to_dict") else history,
    }
    path = os.path.join(directory, DIAGNOSIS_FILE)
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(_strict(data), handle, allow_nan=False)
    os.replace(temporary, path)
    written = [path]
    if plots:
        from chainrule.diagnostics.plots import save_plots

        try:
            written += save_plots(directory, history, doctor, which)
        except MissingDependencyError:
            if plots != "auto":
                raise
    return written


def _read_csv(path: str) -> dict[str, Any]:
    curves: dict[str, list[float]] = {}
    epochs: list[int] = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key is None:
                    continue
                if key == "epoch":
                    try:
                        epochs.append(int(float(value)))
                    except (TypeError, ValueError):
                        epochs.append(len(epochs))
                    continue
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = math.nan
                curves.setdefault(key, []).append(number)
    return {"history": curves, "epoch": epochs or list(range(len(curves.get("loss", []))))}


def _newest_checkpoint(directory: str) -> dict[str, Any] | None:
    from chainrule.io import load_checkpoint

    candidates = sorted(
        glob.glob(os.path.join(directory, "*.safetensors")) + glob.glob(os.path.join(directory, "*.ckpt")),
        key=os.path.getmtime,
        reverse=True,
    )
    for candidate in candidates:
        try:
            checkpoint = load_checkpoint(candidate)
        except (ChainruleError, OSError, ValueError):
            continue
        if isinstance(checkpoint.history, dict) and checkpoint.history.get("history"):
            return {"history": checkpoint.history, "source": candidate}
    return None


def load_run(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """What a run folder holds for the doctor: {'source': the file read, 'findings': the recorded findings (dicts)
    or None, 'history': History.to_dict()-like data or None, 'doctor': the doctor's measurements or None}."""
    directory = os.fspath(folder)
    if not os.path.isdir(directory):
        raise ArgumentError(f"chainrule doctor: {directory!r} is not a folder")
    path = os.path.join(directory, DIAGNOSIS_FILE)
    if os.path.exists(path):
        with open(path) as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ArgumentError(f"chainrule doctor: {path!r} is not a diagnosis written by chainrule")
        return {
            "source": path,
            "findings": data.get("findings"),
            "history": data.get("history"),
            "doctor": data.get("doctor"),
        }
    for name in HISTORY_FILES:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path) as handle:
                data = json.load(handle)
            if isinstance(data, dict) and "history" not in data:
                data = {"history": data}
            return {"source": path, "findings": data.get("diagnosis"), "history": data, "doctor": None}
    for name in CSV_FILES:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return {"source": path, "findings": None, "history": _read_csv(path), "doctor": None}
    found = _newest_checkpoint(directory)
    if found is not None:
        history = found["history"]
        return {
            "source": found["source"],
            "findings": history.get("diagnosis"),
            "history": history,
            "doctor": None,
        }
    raise ArgumentError(
        f"chainrule doctor: {directory!r} holds no run to diagnose: expected {DIAGNOSIS_FILE} (written by chainrule "
        f"train), history.json, a CSV of epochs ({', '.join(CSV_FILES)}) or a chainrule checkpoint"
    )


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def diagnose_run(folder: str | os.PathLike[str], settings: CurveSettings | None = None) -> list[Finding]:
    """The findings of a run folder: those recorded during training when there are, else the curve rules'
    (applied at every epoch, as the doctor does during training)."""
    run = load_run(folder)
    if run["findings"] is not None:
        return [Finding.from_dict(item) for item in run["findings"]]
    curves = (run["history"] or {}).get("history") or {}
    loss = [_number(v) for v in curves.get("loss", [])]
    val = [_number(v) for v in curves.get("val_loss", [])] or None
    found: dict[str, Finding] = {}
    for end in range(1, len(loss) + 1):
        for finding in analyze_curves(loss[:end], val[:end] if val else None, None, settings):
            if finding.kind in found:
                previous = found[finding.kind]
                previous.message, previous.data, previous.last_epoch = finding.message, finding.data, finding.epoch
            else:
                finding.last_epoch = finding.epoch
                found[finding.kind] = finding
    return list(found.values())


def report_run(folder: str | os.PathLike[str], plots: Any = False) -> str:
    """The text of `chainrule doctor RUN_FOLDER`: the report, where it came from, and the plots drawn into the
    folder when asked (plots=True: MissingDependencyError without matplotlib; 'auto': when it is installed)."""
    directory = os.fspath(folder)
    run = load_run(directory)
    findings = diagnose_run(directory)
    lines = [format_report(findings), f"(read from {run['source']})"]
    if run["findings"] is None:
        lines.append("(diagnosed from the loss curves alone: gradients, units and NaN were not recorded)")
    if plots:
        from chainrule.diagnostics.plots import save_plots

        try:
            history = run["history"]
            written = save_plots(directory, history, run["doctor"] if run["doctor"] else None)
        except MissingDependencyError:
            if plots != "auto":
                raise
            written = []
        if written:
            lines.append("plots: " + ", ".join(written))
    return "\n".join(lines)
