"""Shared fixtures. Media are generated here with PyAV's encoder; nothing is downloaded."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis profiles, loaded here so every test module (imported after this file) uses one.
# No example database anywhere: a run never depends on what an earlier run found (a failure
# prints its example and a @reproduce_failure blob instead). No deadline: a loaded machine
# makes per-example timing meaningless. With CI set, the examples are derandomized (the
# same examples on every run, chosen from the test's source); locally they are random, so
# the properties keep being explored. HYPOTHESIS_PROFILE=ci|dev overrides the choice.
settings.register_profile("dev", database=None, deadline=None, print_blob=True)
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

SHARED_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"


# One OpenMP/BLAS thread in the test process and the commands it starts. Tests work on small
# arrays that a thread pool does not speed up, and on a loaded machine a pool per process
# spins against the others: three concurrent runs of the ranking tests took 7x their CPU
# time with two torch threads each, and the same time as alone with one. Read by torch and
# OpenMP when first imported (after this file); a variable the caller set is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    """The test process's BLAS pools: one thread, or the caller's ``OMP_NUM_THREADS``
    capped to the CPUs it may use (a CI container's quota)."""
    from threadpoolctl import threadpool_limits

    from reelsense._workers import available_cpus

    wanted = os.environ["OMP_NUM_THREADS"].split(",")[0]
    threads = int(wanted) if wanted.isdigit() else 1
    threadpool_limits(limits=max(1, min(threads, available_cpus())))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.fixture(scope="session")
def shared_bench() -> Path:
    """The real-audio benchmark next to the checkout; tests that need it skip without it."""
    if not (SHARED_BENCH / "sounds" / "truth.csv").is_file():
        pytest.skip("../shared/bench is not present (it is optional; benchmarks live in scripts/)")
    return SHARED_BENCH


@pytest.fixture
def killed_child_env() -> Iterator[dict[str, str]]:
    """The environment for a child process the test kills outright: its own temporary
    directory (``TMPDIR``), removed after the test. A process killed with SIGKILL cannot remove
    what it made there (multiprocessing's ``pymp-*`` folder with its forkserver socket), which
    would otherwise stay in the system's temporary directory after every run. The folder is
    made beside the system's others, so that socket paths stay as short as they are there."""
    scratch = tempfile.mkdtemp(prefix="rs-killed-")
    try:
        yield {**os.environ, "TMPDIR": scratch}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _signal_handlers_kept() -> Iterator[None]:
    """Every test module leaves the handlers of SIGINT and SIGTERM as it found them: a SIGTERM
    handler left behind (``ray.init`` installs one that ``ray.shutdown`` keeps) makes SIGTERM
    no longer stop the test run. A module that changed one fails, naming the handlers, and
    they are put back."""
    kept = (signal.SIGINT, signal.SIGTERM)
    before = {s: signal.getsignal(s) for s in kept}
    yield
    changed = {s: signal.getsignal(s) for s in kept if signal.getsignal(s) != before[s]}
    for s in changed:
        if before[s] is not None:  # None: not set from Python, cannot be put back
            signal.signal(s, before[s])
    assert not changed, "signal handlers left changed: " + ", ".join(
        f"{s.name}: {before[s]!r} -> {now!r}" for s, now in changed.items()
    )
