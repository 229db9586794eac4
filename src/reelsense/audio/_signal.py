"""Input checks shared by the audio functions that take ``(samples, sample_rate)``."""

from __future__ import annotations

import numpy as np

from reelsense._checks import check_sample_rate
from reelsense.errors import ParameterError

__all__ = ["check_mono"]


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
