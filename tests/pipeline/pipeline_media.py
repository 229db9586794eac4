"""A small batch of generated media for pipeline and CLI tests: good files, bad files, sidecars."""

from __future__ import annotations

import json
from pathlib import Path

from media import write_audio, write_bytes, write_video

GOOD_IDS = ("clip0", "clip1", "nested/clip2", "nested/clip3", "sidecar-id", "song")
BAD_IDS = ("empty", "text")


def make_batch(root: Path, n_extra: int = 0) -> Path:
    """Write the batch under ``root``; returns ``root``.

    Good: four short videos (two in a sub-folder), one with an ``.info.json`` giving id
    ``sidecar-id``, an audio-only flac. Bad: a zero-byte ``empty.mp4`` and a text file
    renamed ``text.mp4``. ``clip1`` has a ``.txt`` caption.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "nested").mkdir(exist_ok=True)
    write_video(root / "clip0.mp4", duration_seconds=1.0, audio="noise", seed=0)
    write_video(root / "clip1.mp4", duration_seconds=1.0, audio="tone", seed=1)
    write_video(root / "nested" / "clip2.webm", duration_seconds=1.0, seed=2)
    write_video(root / "nested" / "clip3.mov", duration_seconds=1.0, audio=None, rotation_degrees=90, seed=3)
    write_video(root / "withinfo.mp4", duration_seconds=1.0, seed=4, width=72, height=128)
    write_audio(root / "song.flac", duration_seconds=2.5, signal="noise")
    for i in range(n_extra):
        write_video(root / f"extra{i}.mp4", duration_seconds=0.5, seed=10 + i)
    write_bytes(root / "empty.mp4", b"")
    write_bytes(root / "text.mp4", b"this is a text file renamed to mp4\n" * 20)
    (root / "clip1.txt").write_text("a caption #Café #猫 with @someone", encoding="utf-8")
    info = {
        "id": "sidecar-id",
        "description": "from the info json #fyp #FYP #dance",
        "title": "t",
        "tags": ["fyp", "dance"],
        "timestamp": 1730374643,
        "uploader": "misty.nomad",
        "duration": 1.0,
        "track": None,
        "artists": None,
    }
    (root / "withinfo.info.json").write_text(json.dumps(info), encoding="utf-8")
    return root
