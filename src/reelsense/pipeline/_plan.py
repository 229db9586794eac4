"""Planning a batch: walk the inputs, read each video's sidecar, give every video its id.

This happens in the main process before any decoding, because a video's id (which
decides whether a resumed job skips it) may come from its sidecar. Reading small JSON
files is cheap next to decoding.

A malformed sidecar does not stop the batch, and does not make the video an error: the
video itself is fine. The bad source is skipped (the next one, ``.txt`` or the manifest,
is used if present), a warning is logged, and the note goes into the row's ``warnings``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reelsense.errors import SidecarError
from reelsense.io import Manifest, Sidecar, assign_video_ids, path_text, read_sidecar, walk_media
from reelsense.pipeline._schema import sidecar_columns
from reelsense.pipeline._worker import WorkItem

__all__ = ["PlannedVideo", "plan_videos"]

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
        dropped = sidecar.warnings if sidecar is not None and sidecar.source != "manifest" else ()
        for note in dropped:  # a manifest's were logged when it was loaded
            log.warning("%s", note)
        sidecars.append(sidecar)
        notes.append(tuple(f"sidecar ignored: {p}" for p in problems) + (sidecar.warnings if sidecar else ()))
    ids = assign_video_ids(files, [s.video_id if s else None for s in sidecars], known=known_ids)
    return [
        PlannedVideo(WorkItem(vid, f.path), sidecar, note)
        for vid, f, sidecar, note in zip(ids, files, sidecars, notes, strict=True)
    ]
