"""W1: one training step of a 784-256-256-10 ReLU MLP, chainrule against PyTorch eager and hand-written NumPy.

Batch 128, float32, cross-entropy, SGD with momentum 0.9 and lr 0.01. A step is zero_grad, forward, loss,
backward and the optimizer's update. Every library starts from the same weights (PyTorch's default init,
drawn once with NumPy and copied in) and trains on the same cycle of 8 random batches, so the three nets stay
numerically the same net throughout.

The NumPy side is "the NumPy limit": the same net's forward, fused softmax-cross-entropy gradient, backward and
momentum update written by hand with preallocated buffers, `out=` and in-place ops. It is timed twice: with
weights stored as PyTorch's (out, in) (what chainrule must store) and as (in, out), whichever of OpenBLAS's
GEMM forms is faster here; the limit is the faster of the two.

Timing: after a warm-up, each library runs blocks of BLOCK steps in turn, ROUNDS rounds, the order rotating;
the figure is the best block's time per step
(see _common.best). Goals: chainrule <= 0.65x PyTorch, <= 1.10x NumPy.

Run: `python benchmarks/w1_mlp.py` (or all benchmarks: `python benchmarks/run.py`).
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
from collections.abc import Sequence
from typing import Any

import numpy as np

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01
MOMENTUM = 0.9
N_BATCHES = 8
BLOCK = 10
ROUNDS = 25
WARMUP = 10
GOAL_VS_TORCH = 0.65
GOAL_VS_NUMPY = 1.10
SEED = 0
PIECE = 1 << 15  # values per piece of the SGD update (chainrule.optim.optimizer.PIECE)


def make_batches(n_batches: int = N_BATCHES, seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n_batches` (x, y) pairs: x (BATCH, 784) float32 standard normal, y (BATCH,) int64 class indices."""
    rng = np.random.default_rng(seed + 1)
    return [
        (
            rng.standard_normal((BATCH, SIZES[0]), dtype=np.float32),
            rng.integers(0, SIZES[-1], size=BATCH).astype(np.int64),
        )
        for _ in range(n_batches)
    ]


