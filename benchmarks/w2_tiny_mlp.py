"""W2: one training step of a tiny 2-16-16-1 tanh MLP, where the per-op overhead is the whole cost.

Batch 8, float32, MSE loss, plain SGD (lr 0.01, no momentum). A step is zero_grad, forward, loss, backward and
the update. NumPy's own work is a few microseconds per array here, so the step time is what each library adds
on top of NumPy calls: PyTorch eager's dispatcher and autograd, chainrule's Python. The hand-written NumPy step
(preallocated buffers, `out=`) shows the floor. Same weights and batches everywhere, as in W1.

Timing: interleaved blocks of BLOCK steps, ROUNDS rounds; the figure is the best block's time per step (see
_common.interleaved_step_times). Goal: chainrule <= 0.5x PyTorch.

Run: `python benchmarks/w2_tiny_mlp.py` (or all benchmarks: `python benchmarks/run.py`).
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
from collections.abc import Sequence
from typing import Any

import numpy as np

SIZES = (2, 16, 16, 1)
BATCH = 8
LR = 0.01
N_BATCHES = 8
BLOCK = 200
ROUNDS = 15
WARMUP = 200
GOAL_VS_TORCH = 0.5
SEED = 0


def make_batches(n_batches: int = N_BATCHES, seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n_batches` (x, y) pairs: x (BATCH, 2) float32 in [-1, 1], y (BATCH, 1) = sin(3 x0) cos(2 x1)."""
    rng = np.random.default_rng(seed + 1)
    batches = []
    for _ in range(n_batches):
        x = rng.uniform(-1, 1, size=(BATCH, SIZES[0])).astype(np.float32)
        y = (np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:])).astype(np.float32)
        batches.append((x, y))
    return batches


class NumpyTinyMLP:
    """The tanh MLP with mean squared error and plain SGD, by hand, every buffer allocated once.

    weights: [W1, b1, W2, b2, W3, b3] with W of shape (out, in).
    """

    def __init__(self, weights: Sequence[np.ndarray], batch: int, lr: float) -> None:
        self.lr = np.float32(lr)
        self.w = [w.copy() for w in weights[0::2]]
        self.b = [b.copy() for b in weights[1::2]]
        widths = [b.shape[0] for b in self.b]
        self.h = [np.empty((batch, width), dtype=np.float32) for width in widths]
        self.dh = [np.empty((batch, width), dtype=np.float32) for width in widths[:-1]]
        self.local = [np.empty((batch, width), dtype=np.float32) for width in widths[:-1]]
        self.gw = [np.empty_like(w) for w in self.w]
        self.gb = [np.empty_like(b) for b in self.b]
        self.params = [*self.w, *self.b]
        self.grads = [*self.gw, *self.gb]
        self.ones = np.ones(batch, dtype=np.float32)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One training step on (x, y); returns the batch's mean squared error before the update."""
        n_layers = len(self.w)
        a = x
        for i in range(n_layers):
            h = self.h[i]
            np.matmul(a, self.w[i].T, out=h)
            h += self.b[i]
            if i < n_layers - 1:
                np.tanh(h, out=h)
            a = h

        # MSE, mean over every element: loss = mean((out - y)^2); d/d(out) = 2 (out - y) / size.
        out = self.h[-1]
        out -= y
        loss = float(np.vdot(out, out)) / out.size
        out *= np.float32(2.0 / out.size)

        g = out
        for i in range(n_layers - 1, -1, -1):
            below = x if i == 0 else self.h[i - 1]
            np.matmul(g.T, below, out=self.gw[i])
            np.matmul(self.ones, g, out=self.gb[i])
            if i > 0:
                dh = self.dh[i - 1]
                np.matmul(g, self.w[i], out=dh)
                local = self.local[i - 1]  # tanh' = 1 - tanh^2
                np.multiply(below, below, out=local)
                np.subtract(1, local, out=local)
                dh *= local
                g = dh

        for param, grad in zip(self.params, self.grads):
            grad *= self.lr
            param -= grad
        return loss


def build_chainrule(weights: Sequence[np.ndarray]) -> tuple[Any, Any, Any]:
    """chainrule's model, loss and optimizer, with `weights` copied in."""
    from chainrule import nn, optim

    model = nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1]),
        nn.Tanh(),
        nn.Linear(SIZES[1], SIZES[2]),
        nn.Tanh(),
        nn.Linear(SIZES[2], SIZES[3]),
    )
    _common.load_chainrule_weights(model, weights)
    return model, nn.MSELoss(), optim.SGD(model.parameters(), lr=LR)


def build_torch(torch: Any, weights: Sequence[np.ndarray]) -> tuple[Any, Any, Any]:
    """PyTorch's model, loss and optimizer, with `weights` copied in."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1]),
        nn.Tanh(),
        nn.Linear(SIZES[1], SIZES[2]),
        nn.Tanh(),
        nn.Linear(SIZES[2], SIZES[3]),
    )
    _common.load_torch_weights(torch, model, weights)
    return model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=LR)


def steps_by_library(weights: Sequence[np.ndarray], batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """{library: (step(x, y) -> loss as float, that library's batches)}, for the libraries available."""
    libraries = _common.framework_steps(
        lambda: build_chainrule(weights), lambda torch: build_torch(torch, weights), batches
    )
    net = NumpyTinyMLP(weights, BATCH, LR)
    libraries["numpy"] = (net.step, list(batches))
    return libraries


def main() -> dict[str, Any]:
    _common.limit_threads()
    print(f"W2: {'-'.join(map(str, SIZES))} tanh MLP, batch {BATCH}, MSE, SGD lr {LR}")
    weights = _common.linear_init(SIZES, SEED)
    batches = make_batches()
    fresh = steps_by_library(weights, batches)

    losses = {name: [step(*own[i]) for i in range(3)] for name, (step, own) in fresh.items()}
    reference = losses.get("torch", losses["numpy"])
    agreement = max(abs(a - b) for values in losses.values() for a, b in zip(values, reference))
    print(f"  losses of the first 3 steps agree across libraries to {agreement:.1e} (e.g. {reference[0]:.5f})")

    steps = {name: _common.cycling_step(step, own) for name, (step, own) in fresh.items()}
    times = _common.interleaved_step_times(steps, BLOCK, ROUNDS, WARMUP)
    for name, values in times.items():
        print("  " + _common.describe_times(name, values, unit=1e6, suffix="us"))

    us = {name: _common.best(values) * 1e6 for name, values in times.items()}
    ours, torch_us = us.get("chainrule"), us.get("torch")
    print(_common.ratio_line("chainrule / torch", ours, torch_us, GOAL_VS_TORCH))
    print(_common.ratio_line("chainrule / numpy", ours, us["numpy"], None))
    return {
        "chainrule_ms": None if ours is None else ours / 1e3,
        "torch_ms": None if torch_us is None else torch_us / 1e3,
        "numpy_ms": us["numpy"] / 1e3,
        "ratio_vs_torch": None if ours is None or torch_us is None else ours / torch_us,
        "ratio_vs_numpy": None if ours is None else ours / us["numpy"],
        "goal_vs_torch": GOAL_VS_TORCH,
        "loss_agreement": agreement,
    }


if __name__ == "__main__":
    _common.print_environment()
    main()
