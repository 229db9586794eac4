"""The per-video work done in a worker process: decode once, run the worker stages.

:func:`process_item` is the batch boundary: whatever goes wrong with one file (it does
not decode, a limit is exceeded, a stage raises) becomes that video's ``status=error``
row with the message; it never propagates and never stops the batch.

Two environment variables, read per item, help to audit and test the job:

- ``REELSENSE_WORK_LOG=FILE``: append ``<video_id>\\n`` to FILE each time an item is
  processed (one ``O_APPEND`` write, safe across processes). Shows exactly what a run
  (re)computed, e.g. that a resumed job skipped the finished videos.
- ``REELSENSE_TEST_FAULTS='{"sleep_seconds": s, "crash_ids": [...], "hang_ids": [...]}'``
  (tests only): sleep before each item, end the worker process abruptly (``os._exit``, as
  a segfaulting decoder would) on the ``crash_ids``, or block for an hour (as a hung
  decoder would) on the ``hang_ids``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsense.errors import ParameterError, ReelsenseError
from reelsense.io import DecodedMedia, DecodeLimits, FrameSampling, decode
from reelsense.io._decode import unusable_audio_reason
from reelsense.pipeline._schema import media_columns
from reelsense.pipeline._stages import KeptMedia, WorkerStage

__all__ = ["DecodeRequest", "ItemResult", "WorkItem", "process_item", "report_starts_to"]

WORK_LOG_ENV = "REELSENSE_WORK_LOG"
FAULTS_ENV = "REELSENSE_TEST_FAULTS"


@dataclass(frozen=True)
class WorkItem:
    """One video to process."""

    video_id: str
    path: str


@dataclass(frozen=True)
class DecodeRequest:
    """What to decode from each file (None: that modality is not decoded). ``threads``:
    video decoder threads (0: FFmpeg's choice; 1 when several worker processes share the CPUs)."""

    audio_sample_rate: int | None
    frames: FrameSampling | None
    duration_seconds: float | None
    limits: DecodeLimits
    threads: int = 0


@dataclass(frozen=True)
class ItemResult:
    """What a worker sends back: the row's columns and, when asked, the decoded media."""

    video_id: str
    columns: dict[str, Any]
    media: DecodedMedia | None = None

    @property
    def ok(self) -> bool:
        return bool(self.columns.get("status") == "ok")

    def merge_into(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` (the columns known before decoding) updated in place with this result's
        columns, the worker's warnings appended to the row's; returns ``row``."""
        columns = dict(self.columns)
        row["warnings"] = list(row.get("warnings") or []) + list(columns.pop("warnings", []) or [])
        row.update(columns)
        return row


def _error(item: WorkItem, message: str, warnings: Sequence[str] = (), **columns: Any) -> ItemResult:
    return ItemResult(
        item.video_id, {"status": "error", "error": message, "warnings": list(warnings), **columns}
    )


def _test_faults(item: WorkItem) -> None:
    spec = os.environ.get(FAULTS_ENV)
    if not spec:
        return
    faults = json.loads(spec)
    if faults.get("sleep_seconds"):
        time.sleep(float(faults["sleep_seconds"]))
    if item.video_id in faults.get("crash_ids", ()):
        os._exit(70)
    if item.video_id in faults.get("hang_ids", ()):
        time.sleep(3600.0)


def _log_work(item: WorkItem) -> None:
    log_path = os.environ.get(WORK_LOG_ENV)
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (item.video_id + "\n").encode("utf-8"))
        finally:
            os.close(fd)


def _stage_columns(stage: WorkerStage, media: DecodedMedia) -> dict[str, Any]:
    values = stage.process(media)
    allowed = {f.name for f in stage.fields}
    unknown = set(values) - allowed
    if unknown:
        raise ParameterError(f"stage {stage.name!r} returned undeclared columns {sorted(unknown)}")
    return values


#: where this worker process reports when it starts an item (set by :func:`report_starts_to`)
_STARTS: Any = None


def report_starts_to(queue: Any) -> None:
    """Pool initializer: from now on, :func:`process_item` puts ``(video_id, time.monotonic())``
    on ``queue`` as it starts each item (the monotonic clock is the machine's, so the parent
    can time the item from its real start, not from when it was queued)."""
    global _STARTS
    _STARTS = queue


def process_item(
    item: WorkItem,
    request: DecodeRequest,
    stages: Sequence[WorkerStage],
    keep_media: KeptMedia | None = None,
) -> ItemResult:
    """Decode ``item`` once and run ``stages`` on it; never raises for a bad file. The result
    carries the parts of the decoded media that ``keep_media`` names (None: none)."""
    if _STARTS is not None:
        _STARTS.put((item.video_id, time.monotonic()))
    _test_faults(item)
    _log_work(item)
    try:
        size: int | None = Path(item.path).stat().st_size
    except OSError as exc:
        if Path(item.path).is_symlink():
            return _error(
                item, f"cannot read {item.path!r}: a dangling symbolic link (its target does not exist)"
            )
        return _error(item, f"cannot read {item.path!r}: {exc.strerror or exc}")
    try:
        media = decode(
            item.path,
            audio_sample_rate=request.audio_sample_rate,
            frames=request.frames,
            duration_seconds=request.duration_seconds,
            limits=request.limits,
            threads=request.threads,
        )
    except ReelsenseError as exc:
        return _error(item, str(exc), file_size_bytes=size)
    except Exception as exc:  # batch boundary: an unexpected decoder failure is this item's error
        return _error(item, f"cannot decode {item.path!r}: {type(exc).__name__}: {exc}", file_size_bytes=size)
    if media.audio is None and not media.info.has_video and request.audio_sample_rate:
        # an audio file without usable audio (io.audio_problem): nothing to describe
        reasons = "; ".join(unusable_audio_reason(w) or w for w in media.warnings)
        reasons = reasons or "no decodable audio stream"
        return _error(
            item,
            f"no usable audio in {item.path!r}: {reasons}",
            media.warnings,
            **media_columns(media.info, size),
        )
    columns: dict[str, Any] = {
        "status": "ok",
        "error": None,
        "warnings": list(media.warnings),
        **media_columns(media.info, size),
    }
    for stage in stages:
        try:
            columns.update(_stage_columns(stage, media))
        except Exception as exc:  # batch boundary: a stage failing on one item fails that item only
            return _error(
                item,
                f"stage {stage.name!r} failed: {type(exc).__name__}: {exc}",
                media.warnings,
                **media_columns(media.info, size),
            )
    return ItemResult(item.video_id, columns, keep_media.of(media) if keep_media is not None else None)
