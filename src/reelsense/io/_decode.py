"""One-pass media decoding with PyAV.  (CONTRACT ONLY - implementation pending.)"""

from __future__ import annotations

import os

from reelsense.io._types import AudioSamples, DecodedMedia, DecodeLimits, FrameSampling, MediaInfo, VideoFrames

_DEFAULT_LIMITS = DecodeLimits()


def probe(path: str | os.PathLike[str], *, limits: DecodeLimits = _DEFAULT_LIMITS) -> MediaInfo:
    """Read container and stream metadata without decoding media. Raises DecodeError."""
    raise NotImplementedError


def decode(
    path: str | os.PathLike[str],
    *,
    audio_sample_rate: int | None = None,
    frames: FrameSampling | None = None,
    start_seconds: float = 0.0,
    duration_seconds: float | None = None,
    limits: DecodeLimits = _DEFAULT_LIMITS,
) -> DecodedMedia:
    """Decode a file once: mono float32 audio at ``audio_sample_rate`` (None: no audio is
    decoded) and/or frames chosen by ``frames`` (None: no video is decoded).

    A requested modality the file lacks comes back as ``None``. Raises DecodeError.
    """
    raise NotImplementedError


def read_audio(
    path: str | os.PathLike[str],
    sample_rate: int = 22050,
    *,
    start_seconds: float = 0.0,
    duration_seconds: float | None = None,
    limits: DecodeLimits = _DEFAULT_LIMITS,
) -> AudioSamples:
    """Mono float32 audio; raises DecodeError when the file has no audio stream."""
    raise NotImplementedError


def read_frames(
    path: str | os.PathLike[str],
    sampling: FrameSampling | None = None,
    *,
    limits: DecodeLimits = _DEFAULT_LIMITS,
) -> VideoFrames:
    """Frames chosen by ``sampling``; raises DecodeError when the file has no video stream."""
    raise NotImplementedError
