"""Frame sampling strategies, resizing, and what gets decoded/converted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media import write_video
from reelsense.errors import ParameterError
from reelsense.io import FrameSampling, decode, read_frames


@pytest.fixture(scope="module")
def cuts_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 24 fps, key frame every 6 frames, shot changes at 0.7 s and 1.4 s."""
    folder = tmp_path_factory.mktemp("frames")
    return write_video(
        folder / "cuts.mp4", duration_seconds=2.0, gop_frames=6, scene_changes=[0.7, 1.4], audio=None
    )


def test_uniform_frames_per_second(cuts_video: Path) -> None:
    result = decode(cuts_video, frames=FrameSampling("uniform", fps=4.0))
    assert result.frames is not None
    np.testing.assert_allclose(result.frames.pts_seconds, np.arange(8) * 0.25, atol=1e-6)
    assert result.video_frames_decoded == 48
    assert result.video_frames_converted == 8  # only kept frames are converted
    one = read_frames(cuts_video, FrameSampling("uniform", fps=1.0))
    np.testing.assert_allclose(one.pts_seconds, [0.0, 1.0], atol=1e-6)


def test_uniform_faster_than_the_video_keeps_each_frame_once(cuts_video: Path) -> None:
    frames = read_frames(cuts_video, FrameSampling("uniform", fps=60.0, max_frames=500, max_side=16))
    assert len(frames) == 48
    assert np.all(np.diff(frames.pts_seconds) > 0)


def test_count_spreads_exactly_n_frames(cuts_video: Path) -> None:
    result = decode(cuts_video, frames=FrameSampling("count", count=5))
    assert result.frames is not None and len(result.frames) == 5
    centres = (np.arange(5) + 0.5) * 2.0 / 5
    np.testing.assert_allclose(result.frames.pts_seconds, np.floor(centres * 24) / 24, atol=1e-6)
    assert result.video_frames_converted == 5


def test_count_more_than_frames_repeats_without_reconverting(cuts_video: Path) -> None:
    result = decode(cuts_video, frames=FrameSampling("count", count=100, max_side=16))
    assert result.frames is not None and len(result.frames) == 100
    assert result.video_frames_converted == 48
    assert np.all(np.diff(result.frames.pts_seconds) >= 0)


def test_keyframes_decode_only_key_frames(cuts_video: Path) -> None:
    result = decode(cuts_video, frames=FrameSampling("keyframes"))
    assert result.frames is not None
    np.testing.assert_allclose(result.frames.pts_seconds, np.arange(8) * 0.25, atol=1e-6)
    assert result.video_frames_decoded == 8  # the decoder never produced a non-key frame
    assert result.video_frames_converted == 8


@pytest.mark.parametrize(
    ("codec", "ext"), [("libvpx", "webm"), ("libvpx-vp9", "webm"), ("libx265", "mp4"), ("libsvtav1", "mkv")]
)
def test_keyframes_other_codecs(tmp_path: Path, codec: str, ext: str) -> None:
    path = write_video(
        tmp_path / f"k.{ext}", duration_seconds=2.0, gop_frames=12, video_codec=codec, audio=None
    )
    result = decode(path, frames=FrameSampling("keyframes"))
    assert result.frames is not None
    np.testing.assert_allclose(result.frames.pts_seconds, [0.0, 0.5, 1.0, 1.5], atol=1e-6)
    assert result.video_frames_decoded == 4  # only key-frame packets reach the decoder


def test_scenes_finds_each_cut(cuts_video: Path) -> None:
    result = decode(cuts_video, frames=FrameSampling("scenes"))
    assert result.frames is not None
    pts = result.frames.pts_seconds
    assert len(pts) == 3
    assert pts[0] == 0.0
    # the first (reference) frame of each new shot, within two frames of the cut
    assert 0.7 - 1e-6 <= pts[1] <= 0.7 + 2 / 24
    assert 1.4 - 1e-6 <= pts[2] <= 1.4 + 2 / 24
    assert result.video_frames_converted == 3
    # each kept frame shows its shot's background, not the previous one
    backgrounds = result.frames.frames[:, -8:, 20:40].reshape(3, -1, 3).mean(axis=1)
    assert np.abs(np.diff(backgrounds, axis=0)).sum(axis=1).min() > 60


@pytest.mark.parametrize("motion", [False, True])
def test_scenes_single_shot_gives_one_frame(tmp_path: Path, motion: bool) -> None:
    path = write_video(tmp_path / "shot.mp4", duration_seconds=2.0, motion=motion, audio=None)
    frames = read_frames(path, FrameSampling("scenes"))
    assert len(frames) == 1 and frames.pts_seconds[0] == 0.0


def test_scenes_threshold_and_min_length(cuts_video: Path) -> None:
    strict = read_frames(cuts_video, FrameSampling("scenes", scene_threshold=0.99))
    assert len(strict) == 1
    spaced = read_frames(cuts_video, FrameSampling("scenes", min_scene_seconds=1.0))
    assert len(spaced) == 2  # the cut at 1.4 s comes only 0.7 s after the one at 0.7 s


