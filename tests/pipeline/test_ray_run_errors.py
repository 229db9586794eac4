"""``RayEngine.run`` when the run stops (Ctrl-C, an error): the error that stopped it is the one
raised, also when writing the rows that came back fails then. No Ray session is started: the
engine's passes are stand-ins."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from reelsense.pipeline._ray import RayEngine


class _FailingWriter:
    """A writer whose writes fail (a full disk); the real one's exit logs that, see
    ``OutputWriter.__exit__``."""

    def __init__(self) -> None:
        self.flushes = 0

    def flush(self) -> list[Any]:
        self.flushes += 1
        raise OSError(28, "No space left on device")


def _engine(stop: BaseException) -> RayEngine:
    engine = object.__new__(RayEngine)  # no Ray: only run()'s own logic is under test
    engine.ray = SimpleNamespace(  # type: ignore[attr-defined]
        data=SimpleNamespace(
            DataContext=SimpleNamespace(
                get_current=lambda: SimpleNamespace(max_errored_blocks=0, enable_progress_bars=True)
            )
        )
    )
    engine.run_config = SimpleNamespace(ray_videos_per_task=4)  # type: ignore[assignment]
    engine.lost = 0

    def stopped(*args: object) -> list[Any]:
        raise stop

    engine._pass = stopped  # type: ignore[method-assign]
    return engine


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), RuntimeError("a block failed")])
def test_the_error_that_stopped_the_run_is_raised_not_a_failed_write(stop: BaseException) -> None:
    writer = _FailingWriter()
    with pytest.raises(type(stop)):
        _engine(stop).run([], writer, SimpleNamespace(progress=None))  # type: ignore[arg-type]
    assert writer.flushes == 0  # the writer's own exit writes what it holds (and logs a failure)


def test_a_run_that_ends_writes_what_came_back() -> None:
    engine = _engine(KeyboardInterrupt())
    engine._pass = lambda *args: []  # type: ignore[method-assign]
    writer = _FailingWriter()
    with pytest.raises(OSError, match="No space left"):  # nothing stopped it: the failure is the error
        engine.run([], writer, SimpleNamespace(progress=None))  # type: ignore[arg-type]
    assert writer.flushes == 1


class _StoppedError(Exception):
    """What a caller's SIGTERM handler raises (the CLI's stops the command as Ctrl-C does)."""


def test_sigterm_while_ray_starts_does_what_the_caller_said() -> None:
    """``ray.init`` puts in Ray's own SIGTERM handler (``sys.exit(15)``) before the session can
    put the caller's back: a SIGTERM while Ray starts (its first seconds) ended the command
    with code 15 and no word. The session hands it to the caller's handler instead, and
    stops what Ray had started."""
    import signal
    import sys

    calls: list[str] = []

    def init(**options: object) -> None:
        calls.append("init")
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))  # as Ray does
        raise SystemExit(signal.SIGTERM)  # a SIGTERM landed while Ray started

    def stop(signum: int, frame: object) -> None:
        raise _StoppedError(signum)

    engine = object.__new__(RayEngine)  # no Ray: only session()'s own logic is under test
    engine.ray = SimpleNamespace(  # type: ignore[attr-defined]
        is_initialized=lambda: False, init=init, shutdown=lambda: calls.append("shutdown")
    )
    engine.run_config = SimpleNamespace(ray_address=None)  # type: ignore[assignment]
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(_StoppedError), engine.session():
            pytest.fail("the session started")
        assert calls == ["init", "shutdown"] and signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, previous)
