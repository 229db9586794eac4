"""A video whose worker hangs for good, and the per-video time limit that catches it.

``hang`` sets ``REELSENSE_TEST_FAULTS``: the worker blocks for an hour on those videos, as a
hung decoder would, and only the job killing it ends the wait.

Whether a video has run over ``video_timeout_seconds`` is the one wall-clock decision in a
run, and on a loaded 2-core machine a healthy video can outlast any limit a test could
afford to wait for twice (a fresh spawned worker importing reelsense, then decoding, took
14-20 s beside four busy processes). So ``hang`` also fixes that decision to the fact the
test is about: the hung videos are over the limit once they are running, no other video
ever is. Everything after the decision runs for real (killing the workers, re-running the
videos in flight one at a time, the error row); tests/pipeline/test_job.py tests the
decision itself on a fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import Any

import pytest

from reelsense.pipeline import _local
from reelsense.pipeline._worker import FAULTS_ENV


def hang(monkeypatch: pytest.MonkeyPatch, video_ids: Iterable[str]) -> None:
    """Make ``video_ids`` hang in their worker, and be the only videos over the time limit."""
    ids = frozenset(video_ids)
    monkeypatch.setenv(FAULTS_ENV, json.dumps({"hang_ids": sorted(ids)}))

    def overrun(
        pending: Mapping[Future[Any], Any], started: dict[Future[Any], float], timeout: float | None
    ) -> list[Any]:
        if timeout is None:  # no limit (or a caller's executor): never
            return []
        return [
            planned
            for future, planned in pending.items()
            if future.running() and planned.item.video_id in ids
        ]

    monkeypatch.setattr(_local.LocalEngine, "_stuck", staticmethod(overrun))
