"""reelsense._progress: the one progress callback type and the stage helper."""

from __future__ import annotations

import pytest

from reelsense._progress import ProgressCallback, stage


def _recorder() -> tuple[list[tuple[str, int, int]], ProgressCallback]:
    calls: list[tuple[str, int, int]] = []
    return calls, lambda name, done, total: calls.append((name, done, total))


def test_a_stage_reports_its_start_and_its_end() -> None:
    calls, progress = _recorder()
    with stage(progress, "read"):
        assert calls == [("read", 0, 1)]
    assert calls == [("read", 0, 1), ("read", 1, 1)]


def test_a_stage_of_steps_reports_each_step() -> None:
    calls, progress = _recorder()
    with stage(progress, "reading", steps=3) as advance:
        advance()
        advance()
    assert calls == [("reading", 0, 3), ("reading", 1, 3), ("reading", 2, 3), ("reading", 3, 3)]


def test_a_stage_that_raises_reports_no_end() -> None:
    calls, progress = _recorder()
    with pytest.raises(ValueError, match="boom"), stage(progress, "map"):
        raise ValueError("boom")
    assert calls == [("map", 0, 1)]


def test_without_a_callback_nothing_is_reported() -> None:
    with stage(None, "read", steps=2) as advance:
        advance()


def test_the_public_name_is_the_one_type() -> None:
    import reelsense.sounds.discover

    assert reelsense.sounds.discover.ProgressCallback is ProgressCallback
