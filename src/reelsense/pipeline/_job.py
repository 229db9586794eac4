"""``embed_videos``: the batch job behind ``reelsense embed``.

Plan (walk, sidecars, ids) -> skip what the output already holds -> decode and run the
worker stages in N processes -> run the batched feature stages in this process ->
write rows incrementally -> consolidate atomically. See :mod:`._writer` for the on-disk
protocol that makes a killed job resumable, and :mod:`._stages` for adding columns.

Worker processes are started with ``spawn`` (the same on every OS, and safe when this
process has threads or a GPU context). A worker that dies (a decoder crash, the OOM
killer) breaks the pool: the job starts a new pool and re-runs the videos that were in
flight one at a time; a video that kills a worker when running alone gets an error row.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from reelsense._workers import process_pool
from reelsense.errors import ParameterError
from reelsense.io import DecodedMedia, Manifest
from reelsense.pipeline._config import EmbedConfig
from reelsense.pipeline._model_stages import run_feature_stages
from reelsense.pipeline._plan import PlannedVideo, plan_videos
from reelsense.pipeline._schema import SCHEMA_VERSION, build_schema
from reelsense.pipeline._stages import FeatureStage, Stage, WorkerStage, default_worker_stages
from reelsense.pipeline._worker import DecodeRequest, ItemResult, process_item
from reelsense.pipeline._writer import ResumableParquetWriter

__all__ = ["EmbedSummary", "ProgressEvent", "collect_rows", "embed_videos", "output_examples"]

log = logging.getLogger(__name__)

_EXAMPLE_ROWS = 6
_ERROR_EXAMPLES = 5


@dataclass(frozen=True)
class ProgressEvent:
    """Sent after planning (``video_id`` None) and after each finished video."""

    done: int
    total: int
    ok: int
    errors: int
    skipped: int
    video_id: str | None = None


class RunTally:
    """The videos a run finished: counts, the first error messages, and progress events
    (one after planning, one per finished video); shared by the local and Ray engines."""

    def __init__(self, progress: Callable[[ProgressEvent], None] | None, total: int, skipped: int) -> None:
        self.progress = progress
        self.total = total
        self.skipped = skipped
        self.ok = 0
        self.errors = 0
        self.error_examples: list[tuple[str, str]] = []

    def emit(self, video_id: str | None = None) -> None:
        if self.progress is not None:
            done = self.ok + self.errors
            self.progress(ProgressEvent(done, self.total, self.ok, self.errors, self.skipped, video_id))

    def record(self, video_id: str, ok: bool, error: object = None) -> None:
        if ok:
            self.ok += 1
        else:
            self.errors += 1
            if len(self.error_examples) < _ERROR_EXAMPLES:
                self.error_examples.append((video_id, str(error)))
        self.emit(video_id)

    def summary_fields(self) -> dict[str, Any]:
        """``processed``, ``ok``, ``errors`` and ``error_examples`` of an :class:`EmbedSummary`."""
        return {
            "processed": self.ok + self.errors,
            "ok": self.ok,
            "errors": self.errors,
            "error_examples": tuple(self.error_examples),
        }


@dataclass(frozen=True)
class EmbedSummary:
    """What a run did. ``found``: videos found by walking; ``skipped``: already finished in
    the output; ``processed`` = ``ok`` + ``errors`` in this run; ``rows``: rows in the
    output; ``examples``: the first rows of the output; ``error_examples``: ``(video_id,
    error)`` of the first errors of this run."""

    output: str
    found: int
    skipped: int
    processed: int
    ok: int
    errors: int
    rows: int
    wall_seconds: float
    examples: tuple[dict[str, Any], ...] = ()
    error_examples: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def videos_per_second(self) -> float:
        return self.processed / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _stage_record(stage: Stage) -> dict[str, Any]:
    return {"name": stage.name, "version": stage.version, "options": stage.options()}


def _content_config(
    config: EmbedConfig,
    manifest: Manifest | None,
    worker_stages: Sequence[WorkerStage],
    feature_stages: Sequence[FeatureStage],
) -> dict[str, Any]:
    """Everything that shapes the rows (compared on resume)."""
    stages: list[Stage] = [*worker_stages, *feature_stages]
    needs_audio = any(s.needs_audio for s in stages)
    needs_frames = any(s.needs_frames for s in stages)
    return {
        "schema_version": SCHEMA_VERSION,
        "audio_sample_rate": config.audio_sample_rate if needs_audio else None,
        "frames": asdict(config.frames) if needs_frames and config.frames else None,
        "limit_duration_seconds": config.limit_duration_seconds,
        "decode_limits": asdict(config.decode_limits),
        "manifest_sha256": manifest.sha256 if manifest else None,
        "worker_stages": [_stage_record(s) for s in worker_stages],
        "feature_stages": [_stage_record(s) for s in feature_stages],
    }


def _run_config(inputs: Sequence[str | os.PathLike[str]], config: EmbedConfig) -> dict[str, Any]:
    shown = [os.fspath(i) for i in inputs[:100]]
    return {
        "inputs": shown + ([f"... {len(inputs) - 100} more"] if len(inputs) > 100 else []),
        "workers": config.workers,
        "extensions": list(config.extensions) if config.extensions else None,
        "include_hidden": config.include_hidden,
        "manifest": os.path.abspath(config.manifest) if config.manifest else None,  # noqa: PTH100
    }


class _Runner:
    """Feeds planned videos through the executor and feature stages into the writer."""

    def __init__(
        self,
        config: EmbedConfig,
        request: DecodeRequest,
        worker_stages: tuple[WorkerStage, ...],
        feature_stages: tuple[FeatureStage, ...],
        writer: ResumableParquetWriter,
        progress: Callable[[ProgressEvent], None] | None,
        total: int,
        skipped: int,
    ) -> None:
        self.config = config
        self.request = request
        self.worker_stages = worker_stages
        self.feature_stages = feature_stages
        self.writer = writer
        self.tally = RunTally(progress, total, skipped)
        self._batch: list[tuple[dict[str, Any], DecodedMedia]] = []
        self._batch_frames = 0

    # ------------------------------------------------------------------ rows

    def _write(self, row: dict[str, Any]) -> None:
        self.writer.add(row)
        if row["status"] != "ok":
            log.info("error on %s: %s", row["video_id"], row["error"])
        self.tally.record(row["video_id"], row["status"] == "ok", row["error"])

    def _handle(self, planned: PlannedVideo, result: ItemResult) -> None:
        row = result.merge_into(planned.base_columns())
        if result.ok and self.feature_stages and result.media is not None:
            self._batch.append((row, result.media))
            frames = result.media.frames
            self._batch_frames += len(frames) if frames is not None else 0
            if len(self._batch) >= self.config.batch_size or self._batch_frames >= self.config.batch_frames:
                self._run_batch()
        else:
            self._write(row)

    def _run_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._batch_frames = 0
        run_feature_stages(self.feature_stages, batch)
        for row, _ in batch:
            self._write(row)

    # ------------------------------------------------------------------ executor loop

    def _new_pool(self) -> ProcessPoolExecutor:
        return process_pool(self.config.workers, "spawn")

    def _crash_row(self, planned: PlannedVideo, timed_out: bool = False) -> None:
        row = planned.base_columns()
        if timed_out:
            message = (
                f"timed out: processing {planned.item.path!r} took longer than "
                f"{self.config.video_timeout_seconds:g} s (video_timeout_seconds)"
            )
        else:
            message = f"the worker process died while processing {planned.item.path!r}"
        row.update(status="error", error=message)
        self._write(row)

    def run(self, todo: Sequence[PlannedVideo], executor: Executor | None) -> None:
        """Run ``todo`` through the worker stages (in ``executor``, else in a pool this
        method owns), the batched feature stages and the writer.

        A worker that dies breaks an owned pool: a new pool re-runs the videos that were in
        flight one at a time (*suspects*), and a suspect that breaks the pool again alone
        gets an error row. ``video_timeout_seconds`` works the same way: a video running
        longer has its pool's processes killed and is re-run alone, and a video that times
        out alone gets an error row. A caller's executor is never killed (no timeout)."""
        owned = executor is None
        pool: Executor = executor if executor is not None else self._new_pool()
        keep_media = bool(self.feature_stages)
        queue = deque(todo)
        pending: dict[Future[ItemResult], PlannedVideo] = {}
        started: dict[Future[ItemResult], float] = {}
        suspects: set[str] = set()
        limit = max(2, 2 * self.config.workers)
        timeout = self.config.video_timeout_seconds if owned else None
        poll = None if timeout is None else min(1.0, timeout / 4)
        clean = False
        try:
            while queue or pending:
                cap = 1 if suspects else limit  # after a crash: one at a time until the suspects ran
                while queue and len(pending) < cap:
                    planned = queue.popleft()
                    future = pool.submit(
                        process_item, planned.item, self.request, self.worker_stages, keep_media
                    )
                    pending[future] = planned
                done, _ = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
                crashed: list[PlannedVideo] = []
                for future in done:
                    planned = pending.pop(future)
                    started.pop(future, None)
                    try:
                        result = future.result()
                    except BrokenExecutor:
                        crashed.append(planned)
                        continue
                    suspects.discard(planned.item.video_id)
                    self._handle(planned, result)
                stuck = self._stuck(pending, started, timeout)
                if not crashed and not stuck:
                    continue
                if not owned:
                    raise BrokenExecutor(f"the executor broke while processing {crashed[0].item.path!r}")
                if stuck:
                    log.warning("%s ran over %g s; restarting the workers", stuck[0].item.path, timeout)
                    _kill_workers(pool)
                crashed += pending.values()
                pending.clear()
                started.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = self._new_pool()
                if len(crashed) == 1 and crashed[0].item.video_id in suspects:
                    suspects.discard(crashed[0].item.video_id)
                    self._crash_row(crashed[0], timed_out=bool(stuck))
                    continue
                log.warning("a worker process died or hung; re-running %d videos one at a time", len(crashed))
                for planned in reversed(crashed):
                    queue.appendleft(planned)
                    suspects.add(planned.item.video_id)
            if self._batch:
                self._run_batch()
            clean = True
        finally:
            if owned:
                pool.shutdown(wait=clean, cancel_futures=True)

    @staticmethod
    def _stuck(
        pending: Mapping[Future[ItemResult], PlannedVideo],
        started: dict[Future[ItemResult], float],
        timeout: float | None,
    ) -> list[PlannedVideo]:
        """The pending videos running longer than ``timeout`` s. A future counts as started
        when the pool moves it to its call queue (``running()``), at most one item ahead of a
        free worker, so the clock can start early by one video's time; a video flagged so is
        re-run alone, where the clock is exact, before it gets an error row."""
        if timeout is None:
            return []
        now = time.monotonic()
        for future in pending:
            if future not in started and future.running():
                started[future] = now
        return [planned for future, planned in pending.items() if now - started.get(future, now) > timeout]


