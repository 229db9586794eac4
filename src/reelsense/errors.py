"""One error hierarchy for reelsense.

Every exception the library raises on purpose derives from :class:`ReelsenseError`,
so callers can catch that one class. Messages name the bad value (a path, a parameter
and what was given) so that a log line is enough to act on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DecodeError",
    "MediaLimitError",
    "ModelNotFoundError",
    "OutputError",
    "ParameterError",
    "ReelsenseError",
    "SidecarError",
    "SoundIndexError",
    "SoundIndexFormatError",
]


class ReelsenseError(Exception):
    """Root of every error reelsense raises on purpose."""


class ParameterError(ReelsenseError, ValueError):
    """A parameter has a value outside what the function accepts."""


class DecodeError(ReelsenseError):
    """A media file could not be opened or decoded.

    Attributes:
        path: the file that failed.
        cause: a short human-readable reason.
    """

    def __init__(self, path: str | Path, cause: str) -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"cannot decode {self.path!r}: {cause}")

    def __reduce__(self) -> tuple[type[DecodeError], tuple[str, str]]:
        # Rebuild from (path, cause) so the error survives a process pool round trip.
        return (type(self), (self.path, self.cause))


class MediaLimitError(DecodeError):
    """A media file exceeds a configured safety limit (duration, pixels, ...)."""


class SidecarError(ReelsenseError):
    """A sidecar or manifest file is malformed."""


class ModelNotFoundError(ReelsenseError, LookupError):
    """A model name or path does not resolve to weights on this machine."""


class SoundIndexError(ReelsenseError):
    """A sound index operation failed (unknown id, locked, ...)."""


class SoundIndexFormatError(SoundIndexError):
    """A file is not a sound index, or has an unsupported format version."""


class OutputError(ReelsenseError):
    """An output file cannot be written or resumed (e.g. written with another config)."""
