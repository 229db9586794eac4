"""Pure-function tests of the fingerprint on synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from kernels_off import numpy_path
from music import make_notes, render
from reelsense.errors import ParameterError
from reelsense.sounds import _kernels
from reelsense.sounds.discover import ContentParams
from reelsense.sounds.fingerprint import (
    KEY_FRAMES,
    FingerprintParams,
    Peaks,
    fingerprint,
    log_spectrogram,
    peak_pairs,
    peak_triplets,
    peaks_of,
    pick_peaks,
    reference_keys,
    triplet_keys,
)

P = FingerprintParams()
SR = 11025


def _tone(freq: float, seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _bin(freq: float) -> float:
    return P.bins_per_octave * np.log2(freq / P.fmin_hz)


@pytest.mark.parametrize("freq", [300.0, 440.0, 1000.0, 2500.0])
def test_tone_lands_on_its_log_bin(freq: float) -> None:
    spec = log_spectrogram(_tone(freq), SR, P)
    assert spec.shape[1] == P.n_bins
    mid = spec[spec.shape[0] // 2]
    assert abs(int(np.argmax(mid)) - _bin(freq)) <= 1.0
    peaks = peaks_of(_tone(freq), SR, P, 20.0)
    # the steady part (the tone's onset and end spread over every bin); along a steady tone the
    # local maxima in time are ties that rounding breaks, so how many there are is not tested
    steady = (peaks.times > 5) & (peaks.times < spec.shape[0] - 5)
    assert steady.any()
    assert np.abs(peaks.bins[steady] - _bin(freq)).max() < 0.35  # sub-bin interpolation


def test_resampling_shifts_peaks_by_log_ratio() -> None:
    x = _tone(330.0, 4.0) + _tone(1250.0, 4.0)
    speed = 1.2
    y = soxr.resample(x, SR * speed, SR).astype(np.float32)  # played 20 % faster
    a, b = peaks_of(x, SR, P, 20.0), peaks_of(y, SR, P, 20.0)
    for f in (330.0, 1250.0):
        assert np.sum(np.abs(b.bins - _bin(f * speed)) < 0.5) >= 5, f
        assert np.sum(np.abs(b.bins - _bin(f)) < 0.5) == 0, f
        assert np.sum(np.abs(a.bins - _bin(f)) < 0.5) >= 5, f
    assert abs(y.size / SR - 4.0 / speed) < 0.01


def test_clicks_give_peaks_at_click_times() -> None:
    x = np.zeros(3 * SR, dtype=np.float32)
    click_times = [0.5, 1.25, 2.0]
    rng = np.random.default_rng(0)
    for c in click_times:
        i = int(c * SR)
        x[i : i + 64] = rng.standard_normal(64).astype(np.float32)
    peaks = peaks_of(x, SR, P, 30.0)
    got = peaks.times / P.frames_per_second
    for c in click_times:
        assert np.min(np.abs(got - c)) < 0.05


def test_rising_scale_peaks_rise() -> None:
    """A stepped chirp (16 notes a semitone apart): peaks follow the steps."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.25 * SR)) / SR
    steps = [np.sin(2 * np.pi * 300 * 2 ** (i / 12) * t) * np.minimum(1, t / 0.01) for i in range(16)]
    x = (0.5 * np.concatenate(steps) + 1e-3 * rng.standard_normal(16 * t.size)).astype(np.float32)
    peaks = peaks_of(x, SR, P, 8.0)
    step = np.minimum((peaks.times / P.frames_per_second / 0.25).astype(int), 15)
    expected = _bin(300.0) + 3 * step
    assert np.mean(np.abs(peaks.bins - expected) < 1.0) > 0.3  # the rest: noise-floor maxima
    assert len(np.unique(step[np.abs(peaks.bins - expected) < 1.0])) >= 12


def test_tone_in_noise_is_found() -> None:
    rng = np.random.default_rng(1)
    x = _tone(880.0, 3.0) * 0.5 + 0.1 * rng.standard_normal(3 * SR).astype(np.float32)
    peaks = peaks_of(x, SR, P, 10.0)
    counts = np.bincount(np.rint(peaks.bins).astype(int))
    assert abs(int(np.argmax(counts)) - _bin(880.0)) <= 1.0  # the tone's bin holds the most peaks
    assert counts.max() >= 3 * np.sort(counts)[-2]


