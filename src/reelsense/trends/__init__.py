"""Sound trends over time: per-sound usage, a trend score, ``trends.csv`` and an HTML report.

>>> from reelsense.trends import trend_report
>>> trend_report(["videos/"], "trends.csv", report="report.html", sound_index="lib.rsidx")  # doctest: +SKIP

- :func:`trend_report`: what ``reelsense sounds trends`` runs. Inputs are media files/folders
  (sounds are discovered first, with the library when ``sound_index`` is given) or tables: a
  ``clusters.csv`` from ``reelsense sounds discover`` or a ``matches.csv`` from
  ``reelsense sounds match``.
- :func:`usage_trend` / :func:`trend_score` / :class:`TrendParams`: the statistics, on arrays of
  upload times (the maths is in the module docstring of ``reelsense.trends._stats``).
- :func:`hashtag_links` / :func:`signature_hashtags`: videos without an audio match linked to a
  sound by a hashtag only that sound's videos carry.
"""

from reelsense.trends._links import (
    HashtagLinkParams,
    concentration_p_value,
    hashtag_links,
    signature_hashtags,
)
from reelsense.trends._report import TrendReport, trend_report
from reelsense.trends._stats import DAY_SECONDS, Trend, TrendParams, daily_counts, trend_score, usage_trend
from reelsense.trends._usage import (
    TREND_COLUMNS,
    SoundTrend,
    Use,
    read_uses_csv,
    trend_table,
    write_trends_csv,
)

__all__ = [
    "DAY_SECONDS",
    "TREND_COLUMNS",
    "HashtagLinkParams",
    "SoundTrend",
    "Trend",
    "TrendParams",
    "TrendReport",
    "Use",
    "concentration_p_value",
    "daily_counts",
    "hashtag_links",
    "read_uses_csv",
    "signature_hashtags",
    "trend_report",
    "trend_score",
    "trend_table",
    "usage_trend",
    "write_trends_csv",
]
