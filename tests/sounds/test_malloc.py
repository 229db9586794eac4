"""The matcher's malloc thresholds (:mod:`reelsense.sounds._malloc`), each case in a fresh
process: the settings last for the process, and a test must not carry them into others."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

from reelsense.sounds._malloc import MMAP_THRESHOLD_BYTES


def _has_glibc_mallinfo2() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        return hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallinfo2")
    except OSError:
        return False


GLIBC = pytest.mark.skipif(not _has_glibc_mallinfo2(), reason="glibc 2.33 or newer only")

# A block below the new mmap threshold and above glibc's first one (128 KiB): whether malloc
# maps it, and whether the heap keeps it once freed, from glibc's own accounting (mallinfo2).
_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from reelsense.sounds._malloc import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = int(sys.argv[1])

    def placed():
        before = libc.mallinfo2().hblks
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)  # touched, as an array's pages are
        mapped = libc.mallinfo2().hblks > before
        libc.free(block)
        return mapped, libc.mallinfo2().fordblks >= size

    print(keep_freed_memory(), keep_freed_memory(), placed())
    """
)


def _run(env_extra: dict[str, str]) -> str:
    own = ("REELSENSE_MALLOC", "GLIBC_TUNABLES")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in own}
    env.update(env_extra)
    size = str(MMAP_THRESHOLD_BYTES // 2)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, size], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.strip()


@GLIBC
def test_freed_blocks_stay_in_the_heap_once_the_thresholds_are_set() -> None:
    """A 16 MiB block comes from the heap, which keeps it once freed, so the next query's arrays
    find their pages already there (the call says the thresholds are set, and says it again
    without setting anything)."""
    assert _run({}) == "True True (False, True)"


@GLIBC
@pytest.mark.parametrize(
    "env",
    [
        {"REELSENSE_MALLOC": "0"},
        {"MALLOC_TRIM_THRESHOLD_": "1000000"},
        {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"},
    ],
)
def test_the_process_own_settings_or_an_opt_out_leave_malloc_alone(env: dict[str, str]) -> None:
    """``REELSENSE_MALLOC=0``, or malloc settings the process was started with: nothing is set,
    and glibc maps the block for it and gives it back when freed (its first threshold is
    128 KiB)."""
    assert _run(env) == "False False (True, False)"
