"""``run_job``: a batch job from inputs to a resumable Parquet output, on the ``local`` or ``ray`` engine.

Plan (walk, sidecars, ids) -> open the output and skip what it already holds -> the
engine decodes, runs the worker stages and the batched feature stages -> rows are written
as they finish -> consolidate (one file) or settle (shards) -> an optional corpus-level
pass over every row (``post_pass``). See :mod:`._writer` for the on-disk protocol that
makes a killed job resumable, :mod:`._stages` for what a job computes, :mod:`._local`
and :mod:`._ray` for the engines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence, Set
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from reelsense._checks import check_choice
from reelsense.errors import ItemFailedError
from reelsense.io import Manifest
from reelsense.pipeline._config import ENGINES, Engine, RunConfig
from reelsense.pipeline._plan import JobPlan, PlannedVideo, engine_layout, plan_job
from reelsense.pipeline._schema import SCHEMA_VERSION, build_schema
from reelsense.pipeline._stages import JobSpec, stage_record
from reelsense.pipeline._worker import DecodeRequest
from reelsense.pipeline._writer import Layout, OutputWriter, reading_output

if TYPE_CHECKING:
    from reelsense.pipeline._local import LocalEngine

__all__ = [
    "EmbedSummary",
    "ProgressEvent",
    "RayRunInfo",
    "RunTally",
    "collect_rows",
    "content_config",
    "decode_request",
    "finished_summary",
    "output_examples",
    "run_config",
    "run_job",
]

log = logging.getLogger(__name__)

_EXAMPLE_ROWS = 6
_ERROR_EXAMPLES = 5


@dataclass(frozen=True)
class ProgressEvent:
    """Sent after planning (``video_id`` None), after each finished video, and once more when
    the job is interrupted (``interrupted``; ``video_id`` None), as its last event.

    ``done`` = ``ok`` + ``errors``: the videos of this run whose row was handed to the writer
    (of ``total`` to do; ``skipped``: already in the output). ``saved``: the rows of this run
    in the output's files when the event was sent (kept whatever stops the job then); rows
    handed to the writer are buffered and written every ``flush_rows`` rows or
    ``flush_seconds`` seconds. ``interrupted``: the job was interrupted (Ctrl-C, or SIGTERM
    under the CLI); sent after the writer wrote the rows it held, so ``saved`` is all this
    run kept (below ``done`` when that last write failed), and ``dropped`` counts the videos
    decoded (and perhaps run through the models) whose row was never handed to the writer:
    their work is lost, a resume computes them again (None: not known, the Ray engine; the
    videos still being decoded are not counted)."""

    done: int
    total: int
    ok: int
    errors: int
    skipped: int
    video_id: str | None = None
    saved: int = 0
    interrupted: bool = False
    dropped: int | None = 0


class RunTally:
    """The videos a run finished: counts, the first error messages, and progress events
    (one after planning, one per finished video, one when interrupted); shared by the
    engines. ``saved``: how many rows of this run are on disk now (the writer's
    ``rows_written``; None: 0, nothing is written). With ``strict``, the first failed video
    raises :class:`~reelsense.errors.ItemFailedError` (after its row was handed to the
    writer)."""

    def __init__(
        self,
        progress: Callable[[ProgressEvent], None] | None,
        total: int,
        skipped: int,
        *,
        strict: bool = False,
        saved: Callable[[], int] | None = None,
    ) -> None:
        self.progress = progress
        self.total = total
        self.skipped = skipped
        self.strict = strict
        self.saved = saved
        self.ok = 0
        self.errors = 0
        self.error_examples: list[tuple[str, str]] = []

    def emit(self, video_id: str | None = None) -> None:
        self._send(video_id)

    def interrupted(self, dropped: int | None) -> None:
        """Send the last event of an interrupted job (after the writer wrote what it held):
        ``dropped`` videos were decoded but never handed to the writer (None: not known)."""
        self._send(None, interrupted=True, dropped=dropped)

    def _send(self, video_id: str | None, *, interrupted: bool = False, dropped: int | None = 0) -> None:
        if self.progress is not None:
            done = self.ok + self.errors
            saved = self.saved() if self.saved is not None else 0
            self.progress(
                ProgressEvent(
                    done,
                    self.total,
                    self.ok,
                    self.errors,
                    self.skipped,
                    video_id,
                    saved=saved,
                    interrupted=interrupted,
                    dropped=dropped,
                )
            )

    def record(self, video_id: str, ok: bool, error: object = None) -> None:
        if ok:
            self.ok += 1
        else:
            self.errors += 1
            if len(self.error_examples) < _ERROR_EXAMPLES:
                self.error_examples.append((video_id, str(error)))
        self.emit(video_id)
        if self.strict and not ok:
            raise ItemFailedError(video_id, str(error))

    def summary_fields(self) -> dict[str, Any]:
        """``processed``, ``ok``, ``errors`` and ``error_examples`` of an :class:`EmbedSummary`."""
        return {
            "processed": self.ok + self.errors,
            "ok": self.ok,
            "errors": self.errors,
            "error_examples": tuple(self.error_examples),
        }


@dataclass(frozen=True)
class RayRunInfo:
    """The Ray side of a run: ``shards`` in the folder, ``shards_written`` by this run,
    ``actors`` and ``gpus_per_actor`` used, ``lost``: videos whose task died every time
    (they have error rows)."""

    shards: int
    shards_written: int
    actors: int
    gpus_per_actor: float
    lost: int


@dataclass(frozen=True)
class EmbedSummary:
    """What a run did. ``found``: videos found by walking; ``skipped``: already finished in
    the output; ``processed`` = ``ok`` + ``errors`` in this run; ``rows``: rows in the
    output; ``examples``: the first rows of the output; ``error_examples``: ``(video_id,
    error)`` of the first errors of this run; ``notes``: summary lines about the output;
    ``engine``: ``local`` or ``ray`` (``ray`` holds the Ray side); ``kept_errors``: how many
    of the ``skipped`` videos kept an error row of an earlier run (``retry_errors``
    recomputes them)."""

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
    engine: Engine = "local"
    ray: RayRunInfo | None = None
    kept_errors: int = 0

    @property
    def videos_per_second(self) -> float:
        return self.processed / self.wall_seconds if self.wall_seconds > 0 else 0.0


def content_config(spec: JobSpec, run: RunConfig, manifest: Manifest | None) -> dict[str, Any]:
    """Everything that shapes the rows (recorded as ``reelsense.config``, compared on resume)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "audio_sample_rate": spec.audio_sample_rate if spec.needs_audio else None,
        "frames": asdict(spec.frames) if spec.needs_frames and spec.frames else None,
        "limit_duration_seconds": spec.limit_duration_seconds,
        **run_content(run, manifest),
        "worker_stages": [stage_record(s) for s in spec.worker_stages],
        "feature_stages": [stage_record(s) for s in spec.feature_stages],
    }


