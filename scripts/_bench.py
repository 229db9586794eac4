"""Helpers shared by the benchmark scripts (not part of the library): CPU-time accounting,
a decode-only worker stage, and synthetic noise and babble for negatives and mixtures."""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from reelsense.io import DecodedMedia


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children (workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass(frozen=True)
class DecodeOnly:
    """A worker stage that asks for audio and frames and computes nothing."""

    name: str = "decode_only"
    version: int = 1
    needs_audio: bool = True
    needs_frames: bool = True

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return ()

    def options(self) -> dict[str, Any]:
        return {}

    def process(self, media: DecodedMedia) -> dict[str, Any]:
        return {}


def pink(rng: np.random.Generator, n: int, power: float = 1.0) -> np.ndarray:
    """``n`` samples of 1/f**power noise (1: pink, 2: brown), not normalised, float64."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.maximum(np.arange(spec.size), 1) ** (power / 2)
    return np.fft.irfft(spec, n)


def babble(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """Speech-like harmonic glides with syllable-rate amplitude modulation and pauses."""
    t = np.arange(n) / sample_rate
    f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.random() * 6)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = sum(np.sin(h * phase) / h for h in range(1, 15))
    voiced = rng.random(n // sample_rate + 1)[t.astype(int)] > 0.25
    env = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t), 0, None) * voiced
    return (x * env).astype(np.float32)
