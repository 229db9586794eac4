"""Choosing decoded video frames and converting only the chosen ones.

A :class:`FrameSink` receives every frame the decoder produces, with its presentation
time in seconds (pts-based, so variable frame rate is handled), and keeps some of them:

- ``uniform``: the frame on screen at each time ``start + k / fps`` (the last frame whose
  pts is <= the target); a frame that covers several targets is kept once.
- ``count``: the frames on screen at ``n`` times spread evenly over the video, at the
  centres of ``n`` equal intervals; always exactly ``n`` frames (repeated when the video
  has fewer), because models often want a fixed number.
- ``keyframes``: key frames only; the decoder is told to skip the others and is fed
  key-frame packets only, so non-key frames are neither decoded nor converted. A video with
  more key frames than ``max_frames`` keeps every 2nd, then every 4th, ... key frame (the kept
  ones are halved each time the cap is passed, and the key packets in between are no longer
  decoded), so between ``max_frames // 2 + 1`` and ``max_frames`` frames cover the whole video
  (or the window: its key frames are numbered from its start), not only its beginning.
- ``scenes``: the first frame, then the first frame of each shot (see ``_scenes``); the
  decoder skips non-reference frames, so a cut is placed at the first reference frame of
  the new shot (within a frame or two).

Only kept frames are converted: one swscale call resizes and converts to RGB at once
(area filter; never larger than the displayed size), then the display rotation is applied to
the small image. Anamorphic video (a sample aspect ratio other than 1:1, e.g. 1440x1080
coded for 1920x1080 display) is stretched to its displayed shape in the same call, so models
see the picture as a viewer does (:func:`display_size`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import av
import numpy as np

from reelsense.errors import MediaLimitError
from reelsense.io._rotation import display_matrix_rotation, normalize_rotation
from reelsense.io._scenes import SceneDetector
from reelsense.io._types import FrameSampling, VideoFrames

__all__ = ["FrameSink", "display_size", "output_size", "sample_aspect_ratio", "to_rgb"]


def sample_aspect_ratio(*values: object) -> float:
    """The first valid sample (pixel) aspect ratio among ``values`` (a container's, then the
    codec's, as FFmpeg guesses it) as a float; 1.0 when none is set (None, 0/1) or sane."""
    for value in values:
        try:
            sar = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if math.isfinite(sar) and 0.01 <= sar <= 100.0:
            return sar
    return 1.0


def display_size(
    coded_width: int, coded_height: int, *, rotation_degrees: int = 0, sample_aspect_ratio: float = 1.0
) -> tuple[int, int]:
    """Upright displayed (width, height) of a coded picture: its width stretched by the
    sample aspect ratio (anamorphic video), then turned by ``rotation_degrees``."""
    width = coded_width
    if sample_aspect_ratio != 1.0:
        width = max(1, round(coded_width * sample_aspect_ratio))
    return (coded_height, width) if rotation_degrees in (90, 270) else (width, coded_height)


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is at most ``max_side``; never larger."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_rgb(frame: av.VideoFrame, width: int, height: int, rotation_degrees: int) -> np.ndarray:
    """Upright RGB uint8 ``[height, width, 3]`` of ``frame`` (resize + convert in one step).

    ``width``/``height`` are the upright output size; ``rotation_degrees`` is the
    clockwise turn that makes the coded picture upright.
    """
    turned = rotation_degrees in (90, 270)
    coded_w, coded_h = (height, width) if turned else (width, height)
    rgb = frame.reformat(width=coded_w, height=coded_h, format="rgb24", interpolation="AREA").to_ndarray()
    if rotation_degrees:
        rgb = np.rot90(rgb, k=-(rotation_degrees // 90))
    return np.ascontiguousarray(rgb)


def _frame_rotation(frame: av.VideoFrame) -> int:
    """The clockwise quarter turn of the frame's display matrix (0 without one)."""
    if not frame.rotation:
        return 0
    matrix = frame.side_data.get("DISPLAYMATRIX")
    # SideData is a buffer; PyAV's stubs say so only in some releases (18.1 yes, earlier no)
    exact = display_matrix_rotation(bytes(cast(Any, matrix))) if matrix is not None else None
    return exact if exact is not None else normalize_rotation(-frame.rotation)


class FrameSink:
    """Keeps the frames chosen by ``sampling`` within ``[start, start + window)``.

    ``video_duration_seconds`` is needed by ``count`` (targets are spread over it).
    ``header_rotation_degrees`` is used when frames carry no display matrix;
    ``sample_aspect_ratio`` is the stream's (:func:`sample_aspect_ratio`).
    """

    def __init__(
        self,
        sampling: FrameSampling,
        *,
        path: str,
        start_seconds: float = 0.0,
        window_seconds: float | None = None,
        video_duration_seconds: float = 0.0,
        header_rotation_degrees: int = 0,
        max_pixels: int = 8192 * 8192,
        nominal_fps: float | None = None,
        sample_aspect_ratio: float = 1.0,
    ) -> None:
        self.sampling = sampling
        self.sample_aspect_ratio = sample_aspect_ratio
        self.path = path
        self.frames_decoded = 0
        self.frames_converted = 0
        self.done = False
        self.warnings: list[str] = []
        self.rotation_degrees = header_rotation_degrees
        self._start = start_seconds
        self._end = math.inf if window_seconds is None else start_seconds + window_seconds
        self._max_pixels = max_pixels
        self._nominal_period = 1.0 / nominal_fps if nominal_fps else 0.0
        self._images: list[np.ndarray] = []
        self._times: list[float] = []
        self._order: list[int] = []
        self._size: tuple[int, int] | None = None
        self._target_index = 0
        self._targets: np.ndarray | None = None
        self._prev: av.VideoFrame | None = None
        self._prev_time = 0.0
        self._prev_index: int | None = None
        self._scenes: SceneDetector | None = None
        self._key_stride = 1  # keyframes: every so many key packets is decoded
        self._key_packets = 0
        self._key_index_by_pts: dict[int, int] = {}  # a decoded key packet's number, by pts
        self._key_indices: list[int] = []  # the number of each kept key frame
        strategy = sampling.strategy
        if strategy == "count":
            n = sampling.count
            if n > sampling.max_frames:
                self.warnings.append(f"count={n} capped to max_frames={sampling.max_frames}")
                n = sampling.max_frames
            span = min(self._end, video_duration_seconds) - start_seconds
            span = max(span, 0.0)
            self._targets = start_seconds + (np.arange(n) + 0.5) * (span / n)
        elif strategy == "scenes":
            self._scenes = SceneDetector(sampling.scene_threshold, sampling.min_scene_seconds)
        self._push: Callable[[av.VideoFrame, float], None] = {
            "uniform": self._push_on_screen,
            "count": self._push_on_screen,
            "keyframes": self._push_keyframe,
            "scenes": self._push_scene,
        }[strategy]

    @property
    def skip_frame(self) -> str | None:
        """What the decoder may skip for this strategy (a codec context ``skip_frame``)."""
        return {"keyframes": "NONKEY", "scenes": "NONREF"}.get(self.sampling.strategy)

    @property
    def keyframe_packets_only(self) -> bool:
        """Whether only key-frame packets need to reach the decoder."""
        return self.sampling.strategy == "keyframes"

    def wants_key_packet(self, pts: int | None, time_seconds: float | None = None) -> bool:
        """Whether the next key-frame packet should be decoded. The key packets within the
        window (``time_seconds``, the packet's time, from ``start`` on; counted in demux order)
        are numbered, and every ``stride``-th is decoded, the stride doubling each time the kept
        frames pass ``max_frames``. One before the window is not decoded (its frame would not
        be kept); the first one at or after its end is, unnumbered, to end the pass. The
        packet's ``pts`` tells its frame's number once decoded (the decoder may hand it back
        after the stride has doubled)."""
        if time_seconds is not None:
            if time_seconds < self._start:
                return False
            if time_seconds >= self._end:
                return True
        index = self._key_packets
        self._key_packets += 1
        if index % self._key_stride:
            return False
        if pts is not None:
            self._key_index_by_pts[pts] = index
        return True

    @property
    def decoded_until_seconds(self) -> float:
        return self._prev_time if self._prev is not None else self._times[-1] if self._times else 0.0

    # ------------------------------------------------------------------ frames in

    def push(self, frame: av.VideoFrame, time_seconds: float) -> None:
        """Offer one decoded frame (in presentation order)."""
        if self.done:
            return
        self.frames_decoded += 1
        if frame.width * frame.height > self._max_pixels:
            raise MediaLimitError(
                self.path, f"frame size {frame.width}x{frame.height} exceeds max_pixels={self._max_pixels}"
            )
        self._push(frame, time_seconds)

    def _next_target(self) -> float | None:
        k = self._target_index
        if self._targets is not None:
            return float(self._targets[k]) if k < self._targets.shape[0] else None
        if len(self._images) >= self.sampling.max_frames:
            return None
        target = self._start + k / self.sampling.fps
        return target if target < self._end else None

    def _push_on_screen(self, frame: av.VideoFrame, t: float) -> None:
        current_index: int | None = None
        target = self._next_target()
        while target is not None and target < t:
            if self._prev is None:  # the target precedes the first frame: it shows first
                if current_index is None:
                    current_index = self._convert(frame, t)
                self._take(current_index)
            else:
                if self._prev_index is None:
                    self._prev_index = self._convert(self._prev, self._prev_time)
                self._take(self._prev_index)
            self._target_index += 1
            target = self._next_target()
        self._prev, self._prev_time, self._prev_index = frame, t, current_index
        if target is None:
            self.done = True
            self._prev = None  # release the decoded picture

    def _push_keyframe(self, frame: av.VideoFrame, t: float) -> None:
        if not frame.key_frame or t < self._start:
            return
        if t >= self._end:
            self.done = True
            return
        index = self._key_index_by_pts.pop(frame.pts, None) if frame.pts is not None else None
        if index is None:
            index = self._key_stride * len(self._key_indices)  # not seen as a packet: keep it
        elif index % self._key_stride:
            return  # decoded before the stride doubled
        self._take(self._convert(frame, t))
        self._key_indices.append(index)
        while len(self._images) > self.sampling.max_frames:  # halve the kept frames
            self._key_stride *= 2
            keep = [i for i, n in enumerate(self._key_indices) if n % self._key_stride == 0]
            if len(keep) == len(self._images):
                if self._key_stride <= max(self._key_indices):
                    continue
                # every kept number is 0 (frames the decoder handed back unnumbered): no
                # stride can thin them, so the first max_frames stay
                keep = keep[: self.sampling.max_frames]
            self._images = [self._images[i] for i in keep]
            self._times = [self._times[i] for i in keep]
            self._key_indices = [self._key_indices[i] for i in keep]
            self._order = list(range(len(self._images)))

    def _push_scene(self, frame: av.VideoFrame, t: float) -> None:
        assert self._scenes is not None
        if self.frames_decoded > self.sampling.max_scene_frames:
            self.done = True
            self.warnings.append(
                f"scene detection stopped after max_scene_frames={self.sampling.max_scene_frames} "
                f"frames (at {t:.2f} s)"
            )
            return
        cut = self._scenes.is_cut(frame, t)
        if t < self._start:
            return
        if t >= self._end:
            self.done = True
            return
        if cut or not self._images:
            self._take(self._convert(frame, t))
            self._check_cap()

    def _check_cap(self) -> None:
        if len(self._images) >= self.sampling.max_frames:
            self.done = True
            self.warnings.append(
                f"stopped at max_frames={self.sampling.max_frames} {self.sampling.strategy} frames "
                f"(at {self._times[-1]:.2f} s)"
            )

    # ------------------------------------------------------------------ conversion

    def _convert(self, frame: av.VideoFrame, t: float) -> int:
        rotation = _frame_rotation(frame)
        rotation = rotation if rotation else self.rotation_degrees
        self.rotation_degrees = rotation
        if self._size is None:
            upright = display_size(
                frame.width,
                frame.height,
                rotation_degrees=rotation,
                sample_aspect_ratio=self.sample_aspect_ratio,
            )
            self._size = output_size(*upright, self.sampling.max_side)
        self._images.append(to_rgb(frame, *self._size, rotation))
        self._times.append(t)
        self.frames_converted += 1
        return len(self._images) - 1

    def _take(self, index: int) -> None:
        if self.sampling.strategy == "uniform" and self._order and self._order[-1] == index:
            return  # the same frame covers several targets: keep it once
        self._order.append(index)

    # ------------------------------------------------------------------ result

    def finish(self, last_frame_duration_seconds: float = 0.0) -> VideoFrames:
        """The kept frames. Targets after the last frame map to it while it is on screen
        (its own duration, else the nominal frame period)."""
        if self._prev is not None and self.sampling.strategy in ("uniform", "count"):
            shown_until = self._prev_time + (last_frame_duration_seconds or self._nominal_period)
            target = self._next_target()
            while target is not None and (self._targets is not None or target < shown_until):
                if self._prev_index is None:
                    self._prev_index = self._convert(self._prev, self._prev_time)
                self._take(self._prev_index)
                self._target_index += 1
                target = self._next_target()
            self._prev = None
        if self._key_stride > 1:
            span = "the window" if self._start > 0 or math.isfinite(self._end) else "the whole video"
            self.warnings.append(
                f"{self._key_packets} key frames, more than max_frames={self.sampling.max_frames}: "
                f"one in {self._key_stride} kept ({len(self._order)} frames over {span})"
            )
        if not self._order:
            width, height = self._size or (0, 0)
            return VideoFrames(
                frames=np.zeros((0, height, width, 3), dtype=np.uint8),
                pts_seconds=np.zeros(0, dtype=np.float64),
                strategy=self.sampling.strategy,
            )
        frames = np.stack([self._images[i] for i in self._order])
        times = np.array([self._times[i] for i in self._order], dtype=np.float64)
        self._images.clear()
        return VideoFrames(frames=frames, pts_seconds=times, strategy=self.sampling.strategy)