def run_content(run: RunConfig, manifest: Manifest | None) -> dict[str, Any]:
    """The part of :func:`content_config` that the run options give (not the stages): the
    decoding limits and the manifest's content."""
    return {
        "decode_limits": asdict(run.decode_limits),
        "manifest_sha256": manifest.sha256 if manifest else None,
    }


def run_config(inputs: Sequence[str | os.PathLike[str]], run: RunConfig, engine: Engine) -> dict[str, Any]:
    """How the rows were computed, informational (``reelsense.run``: not compared on resume)."""
    shown = [os.fspath(i) for i in inputs[:100]]
    return {
        "inputs": shown + ([f"... {len(inputs) - 100} more"] if len(inputs) > 100 else []),
        "workers": run.workers if engine == "local" else None,
        "extensions": list(run.extensions) if run.extensions else None,
        "include_hidden": run.include_hidden,
        "manifest": os.path.abspath(run.manifest) if run.manifest else None,  # noqa: PTH100
    }


def decode_request(spec: JobSpec, run: RunConfig, *, threads: int) -> DecodeRequest:
    """What the workers decode for ``spec``'s stages."""
    return DecodeRequest(
        audio_sample_rate=spec.audio_sample_rate if spec.needs_audio else None,
        frames=spec.frames if spec.needs_frames else None,
        duration_seconds=spec.limit_duration_seconds,
        limits=run.decode_limits,
        threads=threads,
    )


