"""``trend_report``: discover or read the uses of each sound, date them, score their trend, write
``trends.csv`` and the HTML report.

Inputs are media files/folders (sounds are discovered first, with the library when
``sound_index`` is given), or tables: a ``clusters.csv`` from ``reelsense sounds discover`` or a
``matches.csv`` from ``reelsense sounds match``; media given beside tables only date the
uses (sidecar timestamps) and provide captions and links. The maths of the trend score is
in :mod:`reelsense.trends._stats`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reelsense._checks import check_bool, check_finite, check_int, check_outputs_apart
from reelsense._progress import ProgressCallback, stage
from reelsense.errors import NoMediaError, ParameterError
from reelsense.io import MediaFile, check_inputs, iso_time, media_ids
from reelsense.sounds.discover import Discovery, DiscoveryParams, discover_sounds, summary_path_for
from reelsense.trends._html import render_report, write_report
from reelsense.trends._links import HashtagLinkParams, hashtag_links, signature_hashtags
from reelsense.trends._stats import DAY_SECONDS, TrendParams
from reelsense.trends._usage import (
    SoundTrend,
    Use,
    date_uses,
    read_uses_csv,
    trend_table,
    uses_from_discovery,
    write_trends_csv,
)

__all__ = ["TrendReport", "trend_report"]


logger = logging.getLogger(__name__)
#: How far past the clock an upload time may be before it counts as in the future (time zones).
_FUTURE_SLACK_SECONDS = 86400.0


@dataclass(frozen=True)
class TrendReport:
    """What :func:`trend_report` computed and wrote. ``reference_seconds`` and ``start_seconds``
    (the span the trends were scored over) are None when no video has an upload time and none
    was given: then every sound's trend is empty and only its uses are counted."""

    sounds: tuple[SoundTrend, ...]
    reference_seconds: float | None
    start_seconds: float | None
    params: TrendParams
    n_videos: int
    trends_path: Path
    report_path: Path | None
    discovery: Discovery | None


def _warn_future(uses: Sequence[Use], reference_seconds: float) -> None:
    """Warn when the window ends at a use dated after now: one wrong timestamp (a sidecar
    dated 2099) would otherwise move the window there and leave every sound not trending
    without a word. The tables are unchanged; the warning names the videos."""
    now = time.time() + _FUTURE_SLACK_SECONDS
    if reference_seconds <= now:
        return
    future = sorted(
        {u.video_id for u in uses if u.timestamp_seconds is not None and u.timestamp_seconds > now}
    )
    logger.warning(
        "the recent window ends at the latest upload, %s, which is in the future: %d video%s dated "
        "after now (%s%s); is a timestamp wrong? Fix it, or give the window's end (--reference-time, "
        "reference_seconds)",
        iso_time(reference_seconds),
        len(future),
        "s are" if len(future) != 1 else " is",
        ", ".join(future[:5]),
        ", ..." if len(future) > 5 else "",
    )


def _warn_span(
    uses: Sequence[Use],
    corpus: Sequence[int],
    given_start: float | None,
    reference: float,
    start: float,
    params: TrendParams,
) -> None:
    """Warn when the span the trends are scored over, from ``start`` to ``reference``, leaves
    uses out or was not the one asked for; the tables are unchanged. ``corpus``: the upload
    times of every dated video; ``given_start``: the start asked for (None: the earliest upload).

    - a start after the window's end is moved to it: no baseline is left, so no trend is scored;
    - a baseline shorter than ``params.min_baseline_days`` (a window as long as the data) gives
      no trend score either;
    - a start more than a day before the earliest upload counts the days without any video as
      days without use (every sound used lately then looks like growing);
    - uses dated after the end, or before the start, are in no count.
    """
    if given_start is not None and given_start > reference:
        logger.warning(
            "the baseline's start, %s, is after the window's end, %s (the latest upload): it is moved "
            "to it, which leaves no baseline and no trend scored; give an earlier start (--since, "
            "start_seconds) or a later end (--reference-time, reference_seconds)",
            iso_time(given_start),
            iso_time(reference),
        )
        return
    window_start = reference - params.window_days * DAY_SECONDS
    baseline_days = max(0.0, (window_start - start) / DAY_SECONDS)
    # (an end before every upload: the count of the uses left out below says it all)
    if corpus and baseline_days < params.min_baseline_days and min(corpus) <= reference:
        logger.warning(
            "the baseline, from %s to the window's start, %s, is %.3g days, under the %g a trend "
            "score needs: no trend is scored; give a shorter window (--window-days, "
            "TrendParams.window_days) or an earlier start (--since, start_seconds)",
            iso_time(start),
            iso_time(window_start),
            baseline_days,
            params.min_baseline_days,
        )
    if given_start is not None and corpus and min(corpus) - given_start > DAY_SECONDS:
        logger.warning(
            "the baseline's start, %s, is %.0f days before the earliest upload, %s: the days without "
            "any video count as days without use, so a sound used lately looks like growing; start "
            "it within the data (--since, start_seconds) or leave it out",
            iso_time(given_start),
            (min(corpus) - given_start) / DAY_SECONDS,
            iso_time(min(corpus)),
        )
    times = [u.timestamp_seconds for u in uses if u.timestamp_seconds is not None]
    for n, where, when in (
        (sum(t > reference for t in times), "after the window's end", reference),
        (sum(t < start for t in times), "before the baseline's start", start),
    ):
        if n:
            logger.warning(
                "%d use%s dated %s, %s, %s left out of the trends (of %d dated uses)",
                n,
                "s" if n != 1 else "",
                where,
                iso_time(when),
                "are" if n != 1 else "is",
                len(times),
            )


