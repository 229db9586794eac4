"""The ``local`` engine: worker processes decode and run the worker stages, the feature
stages run batched in this process, rows go to the writer as they finish.

Worker processes are started with ``spawn`` (the same on every OS, and safe when this
process has threads or a GPU context). A worker that dies (a decoder crash, the OOM
killer) breaks the pool: the engine starts a new pool and re-runs the videos that were in
flight one at a time; a video that kills a worker when running alone gets an error row.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from reelsense._workers import abandon_pool, kill_workers, process_pool, worker_died_message
from reelsense.io import DecodedMedia
from reelsense.pipeline._config import RunConfig
from reelsense.pipeline._plan import PlannedVideo
from reelsense.pipeline._stages import JobSpec, run_feature_stages
from reelsense.pipeline._worker import ItemResult, process_item, report_starts_to

__all__ = ["LocalEngine", "RowSink"]

log = logging.getLogger(__name__)


class RowSink(Protocol):
    """Where finished rows go (the writer, or a list)."""

    def add(self, row: dict[str, Any]) -> None: ...

    def tick(self) -> None: ...


class _Tally(Protocol):
    def record(self, video_id: str, ok: bool, error: object = None) -> None: ...


class LocalEngine:
    """Feeds planned videos through the worker pool and the feature stages into ``sink``."""

    def __init__(self, spec: JobSpec, run: RunConfig, sink: RowSink, tally: _Tally) -> None:
        from reelsense.pipeline._job import decode_request

        self.config = run
        self.request = decode_request(spec, run, threads=1 if run.workers > 1 else 0)
        self.worker_stages = spec.worker_stages
        self.feature_stages = spec.feature_stages
        self.kept_media = spec.kept_media
        self.writer = sink
        self.tally = tally
        self._batch: list[tuple[dict[str, Any], DecodedMedia]] = []
        self._batch_frames = 0
        self._batch_began = time.monotonic()
        self._unwritten: set[str] = set()  # the videos of batches (waiting, or in the models)
        self._pending: Mapping[Future[ItemResult], PlannedVideo] = {}

    @property
    def waiting(self) -> int:
        """Videos whose result came back from the workers but whose row was not handed to the
        writer: in a model batch, or not yet taken from the pool (their work is lost when the
        run stops now)."""
        unread = sum(1 for f in self._pending if f.done() and not f.cancelled() and f.exception() is None)
        return len(self._unwritten) + unread

    # ------------------------------------------------------------------ rows

    def _write(self, row: dict[str, Any]) -> None:
        self.writer.add(row)
        self._unwritten.discard(row["video_id"])
        if row["status"] != "ok":
            log.info("error on %s: %s", row["video_id"], row["error"])
        self.tally.record(row["video_id"], row["status"] == "ok", row["error"])

    def _handle(self, planned: PlannedVideo, result: ItemResult) -> None:
        row = result.merge_into(planned.base_columns())
        if result.ok and self.feature_stages and result.media is not None:
            if not self._batch:
                self._batch_began = time.monotonic()
            self._batch.append((row, result.media))
            self._unwritten.add(row["video_id"])
            frames = result.media.frames
            self._batch_frames += len(frames) if frames is not None else 0
            if len(self._batch) >= self.config.batch_videos or self._batch_frames >= self.config.batch_frames:
                self._run_batch()
        else:
            self._write(row)

    def _checkpoint(self) -> None:
        """Keep the work of the last ``flush_seconds`` at most unwritten: a batch waiting
        that long for more videos runs as it is, and the writer writes what it holds."""
        if self._batch and time.monotonic() - self._batch_began >= self.config.flush_seconds:
            self._run_batch()
        self.writer.tick()

    def _run_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._batch_frames = 0
        run_feature_stages(self.feature_stages, batch)
        for row, _ in batch:
            self._write(row)

    # ------------------------------------------------------------------ executor loop

    def _new_pool(self) -> ProcessPoolExecutor:
        # a fresh queue per pool: a killed worker may die holding the old one's lock
        self._starts = multiprocessing.get_context("spawn").SimpleQueue()
        self._start_times: dict[str, float] = {}
        return process_pool(
            self.config.workers, "spawn", initializer=report_starts_to, initargs=(self._starts,)
        )

    def _note_starts(
        self, pending: Mapping[Future[ItemResult], PlannedVideo], started: dict[Future[ItemResult], float]
    ) -> None:
        """Record when the workers really started the pending videos (their reports)."""
        while not self._starts.empty():
            video_id, when = self._starts.get()
            self._start_times[video_id] = when
        for future, planned in pending.items():
            when = self._start_times.get(planned.item.video_id)
            if future not in started and when is not None:
                started[future] = when

    def _crash_row(self, planned: PlannedVideo, timed_out: bool = False) -> None:
        row = planned.base_columns()
        if timed_out:
            message = (
                f"timed out: processing {planned.item.path!r} took longer than the per-video "
                f"time limit of {self.config.video_timeout_seconds:g} s"
            )
        else:
            message = worker_died_message(planned.item.path)
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
        queue = deque(todo)
        pending: dict[Future[ItemResult], PlannedVideo] = {}
        self._pending = pending
        started: dict[Future[ItemResult], float] = {}
        suspects: set[str] = set()
        limit = max(2, 2 * self.config.workers)
        timeout = self.config.video_timeout_seconds if owned else None
        poll = min(1.0, self.config.flush_seconds / 4) if timeout is None else min(1.0, timeout / 4)
        clean = False
        try:
            while queue or pending:
                cap = 1 if suspects else limit  # after a crash: one at a time until the suspects ran
                broken = False  # a worker died while this process was busy (the models, the writer)
                while queue and len(pending) < cap:
                    planned = queue.popleft()
                    try:
                        future = pool.submit(
                            process_item, planned.item, self.request, self.worker_stages, self.kept_media
                        )
                    except BrokenExecutor:
                        queue.appendleft(planned)  # it never ran: not a suspect
                        broken = True
                        break
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
                self._checkpoint()
                if timeout is not None:
                    self._note_starts(pending, started)
                stuck = self._stuck(pending, started, timeout)
                if not crashed and not stuck and not broken:
                    continue
                if not owned:
                    where = f" while processing {crashed[0].item.path!r}" if crashed else ""
                    raise BrokenExecutor(f"the executor broke{where}")
                if stuck:
                    log.warning("%s ran over %g s; restarting the workers", stuck[0].item.path, timeout)
                crashed += pending.values()
                pending.clear()
                started.clear()
                abandon_pool(pool)
                pool = self._new_pool()
                if len(crashed) == 1 and crashed[0].item.video_id in suspects:
                    suspects.discard(crashed[0].item.video_id)
                    self._crash_row(crashed[0], timed_out=bool(stuck))
                    continue
                if crashed:
                    log.warning(
                        "a worker process died or hung; re-running %d videos one at a time", len(crashed)
                    )
                for planned in reversed(crashed):
                    queue.appendleft(planned)
                    suspects.add(planned.item.video_id)
            if self._batch:
                self._run_batch()
            clean = True
        finally:
            if owned:
                if not clean:  # an error or Ctrl-C: do not wait for the videos in flight
                    kill_workers(pool)
                pool.shutdown(wait=clean, cancel_futures=True)

    @staticmethod
    def _stuck(
        pending: Mapping[Future[ItemResult], PlannedVideo],
        started: dict[Future[ItemResult], float],
        timeout: float | None,
    ) -> list[PlannedVideo]:
        """The pending videos running longer than ``timeout`` s since their worker started
        them (``started``: the workers' reports; a worker's own start-up and the time an item
        waits in the queue do not count)."""
        if timeout is None:
            return []
        now = time.monotonic()
        return [planned for future, planned in pending.items() if now - started.get(future, now) > timeout]
