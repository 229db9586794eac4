"""A self-contained HTML trends report: one file, images inline, no scripts, no external assets."""

from __future__ import annotations

import html
import os
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reelsense.errors import OutputError
from reelsense.io import iso_time, parse_hashtags
from reelsense.io._files import replacing
from reelsense.io._sidecar import hashtag_key
from reelsense.trends._plots import overview_png, sound_png
from reelsense.trends._stats import TrendParams
from reelsense.trends._usage import SoundTrend, Use

__all__ = ["render_report", "write_report"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2430;
  background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 8px} h3{font-size:16px;margin:0}
.muted{color:#667}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{padding:4px 7px;border-bottom:1px solid #e3e5ea;text-align:right;white-space:nowrap}
th{background:#f0f2f5;position:sticky;top:0}
td.l,th.l{text-align:left} td.cap{white-space:normal;text-align:left;max-width:420px}
tr.hot td{background:#fff1f2}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;background:#e3e5ea}
.badge.hot{background:#d1495b;color:#fff}
.card{background:#fff;border:1px solid #e3e5ea;border-radius:8px;padding:14px 16px;margin:14px 0}
.card img{max-width:100%;height:auto}
.stats{display:flex;gap:18px;flex-wrap:wrap;margin:6px 0 10px}
.stats div{font-size:13px} .stats b{font-size:15px}
.wrap{overflow-x:auto}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}f}" if np.isfinite(x) else "–"


def _href(path: str, base: Path) -> str:
    p = Path(path)
    try:
        rel = os.path.relpath(p.resolve(), base.resolve())
        return urllib.parse.quote(Path(rel).as_posix())
    except ValueError:  # another drive (Windows)
        return p.resolve().as_uri()


def _badge(row: SoundTrend) -> str:
    if row.trend.trending:
        return '<span class="badge hot">trending</span>'
    return '<span class="badge">steady</span>'


def _source(row: SoundTrend) -> str:
    if row.library_sound is None:
        return "discovered"
    if row.library_sound == row.sound:
        return "library"
    return f"library {_e(row.library_sound)}"


def _tag_counts(uses: Sequence[Use]) -> tuple[Counter[str], dict[str, str]]:
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for u in uses:
        for tag in parse_hashtags(u.caption):
            key = hashtag_key(tag)
            spelling.setdefault(key, tag)
            counts[key] += 1
    return counts, spelling


def _hashtags(uses: Sequence[Use], corpus: Counter[str], limit: int = 6) -> list[tuple[str, int]]:
    """Hashtags that at least two of the sound's uses carry and that are mostly used with this
    sound (at least half of their uses in the corpus; so #fyp and #viral stay out)."""
    counts, spelling = _tag_counts(uses)
    keep = [(k, c) for k, c in counts.items() if c >= 2 and c >= 0.5 * corpus.get(k, c)]
    keep.sort(key=lambda kc: (-kc[1], kc[0]))
    return [(spelling[k], c) for k, c in keep[:limit]]


def _table(rows: Sequence[SoundTrend]) -> str:
    head = (
        "<tr><th class='l'>sound</th><th class='l'>source</th><th>videos</th><th>first seen</th>"
        "<th>last seen</th><th>recent</th><th>baseline / day</th>"
        "<th>ratio</th><th>ratio ≥ (95 %)</th><th>score</th><th class='l'>flag</th></tr>"
    )
    body = []
    for r in rows:
        t = r.trend
        body.append(
            f"<tr class='{'hot' if t.trending else ''}'>"
            f"<td class='l'><a href='#s-{_e(r.sound)}'>{_e(r.sound)}</a></td>"
            f"<td class='l'>{_source(r)}</td><td>{r.n_videos}</td>"
            f"<td>{_e(iso_time(r.first_seen)[:10])}</td><td>{_e(iso_time(r.last_seen)[:10])}</td>"
            f"<td>{t.recent_count}</td><td>{_num(t.baseline_rate_per_day, 2)}</td>"
            f"<td>{_num(t.rate_ratio, 1)}</td>"
            f"<td>{_num(t.rate_ratio_lower, 2)}</td><td>{_num(t.score, 2)}</td>"
            f"<td class='l'>{_badge(r)}</td></tr>"
        )
    return f"<div class='wrap'><table>{head}{''.join(body)}</table></div>"


def _examples(uses: Sequence[Use], base: Path, limit: int) -> str:
    items = []
    for u in uses[:limit]:
        name = _e(Path(u.path).name) if u.path else _e(u.video_id)
        link = f"<a href='{_href(u.path, base)}'>{name}</a>" if u.path else name
        speed = f"{u.speed:.2f}×" if u.speed is not None else ""
        if u.linked_hashtag is not None:
            speed = f"by #{u.linked_hashtag}"
        when = iso_time(u.timestamp_seconds).replace("T", " ")[:16]
        items.append(
            f"<tr><td class='l'>{link}</td><td>{_e(when)}</td>"
            f"<td>{_e(speed)}</td><td class='cap'>{_e(u.caption or '')}</td></tr>"
        )
    more = f"<p class='muted'>… and {len(uses) - limit} more</p>" if len(uses) > limit else ""
    head = (
        "<tr><th class='l'>video</th><th>uploaded (UTC)</th><th>speed vs sound / link</th>"
        "<th class='l'>caption</th></tr>"
    )
    return f"<div class='wrap'><table>{head}{''.join(items)}</table></div>{more}"


def _span(start_seconds: float | None, reference_seconds: float | None, window_days: float) -> str:
    if start_seconds is None or reference_seconds is None:
        return "No video has an upload time, so no trend is scored: the uses of each sound are counted."
    return (
        f"Uses from {_e(iso_time(start_seconds)[:10])} to {_e(iso_time(reference_seconds))}; "
        f"recent window: the last {window_days:g} days."
    )


def render_report(
    rows: Sequence[SoundTrend],
    *,
    reference_seconds: float | None,
    start_seconds: float | None,
    params: TrendParams,
    base_dir: Path,
    n_videos: int,
    top: int = 12,
    examples: int = 6,
    title: str = "Trending sounds",
) -> str:
    """The report as one HTML string (links to videos relative to ``base_dir``)."""
    w = params.window_days
    dated_span = (
        None if start_seconds is None or reference_seconds is None else (start_seconds, reference_seconds)
    )
    shown = [r for r in rows if r.n_dated > 0][:top] if dated_span is not None else []
    all_uses = [u for r in rows for u in r.uses]
    corpus, _ = _tag_counts(all_uses)
    n_trending = sum(r.trend.trending for r in rows)
    n_using = sum(r.n_videos for r in rows)
    n_linked = sum(r.n_linked for r in rows)
    linked_note = f" ({n_linked} of them by hashtag, their audio matching no sound)" if n_linked else ""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted'>{n_videos} videos, {n_using} of them using {len(rows)} sounds{linked_note}, "
        f"{n_trending} trending. " + _span(start_seconds, reference_seconds, w) + "</p>",
    ]
    if shown and dated_span is not None:
        img = overview_png(
            shown[:8], start_seconds=dated_span[0], reference_seconds=dated_span[1], window_days=w
        )
        parts.append(f"<div class='card'><img alt='cumulative uses of the top sounds' src='{img}'></div>")
    parts += [
        "<h2>Trend scores</h2>",
        "<p class='muted'>score = log2 of the lower 95 % credible bound of (recent rate / baseline rate); "
        f"trending = score ≥ {np.log2(params.min_ratio):.2f} with at least {params.min_recent} recent uses. "
        "A beta-binomial model with a prior of "
        f"{params.prior_uses:g} uses centred on 'no change' keeps small counts from being flagged.</p>",
        _table(rows),
        "<h2>Top sounds</h2>",
    ]
    for r in shown:
        t = r.trend
        assert dated_span is not None  # nothing is shown without one
        img = sound_png(r, start_seconds=dated_span[0], reference_seconds=dated_span[1], window_days=w)
        source = f"<div>{_source(r)}</div>" if r.library_sound != r.sound else ""
        tags = _hashtags(r.uses, corpus)
        tag_line = (
            "<p class='muted'>shared hashtags: " + ", ".join(f"#{_e(x)} ({n})" for x, n in tags) + "</p>"
            if tags
            else ""
        )
        linked = (
            f"<div>linked by hashtag <b>{r.n_linked}</b> ({', '.join('#' + _e(h) for h in r.hashtags)})</div>"
            if r.n_linked
            else ""
        )
        parts.append(
            f"<div class='card' id='s-{_e(r.sound)}'><h3>{_e(r.sound)} {_badge(r)}</h3>"
            f"<div class='stats'><div>videos <b>{r.n_videos}</b></div>"
            f"<div>last {w:g} days <b>{t.recent_count}</b></div>"
            f"<div>before <b>{t.baseline_count}</b> in {t.baseline_days:.1f} days</div>"
            f"<div>rate ratio <b>{_num(t.rate_ratio, 1)}</b> (≥ {_num(t.rate_ratio_lower, 2)})</div>"
            f"<div>score <b>{_num(t.score, 2)}</b></div>{linked}{source}</div>{tag_line}"
            f"<img alt='daily uses of {_e(r.sound)}' src='{img}'>"
            f"{_examples(r.uses, base_dir, examples)}</div>"
        )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(html_text: str, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    try:
        with replacing(out) as tmp:
            tmp.write_text(html_text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc}") from exc
    return out
