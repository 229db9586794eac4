"""Kill ``reelsense embed`` with SIGKILL mid-run, run it again: same rows as a clean run,
no duplicates, and nothing that was finished is computed again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline_media import BAD_IDS, GOOD_IDS, make_batch

from reelsense.pipeline._writer import parts_dir_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

ALL_IDS = sorted(GOOD_IDS + BAD_IDS)
HUNG = "sidecar-id"  # withinfo.mp4, the last file of the batch in walk order


def _embed(
    src: Path, out: Path, log: Path, *extra: str, faults: dict[str, object] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "REELSENSE_WORK_LOG": str(log)}
    env.pop("REELSENSE_TEST_FAULTS", None)
    if faults:
        env["REELSENSE_TEST_FAULTS"] = json.dumps(faults)
    return subprocess.Popen(
        [sys.executable, "-m", "reelsense", "embed", str(src), "-o", str(out), "--no-progress", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches the workers too
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Exit code (1 when some video of the run failed) and output of a finished run."""
    stdout, stderr = proc.communicate()
    assert proc.returncode in (0, 1) and "Traceback" not in stderr, stderr
    return proc.returncode, stdout


def _ids(paths: list[Path]) -> list[str]:
    return [v for p in paths for v in pq.read_table(p, columns=["video_id"])["video_id"].to_pylist()]


def _sorted_rows(path: Path) -> pa.Table:
    return pq.read_table(path).replace_schema_metadata(None).sort_by("video_id")


def test_kill_then_resume_matches_clean_run(tmp_path: Path) -> None:
    src = make_batch(tmp_path / "in")
    out = tmp_path / "out.parquet"
    parts = parts_dir_for(out)
    log1, log2 = tmp_path / "run1.log", tmp_path / "run2.log"

    # run 1: one worker, a part every 2 rows, and the video that walks last (withinfo.mp4:
    # names sorted by code point) hangs for good, so the run cannot finish whatever the
    # machine's speed; SIGKILL once a part exists
    proc = _embed(src, out, log1, "--workers", "1", "--flush-rows", "2", faults={"hang_ids": [HUNG]})
    while not list(parts.glob("part-*.parquet")):
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL

    assert not out.exists()
    finished = _ids(sorted(parts.glob("part-*.parquet")))
    assert 2 <= len(finished) < len(ALL_IDS) and HUNG not in finished, finished  # whole parts only
    assert len(set(finished)) == len(finished)

    # run 2: same command, no faults; resumes
    code, stdout = _finish(_embed(src, out, log2, "--workers", "1", "--flush-rows", "2"))
    assert f"{len(finished)} already in the output" in stdout
    recomputed = log2.read_text().split()
    assert code == (1 if set(BAD_IDS) & set(recomputed) else 0)  # 1: a file of this run failed
    assert sorted(recomputed) == sorted(set(ALL_IDS) - set(finished))  # finished ones not recomputed
    assert not parts.exists()

    # a clean run of the same inputs gives the same rows
    clean = tmp_path / "clean.parquet"
    assert _finish(_embed(src, clean, tmp_path / "clean.log", "--workers", "2"))[0] == 1
    resumed, expected = _sorted_rows(out), _sorted_rows(clean)
    assert resumed["video_id"].to_pylist() == ALL_IDS  # no duplicates, nothing lost
    assert resumed.equals(expected)


def test_checkpoint_by_time_while_a_video_hangs(tmp_path: Path) -> None:
    """Rows are written at least every ``--flush-seconds`` even when no further row comes
    (the last video hangs for good, and ``--flush-rows`` is never reached): a kill then
    loses only the hung video. A kill before the first checkpoint loses nothing finished
    either: the next run simply does everything."""
    src = make_batch(tmp_path / "in")
    out = tmp_path / "out.parquet"
    parts = parts_dir_for(out)

    # killed at once, before any checkpoint: nothing written, the rerun below does it all
    early = _embed(src, out, tmp_path / "early.log", "--workers", "1", faults={"hang_ids": [HUNG]})
    os.killpg(early.pid, signal.SIGKILL)
    early.wait()
    assert not out.exists()

    proc = _embed(
        src,
        out,
        tmp_path / "run1.log",
        "--workers",
        "1",
        "--flush-rows",
        "1000",
        "--flush-seconds",
        "0.5",
        faults={"hang_ids": [HUNG]},
    )
    # one worker: the hung video holds it, so what walks before it is all that can finish
    before = {"clip0", "clip1", "empty", "song", "text"}
    while not before <= set(_ids(sorted(parts.glob("part-*.parquet")))):
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = set(_ids(sorted(parts.glob("part-*.parquet"))))

    _code, stdout = _finish(_embed(src, out, tmp_path / "run2.log", "--workers", "1"))
    assert f"{len(finished)} already in the output" in stdout
    assert sorted((tmp_path / "run2.log").read_text().split()) == sorted(set(ALL_IDS) - finished)
    assert pq.read_table(out)["video_id"].to_pylist() == ALL_IDS
