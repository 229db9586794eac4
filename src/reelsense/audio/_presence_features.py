"""Frame features behind :func:`reelsense.audio.analyse_presence` (16 kHz, 32 ms frames).

Every feature lives on the Silero VAD grid: frame ``i`` covers samples ``512 i .. 512 i +
511`` of the 16 kHz signal (32 ms), so speech probabilities and music evidence line up
frame for frame.

- **Level**: RMS of each frame in dBFS.
- **Tonal tracks**: a 128 ms Hann STFT (2048 points, hop 512) centred on each frame, in dB,
  100 Hz - 5 kHz. A *peak* is a local maximum over +-2 bins (+-16 Hz) that stands at least
  6 dB above the spectrum smoothed over 25 bins (~200 Hz) and within 50 dB of the frame's
  strongest bin. A peak belongs to a *track* of length ``L`` when peaks sit at the same
  frequency (+-1 bin) in ``L`` consecutive frames. Sustained pitches make long tracks:
  notes, chords and pads hold a frequency for hundreds of milliseconds, while speech
  harmonics glide with the intonation and break at every syllable, and noise makes no
  stable peaks. ``tracks_short`` counts peaks on tracks of >= 7 frames (224 ms) per frame,
  ``tracks_long`` on tracks of >= 11 frames (352 ms); ``track_births`` counts tracks of >= 7
  frames starting in the frame (new notes: what tells music from a steady hum).
- **Fallback speech evidence** (used without Silero), from a 64 ms STFT on the same grid:
  ``low_energy`` -- share of the surrounding 1 s whose 300-3400 Hz energy is below half its
  mean (syllable gaps: high for speech, low for sustained music); ``flux_spread`` -- spread
  across 6 bands (300 Hz-6 kHz) of the frame-to-frame dB change, over 1 s (syllables
  change the spectral envelope unevenly across bands, notes and beats move bands together;
  the band below 300 Hz, where kicks and bass lines live, is left out, and band energies
  are floored 40 dB under the clip's mean band energy so empty bands do not count);
  ``syllabic`` -- share of the speech-band envelope's 1-16 Hz modulation energy in 2-8 Hz
  over 1 s (the 4 Hz syllable rhythm); ``unstable_peaks`` -- spectral peaks in 100-4000 Hz
  that are *not* on a 224 ms track, over 0.5 s (voiced harmonics that glide).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy.ndimage import uniform_filter1d

from reelsense._windows import window_all, window_extreme

__all__ = ["FRAME_SAMPLES", "FRAME_SECONDS", "RATE", "PresenceFrames", "presence_frames", "window_mean"]

RATE = 16000
FRAME_SAMPLES = 512
FRAME_SECONDS = FRAME_SAMPLES / RATE
_N_FFT = 2048
_FMIN_HZ, _FMAX_HZ = 100.0, 5000.0
_PEAK_HALF_WIDTH = 2
_SMOOTH_BINS = 25
_PROMINENCE_DB = 6.0
_RANGE_DB = 50.0
_SHORT_TRACK = 7
_VOICED_MAX_HZ = 4000.0
_SPEECH_BAND_HZ = (300.0, 3400.0)
_BAND_EDGES_HZ = (300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0, 6000.0)
_CHUNK = 2048  # frames per FFT chunk: bounds memory on long inputs


@dataclass(frozen=True)
class PresenceFrames:
    """Per-frame features, each float64 ``[n_frames]`` (32 ms frames at 16 kHz; module docstring).

    Attributes:
        level_db: frame RMS, dBFS (-120 for digital silence).
        tracks: peaks on tonal tracks of >= 224 ms in the frame.
        track_births: such tracks starting in the frame.
        low_energy, flux_spread, syllabic, unstable_peaks: fallback speech evidence.
    """

    level_db: np.ndarray
    tracks: np.ndarray
    track_births: np.ndarray
    low_energy: np.ndarray
    flux_spread: np.ndarray
    syllabic: np.ndarray
    unstable_peaks: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.level_db.shape[0])


def window_mean(values: np.ndarray, seconds: float) -> np.ndarray:
    """Centred moving average of ``values [T]`` over ``seconds`` (odd frame count, edges
    repeated), float64."""
    size = max(1, round(seconds / FRAME_SECONDS)) | 1
    return np.asarray(uniform_filter1d(np.asarray(values, dtype=np.float64), size, mode="nearest"))


def _framed_power(x: np.ndarray, n_frames: int, n_fft: int, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Power spectra ``[n_frames, bins lo..hi]`` of Hann windows of ``n_fft`` centred on each frame."""
    left = n_fft // 2 - FRAME_SAMPLES // 2
    padded = np.zeros((n_frames - 1) * FRAME_SAMPLES + n_fft, dtype=np.float32)
    take = min(x.shape[0], padded.shape[0] - left)
    padded[left : left + take] = x[:take]
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::FRAME_SAMPLES][:n_frames]
    window = np.hanning(n_fft).astype(np.float32)
    lo, hi = round(lo_hz * n_fft / RATE), round(hi_hz * n_fft / RATE)
    out = np.empty((n_frames, hi - lo), dtype=np.float32)
    for start in range(0, n_frames, _CHUNK):
        spectrum = scipy.fft.rfft(frames[start : start + _CHUNK] * window, axis=1)[:, lo:hi]
        out[start : start + _CHUNK] = spectrum.real**2 + spectrum.imag**2
    return out


