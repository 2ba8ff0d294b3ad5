"""W3: one training step of LeNet-5 on 1x28x28 images, chainrule against PyTorch eager.

Conv2d(1, 6, 5) - ReLU - MaxPool2d(2) - Conv2d(6, 16, 5) - ReLU - MaxPool2d(2) - Flatten - Linear(256, 120) -
ReLU - Linear(120, 84) - ReLU - Linear(84, 10); batch 64, float32, cross-entropy, SGD with momentum 0.9 and
lr 0.01. A step is zero_grad, forward, loss, backward and the optimizer's update. Both libraries start from the
same weights (PyTorch's default init, drawn once with NumPy and copied in) and train on the same cycle of 8
random batches, so they stay numerically the same net (the printed loss agreement is the evidence).

Timing: after a warm-up, each library runs blocks of BLOCK steps in turn, ROUNDS rounds, the order rotating;
the figure is the best block's time per step (see _common.best). Goal: chainrule <= 1.0x PyTorch.

`--profile` adds a breakdown of chainrule's step: the time of each op's forward and of each op's backward
(summed over the ops of one kind), to show where the time goes.

Run: `python benchmarks/w3_lenet.py [--profile]`.
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

BATCH = 64
CLASSES = 10
LR = 0.01
MOMENTUM = 0.9
N_BATCHES = 8
BLOCK = 10
ROUNDS = 20
WARMUP = 10
GOAL_VS_TORCH = 1.0
SEED = 0
# (out, in, kernel) of the two convolutions, then the widths of the three linear layers.
CONVS = ((6, 1, 5), (16, 6, 5))
LINEAR = (256, 120, 84, CLASSES)


def lenet_init(seed: int = SEED) -> list[np.ndarray]:
    """Float32 [conv1.weight, conv1.bias, conv2..., fc1..., fc2..., fc3...] drawn as PyTorch's default init:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels * k * k (conv) or in_features (linear)."""
    rng = np.random.default_rng(seed)
    arrays: list[np.ndarray] = []
    for out_channels, in_channels, k in CONVS:
        bound = 1.0 / np.sqrt(in_channels * k * k)
        arrays.append(rng.uniform(-bound, bound, size=(out_channels, in_channels, k, k)).astype(np.float32))
        arrays.append(rng.uniform(-bound, bound, size=(out_channels,)).astype(np.float32))
    return arrays + _common.linear_init(LINEAR, seed + 1)