class NumpyMLP:
    """The ReLU MLP with softmax cross-entropy (mean over the batch) and SGD with momentum, by hand.

    weights: [W1, b1, W2, b2, ...] with W of shape (out, in). transposed: store each W as (in, out) instead,
    which changes only which GEMM form OpenBLAS runs. Every array a step touches is allocated here, once.
    """

    def __init__(self, weights: Sequence[np.ndarray], batch: int, lr: float, momentum: float, transposed: bool):
        self.lr = np.float32(lr)
        self.momentum = np.float32(momentum)
        self.transposed = transposed
        self.w = [np.ascontiguousarray(w.T) if transposed else w.copy() for w in weights[0::2]]
        self.b = [b.copy() for b in weights[1::2]]
        widths = [b.shape[0] for b in self.b]
        self.h = [np.empty((batch, width), dtype=np.float32) for width in widths]  # pre-activations, then ReLU'd
        self.dh = [np.empty((batch, width), dtype=np.float32) for width in widths[:-1]]
        self.mask = [np.empty((batch, width), dtype=bool) for width in widths[:-1]]
        self.gw = [np.empty_like(w) for w in self.w]
        self.gb = [np.empty_like(b) for b in self.b]
        self.params = [*self.w, *self.b]
        self.grads = [*self.gw, *self.gb]
        self.velocity = [np.zeros_like(p) for p in self.params]  # zeros: the first update is then buf = grad
        self.scratch = [np.empty_like(p) for p in self.params]
        # The update runs over pieces of PIECE values (views made once), each staying in cache across its four
        # passes, as chainrule's optimizers do: the limit keeps every trick the library uses.
        self.pieces = [
            tuple(array.reshape(-1)[start : start + PIECE] for array in arrays)
            for arrays in zip(self.params, self.grads, self.velocity, self.scratch)
            for start in range(0, arrays[0].size, PIECE)
        ]
        self.row_max = np.empty((batch, 1), dtype=np.float32)
        self.row_sum = np.empty((batch, 1), dtype=np.float32)
        self.ones = np.ones(batch, dtype=np.float32)
        self.rows = np.arange(batch)
        self.batch = batch
        self._partial: dict[int, NumpyMLP] = {}

    def _for_rows(self, n: int) -> NumpyMLP:
        """A net sharing this one's weights, gradients and velocities, with batch buffers for n rows (n <
        batch: an epoch's last, short batch)."""
        net = self._partial.get(n)
        if net is None:
            net = object.__new__(NumpyMLP)
            net.__dict__.update(self.__dict__)
            for name in ("h", "dh", "mask"):
                setattr(net, name, [buffer[:n] for buffer in getattr(self, name)])
            for name in ("row_max", "row_sum", "ones", "rows"):
                setattr(net, name, getattr(self, name)[:n])
            net.batch = n
            self._partial[n] = net
        return net

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One training step on (x, y) of at most `batch` rows; returns the batch's mean cross-entropy before
        the update."""
        if len(x) != self.batch:
            return self._for_rows(len(x)).step(x, y)
        n_layers = len(self.w)
        a = x
        for i in range(n_layers):
            h = self.h[i]
            np.matmul(a, self.w[i] if self.transposed else self.w[i].T, out=h)
            h += self.b[i]
            if i < n_layers - 1:
                np.maximum(h, 0, out=h)
            a = h

        # Softmax cross-entropy, fused: loss = mean(log sum exp(z) - z_y); dz = (softmax(z) - onehot(y)) / n.
        z = self.h[-1]
        np.max(z, axis=1, keepdims=True, out=self.row_max)
        z -= self.row_max
        picked = z[self.rows, y]
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=self.row_sum)
        loss = (np.log(self.row_sum).sum() - picked.sum()) / len(y)
        z /= self.row_sum
        z[self.rows, y] -= 1
        z *= np.float32(1.0 / len(y))

        g = z
        for i in range(n_layers - 1, -1, -1):
            below = x if i == 0 else self.h[i - 1]
            if self.transposed:
                np.matmul(below.T, g, out=self.gw[i])
            else:
                np.matmul(g.T, below, out=self.gw[i])
            np.matmul(self.ones, g, out=self.gb[i])  # the column sums, as one BLAS gemv
            if i > 0:
                dh = self.dh[i - 1]
                np.matmul(g, self.w[i].T if self.transposed else self.w[i], out=dh)
                mask = self.mask[i - 1]
                np.greater(below, 0, out=mask)
                dh *= mask
                g = dh

        # PyTorch's SGD: buf = momentum * buf + grad; p -= lr * buf.
        for param, grad, buf, scratch in self.pieces:
            buf *= self.momentum
            buf += grad
            np.multiply(buf, self.lr, out=scratch)
            param -= scratch
        return float(loss)


# -- the three libraries' steps ---------------------------------------------------------------------------------


def build_chainrule(weights: Sequence[np.ndarray]) -> tuple[Any, Any, Any]:
    """chainrule's model, loss and optimizer, with `weights` copied in."""
    from chainrule import nn, optim

    model = nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1]),
        nn.ReLU(),
        nn.Linear(SIZES[1], SIZES[2]),
        nn.ReLU(),
        nn.Linear(SIZES[2], SIZES[3]),
    )
    _common.load_chainrule_weights(model, weights)
    return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def build_torch(torch: Any, weights: Sequence[np.ndarray]) -> tuple[Any, Any, Any]:
    """PyTorch's model, loss and optimizer, with `weights` copied in."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Linear(SIZES[0], SIZES[1]),
        nn.ReLU(),
        nn.Linear(SIZES[1], SIZES[2]),
        nn.ReLU(),
        nn.Linear(SIZES[2], SIZES[3]),
    )
    _common.load_torch_weights(torch, model, weights)
    return model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def steps_by_library(weights: Sequence[np.ndarray], batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """{library: (step(x, y) -> loss as float, that library's batches)}, for the libraries available."""
    libraries = _common.framework_steps(
        lambda: build_chainrule(weights), lambda torch: build_torch(torch, weights), batches
    )
    for name, transposed in (("numpy (out,in)", False), ("numpy (in,out)", True)):
        net = NumpyMLP(weights, BATCH, LR, MOMENTUM, transposed)
        libraries[name] = (net.step, list(batches))
    return libraries


def main() -> dict[str, Any]:
    _common.limit_threads()
    print(f"W1: {'-'.join(map(str, SIZES))} ReLU MLP, batch {BATCH}, cross-entropy, SGD momentum {MOMENTUM}")
    weights = _common.linear_init(SIZES, SEED)
    batches = make_batches()
    fresh = steps_by_library(weights, batches)

    # The same 3 steps from the same weights must give the same losses: evidence that the nets are one net.
    losses = {name: [step(*own[i]) for i in range(3)] for name, (step, own) in fresh.items()}
    reference = losses.get("torch", losses["numpy (out,in)"])
    agreement = max(abs(a - b) for values in losses.values() for a, b in zip(values, reference))
    print(f"  losses of the first 3 steps agree across libraries to {agreement:.1e} (e.g. {reference[0]:.5f})")

    steps = {name: _common.cycling_step(step, own) for name, (step, own) in fresh.items()}
    times = _common.interleaved_step_times(steps, BLOCK, ROUNDS, WARMUP)
    for name, values in times.items():
        print("  " + _common.describe_times(name, values))

    ms = {name: _common.best(values) * 1e3 for name, values in times.items()}
    numpy_limit = min(ms["numpy (out,in)"], ms["numpy (in,out)"])
    ours, torch_ms = ms.get("chainrule"), ms.get("torch")
    print(_common.ratio_line("chainrule / torch", ours, torch_ms, GOAL_VS_TORCH))
    print(_common.ratio_line("chainrule / numpy limit", ours, numpy_limit, GOAL_VS_NUMPY))
    print(_common.ratio_line("chainrule / numpy (out,in)", ours, ms["numpy (out,in)"], None))
    return {
        "chainrule_ms": ours,
        "torch_ms": torch_ms,
        "numpy_ms": numpy_limit,
        "numpy_out_in_ms": ms["numpy (out,in)"],
        "numpy_in_out_ms": ms["numpy (in,out)"],
        "ratio_vs_torch": None if ours is None or torch_ms is None else ours / torch_ms,
        "ratio_vs_numpy": None if ours is None else ours / numpy_limit,
        "goal_vs_torch": GOAL_VS_TORCH,
        "goal_vs_numpy": GOAL_VS_NUMPY,
        "loss_agreement": agreement,
    }


if __name__ == "__main__":
    _common.print_environment()
    main()
