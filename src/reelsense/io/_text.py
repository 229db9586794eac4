"""Text that reelsense writes: file names that are not UTF-8 (carried losslessly), free text, CSV numbers.

On POSIX a file name is bytes. Python hands names that are not valid UTF-8 over as
``str`` with *surrogate escapes* (byte ``0xff`` becomes ``"\\udcff"``), which Parquet,
SQLite and UTF-8 CSV files refuse. Every path and id that reelsense writes goes through
:func:`path_text`, which gives a valid Unicode string with one documented escape:

- a byte that is not part of valid UTF-8 is written ``\\xNN`` (two lower-case hex digits);
- a backslash is written ``\\\\`` (doubled), so a name that really contains ``\\xff``
  stays distinct from one containing the byte 0xff;
- everything else is unchanged: a valid UTF-8 name without a backslash is its own text.

:func:`path_from_text` is the exact inverse: ``path_from_text(path_text(p)) == p`` for
every path ``p`` (property-tested); text with a lone backslash not followed by ``\\`` or
``xNN`` (a name typed by hand) is taken literally.

:func:`clean_text` is for free text (captions, error messages): lone surrogates become
their ``\\uXXXX`` spelling, so the text can always be encoded as UTF-8.

:func:`csv_float` writes the fixed-decimal float cells of the ``sounds match``, ``sounds trends``
and ``sounds discover`` CSVs: never an exponent, no sign on a zero, and an empty cell for a
missing (``None``) or non-finite value. :func:`allow_long_csv_fields` lets the CSV readers take
the long captions those files can hold.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from reelsense._checks import check_int, check_str
from reelsense.errors import ParameterError

__all__ = [
    "MAX_CSV_FIELD_CHARS",
    "allow_long_csv_fields",
    "cells_past_header",
    "clean_text",
    "column_names",
    "csv_float",
    "has_surrogates",
    "path_from_text",
    "path_text",
]

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_ESCAPE_RE = re.compile(r"\\(\\|x[0-9a-fA-F]{2})")


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (it cannot be encoded as UTF-8).
    Raises ParameterError when ``text`` is not a ``str``."""
    return _SURROGATE_RE.search(check_str(text, "text")) is not None


def path_text(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """``path`` as valid Unicode text with the escape of the module docstring. Raises
    ParameterError when ``path`` is not a ``str``, ``bytes`` or ``os.PathLike``."""
    if not isinstance(path, str | bytes | os.PathLike):
        raise ParameterError(
            f"path={path!r:.80} must be a path (str, bytes or os.PathLike), got {type(path).__name__}"
        )
    fs = os.fspath(path)
    text = fs.decode("utf-8", "surrogateescape") if isinstance(fs, bytes) else fs
    out: list[str] = []
    if "\\" not in text and not has_surrogates(text):
        return text
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # not from the file system; cannot be a byte
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def path_from_text(text: str) -> str:
    """The file-system path (``str`` with surrogate escapes) that :func:`path_text` gave ``text`` for.
    Raises ParameterError when ``text`` is not a ``str``."""
    if "\\" not in check_str(text, "text"):
        return text
    raw = bytearray()
    pos = 0
    for m in _ESCAPE_RE.finditer(text):
        raw += text[pos : m.start()].encode("utf-8", "surrogateescape")
        token = m.group(1)
        raw += b"\\" if token == "\\" else bytes([int(token[1:], 16)])
        pos = m.end()
    raw += text[pos:].encode("utf-8", "surrogateescape")
    return os.fsdecode(bytes(raw))


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by their ``\\uXXXX`` spelling (always UTF-8-encodable).
    Raises ParameterError when ``text`` is not a ``str``."""
    if not has_surrogates(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: the longest CSV field read back: a caption can be as long as a sidecar (64 MiB)
MAX_CSV_FIELD_CHARS = 64 * 1024 * 1024


def allow_long_csv_fields() -> None:
    """Raise the csv module's field limit (131,072 characters by default, process-wide) to
    :data:`MAX_CSV_FIELD_CHARS`, where it is lower: the tables reelsense writes carry whole
    captions, and reading one back must not fail on a long one."""
    if csv.field_size_limit() < MAX_CSV_FIELD_CHARS:
        csv.field_size_limit(MAX_CSV_FIELD_CHARS)


def column_names(path: str | os.PathLike[str], written: Sequence[str]) -> list[str]:
    """The column names of a table (a CSV header, a Parquet file's columns) as reelsense's
    readers of tables name them: without surrounding spaces (a header written ``user_id,
    video_id``). Names that are then one name raise ParameterError naming the file and the
    name (csv would keep the last of them; pyarrow refuses a Parquet file naming a column
    twice); empty ones, a spreadsheet's trailing commas, may repeat."""
    names = [name.strip() for name in written]
    repeated = sorted(c for c, k in Counter(names).items() if c and k > 1)
    if repeated:
        raise ParameterError(f"{os.fspath(path)!r} names the column {repeated[0]!r} twice in its header")
    return names


def cells_past_header(row: Mapping[str | None, object]) -> bool:
    """Whether a :class:`csv.DictReader` row has cells past its header's that hold something
    (an unquoted comma in a cell, say; not the empty cells of a spreadsheet's trailing
    commas)."""
    extra = row.get(None)
    return isinstance(extra, list) and any(str(v).strip() for v in extra)


def not_utf8(path: str | os.PathLike[str], error: UnicodeDecodeError) -> ParameterError:
    """The error for a table at ``path`` that is not UTF-8 text: it names the first bad byte."""
    bad = error.object[error.start : error.start + 1]
    return ParameterError(
        f"{os.fspath(path)!r} is not UTF-8 text (byte {error.start} is {bad!r}): save it as UTF-8"
    )


def csv_float(value: float | None, digits: int) -> str:
    """``value`` as CSV text: fixed-point with ``digits`` decimals (``f"{value:.{digits}f}"``, so
    never an exponent; a value that rounds to zero has no sign: ``0.00``, not ``-0.00``), or ``""``
    when it is None, NaN or infinite. Raises ParameterError when ``value`` is not a number or
    None, or ``digits`` not an integer >= 0."""
    if type(digits) is not int or digits < 0:  # the checks only off the writers' common path
        check_int(digits, "digits", minimum=0)
    if value is None:
        return ""
    if type(value) is not float and not isinstance(value, numbers.Real):
        raise ParameterError(f"value={value!r:.80} must be a number or None, got {type(value).__name__}")
    if not math.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    return text[1:] if text[0] == "-" and not text.strip("-0.") else text
