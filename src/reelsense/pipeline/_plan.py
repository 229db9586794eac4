"""Planning a batch: walk the inputs, read each video's sidecar, give every video its id.

A job is planned once (:func:`plan_job`, a :class:`JobPlan`): a resume that first checks
whether anything is left to do (:func:`~reelsense.pipeline.finished_summary`) hands the
same plan to :func:`~reelsense.pipeline.run_job`, so each sidecar and the manifest are
read, and an id clash is warned of, once per run.

This happens in the main process before any decoding, because a video's id (which
decides whether a resumed job skips it) may come from its sidecar. Reading small JSON
files is cheap next to decoding.

A malformed sidecar does not stop the batch, and does not make the video an error: the
video itself is fine. The bad source is skipped (the next one, ``.txt`` or the manifest,
is used if present), a warning is logged, and the note goes into the row's ``warnings``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsense.errors import NoMediaError, ParameterError, SidecarError
from reelsense.io import Manifest, Sidecar, assign_video_ids, path_text, read_sidecar, walk_media
from reelsense.pipeline._config import Engine, RunConfig
from reelsense.pipeline._schema import build_schema, sidecar_columns
from reelsense.pipeline._worker import WorkItem
from reelsense.pipeline._writer import Layout, OutputWriter

__all__ = ["JobPlan", "PlannedVideo", "engine_layout", "plan_job", "plan_videos"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedVideo:
    """A video to process, with what is known before decoding it."""

    item: WorkItem
    sidecar: Sidecar | None
    warnings: tuple[str, ...] = ()

    def base_columns(self) -> dict[str, Any]:
        """Row columns known before decoding: id, path, sidecar fields, sidecar warnings."""
        return {
            "video_id": self.item.video_id,
            "path": path_text(self.item.path),
            **sidecar_columns(self.sidecar),
            "warnings": list(self.warnings),
        }


def plan_videos(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    extensions: Iterable[str] | None = None,
    include_hidden: bool = False,
    manifest: Manifest | None = None,
    known_ids: Mapping[str, str] | None = None,
) -> list[PlannedVideo]:
    """Every media file under ``inputs`` with its sidecar and unique id, in walk order.
    ``known_ids``: ``{path: id}`` of the rows already written (a resume keeps them; see
    :func:`~reelsense.io.assign_video_ids`).

    Raises ParameterError for a missing input or ids that cannot be made unique.
    """
    files = walk_media(inputs, extensions=extensions, include_hidden=include_hidden)
    sidecars: list[Sidecar | None] = []
    notes: list[tuple[str, ...]] = []
    for media_file in files:
        problems: list[SidecarError] = []
        sidecar = read_sidecar(
            media_file.path, manifest=manifest, default_id=media_file.default_id, on_error=problems.append
        )
        for problem in problems:
            log.warning("ignoring sidecar: %s", problem)
        sidecars.append(sidecar)
        notes.append(tuple(f"sidecar ignored: {p}" for p in problems) + (sidecar.warnings if sidecar else ()))
    ids = assign_video_ids(files, [s.video_id if s else None for s in sidecars], known=known_ids)
    return [
        PlannedVideo(WorkItem(vid, f.path), sidecar, note)
        for vid, f, sidecar, note in zip(ids, files, sidecars, notes, strict=True)
    ]


def engine_layout(engine: Engine) -> Layout:
    """The output layout an engine writes: one file (``local``) or a folder of shards (``ray``)."""
    return "shards" if engine == "ray" else "file"


def _planning_options(run: RunConfig) -> tuple[Any, ...]:
    """The run options a plan depends on (what is walked, the captions, the ids a resume keeps)."""
    return (run.extensions, run.include_hidden, run.manifest, run.overwrite)


@dataclass(frozen=True)
class JobPlan:
    """A job planned once (:func:`plan_job`): ``videos`` under ``inputs`` in walk order,
    each with its sidecar and id (a resume keeps the ids ``output`` holds); ``manifest``:
    the run's manifest, loaded; ``finished``: ``{video_id: status}`` of the output as it was
    on disk, read without its lock, when complete (see
    :meth:`~reelsense.pipeline.OutputWriter.finished_statuses`; None otherwise, with
    ``run.overwrite`` and without an output); ``seconds``: how long planning took (counted in
    the wall time of the run it is given to).

    Given to :func:`~reelsense.pipeline.finished_summary` and then to
    :func:`~reelsense.pipeline.run_job`, a resume plans once: the sidecars and the manifest
    are read, and an id clash is warned of, once."""

    inputs: tuple[str, ...]
    output: str | None
    layout: Layout
    run: RunConfig
    videos: tuple[PlannedVideo, ...]
    manifest: Manifest | None
    finished: Mapping[str, str] | None
    seconds: float

    def check(
        self,
        inputs: Sequence[str | os.PathLike[str]],
        output: str | os.PathLike[str] | None,
        run: RunConfig,
        layout: Layout,
    ) -> None:
        """Raise ParameterError when the plan was made for other inputs, another output or
        layout, or other options of finding and resuming (extensions, hidden files, the
        manifest, overwrite)."""
        asked = (
            tuple(os.fspath(i) for i in inputs),
            os.fspath(output) if output is not None else None,
            layout,
            _planning_options(run),
        )
        planned = (self.inputs, self.output, self.layout, _planning_options(self.run))
        names = ("inputs", "output", "engine (output layout)", "run options of finding and resuming")
        for name, was, now in zip(names, planned, asked, strict=True):
            if was != now:
                raise ParameterError(
                    f"the job plan was made for another job (its {name} differ): "
                    "plan_job with the same inputs, output, run and engine"
                )


def _warn_changed_files(
    videos: Sequence[PlannedVideo], written: Mapping[str, tuple[str, int]], run: RunConfig
) -> None:
    """Warn about files whose row a resume keeps (:meth:`RunConfig.keeps_row`) but whose size
    changed since it was written: a file replaced under the same id keeps its old row."""
    changed: list[tuple[str, int, int]] = []
    for video in videos:
        path = path_text(video.item.path)
        if path not in written:
            continue
        status, was = written[path]
        if not run.keeps_row(status):
            continue
        try:
            now = Path(video.item.path).stat().st_size
        except OSError:
            continue  # the job reports it when it gets there
        if now != was:
            changed.append((path, was, now))
    if changed:
        path, was, now = changed[0]
        log.warning(
            "%d file(s) changed size since their rows were written, e.g. %r (%d -> %d bytes): "
            "their old rows are kept; --overwrite computes every row again",
            len(changed),
            path,
            was,
            now,
        )


def plan_job(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    run: RunConfig | None = None,
    *,
    engine: Engine = "local",
    manifest: Manifest | None = None,
) -> JobPlan:
    """Plan a job once: walk ``inputs``, read the sidecars (and ``run.manifest``), give every
    video its id; with ``output`` (not ``run.overwrite``: a resume), each file already written
    keeps its id and the output's finished rows are noted, read without its lock (the
    output's files are read once for both). ``manifest``: ``run.manifest`` already loaded
    (None: loaded here).

    Raises NoMediaError (no media file under ``inputs``), ParameterError (bad inputs,
    unresolvable id collisions, a ``manifest`` that is not ``run.manifest``) and
    SidecarError (a malformed manifest).
    """
    start = time.monotonic()
    run = run or RunConfig()
    layout = engine_layout(engine)
    if manifest is not None and manifest.path != (os.fspath(run.manifest) if run.manifest else None):
        raise ParameterError(f"the manifest given ({manifest.path!r}) is not the run's ({run.manifest!r})")
    if manifest is None and run.manifest:
        manifest = Manifest.load(run.manifest)
    on_disk = None
    if output is not None and not run.overwrite:
        on_disk = OutputWriter(output, build_schema([], config={}, run={}), layout=layout)  # read, not locked
    # the output's folder is listed once for the ids, the sizes and the statuses
    with on_disk._listed_once() if on_disk is not None else contextlib.nullcontext():
        videos = plan_videos(
            inputs,
            extensions=run.extensions,
            include_hidden=run.include_hidden,
            manifest=manifest,
            known_ids=on_disk.earlier_ids() if on_disk is not None else None,
        )
        if not videos:
            raise NoMediaError(inputs)
        if on_disk is not None:
            _warn_changed_files(videos, on_disk.written_sizes(), run)
        finished = on_disk.finished_statuses() if on_disk is not None else None
    return JobPlan(
        inputs=tuple(os.fspath(i) for i in inputs),
        output=os.fspath(output) if output is not None else None,
        layout=layout,
        run=run,
        videos=tuple(videos),
        manifest=manifest,
        finished=finished,
        seconds=time.monotonic() - start,
    )
