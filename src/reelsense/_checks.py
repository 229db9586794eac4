"""Argument checks shared by the public entry points of every package.

Each check raises :class:`~reelsense.errors.ParameterError` naming the argument and the value
it got (:func:`check_outputs_apart`: :class:`~reelsense.errors.OutputError`), and returns the
value in the form the caller uses (a Python ``int`` for a numpy integer, a list of paths for a
sequence). Private: the engine (``pipeline``) may import it.
"""

from __future__ import annotations

import math
import numbers
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from reelsense.errors import OutputError, ParameterError

__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "check_bool",
    "check_choice",
    "check_files",
    "check_finite",
    "check_int",
    "check_number",
    "check_outputs_apart",
    "check_path",
    "check_paths",
    "check_positive",
    "check_sample_rate",
    "check_str",
]

#: The sample rates (Hz) every public function accepts, for audio it decodes and for arrays it
#: is given: 8 kHz (telephone audio; the lowest rate whose Nyquist frequency clears the
#: loudness filter's shelf with room to spare) to 384 kHz (the highest studio rate).
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384_000


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (a Python or numpy integer, not a bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name}={value!r} must be an integer, got {type(value).__name__}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ParameterError(f"{name}={number} must be >= {minimum}")
    return number


def check_str(value: object, name: str) -> str:
    """``value`` if it is a ``str`` (None, bytes and numbers are refused)."""
    if not isinstance(value, str):
        raise ParameterError(f"{name}={value!r:.80} must be a str, got {type(value).__name__}")
    return value


def check_bool(value: object, name: str) -> bool:
    """``value`` as a ``bool`` if it is True or False, a numpy bool included (a string such as
    ``"no"``, 1 or None is refused: each would be read as a truth value, ``"no"`` as True)."""
    if isinstance(value, bool):
        return value
    dtype = getattr(value, "dtype", None)  # a numpy bool scalar, without importing numpy here
    if getattr(dtype, "kind", None) == "b" and getattr(value, "ndim", None) == 0:
        return bool(value)
    raise ParameterError(f"{name}={value!r} must be True or False")


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name}={value!r} must be a number, got {type(value).__name__}")
    return float(value)


def check_number(value: object, name: str) -> float:
    """``value`` as a ``float`` (a Python or numpy real number, not a bool or a string), not NaN;
    ``inf`` passes (for a bound that may mean "never")."""
    number = _real(value, name)
    if math.isnan(number):
        raise ParameterError(f"{name}={value!r} must be a number, not NaN")
    return number


def check_finite(value: object, name: str) -> float:
    """``value`` as a finite ``float`` (a Python or numpy real number, not a bool or a string)."""
    number = _real(value, name)
    if not math.isfinite(number):
        raise ParameterError(f"{name}={value!r} must be a finite number")
    return number


def check_positive(value: object, name: str) -> float:
    """``value`` as a finite ``float`` > 0."""
    number = check_finite(value, name)
    if number <= 0.0:
        raise ParameterError(f"{name}={value!r} must be > 0")
    return number


def check_sample_rate(value: object, name: str = "sample_rate") -> int:
    """``value`` as an ``int`` number of Hz in [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`]:
    a Python or numpy integer (``16000.0``, ``"16000"``, ``None`` and bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name}={value!r} must be an integer number of Hz, got {type(value).__name__}")
    rate = int(value)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ParameterError(f"{name}={rate} must be in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    return rate


def check_path(value: object, name: str) -> str | os.PathLike[str]:
    """``value`` if it is a path (``str`` or ``os.PathLike``)."""
    if not isinstance(value, str | os.PathLike):
        raise ParameterError(
            f"{name}={value!r} must be a path (str or os.PathLike), got {type(value).__name__}"
        )
    return value


def check_paths(value: object, name: str, item: str = "path") -> None:
    """Refuse a bare path where a sequence of paths is needed: a ``str``, ``bytes`` or
    ``os.PathLike`` would otherwise be iterated character by character (``"videos"`` as
    ``'v', 'i', ...``), and anything that is not iterable. The items are left to the caller."""
    if isinstance(value, str | bytes | os.PathLike):
        raise ParameterError(
            f"{name}={value!r} is a single {item}: pass a list of {item}s, e.g. [{os.fsdecode(value)!r}]"
        )
    if not isinstance(value, Iterable):
        raise ParameterError(f"{name}={value!r} must be a list of {item}s, got {type(value).__name__}")


def check_choice(value: object, name: str, choices: Iterable[str]) -> None:
    """ParameterError naming ``name``, ``value`` and the ``choices`` unless ``value`` is one of them."""
    options = tuple(choices)
    if value not in options:
        raise ParameterError(f"{name}={value!r} must be one of {', '.join(options)}")


def check_files(paths: Iterable[object], name: str) -> None:
    """Refuse a folder among ``paths`` where media files are needed: decoded, it would be one
    failed item, and the files inside it never looked at. Names the folder and how to list
    its media files. Other items are left to the caller (one ``stat`` per path)."""
    for path in paths:
        if isinstance(path, str | os.PathLike) and Path(path).is_dir():
            text = os.fspath(path)
            raise ParameterError(
                f"{name}: {text!r} is a folder, not a media file: pass its files, e.g. "
                f"[f.path for f in reelsense.io.walk_media([{text!r}])]"
            )


def check_outputs_apart(
    outputs: Mapping[str, str | os.PathLike[str] | None], inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Refuse, before anything is read or written, an output (``{argument: path}``, None
    skipped) that is one of the ``inputs`` files or that another output names too: writing it
    would destroy an input, or one output would overwrite the other. An output is an input when
    both are the same file (links followed; compared by device and inode); folders among the
    inputs are left out. An output that does not exist yet is no input, so the inputs are
    looked at only when one exists: a batch of many files then pays one ``stat`` per file."""
    seen: dict[Path, str] = {}
    existing: dict[tuple[int, int], tuple[str, str | os.PathLike[str]]] = {}
    for name, path in outputs.items():
        if path is None:
            continue
        where = Path(path).resolve()
        if where in seen:
            raise OutputError(
                f"{name}={os.fspath(path)!r} is also {seen[where]}: one would overwrite the other"
            )
        seen[where] = name
        try:
            info = Path(path).stat()
        except OSError:
            continue
        existing[(info.st_dev, info.st_ino)] = (name, path)
    if not existing:
        return
    for item in inputs:
        if item is None:
            continue
        try:
            found = Path(item).stat()
        except OSError:
            continue
        key = (found.st_dev, found.st_ino)
        if key in existing and not stat.S_ISDIR(found.st_mode):
            name, path = existing[key]
            source = os.fspath(item)
            raise OutputError(f"{name}={os.fspath(path)!r} is the input {source!r}: it would be overwritten")
