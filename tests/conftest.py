"""Shared fixtures. Media are generated here with PyAV's encoder; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


@pytest.fixture(scope="session")
def shared_bench() -> Path:
    """The real-audio benchmark next to the checkout; tests that need it skip without it."""
    if not (SHARED_BENCH / "sounds" / "truth.csv").is_file():
        pytest.skip("../shared/bench is not present (it is optional; benchmarks live in scripts/)")
    return SHARED_BENCH
