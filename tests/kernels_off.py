"""Running reelsense's numpy path in a test that compares it with the compiled kernels."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reelsense.sounds import _kernels

T = TypeVar("T")


def numpy_path(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` with the compiled kernels switched off (and back on as they were after)."""
    available = _kernels.AVAILABLE
    _kernels.AVAILABLE = False
    try:
        return fn(*args)
    finally:
        _kernels.AVAILABLE = available
