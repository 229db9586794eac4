"""``reelsense sounds discover|trends``: shared sounds without a library, and which are trending."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import click
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reelsense.cli.sounds import sounds
from reelsense.errors import ReelsenseError
from reelsense.io import walk_media
from reelsense.sounds.discover import DiscoveryParams, discover_sounds
from reelsense.trends import trend_report
from reelsense.trends._stats import TrendParams

__all__ = ["discover", "trends"]


@contextmanager
def _bars(enabled: bool | None) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback drawing one tqdm bar per stage."""
    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(
                total=total, desc=stage, unit="video", disable=None if enabled is None else not enabled,
                file=sys.stderr,
            )  # fmt: skip
        bar.update(done - bar.n)

    try:
        with logging_redirect_tqdm():
            yield update
    finally:
        for bar in bars.values():
            bar.close()


def _params(min_score: float, min_support: int, neighbours: int) -> DiscoveryParams:
    try:
        return DiscoveryParams(min_score=min_score, min_support=min_support, neighbours=neighbours)
    except ReelsenseError as exc:
        raise click.BadParameter(str(exc)) from exc


_common = [
    click.option("--index", "index_path", type=click.Path(exists=True, dir_okay=False),
                 help="Sound library (SoundIndex): clusters holding a library sound carry its id."),
    click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Processes."),
    click.option("--min-score", default=2.0, show_default=True, type=float,
                 help="Calibrated score a video-to-video match needs (2.0 = 1 % false-match chance)."),
    click.option("--min-support", default=2, show_default=True, type=click.IntRange(1),
                 help="Consistent links (from distinct videos) needed to merge two groups."),
    click.option("--neighbours", default=12, show_default=True, type=click.IntRange(1),
                 help="Matches kept per video."),
    click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal)."),
]  # fmt: skip


def _with_common(fn: Callable[..., None]) -> Callable[..., None]:
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@sounds.command("discover")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Per-video CSV (query,cluster,...).")  # fmt: skip
@click.option("--summary", type=click.Path(dir_okay=False), default=None,
              help="Per-sound CSV (default: <output stem>_summary.csv).")  # fmt: skip
@_with_common
def discover(
    inputs: tuple[str, ...],
    output: str,
    summary: str | None,
    index_path: str | None,
    workers: int,
    min_score: float,
    min_support: int,
    neighbours: int,
    progress: bool | None,
) -> None:
    """Find which videos in FILES_OR_DIRS share a sound (sped up, slowed, pitched too).

    One row per video: its sound (`cluster`, empty when it shares it with no other video),
    speed/pitch/offset relative to the sound's representative; plus a per-sound summary.
    """
    params = _params(min_score, min_support, neighbours)
    try:
        files = walk_media(inputs)
        with _bars(progress) as update:
            result = discover_sounds(
                [f.path for f in files],
                ids=[f.default_id for f in files],
                index=index_path,
                params=params,
                workers=workers,
                on_progress=update,
            )
        out, summ = result.write_csv(output, summary)
    except ReelsenseError as exc:
        raise click.ClickException(str(exc)) from exc
    st = result.stats
    n_in = sum(v.cluster is not None for v in result.videos)
    click.echo(
        f"{st.n_videos} videos: {len(result.sounds)} sounds, {n_in} videos in them, "
        f"{st.n_videos - st.n_music - st.n_errors} without music, {st.n_errors} errors -> {out}, {summ}"
    )
    if st.n_errors:
        sys.exit(1)


def _when(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is neither unix seconds nor an ISO 8601 time") from exc
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


@sounds.command("trends")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="trends.csv to write.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Self-contained HTML report.")
@click.option("--window-days", default=7.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
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
def trends(
    inputs: tuple[str, ...],
    output: str,
    report: str | None,
    window_days: float,
    reference_time: str | None,
    since: str | None,
    clusters_output: str | None,
    hashtag_links: bool,
    index_path: str | None,
    workers: int,
    min_score: float,
    min_support: int,
    neighbours: int,
    progress: bool | None,
) -> None:
    """Usage over time and trend score of every sound in FILES_OR_DIRS_OR_CLUSTERS.

    Give videos (sounds are discovered first, with --index if given), or a clusters.csv
    from `sounds discover` / a matches.csv from `sounds match` (plus the videos' folders
    to read their upload times from sidecars when the table has none). Videos without a
    sound of their own but with music and a hashtag that only one sound's videos carry count
    as uses of that sound (--no-hashtag-links: audio matches only).
    """
    params = _params(min_score, min_support, neighbours)
    try:
        with _bars(progress) as update:
            result = trend_report(
                inputs,
                output,
                report=report,
                index=index_path,
                params=TrendParams(window_days=window_days),
                reference_seconds=_when(reference_time),
                start_seconds=_when(since),
                discovery_params=params,
                workers=workers,
                clusters_output=clusters_output,
                on_progress=update,
                link_hashtags=hashtag_links,
            )
    except ReelsenseError as exc:
        raise click.ClickException(str(exc)) from exc
    hot = [s.sound for s in result.sounds if s.trend.trending]
    linked = sum(s.n_linked for s in result.sounds)
    click.echo(
        f"{len(result.sounds)} sounds in {result.n_videos} videos"
        + (f" ({linked} linked by hashtag)" if linked else "")
        + f", {len(hot)} trending"
        + (f" ({', '.join(hot[:8])}{', ...' if len(hot) > 8 else ''})" if hot else "")
        + f" -> {result.trends_path}"
        + (f", {result.report_path}" if result.report_path else "")
    )
