"""Audio descriptors on synthetic signals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.audio.descriptors import (
    AudioDescriptors,
    compute_audio_descriptors,
    estimate_tempo,
    integrated_loudness,
    k_weighting_sos,
)
from reelsense.errors import ParameterError

# BS.1770-4, table 1 and 2: K-weighting coefficients at 48 kHz (b0 b1 b2 / a1 a2)
BS1770_SHELF_48K = [
    1.53512485958697,
    -2.69169618940638,
    1.19839281085285,
    -1.69065929318241,
    0.73248077421585,
]
BS1770_HIGHPASS_48K = [1.0, -2.0, 1.0, -1.99004745483398, 0.99007225036621]


def sine(freq_hz: float, amplitude: float, seconds: float, sample_rate: int) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def click_track(bpm: float, seconds: float, sample_rate: int, *, seed: int = 0) -> np.ndarray:
    """Short decaying noise bursts every beat (a metronome)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * sample_rate), dtype=np.float32)
    burst = round(0.01 * sample_rate)
    env = np.exp(-np.arange(burst) / (0.002 * sample_rate))
    for beat in np.arange(0.0, seconds, 60.0 / bpm):
        i = round(beat * sample_rate)
        n = min(burst, out.shape[0] - i)
        out[i : i + n] += (0.5 * env[:n] * rng.uniform(-1, 1, n)).astype(np.float32)
    return out


def test_k_weighting_matches_standard_at_48k() -> None:
    sos = k_weighting_sos(48000)
    shelf = [*sos[0, :3], *sos[0, 4:]]
    highpass = [*sos[1, :3], *sos[1, 4:]]
    np.testing.assert_allclose(shelf, BS1770_SHELF_48K, atol=1e-8)
    np.testing.assert_allclose(highpass, BS1770_HIGHPASS_48K, atol=1e-8)
    assert np.all(sos[:, 3] == 1.0)


@pytest.mark.parametrize("sample_rate", [1000, 3000, 3363])
def test_k_weighting_refuses_a_rate_whose_nyquist_is_below_its_shelf(sample_rate: int) -> None:
    with pytest.raises(ParameterError, match=f"sample_rate={sample_rate}"):
        k_weighting_sos(sample_rate)
    with pytest.raises(ParameterError, match=f"sample_rate={sample_rate}"):
        compute_audio_descriptors(np.ones(sample_rate, dtype=np.float32) * 0.1, sample_rate)


def test_loudness_at_8k_is_finite() -> None:
    x = sine(1000.0, 0.1, 5.0, 8000)
    loudness = integrated_loudness(x, 8000)
    assert loudness is not None and -40.0 < loudness < 0.0


@pytest.mark.parametrize("sample_rate", [16000, 22050, 44100, 48000])
def test_sine_minus_20_dbfs_loudness(sample_rate: int) -> None:
    """BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS, so -20 dBFS reads -23.01."""
    expected = -3.01 - 20.0
    lufs = integrated_loudness(sine(997.0, 0.1, 5.0, sample_rate), sample_rate)
    assert lufs is not None
    assert abs(lufs - expected) < 0.5
    d = compute_audio_descriptors(sine(1000.0, 0.1, 5.0, sample_rate), sample_rate)
    assert d.loudness_lufs is not None and abs(d.loudness_lufs - expected) < 0.5
    assert d.rms_dbfs == pytest.approx(-20.0 - 10 * math.log10(2), abs=0.01)
    assert d.sample_peak_dbfs == pytest.approx(-20.0, abs=0.01)


def test_loudness_gating() -> None:
    sr = 22050
    loud = sine(1000.0, 0.1, 8.0, sr)
    # absolute gate: silence does not pull the loudness down
    with_silence = np.concatenate([loud, np.zeros(8 * sr, np.float32)])
    # relative gate: a part 20 dB quieter (-43 LUFS) is below (loudness - 10 LU) and is dropped
    with_quiet = np.concatenate([loud, sine(1000.0, 0.01, 8.0, sr)])
    ref = integrated_loudness(loud, sr)
    assert ref is not None
    for signal in (with_silence, with_quiet):
        value = integrated_loudness(signal, sr)
        assert value is not None and value == pytest.approx(ref, abs=0.1)
    # a part only 10 dB quieter is above the relative gate, so it counts: power mean of 1 and 0.1
    with_softer = np.concatenate([loud, sine(1000.0, 0.1 * 10 ** (-10 / 20), 8.0, sr)])
    value = integrated_loudness(with_softer, sr)
    assert value is not None and value == pytest.approx(ref + 10 * math.log10(1.1 / 2), abs=0.1)