def _tracks(peaks: np.ndarray, length: int) -> np.ndarray:
    """Peaks ``[F, T]`` lying on a run of ``length`` frames at the same bin (+-1)."""
    tolerant = window_extreme(peaks, 3, 0, largest=True)
    runs = window_all(tolerant, length, 1)
    # the run test marks the run's centre frames; spread back over the whole run
    return np.asarray(window_extreme(runs, length, 1, largest=True) & peaks)


def _tonal(x: np.ndarray, n_frames: int, level_db: np.ndarray) -> tuple[np.ndarray, ...]:
    """Tracks, track births and unstable voiced peaks per frame."""
    spec = 10.0 * np.log10(_framed_power(x, n_frames, _N_FFT, _FMIN_HZ, _FMAX_HZ).T + np.float32(1e-12))
    smooth = uniform_filter1d(spec, _SMOOTH_BINS, axis=0, mode="nearest")
    local_max = window_extreme(spec, 2 * _PEAK_HALF_WIDTH + 1, 0, largest=True)
    peaks = (spec >= local_max) & (spec - smooth > _PROMINENCE_DB)
    peaks &= spec > spec.max(axis=0, keepdims=True) - _RANGE_DB
    peaks &= (level_db > -90.0)[None, :]
    tracks = _tracks(peaks, _SHORT_TRACK)
    previous = np.zeros_like(tracks)
    previous[:, 1:] = window_extreme(tracks, 3, 0, largest=True)[:, :-1]
    births = (tracks & ~previous).sum(axis=0)
    births[0] = 0  # tracks sounding when the clip starts began before it
    voiced = round((_VOICED_MAX_HZ - _FMIN_HZ) * _N_FFT / RATE)
    unstable = (peaks[:voiced] & ~tracks[:voiced]).sum(axis=0)
    return tracks.sum(axis=0).astype(np.float64), births.astype(np.float64), unstable.astype(np.float64)


def _modulation(x: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``low_energy``, ``flux_spread`` and ``syllabic`` per frame (module docstring)."""
    n_fft = 2 * FRAME_SAMPLES
    power = _framed_power(x, n_frames, n_fft, 0.0, RATE / 2).astype(np.float64)
    hz = np.arange(power.shape[1]) * RATE / n_fft
    edges = np.searchsorted(hz, _BAND_EDGES_HZ)
    bands = np.add.reduceat(power, edges[:-1], axis=1)[:, : len(_BAND_EDGES_HZ) - 1]
    # floor 40 dB under the clip's mean band energy: an empty band (band-limited audio, pure
    # tones) must not turn rounding noise into large dB changes
    bands = bands + 1e-4 * float(bands.mean()) + 1e-12
    speech = power[:, (hz >= _SPEECH_BAND_HZ[0]) & (hz < _SPEECH_BAND_HZ[1])].sum(axis=1) + 1e-10
    second = round(1.0 / FRAME_SECONDS) | 1
    low_energy = uniform_filter1d(
        (speech < 0.5 * uniform_filter1d(speech, second, mode="nearest")).astype(np.float64),
        second,
        mode="nearest",
    )
    band_db = 10.0 * np.log10(bands)
    change = np.diff(band_db, axis=0, prepend=band_db[:1])
    flux_spread = uniform_filter1d(change.std(axis=1), second, mode="nearest")
    return low_energy, flux_spread, _syllabic_share(np.log10(speech), second)


def _syllabic_share(envelope: np.ndarray, width: int) -> np.ndarray:
    """2-8 Hz share of the 1-16 Hz modulation energy of ``envelope`` over ``width`` frames."""
    n = envelope.shape[0]
    if n < 8:
        return np.zeros(n)
    padded = np.pad(envelope, (width // 2, width - width // 2 - 1), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)[:n]
    windows = windows - windows.mean(axis=1, keepdims=True)
    modulation = np.abs(np.fft.rfft(windows * np.hanning(width), axis=1)) ** 2
    mod_hz = np.fft.rfftfreq(width, FRAME_SECONDS)
    total = modulation[:, (mod_hz >= 1.0) & (mod_hz <= 16.0)].sum(axis=1)
    syllabic = modulation[:, (mod_hz >= 2.0) & (mod_hz <= 8.0)].sum(axis=1)
    return np.where(total > 1e-9, syllabic / np.maximum(total, 1e-12), 0.0)


def presence_frames(x: np.ndarray) -> PresenceFrames:
    """Frame features (module docstring) of mono 16 kHz float32 ``x [n]``: ``ceil(n / 512)`` frames."""
    n_frames = max(1, -(-x.shape[0] // FRAME_SAMPLES))
    padded = np.zeros(n_frames * FRAME_SAMPLES, dtype=np.float32)
    padded[: x.shape[0]] = x
    mean_square = np.mean(np.square(padded.reshape(n_frames, FRAME_SAMPLES), dtype=np.float64), axis=1)
    level = 10.0 * np.log10(np.maximum(mean_square, 1e-12))
    tracks, births, unstable = _tonal(x, n_frames, level)
    low_energy, flux_spread, syllabic = _modulation(x, n_frames)
    return PresenceFrames(
        level_db=level,
        tracks=tracks,
        track_births=births,
        low_energy=low_energy,
        flux_spread=flux_spread,
        syllabic=syllabic,
        unstable_peaks=window_mean(unstable, 0.5),
    )
