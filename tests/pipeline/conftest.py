"""Fixtures for pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_media import make_batch


@pytest.fixture(scope="session")
def batch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch, written once per session (tests must not modify it; copy it first)."""
    return make_batch(tmp_path_factory.mktemp("batch") / "in")