def is_table_input(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`trend_report` reads ``path`` as a table of uses (a ``.csv`` file), not as
    media: with one among the inputs, nothing is discovered (``reelsense sounds trends``
    refuses the options of discovery then)."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() == ".csv"


def _read_tables(tables: Sequence[str | os.PathLike[str]]) -> list[Use]:
    """The uses of every table; a video in two tables is refused, as it is within one (counted
    twice, it would double its sound's rate)."""
    first: dict[str, str] = {}
    out: list[Use] = []
    for table in tables:
        uses = read_uses_csv(table, unassigned=True)
        for u in uses:
            if u.video_id in first:
                raise ParameterError(
                    f"video {u.video_id!r} is in both {first[u.video_id]} and {os.fspath(table)}: "
                    "give each video in one table only"
                )
        first.update((u.video_id, os.fspath(table)) for u in uses)
        out += uses
    return out


def trend_report(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    report: str | os.PathLike[str] | None = None,
    sound_index: str | os.PathLike[str] | None = None,
    extensions: Sequence[str] | None = None,
    include_hidden: bool = False,
    params: TrendParams | None = None,
    reference_seconds: float | None = None,
    start_seconds: float | None = None,
    discovery_params: DiscoveryParams | None = None,
    workers: int = 1,
    clusters_output: str | os.PathLike[str] | None = None,
    top: int = 12,
    progress: ProgressCallback | None = None,
    link_hashtags: bool = True,
    link_params: HashtagLinkParams | None = None,
    has_music: Callable[[Use], bool] | None = None,
    strict: bool = False,
) -> TrendReport:
    """Per-sound usage trends of ``inputs``, written to ``output`` (CSV) and ``report`` (HTML).
    An output that is one of the input files, or one of the media files in an input folder,
    is an OutputError before any work. ``extensions`` and ``include_hidden`` choose the files
    a folder among ``inputs`` is walked for, as in :func:`reelsense.io.walk_media` (default:
    every media format, no dot-files).

    ``reference_seconds``/``start_seconds``: end of the recent window and start of the
    baseline, finite unix seconds, the start before the end when both are given (default:
    latest/earliest dated use; a start after the default end, the latest use, is moved to
    it, with a warning). ``clusters_output``: also write the discovery tables when sounds are
    discovered here (with tables among ``inputs``, nothing is discovered: a warning says
    that nothing is written there). ``link_hashtags``: also count, under the sound whose
    signature hashtag they carry, videos whose audio matched no sound but has music
    (:func:`hashtag_links`; ``has_music`` defaults to decoding the video).
    ``strict``: when sounds are discovered here, the first video that fails raises
    :class:`~reelsense.errors.ItemFailedError` (see :func:`discover_sounds`).
    ``progress(stage, done, total)``: discovery's stages, then each later stage
    (``"read tables"``, ``"hashtags"``, ``"trends"``, ``"report"``) as it starts (done 0 of 1)
    and ends (1 of 1).
    """

    if params is None:
        params = TrendParams()
    elif not isinstance(params, TrendParams):
        raise ParameterError(f"params={params!r} must be a TrendParams, got {type(params).__name__}")
    inputs = check_inputs(inputs, "inputs", "media file, folder or clusters/matches CSV table")
    check_outputs_apart({"output": output, "report": report, "clusters_output": clusters_output}, inputs)
    if reference_seconds is not None:
        reference_seconds = check_finite(reference_seconds, "reference_seconds")
    if start_seconds is not None:
        start_seconds = check_finite(start_seconds, "start_seconds")
        if reference_seconds is not None and not start_seconds < reference_seconds:
            raise ParameterError(
                f"start_seconds={start_seconds} must be before reference_seconds={reference_seconds}"
            )
    workers = check_int(workers, "workers", minimum=1)
    include_hidden = check_bool(include_hidden, "include_hidden")  # also with tables alone
    tables = [p for p in inputs if is_table_input(p)]
    media = [p for p in inputs if not is_table_input(p)]
    # the ids of `reelsense embed` and `sounds discover` (sidecar ids, clashes resolved)
    found: list[tuple[str, MediaFile]] = []
    if media:
        try:
            found = media_ids(media, extensions=extensions, include_hidden=include_hidden)
        except NoMediaError:
            if not tables:  # folders beside a table only lend their sidecars
                raise
    # the check above leaves folders out: an output is also kept apart from the files in them
    check_outputs_apart(
        {
            "output": output,
            "report": report,
            "clusters_output": clusters_output,
            "the clusters_output summary": summary_path_for(clusters_output) if clusters_output else None,
        },
        [f.path for _, f in found],
    )
    discovery: Discovery | None = None
    uses: list[Use]
    if tables:
        by_id: dict[str, str] = {}
        for vid, f in found:
            by_id.setdefault(vid, f.path)
            by_id.setdefault(Path(f.path).stem, f.path)
        with stage(progress, "read tables"):
            rows_all = date_uses(_read_tables(tables), by_id)
        if clusters_output is not None:
            logger.warning(
                "no clusters table is written to %r: the sounds come from the tables %s, none are "
                "discovered from media",
                os.fspath(clusters_output),
                [os.fspath(t) for t in tables][:3],
            )
    else:
        if not found:
            raise ParameterError(f"no media files under {[os.fspath(m) for m in media][:3]}")
        discovery = discover_sounds(
            [f.path for _, f in found],
            ids=[vid for vid, _ in found],
            sound_index=sound_index,
            params=discovery_params,
            workers=workers,
            progress=progress,
            strict=strict,
        )
        if clusters_output is not None:
            discovery.write_csv(clusters_output)
        rows_all = uses_from_discovery(discovery, unassigned=True)
    corpus = [u.timestamp_seconds for u in rows_all]
    uses = [u for u in rows_all if u.sound]
    others = [u for u in rows_all if not u.sound]
    n_videos = len({u.video_id for u in rows_all})
    signatures: dict[str, tuple[str, ...]] = {}
    if link_hashtags:
        with stage(progress, "hashtags"):
            signatures = signature_hashtags(uses, others, link_params)
            linked = hashtag_links(
                uses, others, has_music=has_music, params=link_params, signatures=signatures
            )
            if linked:
                logger.info("%d videos linked to a sound by hashtag", len(linked))
            uses = uses + linked
    # the corpus' own span (every dated video, with a sound or not) frames the baseline
    dated = [t for t in corpus if t is not None]
    undated = not dated and reference_seconds is None
    if undated:
        logger.warning(
            "none of the %d videos has an upload time (a sidecar's timestamp or upload_date, or the "
            "table's timestamp column): no trend can be scored, only the uses of each sound are counted",
            n_videos,
        )
    ref = float(reference_seconds) if reference_seconds is not None else float(max(dated, default=0))
    if reference_seconds is None:
        _warn_future(rows_all, ref)
    start = float(start_seconds) if start_seconds is not None else float(min(dated, default=ref))
    start = min(start, ref)
    if not undated:  # (undated: the warning above says it all; its end, 1970, is no time)
        _warn_span(uses, dated, start_seconds, ref, start, params)
    with stage(progress, "trends"):
        rows = trend_table(
            uses, params=params, reference_seconds=ref, start_seconds=start, signatures=signatures
        )
        trends_path = write_trends_csv(rows, output, "" if undated else iso_time(ref))
    report_path = None
    if report is not None:
        with stage(progress, "report"):
            rp = Path(report)
            text = render_report(
                rows,
                reference_seconds=None if undated else ref,
                start_seconds=None if undated else start,
                params=params,
                base_dir=rp.resolve().parent,
                n_videos=n_videos,
                top=top,
            )
            report_path = write_report(text, rp)
    return TrendReport(
        tuple(rows),
        None if undated else ref,
        None if undated else start,
        params,
        n_videos,
        trends_path,
        report_path,
        discovery,
    )