def _kill_workers(pool: Executor) -> None:
    """Kill the processes of a :class:`ProcessPoolExecutor` (a hung decoder cannot be
    cancelled; ``kill_workers`` exists from Python 3.14, ``_processes`` before)."""
    kill = getattr(pool, "kill_workers", None)
    if callable(kill):
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def _prepare(
    config: EmbedConfig,
    worker_stages: Sequence[WorkerStage] | None,
    feature_stages: Sequence[FeatureStage],
) -> tuple[tuple[WorkerStage, ...], tuple[FeatureStage, ...], Manifest | None, DecodeRequest]:
    """Stages, manifest and decode request of a job (raises for stages needing frames
    without ``config.frames``)."""
    w_stages = default_worker_stages() if worker_stages is None else tuple(worker_stages)
    f_stages = tuple(feature_stages)
    all_stages: list[Stage] = [*w_stages, *f_stages]
    needs_frames = any(s.needs_frames for s in all_stages)
    if needs_frames and config.frames is None:
        names = [s.name for s in all_stages if s.needs_frames]
        raise ParameterError(f"stages {names} need frames: set EmbedConfig.frames (a FrameSampling)")
    manifest = Manifest.load(config.manifest) if config.manifest else None
    request = DecodeRequest(
        audio_sample_rate=config.audio_sample_rate if any(s.needs_audio for s in all_stages) else None,
        frames=config.frames if needs_frames else None,
        duration_seconds=config.limit_duration_seconds,
        limits=config.decode_limits,
        threads=1 if config.workers > 1 else 0,
    )
    return w_stages, f_stages, manifest, request


