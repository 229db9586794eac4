"""Who used which sound when: uses gathered from a discovery or from CSV tables, and trends.

Sources of uses:

* a :class:`~reelsense.sounds.discover.Discovery` (every video in a cluster);
* a ``clusters.csv`` written by ``reelsense sounds discover`` (header
  ``video_id,sound_cluster``; older files ``query,cluster``;
  its ``timestamp``, ``path`` and ``caption`` columns are used when present);
* a ``matches.csv`` written by ``reelsense sounds match`` (``video_id,...,sound_id,...``;
  also the scorer's ``query,predicted_sound``): library sounds only.

Uses whose timestamp is not in the table are dated from the sidecar of the video with
the same id among ``media`` files (``<stem>.info.json`` etc., :func:`reelsense.io.read_sidecar`).
"""

from __future__ import annotations

import csv
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from reelsense.errors import OutputError, ParameterError, SidecarError
from reelsense.io import (
    Sidecar,
    allow_long_csv_fields,
    csv_float,
    iso_time,
    parse_timestamp,
    path_from_text,
)
from reelsense.io._files import replacing
from reelsense.io._sidecar import read_sidecar_fields
from reelsense.io._text import cells_past_header, column_names, not_utf8
from reelsense.sounds.discover import Discovery
from reelsense.trends._stats import Trend, TrendParams, usage_trend

__all__ = [
    "TREND_COLUMNS",
    "SoundTrend",
    "Use",
    "read_uses_csv",
    "trend_table",
    "uses_from_discovery",
    "write_trends_csv",
]

logger = logging.getLogger(__name__)

TREND_COLUMNS = (
    "sound",
    "library_sound",
    "n_videos",
    "n_dated",
    "first_seen",
    "last_seen",
    "recent_count",
    "baseline_count",
    "recent_rate_per_day",
    "baseline_rate_per_day",
    "rate_ratio",
    "rate_ratio_lower",
    "growth_probability",
    "trend_score",
    "trending",
    "window_days",
    "reference_time",
    "n_hashtag_linked",
    "signature_hashtags",
)


@dataclass(frozen=True)
class Use:
    """One video using one sound (``speed`` relative to the sound's representative).

    ``sound`` is empty for a video without a sound (it still dates the corpus);
    ``linked_hashtag`` is set when the use was linked by caption hashtag, not by audio
    (:mod:`reelsense.trends._links`)."""

    video_id: str
    sound: str
    library_sound: str | None
    timestamp_seconds: int | None
    path: str | None = None
    caption: str | None = None
    speed: float | None = None
    score: float | None = None
    linked_hashtag: str | None = None


@dataclass(frozen=True)
class SoundTrend:
    """A sound, its uses (newest first) and its :class:`~reelsense.trends._stats.Trend`.

    ``hashtags``: its signature hashtags (:func:`~reelsense.trends.signature_hashtags`);
    ``n_linked`` of the uses were linked by one of them rather than by audio."""

    sound: str
    library_sound: str | None
    uses: tuple[Use, ...]
    first_seen: int | None
    last_seen: int | None
    trend: Trend
    hashtags: tuple[str, ...] = ()

    @property
    def n_videos(self) -> int:
        return len(self.uses)

    @property
    def n_linked(self) -> int:
        return sum(u.linked_hashtag is not None for u in self.uses)

    @property
    def n_dated(self) -> int:
        return sum(u.timestamp_seconds is not None for u in self.uses)


def uses_from_discovery(discovery: Discovery, *, unassigned: bool = False) -> list[Use]:
    """Every video of ``discovery`` that belongs to a sound; with ``unassigned`` also the
    others (``sound`` empty), in the order of the video table."""
    return [
        Use(
            v.video_id,
            v.cluster or "",
            v.library_sound,
            v.timestamp_seconds,
            v.path,
            v.caption,
            v.speed,
            v.score,
        )
        for v in discovery.videos
        if v.cluster is not None or (unassigned and v.error is None)
    ]


