"""Shared fixtures. Media are generated here with PyAV's encoder; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
