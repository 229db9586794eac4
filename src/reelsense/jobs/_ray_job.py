"""``embed_with_ray``: the embedding job on a Ray cluster (Ray Data), into a folder of shards.

The pipeline (Ray does all the scheduling, retrying and backpressure):

1. On the driver: walk the inputs, read the sidecars, give every video its id
   (:func:`reelsense.pipeline.plan_videos`, as the local job), open the output folder and
   skip the ids already finished there (:class:`~reelsense.jobs.ShardFolder`).
2. ``ray.data.from_items`` over the videos to do, in blocks of ``videos_per_task``;
   ``map`` (1 CPU per task) decodes each video once and runs the worker stages
   (descriptors, presence, sound match, log-mel statistics).
3. ``map_batches`` over a fixed pool of ``actors`` model actors (``gpus_per_actor`` GPUs
   each when the cluster has GPUs): the image and text models in batches sized by frames,
   then the fusion of each row (:class:`~reelsense.jobs._ray_tasks.ModelActor`).
4. The driver streams the finished rows back and writes them as shards of at most
   ``shard_rows`` rows (each atomically), with the same schema and file metadata as a
   ``reelsense embed`` file: the same ``reelsense.config`` (so the same resume check), and
   ``reelsense.fusion`` with the actors' device and precision.

Failures: a file that does not decode, or that makes a stage fail, gets an error row, as
locally. A task that dies (a decoder crash, the OOM killer) is retried by Ray up to
``task_retries`` times; if it still fails, its videos are run again one per task, and a
video that still kills its task gets an error row saying so. A killed driver loses only
the rows it had not yet written (at most ``shard_rows``); re-running the same command
computes only those.

Sound discovery (``discover_sounds``) needs every soundtrack of the corpus at once, so it
runs after the shards are written, on the driver: the same corpus pass as the local job
(:func:`reelsense.featurize.cluster_sound_table`) over all shards, each shard then
rewritten atomically. A resumed run redoes it over the whole folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from reelsense.errors import ParameterError
from reelsense.featurize import (
    FUSION_KEY,
    Discoverer,
    VideoFeaturizer,
    cluster_sound_table,
    default_discoverer,
    featurizer_from_options,
    output_notes,
)
from reelsense.fusion import FusionConfig
from reelsense.io import Manifest
from reelsense.jobs._ray_tasks import ModelActor, decode_row, stage_records_json
from reelsense.jobs._shards import ShardFolder
from reelsense.models import select_precision
from reelsense.pipeline import (
    DecodeRequest,
    EmbedConfig,
    EmbedSummary,
    PlannedVideo,
    ProgressEvent,
    WorkerStage,
    build_schema,
    plan_videos,
)
from reelsense.pipeline._job import RunTally, _content_config, _prepare, _run_config, output_examples
from reelsense.pipeline._schema import rows_to_table

__all__ = ["RayEmbedSummary", "cluster_shards", "embed_with_ray"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayEmbedSummary(EmbedSummary):
    """An :class:`~reelsense.pipeline.EmbedSummary` (``output`` is the folder) plus the
    Ray side: ``shards`` in the folder, ``shards_written`` by this run, ``actors`` and
    ``gpus_per_actor`` used, ``lost``: videos whose task died every time (error rows)."""

    shards: int = 0
    shards_written: int = 0
    actors: int = 0
    gpus_per_actor: float = 0.0
    lost: int = 0


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ParameterError(
            "the Ray engine needs Ray Data: pip install 'reelsense[ray]' (or 'ray[data]>=2.10')"
        ) from exc
    return ray


@contextmanager
def _ray_session(ray: Any, address: str | None) -> Iterator[None]:
    """Use the running Ray session, or start one (``address``: a cluster; None: local) and
    shut it down afterwards."""
    if ray.is_initialized():
        yield
        return
    ray.init(address=address, include_dashboard=False, log_to_driver=True)
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def _data_context(ray: Any, *, progress_bars: bool) -> Iterator[None]:
    """Let failed blocks through (their videos are detected and re-run; see the module
    docstring) and hide Ray's progress bars when the caller draws its own."""
    context = ray.data.DataContext.get_current()
    saved = (context.max_errored_blocks, context.enable_progress_bars)
    context.max_errored_blocks = -1
    context.enable_progress_bars = progress_bars
    try:
        yield
    finally:
        context.max_errored_blocks, context.enable_progress_bars = saved


