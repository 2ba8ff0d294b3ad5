"""chainrule.set_num_threads / get_num_threads: NumPy's BLAS thread count, through threadpoolctl or OpenBLAS."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import threads
from chainrule.errors import ArgumentError, MissingDependencyError


@pytest.fixture
def restore_threads():
    before = cr.get_num_threads()
    yield
    cr.set_num_threads(before)


@pytest.fixture(params=["threadpoolctl", "openblas"])
def route(request, monkeypatch):
    """Each test runs through threadpoolctl (when installed) and through OpenBLAS's own functions."""
    if request.param == "threadpoolctl":
        pytest.importorskip("threadpoolctl")
    else:
        monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # its import now fails
        if threads._openblas() is None:
            pytest.skip("NumPy's BLAS library is not OpenBLAS")
    return request.param


def test_set_num_threads_is_what_get_num_threads_reports(route, restore_threads):
    for count in (1, 2, 1):
        cr.set_num_threads(count)
        assert cr.get_num_threads() == count
    a = np.ones((64, 64))
    np.testing.assert_array_equal(a @ a, np.full((64, 64), 64.0))  # the library still works


def test_num_threads_restores_the_count_after_the_block(route, restore_threads):
    cr.set_num_threads(2)
    with threads.num_threads(1):
        assert cr.get_num_threads() == 1
    assert cr.get_num_threads() == 2
    with threads.num_threads(0):  # 0: left alone
        assert cr.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_counts_name_the_argument(bad):
    with pytest.raises(ArgumentError, match=r"set_num_threads: count must be a positive int, got"):
        cr.set_num_threads(bad)


def test_without_openblas_or_threadpoolctl_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    monkeypatch.setattr(threads, "_openblas", lambda: None)
    with pytest.raises(MissingDependencyError, match="pip install threadpoolctl"):
        cr.get_num_threads()
    with pytest.raises(MissingDependencyError, match="pip install threadpoolctl"):
        cr.set_num_threads(1)


def test_the_command_line_warns_and_goes_on_when_threads_cannot_be_set(monkeypatch, capsys):
    from chainrule.cli import blas_threads

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    monkeypatch.setattr(threads, "_openblas", lambda: None)
    with blas_threads(1):
        ran = True
    assert ran
    assert "--threads 1 is ignored" in capsys.readouterr().err


def test_a_blas_library_nobody_can_steer_is_named_as_such(monkeypatch):
    class NoBlasKnown:  # threadpoolctl installed, but the BLAS library here is one it does not know
        @staticmethod
        def threadpool_info():
            return [{"user_api": "openmp", "num_threads": 4}]

    monkeypatch.setattr(threads, "_threadpoolctl", lambda: NoBlasKnown)
    monkeypatch.setattr(threads, "_openblas", lambda: None)
    with pytest.raises(MissingDependencyError, match="neither threadpoolctl nor chainrule can set"):
        cr.set_num_threads(2)
