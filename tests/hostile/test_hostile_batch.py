"""One crawled folder holding a case of every hostile class, through every batch command:
no traceback, one row per file, nothing lost. Plus Hypothesis fuzzing of the decode entry
points on damaged copies of valid files."""

from __future__ import annotations

import csv
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from media import write_audio, write_video
from music import make_notes, render
from reelsense.cli import main
from reelsense.errors import ReelsenseError
from reelsense.featurize._audio_stages import AudioDescriptorStage
from reelsense.io import FrameSampling, decode, path_text, probe, read_audio
from reelsense.pipeline import JobSpec, RunConfig, run_job

SR = 22050
BAD_NAME = os.fsdecode(b"bad\xff.mp4")


def _header_only_wav(path: Path) -> None:
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, SR, SR * 2, 2, 16)
    path.write_bytes(
        b"RIFF" + struct.pack("<I", 4 + len(fmt) + 8) + b"WAVE" + fmt + b"data" + struct.pack("<I", 0)
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    song = render(make_notes(7, 8.0), 8.0, SR)
    write_video(root / BAD_NAME, duration_seconds=3.0, audio=song[: 3 * SR], sample_rate=SR)
    write_video(root / "x.mp4", duration_seconds=1.0, seed=1)
    write_video(root / "x.MP4", duration_seconds=1.0, seed=2)  # an id clash
    write_video(root / "claims.mp4", duration_seconds=1.0, seed=3)
    (root / "claims.info.json").write_text('{"id": "x", "timestamp": 1e400, "uploader": "a\\ud800"}')
    write_video(root / "deep.mp4", duration_seconds=1.0, seed=4)
    (root / "deep.info.json").write_text("[" * 100_000 + "]" * 100_000)
    write_audio(root / "silent.wav", np.zeros(SR, dtype=np.float32), sample_rate=SR)
    write_audio(root / "short.wav", song[: SR // 40], sample_rate=SR)  # 25 ms
    _header_only_wav(root / "header.wav")
    write_audio(root / "song.wav", song, sample_rate=SR)
    os.mkfifo(root / "pipe.mp4")
    (root / "gone.mp4").symlink_to(root / "missing.mp4")
    (root / "zero.mp4").symlink_to("/dev/zero")
    (root / "empty.mp4").write_bytes(b"")
    (root / "junk.mp4").write_bytes(os.urandom(3000))
    return root


OK = {"bad\\xff", "x.mp4", "x.MP4", "deep", "song"}  # plus the clashing sidecar id
ERRORS = {"silent", "short", "header", "pipe", "gone", "zero", "empty", "junk"}


def test_embed_survives_every_class(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    summary = run_job(
        [hostile], out, JobSpec((AudioDescriptorStage(),), (), audio_sample_rate=SR), RunConfig(workers=1)
    )
    rows = {r["video_id"]: r for r in pq.read_table(out).to_pylist()}
    assert summary.found == len(rows) == len(OK) + len(ERRORS) + 1
    assert {v for v, r in rows.items() if r["status"] == "error"} == ERRORS
    claimed = [v for v in rows if v.startswith("x.mp4~")]
    assert len(claimed) == 2  # x.mp4 and the sidecar claiming "x" with the same extension
    assert rows["bad\\xff"]["path"] == path_text(str(hostile / BAD_NAME))
    assert "FIFO" in rows["pipe"]["error"] and "dangling" in rows["gone"]["error"]
    assert "character device" in rows["zero"]["error"] and "no usable audio" in rows["silent"]["error"]
    for name, reason in [("silent", "the audio is silent (peak 0)"), ("short", "25 ms of audio, less than")]:
        # said "no usable audio in '...short.wav': no usable audio (treated as absent): 25 ms ..."
        error = rows[name]["error"]
        assert error.startswith("no usable audio in ") and error.count("no usable audio") == 1, error
        assert f"{name}.wav': {reason}" in error and "treated as absent" not in error, error
    claimer = next(r for r in rows.values() if r["path"].endswith("claims.mp4"))
    assert claimer["timestamp"] is None and claimer["uploader"] is None and claimer["warnings"]
    assert any("malformed JSON" in w for w in rows["deep"]["warnings"])


def test_sound_commands_survive_every_class(hostile: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    index = tmp_path / "idx.rsidx"
    r = runner.invoke(
        main, ["sounds", "add", str(hostile), "--sound-index", str(index), "-w", "1", "--no-progress"]
    )
    assert (r.exit_code == 1 and r.exception is None) or isinstance(r.exception, SystemExit), r.output
    assert "Traceback" not in r.output
    out = tmp_path / "m.csv"
    r = runner.invoke(
        main,
        [
            "sounds",
            "match",
            str(hostile),
            "--sound-index",
            str(index),
            "-o",
            str(out),
            "-w",
            "1",
            "--no-progress",
        ],
    )
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    with out.open(encoding="utf-8") as f:
        rows = {row["video_id"]: row for row in csv.DictReader(f)}
    # the escaped name is an indexed sound itself, and matches (itself or the song it holds)
    assert rows["bad\\xff"]["status"] == "ok" and rows["bad\\xff"]["sound_id"] in {"bad\\xff", "song"}
    assert rows["pipe"]["status"] == "error"
    disc = tmp_path / "d.csv"
    r = runner.invoke(main, ["sounds", "discover", str(hostile), "-o", str(disc), "--no-progress"])
    assert r.exit_code in (0, 1) and "Traceback" not in r.output, r.output
    disc.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- decode fuzzing


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("seeds")
    song = render(make_notes(3, 1.0), 1.0, SR)
    paths = [
        write_video(root / "v.mp4", duration_seconds=0.5),
        write_video(root / "v.webm", duration_seconds=0.5),
        write_audio(root / "a.wav", song, sample_rate=SR),
        write_audio(root / "a.mp3", song, sample_rate=SR),
        write_audio(root / "a.flac", song, sample_rate=SR),
    ]
    return {Path(p).suffix: Path(p).read_bytes() for p in paths}


@settings(max_examples=40)
@given(
    suffix=st.sampled_from([".mp4", ".webm", ".wav", ".mp3", ".flac"]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=8),
    keep=st.floats(0.0, 1.0),
)
def test_fuzz_decode_entry_points(
    tmp_path_factory: pytest.TempPathFactory,
    seeds: dict[str, bytes],
    suffix: str,
    flips: list[tuple[float, int]],
    keep: float,
) -> None:
    data = bytearray(seeds[suffix])
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    path = tmp_path_factory.mktemp("fuzz") / f"f{suffix}"
    path.write_bytes(bytes(data[: max(1, int(keep * len(data)))]))
    for call in (
        lambda: probe(path),
        lambda: read_audio(path, SR),
        lambda: decode(path, audio_sample_rate=SR, frames=FrameSampling("scenes", max_side=64)),
    ):
        try:
            result = call()
        except ReelsenseError:
            continue  # a named refusal: the only failure allowed
        audio = getattr(result, "audio", result if hasattr(result, "samples") else None)
        if audio is not None and hasattr(audio, "samples"):
            assert np.isfinite(audio.samples).all() and audio.samples.shape[0] >= SR // 10