class _Collector:
    """Counts the rows coming back, writes shards, reports progress."""

    def __init__(
        self,
        folder: ShardFolder,
        shard_rows: int,
        flush_seconds: float,
        progress: Callable[[ProgressEvent], None] | None,
        total: int,
        skipped: int,
    ) -> None:
        self.folder = folder
        self.shard_rows = shard_rows
        self.flush_seconds = flush_seconds
        self.tally = RunTally(progress, total, skipped)
        self.done_ids: set[str] = set()
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._last_flush = time.monotonic()

    def add(self, table: pa.Table) -> None:
        ids = table["video_id"].to_pylist()
        statuses = table["status"].to_pylist()
        errors = table["error"].to_pylist()
        self._buffer.append(table)
        self._buffered += table.num_rows
        if self._buffered >= self.shard_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
        for vid, status, error in zip(ids, statuses, errors, strict=True):
            self.done_ids.add(vid)
            self.tally.record(vid, status == "ok", error)

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffered:
            return
        merged = pa.concat_tables([self.folder.conform(t) for t in self._buffer])
        self._buffer, self._buffered = [], 0
        for start in range(0, merged.num_rows, self.shard_rows):
            self.folder.write(merged.slice(start, self.shard_rows))


def _items(todo: Sequence[PlannedVideo]) -> list[dict[str, str]]:
    return [
        {"video_id": p.item.video_id, "path": p.item.path, "base": json.dumps(p.base_columns(), default=str)}
        for p in todo
    ]