def test_silence_and_short_inputs_give_no_peaks() -> None:
    assert len(peaks_of(np.zeros(SR, np.float32), SR, P, 20.0)) == 0
    assert len(peaks_of(np.zeros(10, np.float32), SR, P, 20.0)) == 0
    fp = fingerprint(np.zeros(100, np.float32), SR, P)
    assert fp.keys.size == 0 and len(fp.peaks) == 0


def test_input_rate_does_not_matter_much() -> None:
    notes = make_notes(5, 6.0)
    a = peaks_of(render(notes, 6.0, 44100), 44100, P, 18.0)
    b = peaks_of(render(notes, 6.0, 22050), 22050, P, 18.0)
    near = [
        np.any((np.abs(b.times - t) <= 1) & (np.abs(b.bins - f) <= 1))
        for t, f in zip(a.times, a.bins, strict=True)
    ]
    assert np.mean(near) > 0.8


def test_pairs_respect_target_zone_and_fan_out() -> None:
    peaks = peaks_of(render(make_notes(7, 10.0), 10.0, SR), SR, P, 30.0)
    a, t = peak_pairs(peaks, P, 4)
    dt = peaks.times[t] - peaks.times[a]
    df = peaks.bins[t] - peaks.bins[a]
    assert a.size > 0
    assert np.all((dt >= P.pair_min_frames) & (dt <= P.pair_max_frames))
    assert np.all(np.abs(df) <= P.pair_max_bins)
    assert np.bincount(a).max() <= 4


def test_triplets_are_two_targets_of_one_anchor() -> None:
    peaks = peaks_of(render(make_notes(8, 10.0), 10.0, SR), SR, P, 30.0)
    a, b, c = peak_triplets(peaks, P, 4)
    pa, pt = peak_pairs(peaks, P, 4)
    pairs = set(zip(pa.tolist(), pt.tolist(), strict=True))
    assert a.size > 0
    assert all((x, y) in pairs and (x, z) in pairs for x, y, z in zip(a, b, c, strict=True))
    assert np.all(b < c)  # the earlier target first
    assert np.bincount(a).max() <= 6  # C(4, 2)
    assert len(set(zip(a.tolist(), b.tolist(), c.tolist(), strict=True))) == a.size


def _keys(f1: float, df: tuple[float, float], dt: tuple[float, float]) -> tuple[int, bool]:
    k, ok = triplet_keys(
        np.array([f1]), (np.array([df[0]]), np.array([df[1]])), (np.array([dt[0]]), np.array([dt[1]])), P
    )
    return int(k[0]), bool(ok[0])


def test_triplet_keys_range_validity_and_canonical_order() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    f1 = rng.uniform(0, P.n_bins - 1, n)
    d = rng.uniform(-P.pair_max_bins, P.pair_max_bins, (2, n))
    t = rng.uniform(P.pair_min_frames, P.pair_max_frames, (2, n))
    keys, ok = triplet_keys(f1, (d[0], d[1]), (t[0], t[1]), P)
    assert ok.all() and int(keys.max()) < P.n_keys
    swapped, _ = triplet_keys(f1, (d[1], d[0]), (t[1], t[0]), P)
    assert np.array_equal(keys, swapped)  # target order does not matter
    assert len(np.unique(keys)) > 0.99 * n  # ~30 bits: random triplets almost never collide
    assert not _keys(-5.0, (0.0, 1.0), (5.0, 9.0))[1]  # below the band
    assert not _keys(10.0, (0.0, 99.0), (5.0, 9.0))[1]  # frequency difference out of range
    assert not _keys(10.0, (0.0, 1.0), (5.0, KEY_FRAMES + 1.0))[1]  # time difference out of range
    assert _keys(10.0, (3.0, 1.0), (7.0, 9.0))[0] != _keys(10.0, (3.0, 1.0), (8.0, 9.0))[0]


