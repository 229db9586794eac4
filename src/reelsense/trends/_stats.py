"""Is a sound trending? Daily usage counts and a small-count-robust growth score.

THE MODEL
---------
Uses of one sound are a Poisson process whose rate is ``lambda_b`` per day in the
*baseline* period (from ``start`` to the start of the recent window) and ``lambda_r`` in
the *recent* window (the last ``W`` days up to the reference time, ``(ref - W, ref]``).
The question is the rate ratio ``rho = lambda_r / lambda_b``. Conditioning on the total
``N = R + B`` (recent and baseline counts) removes the unknown overall popularity: ``R``
is then ``Binomial(N, theta)`` with ``theta = rho W / (rho W + D)`` (``D``: baseline days).

A Beta prior on ``theta`` centred on *no change* (``theta0 = W / (W + D)``) and worth
``prior_uses`` pseudo-uses, ``Beta(k theta0, k (1 - theta0))``, gives the posterior
``Beta(R + k theta0, B + k (1 - theta0))``. Then

* ``rate_ratio``: the shrunken point estimate ``((R + k theta0) / W) / ((B + k (1-theta0)) / D)``;
* ``rate_ratio_lower``: the lower bound of the ``credibility`` (95 %) credible interval,
  ``theta_lo / (1 - theta_lo) * D / W`` with ``theta_lo`` the posterior quantile;
* ``growth_probability``: posterior probability that ``rho > 1``;
* ``score = log2(rate_ratio_lower)``: "with 95 % probability the sound is used at least
  ``2 ** score`` times as often in the last ``W`` days as before". Few uses give a wide
  posterior, hence a low score: 3 recent uses against none in the 22.5 days before score
  0.75, 12 against none 3.1, 2 against none -0.06; steady use scores below 0 whatever its volume.
* ``trending``: ``score >= log2(min_ratio)`` (default ``min_ratio`` 1: growth is 95 %
  certain) and at least ``min_recent`` (3) recent uses.

The default window is 7 days (weekly cycles of posting average out within it); the
reference time is the latest use in the data unless given, the start the earliest use
in the data (the corpus' own span), so a sound first heard this week is compared with the
weeks the corpus saw without it. With under one day of baseline no score is given.

Pure functions of unix-second timestamps; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from reelsense._checks import check_finite, check_int, check_positive
from reelsense.errors import ParameterError

__all__ = ["DAY_SECONDS", "Trend", "TrendParams", "daily_counts", "trend_score", "usage_trend"]

DAY_SECONDS = 86400


@dataclass(frozen=True)
class TrendParams:
    """Window, prior and flag thresholds of :func:`trend_score` (see the module docstring)."""

    window_days: float = 7.0
    credibility: float = 0.95
    prior_uses: float = 2.0
    min_recent: int = 3
    min_ratio: float = 1.0
    min_baseline_days: float = 1.0

    def __post_init__(self) -> None:
        # finite: an infinite window or prior wrote empty score columns
        check_positive(self.window_days, "window_days")
        check_positive(self.prior_uses, "prior_uses")
        if not 0.5 <= check_finite(self.credibility, "credibility") < 1:
            raise ParameterError(f"credibility={self.credibility} must be in [0.5, 1)")
        check_int(self.min_recent, "min_recent", minimum=0)
        if not check_finite(self.min_ratio, "min_ratio") > 0:
            raise ParameterError(f"min_ratio={self.min_ratio} must be > 0")
        if check_finite(self.min_baseline_days, "min_baseline_days") < 0:
            raise ParameterError(f"min_baseline_days={self.min_baseline_days} must be >= 0")


@dataclass(frozen=True)
class Trend:
    """Growth of one sound's usage (rates per day; NaN ratios/score when there is no baseline)."""

    n_uses: int
    recent_count: int
    baseline_count: int
    window_days: float
    baseline_days: float
    recent_rate_per_day: float
    baseline_rate_per_day: float
    rate_ratio: float
    rate_ratio_lower: float
    growth_probability: float
    score: float
    trending: bool


