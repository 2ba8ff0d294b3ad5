"""All benchmarks in one process, then one table of ratios: chainrule's time over each peer's, against the goals.

  overhead   Python overhead per recorded op (benchmarks/overhead.py): 1,000 tiny ops, forward and backward
  W1         one training step, 784-256-256-10 ReLU MLP, batch 128: vs PyTorch eager and vs hand-written NumPy;
             then the NumPy limit's and NumPy's matrix products' (benchmarks/gemm.py) time against PyTorch's step
  W2         one training step, 2-16-16-1 tanh MLP, batch 8: vs PyTorch eager (and NumPy)
  W3         one SGD step of LeNet-5 on 1x28x28, batch 64: vs PyTorch eager
  W4         one step of Embedding + GRU(64, 128) + Linear over sequences of 32, batch 32: vs PyTorch eager
  W5         two epochs of W1's net on 20,000 samples: vs scikit-learn's MLPClassifier (and NumPy, PyTorch)

Every library runs on 2 threads. When OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set, the process first
re-executes itself without them (see _common), and the BLAS kernel that ran is printed. Figures are ratios
measured side by side in one process on a shared machine: they are reported, never asserted.

Run: `python benchmarks/run.py` (or `make bench`). Takes about four minutes.
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

import gemm
import overhead
import w1_mlp
import w2_tiny_mlp
import w3_lenet
import w4_gru
import w5_sklearn


def run(name: str, main: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """`main()`'s figures, or None (with the traceback printed) when the benchmark fails: the others still run."""
    print()
    start = time.perf_counter()
    try:
        figures = main()
    except Exception:  # a benchmark's failure is reported, and the table is printed without it
        print(f"  [error] {name} failed:")
        traceback.print_exc()
        return None
    print(f"  ({name} took {time.perf_counter() - start:.1f} s)")
    return figures


def main() -> list[_common.Row]:
    _common.limit_threads()
    _common.print_environment()
    counters = _common.cpu_counters()
    start = time.perf_counter()

    rows: list[_common.Row] = []
    figures = run("overhead", overhead.main)
    if figures is not None:
        # 1,000 ops: microseconds per op equal milliseconds per chain.
        numpy_ms = figures["numpy_us_per_op_forward"] + figures["numpy_us_per_op_backward"]
        added = figures["overhead_us_per_op_total"]
        row = _common.Row("overhead: 1,000 ops fwd+bwd", "numpy", numpy_ms + added, numpy_ms, "+<= 3.00 us/op")
        row.met = added <= 3.0
        rows.append(row)

    figures = run("W1", w1_mlp.main)
    if figures is not None:
        ours = figures["chainrule_ms"]
        rows.append(
            _common.ratio_row("W1: MLP step, batch 128", "torch", ours, figures["torch_ms"], w1_mlp.GOAL_VS_TORCH)
        )
        rows.append(
            _common.ratio_row("W1: MLP step, batch 128", "numpy", ours, figures["numpy_ms"], w1_mlp.GOAL_VS_NUMPY)
        )
        # What bounds the first ratio: the hand-written NumPy step, and NumPy's matrix products alone.
        rows.append(
            _common.ratio_row("W1: NumPy limit (step)", "torch", figures["numpy_ms"], figures["torch_ms"], None)
        )
        products = run("W1 products", gemm.main)
        if products is not None:
            rows.append(
                _common.ratio_row("W1: NumPy's 8 products", "torch", products["numpy_ms"], figures["torch_ms"], None)
            )
            rows.append(
                _common.ratio_row("W1: NumPy's 8 products", "torch's", products["numpy_ms"], products["torch_ms"], None)
            )

    figures = run("W2", w2_tiny_mlp.main)
    if figures is not None:
        ours = figures["chainrule_ms"]
        goal = w2_tiny_mlp.GOAL_VS_TORCH
        rows.append(_common.ratio_row("W2: tiny MLP step, batch 8", "torch", ours, figures["torch_ms"], goal))
        rows.append(_common.ratio_row("W2: tiny MLP step, batch 8", "numpy", ours, figures["numpy_ms"], None))

    for label, name, module in (
        ("W3", "W3: LeNet step, batch 64", w3_lenet),
        ("W4", "W4: Embedding+GRU+Linear step", w4_gru),
    ):
        figures = run(label, module.main)
        if figures is not None:
            rows.append(
                _common.ratio_row(name, "torch", figures["chainrule_ms"], figures["torch_ms"], module.GOAL_VS_TORCH)
            )

    figures = run("W5", w5_sklearn.main)
    if figures is not None:
        ours, name = figures["chainrule_ms"], "W5: 2 epochs, 20k samples"
        rows.append(_common.ratio_row(name, "sklearn", ours, figures["sklearn_ms"], w5_sklearn.GOAL_VS_SKLEARN))
        rows.append(_common.ratio_row(name, "numpy", ours, figures["numpy_s"] * 1e3, None))

    print()
    print("summary (ours = chainrule; ratio = ours / peer, lower is better):")
    print(_common.format_table(rows))
    _common.print_blas()
    steal = _common.steal_since(counters)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    busy = f"; CPU time stolen by the host: {steal:.0%}" if steal is not None else ""
    print(f"total {time.perf_counter() - start:.0f} s; load average {load:.1f} on {os.cpu_count()} CPUs{busy}")
    return rows


if __name__ == "__main__":
    main()
