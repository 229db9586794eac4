"""Matching on synthetic music: offsets, speed, tempo and pitch are recovered; strangers are not matched."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from music import make_notes, render
from reelsense.audio._search import HashIndex, PeakTable
from reelsense.audio.fingerprint import FingerprintParams, fingerprint
from reelsense.audio.match import (
    MatchConfig,
    false_match_log10p,
    hypothesis_grid,
    match_query,
    prepare_query,
)
from reelsense.errors import ParameterError

SR = 11025
P = FingerprintParams()
C = MatchConfig()
DUR = 40.0


@pytest.fixture(scope="module")
def library() -> tuple[HashIndex, PeakTable, list[str], list[np.ndarray]]:
    notes = [make_notes(seed, DUR) for seed in (11, 12, 13)]
    prints = [fingerprint(render(n, DUR, SR), SR, P) for n in notes]
    hi = HashIndex.build(
        P.n_keys,
        np.concatenate([p.keys for p in prints]),
        np.concatenate([np.full(p.keys.size, i) for i, p in enumerate(prints)]),
        np.concatenate([p.key_times for p in prints]),
    )
    pt = PeakTable.build([(p.peaks.times, p.peaks.bins) for p in prints])
    return hi, pt, ["a", "b", "c"], notes


def _match(lib: tuple[HashIndex, PeakTable, list[str], list[np.ndarray]], x: np.ndarray) -> list:
    hi, pt, ids, _ = lib
    return match_query(prepare_query(x, SR, P, C), hi, pt, ids, P, C)


@settings(max_examples=8, deadline=None)
@given(
    offset=st.floats(2.0, 25.0),
    gain_db=st.floats(-20.0, 6.0),
    speed=st.floats(0.8, 1.25),
    which=st.integers(0, 2),
)
def test_resampled_excerpt_matches_with_offset_and_speed(
    library: tuple[HashIndex, PeakTable, list[str], list[np.ndarray]],
    offset: float,
    gain_db: float,
    speed: float,
    which: int,
) -> None:
    full = render(library[3][which], DUR, SR)
    clip = full[int(offset * SR) : int((offset + 8.0 * speed) * SR)]
    x = soxr.resample(clip, SR * speed, SR).astype(np.float32) * np.float32(10 ** (gain_db / 20))
    matches = _match(library, x)
    assert matches, "no match"
    m = matches[0]
    assert m.sound_id == "abc"[which]
    assert m.offset_seconds == pytest.approx(offset, abs=0.1)
    assert m.speed == pytest.approx(speed, rel=0.02)
    assert m.tempo == pytest.approx(1.0, abs=0.03)
    assert m.score >= C.threshold
    assert 0.0 <= m.query_start_seconds < m.query_end_seconds <= 8.0 + 0.1


@pytest.mark.parametrize(("time_scale", "pitch"), [(1 / 1.12, 1.0), (1 / 0.88, 1.0), (1.0, 2 ** (2.5 / 12))])
def test_tempo_and_pitch_edits_are_recovered(
    library: tuple[HashIndex, PeakTable, list[str], list[np.ndarray]], time_scale: float, pitch: float
) -> None:
    notes = library[3][1].copy()
    sel = (notes[:, 0] > 10.0) & (notes[:, 0] < 20.0)
    part = notes[sel]
    part[:, 0] -= 10.0
    x = render(part, 10.0, SR, time_scale=time_scale, pitch=pitch)
    m = _match(library, x)[0]
    assert m.sound_id == "b"
    assert m.speed == pytest.approx(1 / time_scale, rel=0.02)
    assert m.pitch_semitones == pytest.approx(12 * np.log2(pitch), abs=0.3)
    assert m.offset_seconds == pytest.approx(10.0, abs=0.15)


def test_strangers_noise_and_silence_do_not_match(
    library: tuple[HashIndex, PeakTable, list[str], list[np.ndarray]],
) -> None:
    other = render(make_notes(99, 12.0), 12.0, SR)
    rng = np.random.default_rng(0)
    assert _match(library, other) == []
    assert _match(library, (0.1 * rng.standard_normal(8 * SR)).astype(np.float32)) == []
    assert _match(library, np.zeros(5 * SR, np.float32)) == []


def test_score_is_a_log_probability() -> None:
    # more coincidences -> smaller probability; more trials -> larger
    assert false_match_log10p(40, 5.0, 6.0) < false_match_log10p(20, 5.0, 6.0) < 0
    assert false_match_log10p(30, 5.0, 8.0) > false_match_log10p(30, 5.0, 6.0)
    assert false_match_log10p(0, 5.0, 6.0) == 0.0
    assert false_match_log10p(6, 5.0, 6.0) == 0.0  # chance level: probability capped at 1


def test_hypothesis_grid_covers_the_three_families() -> None:
    s, k = hypothesis_grid(C, P)
    assert np.any((s == 1.0) & (k == 0.0))
    res = k != 0
    assert s[res & (s != 1.0)].min() <= C.speed_range[0] * 1.03
    assert s[res & (s != 1.0)].max() >= C.speed_range[1] / 1.03
    assert np.abs(k[s == 1.0]).max() >= 12 * P.bins_per_octave / 36  # +-4 semitones of pitch shift
    assert s[k == 0].min() <= C.tempo_range[0] * 1.03


def test_bad_config_raises() -> None:
    with pytest.raises(ParameterError, match="speed_range"):
        MatchConfig(speed_range=(1.1, 1.3))
    with pytest.raises(ParameterError, match="top_k"):
        MatchConfig(top_k=0)
