"""Property tests: invariants of resampling and frame sampling over random parameters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media import tone, write_audio, write_video
from reelsense.io import FrameSampling, decode, read_audio, read_frames

RATES = [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]
_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


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
    out_rate=st.integers(min_value=4000, max_value=96000),
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
    assert np.all(np.diff(pts) >= 0)
    end = min(start + (window or math.inf), every[-1] + 1.0)
    on_screen_at_start = every[every <= start + 1e-9].max()
    assert pts.min() >= on_screen_at_start - 1e-9 and pts.max() < end
    assert set(np.round(pts, 6)) <= set(np.round(every, 6))  # real frames, by their pts
    assert result.video_frames_converted <= count


@_SETTINGS
@given(fps=st.floats(min_value=0.3, max_value=30.0), start=st.floats(min_value=0.0, max_value=2.0))
def test_uniform_picks_the_frame_on_screen(
    vfr_video: tuple[Path, np.ndarray], fps: float, start: float
) -> None:
    path, every = vfr_video
    frames = read_frames(path, FrameSampling("uniform", fps=fps, max_side=16), start_seconds=start)
    targets = start + np.arange(math.ceil((3.0 - start) * fps)) / fps
    # how long the last frame stays on screen depends on what the container says about it
    before_last = targets[targets < every[-1]]
    expected = np.unique([every[every <= t + 1e-9].max() for t in before_last])
    got = frames.pts_seconds
    if len(got) == len(expected) + 1:
        assert got[-1] == every[-1] and np.any((targets >= every[-1]) & (targets < 3.0))
        got = got[:-1]
    np.testing.assert_allclose(got, expected, atol=1e-9)
