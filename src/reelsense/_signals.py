"""Keeping the caller's SIGINT and SIGTERM handlers across ``ray.init``.

``ray.init`` installs its own SIGTERM handler (``sys.exit(15)``; Ray's core worker also adds
a C handler that prints a stack dump), which bypasses the caller's: the CLI's stops a command
as Ctrl-C does (rows kept, the resume message, exit code 130). Whatever in reelsense starts
Ray (the Ray engine, :class:`~reelsense.sounds.index.RayShardedIndex`) takes the handlers
before and puts back the ones the caller set. Where the caller has none (the default: die at
once), Ray's is kept while Ray runs: its ``SystemExit`` unwinds the work, so buffered rows are
written and Ray's processes stopped (dying at once left Ray's agents running).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["KEPT_SIGNALS", "restore_signal_handlers", "signal_handlers"]

#: signals whose handlers a Ray session leaves as the caller set them
KEPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_handlers() -> dict[signal.Signals, Any]:
    """The Python handlers of :data:`KEPT_SIGNALS` now (empty outside the main thread, where
    handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.getsignal(signum) for signum in KEPT_SIGNALS}


def restore_signal_handlers(handlers: dict[signal.Signals, Any], *, default_too: bool) -> None:
    """Put back ``handlers`` (from :func:`signal_handlers`) where something replaced them; a
    default handler (``SIG_DFL``) only with ``default_too`` (see the module docstring). A
    handler that was not set from Python (None) cannot be put back and is left alone."""
    for signum, handler in handlers.items():
        if handler is None or (handler is signal.SIG_DFL and not default_too):
            continue
        if signal.getsignal(signum) is not handler:
            signal.signal(signum, handler)
