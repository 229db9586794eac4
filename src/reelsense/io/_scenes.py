"""Cheap shot-change test on decoded frames, without converting them to RGB.

The decoder's own YUV planes are read in place and subsampled by striding to about
64 samples on the longer side (a zero-copy view for 8-bit planar formats; other formats
go through a 32x32 swscale). The feature is a set of normalised histograms: luma in each
quadrant of the picture (16 bins each; quadrants make it sensitive to layout, not only to
the overall tone) and the two chroma planes over the whole picture (8 bins each). The
distance between two frames is half the L1 distance of the histograms, 0 for identical
and 1 for disjoint, weighted 1/2 luma and 1/4 each chroma plane.
"""

from __future__ import annotations

import av
import numpy as np

__all__ = ["SceneDetector", "frame_feature", "scene_distance"]

_SAMPLES_ON_LONG_SIDE = 64
_PLANAR_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p"}
_LUMA_BINS = 16
_CHROMA_BINS = 8


def _plane(frame: av.VideoFrame, index: int, step: int) -> np.ndarray:
    plane = frame.planes[index]
    data: np.ndarray = np.frombuffer(memoryview(plane), dtype=np.uint8)
    out: np.ndarray = data.reshape(plane.height, plane.line_size)[::step, : plane.width : step]
    return out


def _tiny_yuv(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if frame.format.name in _PLANAR_8BIT:
        step = max(1, max(frame.width, frame.height) // _SAMPLES_ON_LONG_SIDE)
        # chroma planes are already subsampled; stride them by the same factor or less
        chroma_step = max(1, step * frame.planes[1].width // max(frame.width, 1))
        return _plane(frame, 0, step), _plane(frame, 1, chroma_step), _plane(frame, 2, chroma_step)
    small = frame.reformat(width=32, height=32, format="yuv444p", interpolation="FAST_BILINEAR")
    return _plane(small, 0, 1), _plane(small, 1, 1), _plane(small, 2, 1)


def frame_feature(frame: av.VideoFrame) -> np.ndarray:
    """Histogram feature ``[80]`` float32 of one decoded frame (see module docstring)."""
    y, u, v = _tiny_yuv(frame)
    h2, w2 = max(1, y.shape[0] // 2), max(1, y.shape[1] // 2)
    quadrant = (np.arange(y.shape[0]) >= h2)[:, None] * 2 + (np.arange(y.shape[1]) >= w2)[None, :]
    luma = np.bincount((quadrant * _LUMA_BINS + (y >> 4)).ravel(), minlength=4 * _LUMA_BINS).astype(
        np.float32
    )
    luma = (
        luma.reshape(4, _LUMA_BINS) / np.maximum(luma.reshape(4, _LUMA_BINS).sum(1, keepdims=True), 1)
    ).ravel()
    cu = np.bincount((u >> 5).ravel(), minlength=_CHROMA_BINS).astype(np.float32)
    cv = np.bincount((v >> 5).ravel(), minlength=_CHROMA_BINS).astype(np.float32)
    feature = np.concatenate([luma, cu / max(cu.sum(), 1.0), cv / max(cv.sum(), 1.0)])
    return feature.astype(np.float32, copy=False)


def scene_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance in [0, 1] between two :func:`frame_feature` vectors."""
    diff = np.abs(a - b)
    luma = float(diff[: 4 * _LUMA_BINS].sum()) / 8.0  # mean over 4 quadrants of half-L1
    chroma_u = float(diff[4 * _LUMA_BINS : 4 * _LUMA_BINS + _CHROMA_BINS].sum()) / 2.0
    chroma_v = float(diff[4 * _LUMA_BINS + _CHROMA_BINS :].sum()) / 2.0
    return 0.5 * luma + 0.25 * chroma_u + 0.25 * chroma_v


class SceneDetector:
    """Flags the frames that start a new shot.

    ``is_cut`` compares each frame with the previous one; a cut needs a distance above
    ``threshold`` and at least ``min_scene_seconds`` since the last cut.
    """

    def __init__(self, threshold: float, min_scene_seconds: float) -> None:
        self.threshold = threshold
        self.min_scene_seconds = min_scene_seconds
        self._previous: np.ndarray | None = None
        self._last_cut_seconds = -np.inf

    def is_cut(self, frame: av.VideoFrame, time_seconds: float) -> bool:
        """Whether ``frame`` starts a new shot (the first frame seen always does)."""
        feature = frame_feature(frame)
        previous, self._previous = self._previous, feature
        if previous is None:
            self._last_cut_seconds = time_seconds
            return True
        if time_seconds - self._last_cut_seconds < self.min_scene_seconds:
            return False
        if scene_distance(previous, feature) > self.threshold:
            self._last_cut_seconds = time_seconds
            return True
        return False
