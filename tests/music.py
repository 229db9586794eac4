"""Deterministic synthetic "music" for fingerprint tests: notes with harmonics and clicks.

A piece is a list of notes; :func:`render` plays it at any time scale and pitch factor
exactly (a resampled edit is ``render(notes, 1/speed, speed)``; a tempo-only edit is
``render(notes, 1/tempo, 1.0)``; a pitch-only edit ``render(notes, 1.0, 2**(p/12))``).
"""

from __future__ import annotations

import numpy as np


def make_notes(seed: int, duration_seconds: float, notes_per_second: float = 6.0) -> np.ndarray:
    """``[n, 4]`` float64 rows (onset s, length s, frequency Hz, amplitude)."""
    rng = np.random.default_rng(seed)
    n = int(duration_seconds * notes_per_second)
    onsets = np.sort(rng.uniform(0, duration_seconds - 0.5, n))
    lengths = rng.uniform(0.08, 0.5, n)
    freqs = 220.0 * 2.0 ** (rng.integers(-6, 30, n) / 12.0)
    amps = rng.uniform(0.2, 1.0, n)
    return np.stack([onsets, lengths, freqs, amps], axis=1)


def render(
    notes: np.ndarray,
    duration_seconds: float,
    sample_rate: int = 22050,
    time_scale: float = 1.0,
    pitch: float = 1.0,
) -> np.ndarray:
    """Float32 mono signal; times multiplied by ``time_scale``, frequencies by ``pitch``."""
    n = int(duration_seconds * time_scale * sample_rate)
    out = np.zeros(n, dtype=np.float64)
    for onset, length, freq, amp in notes:
        s0 = int(onset * time_scale * sample_rate)
        m = int(length * time_scale * sample_rate)
        if s0 >= n:
            continue
        m = min(m, n - s0)
        t = np.arange(m) / sample_rate
        env = np.minimum(1.0, t / 0.01) * np.exp(-t / (0.6 * length * time_scale))
        f = freq * pitch
        tone = sum(np.sin(2 * np.pi * h * f * t) / h for h in (1, 2, 3) if h * f < sample_rate / 2)
        out[s0 : s0 + m] += amp * env * tone
        out[s0 : s0 + min(m, 40)] += amp * 0.5  # a click at each onset
    return (0.3 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def speech_like(seconds: float, sample_rate: int = 22050) -> np.ndarray:
    """A gliding harmonic voice, syllables at 4 Hz: no sustained notes (not music)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(140 + 40 * np.sin(2 * np.pi * 1.3 * t)) / sample_rate
    env = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None)
    return (0.2 * env * sum(np.sin(h * phase) / h for h in range(1, 12))).astype(np.float32)


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(v, dtype=np.float64)))) + 1e-12


def room_voice_noise(
    x: np.ndarray, seed: int, voice_db: float = 0.0, noise_db: float = 0.0, sample_rate: int = 11025
) -> np.ndarray:
    """``x`` in a room (convolved with a 0.8 s exponentially decaying noise response), under a
    speech-like voice and white noise, each ``*_db`` under the reverberant music (RMS)."""
    import scipy.signal

    rng = np.random.default_rng(seed)
    rt = 0.8
    t = np.arange(int(rt * sample_rate)) / sample_rate
    ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt)
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir**2))
    y = scipy.signal.fftconvolve(x, ir)[: x.size]
    voice = speech_like(x.size / sample_rate + 1.0, sample_rate)[: x.size]
    noise = rng.standard_normal(x.size)
    y = (
        y
        + voice * _rms(y) / _rms(voice) * 10 ** (-voice_db / 20)
        + noise * _rms(y) / _rms(noise) * 10 ** (-noise_db / 20)
    )
    out: np.ndarray = y.astype(np.float32)
    return out
