"""Input checks shared by the audio functions that take ``(samples, sample_rate)``."""

from __future__ import annotations

import numpy as np

from reelsense.errors import ParameterError

__all__ = ["check_mono"]


def check_mono(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``samples`` as an array after checking it is mono ``[n]`` floating point without
    NaN/inf and that ``sample_rate`` is a positive integer.

    Raises:
        ParameterError: naming the bad value.
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ParameterError(f"samples must be mono 1-D [n], got shape {x.shape} (downmix first)")
    if not np.issubdtype(x.dtype, np.floating):
        raise ParameterError(f"samples must be floating point in [-1, 1], got dtype {x.dtype}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise ParameterError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if not np.isfinite(x).all():
        raise ParameterError(f"samples contain {int(np.count_nonzero(~np.isfinite(x)))} NaN/inf values")
    return x
