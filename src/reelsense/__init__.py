"""reelsense: understand short-form video with its sound.

Public API (stable names; implementation modules are private):

- decoding: :func:`decode`, :func:`probe`, :func:`read_audio`, :func:`read_frames`
- errors: :class:`ReelsenseError` and its subclasses
"""

from reelsense._version import __version__
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
    MediaInfo,
    VideoFrames,
    decode,
    probe,
    read_audio,
    read_frames,
)

__all__ = [
    "AudioSamples",
    "DecodeError",
    "DecodeLimits",
    "DecodedMedia",
    "FrameSampling",
    "MediaInfo",
    "MediaLimitError",
    "ModelNotFoundError",
    "OutputError",
    "ParameterError",
    "ReelsenseError",
    "SidecarError",
    "SoundIndexError",
    "SoundIndexFormatError",
    "VideoFrames",
    "__version__",
    "decode",
    "probe",
    "read_audio",
    "read_frames",
]
