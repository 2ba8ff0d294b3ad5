"""The matrix products of W1's step alone: NumPy's BLAS (what chainrule calls) against PyTorch's.

A step of W1's 784-256-256-10 MLP at batch 128 spends most of its time in eight matrix products: three in the
forward (x @ W^T per layer) and five in the backward (grad_W = g^T @ a per layer, and grad_a = g @ W for the
two upper layers; the input needs no gradient). This script times exactly those
products, with the operands laid out as chainrule lays them out, in NumPy (np.matmul into a preallocated
output) and in PyTorch (torch.mm with out=), interleaved, on 2 threads each, and prints their sum.

It says how far a NumPy-based step can get: chainrule cannot be faster than the products it must call, so
(NumPy's products / PyTorch's whole step) bounds W1's ratio to PyTorch from below.

Run: `python benchmarks/gemm.py` (or all benchmarks: `python benchmarks/run.py`).
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
from w1_mlp import BATCH, SIZES

BLOCK = 20
ROUNDS = 20
WARMUP = 10


def products(batch: int = BATCH, sizes: tuple[int, ...] = SIZES) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """(name, left shape, right shape) of each product in a step, with the right operand of a forward product
    given as W^T's shape (a transposed view of the (out, in) weight)."""
    layers = list(enumerate(itertools.pairwise(sizes), start=1))
    shapes = [(f"forward {layer}: x @ W^T", (batch, fan_in), (fan_in, fan_out)) for layer, (fan_in, fan_out) in layers]
    for layer, (fan_in, fan_out) in reversed(layers):
        shapes.append((f"grad_W {layer}: g^T @ a", (fan_out, batch), (batch, fan_in)))
        if layer > 1:
            shapes.append((f"grad_a {layer}: g @ W", (batch, fan_out), (fan_out, fan_in)))
    return shapes


def operands(left: tuple[int, int], right: tuple[int, int], name: str, rng: np.random.Generator) -> tuple:
    """Float32 operands laid out as chainrule's linear lays them out: W^T and g^T are transposed views."""
    if name.startswith("forward"):
        a = rng.standard_normal(left, dtype=np.float32)
        b = rng.standard_normal(right[::-1], dtype=np.float32).T  # W (out, in), viewed as W^T
    elif name.startswith("grad_W"):
        a = rng.standard_normal(left[::-1], dtype=np.float32).T  # g (batch, out), viewed as g^T
        b = rng.standard_normal(right, dtype=np.float32)
    else:
        a = rng.standard_normal(left, dtype=np.float32)
        b = rng.standard_normal(right, dtype=np.float32)
    return a, b


def main() -> dict[str, Any]:
    _common.limit_threads()
    print(f"W1's matrix products at batch {BATCH}: NumPy's BLAS against PyTorch's, {_common.THREADS} threads")
    rng = np.random.default_rng(0)
    torch = _common.optional_import("torch")
    steps: dict[str, Callable[[], Any]] = {}
    shapes = products()
    pairs = [operands(left, right, name, rng) for name, left, right in shapes]
    outputs = [np.empty((a.shape[0], b.shape[1]), dtype=np.float32) for a, b in pairs]

    def numpy_products() -> None:
        for (a, b), out in zip(pairs, outputs):
            np.matmul(a, b, out=out)

    steps["numpy"] = numpy_products
    if torch is not None:
        torch_pairs = [
            (
                torch.from_numpy(a.T).T if not a.flags.c_contiguous else torch.from_numpy(a),
                torch.from_numpy(b.T).T if not b.flags.c_contiguous else torch.from_numpy(b),
            )
            for a, b in pairs
        ]
        torch_outputs = [torch.from_numpy(out) for out in outputs]

        def torch_products() -> None:
            for (a, b), out in zip(torch_pairs, torch_outputs):
                torch.mm(a, b, out=out)

        steps["torch"] = torch_products

    times = _common.interleaved_step_times(steps, BLOCK, ROUNDS, WARMUP)
    for name, values in times.items():
        print("  " + _common.describe_times(name, values))
    ms = {name: _common.best(values) * 1e3 for name, values in times.items()}
    print(_common.ratio_line("numpy / torch products", ms["numpy"], ms.get("torch"), None))
    return {"numpy_ms": ms["numpy"], "torch_ms": ms.get("torch")}


if __name__ == "__main__":
    _common.print_environment()
    main()
