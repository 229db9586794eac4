"""Folders of files against a sound index: what ``reelsense sounds add`` and ``sounds match`` run.

Both find files and give them ids the way ``reelsense embed`` does (:func:`reelsense.io.media_ids`: the
sidecar's id, else the path relative to the input without its extension; clashes
resolved by :func:`reelsense.io.assign_video_ids`), so a video has the same id in every
output.

- :func:`add_sounds`: index reference sounds. A re-run on the same folder adds only what
  is new (ids already in the index are skipped) unless ``replace``; a file already
  indexed keeps its id (by its path), as ``embed`` keeps it on a resume.
- :func:`match_sounds`: the best match of every file, one CSV row each (sorted by id),
  with the columns of ``reelsense embed``'s sound match (:data:`MATCH_COLUMNS`).
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from reelsense._checks import check_bool, check_outputs_apart
from reelsense.errors import ItemFailedError, NoAudioError, OutputError, SoundIndexError
from reelsense.io import clean_text, csv_float, media_ids, path_text
from reelsense.io._files import replacing
from reelsense.sounds.index import SoundIndex, match_files, sound_index_file
from reelsense.sounds.index._index import no_sounds_message
from reelsense.sounds.match import DenseScope, MatchConfig

__all__ = ["MATCH_COLUMNS", "AddSummary", "MatchSummary", "add_sounds", "match_sounds"]

log = logging.getLogger(__name__)

#: Columns of the ``sounds match`` CSV (``sound_id`` to ``sound_pitch_semitones`` are named as in
#: ``reelsense embed``'s output; the last four are only here).
MATCH_COLUMNS = (
    "video_id",
    "path",
    "status",
    "error",
    "sound_id",
    "sound_score",
    "sound_offset_seconds",
    "sound_speed",
    "sound_tempo",
    "sound_pitch_semitones",
    "sound_query_start_seconds",
    "sound_query_end_seconds",
    "sound_matched_peaks",
    "sound_false_match_probability",
)

#: ``progress(done, total)`` after each file.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class AddSummary:
    """What :func:`add_sounds` did: ``found`` files, ``added`` sounds, ``skipped`` (already
    indexed), ``failed`` as ``(id, path, error)``, ``total`` sounds in the index now."""

    index: str
    found: int
    added: int
    skipped: int
    failed: tuple[tuple[str, str, str], ...]
    total: int
    wall_seconds: float


def add_sounds(
    inputs: Sequence[str | os.PathLike[str]],
    sound_index: str | os.PathLike[str],
    *,
    replace: bool = False,
    extensions: Sequence[str] | None = None,
    include_hidden: bool = False,
    workers: int = 1,
    strict: bool = False,
    progress: Progress | None = None,
) -> AddSummary:
    """Add every media file under ``inputs`` to the index at ``sound_index`` (created when
    absent). Ids already indexed are skipped unless ``replace``; a file already indexed
    keeps its id (by its path: see :func:`reelsense.io.assign_video_ids`). A file that cannot be
    fingerprinted is reported in ``failed`` and the others are added; with ``strict`` the
    first one raises ItemFailedError (the sounds added before it stay). ``extensions`` and
    ``include_hidden`` choose the files a folder is walked for, as in
    :func:`reelsense.io.walk_media` (default: every media format, no dot-files)."""
    start = time.monotonic()
    replace, strict = check_bool(replace, "replace"), check_bool(strict, "strict")  # "no" was True
    found = media_ids(
        inputs, extensions=extensions, include_hidden=include_hidden, known=_indexed_paths(sound_index)
    )
    failed: list[tuple[str, str, str]] = []
    with SoundIndex.create(sound_index) as index:
        present = set(index.ids()) if not replace else set()
        todo = [(sid, f) for sid, f in found if sid not in present]
        by_path = {f.path: sid for sid, f in todo}
        done = 0

        def on_done(path: str, error: Exception | None) -> None:
            nonlocal done
            done += 1
            if error is not None:
                failed.append((by_path[path], path_text(path), clean_text(str(error))))
                if strict:
                    raise ItemFailedError(by_path[path], str(error))
            if progress is not None:
                progress(done, len(todo))

        if progress is not None:
            progress(0, len(todo))
        records = index.add_many(
            [f.path for _, f in todo],
            [sid for sid, _ in todo],
            workers=workers,
            replace=replace,
            on_done=on_done,
        )
        total = len(index)
        index.prepare_search()  # write the search file now, so that matching only maps it
    return AddSummary(
        index=os.fspath(sound_index),
        found=len(found),
        added=len(records),
        skipped=len(found) - len(todo),
        failed=tuple(failed),
        total=total,
        wall_seconds=time.monotonic() - start,
    )


def _indexed_paths(sound_index: str | os.PathLike[str]) -> dict[str, str]:
    """``{source path: sound id}`` of the sounds in the index (empty when there is none yet).

    A re-run gives a file already indexed the id it has: without it, a file added since
    that shares its stem (``song.flac`` beside ``song.wav``) renamed both (``song.wav``,
    ``song.flac``), and the sound already indexed as ``song`` was added again as ``song.wav``.
    """
    if not Path(sound_index).is_file():
        return {}
    with SoundIndex.open(sound_index, readonly=True) as index:
        return {s.source_path: s.sound_id for s in index.sounds() if s.source_path is not None}


@dataclass(frozen=True)
class MatchSummary:
    """What :func:`match_sounds` did: ``found`` files, ``matched`` with a sound, ``unmatched``
    (decoded, but no sound scored enough), ``no_audio`` without usable audio (nothing to
    match), ``errors`` (the first ones in ``error_examples`` as ``(id, error)``), the CSV
    written. ``matched + unmatched + no_audio + errors == found``."""

    output: str
    found: int
    matched: int
    errors: int
    error_examples: tuple[tuple[str, str], ...]
    wall_seconds: float
    no_audio: int = 0
    unmatched: int = 0


def match_sounds(
    inputs: Sequence[str | os.PathLike[str]],
    sound_index: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    min_score: float | None = None,
    extensions: Sequence[str] | None = None,
    include_hidden: bool = False,
    workers: int = 1,
    strict: bool = False,
    second_chance: bool = False,
    second_chance_scope: DenseScope = "library",
    progress: Progress | None = None,
) -> MatchSummary:
    """The best match in the index at ``sound_index`` (or in a folder of reference sounds,
    indexed into a temporary folder first) of every media file under ``inputs``, one CSV row
    per file in ``output`` (:data:`MATCH_COLUMNS`, sorted by ``video_id``; ``sound_*`` empty
    when nothing scores ``min_score`` or more, default 2.0: an estimated false-match
    probability of 1 %). A file without usable audio gets ``status=no_audio`` (and the reason
    in ``error``); a file that fails gets ``status=error``; with ``strict`` the first one
    raises ItemFailedError and nothing is written. ``second_chance``: run the dense second
    chance (:attr:`~reelsense.sounds.MatchConfig.dense_second_chance`) on files the peak search
    leaves unmatched or weak, over the sounds ``second_chance_scope`` names
    (:attr:`~reelsense.sounds.MatchConfig.dense_scope`). The CSV is written to a temporary file
    and renamed when complete. Raises OutputError when ``output`` is one of the input files
    or the index, SoundIndexError when the index holds no sounds (no file could match).
    ``extensions`` and ``include_hidden``: as in :func:`add_sounds`."""
    start = time.monotonic()
    strict = check_bool(strict, "strict")  # "no" was True
    found = media_ids(inputs, extensions=extensions, include_hidden=include_hidden)
    check_outputs_apart({"output": output}, [*(f.path for _, f in found), sound_index])
    out = Path(output)
    rows: list[list[object]] = []
    matched = 0
    unmatched = 0
    no_audio = 0
    errors: list[tuple[str, str]] = []
    if progress is not None:
        progress(0, len(found))
    config = MatchConfig(dense_second_chance=second_chance, dense_scope=second_chance_scope)
    with (
        sound_index_file(sound_index) as index_path,
        closing(  # a strict stop shuts the workers down before the index is deleted
            match_files(
                index_path,
                [f.path for _, f in found],
                workers=workers,
                top_k=1,
                threshold=min_score,
                config=config,
            )
        ) as results,  # a generator: nothing is opened or matched before the first file is asked for
    ):
        with SoundIndex.open(index_path, readonly=True) as index:
            if not len(index):  # a CSV without a match would look like videos without these sounds
                raise SoundIndexError(f"{no_sounds_message(sound_index)}; nothing was written")
        for i, ((vid, f), (_, result)) in enumerate(zip(found, results, strict=True)):
            row: list[object] = [vid, path_text(f.path)]
            if isinstance(result, NoAudioError):
                no_audio += 1
                row += ["no_audio", clean_text(result.cause)] + [""] * (len(MATCH_COLUMNS) - 4)
            elif isinstance(result, Exception):
                errors.append((vid, str(result)))
                if strict:
                    raise ItemFailedError(vid, str(result))
                row += ["error", clean_text(str(result))] + [""] * (len(MATCH_COLUMNS) - 4)
            elif result:
                matched += 1
                m = result[0]
                row += [
                    "ok",
                    "",
                    m.sound_id,
                    csv_float(m.score, 3),
                    csv_float(m.offset_seconds, 3),
                    csv_float(m.speed, 4),
                    csv_float(m.tempo, 4),
                    csv_float(m.pitch_semitones, 2),
                    csv_float(m.query_start_seconds, 2),
                    csv_float(m.query_end_seconds, 2),
                    m.n_matched_peaks,
                    f"{m.false_match_probability:.3g}",
                ]
            else:
                unmatched += 1
                row += ["ok", ""] + [""] * (len(MATCH_COLUMNS) - 4)
            rows.append(row)
            if progress is not None:
                progress(i + 1, len(found))
    rows.sort(key=lambda r: str(r[0]))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with replacing(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            table = csv.writer(handle)
            table.writerow(MATCH_COLUMNS)
            table.writerows(rows)
    except OSError as exc:
        raise OutputError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from exc
    return MatchSummary(
        output=str(out),
        found=len(found),
        matched=matched,
        errors=len(errors),
        error_examples=tuple(errors[:5]),
        wall_seconds=time.monotonic() - start,
        no_audio=no_audio,
        unmatched=unmatched,
    )
