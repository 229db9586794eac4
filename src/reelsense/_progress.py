"""The progress callback of library functions that run in named stages, and the helper that
reports a stage of a few steps.

A function taking ``progress: ProgressCallback | None`` calls ``progress(stage, done, total)``
as each stage advances: ``done`` grows from 0 to ``total`` (a stage may end before it, as EM
does when the held-out error stops improving). Private: every package may import it; the
public name is :data:`reelsense.sounds.discover.ProgressCallback`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ProgressCallback", "stage"]

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a named stage advances."""


@contextmanager
def stage(progress: ProgressCallback | None, name: str, steps: int = 1) -> Iterator[Callable[[], None]]:
    """Report the stage ``name`` of ``steps`` steps to ``progress`` (nothing when it is None):
    ``(name, 0, steps)`` on entry, ``(name, steps, steps)`` when the block ends normally. The
    block gets a callable that reports one more step done, for the steps before the last
    (``(name, 1, steps)``, ``(name, 2, steps)``, ...). When the block raises, the stage's end
    is not reported."""
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if progress is not None and done < steps:
            progress(name, done, steps)

    if progress is not None:
        progress(name, 0, steps)
    yield advance
    if progress is not None:
        progress(name, steps, steps)