def _opt_float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _opt_timestamp(text: str | None, where: str, ignored: list[str]) -> int | None:
    """A table's ``timestamp``, read as a sidecar's (:func:`reelsense.io.parse_timestamp`: unix
    seconds or ISO 8601, naive times UTC). A number outside the years 1-9999 or a date written
    YYYYMMDD is ignored, its message added to ``ignored`` (one warning counts them); text that
    is no time raises ParameterError naming it."""
    try:
        return parse_timestamp(text, where=where)
    except SidecarError as exc:
        try:
            float(text or "")
        except ValueError:
            raise ParameterError(str(exc)) from None
        ignored.append(str(exc))
        return None


def _warn_ignored(ignored: list[str]) -> None:
    """One warning for a table's ignored timestamps: the first one's message and their count."""
    if len(ignored) == 1:
        logger.warning("%s; ignored", ignored[0])
    elif ignored:
        logger.warning("%s; ignored (%d timestamps of the table ignored in all)", ignored[0], len(ignored))


_LIBRARY_KEYS = ("sound_id", "predicted_sound")


def read_uses_csv(path: str | os.PathLike[str], *, unassigned: bool = False) -> list[Use]:
    """Uses in a ``clusters.csv`` (discover) or ``matches.csv`` (match) table; with
    ``unassigned`` also the videos without a sound (``sound`` empty), which date the corpus."""
    p = Path(path)
    allow_long_csv_fields()
    try:
        # read as reelsense.rank reads its tables: a byte order mark (Excel's "CSV UTF-8")
        # dropped, header names without surrounding spaces (one named twice refused)
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = column_names(p, reader.fieldnames or [])
            reader.fieldnames = fields
            # a clusters.csv names the video `video_id` (older files `query`) and its sound
            # `sound_cluster` (`cluster`); a matches.csv has `video_id,...,sound_id` (the
            # scorer's format `query,predicted_sound`)
            id_key = next((k for k in ("video_id", "query") if k in fields), None)
            key = next((k for k in ("sound_cluster", "cluster", *_LIBRARY_KEYS) if k in fields), None)
            if id_key is None or key is None:
                raise ParameterError(
                    f"{p}: expected a clusters.csv (video_id, sound_cluster, ...) "
                    f"or matches.csv (video_id, sound_id, ...), got columns {fields[:6]}"
                )
            out = []
            seen: dict[str, int] = {}  # video id -> its line: a video counted twice doubles its sound's rate
            ignored: list[str] = []  # the timestamps that are numbers but no time
            for line, row in enumerate(reader, start=2):
                # fewer fields than the header, or more that hold something (a spreadsheet's
                # trailing empty cells are read, as reelsense.rank reads them)
                if cells_past_header(row) or None in row.values():
                    n = len(fields) + len(row.get(None) or ()) - sum(v is None for v in row.values())
                    raise ParameterError(
                        f"{p}:{reader.line_num}: {n} fields where the header has {len(fields)} "
                        "(a table cut short or damaged?)"
                    )
                vid = row[id_key]
                if vid in seen:
                    raise ParameterError(
                        f"{p}:{line}: video {vid!r} is listed twice (first on line {seen[vid]})"
                    )
                seen[vid] = line
                sound = (row.get(key) or "").strip()
                if not sound and not unassigned:
                    continue
                lib = (row.get("library_sound") or "").strip() or None
                out.append(
                    Use(
                        video_id=row[id_key],
                        sound=sound,
                        library_sound=(sound or None) if key in _LIBRARY_KEYS else lib,
                        timestamp_seconds=_opt_timestamp(row.get("timestamp"), f"{p}:{line}", ignored),
                        path=path_from_text(row.get("path") or "").strip() or None,  # the CSV's escape
                        caption=(row.get("caption") or "").strip() or None,
                        speed=_opt_float(
                            row.get("speed_vs_representative") or row.get("sound_speed") or row.get("speed")
                        ),
                        score=_opt_float(row.get("score") or row.get("sound_score")),
                    )
                )
            _warn_ignored(ignored)
            return out
    except UnicodeDecodeError as exc:
        raise not_utf8(p, exc) from None
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise ParameterError(f"{str(p)!r} is not a readable CSV table: {exc}") from None
    except OSError as exc:
        raise ParameterError(f"cannot read {p}: {exc}") from exc


