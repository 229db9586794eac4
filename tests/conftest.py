"""Shared fixtures. Media are generated here with PyAV's encoder; nothing is downloaded."""

from __future__ import annotations

import os
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


def pytest_configure(config: pytest.Config) -> None:
    """The test process's BLAS pools sized to the CPUs it may use (a CI container's quota)."""
    from reelsense._workers import cap_threads_to_available_cpus

    cap_threads_to_available_cpus()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.fixture(scope="session")
def shared_bench() -> Path:
    """The real-audio benchmark next to the checkout; tests that need it skip without it."""
    if not (SHARED_BENCH / "sounds" / "truth.csv").is_file():
        pytest.skip("../shared/bench is not present (it is optional; benchmarks live in scripts/)")
    return SHARED_BENCH
