"""``reelsense sounds add|match|info|discover|trends``: the trending-sound index, discovery and trends."""

from __future__ import annotations

from pathlib import Path

import click

from reelsense.cli._common import (
    EXIT_FAILED,
    check_outputs,
    check_suffix,
    echo_summary,
    extensions_option,
    include_hidden_option,
    library_errors,
    min_score_option,
    on_interrupt,
    progress_option,
    resolve_second_chance_scope,
    resolve_workers,
    second_chance_scope_option,
    shown,
    sound_index_option,
    split_extensions,
    stage_bars,
    strict_option,
    verbosity_options,
    workers_option,
)

__all__ = ["sounds"]


@click.group()
@verbosity_options
def sounds() -> None:
    """Register reference sounds, spot them in videos, discover shared sounds and trends."""


@sounds.command("add")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@sound_index_option(
    required=True,
    exists=False,
    file_only=True,
    help="Index file (created when absent; a re-run adds only what is new).",
)
@click.option("--replace", is_flag=True, help="Re-add the sounds whose id is already indexed.")
@extensions_option
@include_hidden_option
@workers_option
@strict_option
@progress_option
@verbosity_options
@click.pass_context
def add(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    sound_index: Path,
    replace: bool,
    extensions: tuple[str, ...],
    include_hidden: bool,
    workers: int | None,
    strict: bool,
    progress: bool | None,
) -> None:
    """Add the audio/video files under INPUTS to the index (id: the file's id, as in
    `reelsense embed`: its sidecar id, else its path without extension)."""
    from reelsense.sounds._batch import add_sounds

    on_interrupt(
        f"the sounds added so far are in {str(sound_index)!r}; run the same command again to add the rest"
    )
    with library_errors(), stage_bars(progress, unit="file") as bars:
        summary = add_sounds(
            inputs,
            sound_index,
            replace=replace,
            extensions=split_extensions(extensions),
            include_hidden=include_hidden,
            workers=resolve_workers(workers),
            strict=strict,
            progress=lambda done, total: bars("", done, total),
        )
    for sid, path, error in summary.failed:
        click.echo(f"not added: {sid} ({path}): {error}", err=True)
    echo_summary(
        f"{summary.found} files: {summary.added} sounds added, {summary.skipped} already indexed, "
        f"{len(summary.failed)} failed -> {summary.index} ({summary.total} sounds)"
    )
    if summary.failed:
        ctx.exit(EXIT_FAILED)


@sounds.command("match")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@sound_index_option(
    required=True,
    help="Index file (reelsense sounds add), or a folder of reference sounds to index first (into a "
    "temporary folder; ids as sounds add gives them).",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV to write."
)
@min_score_option
@click.option(
    "--second-chance",
    is_flag=True,
    help="Also run the dense second chance on files the peak search leaves unmatched or weak: finds "
    "reverb + voice-over + noise uses, at a CPU cost per such file linear in the index's length.",
)
@second_chance_scope_option
@extensions_option
@include_hidden_option
@workers_option
@strict_option
@progress_option
@verbosity_options
@click.pass_context
def match(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    sound_index: Path,
    output: Path,
    min_score: float,
    second_chance: bool,
    second_chance_scope: str | None,
    extensions: tuple[str, ...],
    include_hidden: bool,
    workers: int | None,
    strict: bool,
    progress: bool | None,
) -> None:
    """Find indexed sounds in the files under INPUTS: one CSV row per file, sorted by
    video_id: path, status, error, the columns of `reelsense embed`'s sound match (sound_id,
    sound_score, sound_offset_seconds, sound_speed, sound_tempo, sound_pitch_semitones), then
    the matched part of the file, the matched peaks and the false-match probability."""
    from reelsense.sounds._batch import match_sounds

    check_suffix(output, (".csv",), "sounds match writes CSV")
    check_outputs(inputs, {"-o/--output": output})
    scope = resolve_second_chance_scope(second_chance, second_chance_scope)
    on_interrupt(f"nothing was written to {str(output)!r} (it is written when every file is matched)")
    with library_errors(), stage_bars(progress, unit="file") as bars:
        summary = match_sounds(
            inputs,
            sound_index,
            output,
            min_score=min_score,
            extensions=split_extensions(extensions),
            include_hidden=include_hidden,
            workers=resolve_workers(workers),
            strict=strict,
            second_chance=second_chance,
            second_chance_scope=scope,
            progress=lambda done, total: bars("", done, total),
        )
    for vid, error in summary.error_examples:
        click.echo(f"error: {vid}: {error}", err=True)
    echo_summary(
        f"{summary.found} files: {summary.matched} matched, {summary.unmatched} unmatched, "
        f"{summary.no_audio} without usable audio, "
        f"{summary.errors} errors -> {summary.output}"
    )
    if summary.errors:
        ctx.exit(EXIT_FAILED)


@sounds.command("info")
@sound_index_option(required=True, file_only=True, help="Index file.")
@click.option("--list", "list_sounds", is_flag=True, help="Also list every sound.")
@verbosity_options
def info(sound_index: Path, list_sounds: bool) -> None:
    """Statistics of an index."""
    from reelsense.sounds import SoundIndex

    with library_errors(), SoundIndex.open(sound_index, readonly=True) as index:
        st = index.stats()
        rows = index.sounds() if list_sounds else []
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
        where = shown(r.source_path or "")
        click.echo(f"  {shown(r.sound_id)}\t{r.duration_seconds:.1f} s\t{r.n_peaks} peaks\t{where}")


# `sounds discover` and `sounds trends` live in their own module
from reelsense.cli import discover as _discover  # noqa: E402, F401