@settings(max_examples=40, deadline=None)
@given(
    level=st.floats(-1.0, 1.0).filter(lambda v: abs(v) > 1e-6),
    swing=st.floats(0.0, 0.5),
    sample_rate=st.sampled_from([8000, 22050, 48000]),
)
def test_dc_and_near_dc_measure_as_silence(level: float, swing: float, sample_rate: int) -> None:
    """K-weighting's high-pass takes out DC: a constant, or one drifting at 0.2 Hz, is below the
    -70 LUFS gate (it read about -32 LUFS: the filter started from rest, and the step from rest to
    the first sample rang through the first blocks)."""
    t = np.arange(3 * sample_rate) / sample_rate
    x = np.clip(level + swing * np.sin(2 * np.pi * 0.2 * t), -1.0, 1.0).astype(np.float32)
    assert integrated_loudness(x, sample_rate) is None


@pytest.mark.parametrize("offset", [0.3, -0.5])
def test_a_dc_offset_does_not_change_loudness(offset: float) -> None:
    sr = 22050
    tone = sine(1000.0, 0.1, 2.0, sr)
    ref = integrated_loudness(tone, sr)
    value = integrated_loudness(tone + np.float32(offset), sr)
    assert ref is not None and value == pytest.approx(ref, abs=1e-3)


@pytest.mark.parametrize("bpm", [90.0, 120.0, 140.0])
def test_click_track_tempo(bpm: float) -> None:
    sr = 22050
    tempo, confidence = estimate_tempo(click_track(bpm, 12.0, sr), sr)
    assert tempo is not None
    assert tempo == pytest.approx(bpm, rel=0.02)
    assert confidence > 0.5
    d = compute_audio_descriptors(click_track(bpm, 12.0, sr), sr)
    assert d.tempo_bpm == pytest.approx(tempo)
    assert d.onset_rate_hz == pytest.approx(bpm / 60.0, rel=0.1)


def test_tempo_confidence_low_for_noise() -> None:
    sr = 22050
    noise = np.random.default_rng(1).uniform(-0.3, 0.3, 10 * sr).astype(np.float32)
    _, noise_conf = estimate_tempo(noise, sr)
    _, click_conf = estimate_tempo(click_track(120.0, 10.0, sr), sr)
    assert noise_conf < 0.3 < click_conf


@pytest.mark.parametrize(("freq", "sample_rate"), [(440.0, 22050), (1000.0, 22050), (3000.0, 44100)])
def test_pure_tone_spectral_shape(freq: float, sample_rate: int) -> None:
    d = compute_audio_descriptors(sine(freq, 0.5, 3.0, sample_rate), sample_rate)
    assert d.spectral_centroid_hz == pytest.approx(freq, rel=0.03)
    assert d.spectral_rolloff_hz == pytest.approx(freq, rel=0.05)
    assert d.spectral_bandwidth_hz is not None and d.spectral_bandwidth_hz < 0.1 * freq
    assert d.spectral_flatness is not None and d.spectral_flatness < 0.01
    # a sine crosses zero twice per period
    assert d.zero_crossing_rate == pytest.approx(2 * freq / sample_rate, rel=0.01)


def test_white_noise_shape() -> None:
    sr = 22050
    d = compute_audio_descriptors(np.random.default_rng(2).uniform(-0.3, 0.3, 5 * sr).astype(np.float32), sr)
    assert d.spectral_centroid_hz == pytest.approx(sr / 4, rel=0.05)
    # geometric/arithmetic mean of exponential-distributed power: exp(-Euler's gamma) ~ 0.56
    assert d.spectral_flatness == pytest.approx(math.exp(-0.5772), abs=0.05)
    assert d.zero_crossing_rate == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 44100, 96000])
