"""W4: one training step of a GRU language model, chainrule against PyTorch eager, side by side in one process.

Embedding(64, 64) -> GRU(64, 128) -> Linear(128, 64) over sequences of 32 tokens, batch 32, time first (PyTorch's
default layout), cross-entropy against the next token at every step, SGD with momentum 0.9 and lr 0.1. A step is
zero_grad, forward, loss, backward and the optimizer's update. Both libraries start from the same weights
(PyTorch's, copied through state_dict: the keys are the same) and train on the same cycle of 8 random batches,
so the two models stay numerically the same model throughout.

Timing: after a warm-up, each library runs blocks of BLOCK steps in turn, ROUNDS rounds, the order rotating;
the figure is the best block's time per step (see _common.best). Goal: chainrule <= 0.8x PyTorch.

Run: `python benchmarks/w4_gru.py` (add `--profile` to see where chainrule's step spends its time).
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

VOCAB = 64
EMBED = 64
HIDDEN = 128
SEQ = 32
BATCH = 32
LR = 0.1
MOMENTUM = 0.9
N_BATCHES = 8
BLOCK = 5
ROUNDS = 15
WARMUP = 5
GOAL_VS_TORCH = 0.8
SEED = 0


def make_batches(n_batches: int = N_BATCHES, seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n_batches` (tokens, next tokens) pairs, each (SEQ, BATCH) int64: the target is the input shifted by one."""
    rng = np.random.default_rng(seed + 1)
    batches = []
    for _ in range(n_batches):
        stream = rng.integers(0, VOCAB, size=(SEQ + 1, BATCH)).astype(np.int64)
        batches.append((stream[:-1].copy(), stream[1:].copy()))
    return batches


def build(nn: Any) -> Any:
    """The model, written once for both libraries (their nn modules share names and signatures)."""

    class LanguageModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, EMBED)
            self.gru = nn.GRU(EMBED, HIDDEN)
            self.decoder = nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens: Any) -> Any:
            output, _ = self.gru(self.embedding(tokens))
            return self.decoder(output)  # (SEQ, BATCH, VOCAB): a prediction at every step

    return LanguageModel()


def training_step(model: Any, loss_fn: Any, optimizer: Any, x: Any, y: Any) -> Any:
    """zero_grad, forward, loss, backward, step: the same code drives chainrule and PyTorch."""
    optimizer.zero_grad()
    logits = model(x)
    loss = loss_fn(logits.reshape(SEQ * BATCH, VOCAB), y.reshape(SEQ * BATCH))
    loss.backward()
    optimizer.step()
    return loss


def steps_by_library(batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """{library: (step(x, y) -> loss as float, that library's batches)}, for the libraries available."""
    libraries: dict[str, tuple[Callable[[Any, Any], float], list]] = {}
    torch = _common.optional_import("torch")
    reference = None
    if torch is not None:
        torch.manual_seed(SEED)
        model = build(torch.nn)
        reference = {key: value.detach().numpy().copy() for key, value in model.state_dict().items()}
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        loss_fn = torch.nn.CrossEntropyLoss()
        own = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
        libraries["torch"] = ((lambda x, y: training_step(model, loss_fn, optimizer, x, y).item()), own)

    def chainrule_side() -> tuple[Callable[[Any, Any], float], list]:
        import chainrule as cr
        from chainrule import nn, optim

        cr.manual_seed(SEED)
        model = build(nn)
        if reference is not None:
            model.load_state_dict(reference)
        optimizer = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        loss_fn = nn.CrossEntropyLoss()
        own = [(cr.from_numpy(x), cr.from_numpy(y)) for x, y in batches]
        return (lambda x, y: training_step(model, loss_fn, optimizer, x, y).item()), own

    def probe() -> None:
        step, own = chainrule_side()
        step(*own[0])

    missing = _common.chainrule_missing(probe)
    if missing is None:
        libraries["chainrule"] = chainrule_side()
    else:
        print(f"  [skip] chainrule is not ready: {missing}")
    return libraries


def profile(batches: Sequence[tuple[np.ndarray, np.ndarray]], steps: int = 30) -> None:
    """cProfile of chainrule's training steps, the top functions by own time."""
    import cProfile
    import pstats

    step, own = steps_by_library(batches)["chainrule"]
    run = _common.cycling_step(step, own)
    for _ in range(WARMUP):
        run()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        run()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> dict[str, Any]:
    _common.limit_threads()
    print(
        f"W4: Embedding({VOCAB}, {EMBED}) + GRU({EMBED}, {HIDDEN}) + Linear({HIDDEN}, {VOCAB}), seq {SEQ}, "
        f"batch {BATCH}, cross-entropy at every step, SGD momentum {MOMENTUM}"
    )
    batches = make_batches()
    fresh = steps_by_library(batches)
    return _common.time_against_torch(fresh, BLOCK, ROUNDS, WARMUP, GOAL_VS_TORCH)


if __name__ == "__main__":
    _common.print_environment()
    if "--profile" in sys.argv:
        _common.limit_threads()
        profile(make_batches())
    else:
        main()
