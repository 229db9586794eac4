"""Captions and metadata that travel beside a video: yt-dlp ``.info.json``, ``.txt``, manifests.

Sources, in order of preference (the first one found wins as a whole; fields are not
merged across sources, so a row never mixes two descriptions of the same video):

1. ``<stem>.info.json`` beside the video, as yt-dlp writes it (``--write-info-json``):
   ``id``, ``description`` (the caption), ``title``, ``tags``, ``timestamp`` (or
   ``upload_date`` YYYYMMDD, read as midnight UTC), ``uploader`` (or ``channel`` /
   ``uploader_id``), ``track``, ``artists`` (or the older ``artist`` string), ``duration``.
2. ``<stem>.txt`` beside the video: the whole file is the caption.
3. A manifest given by the user (:class:`Manifest`): CSV with a header, or JSON Lines,
   one row per video with ``path`` and/or ``id``, ``caption``, optional ``timestamp``
   (unix seconds or ISO 8601; naive times are UTC; not a date YYYYMMDD:
   :func:`parse_timestamp`) and ``uploader`` (a ``.json`` array of
   such objects is accepted too). A relative ``path``
   is relative to the manifest's folder. A row matches a video by path, or by ``id``
   equal to the video's default id (path relative to its input root, without
   extension) or its file stem.

Every file here is read as UTF-8, or as UTF-16/UTF-32 where it starts with a byte order mark.

Hashtags and mentions are parsed from the caption (from the title when there is no
caption) by :func:`parse_hashtags` and :func:`parse_mentions`.

A malformed sidecar raises :class:`~reelsense.errors.SidecarError` naming the file;
:func:`read_sidecar` can instead report it to a callback and fall back to the next
source (the batch job does that: the video itself is fine, so it keeps the video and
records a warning in the row).

Every field is validated once, here, so that nothing later (the Parquet writer, time
formatting, trends) meets a value it cannot hold. A field that cannot be used is dropped
with a note in :attr:`Sidecar.warnings` naming the field and its value, and the rest of
the sidecar (or manifest row) is kept. The note is logged as a warning once, by the function
that read the file (:func:`read_info_json`, :func:`read_caption_txt`, :func:`read_sidecar`;
:meth:`Manifest.load` for every row of a manifest). That is a value of the wrong type (``"tags":
"a,b"``, ``"duration": "12"``, ``"title": 5``, ``"artists": [1, 2]``, ``"timestamp":
[1]``, a timestamp ``"soon"`` or an ``upload_date`` not YYYYMMDD), or one out of range: a
timestamp that is not finite or falls outside the years 1-9999 (``NaN``, ``1e400``,
``1e20``), a number that is not finite or is negative where a duration is expected, an
integer of more than 20 digits (read as not finite), text holding a lone surrogate
(``"\ud800"``, which UTF-8 cannot encode). Text longer than :data:`MAX_TEXT_CHARS`
and lists longer than :data:`MAX_LIST_ITEMS` are cut to their start, with a note
(``field cut: ...``). A dropped ``id`` says so: the video then keeps
the id it has without a sidecar (its path), not the sidecar's. Only a file that is not a
JSON object is malformed as a whole, as is one nested too deeply for the JSON parser or
larger than :data:`MAX_SIDECAR_BYTES`; a manifest row is refused (the whole manifest with
it) when it is not an object or has neither a usable ``path`` nor a usable ``id``.
Sidecars and manifests are opened only when they are regular files (a FIFO named
``clip.info.json`` is not read; see :func:`reelsense.io.read_regular_file`).

CSV manifests are read with the csv module's own line handling: a quoted caption keeps
its line breaks, U+2028 and U+0085. JSON Lines are split on ``\n`` only.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import json
import logging
import math
import numbers
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

from reelsense._checks import check_path, check_str
from reelsense.errors import ParameterError, SidecarError
from reelsense.io._files import read_regular_file
from reelsense.io._text import allow_long_csv_fields, has_surrogates, path_from_text

__all__ = [
    "MAX_LIST_ITEMS",
    "MAX_SIDECAR_BYTES",
    "MAX_TEXT_CHARS",
    "Manifest",
    "Sidecar",
    "SidecarSource",
    "hashtag_key",
    "hashtag_spans",
    "iso_time",
    "parse_hashtags",
    "parse_mentions",
    "parse_timestamp",
    "read_caption_txt",
    "read_info_json",
    "read_sidecar",
]

log = logging.getLogger(__name__)

SidecarSource = Literal["info.json", "txt", "manifest"]

#: Largest sidecar or manifest read (bytes); a larger file is malformed as a whole.
MAX_SIDECAR_BYTES = 64 * 1024 * 1024
#: Longest text field kept (characters): a longer caption, title, uploader... is cut to its
#: start, with a note. Platforms allow a few thousand (TikTok 4,000, YouTube 5,000 bytes).
MAX_TEXT_CHARS = 65536
#: Most items of a list field (``tags``, ``artists``) kept: the first ones, with a note.
MAX_LIST_ITEMS = 1024
#: Timestamps outside the years 1-9999 (UTC unix seconds) are dropped.
MIN_TIMESTAMP_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
_MAX_INT_DIGITS = 20
#: whole numbers that may be a date YYYYMMDD of the years 1900-2100 as well as unix seconds
#: (1970-08-08..1970-08-31): :func:`date_like` tells which are dates
DATE_LIKE_MIN, DATE_LIKE_MAX = 19000101, 21001231
_ISO_YEAR_RE = re.compile(r"[+-]?(\d{1,40})-\d\d(?:-\d\d)?(?:[T ]|$)")


class FieldError(SidecarError):
    """One field whose value cannot be used: the readers drop the field with a note in
    :attr:`Sidecar.warnings` and keep the rest of the sidecar (or manifest row)."""


class FieldRangeError(FieldError):
    """A field of the right type whose value is out of range: dropped, not fatal."""


class FieldTypeError(FieldError):
    """A field of the wrong type (``"tags": "a,b"``), or text that is not the value it names
    (``"timestamp": "soon"``): dropped, not fatal."""


@dataclass(frozen=True)
class Sidecar:
    """Caption and metadata of one video.

    ``video_id`` is the id the sidecar gives (None when it gives none).
    ``timestamp_seconds`` is the upload time in UTC unix seconds. ``hashtags`` and
    ``mentions`` come without their ``#``/``@``, in order of first appearance, deduplicated
    by case and width (NFKC + casefold; the first spelling is kept). ``tags`` are the
    platform's tags as given.
    ``warnings`` notes each field dropped (``field dropped: ...``; wrong type or out of range)
    or cut (``field cut: ...``; too long).
    """

    source: SidecarSource
    sidecar_path: str
    video_id: str | None = None
    caption: str | None = None
    title: str | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timestamp_seconds: int | None = None
    uploader: str | None = None
    track: str | None = None
    artists: tuple[str, ...] = ()
    duration_seconds: float | None = None
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- hashtags


#: a URL: any scheme (``https://``, ``ftp://``), or ``www.`` in any case, at the start of a word
_URL_RE = re.compile(r"(?:\b[a-zA-Z][a-zA-Z0-9+.\-]*://|\b[wW]{3}\.)\S+")
# emoji presentation selectors and the keycap mark are marks, but never part of a tag
_NOT_TAG_MARKS = frozenset("\ufe0e\ufe0f\u20e3")
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ / ZWJ occur inside words of Persian, Indic scripts
_JOINER_CHARS = "".join(sorted(_JOINERS))
_HASH_SIGNS = "#\uff03"
_AT_SIGNS = "@\uff20"


def _is_word_char(ch: str) -> bool:
    if ch.isalnum() or ch == "_" or ch in _JOINERS:
        return True
    return unicodedata.category(ch)[0] == "M" and ch not in _NOT_TAG_MARKS


def _has_letter(body: str) -> bool:
    return any(c.isalpha() or unicodedata.category(c)[0] == "M" for c in body)


@functools.cache
def _sign_pattern(signs: str) -> re.Pattern[str]:
    """A pattern that finds the next of ``signs``."""
    return re.compile(f"[{re.escape(signs)}]")


def _spans(text: str, signs: str, extra: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every tag in ``text`` (``text[start]`` is its sign, ``text[start + 1:end]``
    its body), repeats included; ``text`` as :func:`_scan` prepares it."""
    last_end = -1
    i, n = 0, len(text)
    next_sign = _sign_pattern(signs).search
    strip = extra + _JOINER_CHARS
    while i < n:
        found = next_sign(text, i)  # the scan jumps from sign to sign
        if found is None:
            break
        i = found.start()
        prev = text[i - 1] if i > 0 else ""
        # "#a#b" is two tags; "x#y", "&#39;" and "/#frag" are not tags
        allowed = i == last_end or not prev or not (_is_word_char(prev) or prev in "&/\\")
        j = i + 1
        while j < n and (_is_word_char(text[j]) or text[j] in extra):
            j += 1
        # a trailing joiner (or ``extra``) is not part of the tag: "#fyp\u200d" is "#fyp"
        body = text[i + 1 : j].rstrip(strip)
        j = i + 1 + len(body)
        if allowed and body and _has_letter(body):
            yield i, j
            last_end = j
        i = max(j, i + 1)


