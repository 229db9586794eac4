"""What runs on the Ray workers: decoding tasks (CPU) and model actors (GPU or CPU).

Both call the local engine's code: :func:`~reelsense.pipeline._worker.process_item`
decodes a video once and runs the worker stages; :func:`~reelsense.pipeline.run_feature_stages`
runs the feature stages on a batch, isolating an item that makes a stage fail. So a row is
the row the local engine computes for the same file.

Between the two, a decoded video travels through Ray's object store as one ``payload``
binary cell: the pickled ``(row, media)`` pair of this job's own decoding task (Ray
pickles every task argument and result anyway; nothing here unpickles a file). A binary
column keeps Ray's schema inference out of the rows, whose typed columns are built only
once, by the actor, with the output schema.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from reelsense._workers import one_torch_thread
from reelsense.errors import OutputError
from reelsense.io import DecodedMedia
from reelsense.pipeline._schema import rows_to_table
from reelsense.pipeline._stages import FeatureStage, KeptMedia, WorkerStage, run_feature_stages, stage_record
from reelsense.pipeline._worker import DecodeRequest, WorkItem, process_item

__all__ = ["ModelActor", "decode_row", "stage_records_json"]

log = logging.getLogger(__name__)


def decode_row(
    row: Mapping[str, Any],
    *,
    request: DecodeRequest,
    stages: Sequence[WorkerStage],
    keep_media: KeptMedia | None,
) -> dict[str, Any]:
    """Ray ``map`` function: ``{video_id, path, base}`` -> ``{video_id, payload}``.

    ``base`` is the JSON of the row's columns known before decoding (id, path, sidecar);
    ``payload`` the pickled ``(row, media)``: the row with the worker stages' columns, and
    the parts of the decoded media that ``keep_media`` names when the video decoded (None for
    an error row, which is final).
    Never raises for a bad file (``process_item`` is the batch boundary).
    """
    one_torch_thread()  # a decoding task holds one CPU (Ray workers are not pool children)
    item = WorkItem(str(row["video_id"]), str(row["path"]))
    result = process_item(item, request, stages, keep_media)
    out = result.merge_into(json.loads(row["base"]))
    media = result.media if result.ok else None
    return {"video_id": item.video_id, "payload": pickle.dumps((out, media), protocol=5)}


def stage_records_json(stages: Sequence[Any]) -> str:
    """The stages' records as recorded in ``reelsense.config`` (name, version, options)."""
    return json.dumps([stage_record(s) for s in stages], sort_keys=True, default=str)


def _unpack(batch: pa.Table) -> list[tuple[dict[str, Any], DecodedMedia | None]]:
    # this job's own decoding task wrote each payload
    return [pickle.loads(payload) for payload in batch.column("payload").to_pylist()]


class ModelActor:
    """Ray ``map_batches`` callable class: builds its feature stages once (on the GPU Ray
    assigned, or the CPU) and turns batches of decoded videos into output rows.

    Args:
        build: returns the feature stages (the caller's ``ActorPlan.build``).
        expected_stages: :func:`stage_records_json` of the driver's feature stages; the
            actor refuses to run stages that would record something else (a node with
            another reelsense or model version).
        schema: the output schema the rows are built with.
        batch_videos, batch_frames: a model batch holds at most so many videos or frames.
        threads: torch CPU threads in this actor.
    """

    def __init__(
        self,
        build: Callable[[], Sequence[FeatureStage]],
        expected_stages: str,
        schema: pa.Schema,
        batch_videos: int,
        batch_frames: int,
        threads: int = 1,
    ) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.stages = tuple(build())
        found = stage_records_json(self.stages)
        if found != expected_stages:
            raise OutputError(
                f"the model actor's stages differ from the driver's: {found} != {expected_stages} "
                "(is the same reelsense installed on every node?)"
            )
        self.schema = schema
        self.batch_videos = batch_videos
        self.batch_frames = batch_frames
        log.info("model actor ready: %s", [s.name for s in self.stages])

    def _run(self, pending: list[tuple[dict[str, Any], DecodedMedia]], rows: list[dict[str, Any]]) -> None:
        run_feature_stages(self.stages, pending)
        rows.extend(row for row, _ in pending)
        pending.clear()

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows: list[dict[str, Any]] = []
        pending: list[tuple[dict[str, Any], DecodedMedia]] = []
        frames = 0
        for row, media in _unpack(batch):
            if media is None:
                rows.append(row)
                continue
            pending.append((row, media))
            frames += 0 if media.frames is None else len(media.frames)
            if len(pending) >= self.batch_videos or frames >= self.batch_frames:
                self._run(pending, rows)
                frames = 0
        if pending:
            self._run(pending, rows)
        return rows_to_table(rows, self.schema)

    @staticmethod
    def rows_only(batch: pa.Table, *, schema: pa.Schema) -> pa.Table:
        """The rows of a job without feature stages (no actor needed)."""
        return rows_to_table([row for row, _ in _unpack(batch)], schema)
