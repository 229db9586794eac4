"""The ``ray`` engine: the batch job on a Ray cluster (Ray Data), into a folder of shards.

The pipeline (Ray does all the scheduling, retrying and backpressure):

1. On the driver (:func:`~reelsense.pipeline.run_job`): walk the inputs, read the
   sidecars, give every video its id, open the output folder and skip the ids already
   finished there, as the local engine does.
2. ``ray.data.from_items`` over the videos to do, in blocks of ``ray_videos_per_task``;
   ``map`` (1 CPU per task) decodes each video once and runs the worker stages.
3. ``map_batches`` over a fixed pool of ``ray_actors`` model actors
   (``ray_gpus_per_actor`` GPUs each when the cluster has GPUs): each builds its feature
   stages once with the caller's :class:`~reelsense.pipeline.ActorPlan` and runs them on
   batches sized by frames (:class:`~reelsense.pipeline._ray_tasks.ModelActor`).
4. The driver streams the finished rows back into the writer, which writes them as shards
   (each atomically) with the same schema and file metadata as a local output: every
   ``flush_rows`` rows, and at least every ``flush_seconds`` while rows are buffered, also
   while the driver waits for the next block (:class:`_Ticker`).

Failures: a file that does not decode, or that makes a stage fail, gets an error row, as
locally. A task that dies (a decoder crash, the OOM killer) is retried by Ray up to
``ray_task_retries`` times; if it still fails, its videos are run again one per task, and
a video that still kills its task gets an error row saying so. A killed driver loses only
the rows it had not yet written (at most ``flush_seconds`` of returned rows); re-running
computes only those and the videos still in flight.

This module imports no model code: what runs is the :class:`~reelsense.pipeline.JobSpec`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reelsense._signals import restore_signal_handlers, signal_handlers
from reelsense.errors import ParameterError
from reelsense.pipeline._config import RunConfig
from reelsense.pipeline._plan import PlannedVideo
from reelsense.pipeline._ray_tasks import ModelActor, decode_row, stage_records_json
from reelsense.pipeline._schema import rows_to_table
from reelsense.pipeline._stages import ActorPlan, JobSpec
from reelsense.pipeline._writer import OutputWriter

__all__ = ["RAY_DEVICES", "RayEngine", "actor_gpus"]

log = logging.getLogger(__name__)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ParameterError(
            "the Ray engine needs Ray Data: pip install 'reelsense[ray]' (or 'ray[data]>=2.10')"
        ) from exc
    return ray


#: the devices a Ray run takes (Ray gives each model actor its GPUs: no ``cuda:N``; no MPS)
RAY_DEVICES = ("auto", "cpu", "cuda")


def actor_gpus(device: str, gpus_per_actor: float | None) -> float | None:
    """GPUs per Ray model actor for the feature stages' ``device``
    (:attr:`~reelsense.featurize.FeaturizerConfig.device`) and the GPUs per actor asked for
    (``RunConfig.ray_gpus_per_actor``, ``--gpus-per-actor``); None: the cluster decides (1 when
    it has GPUs, else 0). The one mapping of device to GPUs, for the library and the CLI.

    ``auto``: as asked. ``cpu``: 0 (a GPU count above 0 is refused). ``cuda``: as asked, 1
    when not given (0 is refused); a cluster without enough GPUs is refused when the session
    starts (:meth:`RayEngine.session`).

    Raises:
        ParameterError: another device (``cuda:N``: Ray chooses the GPU of each actor;
            ``mps``: Ray does not schedule it), or a device and a GPU count that contradict.
    """
    name = device.strip().lower() if isinstance(device, str) else device
    if name == "auto":
        return gpus_per_actor
    if name == "cpu":
        if gpus_per_actor:
            raise ParameterError(
                f"device {device!r} runs the model actors on CPUs, but {gpus_per_actor:g} GPUs per "
                "actor were asked for (ask for 0, or use device 'cuda' or 'auto')"
            )
        return 0.0
    if name == "cuda":
        if gpus_per_actor == 0:
            raise ParameterError(
                f"device {device!r} needs GPUs, but 0 GPUs per model actor were asked for "
                "(use device 'cpu' to run the models on CPUs)"
            )
        return 1.0 if gpus_per_actor is None else gpus_per_actor
    raise ParameterError(
        f"device {device!r}: the Ray engine takes {', '.join(RAY_DEVICES)} "
        "(Ray gives each model actor its GPUs, so no GPU index; it does not schedule MPS)"
    )


def _items(todo: Sequence[PlannedVideo]) -> list[dict[str, str]]:
    return [
        {"video_id": p.item.video_id, "path": p.item.path, "base": json.dumps(p.base_columns(), default=str)}
        for p in todo
    ]


class _Ticker:
    """Calls ``tick()`` in a helper thread, at least every ``every_seconds`` (at most four
    times as often, and at least once a second), while the ``with`` block runs; the block
    uses what ``tick`` touches (the writer) only inside :meth:`holding`.

    The caller's thread iterates Ray's blocks itself, so that an interrupt (Ctrl-C, SIGTERM
    under the CLI) reaches Ray Data's iterator, which stops its executor before the session
    shuts Ray down. (An iterator left running in a helper thread outlived the session: Ray
    Data then started Ray again from that thread.) Leaving the block stops the thread after
    the tick it may be running; an error of ``tick`` is raised by the next :meth:`holding`,
    or when the block ends.
    """

    def __init__(self, every_seconds: float, tick: Callable[[], None]) -> None:
        self._tick = tick
        self._poll = min(1.0, every_seconds / 4)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="reelsense-ray-flush", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                with self._lock:
                    self._tick()
            except BaseException as exc:  # handed to the caller's thread, which raises it
                self._failed.append(exc)
                return

    @contextmanager
    def holding(self) -> Iterator[None]:
        """The block runs while no tick does (raises the error of a tick that failed)."""
        with self._lock:
            if self._failed:
                raise self._failed[0]
            yield

    def __enter__(self) -> _Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._failed and exc[0] is None:
            raise self._failed[0]


def joins_cluster(address: str | None) -> bool:
    """Whether ``ray.init(address=address)`` joins a running cluster (which may grow) rather
    than start a session on this machine: an address other than ``"local"`` (which starts a new
    one even where ``RAY_ADDRESS`` names a cluster), or none with ``RAY_ADDRESS`` set."""
    if address is None:
        return bool(os.environ.get("RAY_ADDRESS"))
    return address != "local"


class RayEngine:
    """One Ray run of a :class:`JobSpec` (see the module docstring).

    Use :meth:`session` around everything else: it joins the running Ray session, or
    starts one (``run.ray_address``; None: a local one) and shuts it down afterwards, and
    keeps the caller's SIGINT and SIGTERM handlers (``ray.init`` replaces SIGTERM's; see
    :func:`reelsense._signals.restore_signal_handlers`; a SIGTERM that Ray's handler turned
    into ``SystemExit(15)`` during ``ray.init`` is handed to the caller's handler); then
    the resources are known (``actors``, ``gpus_per_actor``, ``device``) and the actors'
    plan is made (``metadata`` records their device and precision).
    """

    def __init__(self, spec: JobSpec, run: RunConfig) -> None:
        if spec.feature_stages and spec.actor_plan is None:
            raise ParameterError(
                "the Ray engine runs feature stages in model actors: the JobSpec needs an actor_plan"
            )
        self.spec = spec
        self.run_config = run
        self.asked_gpus = actor_gpus(spec.device, run.ray_gpus_per_actor)  # refused before Ray starts
        self.ray = _import_ray()
        self.actors = 0
        self.gpus_per_actor = 0.0
        self.device = "cpu"
        self.plan: ActorPlan | None = None
        self.lost = 0

    @contextmanager
    def session(self) -> Iterator[None]:
        ray = self.ray
        started = not ray.is_initialized()
        handlers = signal_handlers()
        try:
            if started:
                try:
                    ray.init(address=self.run_config.ray_address, include_dashboard=False, log_to_driver=True)
                except SystemExit as exc:
                    # Ray's own SIGTERM handler (sys.exit(15)) is in place while ray.init runs
                    caller = handlers.get(signal.SIGTERM)
                    if exc.code == signal.SIGTERM and callable(caller):
                        caller(signal.SIGTERM, None)  # the caller's: the CLI's stops the command
                    raise
                finally:  # SIGTERM does what the caller said, during the run too
                    restore_signal_handlers(handlers, default_too=False)
            # a session started here on this machine (not a cluster joined) keeps its CPUs
            self._resources(fixed=started and not joins_cluster(self.run_config.ray_address))
            yield
        finally:
            try:
                if started:  # also after an interrupted ray.init: stops what it had started
                    ray.shutdown()
            finally:
                restore_signal_handlers(handlers, default_too=True)

    def _resources(self, *, fixed: bool = True) -> None:
        """Decide the actors, their GPUs and device from the cluster's resources. ``fixed``:
        a local session reelsense started (its CPUs will not grow), where more actors than
        leave a CPU for the decoding tasks are refused; on a joined cluster, a warning."""
        run = self.run_config
        resources = self.ray.cluster_resources()
        cluster_gpus = float(resources.get("GPU", 0.0))
        gpus = (1.0 if cluster_gpus > 0 else 0.0) if self.asked_gpus is None else self.asked_gpus
        if gpus > 0 and cluster_gpus < gpus:
            device = self.spec.device
            raise ParameterError(
                (f"device {device!r} requested: " if device.strip().lower() != "auto" else "")
                + f"{gpus:g} GPUs per model actor were asked for, but the Ray cluster has "
                f"{cluster_gpus:g} GPUs (use device 'cpu', or 0 GPUs per actor, to run the models on CPUs)"
            )
        # each actor holds its CPUs for the whole run and each decoding task needs one: with
        # every CPU taken by actors, Ray Data waits forever
        cluster_cpus = float(resources.get("CPU", 0.0))
        room = max(1, int((cluster_cpus - 1) // run.ray_cpus_per_actor))
        per_gpu = max(1, int(cluster_gpus // gpus)) if gpus > 0 else 1
        self.actors = run.ray_actors or min(room, per_gpu)
        if run.ray_actors is None and room < per_gpu:
            log.warning(
                "%d model actors, not one per GPU (%d): each holds %g CPUs and the decoding needs one, "
                "of the cluster's %g; fewer CPUs per actor (ray_cpus_per_actor) would use every GPU",
                room,
                per_gpu,
                run.ray_cpus_per_actor,
                cluster_cpus,
            )
        needed = self.actors * run.ray_cpus_per_actor + 1
        if self.spec.actor_plan is not None and needed > cluster_cpus:
            most = int((cluster_cpus - 1) // run.ray_cpus_per_actor)
            advice = (
                f"ask for at most {most} actors, or a cluster with more CPUs"
                if most >= 1
                else "more CPUs needed"
            )
            message = (
                f"{self.actors} model actors of {run.ray_cpus_per_actor:g} CPUs each and a decoding task "
                f"(1 CPU) need {needed:g} CPUs, but the Ray cluster has {cluster_cpus:g}: the decoding "
                f"would wait forever ({advice})"
            )
            if fixed:
                raise ParameterError(message)
            log.warning("%s; waiting for the cluster to grow", message)
        self.gpus_per_actor = gpus
        self.device = "cuda" if gpus > 0 else "cpu"
        if self.spec.actor_plan is not None:
            self.plan = self.spec.actor_plan(self.device, self.nodes)

    @property
    def nodes(self) -> int:
        """Alive nodes of the cluster."""
        return len([n for n in self.ray.nodes() if n.get("Alive")])

    @property
    def metadata(self) -> dict[str, str]:
        """Parquet metadata that the actors' plan records (their device and precision)."""
        return dict(self.plan.metadata) if self.plan is not None else {}

    @property
    def run_record(self) -> dict[str, Any]:
        """What ``reelsense.run`` records of the Ray side."""
        return {"engine": "ray", "actors": self.actors, "gpus_per_actor": self.gpus_per_actor}

    @contextmanager
    def _data_context(self, *, progress_bars: bool) -> Iterator[None]:
        """Let failed blocks through (their videos are detected and re-run; see the module
        docstring) and hide Ray's progress bars when the caller draws its own."""
        context = self.ray.data.DataContext.get_current()
        saved = (context.max_errored_blocks, context.enable_progress_bars)
        context.max_errored_blocks = -1
        context.enable_progress_bars = progress_bars
        try:
            yield
        finally:
            context.max_errored_blocks, context.enable_progress_bars = saved

    def _pass(
        self, videos: Sequence[PlannedVideo], per_task: int, writer: OutputWriter, tally: Any
    ) -> list[PlannedVideo]:
        """Run ``videos`` through the Ray pipeline into ``writer``; returns those that never
        came back (their block failed after Ray's retries)."""
        if not videos:
            return []
        from reelsense.pipeline._job import decode_request

        ray, run = self.ray, self.run_config
        dataset = ray.data.from_items(_items(videos), override_num_blocks=math.ceil(len(videos) / per_task))
        with warnings.catch_warnings():
            # Ray Data's default is to retry a task whose worker died forever (a decoder that
            # crashes on one file would loop); the bound is a plain Ray remote argument, which
            # Ray 2.60 warns will move (removed in 2.64).
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            dataset = dataset.map(
                decode_row,
                fn_kwargs={
                    "request": decode_request(self.spec, run, threads=1),
                    "stages": self.spec.worker_stages,
                    "keep_media": self.spec.kept_media,
                },
                num_cpus=1,
                max_retries=run.ray_task_retries,
            )
        if self.plan is not None:
            dataset = dataset.map_batches(
                ModelActor,
                fn_constructor_kwargs={
                    "build": self.plan.build,
                    "expected_stages": stage_records_json(self.spec.feature_stages),
                    "schema": writer.schema,
                    "batch_videos": run.batch_videos,
                    "batch_frames": run.batch_frames,
                    "threads": max(1, math.floor(run.ray_cpus_per_actor)),
                },
                batch_size=run.batch_videos,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=self.actors),
                num_gpus=self.gpus_per_actor or None,
                num_cpus=run.ray_cpus_per_actor,
            )
        else:
            dataset = dataset.map_batches(
                ModelActor.rows_only, fn_kwargs={"schema": writer.schema}, batch_format="pyarrow"
            )
        done: set[str] = set()
        blocks = iter(dataset.iter_batches(batch_format="pyarrow", batch_size=None))
        try:
            # the writer writes a shard when flush_seconds passed, also while no block comes back
            with _Ticker(writer.flush_seconds, writer.tick) as ticker:
                for block in blocks:
                    with ticker.holding():
                        writer.add_table(block)
                    self._count(block, done, tally)
        finally:  # Ray Data's executor stops now, also when the loop was interrupted
            close = getattr(blocks, "close", None)
            if close is not None:
                close()
        return [p for p in videos if p.item.video_id not in done]

    @staticmethod
    def _count(block: Any, done: set[str], tally: Any) -> None:
        for vid, status, error in zip(
            block["video_id"].to_pylist(),
            block["status"].to_pylist(),
            block["error"].to_pylist(),
            strict=True,
        ):
            done.add(vid)
            tally.record(vid, status == "ok", error)

    def run(self, todo: Sequence[PlannedVideo], writer: OutputWriter, tally: Any) -> None:
        """Every video of ``todo`` into ``writer``: a pass, the lost videos again one per
        task, error rows for those lost twice."""
        run = self.run_config
        # whatever came back is finished and is never lost: on an error or an interrupt the
        # writer writes what it holds on its way out (logging, not raising, a failed write, so
        # that the error that stopped the run is the one reported)
        with self._data_context(progress_bars=tally.progress is None):
            lost = self._pass(todo, run.ray_videos_per_task, writer, tally)
            if lost:
                log.warning("%d videos did not come back (a task died); running them one per task", len(lost))
                lost = self._pass(lost, 1, writer, tally)
            rows = []
            for planned in lost:
                row = planned.base_columns()
                row.update(
                    status="error",
                    error=f"the Ray task died every time it processed {planned.item.path!r}",
                )
                rows.append(row)
            self.lost = len(rows)
            if rows:
                writer.add_table(rows_to_table(rows, writer.schema))
                for row in rows:
                    tally.record(row["video_id"], False, row["error"])
        writer.flush()

    def info(self, writer: OutputWriter, files: Sequence[Path]) -> Any:
        """What the run did (``files``: the output's shards, as the summary listed them)."""
        from reelsense.pipeline._job import RayRunInfo

        return RayRunInfo(
            shards=len(files),
            shards_written=writer.parts_written,
            actors=self.actors,
            gpus_per_actor=self.gpus_per_actor,
            lost=self.lost,
        )