def make_batches(n_batches: int = N_BATCHES, seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n_batches` (x, y) pairs: x (BATCH, 1, 28, 28) float32 standard normal, y (BATCH,) int64 classes."""
    rng = np.random.default_rng(seed + 1)
    return [
        (
            rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32),
            rng.integers(0, CLASSES, size=BATCH).astype(np.int64),
        )
        for _ in range(n_batches)
    ]


def lenet(nn: Any) -> Any:
    """LeNet-5 from a library's `nn` namespace (chainrule's and PyTorch's share the names)."""
    return nn.Sequential(
        nn.Conv2d(*CONVS[0][1::-1], CONVS[0][2]),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(*CONVS[1][1::-1], CONVS[1][2]),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(LINEAR[0], LINEAR[1]),
        nn.ReLU(),
        nn.Linear(LINEAR[1], LINEAR[2]),
        nn.ReLU(),
        nn.Linear(LINEAR[2], LINEAR[3]),
    )


def build_chainrule(weights: Sequence[np.ndarray]) -> tuple[Any, Any, Any]:
    from chainrule import nn, optim

    model = lenet(nn)
    _common.load_chainrule_weights(model, weights)
    return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def build_torch(torch: Any, weights: Sequence[np.ndarray]) -> tuple[Any, Any, Any]:
    nn = torch.nn
    model = lenet(nn)
    _common.load_torch_weights(torch, model, weights)
    return model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def steps_by_library(weights: Sequence[np.ndarray], batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """{library: (step(x, y) -> loss as float, that library's batches)}, for the libraries available."""
    return _common.framework_steps(lambda: build_chainrule(weights), lambda torch: build_torch(torch, weights), batches)


# -- where chainrule's time goes ----------------------------------------------------------------------------------


def profile_chainrule(weights: Sequence[np.ndarray], batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    """Print the time of each layer's forward and of each op's backward in chainrule's step (best of many)."""
    import chainrule as cr

    model, loss_fn, optimizer = build_chainrule(weights)
    own = [(cr.from_numpy(x), cr.from_numpy(y)) for x, y in batches]
    clock = time.perf_counter
    forward: dict[str, list[float]] = defaultdict(list)
    backward: dict[str, list[float]] = defaultdict(list)
    other: dict[str, list[float]] = defaultdict(list)

    def timed(fn: Callable, key: str, into: dict) -> Callable:
        def run(*args: Any) -> Any:
            start = clock()
            out = fn(*args)
            into[key].append(clock() - start)
            return out

        return run

    for step in range(200):
        x, y = own[step % len(own)]
        start = clock()
        optimizer.zero_grad()
        other["zero_grad"].append(clock() - start)
        h = x
        for index, layer in enumerate(model):
            start = clock()
            h = layer(h)
            forward[f"{index:2d} {type(layer).__name__}"].append(clock() - start)
        start = clock()
        loss = loss_fn(h, y)
        forward["   loss"].append(clock() - start)
        # Wrap each recorded node's backward closure with a timer, keyed by op name and position.
        stack, seen, order = [loss], set(), 0
        while stack:
            tensor = stack.pop()
            node = tensor._node
            if node is None or id(tensor) in seen:
                continue
            seen.add(id(tensor))
            parents, fn, name = node
            tensor._node = (parents, timed(fn, f"{order:2d} {name}", backward), name)
            order += 1
            stack.extend(parents)
        start = clock()
        loss.backward()
        other["backward (whole)"].append(clock() - start)
        start = clock()
        optimizer.step()
        other["optimizer.step"].append(clock() - start)

    def show(title: str, table: dict[str, list[float]]) -> tuple[float, float]:
        print(f"  {title}")
        fastest = typical = 0.0
        for key, values in table.items():
            low, mid = float(np.min(values[20:])) * 1e3, float(np.median(values[20:])) * 1e3
            fastest, typical = fastest + low, typical + mid
            print(f"    {key:<28} {low:7.3f} ms  (median {mid:7.3f})")
        return fastest, typical

    print("chainrule step breakdown (fastest and median of 180 steps; the timers add a little):")
    fwd = show("forward", forward)
    bwd = show("backward, per recorded op (the first ops recorded are the last to run)", backward)
    show("rest", other)
    print(f"  forward total {fwd[0]:.3f} ms (median {fwd[1]:.3f}), backward ops {bwd[0]:.3f} ms (median {bwd[1]:.3f})")


def profile_torch(weights: Sequence[np.ndarray], batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    """PyTorch's own profiler table for the same step, for comparison."""
    torch = _common.optional_import("torch")
    if torch is None:
        return
    from torch.profiler import profile

    model, loss_fn, optimizer = build_torch(torch, weights)
    own = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    for i in range(20):
        _common.training_step(model, loss_fn, optimizer, *own[i % len(own)])
    with profile() as prof:
        for i in range(50):
            _common.training_step(model, loss_fn, optimizer, *own[i % len(own)])
    print("torch step breakdown (50 steps):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main(profile: bool = False) -> dict[str, Any]:
    _common.limit_threads()
    print(f"W3: LeNet-5 on 1x28x28, batch {BATCH}, cross-entropy, SGD momentum {MOMENTUM}")
    weights = lenet_init()
    batches = make_batches()
    fresh = steps_by_library(weights, batches)

    figures = _common.time_against_torch(fresh, BLOCK, ROUNDS, WARMUP, GOAL_VS_TORCH)
    if profile:
        profile_chainrule(weights, batches)
        profile_torch(weights, batches)
    return figures


if __name__ == "__main__":
    _common.print_environment()
    main(profile="--profile" in sys.argv[1:])
