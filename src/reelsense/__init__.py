"""reelsense: understand short-form video with its sound.

Public API (stable names; implementation modules are private):

- decoding: :func:`decode`, :func:`probe`, :func:`read_audio`, :func:`read_frames`
- errors: :class:`ReelsenseError` and its subclasses
- sidecars: :class:`Sidecar`, :func:`read_sidecar`, :class:`Manifest`, :func:`parse_hashtags`
- batch: :func:`embed_videos` (what ``reelsense embed`` runs), :class:`EmbedConfig`, :class:`EmbedSummary`
- audio descriptors: :func:`compute_audio_descriptors`, :class:`AudioDescriptors`
"""

from reelsense._version import __version__
from reelsense.audio.descriptors import AudioDescriptors, compute_audio_descriptors
from reelsense.errors import (
    DecodeError,
    MediaLimitError,
    ModelNotFoundError,
    OutputError,
    ParameterError,
    ReelsenseError,
    SidecarError,
    SoundIndexError,
    SoundIndexFormatError,
)
from reelsense.io import (
    AudioSamples,
    DecodedMedia,
    DecodeLimits,
    FrameSampling,
    Manifest,
    MediaInfo,
    Sidecar,
    VideoFrames,
    decode,
    parse_hashtags,
    parse_mentions,
    probe,
    read_audio,
    read_frames,
    read_sidecar,
)
from reelsense.pipeline import EmbedConfig, EmbedSummary, embed_videos

__all__ = [
    "AudioDescriptors",
    "AudioSamples",
    "DecodeError",
    "DecodeLimits",
    "DecodedMedia",
    "EmbedConfig",
    "EmbedSummary",
    "FrameSampling",
    "Manifest",
    "MediaInfo",
    "MediaLimitError",
    "ModelNotFoundError",
    "OutputError",
    "ParameterError",
    "ReelsenseError",
    "Sidecar",
    "SidecarError",
    "SoundIndexError",
    "SoundIndexFormatError",
    "VideoFrames",
    "__version__",
    "compute_audio_descriptors",
    "decode",
    "embed_videos",
    "parse_hashtags",
    "parse_mentions",
    "probe",
    "read_audio",
    "read_frames",
    "read_sidecar",
]
