"""Arguments of the decoding functions: a bad type or value is a ParameterError naming it (not a
hang, a TypeError from deep inside, or a misleading decode error); numpy integers are integers
and a strategy name stands for its FrameSampling, as in FeaturizerConfig."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from media import write_audio, write_video
from reelsense.errors import ParameterError
from reelsense.io import DecodeLimits, FrameSampling, decode, probe, read_audio, read_frames, read_sidecar


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "v.mp4", duration_seconds=2.0, fps=10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fps": float("inf")}, "fps=inf must be a finite number"),  # looped forever in FrameSink
        ({"fps": float("nan")}, "fps=nan"),
        ({"fps": 1e300}, "fps=1e\\+300 must be <= 1000"),
        ({"fps": "2"}, "fps='2' must be a number"),
        ({"count": 2.5}, "count=2.5 must be an integer"),
        ({"count": 0}, "count=0 must be >= 1"),
        ({"count": True}, "count=True must be an integer"),
        ({"max_side": "a"}, "max_side='a'"),
        ({"max_frames": 1.5}, "max_frames=1.5"),
        ({"min_scene_seconds": float("nan")}, "min_scene_seconds=nan"),
    ],
)
def test_frame_sampling_refuses(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        FrameSampling(**kwargs)


def test_frame_sampling_takes_numpy_integers(video: Path) -> None:
    frames = read_frames(video, FrameSampling(strategy="count", count=np.int64(3)))
    assert len(frames) == 3


@pytest.mark.parametrize(
    ("rate", "match"),
    [
        (22050.5, "sample_rate=22050.5 must be an integer number of Hz"),
        (np.float64(16000), "sample_rate=np.float64\\(16000.0\\) must be an integer"),
        ("22050", "sample_rate='22050' must be an integer"),
        (None, "sample_rate=None must be an integer"),  # said 'no audio decoded'
        (float("nan"), "sample_rate=nan"),
        (1000, "sample_rate=1000 must be in 8000..384000 Hz"),
        (768000, "sample_rate=768000 must be in 8000..384000 Hz"),
    ],
)
def test_read_audio_refuses_a_bad_rate(video: Path, rate: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        read_audio(video, rate)  # type: ignore[arg-type]


def test_read_audio_takes_a_numpy_integer_rate(video: Path) -> None:
    audio = read_audio(video, np.int64(16000))  # type: ignore[arg-type]
    assert audio.sample_rate == 16000 and type(audio.sample_rate) is int


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"audio_sample_rate": 16000.0}, "audio_sample_rate=16000.0"),
        ({"duration_seconds": "2"}, "duration_seconds='2'"),
        ({"start_seconds": "1"}, "start_seconds='1'"),
        ({"resample_quality": "BOGUS"}, "resample_quality='BOGUS' must be one of QQ, LQ, MQ, HQ, VHQ"),
        ({"frames": "everything"}, "strategy='everything'"),
        ({"frames": 3}, "frames=3 must be a FrameSampling or a strategy name"),
        ({"threads": 1.5}, "threads=1.5 must be an integer"),
        ({"limits": {"max_pixels": 1}}, "limits=.* must be a DecodeLimits"),
    ],
)
def test_decode_refuses(video: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        decode(video, audio_sample_rate=kwargs.pop("audio_sample_rate", 16000), **kwargs)


def test_a_strategy_name_is_its_frame_sampling(video: Path) -> None:
    by_name = read_frames(video, "keyframes")
    assert by_name.strategy == "keyframes"
    assert np.array_equal(by_name.frames, read_frames(video, FrameSampling(strategy="keyframes")).frames)
    decoded = decode(video, frames="uniform")
    assert decoded.frames is not None and decoded.frames.strategy == "uniform"


@pytest.mark.parametrize("call", [probe, read_sidecar, lambda p: read_audio(p), lambda p: read_frames(p)])
def test_a_path_that_is_not_a_path(call: Any) -> None:
    with pytest.raises(ParameterError, match="=None must be a path"):
        call(None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_audio_seconds": 0}, "max_audio_seconds=0 must be a number of seconds > 0"),
        ({"max_audio_seconds": -1}, "max_audio_seconds=-1"),
        ({"max_audio_seconds": float("nan")}, "max_audio_seconds=nan"),
        ({"max_duration_seconds": "1"}, "max_duration_seconds='1'"),
        ({"max_pixels": 0}, "max_pixels=0 must be >= 1"),
        ({"max_file_bytes": 1.5}, "max_file_bytes=1.5 must be an integer"),
    ],
)
def test_decode_limits_refuse(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        DecodeLimits(**kwargs)


@pytest.mark.parametrize("duration", [math.inf, 700.0, None])
def test_no_truncation_warning_when_the_file_is_shorter_than_the_limit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, duration: float | None
) -> None:
    path = write_audio(tmp_path / "a.wav", duration_seconds=2.0)
    with caplog.at_level(logging.WARNING, logger="reelsense.io"):
        result = decode(path, audio_sample_rate=16000, duration_seconds=duration)
    assert not [w for w in result.warnings if "truncated" in w]
    assert "truncated" not in caplog.text


def test_the_truncation_warning_when_the_limit_cuts(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.wav", duration_seconds=2.0)
    for duration in (math.inf, None, 1.5):
        result = decode(
            path,
            audio_sample_rate=16000,
            duration_seconds=duration,
            limits=DecodeLimits(max_audio_seconds=1.0),
        )
        assert result.audio is not None and result.audio.duration_seconds == pytest.approx(1.0, abs=0.01)
        assert "audio truncated to max_audio_seconds=1.0" in result.warnings


def test_no_limit_and_an_unknown_length_is_no_truncation() -> None:
    """``max_audio_seconds=inf`` (no limit) on a file whose length is unknown: not truncated
    (the check multiplied the limit by the rate and raised OverflowError)."""
    import numpy as np

    from reelsense.io._decode import _audio_truncated
    from reelsense.io._types import AudioSamples, MediaInfo

    audio = AudioSamples(samples=np.zeros(16000, dtype=np.float32), sample_rate=16000, start_seconds=0.0)
    unknown = MediaInfo(path="x", container="x", duration_seconds=0.0, has_audio=True, has_video=False)
    assert not _audio_truncated(audio, unknown, 0.0, None, DecodeLimits(max_audio_seconds=math.inf))
    assert _audio_truncated(audio, unknown, 0.0, None, DecodeLimits(max_audio_seconds=1.0))
