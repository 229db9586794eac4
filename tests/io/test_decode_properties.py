"""Property tests: invariants of resampling and frame sampling over random parameters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from media import tone, write_audio, write_video
from reelsense.io import FrameSampling, decode, read_audio, read_frames

RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]
_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# Frame times (pts * time_base less the container's start offset) and sampling targets
# (start + k / fps) are both rounded floats, so a target within this of a frame's pts may
# fall on either side of it. Everything farther apart is exact.
ROUNDING = 1e-9


def _on_screen(every: np.ndarray, t: float) -> int:
    """The index of the frame on screen at ``t``: the last whose pts <= t (the first frame
    for a time before it)."""
    return max(int(np.searchsorted(every, t, side="right")) - 1, 0)


def _frame_indices(every: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The indices in ``every`` of the frames with these pts (each must be a real frame)."""
    index = np.abs(pts[:, None] - every[None, :]).argmin(axis=1)
    np.testing.assert_allclose(every[index], pts, rtol=0, atol=ROUNDING)
    return index


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props")


@pytest.fixture(scope="module")
def vfr_video(folder: Path) -> tuple[Path, np.ndarray]:
    """A 3 s variable-frame-rate video and the pts of all its frames."""
    path = write_video(folder / "vfr.mkv", duration_seconds=3.0, fps=16.0, vfr=True, audio=None)
    every = read_frames(path, FrameSampling(fps=1000.0, max_frames=10_000, max_side=16)).pts_seconds
    return path, every


@_SETTINGS
@given(
    in_rate=st.sampled_from(RATES),
    out_rate=st.integers(min_value=8000, max_value=96000),
    seconds=st.floats(min_value=0.2, max_value=1.5),
    channels=st.sampled_from([1, 2, 6]),
)
def test_resampled_duration_matches_input(
    folder: Path, in_rate: int, out_rate: int, seconds: float, channels: int
) -> None:
    samples = tone(seconds, in_rate, channels, frequency_hz=min(300.0, in_rate / 8))
    path = write_audio(folder / f"p{in_rate}_{channels}.wav", samples, sample_rate=in_rate)
    audio = read_audio(path, out_rate)
    n_in = samples.shape[1]
    # the same duration, to within one output sample
    assert abs(audio.samples.shape[0] / out_rate - n_in / in_rate) <= 1.0 / out_rate + 1e-9
    assert audio.start_seconds == 0.0
    assert np.all(np.isfinite(audio.samples)) and np.abs(audio.samples).max() <= 1.0


@_SETTINGS
@given(
    count=st.integers(min_value=1, max_value=40),
    start=st.floats(min_value=0.0, max_value=2.5),
    window=st.one_of(st.none(), st.floats(min_value=0.1, max_value=3.0)),
)
def test_count_returns_exactly_n_frames_within_window(
    vfr_video: tuple[Path, np.ndarray], count: int, start: float, window: float | None
) -> None:
    path, every = vfr_video
    result = decode(
        path,
        frames=FrameSampling("count", count=count, max_side=16),
        start_seconds=start,
        duration_seconds=window,
    )
    assert result.frames is not None
    pts = result.frames.pts_seconds
    assert len(pts) == count
    index = _frame_indices(every, pts)  # real frames, by their pts
    assert np.all(np.diff(index) >= 0)
    end = min(start + (window or math.inf), every[-1] + 1.0)
    # no earlier than the frame on screen at the start, and shown before the window's end
    assert index.min() >= _on_screen(every, start - ROUNDING)
    assert pts.max() < end + ROUNDING
    assert result.video_frames_converted <= count


@_SETTINGS
@given(fps=st.floats(min_value=0.3, max_value=30.0), start=st.floats(min_value=0.0, max_value=2.0))
@example(fps=1.0, start=1.9999999999999998)  # just before the 2.0 s frame (found by Hypothesis)
@example(fps=1.0, start=2.0)
def test_uniform_picks_the_frame_on_screen(
    vfr_video: tuple[Path, np.ndarray], fps: float, start: float
) -> None:
    """One frame per target ``start + k / fps``: the frame on screen then (the last whose pts
    <= the target), each kept once, in order. A target within float rounding of a frame's
    pts may get that frame or the one before (e.g. start=1.9999999999999998 gets the
    1.906 s frame, start=2.0 the 2.0 s one); every other target has exactly one answer."""
    path, every = vfr_video
    frames = read_frames(path, FrameSampling("uniform", fps=fps, max_side=16), start_seconds=start)
    targets = start + np.arange(math.ceil((3.0 - start) * fps)) / fps
    # how long the last frame stays on screen depends on what the container says about it,
    # so targets after it may or may not map to it
    before_last = targets[targets < every[-1]]
    earliest = [_on_screen(every, t - ROUNDING) for t in before_last]
    latest = [_on_screen(every, t + ROUNDING) for t in before_last]
    allowed = set(earliest) | set(latest)
    certain = {a for a, b in zip(earliest, latest, strict=True) if a == b}
    got = _frame_indices(every, frames.pts_seconds)
    assert np.all(np.diff(got) > 0)  # in order, a frame covering several targets kept once
    assert certain <= set(got.tolist())
    extra = set(got.tolist()) - allowed
    assert extra <= {len(every) - 1}
    if extra:  # the last frame, for a target while it may still be on screen
        assert np.any((targets >= every[-1] - ROUNDING) & (targets < 3.0))


@pytest.mark.parametrize(
    ("start", "shown"), [(1.9999999999999998, 1.906), (2.0, 2.0), (2.0000000000000004, 2.0)]
)
def test_uniform_start_next_to_a_frame(
    vfr_video: tuple[Path, np.ndarray], start: float, shown: float
) -> None:
    """Where the floats are exact, the frame on screen is exact: a start one ulp before the
    2.0 s frame still shows the frame before it."""
    path, every = vfr_video
    assert every[every < 2.0].max() == pytest.approx(1.906) and np.any(every == 2.0)
    frames = read_frames(path, FrameSampling("uniform", fps=1.0, max_side=16), start_seconds=start)
    assert frames.pts_seconds[0] == pytest.approx(shown, abs=ROUNDING)