def hashtag_key(tag: str) -> str:
    """The identity of a tag or handle (without its sign): NFKC-normalised and casefolded, so
    ``ＦＹＰ``, ``FYP`` and ``fyp`` are one tag, and ``Straße`` and ``STRASSE``."""
    if tag.isascii():
        return tag.casefold()
    return _unicode_key(tag)


@functools.lru_cache(maxsize=1 << 16)  # a corpus repeats its tags: two normalisations a tag, once
def _unicode_key(tag: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", tag).casefold())


def _without_urls(text: str) -> str:
    """``text`` NFC-normalised, each URL blanked by as many spaces (so offsets stay)."""
    return _URL_RE.sub(lambda m: " " * len(m.group()), unicodedata.normalize("NFC", text))


def _scan(text: str, signs: str, extra: str) -> list[str]:
    """Bodies that follow one of ``signs``, first spelling of each; a body is a run of word chars
    (and ``extra``)."""
    if not text:
        return []
    text = _without_urls(text)
    found: list[str] = []
    seen: set[str] = set()
    for start, end in _spans(text, signs, extra):
        body = text[start + 1 : end]
        key = hashtag_key(body)
        if key not in seen:
            seen.add(key)
            found.append(body)
    return found


def hashtag_spans(text: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``text`` as :func:`parse_hashtags` reads it (NFC-normalised, each URL blanked by as many
    spaces) and the ``(start, end)`` in it of each hashtag occurrence (``#`` or ``＃`` included,
    repeats too), by the rules of parse_hashtags: one normalisation and one URL rule for the
    caption text and the tags. Raises ParameterError when ``text`` is not a ``str``."""
    read = _without_urls(check_str(text, "text"))
    return read, tuple(_spans(read, _HASH_SIGNS, ""))


def parse_hashtags(text: str | None) -> tuple[str, ...]:
    """Hashtags in ``text``, without ``#``, in order, deduplicated case-insensitively.

    Unicode-aware: a tag is a run of letters, digits, combining marks, ``_`` and
    zero-width joiners (inside it, not at its end) after ``#`` (or the full-width ``＃``),
    so ``#café``, ``#猫``, ``#日本語`` and ``#straße`` are tags; it ends at punctuation, spaces and emoji
    (``#fyp🔥`` gives ``fyp``; ``#a#b`` gives both). A tag needs at least one letter
    (``#2024`` is not a tag); ``#`` inside a word, after ``&`` or ``/`` (``&#39;``,
    ``/#anchor``) and inside URLs is not a tag. Text is NFC-normalised first; the
    first spelling of each tag is kept and later variants of it dropped: case and width
    (``#ＦＹＰ`` after ``#fyp``; NFKC + ``str.casefold``, :func:`hashtag_key`).
    Raises ParameterError when ``text`` is neither a ``str`` nor None.
    """
    return tuple(_scan("" if text is None else check_str(text, "text"), _HASH_SIGNS, ""))


def parse_mentions(text: str | None) -> tuple[str, ...]:
    """``@handles`` in ``text`` (without ``@``), in order, deduplicated as hashtags are.

    A handle is a run of letters, digits, marks, ``_`` and inner ``.`` (a trailing dot is
    punctuation); e-mail addresses (``a@b.com``) and URLs are not mentions. Raises
    ParameterError when ``text`` is neither a ``str`` nor None.
    """
    return tuple(_scan("" if text is None else check_str(text, "text"), _AT_SIGNS, "."))


# --------------------------------------------------------------------------- field helpers


def _check_text(value: str, name: str, where: str) -> str:
    if has_surrogates(value):
        raise FieldRangeError(
            f"{where}: field {name!r} holds a lone surrogate (not valid Unicode): {value!r:.80}"
        )
    return value


def _opt_str(value: Any, name: str, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name == "id":
        if not math.isfinite(value):
            raise FieldRangeError(f"{where}: field 'id' must be a finite number or a string, got {value!r}")
        return str(value)
    if not isinstance(value, str):
        kind = "a string or a number" if name == "id" else "a string"
        raise FieldTypeError(f"{where}: field {name!r} must be {kind}, got {value!r:.80}")
    value = _check_text(value, name, where).strip()
    return value or None


def _opt_path(value: Any, where: str) -> str | None:
    text = _opt_str(value, "path", where)
    if text is not None and "\x00" in text:
        raise FieldRangeError(f"{where}: field 'path' holds a NUL character: {text!r:.80}")
    return text


def _str_list(value: Any, name: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldTypeError(f"{where}: field {name!r} must be a list of strings, got {value!r:.80}")
    return tuple(_check_text(v, name, where).strip() for v in value if v.strip())


def _opt_duration(value: Any, name: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldTypeError(f"{where}: field {name!r} must be a number, got {value!r:.80}")
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise FieldRangeError(f"{where}: field {name!r} must be a finite number >= 0, got {value!r}")
    return number


def _in_range(seconds: float, value: Any, where: str) -> int:
    if not (math.isfinite(seconds) and MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS + 1):
        hint = ""
        if math.isfinite(seconds) and MIN_TIMESTAMP_SECONDS <= seconds / 1000 <= MAX_TIMESTAMP_SECONDS:
            hint = " (milliseconds? it takes unix seconds)"
        raise FieldRangeError(f"{where}: timestamp {value!r:.80} is outside the years 1-9999{hint}")
    return min(int(seconds // 1), MAX_TIMESTAMP_SECONDS)


def date_like(number: float) -> str | None:
    """``YYYY-MM-DD`` when ``number`` is a whole number that is a valid date YYYYMMDD of the
    years 1900-2100 (``20261207`` -> ``2026-12-07``), else None."""
    if not DATE_LIKE_MIN <= number <= DATE_LIKE_MAX or number != int(number):
        return None
    whole = int(number)
    try:
        return date(whole // 10000, whole // 100 % 100, whole % 100).isoformat()
    except ValueError:
        return None


def _seconds_not_date(number: float, value: Any, where: str) -> int:
    """:func:`_in_range` of ``number``, refused when it is a date YYYYMMDD (:func:`date_like`)."""
    day = date_like(number)
    if day is not None:
        raise FieldRangeError(
            f"{where}: timestamp {value!r:.80} looks like the date {day} written YYYYMMDD, not unix "
            f"seconds ({iso_time(number)}); write it as ISO 8601 ({day!r}) or as unix seconds"
        )
    return _in_range(number, value, where)


def _parse_int(text: str) -> float | int:
    """JSON integers: more than ``_MAX_INT_DIGITS`` digits read as not finite (dropped later)."""
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


def parse_timestamp(value: Any, *, where: str = "timestamp") -> int | None:
    """UTC unix seconds from unix seconds (number or numeric string) or an ISO 8601 string.

    ISO times without an offset are taken as UTC; ``Z`` is accepted. Fractions of a
    second are dropped. Empty values give None; a value that is not finite or falls
    outside the years 1-9999, or a whole number that is a date YYYYMMDD of the years
    1900-2100 (``20261207``: not read as 1970-08-23 in seconds), raises
    :class:`FieldRangeError`; anything else that is not a time (a list, a bool, ``"soon"``)
    raises :class:`FieldTypeError`. Both are SidecarErrors.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise FieldTypeError(f"{where}: timestamp must be unix seconds or ISO 8601, got {value!r}")
    if isinstance(value, (int, float)):
        return _seconds_not_date(float(value), value, where)
    if not isinstance(value, str):
        raise FieldTypeError(f"{where}: timestamp must be unix seconds or ISO 8601, got {value!r:.80}")
    text = _check_text(value, "timestamp", where).strip()
    if not text:
        return None
    if len(text) > 64:
        raise FieldTypeError(f"{where}: timestamp {value!r:.80} is neither unix seconds nor ISO 8601")
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _seconds_not_date(number, value, where)
    year = _ISO_YEAR_RE.match(text)
    if year and not 1 <= int(year.group(1)) <= 9999:
        raise FieldRangeError(f"{where}: timestamp {value!r:.80} is outside the years 1-9999")
    iso = text[:-1] + "+00:00" if text[-1] in "zZ" else text
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        raise FieldTypeError(
            f"{where}: timestamp {value!r:.80} is neither unix seconds nor ISO 8601"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        seconds = when.timestamp()
    except (OverflowError, ValueError, OSError):
        raise FieldRangeError(f"{where}: timestamp {value!r:.80} is outside the years 1-9999") from None
    return _in_range(seconds, value, where)


def _timestamp(value: Any, where: str) -> int | None:
    return parse_timestamp(value, where=where)


def _upload_date(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):  # 20241105 written as a number
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"\d{8}", value.strip()):
        raise FieldTypeError(f"{where}: field 'upload_date' must be YYYYMMDD, got {value!r:.80}")
    try:
        day = datetime.strptime(value.strip(), "%Y%m%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise FieldRangeError(f"{where}: field 'upload_date' {value!r} is not a valid date") from None
    return int(day.timestamp())


#: added to the note of a dropped ``id``: the video's id then does not come from the sidecar
_ID_DROPPED = "; the video keeps the id it has without a sidecar (from its path)"


def _keep(
    problems: list[str], read: Callable[..., Any], *args: Any, default: Any = None, then: str = ""
) -> Any:
    """``read(*args)``, or ``default`` with the problem noted (``then`` appended) when the
    value is of the wrong type or out of range (:class:`FieldError`)."""
    try:
        return read(*args)
    except FieldError as exc:
        problems.append(f"field dropped: {exc}{then}")
        return default


def _cut(problems: list[str], value: str | None, name: str, where: str) -> str | None:
    """``value`` cut to its first :data:`MAX_TEXT_CHARS` characters (the cut noted)."""
    if value is None or len(value) <= MAX_TEXT_CHARS:
        return value
    problems.append(
        f"field cut: {where}: field {name!r} holds {len(value)} characters; "
        f"the first {MAX_TEXT_CHARS} are kept"
    )
    return value[:MAX_TEXT_CHARS].rstrip() or None


def _cut_list(problems: list[str], values: tuple[str, ...], name: str, where: str) -> tuple[str, ...]:
    """The first :data:`MAX_LIST_ITEMS` of ``values``, each cut to :data:`MAX_TEXT_CHARS`
    characters (one note for the field)."""
    kept = tuple(v[:MAX_TEXT_CHARS] for v in values[:MAX_LIST_ITEMS])
    if len(values) > MAX_LIST_ITEMS or kept != values[: len(kept)]:
        problems.append(
            f"field cut: {where}: field {name!r} holds {len(values)} items; the first "
            f"{min(len(values), MAX_LIST_ITEMS)} are kept, each of at most {MAX_TEXT_CHARS} characters"
        )
    return kept


def _text_field(problems: list[str], data: Mapping[str, Any], key: str, where: str) -> str | None:
    """The text field ``key`` of ``data``: dropped when unusable, cut when too long (noted)."""
    return _cut(problems, _keep(problems, _opt_str, data.get(key), key, where), key, where)


_ENCODINGS = "UTF-8 (or UTF-16/32 with a byte order mark)"
# UTF-32's marks first: UTF-32LE's begins with UTF-16LE's
_MARKED_CODECS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_text(raw: bytes) -> str:
    """``raw`` as UTF-8, or as UTF-16/UTF-32 where a byte order mark says so (Windows
    Notepad's "Unicode", PowerShell 5's ``>``); the mark is dropped. Raises UnicodeDecodeError,
    also for unmarked text of which a quarter or more is NUL bytes (UTF-16 without a mark reads as
    UTF-8 with a NUL after each Latin letter; a stray NUL is read as before)."""
    for mark, codec in _MARKED_CODECS:
        if raw.startswith(mark):
            return raw.decode(codec)
    if raw.count(b"\0") * 4 >= len(raw) > 0:  # UTF-16 text of a Latin script: every other byte
        nul = raw.find(b"\0")
        raise UnicodeDecodeError("utf-8", raw, nul, nul + 1, "NUL bytes (UTF-16 without a byte order mark?)")
    return raw.decode("utf-8")


def _read_text(path: str | os.PathLike[str], what: str) -> str:
    where = os.fspath(path)
    try:
        return _decode_text(read_regular_file(path, max_bytes=MAX_SIDECAR_BYTES))
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{where}: cannot read {what} as {_ENCODINGS}: {exc}") from exc


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise SidecarError(
            f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise SidecarError(f"{where}: malformed JSON: {type(exc).__name__}: {exc!s:.120}") from exc


def _with_text_fields(caption: str | None, title: str | None) -> dict[str, Any]:
    text = caption if caption is not None else title
    return {
        "caption": caption,
        "title": title,
        "hashtags": parse_hashtags(text),
        "mentions": parse_mentions(text),
    }


# --------------------------------------------------------------------------- readers


def _logged(sidecar: Sidecar, *, id_note: bool = True) -> Sidecar:
    """``sidecar``, its notes logged (once per read of its file: see :func:`read_sidecar`);
    without ``id_note``, that of a dropped ``id`` is not (see :func:`read_sidecar_fields`)."""
    for note in sidecar.warnings:
        if id_note or not note.endswith(_ID_DROPPED):
            log.warning("%s", note)
    return sidecar


def read_info_json(path: str | os.PathLike[str]) -> Sidecar:
    """Read a yt-dlp ``.info.json``. Raises SidecarError (naming the file) when it is not a
    JSON object; a field of the wrong type or out of range is dropped with a note in
    :attr:`Sidecar.warnings` (a dropped ``id`` says that the video keeps its default id),
    also logged as a warning."""
    return _logged(_info_json(path))


def _info_json(path: str | os.PathLike[str]) -> Sidecar:
    """:func:`read_info_json` without the logging."""
    where = os.fspath(path)
    data = _load_json(_read_text(path, "sidecar"), where)
    if not isinstance(data, dict):
        raise SidecarError(f"{where}: expected a JSON object, got {type(data).__name__}")
    problems: list[str] = []

    def text(key: str) -> str | None:
        return _text_field(problems, data, key, where)

    def strings(key: str) -> tuple[str, ...]:
        return _cut_list(
            problems, _keep(problems, _str_list, data.get(key), key, where, default=()), key, where
        )

    timestamp = _keep(problems, _timestamp, data.get("timestamp"), f"{where}: field 'timestamp'")
    if timestamp is None:
        timestamp = _keep(problems, _upload_date, data.get("upload_date"), where)
    uploader = None
    for key in ("uploader", "channel", "uploader_id"):
        uploader = text(key)
        if uploader is not None:
            break
    artists = strings("artists")
    if not artists:
        artist = text("artist")
        artists = (artist,) if artist else ()
    text_fields = _with_text_fields(text("description"), text("title"))
    return Sidecar(
        source="info.json",
        sidecar_path=where,
        video_id=_keep(problems, _opt_str, data.get("id"), "id", where, then=_ID_DROPPED),
        tags=strings("tags"),
        timestamp_seconds=timestamp,
        uploader=uploader,
        track=text("track"),
        artists=artists,
        duration_seconds=_keep(problems, _opt_duration, data.get("duration"), "duration", where),
        warnings=tuple(problems),
        **text_fields,
    )


def read_caption_txt(path: str | os.PathLike[str]) -> Sidecar:
    """Read a ``.txt`` caption (UTF-8, or UTF-16/32 with a byte order mark). Raises
    SidecarError when unreadable; a caption cut to :data:`MAX_TEXT_CHARS` is noted in
    :attr:`Sidecar.warnings` and logged."""
    return _logged(_caption_txt(path))


def _caption_txt(path: str | os.PathLike[str]) -> Sidecar:
    """:func:`read_caption_txt` without the logging."""
    where = os.fspath(path)
    problems: list[str] = []
    text = _cut(problems, _read_text(path, "caption file").strip() or None, "caption", where)
    return Sidecar(
        source="txt", sidecar_path=where, warnings=tuple(problems), **_with_text_fields(text, None)
    )


def _stem_sibling(video_path: Path, suffix: str) -> Path:
    return video_path.with_name(video_path.stem + suffix)


class Manifest:
    """Captions for many videos in one CSV or JSON Lines file (see the module docstring).

    Load with :meth:`load`; look a video up with :meth:`lookup`. Duplicate paths or ids,
    rows with neither a usable ``path`` nor a usable ``id``, rows that are not objects and
    bad JSON lines raise SidecarError naming the file and line. A field of the wrong type or
    out of range (``"caption": 5``, a timestamp ``tomorrow``) is dropped from its row with a
    logged warning, also kept in the row's :attr:`Sidecar.warnings`.
    """

    def __init__(self, path: str, by_path: Mapping[str, Sidecar], by_id: Mapping[str, Sidecar], digest: str):
        self.path = path
        self._by_path = dict(by_path)
        self._by_id = dict(by_id)
        self.sha256 = digest

    def __len__(self) -> int:
        return len(self._by_path) + len(self._by_id)

    def __repr__(self) -> str:
        return f"Manifest({self.path!r}, paths={len(self._by_path)}, ids={len(self._by_id)})"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read a ``.csv`` (header row required) or ``.jsonl``/``.ndjson`` manifest."""
        where = os.fspath(path)
        try:
            raw = read_regular_file(path, max_bytes=MAX_SIDECAR_BYTES)
            text = _decode_text(raw)
        except (OSError, UnicodeDecodeError) as exc:
            raise SidecarError(f"{where}: cannot read manifest as {_ENCODINGS}: {exc}") from exc
        suffix = Path(where).suffix.lower()
        if not text.strip():
            raise SidecarError(f"{where}: the manifest is empty")
        if suffix == ".csv":
            rows = list(_csv_rows(text, where))
        elif suffix in (".jsonl", ".ndjson"):
            rows = list(_json_rows(text, where, lines=True))
        elif suffix == ".json":
            rows = list(_json_rows(text, where, lines=False))
        else:
            raise SidecarError(
                f"{where}: manifest must be .csv, .jsonl or .json, got {suffix or 'no extension'!r}"
            )
        base = Path(where).resolve().parent
        by_path: dict[str, Sidecar] = {}
        by_id: dict[str, Sidecar] = {}
        for line, row in rows:
            at = f"{where}:{line}"
            problems: list[str] = []
            rel = _keep(problems, _opt_path, row.get("path"), at)
            id_problems: list[str] = []
            vid = _keep(id_problems, _opt_str, row.get("id"), "id", at)
            if rel is None and vid is None:
                unusable = problems + id_problems
                said = f" it can use ({'; '.join(unusable)})" if unusable else ""
                raise SidecarError(f"{at}: manifest row has neither 'path' nor 'id'{said}")
            problems.extend(problem + _ID_DROPPED for problem in id_problems)
            text_fields = _with_text_fields(
                _text_field(problems, row, "caption", at), _text_field(problems, row, "title", at)
            )
            timestamp = _keep(problems, _timestamp, row.get("timestamp"), at)
            uploader = _text_field(problems, row, "uploader", at)
            sidecar = Sidecar(
                source="manifest",
                sidecar_path=at,
                video_id=vid,
                timestamp_seconds=timestamp,
                uploader=uploader,
                warnings=tuple(problems),
                **text_fields,
            )
            for problem in problems:
                log.warning("%s", problem)
            if rel is not None:
                key = os.path.realpath(base / path_from_text(rel))
                if key in by_path:
                    raise SidecarError(
                        f"{at}: path {rel!r} is listed twice (first at {by_path[key].sidecar_path})"
                    )
                by_path[key] = sidecar
            elif vid is not None:
                if vid in by_id:
                    raise SidecarError(
                        f"{at}: id {vid!r} is listed twice (first at {by_id[vid].sidecar_path})"
                    )
                by_id[vid] = sidecar
        return cls(where, by_path, by_id, hashlib.sha256(raw).hexdigest())

    def lookup(self, video_path: str | os.PathLike[str], ids: Iterable[str] = ()) -> Sidecar | None:
        """The row for ``video_path`` (matched by real path), else the first of ``ids`` listed."""
        hit = self._by_path.get(os.path.realpath(video_path))
        if hit is not None:
            return hit
        for vid in ids:
            hit = self._by_id.get(vid)
            if hit is not None:
                return hit
        return None


def _csv_rows(text: str, where: str) -> Iterable[tuple[int, dict[str, Any]]]:
    allow_long_csv_fields()  # a caption may be as long as a sidecar's
    # strict: an unterminated quote is an error, not a field that runs to the end of the file
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise SidecarError(f"{where}:{reader.line_num}: malformed CSV header: {exc}") from exc
    if fieldnames is None:
        return
    names = {n.strip() for n in fieldnames if n}
    if not names & {"path", "id"}:
        raise SidecarError(f"{where}: CSV header needs a 'path' or 'id' column, got {sorted(names)}")
    try:
        for row in reader:
            extra = row.pop(None, None)
            if extra:
                raise SidecarError(f"{where}:{reader.line_num}: more fields than the header has")
            yield reader.line_num, {k.strip(): v for k, v in row.items() if k}
    except csv.Error as exc:
        raise SidecarError(f"{where}:{reader.line_num}: malformed CSV: {exc}") from exc


def _json_rows(text: str, where: str, *, lines: bool) -> Iterable[tuple[int, dict[str, Any]]]:
    """Objects of a JSON Lines file (``lines``) or of a JSON array, with their line/item numbers."""
    if lines:
        items = [(n, _load_json(t, f"{where}:{n}")) for n, t in enumerate(text.split("\n"), 1) if t.strip()]
    else:
        data = _load_json(text, where)
        if not isinstance(data, list):
            raise SidecarError(f"{where}: a .json manifest must hold an array of objects")
        items = list(enumerate(data, start=1))
    for number, row in items:
        if not isinstance(row, dict):
            raise SidecarError(f"{where}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def read_sidecar(
    video_path: str | os.PathLike[str],
    *,
    manifest: Manifest | None = None,
    default_id: str | None = None,
    on_error: Callable[[SidecarError], None] | None = None,
) -> Sidecar | None:
    """The sidecar of ``video_path`` from the first source found (see the module docstring).

    ``default_id`` (the id the video gets without a sidecar) is also tried against the
    manifest's ``id`` column, after the file stem. A malformed source raises
    SidecarError, or, when ``on_error`` is given, is passed to it and skipped in favour of
    the next source. Returns None when no source describes the video.

    The notes of the sidecar (:attr:`Sidecar.warnings`) are logged as warnings by whatever
    read its file: here for a ``.info.json`` or ``.txt``, by :meth:`Manifest.load` for a
    manifest row (so a row is logged once, however often it is looked up).
    """
    video = Path(check_path(video_path, "video_path"))
    if manifest is not None and not isinstance(manifest, Manifest):
        raise ParameterError(
            f"manifest={manifest!r} must be a Manifest (Manifest.load(path)), got {type(manifest).__name__}"
        )
    found = _find_sidecar(video, manifest, default_id, on_error)
    return _logged(found) if found is not None and found.source != "manifest" else found


def read_sidecar_fields(
    video_path: str | os.PathLike[str], *, on_error: Callable[[SidecarError], None] | None = None
) -> Sidecar | None:
    """:func:`read_sidecar` (no manifest) for a reader of the fields of a video whose id is
    given elsewhere (:func:`reelsense.io.media_ids` tells of a dropped ``id`` with the id the
    video gets instead, and ``discover_sounds`` never takes the sidecar's id): the notes are
    logged but that of a dropped ``id``, which would be told twice."""
    found = _find_sidecar(Path(check_path(video_path, "video_path")), None, None, on_error)
    return _logged(found, id_note=False) if found is not None else None


def _find_sidecar(
    video: Path,
    manifest: Manifest | None,
    default_id: str | None,
    on_error: Callable[[SidecarError], None] | None,
) -> Sidecar | None:
    """:func:`read_sidecar` with its arguments checked, without logging the notes (for a
    caller that wants only the id)."""
    readers: list[tuple[Path, Callable[[Path], Sidecar]]] = [
        (_stem_sibling(video, ".info.json"), _info_json),
        (_stem_sibling(video, ".txt"), _caption_txt),
    ]
    for candidate, reader in readers:
        if not candidate.is_file():
            continue
        try:
            return reader(candidate)
        except SidecarError as exc:
            if on_error is None:
                raise
            on_error(exc)
    if manifest is not None:
        ids = [video.stem] + ([default_id] if default_id else [])
        return manifest.lookup(video, ids)
    return None


def iso_time(seconds: float | None) -> str:
    """UTC ISO 8601 (``2024-11-30T12:00:00Z``) of unix seconds; empty for None or a value that
    is not finite. Raises ParameterError, naming the value, outside the years 1-9999 or when it
    is not a number (a string, a bool)."""
    if seconds is None:
        return ""
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise ParameterError(
            f"seconds={seconds!r:.80} must be unix seconds (a number) or None, got {type(seconds).__name__}"
        )
    if not math.isfinite(seconds):
        return ""
    try:
        when = datetime.fromtimestamp(int(seconds), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ParameterError(f"seconds={seconds!r} is outside the years 1-9999") from None
    return f"{when.year:04d}-{when:%m-%dT%H:%M:%S}Z"  # %Y drops the zeros of years < 1000