@pytest.mark.parametrize("seconds", [0.1, 0.5, 3.0])
def test_flatness_of_clicks_stays_at_most_one(sample_rate: int, seconds: float) -> None:
    """An impulse's spectrum is perfectly flat: float32 rounding read 1.0000006, over the range."""
    x = np.zeros(int(sample_rate * seconds), dtype=np.float32)
    x[:: sample_rate // 2] = 1.0
    d = compute_audio_descriptors(x, sample_rate)
    assert d.spectral_flatness is not None and 0.999 < d.spectral_flatness <= 1.0


@pytest.mark.parametrize("n", [0, 1, 100, 22050 * 3])
def test_silence_is_none_not_nan(n: int) -> None:
    d = compute_audio_descriptors(np.zeros(n, np.float32), 22050)
    assert d == AudioDescriptors(
        duration_seconds=n / 22050,
        loudness_lufs=None,
        rms_dbfs=None,
        sample_peak_dbfs=None,
        tempo_bpm=None,
        tempo_confidence=0.0,
        onset_rate_hz=0.0,
        spectral_centroid_hz=None,
        spectral_bandwidth_hz=None,
        spectral_rolloff_hz=None,
        spectral_flatness=None,
        zero_crossing_rate=0.0,
    )


def test_short_audio_has_no_loudness_or_tempo() -> None:
    sr = 22050
    d = compute_audio_descriptors(sine(440.0, 0.5, 0.3, sr), sr)
    assert d.loudness_lufs is None and d.tempo_bpm is None
    assert d.rms_dbfs is not None and d.spectral_centroid_hz == pytest.approx(440.0, rel=0.05)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.floats(min_value=0.5, max_value=4.0),
    st.sampled_from([8000, 16000, 22050, 44100]),
    st.floats(min_value=-30.0, max_value=0.0),
)
def test_descriptors_finite_and_gain_consistent(seed: int, seconds: float, sr: int, gain_db: float) -> None:
    """Any signal: no NaN/inf; a gain of g dB moves every level by g dB and nothing else."""
    x = np.random.default_rng(seed).standard_normal(round(seconds * sr)).astype(np.float32) * 0.1
    a = compute_audio_descriptors(x, sr)
    b = compute_audio_descriptors((x * 10 ** (gain_db / 20)).astype(np.float32), sr)
    for value in vars(a).values():
        assert value is None or math.isfinite(value)
    assert a.rms_dbfs is not None and b.rms_dbfs is not None
    assert b.rms_dbfs - a.rms_dbfs == pytest.approx(gain_db, abs=0.01)
    if a.loudness_lufs is not None:
        assert b.loudness_lufs is not None
        assert b.loudness_lufs - a.loudness_lufs == pytest.approx(gain_db, abs=0.05)
    assert b.spectral_centroid_hz == pytest.approx(a.spectral_centroid_hz, rel=1e-3)
    assert b.zero_crossing_rate == a.zero_crossing_rate


@pytest.mark.parametrize(
    ("samples", "sample_rate", "match"),
    [
        (np.zeros((2, 100), np.float32), 22050, "mono"),
        (np.zeros(100, np.int16), 22050, "floating"),
        (np.array([0.0, np.nan], np.float32), 22050, "NaN"),
        (np.zeros(100, np.float32), 0, "sample_rate"),
    ],
)
def test_bad_input(samples: np.ndarray, sample_rate: int, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        compute_audio_descriptors(samples, sample_rate)


@pytest.mark.parametrize("rate", [7999, 384001, np.float64(22050), float("inf")])
def test_the_accepted_range_of_rates(rate: object) -> None:
    with pytest.raises(ParameterError, match="sample_rate="):
        compute_audio_descriptors(np.zeros(22050, np.float32), rate)  # type: ignore[arg-type]
    assert compute_audio_descriptors(np.full(8000, 0.1, np.float32), np.int64(8000)).duration_seconds == 1.0


def test_integer_pcm_handed_over_as_floats_is_refused() -> None:
    """16-bit samples converted to floats without scaling measured +76 LUFS; a float signal a
    little over full scale (a decoder's overshoot) is measured as it is."""
    from reelsense.audio.descriptors import compute_audio_descriptors, integrated_loudness

    rate = 22050
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    for measure in (compute_audio_descriptors, integrated_loudness):
        with pytest.raises(ParameterError, match=r"samples peak at 16383.*divide integer PCM"):
            measure(x * 32767, rate)
    assert compute_audio_descriptors(x * 2.2, rate).sample_peak_dbfs == pytest.approx(
        20 * np.log10(1.1), abs=1e-3
    )


def test_a_signal_without_a_pulse_has_no_tempo() -> None:
    """A DC offset's one onset (its step at the start) gave 344.5 bpm, the top of the range,
    at confidence 0; silence already gave None."""
    from reelsense.audio.descriptors import estimate_tempo

    rate = 22050
    assert estimate_tempo(np.full(10 * rate, 0.5, np.float32), rate) == (None, 0.0)
    clicks = np.zeros(10 * rate, np.float32)
    clicks[:: rate // 2] = 0.9  # 120 bpm
    tempo, confidence = estimate_tempo(clicks, rate)
    assert tempo is not None and abs(tempo - 120.0) < 2.0 and confidence > 0.5
