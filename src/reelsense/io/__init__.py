"""Decoding and file I/O: media (PyAV), sidecars, manifests, folder walking.

This is the only layer that touches media files; everything above works on arrays.
"""

from reelsense.io._decode import decode, probe, read_audio, read_frames
from reelsense.io._sidecar import Manifest, Sidecar, iso_time, parse_hashtags, parse_mentions, read_sidecar
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
from reelsense.io._walk import MediaFile, assign_video_ids, walk_media

__all__ = [
    "AUDIO_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "AudioSamples",
    "DecodeLimits",
    "DecodedMedia",
    "FrameSampling",
    "FrameStrategy",
    "Manifest",
    "MediaFile",
    "MediaInfo",
    "Sidecar",
    "VideoFrames",
    "assign_video_ids",
    "decode",
    "iso_time",
    "parse_hashtags",
    "parse_mentions",
    "probe",
    "read_audio",
    "read_frames",
    "read_sidecar",
    "walk_media",
]