def _resources(ray: Any, actors: int | None, gpus_per_actor: float | None) -> tuple[int, float]:
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0))
    gpus = (1.0 if cluster_gpus > 0 else 0.0) if gpus_per_actor is None else float(gpus_per_actor)
    if gpus < 0:
        raise ParameterError(f"gpus_per_actor={gpus_per_actor} must be >= 0")
    if gpus > 0 and cluster_gpus < gpus:
        raise ParameterError(
            f"gpus_per_actor={gpus} but the Ray cluster has {cluster_gpus:g} GPUs "
            "(use gpus_per_actor=0 to run the models on CPUs)"
        )
    if actors is None:
        actors = max(1, int(cluster_gpus // gpus)) if gpus > 0 else 1
    if actors < 1:
        raise ParameterError(f"actors={actors} must be >= 1")
    return actors, gpus


def cluster_shards(folder: ShardFolder, config: FusionConfig, discoverer: Discoverer) -> int:
    """The corpus sound-discovery pass over every shard of ``folder`` (which must be open):
    :func:`~reelsense.featurize.cluster_sound_table` on all rows, then each shard rewritten
    atomically. Returns the number of videos in a shared-sound group."""
    pieces = [
        (shard, table.replace_schema_metadata(folder.schema.metadata)) for shard, table in folder.tables()
    ]
    if not pieces:
        return 0
    table = pa.concat_tables([t for _, t in pieces])
    clustered, grouped = cluster_sound_table(table, config, discoverer, source=repr(str(folder.directory)))
    offset = 0
    for shard, piece in pieces:
        folder.replace(shard, clustered.slice(offset, piece.num_rows))
        offset += piece.num_rows
    return grouped


def _check_index_reachable(ray: Any, given: str | os.PathLike[str] | None, used: str | None) -> None:
    """A folder of reference sounds is indexed into a temporary file on the driver, which the
    decoding tasks of other nodes cannot open: on a cluster of several nodes, refuse it."""
    if given is None or used is None or Path(used) == Path(given):
        return
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1:
        raise ParameterError(
            f"sound index {os.fspath(given)!r} is a folder of reference sounds, indexed on the driver "
            f"only; on a Ray cluster of {len(nodes)} nodes, index it once (reelsense sounds add ... "
            "--index FILE) and pass FILE at a path every node can read"
        )


@dataclass(frozen=True)
class _Job:
    """What the driver prepared: the decoding request and stages, the schema, the actors'
    arguments and resources."""

    request: DecodeRequest
    worker_stages: tuple[WorkerStage, ...]
    schema: pa.Schema
    manifest: Manifest | None
    actor_args: dict[str, Any]
    actors: int
    gpus_per_actor: float
    cpus_per_actor: float
    batch_videos: int
    task_retries: int


def _prepare_job(
    ray: Any,
    fz: VideoFeaturizer,
    inputs: Sequence[str | os.PathLike[str]],
    config: EmbedConfig,
    options: dict[str, Any],
    *,
    discover_sounds: bool,
    precision: str,
    actors: int | None,
    gpus_per_actor: float | None,
    cpus_per_actor: float,
    task_retries: int,
) -> _Job:
    import torch

    n_actors, gpus = _resources(ray, actors, gpus_per_actor)
    device = "cuda" if gpus > 0 else "cpu"
    actor_precision = select_precision(precision, torch.device(device))
    embed_config = fz.embed_config(config)
    worker_stages, feature_stages, manifest, request = _prepare(
        embed_config, fz.worker_stages(), fz.feature_stages(discover_sounds=discover_sounds)
    )
    metadata = {
        **fz.metadata(discover_sounds=discover_sounds),
        "device": device,
        "precision": actor_precision,
    }
    run = {
        **_run_config(inputs, embed_config),
        "workers": None,
        "engine": "ray",
        "actors": n_actors,
        "gpus_per_actor": gpus,
    }
    schema = build_schema(
        [f for s in (*worker_stages, *feature_stages) for f in s.fields],
        config=_content_config(embed_config, manifest, worker_stages, feature_stages),
        run=run,
        extra_metadata={FUSION_KEY: json.dumps(metadata, sort_keys=True, default=str)},
    )
    actor_args = {
        "options": {**options, "device": device, "precision": actor_precision},
        "discover_sounds": discover_sounds,
        "expected_stages": stage_records_json(feature_stages),
        "schema": schema,
        "batch_videos": config.batch_size,
        "batch_frames": config.batch_frames,
        "threads": max(1, math.floor(cpus_per_actor)),
    }
    return _Job(
        request=replace(request, threads=1),
        worker_stages=worker_stages,
        schema=schema,
        manifest=manifest,
        actor_args=actor_args,
        actors=n_actors,
        gpus_per_actor=gpus,
        cpus_per_actor=cpus_per_actor,
        batch_videos=config.batch_size,
        task_retries=task_retries,
    )


def _run_pass(
    ray: Any, job: _Job, videos: Sequence[PlannedVideo], per_task: int, collector: _Collector
) -> list[PlannedVideo]:
    """Run ``videos`` through the Ray pipeline into ``collector``; returns those that never
    came back (their block failed after Ray's retries)."""
    if not videos:
        return []
    dataset = ray.data.from_items(_items(videos), override_num_blocks=math.ceil(len(videos) / per_task))
    with warnings.catch_warnings():
        # Ray Data's default is to retry a task whose worker died forever (a decoder that
        # crashes on one file would loop); the bound is a plain Ray remote argument, which
        # Ray 2.60 warns will move (removed in 2.64).
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        dataset = dataset.map(
            decode_row,
            fn_kwargs={"request": job.request, "stages": job.worker_stages},
            num_cpus=1,
            max_retries=job.task_retries,
        )
    dataset = dataset.map_batches(
        ModelActor,
        fn_constructor_kwargs=job.actor_args,
        batch_size=job.batch_videos,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=job.actors),
        num_gpus=job.gpus_per_actor or None,
        num_cpus=job.cpus_per_actor,
    )
    for block in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
        collector.add(block)
    return [p for p in videos if p.item.video_id not in collector.done_ids]


def _run_all(ray: Any, job: _Job, todo: Sequence[PlannedVideo], per_task: int, collector: _Collector) -> int:
    """Every video of ``todo`` into ``collector``: a pass, the lost videos again one per
    task, error rows for those lost twice. Returns how many got such a row."""
    try:
        lost = _run_pass(ray, job, todo, per_task, collector)
        if lost:
            log.warning("%d videos did not come back (a task died); running them one per task", len(lost))
            lost = _run_pass(ray, job, lost, 1, collector)
        rows = []
        for planned in lost:
            row = planned.base_columns()
            row.update(
                status="error", error=f"the Ray task died every time it processed {planned.item.path!r}"
            )
            rows.append(row)
        if rows:
            collector.add(rows_to_table(rows, job.schema))
        return len(rows)
    finally:
        collector.flush()  # whatever came back is finished: never lost


def embed_with_ray(
    inputs: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    preset: str = "default",
    config: EmbedConfig | None = None,
    ray_address: str | None = None,
    actors: int | None = None,
    gpus_per_actor: float | None = None,
    cpus_per_actor: float = 1.0,
    precision: str = "auto",
    sound_index: str | os.PathLike[str] | None = None,
    discover_sounds: bool = False,
    discoverer: Discoverer | None = None,
    embedding_dim: int = 512,
    frame_strategy: str | None = None,
    frame_vectors: bool = False,
    batch_size: int | None = None,
    batch_frames: int | None = None,
    shard_rows: int = 1024,
    videos_per_task: int = 8,
    task_retries: int = 2,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> RayEmbedSummary:
    """Embed every video under ``inputs`` on Ray into shards in ``output_dir`` (module docstring).

    The rows, schema and ``reelsense.config`` are those of ``reelsense embed`` with the
    same options (:func:`reelsense.featurize.embed_corpus_from_options`), so readers do not
    care which engine wrote them; the folder reads as one table with pandas, pyarrow or
    DuckDB. Resumable: re-running skips the ids finished in the folder (``config``'s
    ``overwrite`` and ``retry_errors`` as locally).

    Args:
        inputs: files or folders, at the same paths on every Ray node (as must be
            ``sound_index``; ``output_dir`` is written by the driver only).
        preset, precision, sound_index, discover_sounds, embedding_dim, frame_strategy,
            frame_vectors, batch_size (frames per image-model pass): as ``reelsense embed``.
        config: finding, decoding, ``batch_size``/``batch_frames`` (a model batch holds at
            most so many videos or frames; ``batch_frames`` here overrides it),
            ``flush_seconds`` (a shard at least this often), ``overwrite``, ``retry_errors``.
            ``workers`` is not used: Ray runs as many decoding tasks as it has CPUs.
        ray_address: the cluster to connect to when no Ray session is running here
            (None: start a local one; it is shut down at the end).
        actors: model actors (None: one per ``gpus_per_actor`` GPUs of the cluster, or 1).
        gpus_per_actor: GPUs per actor (None: 1 when the cluster has GPUs, else 0 = CPU).
        cpus_per_actor: CPUs (and torch threads) per actor.
        discoverer: the corpus sound discovery (None: the local job's default).
        shard_rows: rows per shard (the most a killed driver can lose).
        videos_per_task: videos per decoding task (a task that dies takes them all down
            before they are run again one per task).
        task_retries: Ray retries of a decoding task that died.
        progress: called after planning and after each finished video.

    Raises ParameterError (Ray Data not installed, bad options), OutputError (the folder is
    locked, is a file, or holds shards of another configuration), ModelNotFoundError.
    """
    ray = _import_ray()
    start = time.monotonic()
    config = config or EmbedConfig()
    if batch_frames is not None:
        config = replace(config, batch_frames=batch_frames)
    for name, value in (("shard_rows", shard_rows), ("videos_per_task", videos_per_task)):
        if value < 1:
            raise ParameterError(f"{name}={value} must be >= 1")
    if task_retries < 0:
        raise ParameterError(f"task_retries={task_retries} must be >= 0")
    if not cpus_per_actor > 0:
        raise ParameterError(f"cpus_per_actor={cpus_per_actor} must be > 0")
    options: dict[str, Any] = {
        "preset": preset,
        "frame_strategy": frame_strategy,
        "embedding_dim": embedding_dim,
        "frame_vectors": frame_vectors,
        "batch_size": batch_size,
    }
    # The driver's featurizer (CPU, fp32) gives the stages, their records, the schema and
    # the sound index; its models are not run.
    with (
        featurizer_from_options(**options, device="cpu", precision="fp32", sound_index=sound_index) as fz,
        _ray_session(ray, ray_address),
    ):
        _check_index_reachable(ray, sound_index, fz.sound_index)
        job = _prepare_job(
            ray,
            fz,
            inputs,
            config,
            options,
            discover_sounds=discover_sounds,
            precision=precision,
            actors=actors,
            gpus_per_actor=gpus_per_actor,
            cpus_per_actor=cpus_per_actor,
            task_retries=task_retries,
        )
        plan = plan_videos(
            inputs, extensions=config.extensions, include_hidden=config.include_hidden, manifest=job.manifest
        )
        with ShardFolder(output_dir, job.schema) as folder:
            statuses = folder.open(overwrite=config.overwrite)
            finished = {vid for vid, status in statuses.items() if status == "ok" or not config.retry_errors}
            todo = [p for p in plan if p.item.video_id not in finished]
            skipped = len(plan) - len(todo)
            log.info(
                "%d videos found, %d already in %s, %d to process", len(plan), skipped, output_dir, len(todo)
            )
            collector = _Collector(folder, shard_rows, config.flush_seconds, progress, len(todo), skipped)
            collector.tally.emit()
            with _data_context(ray, progress_bars=progress is None):
                lost = _run_all(ray, job, todo, videos_per_task, collector)
            rows = len(folder.settle())  # one row per id; the discovery pass keeps the count
            if discover_sounds:
                chosen = discoverer or default_discoverer(fz.sound_index)
                grouped = cluster_shards(folder, fz.fusion, chosen)
                log.info("sound discovery: %d videos share a sound with another", grouped)
            shards = folder.shards()
            summary = RayEmbedSummary(
                output=str(output_dir),
                found=len(plan),
                skipped=skipped,
                rows=rows,
                wall_seconds=time.monotonic() - start,
                examples=output_examples(shards[0]) if shards else (),
                shards=len(shards),
                shards_written=folder.shards_written,
                actors=job.actors,
                gpus_per_actor=job.gpus_per_actor,
                lost=lost,
                **collector.tally.summary_fields(),
            )
    return replace(summary, notes=output_notes(output_dir) if summary.rows else ())
