"""Keeping freed memory for the next training step: glibc malloc's two thresholds.

A training step allocates and frees the same arrays every time: activations, gradients, their temporaries,
a few MB in all. glibc's malloc serves a block over M_MMAP_THRESHOLD bytes from fresh mmap'd pages and returns
free memory at the top of its heap to the system once more than M_TRIM_THRESHOLD bytes are free there. Both
thresholds adapt to the sizes freed so far (from 128 KB up to 32 MB, and twice that), so they depend on what
else ran in the process. When the memory goes back to the system, the next step writes to fresh pages, and the
first write to each 4 KB page is a page fault. LeNet's training step (batch 64), in a process that had built
the same net in PyTorch, took up to 1,100 page faults a step: 7.3 ms a step against 5.5 ms without them.
PyTorch's own step, alone in its process, took 600 to 1,000 in two runs out of three.

At import chainrule fixes both at the top of glibc's own range: blocks up to 32 MB come from the heap, and up
to 64 MB of free memory at the heap's top is kept (the LeNet step then took no page faults); beyond that it
still goes back to the system. Nothing is changed where the user has set malloc's parameters (a MALLOC_*_
variable or a glibc.malloc tunable in GLIBC_TUNABLES, which glibc reads at start), where
CHAINRULE_KEEP_FREED_MEMORY=0, or where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for its adaptive threshold (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # the trim threshold glibc itself pairs with it
# mallopt's parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
OPT_OUT = "CHAINRULE_KEEP_FREED_MEMORY"


@cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (which has gnu_get_libc_version and mallopt), else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (a lookup: only glibc has it; musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return libc


def keep_freed_memory(environ: os._Environ | dict[str, str] | None = None) -> bool:
    """Fix malloc's thresholds so that freed memory is kept for reuse (see the module's docstring). Returns True
    if they were set, False where nothing was changed: the user set malloc's parameters (MALLOC_*_ or
    GLIBC_TUNABLES), opted out with CHAINRULE_KEEP_FREED_MEMORY=0, or the C library is not glibc. Called once at
    import."""
    environ = os.environ if environ is None else environ
    if environ.get(OPT_OUT, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if any(name in environ for name in _USER_SETTINGS) or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return False
    libc = _glibc()
    if libc is None:
        return False
    # mallopt returns 1 on success.
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