@settings(max_examples=40, deadline=None)
@given(
    f1=st.floats(20.0, 140.0),
    df=st.tuples(st.floats(-25.0, 25.0), st.floats(-25.0, 25.0)),
    dt=st.tuples(st.floats(3.0, 25.0), st.floats(3.0, 25.0)),
    scale=st.floats(0.7, 1.45),
    shift=st.integers(-15, 15),
)
def test_hypothesis_inverts_an_edit(
    f1: float, df: tuple[float, float], dt: tuple[float, float], scale: float, shift: int
) -> None:
    """A reference triplet edited by time scale ``1/scale`` and frequency shift ``-shift`` (what a
    query holds) hashes back to the reference key under the hypothesis (scale, shift): frequency
    differences are invariant, the anchor moves by the shift, time differences by the scale."""
    # a time difference on a rounding tie (x.5) may round the other way once divided and
    # multiplied back by the scale (an ulp apart): the property holds away from the ties
    assume(all(abs(d % 1.0 - 0.5) > 1e-6 for d in dt))
    ref, ok = _keys(f1, df, dt)
    assert ok
    q_anchor, q_dt = f1 - shift, (dt[0] / scale, dt[1] / scale)
    back, ok2 = _keys(q_anchor + shift, df, (q_dt[0] * scale, q_dt[1] * scale))
    assert ok2 and back == ref
    other, _ = _keys(q_anchor + shift + 2.0, df, (q_dt[0] * scale, q_dt[1] * scale))
    assert other != ref  # a wrong shift hypothesis gives another key


def test_reference_keys_match_fingerprint() -> None:
    x = render(make_notes(4, 8.0), 8.0, SR)
    fp = fingerprint(x, SR, P)
    keys, times = reference_keys(fp.peaks, P)
    assert np.array_equal(keys, fp.keys) and np.array_equal(times, fp.key_times)
    fan = P.ref_fan_out
    per_anchor = fan * (fan - 1) // 2
    assert 0.5 * per_anchor * len(fp.peaks) < keys.size <= per_anchor * len(fp.peaks)
    assert times.min() >= 0 and times.max() <= fp.peaks.times.max() + 1


def test_fingerprint_is_deterministic() -> None:
    x = render(make_notes(9, 5.0), 5.0, SR)
    a, b = fingerprint(x, SR, P), fingerprint(x.copy(), SR, P)
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.key_times, b.key_times)
    assert a.duration_seconds == pytest.approx(5.0, abs=0.01)


def test_bad_parameters_raise() -> None:
    with pytest.raises(ParameterError, match="fmax_hz"):
        FingerprintParams(fmax_hz=9000.0)
    with pytest.raises(ParameterError, match="pair_max_frames"):
        FingerprintParams(pair_max_frames=80)
    with pytest.raises(ParameterError, match="peaks_per_second"):
        peaks_of(np.zeros(SR, np.float32), SR, P, 0.0)
    with pytest.raises(ParameterError, match="1-D"):
        log_spectrogram(np.zeros((2, 100), np.float32), SR, P)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    seconds=st.floats(0.19, 7.0),
    rate=st.sampled_from([8000, 11025, 16000, 44100]),
    level=st.sampled_from([1e-4, 0.05, 0.9]),
)
def test_compiled_spectrogram_agrees_with_the_numpy_path(
    seed: int, seconds: float, rate: int, level: float
) -> None:
    # scipy's FFT and this one round differently; cells within 60 dB of their frame's loudest
    # agree to 0.005 dB (a relative power error of about 1e-3 at -60 dB, far less above it)
    rng = np.random.default_rng(seed)
    samples = (level * rng.standard_normal(int(seconds * rate))).astype(np.float32)
    params = FingerprintParams()
    compiled = log_spectrogram(samples, rate, params)
    reference = numpy_path(log_spectrogram, samples, rate, params)
    assert compiled.shape == reference.shape and compiled.dtype == np.float32
    loud = reference >= reference.max(axis=1, keepdims=True) - 60.0
    assert np.abs(compiled - reference)[loud].max() <= 0.005


