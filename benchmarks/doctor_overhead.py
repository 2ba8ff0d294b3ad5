"""The training doctor's cost on W1: a 784-256-256-10 ReLU MLP, batch 128, cross-entropy, SGD momentum 0.9.

Two copies of the W1 net (the same weights) train on the same cycle of 8 batches: one runs the plain step
(zero_grad, forward, loss, backward, step), the other the same step with the doctor's hooks exactly where
`chainrule.train.fit` calls them (batch_begin before the forward, after_backward before the optimizer's step,
after_step after it). Blocks of BLOCK steps alternate between them for ROUNDS rounds (interleaved, so all see the
same machine load), timed in wall time (as the other benchmarks) and in the process's CPU time; the overhead is
printed as the median over rounds of a round's block over its plain block, and as best block over best block.

On a machine shared with other jobs, those block figures swing by more than the doctor's cost. The figure the
goal is judged on is therefore built by parts: single steps of three kinds -- plain, ordinary (the doctor's
per-step finiteness check) and sampled (every measurement) -- are timed in turn many times, each kind's time is
its fastest, and a doctored run is (sample_every - 1) ordinary steps and one sampled step in every
sample_every: overhead = ((sample_every - 1) * ordinary + sampled) / sample_every / plain. On a quiet machine
the three figures agree. Goal: under 5% at the default settings (Doctor(): sample_every=20, check_finite=True).

Other settings are measured too, to show where the cost comes from: sampling every step, checking finiteness
only, and sampling without the per-step finiteness check.

Run: `python benchmarks/doctor_overhead.py`.
"""

from __future__ import annotations

import _common  # before NumPy: restarts the process without OpenBLAS's kernel overrides

# isort: split
import itertools
import time
from collections.abc import Callable
from typing import Any

import w1_mlp

GOAL = 0.05
BLOCK = 20
ROUNDS = 30
WARMUP = 10
COMPONENT_REPEATS = 800

# label -> Doctor settings (None: the plain step)
SETTINGS: dict[str, dict[str, Any] | None] = {
    "plain": None,
    "doctor (default)": {},
    "check_finite only": {"sample_every": 10**9},
    "sample_every=20, no check": {"check_finite": False},
    "sample_every=1": {"sample_every": 1},
}


def make_step(settings: dict[str, Any] | None, weights: Any, batches: Any) -> Callable[[], float]:
    """A no-argument training step on the next batch of the cycle, with a Doctor of `settings` (or none)."""
    import chainrule as cr
    from chainrule.diagnostics import Doctor

    model, loss_fn, optimizer = w1_mlp.build_chainrule(weights)
    own = [(cr.from_numpy(x), cr.from_numpy(y)) for x, y in batches]
    cycle = itertools.cycle(own)
    if settings is None:

        def plain() -> float:
            x, y = next(cycle)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            value = loss.item()
            loss.backward()
            optimizer.step()
            return value

        return plain

    doctor = Doctor(**settings)
    doctor.begin(model, optimizer, loss_fn)

    def doctored() -> float:
        x, y = next(cycle)
        optimizer.zero_grad()
        doctor.batch_begin()
        output = model(x)
        loss = loss_fn(output, y)
        value = loss.item()
        loss.backward()
        if not doctor.after_backward(value, (x,), output, y):
            raise RuntimeError("the doctor stopped a healthy W1 step")
        optimizer.step()
        doctor.after_step()
        return value

    return doctored


def interleaved_cpu_times(
    steps: dict[str, Callable[[], float]], block: int, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Like _common.interleaved_step_times, but the CPU time of this process (all its threads) per step: on a
    machine shared with other jobs, the wall time of a block swings with their load far more than its CPU time."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            step = steps[name]
            step()
            start = time.process_time()
            for _ in range(block):
                step()
            times[name].append((time.process_time() - start) / block)
    return times


def component_estimate(weights: Any, batches: Any, sample_every: int, repeats: int) -> dict[str, float]:
    """The default doctor's overhead from its two kinds of step, each timed alone: a run with the doctor is, every
    `sample_every` steps, sample_every - 1 ordinary steps (the finiteness check) and one sampled step. Single steps
    of the three kinds (plain, ordinary, sampled) are timed in turn, `repeats` times; each kind's time is its
    fastest (the quiet moments of a shared machine, as _common.best)."""
    steps = {
        "plain": make_step(None, weights, batches),
        "ordinary": make_step({"sample_every": 10**9}, weights, batches),
        "sampled": make_step({"sample_every": 1}, weights, batches),
    }
    for step in steps.values():
        for _ in range(WARMUP):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    clock = time.perf_counter
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            times[name].append(clock() - start)
    low = {name: min(values) for name, values in times.items()}
    ordinary = low["ordinary"] - low["plain"]
    sampled = low["sampled"] - low["plain"]
    share = ((sample_every - 1) * ordinary + sampled) / sample_every / low["plain"]
    return {"plain_ms": low["plain"] * 1e3, "ordinary_us": ordinary * 1e6, "sampled_us": sampled * 1e6, "share": share}


def overheads(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """label -> {'best': best block / best plain block - 1, 'paired_median': the median over rounds of a round's
    block over that round's plain block, - 1}."""
    plain = times["plain"]
    return {
        label: {
            "best": _common.best(values) / _common.best(plain) - 1.0,
            "paired_median": _common.median([ours / base for ours, base in zip(values, plain)]) - 1.0,
        }
        for label, values in times.items()
        if label != "plain"
    }


def main() -> dict[str, Any]:
    _common.limit_threads()
    print(f"Doctor overhead on W1 ({'-'.join(map(str, w1_mlp.SIZES))} ReLU MLP, batch {w1_mlp.BATCH}, SGD momentum)")
    weights = _common.linear_init(w1_mlp.SIZES, w1_mlp.SEED)
    batches = w1_mlp.make_batches()
    steps = {label: make_step(settings, weights, batches) for label, settings in SETTINGS.items()}
    wall = _common.interleaved_step_times(steps, BLOCK, ROUNDS, WARMUP)
    cpu = interleaved_cpu_times(steps, BLOCK, ROUNDS, 0)
    wall_share, cpu_share = overheads(wall), overheads(cpu)
    print("  time per step: best block (median block); overhead, paired median / best blocks, in wall and CPU time")
    for label, values in wall.items():
        line = "  " + _common.describe_times(label, values)
        if label != "plain":
            w, c = wall_share[label], cpu_share[label]
            line += f"   wall {w['paired_median']:+.1%} / {w['best']:+.1%}"
            line += f"   cpu {c['paired_median']:+.1%} / {c['best']:+.1%}"
        print(line)
    from chainrule.diagnostics import Doctor

    every = Doctor().sample_every
    parts = component_estimate(weights, batches, every, COMPONENT_REPEATS)
    print(
        f"  by parts: plain step {parts['plain_ms']:.3f} ms; an ordinary step adds {parts['ordinary_us']:.0f} us, a "
        f"sampled step {parts['sampled_us']:.0f} us; one step in {every} sampled: {parts['share']:+.1%}"
    )
    default = parts["share"]
    verdict = "met" if default < GOAL else "NOT met"
    print(f"  default doctor: {default:+.1%} of W1's step time (goal < {GOAL:.0%}: {verdict})")
    return {
        "plain_ms": _common.best(wall["plain"]) * 1e3,
        "wall": wall_share,
        "cpu": cpu_share,
        "parts": parts,
        "goal": GOAL,
    }


if __name__ == "__main__":
    _common.print_environment()
    main()