class _RowSink:
    """Collects rows in memory (the writer's ``add`` without a file)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


def collect_rows(
    inputs: Sequence[str | os.PathLike[str]],
    config: EmbedConfig | None = None,
    *,
    worker_stages: Sequence[WorkerStage] | None = None,
    feature_stages: Sequence[FeatureStage] = (),
    executor: Executor | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> list[dict[str, Any]]:
    """The rows :func:`embed_videos` would write for ``inputs``, in walk order, returned
    instead of written (values as the stages produced them: numpy arrays stay arrays).
    Same planning, workers, batching and per-item error handling; nothing is resumed."""
    config = config or EmbedConfig()
    w_stages, f_stages, manifest, request = _prepare(config, worker_stages, feature_stages)
    plan = plan_videos(
        inputs, extensions=config.extensions, include_hidden=config.include_hidden, manifest=manifest
    )
    sink = _RowSink()
    runner = _Runner(config, request, w_stages, f_stages, sink, progress, len(plan), 0)  # type: ignore[arg-type]
    runner.tally.emit()
    runner.run(plan, executor)
    order = {p.item.video_id: i for i, p in enumerate(plan)}
    return sorted(sink.rows, key=lambda row: order[row["video_id"]])


def output_examples(output: Path) -> tuple[dict[str, Any], ...]:
    parquet = pq.ParquetFile(output)
    if parquet.metadata.num_rows == 0:
        return ()
    batch = next(parquet.iter_batches(batch_size=_EXAMPLE_ROWS))
    return tuple(batch.to_pylist())


def embed_videos(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    config: EmbedConfig | None = None,
    *,
    worker_stages: Sequence[WorkerStage] | None = None,
    feature_stages: Sequence[FeatureStage] = (),
    executor: Executor | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> EmbedSummary:
    """Process every video under ``inputs`` into one Parquet row each, in ``output``.

    Resumable: re-running with the same output skips videos already finished there (see
    :class:`EmbedConfig` for ``overwrite`` and ``retry_errors``). ``worker_stages``
    default to the audio descriptors; ``feature_stages`` run batched in this process.
    ``executor``: run items on it instead of a new process pool (not shut down here;
    a broken one is not replaced). ``progress`` is called after planning and after
    each video. ``metadata``: extra Parquet key-value metadata (informational: not
    compared on resume; see :func:`~reelsense.pipeline.build_schema`).

    Raises ParameterError (bad inputs, unresolvable id collisions, a stage needing frames
    without ``config.frames``), SidecarError (a malformed manifest) and OutputError (the
    output is locked, or was written with another configuration). A video that fails
    never raises: it gets an error row.
    """
    start = time.monotonic()
    config = config or EmbedConfig()
    w_stages, f_stages, manifest, request = _prepare(config, worker_stages, feature_stages)
    schema = build_schema(
        [f for s in (*w_stages, *f_stages) for f in s.fields],
        config=_content_config(config, manifest, w_stages, f_stages),
        run=_run_config(inputs, config),
        extra_metadata=metadata,
    )
    plan = plan_videos(
        inputs, extensions=config.extensions, include_hidden=config.include_hidden, manifest=manifest
    )
    out = Path(output)
    writer = ResumableParquetWriter(
        out, schema, flush_rows=config.flush_rows, flush_seconds=config.flush_seconds
    )
    with writer:
        statuses = writer.open(overwrite=config.overwrite)
        finished = {vid for vid, status in statuses.items() if status == "ok" or not config.retry_errors}
        todo = [p for p in plan if p.item.video_id not in finished]
        skipped = len(plan) - len(todo)
        log.info(
            "%d videos found, %d already finished in %s, %d to process", len(plan), skipped, out, len(todo)
        )
        runner = _Runner(config, request, w_stages, f_stages, writer, progress, len(todo), skipped)
        runner.tally.emit()
        runner.run(todo, executor)
        rows = writer.finish()
    return EmbedSummary(
        output=str(out),
        found=len(plan),
        skipped=skipped,
        rows=rows,
        wall_seconds=time.monotonic() - start,
        examples=output_examples(out),
        **runner.tally.summary_fields(),
    )