@pytest.mark.parametrize(
    ("width", "height", "max_side", "expected"),
    [
        (64, 112, 32, (32, 18)),
        (64, 112, 512, (112, 64)),  # never upscaled
        (112, 64, 56, (32, 56)),
        (128, 128, 100, (100, 100)),
    ],
)
def test_resize_keeps_aspect_and_never_upscales(
    tmp_path: Path, width: int, height: int, max_side: int, expected: tuple[int, int]
) -> None:
    path = write_video(tmp_path / "s.mp4", width=width, height=height, audio=None, duration_seconds=0.5)
    frames = read_frames(path, FrameSampling("count", count=1, max_side=max_side))
    assert frames.frames.shape == (1, *expected, 3)
    assert frames.frames.dtype == np.uint8 and frames.frames.flags["C_CONTIGUOUS"]


def test_max_frames_caps_uniform_and_keyframes(cuts_video: Path) -> None:
    capped = read_frames(cuts_video, FrameSampling("uniform", fps=24.0, max_frames=5))
    np.testing.assert_allclose(capped.pts_seconds, np.arange(5) / 24, atol=1e-6)
    result = decode(cuts_video, frames=FrameSampling("keyframes", max_frames=3))
    assert result.frames is not None  # 8 key frames: one in 4 kept
    np.testing.assert_allclose(result.frames.pts_seconds, [0.0, 1.0], atol=1e-6)
    assert any("max_frames=3: one in 4 kept" in w for w in result.warnings)
    counted = decode(cuts_video, frames=FrameSampling("count", count=10, max_frames=4))
    assert counted.frames is not None and len(counted.frames) == 4
    assert any("capped" in w for w in counted.warnings)


def test_keyframes_past_max_frames_cover_the_whole_video(cuts_video: Path) -> None:
    """More key frames than max_frames: one in 2, 4, ... is kept, over the whole video. The
    first max_frames were kept before (0 to 0.75 s of this 2 s video: a long video's visual
    vector described only its beginning)."""
    result = decode(cuts_video, frames=FrameSampling("keyframes", max_frames=4))
    assert result.frames is not None
    np.testing.assert_allclose(result.frames.pts_seconds, [0.0, 0.5, 1.0, 1.5], atol=1e-6)
    assert result.video_frames_converted == 6  # 0 to 4 (the cap passed: halved), then 6
    assert result.warnings == (
        "8 key frames, more than max_frames=4: one in 2 kept (4 frames over the whole video)",
    )
    exact = decode(cuts_video, frames=FrameSampling("keyframes", max_frames=8))
    assert exact.frames is not None and len(exact.frames) == 8 and exact.warnings == ()


def test_keyframes_past_max_frames_in_a_window_are_numbered_from_its_start(cuts_video: Path) -> None:
    """A window with 5 key frames (0.5 to 1.5 s) at max_frames=4 keeps its first, then one in 2:
    3 frames (max_frames // 2 + 1 at least). The key frame the seek lands on (0.25 s, before the
    start) was number 0, so the window's first was dropped ([0.75, 1.25]: max_frames // 2), and
    the warning counted it and the one past the end (1.75 s): '7 key frames ... over the whole
    video'."""
    result = decode(
        cuts_video,
        frames=FrameSampling("keyframes", max_frames=4),
        start_seconds=0.3,
        duration_seconds=1.3,
    )
    assert result.frames is not None
    np.testing.assert_allclose(result.frames.pts_seconds, [0.5, 1.0, 1.5], atol=1e-6)
    assert result.warnings == (
        "5 key frames, more than max_frames=4: one in 2 kept (3 frames over the window)",
    )


def test_frames_window(cuts_video: Path) -> None:
    kept = read_frames(cuts_video, FrameSampling("keyframes"), start_seconds=0.6, duration_seconds=0.8)
    np.testing.assert_allclose(kept.pts_seconds, [0.75, 1.0, 1.25], atol=1e-6)
    counted = read_frames(cuts_video, FrameSampling("count", count=4), start_seconds=1.0)
    assert len(counted) == 4 and counted.pts_seconds.min() >= 1.0 - 1 / 24


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strategy": "every"},
        {"fps": 0.0},
        {"count": 0},
        {"max_side": 8},
        {"scene_threshold": 1.5},
        {"max_frames": 0},
        {"min_scene_seconds": -1.0},
    ],
)
def test_bad_sampling_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        FrameSampling(**kwargs)  # type: ignore[arg-type]


def test_keyframes_the_decoder_hands_back_unnumbered_stop_at_the_cap() -> None:
    # the frame of key packet 0 after an unnumbered first frame: both are number 0, which no
    # stride thins; before, halving them looped forever at max_frames=1
    import av

    from reelsense.io._frames import FrameSink

    sink = FrameSink(FrameSampling("keyframes", max_frames=1), path="x.mp4")
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    first = av.VideoFrame.from_ndarray(image, format="rgb24")  # pts None: never seen as a packet
    assert sink.wants_key_packet(7)
    numbered = av.VideoFrame.from_ndarray(image, format="rgb24")
    numbered.pts = 7
    first.key_frame = numbered.key_frame = True
    sink.push(first, 0.0)
    sink.push(numbered, 0.5)
    frames = sink.finish()
    assert frames.pts_seconds.tolist() == [0.0]
