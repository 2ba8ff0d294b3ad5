"""Shared helpers of the training benchmarks: BLAS environment, thread limits, interleaved timing, weights.

Import this module first in a benchmark script (before NumPy): when the process was started with
OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE set (some machines set them to work around old OpenBLAS builds), they pin
NumPy's OpenBLAS to a slower kernel than the CPU supports, so the script re-executes itself without them. Only
this process and its re-execution see the change; the tests and CI keep their environment.

Every library runs on THREADS threads: torch through `torch.set_num_threads`, NumPy's (and scikit-learn's)
OpenBLAS and OpenMP pools through `threadpoolctl.threadpool_limits`.
"""

from __future__ import annotations

import itertools
import os
import sys

BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_RESTARTED_FLAG = "CHAINRULE_BENCH_BLAS_RESTARTED"


def restart_without_blas_overrides() -> None:
    """Re-execute this interpreter without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE when either is set.

    Only for a process started as one of the benchmark scripts (`python benchmarks/run.py`): an interactive
    session, or a test run that imports this module, keeps going untouched. The OpenBLAS library reads these variables
    when it is loaded, so this must run before NumPy is imported; re-executing is the only way to get a
    process whose loader never saw them.
    """
    if not any(name in os.environ for name in BLAS_OVERRIDES) or os.environ.get(_RESTARTED_FLAG):
        return
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if not main_file or not sys.argv or not os.path.isfile(sys.argv[0]):
        return
    if os.path.dirname(os.path.abspath(main_file)) != os.path.dirname(os.path.abspath(__file__)):
        return  # imported by another program (pytest): never restart it
    env = {key: value for key, value in os.environ.items() if key not in BLAS_OVERRIDES}
    env[_RESTARTED_FLAG] = ",".join(f"{name}={os.environ[name]}" for name in BLAS_OVERRIDES if name in os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    # orig_argv keeps the interpreter's own options (-m, -X ...); argv[0] becomes the running interpreter.
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


restart_without_blas_overrides()

# The imports below load NumPy (and its OpenBLAS): they must come after the restart above.
import importlib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

THREADS = 2
SETTLE = 0.1
_thread_limits: list[Any] = []  # the threadpoolctl limiter, kept alive for the life of the process


def optional_import(name: str) -> ModuleType | None:
    """The module `name`, or None (with a message saying which peer is skipped) when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        print(f"  [skip] {name} is not installed ({error}); its side of the benchmark is skipped")
        return None


def limit_threads(threads: int = THREADS) -> None:
    """Every library on `threads` threads: torch's intra-op pool, and the BLAS and OpenMP pools NumPy and
    scikit-learn use. Idempotent."""
    if "torch" not in sys.modules:
        try:
            importlib.import_module("torch")
        except ImportError:
            pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    if not _thread_limits:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("  [warn] threadpoolctl is not installed: NumPy's BLAS runs on its default thread count")
            return
        _thread_limits.append(threadpool_limits(limits=threads))


def blas_report() -> list[dict[str, Any]]:
    """The BLAS libraries loaded in this process: internal_api, architecture (the kernel), version, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "prefix", "architecture", "version", "num_threads", "filepath")
    return [{key: info.get(key) for key in keys} for info in threadpool_info() if info.get("user_api") == "blas"]


def print_environment() -> None:
    """Which BLAS kernel runs NumPy, the thread counts, and whether the OpenBLAS overrides were removed."""
    limit_threads()
    restarted = os.environ.get(_RESTARTED_FLAG)
    if restarted:
        print(f"environment: re-executed without {restarted} (they pin OpenBLAS to a slower kernel)")
    else:
        print("environment: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set")
    print_blas()
    torch = sys.modules.get("torch")
    if torch is not None:
        mkl = " (MKL)" if torch.backends.mkl.is_available() else ""
        print(f"  torch {torch.__version__}: {torch.get_num_threads()} threads{mkl}")


def print_blas() -> None:
    """One line per BLAS library loaded so far (NumPy's; SciPy's once scikit-learn has loaded it)."""
    for info in blas_report():
        path = info["filepath"] or ""
        owner = "NumPy" if "numpy" in path else "SciPy" if "scipy" in path else os.path.basename(path)
        print(
            f"  {owner} BLAS: {info['internal_api']} {info['version']}, kernel {info['architecture']}, "
            f"{info['num_threads']} threads"
        )


# -- timing ---------------------------------------------------------------------------------------------------


