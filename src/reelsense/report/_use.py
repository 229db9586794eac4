"""One video's use of one sound, as the trend report counts it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Use"]


@dataclass(frozen=True)
class Use:
    """One video using one sound (``speed`` relative to the sound's representative).

    ``sound`` is empty for a video without a sound (it still dates the corpus);
    ``linked_hashtag`` is set when the use was linked by caption hashtag, not by audio
    (:mod:`reelsense.report._links`)."""

    video_id: str
    sound: str
    library_sound: str | None
    timestamp_seconds: int | None
    path: str | None = None
    caption: str | None = None
    speed: float | None = None
    score: float | None = None
    linked_hashtag: str | None = None
