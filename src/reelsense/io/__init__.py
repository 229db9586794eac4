"""Decoding and file I/O: media (PyAV), sidecars, manifests, folder walking.

This is the only layer that touches media files; everything above works on arrays.
"""

from reelsense.io._decode import decode, probe, read_audio, read_frames
from reelsense.io._types import (
    AUDIO_EXTENSIONS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    AudioSamples,
    DecodedMedia,
    DecodeLimits,
    FrameSampling,
    FrameStrategy,
    MediaInfo,
    VideoFrames,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "AudioSamples",
    "DecodeLimits",
    "DecodedMedia",
    "FrameSampling",
    "FrameStrategy",
    "MediaInfo",
    "VideoFrames",
    "decode",
    "probe",
    "read_audio",
    "read_frames",
]
