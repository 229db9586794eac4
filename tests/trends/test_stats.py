"""Trend score: bursts score high, flat use low, tiny counts are not flagged; daily counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.errors import ParameterError
from reelsense.io import iso_time
from reelsense.trends import DAY_SECONDS, TrendParams, daily_counts, trend_score, usage_trend

REF = 1_732_920_000  # 2024-11-29T22:40:00Z
START = REF - 30 * DAY_SECONDS


def _days_ago(days: list[float]) -> np.ndarray:
    return REF - np.asarray(days) * DAY_SECONDS


def test_burst_in_the_last_week_scores_high() -> None:
    t = usage_trend(
        _days_ago([0.2, 0.5, 1.1, 1.5, 2.2, 3.0, 4.4, 5.9, 20.0]), reference_seconds=REF, start_seconds=START
    )
    assert t.recent_count == 8 and t.baseline_count == 1
    assert t.trending and t.score > 1.0 and t.growth_probability > 0.99
    assert t.rate_ratio > t.rate_ratio_lower > 2.0


def test_flat_usage_scores_low_whatever_its_volume() -> None:
    rng = np.random.default_rng(1)
    for n in (10, 60, 600):
        ages = rng.uniform(0, 30, n)
        t = usage_trend(_days_ago(list(ages)), reference_seconds=REF, start_seconds=START)
        assert not t.trending
        assert t.score < 0.0
        assert t.rate_ratio == pytest.approx(1.0, abs=0.6 if n < 100 else 0.25)


def test_tiny_counts_are_not_flagged() -> None:
    assert not trend_score(2, 0, window_days=7, baseline_days=23).trending
    assert not trend_score(1, 0, window_days=7, baseline_days=23).trending
    assert not trend_score(0, 0, window_days=7, baseline_days=23).trending
    # the same growth with more evidence is flagged
    assert trend_score(6, 0, window_days=7, baseline_days=23).trending


def test_no_baseline_gives_no_score() -> None:
    t = usage_trend(_days_ago([0.1, 0.2, 0.3]), reference_seconds=REF, start_seconds=REF - 7.5 * DAY_SECONDS)
    assert math.isnan(t.score) and not t.trending and t.baseline_days < 1.0


def test_min_recent_and_ratio_flags() -> None:
    strict = TrendParams(min_recent=10)
    assert not trend_score(8, 0, window_days=7, baseline_days=23, params=strict).trending
    strong = TrendParams(min_ratio=16.0)
    assert not trend_score(8, 0, window_days=7, baseline_days=23, params=strong).trending


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.floats(1.0, 60.0))
def test_score_grows_with_recent_use_and_falls_with_baseline(recent: int, base: int, days: float) -> None:
    a = trend_score(recent, base, window_days=7, baseline_days=days)
    more = trend_score(recent + 1, base, window_days=7, baseline_days=days)
    older = trend_score(recent, base + 1, window_days=7, baseline_days=days)
    assert more.score > a.score > older.score
    assert 0.0 <= a.growth_probability <= 1.0
    assert a.rate_ratio_lower < a.rate_ratio


def test_window_boundaries_and_out_of_range_uses() -> None:
    times = [REF - 7 * DAY_SECONDS, REF - 7 * DAY_SECONDS + 1, REF, REF + 5, START - 5]
    t = usage_trend(times, reference_seconds=REF, start_seconds=START)
    assert (t.recent_count, t.baseline_count) == (2, 1)
    assert t.baseline_days == pytest.approx(23.0)


def test_daily_counts() -> None:
    times = [START, START + 10, START + DAY_SECONDS, REF, REF + 3 * DAY_SECONDS]
    days, counts = daily_counts(times, start_seconds=START, end_seconds=REF)
    assert days[0] == START // DAY_SECONDS * DAY_SECONDS
    assert np.all(np.diff(days) == DAY_SECONDS)
    assert counts.sum() == 4 and counts[0] == 2 and counts[-1] == 1
    assert days.size == counts.size == 31


def test_bad_inputs() -> None:
    with pytest.raises(ParameterError):
        trend_score(-1, 0, window_days=7, baseline_days=3)
    with pytest.raises(ParameterError):
        trend_score(1, 0, window_days=0, baseline_days=3)
    with pytest.raises(ParameterError):
        usage_trend([np.nan], reference_seconds=REF, start_seconds=START)
    with pytest.raises(ParameterError):
        usage_trend([REF], reference_seconds=START, start_seconds=REF)
    with pytest.raises(ParameterError):
        TrendParams(window_days=-1)
    with pytest.raises(ParameterError):
        daily_counts([REF], start_seconds=REF, end_seconds=START)


def test_iso_time() -> None:
    assert iso_time(REF) == "2024-11-29T22:40:00Z"
    assert iso_time(None) == ""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_days": math.inf}, "window_days=inf must be a finite number"),
        ({"prior_uses": math.inf}, "prior_uses=inf must be a finite number"),
        ({"min_baseline_days": math.nan}, "min_baseline_days=nan must be a finite number"),
        ({"min_baseline_days": -1.0}, "min_baseline_days=-1.0 must be >= 0"),
        ({"min_recent": 2.5}, "min_recent=2.5 must be an integer"),
        ({"credibility": math.nan}, "credibility=nan must be a finite number"),
    ],
)
def test_trend_params_refuse_values_that_left_the_scores_empty(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        TrendParams(**kwargs)  # type: ignore[arg-type]
