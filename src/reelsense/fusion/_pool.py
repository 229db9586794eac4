"""Pooling frame vectors into one visual vector per video."""

from __future__ import annotations

from typing import Literal

import numpy as np

from reelsense.errors import ParameterError

__all__ = ["Pooling", "frame_durations", "pool_frames"]

Pooling = Literal["mean", "duration"]


def frame_durations(pts_seconds: np.ndarray, duration_seconds: float | None) -> np.ndarray:
    """How long each sampled frame stays representative: from its time to the next sampled
    frame's (the last one: to ``duration_seconds``). float64 ``[n]``, each at least 1 ms.

    With key frames or scene cuts this is the length of the shot or GOP the frame opens.
    """
    pts = np.asarray(pts_seconds, dtype=np.float64)
    if pts.ndim != 1:
        raise ParameterError(f"pts_seconds must be 1-D, got shape {pts.shape}")
    if pts.size == 0:
        return np.zeros(0)
    end = float(duration_seconds) if duration_seconds and duration_seconds > pts[-1] else pts[-1] + 1.0
    following = np.append(pts[1:], end)
    return np.maximum(following - pts, 1e-3)


def pool_frames(
    vectors: np.ndarray,
    pts_seconds: np.ndarray | None = None,
    duration_seconds: float | None = None,
    method: Pooling = "mean",
) -> np.ndarray:
    """One float32 ``[d]`` vector from frame vectors ``[n, d]`` (``n >= 1``).

    Each frame vector is L2-normalised first (so no frame weighs more for having larger
    activations). ``mean``: their average. ``duration``: average weighted by
    :func:`frame_durations` (a shot seen for 10 s counts ten times one seen for 1 s).
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ParameterError(f"frame vectors must be [n >= 1, d], got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms > 0.0, norms, 1.0)
    if method == "mean":
        return np.asarray(unit.mean(axis=0), dtype=np.float32)
    if method == "duration":
        if pts_seconds is None or np.asarray(pts_seconds).shape != (x.shape[0],):
            raise ParameterError("duration pooling needs pts_seconds [n] for the n frames")
        weights = frame_durations(np.asarray(pts_seconds), duration_seconds)
        return np.asarray(weights @ unit / weights.sum(), dtype=np.float32)
    raise ParameterError(f"pooling must be 'mean' or 'duration', got {method!r}")