def date_uses(uses: Sequence[Use], media: Mapping[str, str]) -> list[Use]:
    """Fill missing timestamps/captions/paths from the sidecars of ``media`` (id -> path).
    Each video's sidecar is read (and its notes or error logged) once, however many uses
    name the video."""
    out = []
    sidecars: dict[str, Sidecar | None] = {}
    for u in uses:
        path = u.path or media.get(u.video_id)
        if (u.timestamp_seconds is None or u.caption is None) and path is not None:
            if path not in sidecars:
                try:
                    # the ids come from media_ids, which tells of a sidecar id dropped
                    sidecars[path] = read_sidecar_fields(path) if Path(path).exists() else None
                except SidecarError as exc:
                    logger.warning("%s", exc)
                    sidecars[path] = None
            side = sidecars[path]
            if side is not None:
                u = replace(
                    u,
                    timestamp_seconds=(
                        u.timestamp_seconds if u.timestamp_seconds is not None else side.timestamp_seconds
                    ),
                    path=path,
                    caption=u.caption or side.caption or side.title,
                )
        elif u.path is None and path is not None:
            u = replace(u, path=path)
        out.append(u)
    return out


def trend_table(
    uses: Iterable[Use],
    *,
    params: TrendParams | None = None,
    reference_seconds: float | None = None,
    start_seconds: float | None = None,
    signatures: Mapping[str, tuple[str, ...]] | None = None,
) -> list[SoundTrend]:
    """One :class:`SoundTrend` per sound, trending first, then by score and size.

    ``signatures``: sound -> signature hashtags, reported beside each sound.

    ``reference_seconds``/``start_seconds`` default to the latest/earliest dated use.
    Undated uses count in ``n_videos`` but not in the trend.
    """
    params = params or TrendParams()
    by_sound: dict[str, list[Use]] = defaultdict(list)
    for u in uses:
        by_sound[u.sound].append(u)
    dated = [u.timestamp_seconds for us in by_sound.values() for u in us if u.timestamp_seconds is not None]
    if reference_seconds is None:
        reference_seconds = float(max(dated)) if dated else 0.0
    if start_seconds is None:
        start_seconds = float(min(dated)) if dated else reference_seconds
    start_seconds = min(start_seconds, reference_seconds)
    rows = []
    for sound, us in by_sound.items():
        times = np.array(
            [u.timestamp_seconds for u in us if u.timestamp_seconds is not None], dtype=np.float64
        )
        trend = usage_trend(
            times, reference_seconds=reference_seconds, start_seconds=start_seconds, params=params
        )
        libs = {u.library_sound for u in us if u.library_sound}
        ordered = sorted(us, key=lambda u: (-(u.timestamp_seconds or -(2**62)), u.video_id))
        rows.append(
            SoundTrend(
                sound=sound,
                library_sound=sorted(libs)[0] if libs else None,
                uses=tuple(ordered),
                first_seen=int(times.min()) if times.size else None,
                last_seen=int(times.max()) if times.size else None,
                trend=trend,
                hashtags=tuple((signatures or {}).get(sound, ())),
            )
        )
    rows.sort(
        key=lambda r: (
            not r.trend.trending,
            -(r.trend.score if np.isfinite(r.trend.score) else -1e9),
            -r.n_videos,
            r.sound,
        )
    )
    return rows


def write_trends_csv(rows: Sequence[SoundTrend], path: str | os.PathLike[str], reference_iso: str) -> Path:
    """Write ``trends.csv`` (columns :data:`TREND_COLUMNS`)."""
    out = Path(path)
    try:
        with replacing(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(TREND_COLUMNS)
            for r in rows:
                t = r.trend
                w.writerow(
                    [
                        r.sound,
                        r.library_sound or "",
                        r.n_videos,
                        r.n_dated,
                        iso_time(r.first_seen),
                        iso_time(r.last_seen),
                        t.recent_count,
                        t.baseline_count,
                        csv_float(t.recent_rate_per_day, 4),
                        csv_float(t.baseline_rate_per_day, 4),
                        csv_float(t.rate_ratio, 3),
                        csv_float(t.rate_ratio_lower, 3),
                        csv_float(t.growth_probability, 4),
                        csv_float(t.score, 3),
                        int(t.trending),
                        csv_float(t.window_days, 2),
                        reference_iso,
                        r.n_linked,
                        " ".join(f"#{h}" for h in r.hashtags),
                    ]
                )
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc}") from exc
    return out