def trend_score(
    recent_count: int,
    baseline_count: int,
    *,
    window_days: float,
    baseline_days: float,
    params: TrendParams | None = None,
) -> Trend:
    """Trend of a sound used ``recent_count`` times in the last ``window_days`` and
    ``baseline_count`` times in the ``baseline_days`` before."""
    params = params or TrendParams()
    if recent_count < 0 or baseline_count < 0:
        raise ParameterError(f"counts must be >= 0, got {recent_count}, {baseline_count}")
    if not window_days > 0 or baseline_days < 0:
        raise ParameterError(f"window_days={window_days} must be > 0 and baseline_days={baseline_days} >= 0")
    r, b = int(recent_count), int(baseline_count)
    w, d = float(window_days), float(baseline_days)
    recent_rate = r / w
    base_rate = b / d if d > 0 else math.nan
    if d < params.min_baseline_days:
        nan = math.nan
        return Trend(r + b, r, b, w, d, recent_rate, base_rate, nan, nan, nan, nan, False)
    theta0 = w / (w + d)
    a_post = r + params.prior_uses * theta0
    b_post = b + params.prior_uses * (1.0 - theta0)
    theta_lo = float(stats.beta.ppf(1.0 - params.credibility, a_post, b_post))
    lower = theta_lo / max(1.0 - theta_lo, 1e-300) * d / w
    ratio = (a_post / w) / (b_post / d)
    growth = float(stats.beta.sf(theta0, a_post, b_post))
    score = math.log2(lower) if lower > 0 else -math.inf
    trending = r >= params.min_recent and lower >= params.min_ratio
    return Trend(r + b, r, b, w, d, recent_rate, base_rate, ratio, lower, growth, score, trending)


def _check_times(timestamps_seconds: np.ndarray | list[int] | list[float]) -> np.ndarray:
    t = np.asarray(timestamps_seconds, dtype=np.float64).reshape(-1)
    if not np.isfinite(t).all():
        raise ParameterError("timestamps must be finite unix seconds")
    return t


def usage_trend(
    timestamps_seconds: np.ndarray | list[int] | list[float],
    *,
    reference_seconds: float,
    start_seconds: float,
    params: TrendParams | None = None,
) -> Trend:
    """Trend of the uses at ``timestamps_seconds`` (float ``[n]`` unix seconds).

    Recent window ``(reference - W days, reference]``; baseline ``[start, reference - W days]``.
    Uses after the reference time or before the start are ignored.
    """
    params = params or TrendParams()
    t = _check_times(timestamps_seconds)
    if start_seconds > reference_seconds:
        raise ParameterError(f"start {start_seconds} is after the reference time {reference_seconds}")
    cut = reference_seconds - params.window_days * DAY_SECONDS
    t = t[(t >= start_seconds) & (t <= reference_seconds)]
    recent = int(np.count_nonzero(t > cut))
    baseline = int(t.size - recent)
    base_days = max(0.0, (cut - start_seconds) / DAY_SECONDS)
    return trend_score(
        recent, baseline, window_days=params.window_days, baseline_days=base_days, params=params
    )


def daily_counts(
    timestamps_seconds: np.ndarray | list[int] | list[float], *, start_seconds: float, end_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """Uses per UTC day from the day of ``start_seconds`` to the day of ``end_seconds``.

    Returns ``(day_starts, counts)``: int64 ``[d]`` unix seconds of each day's midnight UTC
    and int64 ``[d]`` counts (uses outside the span are ignored).
    """
    t = _check_times(timestamps_seconds)
    if end_seconds < start_seconds:
        raise ParameterError(f"end {end_seconds} is before start {start_seconds}")
    first = int(start_seconds // DAY_SECONDS)
    last = int(end_seconds // DAY_SECONDS)
    days = np.arange(first, last + 1, dtype=np.int64)
    idx = np.floor(t / DAY_SECONDS).astype(np.int64) - first
    idx = idx[(idx >= 0) & (idx < days.size)]
    counts = np.bincount(idx, minlength=days.size).astype(np.int64)
    return days * DAY_SECONDS, counts
