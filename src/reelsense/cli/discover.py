"""``reelsense sounds discover|trends``: shared sounds without a library, and which are trending."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from reelsense.cli._common import (
    EXIT_FAILED,
    FiniteFloatRange,
    check_outputs,
    check_suffix,
    echo_summary,
    extensions_option,
    given_options,
    include_hidden_option,
    library_errors,
    min_score_option,
    progress_option,
    quiet,
    resolve_second_chance_scope,
    resolve_workers,
    second_chance_scope_option,
    sound_index_option,
    split_extensions,
    stage_bars,
    strict_option,
    verbosity_options,
    workers_option,
)
from reelsense.cli.sounds import sounds

if TYPE_CHECKING:
    from reelsense.sounds import DiscoveryParams

__all__ = ["discover", "trends"]


def _params(
    min_score: float,
    min_support: int,
    neighbours: int,
    second_chance: bool,
    scope: str | None,
    composite_edits: bool,
    join_score: float | Literal["auto"],
) -> DiscoveryParams:
    from reelsense.errors import ReelsenseError
    from reelsense.sounds import DiscoveryParams

    try:
        return DiscoveryParams(
            min_score=min_score,
            min_support=min_support,
            neighbours=neighbours,
            second_chance=second_chance,
            second_chance_scope=resolve_second_chance_scope(second_chance, scope),
            composite_edits=composite_edits,
            join_score=join_score,
        )
    except ReelsenseError as exc:
        raise click.BadParameter(str(exc)) from exc


def _join_score(ctx: click.Context, param: click.Parameter, value: str) -> float | Literal["auto"]:
    """``--join-score``: ``auto`` or a positive number."""
    if value == "auto":
        return "auto"
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number nor auto") from None
    if not number > 0:
        raise click.BadParameter(f"{value!r} must be > 0 (or auto)")
    return number


_common = [
    sound_index_option(
        required=False,
        help="Sound library (an index file, or a folder of reference sounds to index first): clusters "
        "holding a library sound carry its id."
    ),
    extensions_option,
    include_hidden_option,
    workers_option,
    min_score_option,
    click.option("--min-support", default=2, show_default=True, type=click.IntRange(1),
                 help="Consistent links (from distinct videos) needed to merge two groups."),
    click.option("--neighbours", default=8, show_default=True, type=click.IntRange(1),
                 help="Matches kept per video."),
    click.option("--second-chance", is_flag=True,
                 help="Also run the dense second chance (reverb + voice-over + noise): between videos, "
                 "each music video is searched densely over its 32 best peak candidates (about 3x "
                 "the CPU of discovery); with --sound-index, the library look-up of videos its peak "
                 "search leaves unmatched or weak (CPU per such video linear in the library's length)."),
    second_chance_scope_option,
    click.option("--composite-edits", is_flag=True,
                 help="Also match videos under every time-scale x pitch-shift combination: links two "
                 "uses edited differently from one original (one pitch-shifted, one sped up); about "
                 "4x the CPU of the peak search between videos."),
    click.option("--join-score", default="10", show_default=True, callback=_join_score,
                 help="Score one match needs to bring a video that is in no group into a group "
                 "(otherwise it needs two consistent matches): a number, or auto = log10(music "
                 "videos searched) + 0.5, a score that chance reaches about 0.3 times in the whole "
                 "corpus (2.85 for 225 music videos, 4.2 for 5,000)."),
    strict_option,
    progress_option,
    verbosity_options,
]  # fmt: skip


#: ``sounds trends``' options that only discovery from media uses (with ``--clusters``)
_DISCOVERY_ONLY = (
    "clusters_output",
    "sound_index",
    "min_score",
    "min_support",
    "neighbours",
    "second_chance",
    "second_chance_scope",
    "composite_edits",
    "join_score",
    "workers",
    "strict",
)


def _refuse_discovery_options(ctx: click.Context, inputs: tuple[str, ...]) -> None:
    """A usage error when a table of uses is among ``inputs`` (nothing is discovered) and an
    option of discovery was given: it would do nothing."""
    from reelsense.trends._report import is_table_input

    tables = [p for p in inputs if is_table_input(p)]
    given = given_options(ctx, _DISCOVERY_ONLY)
    if tables and given:
        raise click.UsageError(
            f"{', '.join(given)}: with the table {tables[0]!r} as input the sounds come from it and "
            "nothing is discovered from media, so these options would do nothing: leave them out "
            "(or give the videos alone to discover their sounds)"
        )


def _with_common(fn: Any) -> Any:
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@sounds.command("discover")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Per-video CSV (video_id, sound_cluster, ...).")  # fmt: skip
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Per-sound CSV (default: <output stem>_summary.csv).")  # fmt: skip
@_with_common
@click.pass_context
def discover(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: Path,
    summary: Path | None,
    sound_index: Path | None,
    extensions: tuple[str, ...],
    include_hidden: bool,
    workers: int | None,
    min_score: float,
    min_support: int,
    neighbours: int,
    second_chance: bool,
    second_chance_scope: str | None,
    composite_edits: bool,
    join_score: float | Literal["auto"],
    strict: bool,
    progress: bool | None,
) -> None:
    """Find which videos in INPUTS (files or folders) share a sound (sped up, slowed, pitched too).

    One row per video: its sound (`sound_cluster`, empty when it shares it with no other video),
    speed/pitch/offset relative to the sound's representative; plus a per-sound summary.
    """
    from reelsense.io import media_ids
    from reelsense.sounds import discover_sounds

    check_suffix(output, (".csv",), "sounds discover writes CSV")
    if summary is not None:
        check_suffix(summary, (".csv",), "the summary is CSV", option="--summary")
    check_outputs(inputs, {"-o/--output": output, "--summary": summary or _summary_of(output)})
    params = _params(
        min_score, min_support, neighbours, second_chance, second_chance_scope, composite_edits, join_score
    )
    with library_errors():
        found = media_ids(inputs, extensions=split_extensions(extensions), include_hidden=include_hidden)
        with stage_bars(progress) as update:
            result = discover_sounds(
                [f.path for _, f in found],
                ids=[vid for vid, _ in found],
                sound_index=sound_index,
                params=params,
                workers=resolve_workers(workers),
                progress=update,
                strict=strict,
            )
        out, summ = result.write_csv(output, summary)
    st = result.stats
    n_in = sum(v.cluster is not None for v in result.videos)
    echo_summary(
        f"{st.n_videos} videos: {len(result.sounds)} sounds, {n_in} videos in them, "
        f"{st.n_videos - st.n_music - st.n_errors} without music, {st.n_errors} errors -> {out}, {summ}"
    )
    if st.n_errors:
        if quiet():
            click.echo(f"{st.n_errors} files could not be read (error rows in {out})", err=True)
        ctx.exit(EXIT_FAILED)


def _summary_of(output: Path) -> Path:
    """Where discovery's per-sound summary goes beside ``output`` (the engine's own rule)."""
    from reelsense.sounds.discover import summary_path_for

    return summary_path_for(output)


def _when(text: str | None, option: str) -> float | None:
    """Unix seconds of ``--reference-time`` / ``--since``: seconds or ISO 8601, read as sidecar
    timestamps are (:func:`reelsense.io.parse_timestamp`)."""
    if text is None:
        return None
    from reelsense.errors import SidecarError
    from reelsense.io import parse_timestamp

    try:
        seconds = parse_timestamp(text, where=option)
    except SidecarError as exc:  # its message names the option and the value
        raise click.BadParameter(str(exc)) from exc
    return None if seconds is None else float(seconds)


@sounds.command("trends")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="trends.csv to write.")  # fmt: skip
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Self-contained HTML report.")  # fmt: skip
@click.option("--window-days", default=7.0, show_default=True, type=FiniteFloatRange(min=0, min_open=True),
              help="Recent window compared with the sound's earlier use.")  # fmt: skip
@click.option(
    "--reference-time",
    default=None,
    help="End of the window (ISO 8601 or unix seconds; default: latest use).",
)
@click.option("--since", default=None, help="Start of the baseline (default: earliest use).")
@click.option("--clusters", "clusters_output", type=click.Path(dir_okay=False), default=None,
              help="Also write the discovery CSV when sounds are discovered from media.")  # fmt: skip
@click.option("--hashtag-links/--no-hashtag-links", default=True, show_default=True,
              help="Also count videos whose audio matched no sound but that have music and carry "
              "a hashtag only that sound's videos use.")  # fmt: skip
@_with_common
@click.pass_context
def trends(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: Path,
    report: Path | None,
    window_days: float,
    reference_time: str | None,
    since: str | None,
    clusters_output: str | None,
    hashtag_links: bool,
    sound_index: Path | None,
    extensions: tuple[str, ...],
    include_hidden: bool,
    workers: int | None,
    min_score: float,
    min_support: int,
    neighbours: int,
    second_chance: bool,
    second_chance_scope: str | None,
    composite_edits: bool,
    join_score: float | Literal["auto"],
    strict: bool,
    progress: bool | None,
) -> None:
    """Usage over time and trend score of every sound in INPUTS (files, folders or tables).

    Give videos (sounds are discovered first, with --sound-index if given), or a clusters.csv
    from `sounds discover` / a matches.csv from `sounds match` (plus the videos' folders
    to read their upload times from sidecars when the table has none; with a table, the
    options of discovery, --clusters included, are a usage error). Videos without a
    sound of their own but with music and a hashtag that only one sound's videos carry count
    as uses of that sound (--no-hashtag-links: audio matches only).
    """
    from reelsense.trends import TrendParams, trend_report

    check_suffix(output, (".csv",), "sounds trends writes CSV")
    if report is not None:
        check_suffix(report, (".html", ".htm"), "the report is HTML", option="--report")
    clusters = Path(clusters_output) if clusters_output is not None else None
    if clusters is not None:
        check_suffix(clusters, (".csv",), "the discovery table is CSV", option="--clusters")
    _refuse_discovery_options(ctx, inputs)
    reference_seconds = _when(reference_time, "--reference-time")  # before any output is made
    start_seconds = _when(since, "--since")
    if reference_seconds is not None and start_seconds is not None and not start_seconds < reference_seconds:
        raise click.UsageError(f"--since {since} must be before --reference-time {reference_time}")
    check_outputs(
        inputs,
        {
            "-o/--output": output,
            "--report": report,
            "--clusters": clusters,
            "the --clusters summary": _summary_of(clusters) if clusters is not None else None,
        },
    )
    params = _params(
        min_score, min_support, neighbours, second_chance, second_chance_scope, composite_edits, join_score
    )
    # discovery's bars count videos; the later stages are one step each
    video_stages = {"fingerprint": "video", "match": "video"}
    with library_errors(), stage_bars(progress, unit="step", units=video_stages) as update:
        result = trend_report(
            inputs,
            output,
            report=report,
            sound_index=sound_index,
            extensions=split_extensions(extensions),
            include_hidden=include_hidden,
            params=TrendParams(window_days=window_days),
            reference_seconds=reference_seconds,
            start_seconds=start_seconds,
            discovery_params=params,
            workers=resolve_workers(workers),
            clusters_output=clusters_output,
            progress=update,
            link_hashtags=hashtag_links,
            strict=strict,
        )
    hot = [s.sound for s in result.sounds if s.trend.trending]
    linked = sum(s.n_linked for s in result.sounds)
    echo_summary(
        f"{len(result.sounds)} sounds in {result.n_videos} videos"
        + (f" ({linked} linked by hashtag)" if linked else "")
        + f", {len(hot)} trending"
        + (f" ({', '.join(hot[:8])}{', ...' if len(hot) > 8 else ''})" if hot else "")
        + f" -> {result.trends_path}"
        + (f", {result.report_path}" if result.report_path else "")
    )
    errors = result.discovery.stats.n_errors if result.discovery is not None else 0
    if errors:
        click.echo(f"{errors} files could not be read (error rows of the discovery)", err=True)
        ctx.exit(EXIT_FAILED)
