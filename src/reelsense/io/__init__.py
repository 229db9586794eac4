"""Decoding and file I/O: media (PyAV), sidecars, manifests, folder walking.

This is the only layer that touches media files; everything above works on arrays.
"""

from reelsense.io._decode import decode, probe, read_audio, read_frames
from reelsense.io._sidecar import (
    Manifest,
    Sidecar,
    SidecarSource,
    iso_time,
    parse_hashtags,
    parse_mentions,
    parse_timestamp,
    read_caption_txt,
    read_info_json,
    read_sidecar,
)
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
from reelsense.io._walk import MediaFile, assign_video_ids, normalize_extensions, walk_media

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
    "SidecarSource",
    "VideoFrames",
    "assign_video_ids",
    "decode",
    "iso_time",
    "normalize_extensions",
    "parse_hashtags",
    "parse_mentions",
    "parse_timestamp",
    "probe",
    "read_audio",
    "read_caption_txt",
    "read_frames",
    "read_info_json",
    "read_sidecar",
    "walk_media",
]
