"""``reelsense sounds add|match|info``: the trending-sound index from the command line."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reelsense.errors import ReelsenseError
from reelsense.io import walk_media
from reelsense.sounds.index import SoundIndex, match_files

__all__ = ["MATCH_COLUMNS", "sounds"]

MATCH_COLUMNS = (
    "query",
    "predicted_sound",
    "score",
    "offset_s",
    "speed",
    "tempo",
    "pitch_semitones",
    "query_start_s",
    "query_end_s",
    "n_matched_peaks",
    "false_match_probability",
    "error",
)


def _files(inputs: tuple[str, ...]) -> list[str]:
    try:
        return [f.path for f in walk_media(inputs)]
    except ReelsenseError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group()
def sounds() -> None:
    """Register reference sounds and spot them in videos."""


@sounds.command("add")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--index", "index_path", required=True, type=click.Path(dir_okay=False), help="Index file.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Processes.")
@click.option("--replace", is_flag=True, help="Overwrite sounds whose id is already indexed.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
def add(inputs: tuple[str, ...], index_path: str, workers: int, replace: bool, progress: bool | None) -> None:
    """Add audio/video FILES_OR_DIRS to the index (id = file stem)."""
    files = _files(inputs)
    bar = tqdm(
        total=len(files), unit="file", disable=None if progress is None else not progress, file=sys.stderr
    )
    failed: list[str] = []

    def done(path: str, error: Exception | None) -> None:
        if error is not None:
            failed.append(f"{path}: {error}")
        bar.update(1)

    try:
        with logging_redirect_tqdm(), SoundIndex.create(index_path) as index:
            records = index.add_many(files, workers=workers, replace=replace, on_done=done)
            total = len(index)
            index.prepare_search()  # write the search file now, so that `match` only maps it
    except ReelsenseError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    for line in failed:
        click.echo(f"skipped {line}", err=True)
    click.echo(f"added {len(records)} sounds to {index_path} ({total} in the index)")
    if failed:
        sys.exit(1)


@sounds.command("match")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--index", "index_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV to write.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Processes.")
@click.option(
    "--threshold",
    default=None,
    type=float,
    help="Minimum score (default 2.0 = estimated false-match probability 1 %).",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
def match(
    inputs: tuple[str, ...],
    index_path: str,
    output: str,
    workers: int,
    threshold: float | None,
    progress: bool | None,
) -> None:
    """Find indexed sounds in FILES_OR_DIRS; one CSV row per file (query = file stem)."""
    files = _files(inputs)
    n_found = n_err = 0
    try:
        with (
            Path(output).open("w", newline="", encoding="utf-8") as f,
            logging_redirect_tqdm(),
            tqdm(
                total=len(files),
                unit="file",
                disable=None if progress is None else not progress,
                file=sys.stderr,
            ) as bar,
        ):
            w = csv.writer(f)
            w.writerow(MATCH_COLUMNS)
            for path, result in match_files(index_path, files, workers=workers, top_k=1, threshold=threshold):
                row: list[object] = [Path(path).stem]
                if isinstance(result, Exception):
                    n_err += 1
                    row += [""] * (len(MATCH_COLUMNS) - 2) + [str(result)]
                elif result:
                    n_found += 1
                    m = result[0]
                    row += [
                        m.sound_id,
                        f"{m.score:.3f}",
                        f"{m.offset_seconds:.3f}",
                        f"{m.speed:.4f}",
                        f"{m.tempo:.4f}",
                        f"{m.pitch_semitones:.2f}",
                        f"{m.query_start_seconds:.2f}",
                        f"{m.query_end_seconds:.2f}",
                        m.n_matched_peaks,
                        f"{m.false_match_probability:.3g}",
                        "",
                    ]
                else:
                    row += [""] * (len(MATCH_COLUMNS) - 1)
                w.writerow(row)
                bar.update(1)
    except (ReelsenseError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(files)} files: {n_found} matched, {n_err} errors -> {output}")
    if n_err:
        sys.exit(1)


@sounds.command("info")
@click.option("--index", "index_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "list_sounds", is_flag=True, help="Also list every sound.")
def info(index_path: str, list_sounds: bool) -> None:
    """Statistics of an index."""
    try:
        with SoundIndex.open(index_path, readonly=True) as index:
            st = index.stats()
            rows = index.sounds() if list_sounds else []
    except ReelsenseError as exc:
        raise click.ClickException(str(exc)) from exc
    hours = st.total_duration_seconds / 3600.0
    click.echo(f"index:      {st.path}")
    click.echo(f"sounds:     {st.n_sounds}")
    click.echo(f"audio:      {hours:.2f} h ({st.total_duration_seconds:.0f} s)")
    click.echo(f"peaks:      {st.total_peaks}")
    bph = f"{st.bytes_per_hour / 1e6:.2f} MB per hour" if st.bytes_per_hour else "-"
    search = f"{st.search_file_bytes / 1e6:.2f} MB" if st.search_file_bytes else "not built yet"
    click.echo(f"file:       {st.file_bytes / 1e6:.2f} MB + search file {search} ({bph})")
    click.echo(f"format:     v{st.format_version}, generation {st.generation}")
    for r in rows:
        click.echo(f"  {r.sound_id}\t{r.duration_seconds:.1f} s\t{r.n_peaks} peaks\t{r.source_path or ''}")
