"""How many threads NumPy's BLAS library runs on: PyTorch's `set_num_threads` / `get_num_threads`.

NumPy multiplies matrices in a BLAS library (OpenBLAS, in NumPy's wheels), which starts a thread per core. On a
small network, or on a machine whose cores are busy with other work, those threads wait on each other more
than they compute: with 2 threads on a loaded 2-core machine a small MLP trained up to 40 times slower than with
1. `set_num_threads(1)` is then the fix, as `torch.set_num_threads(1)` is for PyTorch.

The count is set through threadpoolctl when it is installed (it knows OpenBLAS, MKL and BLIS); otherwise through
OpenBLAS's own `openblas_set_num_threads`, found in the library NumPy has loaded. Where neither works (another
BLAS, and no threadpoolctl) the functions raise MissingDependencyError, saying what to install.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np

from chainrule.errors import ArgumentError, MissingDependencyError

__all__ = ["get_num_threads", "num_threads", "set_num_threads"]

# OpenBLAS's entry points, as NumPy's wheels export them (scipy-openblas, 64-bit integers) and as a system
# OpenBLAS does.
_OPENBLAS_NAMES = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)


def _threadpoolctl() -> Any:
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def _blas_infos(threadpoolctl: Any) -> list[dict[str, Any]]:
    """threadpoolctl's records of the BLAS libraries loaded in this process."""
    return [info for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]


def _loaded_libraries() -> list[str]:
    """Paths of the shared libraries loaded in this process that look like OpenBLAS (Linux: /proc/self/maps),
    then those shipped inside NumPy's own package (the wheels' copy, on any platform)."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    root = os.path.dirname(os.path.dirname(np.__file__))
    for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"):
        for path in glob.glob(os.path.join(root, pattern)):
            if path not in paths:
                paths.append(path)
    return paths


@cache
def _openblas() -> tuple[Any, Any] | None:
    """(set, get) functions of the OpenBLAS NumPy uses, or None."""
    for path in _loaded_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS_NAMES:
            setter, getter = getattr(library, set_name, None), getattr(library, get_name, None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return None


def _missing() -> MissingDependencyError:
    if _threadpoolctl() is not None:  # installed, but it knows no BLAS library loaded here (Apple's Accelerate)
        return MissingDependencyError(
            "set_num_threads/get_num_threads: neither threadpoolctl nor chainrule can set the thread count of the "
            "BLAS library NumPy uses here"
        )
    return MissingDependencyError(
        "set_num_threads/get_num_threads: NumPy's BLAS library is not OpenBLAS, and threadpoolctl, which knows the "
        "others, is not installed: pip install threadpoolctl"
    )


def set_num_threads(count: int) -> None:
    """Run NumPy's BLAS library (its matrix products) on `count` threads from now on, a positive int."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ArgumentError(f"set_num_threads: count must be a positive int, got {count!r}")
    threadpoolctl = _threadpoolctl()
    if threadpoolctl is not None and _blas_infos(threadpoolctl):
        threadpoolctl.threadpool_limits(limits=int(count), user_api="blas")  # not as a `with`: it stays
        return
    functions = _openblas()
    if functions is None:
        raise _missing()
    functions[0](int(count))


def get_num_threads() -> int:
    """The number of threads NumPy's BLAS library runs on (the largest, if several BLAS libraries are loaded)."""
    threadpoolctl = _threadpoolctl()
    if threadpoolctl is not None:
        counts = [info["num_threads"] for info in _blas_infos(threadpoolctl)]
        if counts:
            return max(counts)
    functions = _openblas()
    if functions is None:
        raise _missing()
    return int(functions[1]())


@contextlib.contextmanager
def num_threads(count: int) -> Iterator[None]:
    """Inside the block, NumPy's BLAS library runs on `count` threads; afterwards on as many as before.
    count 0 leaves the library's setting alone."""
    if count == 0:
        yield
        return
    before = get_num_threads()
    set_num_threads(count)
    try:
        yield
    finally:
        set_num_threads(before)
