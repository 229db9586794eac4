"""How a batch job runs: finding files, worker processes, batching, writing, the engines.

What a job computes (models, frame sampling, the sound index...) is the caller's
:class:`reelsense.featurize.FeaturizerConfig`; this is the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reelsense._checks import check_bool, check_finite, check_int
from reelsense._workers import default_workers
from reelsense.errors import ParameterError
from reelsense.io import DecodeLimits
from reelsense.io._walk import normalize_extensions

__all__ = ["ENGINES", "Engine", "RunConfig", "default_workers"]

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")


@dataclass(frozen=True)
class RunConfig:
    """How a batch job finds, decodes and writes videos (engine ``local`` or ``ray``).

    Finding: ``extensions`` (None: every media extension reelsense decodes),
    ``include_hidden`` (dot-files and dot-folders), ``manifest`` (a CSV/JSONL of captions,
    see :class:`reelsense.io.Manifest`).

    Decoding: ``decode_limits`` (safety limits; they shape the rows, so they are recorded in
    the output and must match on resume).

    Running: ``workers`` decoding processes (local engine); a model batch holds at most
    ``batch_videos`` videos or ``batch_frames`` decoded frames; rows are written every
    ``flush_rows`` rows or ``flush_seconds`` seconds, whichever comes first; ``overwrite``
    discards an existing output (the new one replaces it only when finished);
    ``retry_errors`` recomputes the rows whose status is ``error``; ``strict`` stops at the
    first video that fails (its error row is written first); ``video_timeout_seconds``
    (default 600; None: no limit) bounds the worker-side time of one video (local engine): a video that
    takes longer has its worker processes killed and restarted, is re-run alone, and gets
    an error row if it times out again.

    Ray engine (``engine="ray"``): ``ray_address`` (None: start a local Ray; ``"auto"``:
    the running cluster), ``ray_actors`` model actors (None: one per GPU, else 1; at most
    what leaves the cluster a CPU for the decoding tasks),
    ``ray_gpus_per_actor`` (None: 1 when the cluster has GPUs, else 0), ``ray_cpus_per_actor``
    (CPUs and torch threads per actor), ``ray_videos_per_task`` (videos per decoding task),
    ``ray_task_retries`` (retries of a decoding task that died).
    """

    workers: int = field(default_factory=default_workers)
    extensions: tuple[str, ...] | None = None
    include_hidden: bool = False
    manifest: str | None = None
    decode_limits: DecodeLimits = field(default_factory=DecodeLimits)
    batch_videos: int = 32
    batch_frames: int = 256
    flush_rows: int | None = None
    flush_seconds: float = 30.0
    overwrite: bool = False
    retry_errors: bool = False
    strict: bool = False
    video_timeout_seconds: float | None = 600.0
    ray_address: str | None = None
    ray_actors: int | None = None
    ray_gpus_per_actor: float | None = None
    ray_cpus_per_actor: float = 1.0
    ray_videos_per_task: int = 8
    ray_task_retries: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "workers", check_int(self.workers, "workers", minimum=1))
        if self.extensions is not None:
            normalize_extensions(self.extensions)  # raises on bad values (a bare "mp4" too)
            object.__setattr__(self, "extensions", tuple(self.extensions))
        for name in ("include_hidden", "overwrite", "retry_errors", "strict"):  # "no" was read as True
            object.__setattr__(self, name, check_bool(getattr(self, name), name))
        for name in ("batch_videos", "batch_frames", "ray_videos_per_task"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("flush_rows", "ray_actors"):  # None: the engine's default
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, minimum=1)
        check_int(self.ray_task_retries, "ray_task_retries", minimum=0)
        if check_finite(self.flush_seconds, "flush_seconds") <= 0:
            raise ParameterError(f"flush_seconds={self.flush_seconds} must be > 0")
        if (
            self.video_timeout_seconds is not None
            and check_finite(self.video_timeout_seconds, "video_timeout_seconds") <= 0
        ):
            raise ParameterError(f"video_timeout_seconds={self.video_timeout_seconds} must be > 0 (or None)")
        if self.overwrite and self.retry_errors:
            raise ParameterError("overwrite and retry_errors exclude each other (overwrite recomputes all)")
        if (
            self.ray_gpus_per_actor is not None
            and check_finite(self.ray_gpus_per_actor, "ray_gpus_per_actor") < 0
        ):
            raise ParameterError(f"ray_gpus_per_actor={self.ray_gpus_per_actor} must be >= 0 (or None)")
        if check_finite(self.ray_cpus_per_actor, "ray_cpus_per_actor") <= 0:
            raise ParameterError(f"ray_cpus_per_actor={self.ray_cpus_per_actor} must be > 0")

    def keeps_row(self, status: str) -> bool:
        """Whether a resume keeps a written row of this status: an ``ok`` one, or an error one
        unless ``retry_errors``."""
        return status == "ok" or not self.retry_errors

    def rows_per_flush(self, engine: Engine) -> int:
        """``flush_rows``, or the engine's default: 256 rows per part file locally, 1024 per
        Ray shard (the most a killed Ray driver can lose)."""
        if self.flush_rows is not None:
            return self.flush_rows
        return 1024 if engine == "ray" else 256
