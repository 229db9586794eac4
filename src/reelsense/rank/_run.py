"""File to file: what ``reelsense rank`` and ``reelsense rank train`` run."""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from reelsense._checks import check_outputs_apart
from reelsense._progress import ProgressCallback, stage
from reelsense.errors import OutputError
from reelsense.io._files import replacing
from reelsense.rank._catalog import Catalog, read_catalog
from reelsense.rank._events import EventLog, LogReport, read_events, read_users
from reelsense.rank._model import RankConfig, RankModel, load_model, train_ranker
from reelsense.rank._rank import RankReport, rank_users

__all__ = ["FeedSummary", "rank_files", "train_files"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedSummary:
    """What :func:`rank_files` wrote."""

    output: str
    users: int
    rows: int
    log: LogReport
    report: RankReport
    trained: bool


def train_files(
    embeddings: str | Path,
    events: str | Path,
    output: str | Path,
    *,
    users: str | Path | None = None,
    config: RankConfig | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[RankModel, LogReport]:
    """Train a ranker on the videos of ``embeddings`` and the log ``events`` (only events
    before each user's request time when ``users`` is given), save it to the folder
    ``output`` and return it with the log report. Raises OutputError when ``output`` is one
    of the input files or an existing file, before any work. ``progress(stage, done, total)``
    follows the reading ("reading": the embeddings, then the events) and :func:`train_ranker`."""
    check_outputs_apart({"output": output}, (embeddings, events, users))
    if Path(output).exists() and not Path(output).is_dir():  # found only after the training
        raise OutputError(f"output={os.fspath(output)!r} is a file: the model is saved as a folder")
    catalog, log = _read(embeddings, events, progress)
    if users is not None:
        log = log.before(read_users(users))
    model = train_ranker(catalog, log, config, progress=progress)
    model.save(output)
    return model, log.report


def _read(
    embeddings: str | Path, events: str | Path, progress: ProgressCallback | None
) -> tuple[Catalog, EventLog]:
    """The catalog of ``embeddings`` and the log of ``events`` on its videos."""
    with stage(progress, "reading", steps=2) as advance:
        catalog = read_catalog(embeddings)
        advance()
        log = read_events(events, catalog.index)
    return catalog, log


def rank_files(
    embeddings: str | Path,
    events: str | Path,
    users: str | Path,
    output: str | Path,
    *,
    k: int = 10,
    model: str | Path | None = None,
    config: RankConfig | None = None,
    require_history: bool = False,
    progress: ProgressCallback | None = None,
) -> FeedSummary:
    """Rank ``k`` videos per user of ``users`` (``user_id,request_time``) and write
    ``user_id,rank,video_id,score`` to the CSV ``output``. With ``model`` (a folder from
    :func:`train_files`) its prior is used, else one is trained on the log first (events
    before each user's request time). Raises OutputError when ``output`` is one of the input
    files or a folder, before any work. ``progress(stage, done, total)`` follows the reading,
    the training (:func:`train_ranker`) and the ranking (:func:`rank_users`)."""
    check_outputs_apart({"output": output}, (embeddings, events, users))
    if Path(output).is_dir():  # found only after the ranking
        raise OutputError(f"output={os.fspath(output)!r} is a folder: the feeds are written as one CSV file")
    catalog, log = _read(embeddings, events, progress)
    request_times = read_users(users)
    if model is not None:
        ranker = load_model(model)
    else:
        ranker = train_ranker(catalog, log.before(request_times), config, progress=progress)
    feeds, report = rank_users(
        ranker, catalog, log, request_times, k=k, require_history=require_history, progress=progress
    )
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with replacing(output) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "rank", "video_id", "score"])
        for feed in feeds:
            for rank, (video, score) in enumerate(zip(feed.video_ids, feed.scores, strict=True), start=1):
                writer.writerow([feed.user_id, rank, video, f"{score:.6f}"])
                rows += 1
    return FeedSummary(str(output), len(feeds), rows, log.report, report, trained=model is None)
