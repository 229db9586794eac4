"""The ``reelsense`` command group's exits: the codes, and signals around a command."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from media import write_video
from reelsense.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: runs ``reelsense ARGS`` as its own process, with a signal to itself once Python shuts down
#: (an exit hook registered before the command's, so run after theirs)
_LATE_SIGNAL = """
import atexit, os, signal, sys
late = getattr(signal, sys.argv[1])
atexit.register(lambda: os.kill(os.getpid(), late))
sys.argv = ["reelsense", *sys.argv[2:]]
from reelsense.cli import main
main()
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_python_shuts_down_ends_quietly_with_130(tmp_path: Path, signame: str) -> None:
    """A Ctrl-C (or SIGTERM) landing after the command printed its summary, in an exit hook:
    no traceback (a KeyboardInterrupt in the hook printed one), and exit code 130 (it was 0)."""
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "a.mp4", duration_seconds=0.5)
    out = tmp_path / "o.parquet"
    args = ["embed", str(tmp_path / "in"), "-o", str(out), "--preset", "none", "-w", "1"]
    done = subprocess.run(
        [sys.executable, "-c", _LATE_SIGNAL, signame, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "1 processed (1 ok, 0 errors)" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert done.returncode == 130, done.stderr


def test_a_command_run_in_process_puts_the_signal_handlers_back() -> None:
    """A caller running the command in its own process (CliRunner here) keeps its handlers."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} == before
