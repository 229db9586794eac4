"""Result and option types of the decoding layer.

Frozen dataclasses with units in their field names. Arrays are numpy; the repr of a
result shows shapes, never data.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from reelsense._checks import check_choice, check_finite, check_int, check_positive, check_sample_rate
from reelsense.errors import ParameterError

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
]

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv"})
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".flac"}
)
MEDIA_EXTENSIONS: frozenset[str] = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS

FrameStrategy = Literal["uniform", "count", "keyframes", "scenes"]
_STRATEGIES: tuple[str, ...] = ("uniform", "count", "keyframes", "scenes")
#: The highest ``FrameSampling.fps``: every target between two decoded frames is visited, so an
#: unbounded rate would spin (``inf`` never ended); no video shows more than this many frames a second.
MAX_FPS = 1000.0


@dataclass(frozen=True)
class MediaInfo:
    """What a container says about itself (and what decoding found out).

    ``width``/``height`` are the displayed size, i.e. after applying ``rotation_degrees``
    and stretching anamorphic video by ``sample_aspect_ratio`` (pixel width / height; 1.0
    for square pixels or when the file does not say). Fields that do not apply (no video
    stream, no audio stream) are ``None``.
    """

    path: str
    container: str
    duration_seconds: float
    has_audio: bool
    has_video: bool
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation_degrees: int = 0
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    bit_rate: int | None = None
    sample_aspect_ratio: float = 1.0


@dataclass(frozen=True, repr=False)
class AudioSamples:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz (an integer in 8000..384000, the rule of
    :func:`reelsense._checks.check_sample_rate`), starting at ``start_seconds``."""

    samples: np.ndarray
    sample_rate: int
    start_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise ParameterError(f"AudioSamples.samples must be 1-D, got shape {self.samples.shape}")
        if self.samples.dtype != np.float32:
            raise ParameterError(f"AudioSamples.samples must be float32, got {self.samples.dtype}")
        rate = check_sample_rate(self.sample_rate, "AudioSamples.sample_rate")
        object.__setattr__(self, "sample_rate", rate)

    @property
    def duration_seconds(self) -> float:
        return float(self.samples.shape[0]) / float(self.sample_rate)

    def __repr__(self) -> str:
        return (
            f"AudioSamples(samples=<float32 {self.samples.shape}>, sample_rate={self.sample_rate}, "
            f"start_seconds={self.start_seconds:.3f})"
        )


@dataclass(frozen=True, repr=False)
class VideoFrames:
    """RGB uint8 frames ``[n, height, width, 3]`` with their presentation times in seconds."""

    frames: np.ndarray
    pts_seconds: np.ndarray
    strategy: str

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ParameterError(f"VideoFrames.frames must be [n, h, w, 3], got shape {self.frames.shape}")
        if self.frames.dtype != np.uint8:
            raise ParameterError(f"VideoFrames.frames must be uint8, got {self.frames.dtype}")
        if self.pts_seconds.shape != (self.frames.shape[0],):
            raise ParameterError(
                f"VideoFrames.pts_seconds must have shape ({self.frames.shape[0]},), "
                f"got {self.pts_seconds.shape}"
            )

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def __repr__(self) -> str:
        return (
            f"VideoFrames(frames=<uint8 {self.frames.shape}>, pts_seconds=<{self.pts_seconds.shape}>, "
            f"strategy={self.strategy!r})"
        )


@dataclass(frozen=True)
class FrameSampling:
    """Which frames to keep while decoding.

    - ``uniform``: ``fps`` frames per second of video (finite, > 0 and at most 1000).
    - ``count``: ``count`` (an integer >= 1) frames spread evenly over the duration.
    - ``keyframes``: key frames only (the decoder skips the rest; much cheaper). More key
      frames than ``max_frames``: one in 2, 4, ... is kept, over the whole video.
    - ``scenes``: the first frame, then one frame at each shot change, detected by a cheap
      histogram difference above ``scene_threshold`` (0..1), at least
      ``min_scene_seconds`` after the previous cut; at most ``max_frames``. Every
      decoded frame is examined, so the cost follows the frame count: detection stops, with
      a warning, after ``max_scene_frames`` frames (9,000: 2.5 minutes at 60 fps, 5 at 30),
      which bounds a 10-minute 4K 60 fps file to the first 9,000 frames.

    Kept frames are resized while decoding so that their longer side is at most
    ``max_side`` pixels (aspect ratio kept; never upscaled). ``max_frames`` caps every strategy.
    """

    strategy: FrameStrategy = "uniform"
    fps: float = 1.0
    count: int = 8
    max_side: int = 512
    scene_threshold: float = 0.35
    max_frames: int = 256
    min_scene_seconds: float = 0.5
    max_scene_frames: int = 9000

    def __post_init__(self) -> None:
        check_choice(self.strategy, "frame sampling strategy", _STRATEGIES)
        if check_positive(self.fps, "frame sampling fps") > MAX_FPS:
            raise ParameterError(f"frame sampling fps={self.fps} must be <= {MAX_FPS:g}")
        check_int(self.count, "frame sampling count", minimum=1)
        check_int(self.max_side, "frame sampling max_side", minimum=16)
        if not 0.0 < check_finite(self.scene_threshold, "scene_threshold") < 1.0:
            raise ParameterError(f"scene_threshold={self.scene_threshold} must be in (0, 1)")
        check_int(self.max_frames, "max_frames", minimum=1)
        check_int(self.max_scene_frames, "max_scene_frames", minimum=1)
        if check_finite(self.min_scene_seconds, "min_scene_seconds") < 0.0:
            raise ParameterError(f"min_scene_seconds={self.min_scene_seconds} must be >= 0")


@dataclass(frozen=True)
class DecodeLimits:
    """Safety limits against decompression bombs and runaway inputs.

    A file whose duration or frame size exceeds a limit raises ``MediaLimitError``.
    ``max_audio_seconds`` truncates decoded audio instead of failing (long files are
    legitimate; only their first part is decoded). Times are > 0 (``inf``: no limit), sizes
    integers >= 1.
    """

    max_duration_seconds: float = 4 * 3600.0
    max_pixels: int = 8192 * 8192
    max_audio_seconds: float = 600.0
    max_file_bytes: int = 8 * 1024**3

    def __post_init__(self) -> None:
        for name in ("max_duration_seconds", "max_audio_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0:
                raise ParameterError(f"{name}={value!r} must be a number of seconds > 0 (inf: no limit)")
        check_int(self.max_pixels, "max_pixels", minimum=1)
        check_int(self.max_file_bytes, "max_file_bytes", minimum=1)


@dataclass(frozen=True)
class DecodedMedia:
    """Everything one decoding pass produced from one file.

    The counters tell what the pass cost: frames the decoders produced, and video frames
    converted to RGB (only the kept ones are).
    """

    info: MediaInfo
    audio: AudioSamples | None = None
    frames: VideoFrames | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    audio_frames_decoded: int = 0
    video_frames_decoded: int = 0
    video_frames_converted: int = 0
