"""The MNIST-1D reference rows of examples/mnist1d.py, trained by PyTorch: the yardstick for chainrule's table.

The published accuracies (CNN 94%, GRU 91%) are single runs of the authors' PyTorch code; run to run, with
another seed, they move by a point or more. This script trains the same four reference models, with the same
recipe, loop and data (chainrule.data.mnist1d, bit-identical to the reference generator), in PyTorch, for the
seeds given, and prints the same table. Compare it with `python examples/mnist1d.py --models
logistic,mlp,cnn,gru` over the same seeds: the two libraries draw different initial weights from a seed, so
compare the spreads and the means, not seed by seed.

Needs PyTorch (`pip install torch`). Run: `python examples/mnist1d_torch.py --seeds 0,1,2,3,4,5,6,7,8,9`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.data import mnist1d

try:
    import torch
    from torch import nn
except ImportError as error:  # the example is about PyTorch: say so and stop
    raise SystemExit(f"examples/mnist1d_torch.py needs PyTorch: pip install torch ({error})") from None

PUBLISHED = {"logistic": 32, "mlp": 68, "cnn": 94, "gru": 91}


class MLP(nn.Module):
    def __init__(self, hidden: int = 100) -> None:
        super().__init__()
        self.linear1, self.linear2, self.linear3 = (
            nn.Linear(40, hidden),
            nn.Linear(hidden, hidden),
            nn.Linear(hidden, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear1(x).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


class ConvNet(nn.Module):
    def __init__(self, channels: int = 25) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = nn.Linear(channels * 5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x.view(-1, 1, x.shape[-1])).relu()
        h = self.conv2(h).relu()
        h = self.conv3(h).relu()
        return self.linear(h.view(h.shape[0], -1))


class BiGRU(nn.Module):
    def __init__(self, hidden: int = 6) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(80 * hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x.view(*x.shape[:2], 1))
        return self.linear(out.reshape(out.shape[0], -1))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "logistic": lambda: nn.Linear(40, 10),
    "mlp": MLP,
    "cnn": ConvNet,
    "gru": BiGRU,
}


def train(model: nn.Module, data: Sequence[np.ndarray], steps: int, batch: int = 100) -> tuple[float, float]:
    """The reference loop: Adam lr 1e-2, consecutive batches of the unshuffled set, range(steps + 1) updates.
    Returns (final test accuracy, last batch's loss)."""
    x_train, y_train, x_test, y_test = (torch.from_numpy(array) for array in data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    loss_value = math.nan
    for step in range(steps + 1):
        start = (step * batch) % len(x_train)
        loss = loss_fn(model(x_train[start : start + batch]), y_train[start : start + batch])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        loss_value = loss.item()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return accuracy, loss_value


def main(argv: Sequence[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of: {', '.join(MODELS)}")
    parser.add_argument("--steps", type=int, default=6000, help="training steps (the reference runs steps + 1)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch's intra-op threads")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    if not names or any(name not in MODELS for name in names):
        parser.error(f"--models: choose from {', '.join(MODELS)}, got {args.models!r}")
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    torch.set_num_threads(args.threads)
    data = (*mnist1d(split="train"), *mnist1d(split="test"))

    results: dict[str, list[float]] = {}
    for name in names:
        results[name] = []
        for seed in seeds:
            torch.manual_seed(seed)
            started = time.perf_counter()
            accuracy, loss = train(MODELS[name](), data, args.steps)
            results[name].append(accuracy)
            print(
                f"{name:<8} seed {seed}: train loss {loss:.3e}, test accuracy {100 * accuracy:.1f}% "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    print()
    print(f"MNIST-1D test accuracy with PyTorch {torch.__version__}, {args.steps} steps, seeds {args.seeds}")
    for name, values in results.items():
        mean = 100 * float(np.mean(values))
        spread = f" [{100 * min(values):.1f}-{100 * max(values):.1f}]" if len(values) > 1 else ""
        print(f"  {name:<8} {mean:5.1f}%{spread}   published {PUBLISHED[name]}%")
    return results


if __name__ == "__main__":
    main()
