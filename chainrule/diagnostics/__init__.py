"""`chainrule.diagnostics`: the training doctor, the learning-rate range test, the graph view, and plots.

- `Doctor`: watches training (on by default in `chainrule.train.fit`) and names what goes wrong with
  backpropagation: vanishing/exploding gradients, dead ReLU units, plateaus and saturated outputs, slow
  convergence, divergence, overfitting, NaN/Inf (with the op and the layer where it first appears). Its findings
  are `Finding`s; `format_report` prints them.
- `lr_find`: Smith's learning-rate range test; proposes a learning rate and plots its curve.
- `graph`: the recorded computation graph of a tensor as Graphviz DOT text (and SVG where `dot` exists).
- plots (matplotlib, an optional extra): loss curves, learning rate, per-layer gradient norms over time, the
  lr_find curve, as PNG files.
- run folders: `save_run_diagnostics` (what `chainrule train` writes), `report_run` (what `chainrule doctor
  RUN_FOLDER` prints).

This package may use the engine, nn, optim, data and io; it never imports `chainrule.train` (train imports it).
"""

from __future__ import annotations

from chainrule.diagnostics.curves import CurveSettings, analyze_curves
from chainrule.diagnostics.doctor import Doctor
from chainrule.diagnostics.findings import KINDS, Finding, format_report
from chainrule.diagnostics.graph import graph, render_dot
from chainrule.diagnostics.lr_finder import LRFinderResult, lr_find
from chainrule.diagnostics.nonfinite import Origin
from chainrule.diagnostics.plots import plot_gradients, plot_loss, plot_lr, plot_lr_find, save_plots
from chainrule.diagnostics.run import diagnose_run, load_run, report_run, save_run_diagnostics

__all__ = [
    "KINDS",
    "CurveSettings",
    "Doctor",
    "Finding",
    "LRFinderResult",
    "Origin",
    "analyze_curves",
    "diagnose_run",
    "format_report",
    "graph",
    "load_run",
    "lr_find",
    "plot_gradients",
    "plot_loss",
    "plot_lr",
    "plot_lr_find",
    "render_dot",
    "report_run",
    "save_plots",
    "save_run_diagnostics",
]
