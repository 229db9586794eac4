"""Calls that must fail at once on a named pipe, which a plain ``open()`` would wait on."""

from __future__ import annotations

import threading
from collections.abc import Callable


def raised_without_blocking(call: Callable[[], object], error: type[BaseException]) -> BaseException:
    """The ``error`` that ``call()`` raises, called in a daemon thread: a call that blocks (a
    FIFO opened for reading waits for a writer) leaves the thread alive, and the test fails
    after 30 s instead of hanging."""
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            call()
        except error as exc:
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=30)  # never reached when the call returns at once
    assert outcome, f"{call!r} blocked, or raised no {error.__name__}"
    return outcome[0]
