"""The benchmark scripts stay runnable, and their libraries train one and the same net.

Benchmarks are not tests: nothing here times anything. But a benchmark that no longer imports, or whose
chainrule, PyTorch, NumPy and scikit-learn sides drifted apart, reports ratios of different work. So each
script is imported, and a few of its steps are run on every library it compares, from the same weights: the
losses must agree.
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
SCRIPTS = (
    "_common",
    "gemm",
    "overhead",
    "w1_mlp",
    "w2_tiny_mlp",
    "w3_lenet",
    "w4_gru",
    "w5_sklearn",
    "doctor_overhead",
    "run",
)


@pytest.fixture(scope="module", autouse=True)
def benchmarks_importable():
    sys.path.insert(0, BENCHMARKS)
    yield
    sys.path.remove(BENCHMARKS)


def first_losses(libraries: dict, steps: int = 3) -> dict[str, list[float]]:
    """{library: the losses of its first `steps` training steps}."""
    return {name: [step(*own[i % len(own)]) for i in range(steps)] for name, (step, own) in libraries.items()}


def assert_same_losses(losses: dict[str, list[float]], tolerance: float) -> None:
    names = list(losses)
    reference = losses[names[0]]
    for name in names[1:]:
        np.testing.assert_allclose(losses[name], reference, atol=tolerance, err_msg=f"{name} vs {names[0]}")


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_script_imports(name):
    module = importlib.import_module(name)
    assert callable(getattr(module, "main", None)) or name == "_common"


def test_importing_the_benchmarks_never_restarts_the_test_process(monkeypatch):
    common = importlib.import_module("_common")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("CHAINRULE_BENCH_BLAS_RESTARTED", raising=False)
    restarts: list[tuple] = []
    monkeypatch.setattr(common.os, "execve", lambda *args: restarts.append(args))
    common.restart_without_blas_overrides()
    assert restarts == []


@pytest.mark.parametrize(("name", "tolerance"), [("w1_mlp", 1e-4), ("w2_tiny_mlp", 1e-5)])
def test_mlp_benchmarks_train_the_same_net_in_every_library(name, tolerance):
    module = importlib.import_module(name)
    common = importlib.import_module("_common")
    weights = common.linear_init(module.SIZES, module.SEED)
    libraries = module.steps_by_library(weights, module.make_batches(2))
    assert {"chainrule"} <= set(libraries) and any(name.startswith("numpy") for name in libraries)
    losses = first_losses(libraries)
    assert_same_losses(losses, tolerance)
    assert losses["chainrule"][2] < losses["chainrule"][0] + 1.0  # trained, not diverged


def test_lenet_benchmark_matches_torch():
    module = importlib.import_module("w3_lenet")
    libraries = module.steps_by_library(module.lenet_init(), module.make_batches(2))
    if "torch" not in libraries:
        pytest.skip("torch is not installed: chainrule's side only")
    assert_same_losses(first_losses(libraries), 1e-4)


def test_gru_benchmark_matches_torch():
    pytest.importorskip("torch")
    module = importlib.import_module("w4_gru")
    libraries = module.steps_by_library(module.make_batches(2))
    assert set(libraries) == {"chainrule", "torch"}
    assert_same_losses(first_losses(libraries, 2), 1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_benchmark_trains_the_same_net_as_scikit_learn(monkeypatch):
    sklearn_nn = pytest.importorskip("sklearn.neural_network")
    module = importlib.import_module("w5_sklearn")
    common = importlib.import_module("_common")
    monkeypatch.setattr(module, "EPOCHS", 1)
    weights = common.linear_init(module.SIZES, module.SEED)
    x, y = module.make_data(n_samples=600)
    model, loss_fn, optimizer = module.build_chainrule(weights)
    import chainrule as cr

    ours = module.fit_loop(
        lambda xb, yb: common.training_step(model, loss_fn, optimizer, xb, yb).item(), cr.from_numpy, x, y
    )
    net = module.NumpyMLP(weights, module.BATCH, module.LR, module.MOMENTUM, transposed=True)
    by_hand = module.fit_loop(net.step, lambda array: array, x, y)
    theirs = module.sklearn_side(sklearn_nn, weights, x, y)()
    np.testing.assert_allclose(ours, by_hand, atol=1e-4)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_the_summary_table_shows_ratios_and_goals():
    common = importlib.import_module("_common")
    table = common.format_table(
        [common.ratio_row("W1", "torch", 1.0, 2.0, 0.65), common.ratio_row("W2", "torch", 3.0, 2.0, 0.5)]
    )
    lines = table.splitlines()
    assert "0.50x" in lines[2] and lines[2].rstrip().endswith("yes")
    assert "1.50x" in lines[3] and lines[3].rstrip().endswith("NO")
