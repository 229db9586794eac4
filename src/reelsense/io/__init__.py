"""Decoding and file I/O: media (PyAV), sidecars, manifests, folder walking.

This is the only layer that touches media files; everything above works on arrays.
"""

from reelsense.io._decode import decode, probe, read_audio, read_frames
from reelsense.io._files import NotRegularFileError, read_regular_file, regular_file_size
from reelsense.io._sidecar import (
    MAX_TIMESTAMP_SECONDS,
    MIN_TIMESTAMP_SECONDS,
    Manifest,
    Sidecar,
    iso_time,
    parse_hashtags,
    parse_mentions,
    parse_timestamp,
    read_sidecar,
)
from reelsense.io._text import (
    allow_long_csv_fields,
    clean_text,
    csv_float,
    has_surrogates,
    path_from_text,
    path_text,
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
from reelsense.io._walk import MediaFile, assign_video_ids, check_inputs, media_ids, walk_media

__all__ = [
    "AUDIO_EXTENSIONS",
    "MAX_TIMESTAMP_SECONDS",
    "MEDIA_EXTENSIONS",
    "MIN_TIMESTAMP_SECONDS",
    "VIDEO_EXTENSIONS",
    "AudioSamples",
    "DecodeLimits",
    "DecodedMedia",
    "FrameSampling",
    "FrameStrategy",
    "Manifest",
    "MediaFile",
    "MediaInfo",
    "NotRegularFileError",
    "Sidecar",
    "VideoFrames",
    "allow_long_csv_fields",
    "assign_video_ids",
    "check_inputs",
    "clean_text",
    "csv_float",
    "decode",
    "has_surrogates",
    "iso_time",
    "media_ids",
    "parse_hashtags",
    "parse_mentions",
    "parse_timestamp",
    "path_from_text",
    "path_text",
    "probe",
    "read_audio",
    "read_frames",
    "read_regular_file",
    "read_sidecar",
    "regular_file_size",
    "walk_media",
]