def output_examples(files: Sequence[Path], layout: Layout = "file") -> tuple[dict[str, Any], ...]:
    """The first rows of an output (its first file)."""
    for path in files:
        with reading_output(path, layout):
            parquet = pq.ParquetFile(path)
            if parquet.metadata.num_rows:
                batch = next(parquet.iter_batches(batch_size=_EXAMPLE_ROWS))
                return tuple(batch.to_pylist())
    return ()


def run_job(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    spec: JobSpec,
    run: RunConfig | None = None,
    *,
    engine: Engine = "local",
    executor: Executor | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    post_pass: Callable[[pa.Table], pa.Table] | None = None,
    plan: JobPlan | None = None,
) -> EmbedSummary:
    """Process every video under ``inputs`` into one Parquet row each, in ``output`` (one
    file with the ``local`` engine, a folder of shards with ``ray``).

    Resumable: re-running with the same output skips videos already finished there (see
    :class:`RunConfig` for ``overwrite``, ``retry_errors`` and ``strict``). ``executor``
    (local engine): run items on it instead of a new process pool (not shut down here; a
    broken one is not replaced). ``progress`` is called after planning, after each
    video, and once more when the job is interrupted (after the writer wrote the rows it
    held: :class:`ProgressEvent` ``saved`` and ``dropped`` say what the run kept and lost).
    ``post_pass``: a corpus-level transform of all rows (same rows, same order), applied once
    the rows are written, atomically per file. ``plan``: the job already planned
    (:func:`plan_job` with these ``inputs``, ``run``, ``output`` and ``engine``, e.g. the plan
    :func:`finished_summary` was given), used instead of planning again.

    Raises NoMediaError (no media file under ``inputs``: nothing is written), ParameterError
    (bad inputs, unresolvable id collisions, an unknown engine, a ``plan`` made for another
    job),
    SidecarError (a malformed manifest), OutputError (the output is locked, or was written
    with another configuration) and, with ``strict``, ItemFailedError. A video that fails
    never raises otherwise: it gets an error row.
    """
    check_choice(engine, "engine", ENGINES)
    start = time.monotonic()
    run = run or RunConfig()
    layout = engine_layout(engine)
    # read, not locked; checked before an engine starts (Ray takes seconds to)
    OutputWriter(output, build_schema([], config={}, run={}), layout=layout).check_layout()
    if plan is None:
        plan = plan_job(inputs, output, run, engine=engine)
    else:
        plan.check(inputs, output, run, layout)
        start -= plan.seconds  # the wall time counts the planning, as when planned here
    videos, manifest = plan.videos, plan.manifest
    ray_engine = None
    if engine == "ray":
        from reelsense.pipeline._ray import RayEngine

        ray_engine = RayEngine(spec, run)
    tally: RunTally | None = None
    local: LocalEngine | None = None
    try:
        with ray_engine.session() if ray_engine is not None else contextlib.nullcontext():
            extra = dict(spec.metadata)
            if ray_engine is not None:
                extra.update(ray_engine.metadata)
            run_meta = run_config(inputs, run, engine)
            if ray_engine is not None:
                run_meta.update(ray_engine.run_record)
            schema = build_schema(
                spec.fields, config=content_config(spec, run, manifest), run=run_meta, extra_metadata=extra
            )
            out = Path(output)
            flush_rows = run.rows_per_flush(engine)
            writer = OutputWriter(
                out, schema, layout=layout, flush_rows=flush_rows, flush_seconds=run.flush_seconds
            )
            with writer:
                statuses = writer.open(overwrite=run.overwrite)
                finished = {vid for vid, status in statuses.items() if run.keeps_row(status)}
                todo = [p for p in videos if p.item.video_id not in finished]
                skipped = len(videos) - len(todo)
                kept_errors = _kept_errors(videos, statuses, finished)
                log.info(
                    "%d videos found, %d already finished in %s, %d to process",
                    len(videos),
                    skipped,
                    out,
                    len(todo),
                )
                tally = RunTally(
                    progress, len(todo), skipped, strict=run.strict, saved=lambda: writer.rows_written
                )
                tally.emit()
                if ray_engine is not None:
                    ray_engine.run(todo, writer, tally)
                else:
                    from reelsense.pipeline._local import LocalEngine

                    local = LocalEngine(spec, run, writer, tally)
                    local.run(todo, executor)
                rows = writer.finish(post_pass)
                files = writer.files()
                notes = tuple(
                    f"damaged part set aside (its videos were processed again): {d}" for d in writer.damaged
                )
                ray_info = ray_engine.info(writer, files) if ray_engine is not None else None
        return EmbedSummary(
            output=str(out),
            found=len(videos),
            skipped=skipped,
            rows=rows,
            wall_seconds=time.monotonic() - start,
            examples=output_examples(files, writer.layout),
            notes=notes,
            engine=engine,
            ray=ray_info,
            kept_errors=kept_errors,
            **tally.summary_fields(),
        )
    except KeyboardInterrupt:
        if tally is not None:  # sent once the writer wrote what it held (or logged why it could not)
            dropped = None if ray_engine is not None else (local.waiting if local is not None else 0)
            tally.interrupted(dropped)
        raise