def _pick_on_both_paths(spec: np.ndarray, peaks_per_second: float) -> Peaks:
    """The compiled peaks of ``spec``, after asserting that the numpy path picks the same."""
    compiled = pick_peaks(spec, P, peaks_per_second)
    reference = numpy_path(pick_peaks, spec, P, peaks_per_second)
    for field in ("times", "bins", "strength"):
        np.testing.assert_array_equal(getattr(compiled, field), getattr(reference, field))
    return compiled


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_frames=st.integers(3, 90),
    n_bins=st.integers(3, 40),
    levels=st.sampled_from([0, 4, 64]),
    peaks_per_second=st.sampled_from([3.0, 48.0, 400.0]),
)
def test_compiled_peak_picking_equals_thenumpy_path(
    seed: int, n_frames: int, n_bins: int, levels: int, peaks_per_second: float
) -> None:
    """The compiled local maxima give the same peaks as the numpy path, ties and plateaus
    (few quantised levels), maps narrower than the neighbourhood and a 60 dB floor included."""
    rng = np.random.default_rng(seed)
    spec = rng.normal(0.0, 20.0, (n_frames, n_bins))
    if levels:
        spec = np.round(spec * levels / 80.0) * (80.0 / levels)
    spec[rng.random(spec.shape) < 0.1] -= 90.0  # cells under the floor
    _pick_on_both_paths(spec.astype(np.float32), peaks_per_second)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    shape=st.tuples(st.integers(1, 80), st.integers(1, 40)),
    size=st.tuples(st.integers(1, 50), st.integers(1, 25)),
    scale=st.sampled_from([1e-3, 20.0, 1e6]),
)
def test_compiled_box_mean_is_scipys_uniform_filter_bit_for_bit(
    seed: int, shape: tuple[int, int], size: tuple[int, int], scale: float
) -> None:
    """The whitening's local mean equals scipy's, odd and even sizes, windows wider than the
    map included (its float32 values decide which cells are peaks)."""
    spec = (np.random.default_rng(seed).normal(0.0, scale, shape) - 40.0).astype(np.float32)
    expected = ndimage.uniform_filter(spec, size=size, mode="nearest")
    np.testing.assert_array_equal(_kernels.box_mean(spec, *size), expected)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_peak_picking_of_a_non_finite_map_equals_thenumpy_path(bad: float) -> None:
    spec = np.random.default_rng(5).normal(0.0, 20.0, (60, 30)).astype(np.float32)
    spec[20, 10] = bad
    _pick_on_both_paths(spec, 48.0)


