"""Configuration of a batch job (:func:`reelsense.pipeline.embed_videos`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from reelsense._workers import available_cpus
from reelsense.errors import ParameterError
from reelsense.io import DecodeLimits, FrameSampling, normalize_extensions

__all__ = ["EmbedConfig"]


def _default_workers() -> int:
    return max(1, min(8, available_cpus()))


@dataclass(frozen=True)
class EmbedConfig:
    """How a batch job finds, decodes and writes videos.

    Finding: ``extensions`` (None: every media extension reelsense decodes),
    ``include_hidden`` (dot-files and dot-folders), ``manifest`` (a CSV/JSONL of captions,
    see :class:`reelsense.io.Manifest`).

    Decoding (these shape the rows, so they are recorded in the output and must match
    on resume): ``audio_sample_rate`` (Hz) for the audio the stages analyse,
    ``limit_duration_seconds`` (analyse at most the first so many seconds of each file;
    None: the whole file up to ``decode_limits.max_audio_seconds``), ``frames`` (frame
    sampling, needed only by stages that look at pictures), ``decode_limits``.

    Running: ``workers`` decoding processes; ``batch_size`` items per batched (main
    process) stage call, or fewer when their decoded frames reach ``batch_frames`` (a
    batch is sized by what the models will see); a part file is written every ``flush_rows`` rows or
    ``flush_seconds`` seconds, whichever comes first; ``overwrite`` discards an existing
    output; ``retry_errors`` recomputes the rows of an existing output whose status is
    ``error`` (finished ``ok`` rows are kept); ``video_timeout_seconds`` (None: no limit)
    bounds the worker-side time of one video (decoding and worker stages): a video that takes
    longer has its worker processes killed and restarted, is re-run alone, and gets an error
    row if it times out again, so one file that hangs a decoder never stalls a batch.
    """

    workers: int = field(default_factory=_default_workers)
    extensions: tuple[str, ...] | None = None
    include_hidden: bool = False
    manifest: str | None = None
    audio_sample_rate: int = 22050
    limit_duration_seconds: float | None = None
    frames: FrameSampling | None = None
    decode_limits: DecodeLimits = field(default_factory=DecodeLimits)
    batch_size: int = 32
    batch_frames: int = 256
    flush_rows: int = 256
    flush_seconds: float = 30.0
    overwrite: bool = False
    retry_errors: bool = False
    video_timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ParameterError(f"workers={self.workers} must be >= 1")
        if self.extensions is not None:
            normalize_extensions(self.extensions)  # raises on bad values
        if not 1000 <= self.audio_sample_rate <= 384000:
            raise ParameterError(f"audio_sample_rate={self.audio_sample_rate} must be in 1000..384000 Hz")
        if self.limit_duration_seconds is not None and not self.limit_duration_seconds > 0:
            raise ParameterError(f"limit_duration_seconds={self.limit_duration_seconds} must be > 0")
        if self.batch_size < 1:
            raise ParameterError(f"batch_size={self.batch_size} must be >= 1")
        if self.batch_frames < 1:
            raise ParameterError(f"batch_frames={self.batch_frames} must be >= 1")
        if self.flush_rows < 1:
            raise ParameterError(f"flush_rows={self.flush_rows} must be >= 1")
        if not self.flush_seconds > 0:
            raise ParameterError(f"flush_seconds={self.flush_seconds} must be > 0")
        if self.video_timeout_seconds is not None and not self.video_timeout_seconds > 0:
            raise ParameterError(f"video_timeout_seconds={self.video_timeout_seconds} must be > 0 (or None)")
        if self.overwrite and self.retry_errors:
            raise ParameterError("overwrite and retry_errors exclude each other (overwrite recomputes all)")