def _kept_errors(videos: Sequence[PlannedVideo], statuses: Mapping[str, str], finished: Set[str]) -> int:
    """How many of ``videos`` a resume skips although their row is an error."""
    return sum(1 for p in videos if p.item.video_id in finished and statuses.get(p.item.video_id) == "error")


def finished_summary(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    run: RunConfig | None = None,
    *,
    engine: Engine = "local",
    plan: JobPlan | None = None,
) -> EmbedSummary | None:
    """The summary of a run that would have nothing to do: every video under ``inputs`` is
    already finished in ``output`` (and none is to be retried). None when there is work,
    when the output is incomplete or to be overwritten. Reads the output without its lock
    and checks nothing of its configuration: a caller that skips the job on this answer
    must have compared the configuration itself. ``plan``: the job already planned
    (:func:`plan_job` with these ``inputs``, ``run``, ``output`` and ``engine``); give the
    same plan to :func:`run_job` when this says there is work, and the job is planned once."""
    start = time.monotonic()
    run = run or RunConfig()
    if run.overwrite:
        return None
    layout = engine_layout(engine)
    if plan is None:
        plan = plan_job(inputs, output, run, engine=engine)
    else:
        plan.check(inputs, output, run, layout)
        start -= plan.seconds  # the wall time counts the planning, as when planned here
    statuses = plan.finished
    if statuses is None:
        return None
    finished = {vid for vid, status in statuses.items() if run.keeps_row(status)}
    if any(p.item.video_id not in finished for p in plan.videos):
        return None
    files = OutputWriter(output, build_schema([], config={}, run={}), layout=layout).files()
    return EmbedSummary(
        output=os.fspath(output),
        found=len(plan.videos),
        skipped=len(plan.videos),
        processed=0,
        ok=0,
        errors=0,
        rows=len(statuses),
        wall_seconds=time.monotonic() - start,
        examples=output_examples(files, layout),
        engine=engine,
        kept_errors=_kept_errors(plan.videos, statuses, finished),
    )


class _RowSink:
    """Collects rows in memory (the writer's ``add`` without a file)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def tick(self) -> None:
        """Nothing to write."""


def collect_rows(
    inputs: Sequence[str | os.PathLike[str]],
    spec: JobSpec,
    run: RunConfig | None = None,
    *,
    executor: Executor | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> list[dict[str, Any]]:
    """The rows :func:`run_job` would write for ``inputs`` (local engine), in walk order,
    returned instead of written (values as the stages produced them: numpy arrays stay
    arrays). Same planning, workers, batching and per-item error handling; nothing is
    resumed."""
    from reelsense.pipeline._local import LocalEngine

    run = run or RunConfig()
    videos = plan_job(inputs, run=run).videos
    sink = _RowSink()
    tally = RunTally(progress, len(videos), 0, strict=run.strict)
    tally.emit()
    LocalEngine(spec, run, sink, tally).run(videos, executor)
    order = {p.item.video_id: i for i, p in enumerate(videos)}
    return sorted(sink.rows, key=lambda row: order[row["video_id"]])