def test_peak_picking_on_real_spectrograms_matches_both_paths() -> None:
    x = render(make_notes(4, 6.0), 6.0, SR)
    spec = log_spectrogram(x, SR, P)
    assert len(_pick_on_both_paths(spec, P.query_peaks_per_second)) > 50


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(0, 300),
    fan_out=st.integers(2, 8),
    density=st.sampled_from([0.2, 2.0, 20.0]),
    sort_times=st.booleans(),
)
def test_compiled_triplets_equal_thenumpy_path(
    seed: int, n: int, fan_out: int, density: float, sort_times: bool
) -> None:
    """The same triplets in the same order (the query's triplet order depends on it), dense and
    sparse peaks, fan-outs that fill and that do not, and peaks out of time order."""
    rng = np.random.default_rng(seed)
    times = np.round(rng.uniform(0, n / density, n) * 2) / 2  # ties on whole and half frames
    if sort_times:
        times = np.sort(times)
    peaks = Peaks(
        times.astype(np.float32),
        rng.uniform(0, P.n_bins, n).astype(np.float32),
        rng.uniform(3, 30, n).astype(np.float32),
    )
    compiled = peak_triplets(peaks, P, fan_out)
    reference = numpy_path(peak_triplets, peaks, P, fan_out)
    for got, want in zip(compiled, reference, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_triplets_of_fewer_pairs_than_the_fan_out() -> None:
    """Three peaks give at most three pairs: a fan-out of 5 must not ask for pairs 4 apart (the
    numpy path once sliced with a negative stop there and raised)."""
    peaks = Peaks(
        np.array([0.0, 5.0, 10.0], dtype=np.float32),
        np.array([10.0, 12.0, 14.0], dtype=np.float32),
        np.array([5.0, 6.0, 7.0], dtype=np.float32),
    )
    for fan_out in (2, 5, 8):
        reference = numpy_path(peak_triplets, peaks, P, fan_out)
        assert [x.tolist() for x in reference] == [[0], [1], [2]]
        for got, want in zip(peak_triplets(peaks, P, fan_out), reference, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
def test_equally_prominent_peaks_of_a_block_keep_the_lower_bins() -> None:
    """Nine spikes of one height in one frame, each alone in its whitening window (so equally
    prominent), three allowed per block: both paths keep the first three in row-major order."""
    spec = np.full((200, P.n_bins), -50.0, dtype=np.float32)
    spec[100, 10:180:20] = -20.0
    peaks = _pick_on_both_paths(spec, 3.0)
    assert peaks.bins.tolist() == [10.0, 30.0, 50.0]
    assert peaks.times.tolist() == [100.0] * 3


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(np.float32, st.integers(0, 40), elements=st.integers(-5, 5).map(float)),
    v=st.sampled_from([-np.inf, -5.5, -1.0, 0.0, 2.0, 2.5, 5.0, np.inf]),
)
def test_compiled_search_sorted_is_numpys(values: np.ndarray, v: float) -> None:
    """The written-out binary search gives ``np.searchsorted``'s left and right ends, repeated
    values and values outside the array included."""
    values = np.sort(values)
    for right, side in ((False, "left"), (True, "right")):
        assert _kernels._search_sorted(values, v, right) == np.searchsorted(values, v, side=side)


@pytest.mark.parametrize(
    ("rate", "match"),
    [
        (float("nan"), "sample_rate=nan must be an integer number of Hz"),  # hung in soxr
        (float("inf"), "sample_rate=inf"),
        (22050.0, "sample_rate=22050.0"),
        (1, "sample_rate=1 must be in 8000..384000 Hz"),
        (400_000, "sample_rate=400000 must be in 8000..384000 Hz"),
    ],
)
def test_fingerprint_refuses_a_bad_rate(rate: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        fingerprint(np.zeros(SR, np.float32), rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        (np.where(np.arange(4 * SR) == 100, np.nan, 0.1).astype(np.float32), "1 NaN/inf values"),
        (np.full(4 * SR, np.inf, np.float32), f"{4 * SR} NaN/inf values"),
        (np.zeros(4 * SR, np.complex64), "floating point"),  # only warned, then fingerprinted the real part
        (np.zeros((2, SR), np.float32), "mono"),
    ],
)
def test_fingerprint_refuses_samples_it_cannot_fingerprint(samples: np.ndarray, match: str) -> None:
    # one NaN sample gave a fingerprint of 0 peaks, silently
    with pytest.raises(ParameterError, match=match):
        fingerprint(samples, SR)


def test_fingerprint_takes_a_numpy_integer_rate() -> None:
    x = render(make_notes(3, 4.0), 4.0, SR)
    assert fingerprint(x, np.int64(SR)).duration_seconds == fingerprint(x, SR).duration_seconds == 4.0


@pytest.mark.parametrize("rate", [4000, 7999, 11025.0, 400_000])
def test_fingerprint_and_content_params_take_the_shared_sample_rates(rate: object) -> None:
    """The fingerprint's and discovery's own rates follow the rule every public rate does
    (integers 8000..384000 Hz): a 4-8 kHz ContentParams was accepted, then refused by the
    fingerprinting it feeds with a message about a rate the caller never passed."""
    for params, name in ((FingerprintParams, "FingerprintParams"), (ContentParams, "ContentParams")):
        with pytest.raises(ParameterError, match=rf"{name}\.sample_rate={rate!r}"):
            params(sample_rate=rate)  # type: ignore[arg-type]
    assert FingerprintParams(sample_rate=16000).sample_rate == 16000
    assert ContentParams(sample_rate=16000).sample_rate == 16000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bins_per_octave": 0}, "bins_per_octave=0 must be >= 1"),
        ({"peak_radius_frames": -1}, "peak_radius_frames=-1 must be >= 1"),
        ({"whiten_frames": 0}, "whiten_frames=0 must be >= 1"),
        ({"n_fft": 2048.5}, "n_fft=2048.5 must be an integer"),
        ({"hash_band_bins": 0.0}, "hash_band_bins=0.0 must be > 0"),
        ({"min_prominence_db": float("nan")}, "min_prominence_db=nan must be a finite number"),
        ({"min_prominence_db": -1.0}, "min_prominence_db=-1.0 must be >= 0"),
        ({"ref_peaks_per_second": float("inf")}, "ref_peaks_per_second=inf must be a finite number"),
    ],
)
def test_parameters_that_gave_no_peaks_or_a_raw_error_are_refused(
    kwargs: dict[str, object], match: str
) -> None:
    """Each gave an index without peaks ("too quiet or too short" for every sound) or a
    ZeroDivisionError / TypeError later; now the parameter is named at once."""
    with pytest.raises(ParameterError, match=match):
        FingerprintParams(**kwargs)  # type: ignore[arg-type]