def minor_page_faults() -> int | None:
    """This process's minor page faults so far (all threads), or None where the platform does not count them.
    Each is a first write to a fresh 4 KB page of memory: a library that keeps its freed memory takes none per
    step once warm."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved_step_times(
    steps: dict[str, Callable[[], Any]],
    block: int,
    rounds: int,
    warmup: int,
    settle: float = SETTLE,
    faults: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per step of each callable, timed in alternating blocks: the machine is shared and its load
    drifts, so each library's blocks are spread over the same stretch of time.

    Each callable first runs `warmup` times; then, for `rounds` rounds, each runs `block` times in a row and
    the block's mean is recorded. The order of the libraries rotates from round to round.

    Before each block the process sleeps `settle` seconds and runs one untimed step. Without the pause, the
    previous library's worker threads (OpenBLAS's spin for up to ~0.1 s after a call, OpenMP's after a
    parallel region) still occupy a core while the next library runs on the same two: on a 2-CPU machine
    that made PyTorch's W1 step look twice as slow as it is alone.

    With `faults`, each block's minor page faults per step are appended to faults[name] as well.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            step = steps[name]
            time.sleep(settle)
            step()
            faults_before = minor_page_faults()
            start = clock()
            for _ in range(block):
                step()
            times[name].append((clock() - start) / block)
            if faults is not None and faults_before is not None:
                faults.setdefault(name, []).append((minor_page_faults() - faults_before) / block)
    return times


def best(values: Sequence[float]) -> float:
    """The fastest block: the figure the ratios use. The machine is shared (and its virtual CPUs are stolen
    by the host at times); a slow block says how busy the machine was, the fastest how fast the code is, and
    a library whose threads spin at barriers (PyTorch's OpenMP) would be unfairly hurt by the median."""
    return min(values)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def describe_times(label: str, values: Sequence[float], unit: float = 1e3, suffix: str = "ms") -> str:
    """'label: best X ms (median Y ms)' for a list of per-step seconds."""
    return f"{label:<24} best {best(values) * unit:8.3f} {suffix}   (median {median(values) * unit:.3f} {suffix})"


def cpu_counters() -> tuple[int, int] | None:
    """(all jiffies, stolen jiffies) of the whole machine from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields), fields[7] if len(fields) > 7 else 0


def steal_since(start: tuple[int, int] | None) -> float | None:
    """The share of CPU time the hypervisor took from this machine since `start` (from cpu_counters())."""
    end = cpu_counters()
    if start is None or end is None or end[0] == start[0]:
        return None
    return (end[1] - start[1]) / (end[0] - start[0])


# -- weights shared by every library ----------------------------------------------------------------------------


def linear_init(sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """Float32 weights and biases of an MLP with layer widths `sizes`: [W1, b1, W2, b2 ...], W of shape
    (out, in) as in torch's nn.Linear, drawn as torch's default init does: U(-1/sqrt(in), 1/sqrt(in))."""
    rng = np.random.default_rng(seed)
    arrays: list[np.ndarray] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / np.sqrt(fan_in)
        arrays.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32))
        arrays.append(rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32))
    return arrays


def load_chainrule_weights(model: Any, arrays: Sequence[np.ndarray]) -> None:
    """Copy [W1, b1, ...] into a chainrule model's parameters (in `parameters()` order), in place."""
    params = list(model.parameters())
    if len(params) != len(arrays):
        raise ValueError(f"the chainrule model has {len(params)} parameters, the weights {len(arrays)}")
    for param, array in zip(params, arrays):
        np.copyto(param.data, array)


def load_torch_weights(torch: ModuleType, model: Any, arrays: Sequence[np.ndarray]) -> None:
    """Copy [W1, b1, ...] into a torch model's parameters (in `parameters()` order), in place."""
    params = list(model.parameters())
    if len(params) != len(arrays):
        raise ValueError(f"the torch model has {len(params)} parameters, the weights {len(arrays)}")
    with torch.no_grad():
        for param, array in zip(params, arrays):
            param.copy_(torch.from_numpy(array))


def chainrule_missing(build: Callable[[], Any]) -> str | None:
    """None when `build()` (which should make a model, a loss and an optimizer and run one training step)
    works; otherwise the reason, so a benchmark can skip chainrule's side while its pieces are unfinished."""
    try:
        build()
    except (NotImplementedError, ImportError, AttributeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def training_step(model: Any, loss_fn: Any, optimizer: Any, x: Any, y: Any) -> Any:
    """zero_grad, forward, loss, backward, step: the same code drives chainrule and PyTorch."""
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def cycling_step(step: Callable[[Any, Any], Any], batches: Sequence[tuple[Any, Any]]) -> Callable[[], Any]:
    """A no-argument step that trains on the next batch of `batches`, round and round."""
    cycle = itertools.cycle(batches)

    def run() -> Any:
        x, y = next(cycle)
        return step(x, y)

    return run


def framework_steps(
    build_chainrule: Callable[[], tuple[Any, Any, Any]],
    build_torch: Callable[[ModuleType], tuple[Any, Any, Any]],
    batches: Sequence[tuple[Any, Any]],
) -> dict[str, tuple[Callable[[Any, Any], float], list]]:
    """{library: (step(x, y) -> loss as float, that library's batches)} for chainrule and, when installed,
    PyTorch; each build returns (model, loss_fn, optimizer) starting from the same weights."""
    libraries: dict[str, tuple[Callable[[Any, Any], float], list]] = {}

    def chainrule_side() -> tuple[Callable[[Any, Any], float], list]:
        import chainrule as cr

        model, loss_fn, optimizer = build_chainrule()
        own = [(cr.from_numpy(x), cr.from_numpy(y)) for x, y in batches]
        return (lambda x, y: training_step(model, loss_fn, optimizer, x, y).item()), own

    def probe() -> None:
        step, own = chainrule_side()
        step(*own[0])

    missing = chainrule_missing(probe)
    if missing is None:
        libraries["chainrule"] = chainrule_side()
    else:
        print(f"  [skip] chainrule is not ready: {missing}")

    torch = optional_import("torch")
    if torch is not None:
        model, loss_fn, optimizer = build_torch(torch)
        own = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
        libraries["torch"] = ((lambda x, y: training_step(model, loss_fn, optimizer, x, y).item()), own)
    return libraries


def time_against_torch(
    fresh: dict[str, tuple[Callable[[Any, Any], float], list]], block: int, rounds: int, warmup: int, goal: float
) -> dict[str, Any]:
    """Run the first 3 steps of every library from the same weights (their losses must agree: one model), then
    time the steps interleaved and print each library's times and chainrule / torch against `goal`.
    Returns run.py's figures: chainrule_ms, torch_ms, ratio_vs_torch, goal_vs_torch, loss_agreement."""
    losses = {name: [step(*own[i % len(own)]) for i in range(3)] for name, (step, own) in fresh.items()}
    agreement = None
    if "torch" in losses and "chainrule" in losses:
        agreement = max(abs(a - b) for a, b in zip(losses["chainrule"], losses["torch"]))
        example = losses["torch"][0]
        print(f"  losses of the first 3 steps agree across libraries to {agreement:.1e} (e.g. {example:.5f})")
    steps = {name: cycling_step(step, own) for name, (step, own) in fresh.items()}
    faults: dict[str, list[float]] = {}
    times = interleaved_step_times(steps, block, rounds, warmup, faults=faults)
    for name, values in times.items():
        print("  " + describe_times(name, values))
    if faults:
        # A library whose freed memory goes back to the system writes to fresh pages, a page fault per 4 KB
        # (PyTorch alone in its process took 600-1,000 a LeNet step): shown so that a difference in time is not
        # read as one in arithmetic. Here both share one malloc, set by chainrule's import (chainrule.allocator).
        listed = ", ".join(f"{name} {median(values):.1f}" for name, values in faults.items())
        print(f"  page faults per step (median of blocks): {listed}")
    ms = {name: best(values) * 1e3 for name, values in times.items()}
    ours, torch_ms = ms.get("chainrule"), ms.get("torch")
    print(ratio_line("chainrule / torch", ours, torch_ms, goal))
    if ours is not None and torch_ms is not None:
        print(ratio_line("  (medians)", median(times["chainrule"]), median(times["torch"]), None))
    return {
        "chainrule_ms": ours,
        "torch_ms": torch_ms,
        "ratio_vs_torch": None if ours is None or torch_ms is None else ours / torch_ms,
        "goal_vs_torch": goal,
        "loss_agreement": agreement,
    }


# -- the summary row --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of run.py's table: ours and the peer's time, their ratio, and the goal (with whether it is met)."""

    benchmark: str
    peer: str
    ours_ms: float | None
    peer_ms: float | None
    goal: str = "-"
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.ours_ms is None or self.peer_ms is None or self.peer_ms == 0:
            return None
        return self.ours_ms / self.peer_ms


def ratio_row(benchmark: str, peer: str, ours_ms: float | None, peer_ms: float | None, goal: float | None) -> Row:
    """A Row whose goal is a bound on ours / peer."""
    row = Row(benchmark, peer, ours_ms, peer_ms)
    if goal is not None:
        row.goal = f"<= {goal:.2f}x"
        row.met = None if row.ratio is None else row.ratio <= goal
    return row


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table."""
    header = ("benchmark", "peer", "ours ms", "peer ms", "ratio", "goal", "met?")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.benchmark,
                row.peer,
                "-" if row.ours_ms is None else f"{row.ours_ms:.3f}",
                "-" if row.peer_ms is None else f"{row.peer_ms:.3f}",
                "-" if row.ratio is None else f"{row.ratio:.2f}x",
                row.goal,
                {True: "yes", False: "NO", None: "-"}[row.met],
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 3, 4}
    text = []
    for number, line in enumerate(lines):
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width) for i, (cell, width) in enumerate(zip(line, widths))
        ]
        text.append("  ".join(cells).rstrip())
        if number == 0:
            text.append("  ".join("-" * width for width in widths))
    return "\n".join(text)


def ratio_line(label: str, ours: float | None, peer: float | None, goal: float | None) -> str:
    """'label: 0.53x  (goal <= 0.65x: met)' for a benchmark's own printout."""
    if ours is None or peer is None:
        return f"  {label:<26} n/a (skipped)"
    ratio = ours / peer
    if goal is None:
        return f"  {label:<26} {ratio:6.2f}x"
    verdict = "met" if ratio <= goal else "NOT met"
    return f"  {label:<26} {ratio:6.2f}x   (goal <= {goal:.2f}x: {verdict})"
