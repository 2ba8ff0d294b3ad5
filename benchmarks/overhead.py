"""Python overhead per recorded op: chainrule's forward and backward against the same NumPy expressions.

A chain of 1,000 small ops (alternating `y = y * c` and `y = y + d` on 16 floats, so NumPy's own work is tiny)
is run with the graph recorded and then differentiated; the NumPy baseline runs the same forward expressions and
the hand-written backward (`g = g * c` for each mul; an add passes g through). The difference, divided by the
number of ops, is what chainrule adds per op. Goal: at most 3 us per op, forward plus backward.

Run: `python benchmarks/overhead.py` (or `make bench`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

import chainrule as cr

N_OPS = 1_000
REPEATS = 30


def best_time(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """The fastest of `repeats` runs, in seconds: the least disturbed by other load on a shared machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> dict[str, float]:
    x_data = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    c_data = np.full(16, 0.999, dtype=np.float32)
    d_data = np.full(16, 0.001, dtype=np.float32)
    x, c, d = cr.tensor(x_data, requires_grad=True), cr.tensor(c_data), cr.tensor(d_data)
    half = N_OPS // 2

    def numpy_forward() -> np.ndarray:
        y = x_data
        for _ in range(half):
            y = y * c_data
            y = y + d_data
        return y

    def numpy_backward() -> np.ndarray:
        g = np.ones(16, dtype=np.float32)
        for _ in range(half):
            g = g * c_data
        return g

    graphs: list[cr.Tensor] = []

    def ours_forward() -> None:
        y = x
        for _ in range(half):
            y = y * c
            y = y + d
        graphs.append(y)

    def ours_backward() -> None:
        graphs.pop().backward(np.ones(16, dtype=np.float32))

    def ours_both() -> None:
        ours_forward()
        ours_backward()

    np_fwd = best_time(numpy_forward)
    np_bwd = best_time(numpy_backward)
    both = best_time(ours_both)
    forward = best_time(ours_forward)
    graphs.clear()
    backward = both - forward
    report = {
        "numpy_us_per_op_forward": np_fwd / N_OPS * 1e6,
        "numpy_us_per_op_backward": np_bwd / N_OPS * 1e6,
        "overhead_us_per_op_forward": (forward - np_fwd) / N_OPS * 1e6,
        "overhead_us_per_op_backward": (backward - np_bwd) / N_OPS * 1e6,
        "overhead_us_per_op_total": (both - np_fwd - np_bwd) / N_OPS * 1e6,
        "ratio_ours_over_numpy": both / (np_fwd + np_bwd),
    }
    print(f"overhead per recorded op ({N_OPS} chained adds and muls on 16 floats, best of {REPEATS}):")
    print(
        f"  numpy's own call:      {report['numpy_us_per_op_forward']:.2f} us forward, "
        f"{report['numpy_us_per_op_backward']:.2f} us backward (per op, averaged)"
    )
    print(
        f"  chainrule adds:        {report['overhead_us_per_op_forward']:.2f} us forward + "
        f"{report['overhead_us_per_op_backward']:.2f} us backward = "
        f"{report['overhead_us_per_op_total']:.2f} us per op (goal <= 3.00)"
    )
    print(f"  ratio ours / numpy:    {report['ratio_ours_over_numpy']:.2f}x")
    return report


if __name__ == "__main__":
    main()
