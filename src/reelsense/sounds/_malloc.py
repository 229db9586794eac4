"""Keep freed memory for reuse: glibc malloc's thresholds, set once per process by the matcher.

A search allocates tens of megabytes of short-lived arrays per query (the query's keys under
every hypothesis, the hash hits, the votes, the ranking's counts). glibc serves a block larger
than its mmap threshold (128 KiB at first, raised up to 32 MiB as such blocks are freed) with
fresh pages from the kernel and returns it when freed, and it hands the top of its heap back
once more than its trim threshold (twice the mmap one) lies free there. So each query would
touch its arrays' pages for the first time again: one page fault per 4 KiB, each page zeroed
by the kernel (docs/sounds.md has what that costs).

:func:`keep_freed_memory` sets the mmap threshold to 32 MiB (glibc's own upper bound for it)
and the trim threshold to 128 MiB: blocks up to 32 MiB come from the heap, and up to 128 MiB
of freed memory stays in the process for the next query. It changes no result. It does
nothing on a C library other than glibc, when ``REELSENSE_MALLOC=0``, or when the process
was started with malloc settings of its own (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_MAX_``, or ``glibc.malloc``
tunables in ``GLIBC_TUNABLES``): those win.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys

__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "keep_freed_memory"]

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 128 << 20
#: ``mallopt`` parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


@functools.cache
def keep_freed_memory() -> bool:
    """Set malloc's thresholds as the module says, once per process (later calls return the
    first call's answer from the cache). Returns whether they are in effect."""
    if os.environ.get("REELSENSE_MALLOC", "1") == "0":
        log.debug("malloc thresholds left alone: REELSENSE_MALLOC=0")
        return False
    own = [name for name in _OWN_SETTINGS if name in os.environ]
    if own or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        log.debug("malloc thresholds left alone: the process has its own (%s)", own or "GLIBC_TUNABLES")
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only (musl has another allocator)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    log.debug(
        "malloc thresholds (mmap %d, trim %d bytes): %s", MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES, done
    )
    return done
