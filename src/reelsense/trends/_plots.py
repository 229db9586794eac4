"""Usage-over-time figures (matplotlib, Agg canvas, no pyplot state) as embeddable PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reelsense.trends._stats import DAY_SECONDS, daily_counts
from reelsense.trends._usage import SoundTrend

__all__ = ["overview_png", "sound_png"]

_TREND_COLOR = "#d1495b"
_BASE_COLOR = "#3d6b99"
_WINDOW_COLOR = "#f6d8a8"


def _data_uri(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _dates(day_starts: np.ndarray) -> np.ndarray:
    return np.asarray(
        date2num([datetime.fromtimestamp(int(d), tz=timezone.utc).replace(tzinfo=None) for d in day_starts])
    )


def _times(row: SoundTrend) -> np.ndarray:
    return np.array(
        [u.timestamp_seconds for u in row.uses if u.timestamp_seconds is not None], dtype=np.float64
    )


def sound_png(row: SoundTrend, *, start_seconds: float, reference_seconds: float, window_days: float) -> str:
    """Daily uses of one sound (bars; the recent window shaded, its days coloured) as a data URI."""
    days, counts = daily_counts(_times(row), start_seconds=start_seconds, end_seconds=reference_seconds)
    x = _dates(days)
    cut = reference_seconds - window_days * DAY_SECONDS
    recent = days + DAY_SECONDS > cut
    fig = Figure(figsize=(10.4, 2.0), layout="constrained")
    ax = fig.add_subplot()
    ax.axvspan(_dates(np.array([cut]))[0], x[-1] + 1, color=_WINDOW_COLOR, alpha=0.6, lw=0)
    color = _TREND_COLOR if row.trend.trending else _BASE_COLOR
    ax.bar(x[~recent], counts[~recent], width=0.85, color=_BASE_COLOR, align="edge")
    ax.bar(x[recent], counts[recent], width=0.85, color=color, align="edge")
    base = row.trend.baseline_rate_per_day
    if np.isfinite(base):
        ax.axhline(base, color="#555555", lw=1, ls="--")
    ax.set_ylabel("uses / day")
    ax.set_ylim(0, max(2, int(counts.max()) + 1) if counts.size else 2)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    loc = AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))
    ax.spines[["top", "right"]].set_visible(False)
    return _data_uri(fig)


def overview_png(
    rows: Sequence[SoundTrend], *, start_seconds: float, reference_seconds: float, window_days: float
) -> str:
    """Cumulative uses of the given sounds over time, one line each, as a data URI."""
    fig = Figure(figsize=(10.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    cut = reference_seconds - window_days * DAY_SECONDS
    for row in rows:
        days, counts = daily_counts(_times(row), start_seconds=start_seconds, end_seconds=reference_seconds)
        x = _dates(days) + 1.0
        ax.step(x, np.cumsum(counts), where="post", lw=2 if row.trend.trending else 1.2, label=row.sound)
    ax.axvspan(_dates(np.array([cut]))[0], _dates(np.array([reference_seconds]))[0] + 1,
               color=_WINDOW_COLOR, alpha=0.6, lw=0, label=f"last {window_days:g} days")  # fmt: skip
    ax.set_ylabel("cumulative uses")
    loc = AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=2)
    return _data_uri(fig)
