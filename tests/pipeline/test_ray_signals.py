"""SIGTERM under ``reelsense embed --engine ray``: the command stops as on Ctrl-C (rows kept,
the resume message, exit code 130) although ``ray.init`` installs its own SIGTERM handler.

A module of its own: the engine must start (and stop) the Ray session itself, which it does
only when none is running (``test_ray_engine`` keeps one open for its module)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from media import write_audio
from reelsense.cli import main
from reelsense.pipeline._writer import SHARD_PATTERN, OutputWriter

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]


def test_sigterm_during_a_ray_run_stops_it_as_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if ray.is_initialized():
        pytest.skip("a Ray session is already running: the engine would not start its own")
    videos = tmp_path / "in"
    videos.mkdir()
    for k in range(3):
        write_audio(videos / f"a{k}.wav", duration_seconds=0.5, seed=k)
    out = tmp_path / "shards"
    during: list[object] = []
    add_table = OutputWriter.add_table

    def add_then_terminate(self: OutputWriter, table: object) -> None:
        add_table(self, table)  # type: ignore[arg-type]
        during.append(signal.getsignal(signal.SIGTERM))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)  # the handler interrupts this at once
        raise AssertionError("SIGTERM did not stop the run")

    def ours(signum: int, frame: object) -> None:  # what SIGTERM does outside the command
        pass

    monkeypatch.setattr(OutputWriter, "add_table", add_then_terminate)
    previous = signal.signal(signal.SIGTERM, ours)
    try:
        args = ["embed", str(videos), "-o", str(out), "--engine", "ray", "--preset", "none"]
        result = CliRunner().invoke(main, args)
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "run the same command again to resume" in result.output
    assert "Traceback" not in result.output
    from reelsense.cli._main import _interrupt

    assert during and during[0] is _interrupt  # the command's handler, not Ray's, during the run
    assert after is ours  # given back after the command
    assert not ray.is_initialized()  # the session it started is shut down
    # the block that came back before the signal is kept, each id once
    shards = [p for p in out.iterdir() if SHARD_PATTERN.match(p.name)]
    ids = [vid for shard in shards for vid in pq.read_table(shard)["video_id"].to_pylist()]
    assert ids and len(ids) == len(set(ids)) and set(ids) <= {"a0", "a1", "a2"}
