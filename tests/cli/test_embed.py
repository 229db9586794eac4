"""``reelsense embed`` through click's CliRunner, on generated media."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from media import write_bytes, write_video
from reelsense.cli import main


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "in"
    (root / "sub").mkdir(parents=True)
    write_video(root / "a.mp4", duration_seconds=1.0, audio="noise")
    write_video(root / "sub" / "b.webm", duration_seconds=1.0)
    write_bytes(root / "broken.mp4", b"")
    write_bytes(root / "notes.mp4", b"just text, not a video\n")
    info = {"id": "777", "description": "caption of a #Test @user", "timestamp": 1730374643, "uploader": "u"}
    (root / "a.info.json").write_text(json.dumps(info), encoding="utf-8")
    return root


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["embed", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_help_lists_options() -> None:
    code, output = _invoke("--help")
    assert code == 0
    for option in (
        "--output",
        "--workers",
        "--ext",
        "--manifest",
        "--overwrite",
        "--retry-errors",
        "--limit-duration",
    ):
        assert option in output


def test_embed_then_resume_then_refuse(small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1")
    assert code == 0, output
    assert "4 videos found: 4 processed (2 ok, 2 errors), 0 already in the output" in output
    assert re.search(r"videos/s", output) and f"output: {out} (4 rows)" in output
    assert "broken: cannot decode" in output and "notes: cannot decode" in output
    assert "first rows:" in output and "#Test" in output  # the example table shows the hashtags
    rows = {r["video_id"]: r for r in pq.read_table(out).to_pylist()}
    assert sorted(rows) == ["777", "broken", "notes", "sub/b"]
    assert rows["777"]["hashtags"] == ["Test"] and rows["777"]["mentions"] == ["user"]

    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1")
    assert code == 0 and "0 processed (0 ok, 0 errors), 4 already in the output" in output

    code, output = _invoke(str(small_dir), "-o", str(out), "--sample-rate", "16000")
    assert code == 1
    assert "Error:" in output and "different configuration" in output and "audio_sample_rate" in output
    assert "--overwrite" in output

    code, output = _invoke(str(small_dir), "-o", str(out), "--sample-rate", "16000", "--overwrite", "-w", "1")
    assert code == 0 and "4 processed" in output


def test_ext_filter_and_manifest(small_dir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"id": "sub/b", "caption": "from the manifest #M"}) + "\n", encoding="utf-8"
    )
    out = tmp_path / "o.parquet"
    code, output = _invoke(
        str(small_dir),
        "-o",
        str(out),
        "--ext",
        "webm",
        "--manifest",
        str(manifest),
        "-w",
        "1",
        "--no-progress",
    )
    assert code == 0, output
    rows = pq.read_table(out).to_pylist()
    assert [(r["video_id"], r["caption"], r["hashtags"]) for r in rows] == [
        ("sub/b", "from the manifest #M", ["M"])
    ]


def test_bad_invocations(small_dir: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o.parquet")
    code, output = _invoke(str(small_dir), "-o", out, "--overwrite", "--retry-errors")
    assert code == 2 and "exclude each other" in output
    code, output = _invoke(str(tmp_path / "missing"), "-o", out)
    assert code == 2 and "does not exist" in output
    code, output = _invoke(str(small_dir))
    assert code == 2 and "--output" in output
    bad_manifest = tmp_path / "m.csv"
    bad_manifest.write_text("caption\nx\n", encoding="utf-8")
    code, output = _invoke(str(small_dir), "-o", out, "--manifest", str(bad_manifest))
    assert code == 1 and "m.csv" in output and "'path' or 'id' column" in output
    assert not Path(out).exists()
