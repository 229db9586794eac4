"""Bad inputs, truncated files, limits and parameters: every failure is a DecodeError
naming the file and the cause."""

from __future__ import annotations

import os
import pathlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from media import write_audio, write_bytes, write_video
from reelsense.errors import DecodeError, MediaLimitError, ParameterError, ReelsenseError
from reelsense.io import DecodeLimits, FrameSampling, decode, probe, read_audio


def _fails(path: Path, cause: str) -> DecodeError:
    for call in (lambda: probe(path), lambda: decode(path, audio_sample_rate=16000, frames=FrameSampling())):
        with pytest.raises(DecodeError, match=cause) as err:
            call()
        assert err.value.path == str(path) and str(path) in str(err.value)
        assert isinstance(err.value, ReelsenseError)
    return err.value


def test_missing_file(tmp_path: Path) -> None:
    _fails(tmp_path / "nope.mp4", "does not exist")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    _fails(folder, "is a directory")


def test_zero_bytes(tmp_path: Path) -> None:
    _fails(write_bytes(tmp_path / "empty.mp4", b""), "empty")


def test_text_renamed_mp4(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "notes.mp4", b"this is not a video\n" * 200)
    _fails(path, "not a readable media file")


def test_random_bytes(tmp_path: Path, rng: np.random.Generator) -> None:
    path = write_bytes(tmp_path / "noise.webm", rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    _fails(path, "cannot decode")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever the mode")
def test_unreadable_file_permissions(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "locked.wav")
    path.chmod(0)
    try:
        _fails(path, "permission denied")
    finally:
        path.chmod(0o644)


def test_unreadable_file_os_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root chmod cannot make a file unreadable: make the OS refuse the open instead."""
    path = write_audio(tmp_path / "locked.wav")
    real_open = pathlib.Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", refuse)
    _fails(path, "permission denied")


def test_truncated_mp4_without_index(tmp_path: Path) -> None:
    data = write_video(tmp_path / "full.mp4", duration_seconds=2.0).read_bytes()
    _fails(write_bytes(tmp_path / "cut.mp4", data[: len(data) * 3 // 4]), "truncated")


@pytest.mark.parametrize(("ext", "faststart"), [("mp4", True), ("mkv", False), ("webm", False)])
def test_truncated_keeps_most_or_raises(tmp_path: Path, ext: str, faststart: bool) -> None:
    full = write_video(tmp_path / f"full.{ext}", duration_seconds=4.0, faststart=faststart)
    data = full.read_bytes()
    most = write_bytes(tmp_path / f"most.{ext}", data[: len(data) * 4 // 5])
    result = decode(most, audio_sample_rate=16000, frames=FrameSampling(fps=2))
    assert result.audio is not None and 2.0 < result.audio.duration_seconds < 3.8
    assert result.frames is not None and 4 <= len(result.frames) < 8
    assert any("truncated" in w or "damaged" in w for w in result.warnings)
    little = write_bytes(tmp_path / f"little.{ext}", data[: len(data) // 4])
    with pytest.raises(DecodeError, match="truncated") as err:
        decode(little, audio_sample_rate=16000, frames=FrameSampling(fps=2))
    assert str(little) in str(err.value)


def test_damaged_packets_mid_stream_are_skipped(tmp_path: Path) -> None:
    data = bytearray(write_video(tmp_path / "full.mp4", duration_seconds=4.0).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8).tobytes()
    result = decode(
        write_bytes(tmp_path / "damaged.mp4", bytes(data)),
        audio_sample_rate=16000,
        frames=FrameSampling(fps=2),
    )
    assert result.audio is not None and result.audio.duration_seconds > 3.5
    assert result.frames is not None and len(result.frames) == 8
    assert any("damaged packet" in w for w in result.warnings)


@pytest.mark.parametrize("ext", ["mp3", "flac"])
def test_truncated_audio_file(tmp_path: Path, ext: str) -> None:
    data = write_audio(tmp_path / f"full.{ext}", duration_seconds=4.0).read_bytes()
    most = write_bytes(tmp_path / f"most.{ext}", data[: len(data) * 4 // 5])
    audio = read_audio(most, 16000)
    assert 2.5 < audio.duration_seconds < 3.9
    with pytest.raises(DecodeError, match="truncated"):
        read_audio(write_bytes(tmp_path / f"little.{ext}", data[: len(data) // 5]))


@pytest.mark.parametrize(
    ("limits", "cause"),
    [
        (DecodeLimits(max_file_bytes=1000), "max_file_bytes"),
        (DecodeLimits(max_duration_seconds=0.5), "max_duration_seconds"),
        (DecodeLimits(max_pixels=64 * 100), "max_pixels"),
    ],
)
def test_limits_raise_before_decoding(tmp_path: Path, limits: DecodeLimits, cause: str) -> None:
    path = write_video(tmp_path / "clip.mp4", duration_seconds=1.0)
    for call in (
        lambda: probe(path, limits=limits),
        lambda: decode(path, audio_sample_rate=16000, frames=FrameSampling(), limits=limits),
    ):
        with pytest.raises(MediaLimitError, match=cause) as err:
            call()
        assert str(path) in str(err.value)
    assert decode(path, audio_sample_rate=16000).audio is not None  # default limits pass


@pytest.mark.parametrize(
    "kwargs",
    [
        {"audio_sample_rate": 0},
        {"audio_sample_rate": 10_000_000},
        {"start_seconds": -1.0},
        {"start_seconds": float("nan")},
        {"duration_seconds": 0.0},
        {"threads": -1},
        {"thread_type": "MANY"},
        {"start_seconds": 5.0},  # past the end of a 1 s file
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict[str, object]) -> None:
    path = write_audio(tmp_path / "a.wav")
    with pytest.raises(ParameterError):
        decode(path, **kwargs)  # type: ignore[arg-type]
