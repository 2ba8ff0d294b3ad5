"""The example scripts run, each to its documented result: imported and run in this process (with the BLAS
library on one thread, as the command does, to keep the suite fast), and one of them as `python examples/...`."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys

import pytest

from chainrule.cli import blas_threads

pytest.importorskip("sklearn")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def run_example(name: str, capsys: pytest.CaptureFixture[str]) -> tuple[object, str]:
    """(main()'s return value, what it printed) of examples/<name>.py, run quietly."""
    namespace = runpy.run_path(os.path.join(EXAMPLES, f"{name}.py"))
    with blas_threads(1):
        value = namespace["main"](verbose=0)
    return value, capsys.readouterr().out


def printed_number(pattern: str, out: str) -> float:
    match = re.search(pattern, out)
    assert match, out
    return float(match.group(1))


def test_multiclass_digits_reaches_95_percent(capsys):
    accuracy, out = run_example("multiclass_digits", capsys)
    assert accuracy >= 0.95
    assert printed_number(r"test accuracy: ([\d.]+)", out) == pytest.approx(accuracy, abs=5e-5)


def test_binary_breast_cancer_reaches_95_percent(capsys):
    accuracy, out = run_example("binary_breast_cancer", capsys)
    assert accuracy >= 0.95
    assert printed_number(r"test accuracy: ([\d.]+)", out) == pytest.approx(accuracy, abs=5e-5)


def test_regression_diabetes_explains_about_half_the_variance(capsys):
    (mse, r2), out = run_example("regression_diabetes", capsys)
    assert r2 > 0.4 and mse < 0.6  # linear models reach R2 about 0.45 to 0.5 on this split
    assert printed_number(r"test MSE: ([\d.]+)", out) == pytest.approx(mse, abs=5e-5)
    assert printed_number(r"R2: ([\d.]+)", out) == pytest.approx(r2, abs=5e-5)


def test_an_example_runs_as_a_script():
    done = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "binary_breast_cancer.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert printed_number(r"test accuracy: ([\d.]+)", done.stdout) >= 0.95
