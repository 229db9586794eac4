"""Input checks shared by the audio functions that take ``(samples, sample_rate)``."""

from __future__ import annotations

import numpy as np

from reelsense._checks import check_sample_rate
from reelsense.errors import ParameterError

__all__ = ["MAX_FULL_SCALE_PEAK", "check_full_scale", "check_mono"]

#: the largest sample magnitude a level measurement accepts: +36 dBFS, far above what decoding
#: gives (at most a little over 1), far under integer PCM handed over as floats (up to 32768)
MAX_FULL_SCALE_PEAK = 64.0


def check_mono(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``samples`` as an array after checking it is mono ``[n]`` floating point without
    NaN/inf and that ``sample_rate`` is an integer number of Hz in the accepted range
    (:func:`reelsense._checks.check_sample_rate`: 8000..384000).

    Raises:
        ParameterError: naming the bad value.
    """
    if isinstance(samples, str | bytes) or samples is None:
        raise ParameterError(f"samples must be a numpy array [n], got {type(samples).__name__}")
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ParameterError(f"samples must be mono 1-D [n], got shape {x.shape} (downmix first)")
    if not np.issubdtype(x.dtype, np.floating):
        raise ParameterError(f"samples must be floating point in [-1, 1], got dtype {x.dtype}")
    check_sample_rate(sample_rate)
    if not np.isfinite(x).all():
        raise ParameterError(f"samples contain {int(np.count_nonzero(~np.isfinite(x)))} NaN/inf values")
    return x


def check_full_scale(x: np.ndarray) -> None:
    """Refuse samples that cannot be full-scale float audio ([-1, 1]) for a level measurement:
    a peak over :data:`MAX_FULL_SCALE_PEAK` is integer PCM converted to floats without scaling
    (loudness +76 LUFS for 16-bit audio)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > MAX_FULL_SCALE_PEAK:
        raise ParameterError(
            f"samples peak at {peak:.6g}: float audio is in [-1, 1]; divide integer PCM by its full "
            "scale (32768 for 16-bit, 2**31 for 32-bit) before measuring levels"
        )
