"""The compiled short-time spectrum (``reelsense.sounds._stft``) against float64 numpy FFTs and
against the numpy path of :func:`log_spectrogram`."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kernels_off import numpy_path
from reelsense.errors import ParameterError
from reelsense.sounds import _kernels, _stft
from reelsense.sounds.fingerprint import FingerprintParams, log_spectrogram

pytestmark = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")


def _identity_bands(n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A filterbank in CSC form whose band ``j`` is FFT bin ``j`` alone (weight 1)."""
    return (
        np.arange(n_bins + 1, dtype=np.int64),
        np.arange(n_bins, dtype=np.int64),
        np.ones(n_bins, dtype=np.float32),
    )


def _power_spectra(x: np.ndarray, n_fft: int, hop: int, lead: int, n_frames: int) -> np.ndarray:
    """``|rfft(frame * window)|^2`` of every frame in float64, frames read from ``x`` padded with
    zeros (``lead`` before it), the window a periodic Hann."""
    window = np.hanning(n_fft + 1)[:-1]
    padded = np.concatenate([np.zeros(lead), x.astype(np.float64), np.zeros(n_fft + n_frames * hop)])
    frames = np.stack([padded[f * hop : f * hop + n_fft] for f in range(n_frames)])
    return np.abs(np.fft.rfft(frames * window, axis=1)) ** 2


def _compiled_power(x: np.ndarray, n_fft: int, hop: int, lead: int, n_frames: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    out = np.full((n_frames, n_fft // 2 + 1), np.nan, dtype=np.float32)
    plan = _stft.fft_plan(n_fft)
    _stft.stft_band_powers(x, lead, hop, window, *plan, *_identity_bands(n_fft // 2 + 1), out)
    return out


@pytest.mark.parametrize("n_fft", [8, 16, 32, 64, 256, 2048, 4096])
def test_power_spectrum_equals_float64_fft(n_fft: int) -> None:
    # radix-4 passes only (n_fft / 2 an even power of two), a radix-2 pass first (odd), and the
    # constant-stride transform of 2048; 37 frames: two full batches of 16 lanes and a partial one
    rng = np.random.default_rng(n_fft)
    hop = max(1, n_fft // 4)
    n_frames = 37
    x = rng.standard_normal(n_frames * hop).astype(np.float32)
    got = _compiled_power(x, n_fft, hop, n_fft // 2, n_frames)
    want = _power_spectra(x, n_fft, hop, n_fft // 2, n_frames)
    scale = want.max(axis=1, keepdims=True)  # float32 rounding is relative to the frame's energy
    np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=2e-6)


def test_frames_past_the_signal_read_zeros() -> None:
    # frames that start before the signal, end after it, or lie wholly outside it
    rng = np.random.default_rng(3)
    n_fft, hop = 64, 16
    x = rng.standard_normal(100).astype(np.float32)
    lead = 200  # the first frames lie wholly before the signal
    n_frames = 30
    got = _compiled_power(x, n_fft, hop, lead, n_frames)
    want = _power_spectra(x, n_fft, hop, lead, n_frames)
    assert not np.isnan(got).any()
    assert np.all(got[: (lead - n_fft) // hop + 1] == 0.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * want.max())


def test_band_sums_follow_the_filterbank() -> None:
    # two overlapping bands over a few bins: the weighted sums of the bins' powers
    rng = np.random.default_rng(5)
    n_fft, hop, n_frames = 32, 8, 20
    x = rng.standard_normal(n_frames * hop).astype(np.float32)
    starts = np.array([0, 3, 6], dtype=np.int64)
    rows = np.array([2, 3, 4, 4, 5, 6], dtype=np.int64)
    weights = np.array([0.5, 1.0, 0.25, 0.75, 1.0, 0.5], dtype=np.float32)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    out = np.empty((n_frames, 2), dtype=np.float32)
    _stft.stft_band_powers(x, 16, hop, window, *_stft.fft_plan(n_fft), starts, rows, weights, out)
    power = _power_spectra(x, n_fft, hop, 16, n_frames)
    want = np.stack([power[:, rows[a:b]] @ weights[a:b] for a, b in itertools.pairwise(starts)], 1)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6 * want.max())


def test_supported_sizes() -> None:
    assert [n for n in range(1, 5000) if _stft.supported(n)] == [
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        1024,
        2048,
        4096,
    ]
    with pytest.raises(ParameterError, match="n_fft=1000"):
        _stft.fft_plan(1000)
    passes, twiddles, split_cos, split_sin = _stft.fft_plan(2048)
    assert passes[:, 0].tolist() == [4] * 5 and passes[:, 2].tolist() == [1, 4, 16, 64, 256]
    assert _stft.fft_plan(4096)[0][:, 0].tolist() == [2] + [4] * 5
    assert split_cos.shape == split_sin.shape == (1025,) and not twiddles.flags.writeable


def test_other_sizes_take_the_numpy_path() -> None:
    # a size the compiled FFT does not handle: the same values as with the kernels off
    params = FingerprintParams(n_fft=1536, hop_length=256)
    x = np.random.default_rng(2).standard_normal(11025).astype(np.float32)
    np.testing.assert_array_equal(
        log_spectrogram(x, 11025, params), numpy_path(log_spectrogram, x, 11025, params)
    )
