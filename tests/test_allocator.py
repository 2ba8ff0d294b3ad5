"""chainrule.allocator: malloc keeps freed memory, so a training step's arrays reuse the last step's pages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chainrule import allocator

glibc_only = pytest.mark.skipif(allocator._glibc() is None, reason="the C library is not glibc")

# A step's worth of arrays (ten of 2 MB, written and freed), three times over after a first step: the page
# faults per step. Under glibc's adaptive thresholds each step writes 20 MB of fresh pages.
STEPS = """
import resource
import numpy as np
import chainrule

def step():
    arrays = [np.ones(1 << 19, dtype=np.float32) for _ in range(10)]
    del arrays

step()
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / 3)
"""


def faults_per_step(**env: str) -> float:
    ours = ("GLIBC_TUNABLES", allocator.OPT_OUT)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ours}
    done = subprocess.run(
        [sys.executable, "-c", STEPS], capture_output=True, text=True, timeout=120, env={**clean, **env}
    )
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip())


@glibc_only
def test_import_keeps_freed_memory_for_the_next_step() -> None:
    assert faults_per_step() < 100  # 5,120 pages a step are rewritten; none of them should be fresh


@glibc_only
def test_opting_out_leaves_glibc_as_it_was() -> None:
    # The same program faults on every page without the setting: the test above measures something.
    assert faults_per_step(**{allocator.OPT_OUT: "0"}) > 2000


@glibc_only
def test_the_users_own_malloc_settings_win() -> None:
    assert allocator.keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"}) is False
    # glibc reads the variable at start: with a trim threshold of 0 and no change from us, pages are refaulted.
    assert faults_per_step(MALLOC_TRIM_THRESHOLD_="0") > 2000


@glibc_only
def test_malloc_tunables_of_the_user_are_left_alone() -> None:
    assert allocator.keep_freed_memory({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}) is False
    assert allocator.keep_freed_memory({"GLIBC_TUNABLES": "glibc.rtld.nns=2"}) is True  # not malloc's


@pytest.mark.parametrize("value", ["0", "false", "No", " off "])
def test_opt_out_values(value: str) -> None:
    assert allocator.keep_freed_memory({allocator.OPT_OUT: value}) is False


@glibc_only
def test_sets_the_thresholds_on_glibc() -> None:
    assert allocator.keep_freed_memory({}) is True
    assert allocator.keep_freed_memory({allocator.OPT_OUT: "1"}) is True


def test_not_glibc_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert allocator.keep_freed_memory({}) is False
