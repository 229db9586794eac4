"""One error hierarchy for reelsense.

Every exception the library raises on purpose derives from :class:`ReelsenseError`,
so callers can catch that one class. Messages name the bad value (a path, a parameter
and what was given) so that a log line is enough to act on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DecodeError",
    "ItemFailedError",
    "MediaLimitError",
    "ModelNotFoundError",
    "NoAudioError",
    "NoMediaError",
    "OutputError",
    "ParameterError",
    "ReelsenseError",
    "ResumeMismatchError",
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
        super().__init__(self._message())

    def _message(self) -> str:
        return f"cannot decode {self.path!r}: {self.cause}"

    def __reduce__(self) -> tuple[type[DecodeError], tuple[str, str]]:
        # Rebuild from (path, cause) so the error survives a process pool round trip.
        return (type(self), (self.path, self.cause))


class NoAudioError(DecodeError):
    """A media file has no usable audio: no audio stream, or audio that is too short, silent
    or not finite (:func:`reelsense.io.read_audio`). Not a broken file: a picture-only video
    simply has no sound to match. Its message says so once: ``no usable audio in 'a.mp4': no
    audio stream`` (``cause``: ``no audio stream``, or why the audio is not usable, e.g.
    ``50 ms of audio, less than the 100 ms needed``)."""

    def _message(self) -> str:
        return f"no usable audio in {self.path!r}: {self.cause}"


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


class ItemFailedError(ReelsenseError):
    """A batch run with ``strict`` stopped at the first item that failed.

    Attributes:
        item_id: the video (or file) that failed.
        cause: its error message (also in its error row, when the command writes rows).
    """

    def __init__(self, item_id: str, cause: str) -> None:
        self.item_id = item_id
        self.cause = cause
        super().__init__(f"stopped at the first failure (strict): {item_id}: {cause}")

    def __reduce__(self) -> tuple[type[ItemFailedError], tuple[str, str]]:
        return (type(self), (self.item_id, self.cause))


class NoMediaError(ParameterError):
    """No media file was found under the inputs of a batch."""

    def __init__(self, inputs: object) -> None:
        import os

        try:
            shown = [os.fspath(i) for i in inputs][:3]  # type: ignore[attr-defined]
        except TypeError:
            shown = [str(inputs)]
        self.inputs = shown
        super().__init__(f"no media files found under {', '.join(repr(s) for s in shown)}")

    def __reduce__(self) -> tuple[type[NoMediaError], tuple[list[str]]]:
        return (type(self), (self.inputs,))  # a pickled copy (a worker's) keeps its message


class ResumeMismatchError(OutputError):
    """An existing output was written with another value of one option, so resuming it would
    mix rows computed differently.

    Attributes:
        output: the output path.
        option: the :class:`~reelsense.FeaturizerConfig` field that differs.
        before: its value in the output (None: not used).
        now: its value now.
    """

    def __init__(self, output: str, option: str, before: object, now: object) -> None:
        self.output = output
        self.option = option
        self.before = before
        self.now = now
        super().__init__(
            f"{output!r} was written with {option}={before!r} (now {now!r}); resuming would mix rows "
            "computed differently: overwrite it, or write another output"
        )

    def __reduce__(self) -> tuple[type[ResumeMismatchError], tuple[str, str, object, object]]:
        return (type(self), (self.output, self.option, self.before, self.now))
