"""Filling uses from the videos' sidecars (``date_uses``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from reelsense.trends._usage import Use, date_uses


def _use(video_id: str, sound: str) -> Use:
    return Use(video_id=video_id, sound=sound, library_sound=None, timestamp_seconds=None)


def test_a_video_named_by_several_uses_has_its_sidecar_read_and_noted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    (tmp_path / "v.info.json").write_text(
        json.dumps({"timestamp": 1_700_000_000, "description": "hi #x", "duration": "12"}), encoding="utf-8"
    )
    broken = tmp_path / "b.mp4"
    broken.write_bytes(b"")
    (tmp_path / "b.info.json").write_text("{not json", encoding="utf-8")
    uses = [_use("v", "s1"), _use("b", "s1"), _use("v", "s2"), _use("b", "s2")]
    with caplog.at_level(logging.WARNING):
        out = date_uses(uses, {"v": str(video), "b": str(broken)})
    assert [(u.video_id, u.sound, u.timestamp_seconds, u.caption) for u in out] == [
        ("v", "s1", 1_700_000_000, "hi #x"),
        ("b", "s1", None, None),
        ("v", "s2", 1_700_000_000, "hi #x"),
        ("b", "s2", None, None),
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("field dropped" in m and "duration" in m for m in messages) == 1, messages
    assert sum("b.info.json" in m for m in messages) == 1, messages
