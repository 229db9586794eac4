"""Interaction logs: what users did with the videos they were shown."""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from reelsense._checks import check_finite
from reelsense.errors import ParameterError, SidecarError
from reelsense.io import MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS, allow_long_csv_fields, parse_timestamp
from reelsense.io._sidecar import DATE_LIKE_MAX, DATE_LIKE_MIN, date_like
from reelsense.io._text import cells_past_header, column_names, not_utf8
from reelsense.rank._parquet import parquet_input

__all__ = ["EVENTS", "EventLog", "EventWeights", "LogReport", "read_events", "read_users"]

logger = logging.getLogger(__name__)

#: the events a log may hold, in the order of :attr:`EventLog.event`
EVENTS: tuple[str, ...] = ("view", "skip", "like", "share", "save", "not_interested")
_COLUMNS = ("user_id", "video_id", "timestamp", "event", "watch_fraction")


@dataclass(frozen=True)
class EventWeights:
    """How events become one feedback value per (user, video) shown.

    The value of a pair is the sum over its events: a ``view`` adds ``view * (watch_fraction
    - view_baseline)`` (a long watch is positive, a short one negative); ``like``, ``share``
    and ``save`` add their weight; ``skip`` and ``not_interested`` add theirs (negative).
    The watch fraction is the one graded signal present on every exposure, so a view spans
    -2.5..+2.5, as much as a like plus a share.

    Attributes:
        view, view_baseline: weight of a view and the watch fraction that counts as neutral.
        like, share, save: positive weights.
        skip, not_interested: negative weights.
    """

    view: float = 5.0
    view_baseline: float = 0.5
    like: float = 1.0
    share: float = 1.5
    save: float = 1.5
    skip: float = -1.0
    not_interested: float = -2.0

    def __post_init__(self) -> None:
        for name in ("view", "view_baseline", "like", "share", "save", "skip", "not_interested"):
            # a finite number (True, "1", NaN refused), as a float
            object.__setattr__(self, name, check_finite(getattr(self, name), f"event weight {name}"))
        for name in ("view", "like", "share", "save"):
            if getattr(self, name) < 0:
                raise ParameterError(f"event weight {name}={getattr(self, name)} must be >= 0")
        for name in ("skip", "not_interested"):
            if getattr(self, name) > 0:
                raise ParameterError(f"event weight {name}={getattr(self, name)} must be <= 0")

    def values(self, event: np.ndarray, watch_fraction: np.ndarray) -> np.ndarray:
        """float64 ``[n]``: the value of each event (codes as in :data:`EVENTS`)."""
        table = np.array([0.0, self.skip, self.like, self.share, self.save, self.not_interested])
        out = table[event]
        views = event == 0
        watch = np.where(np.isfinite(watch_fraction), np.clip(watch_fraction, 0.0, 1.0), self.view_baseline)
        out[views] = self.view * (watch[views] - self.view_baseline)
        return np.asarray(out, dtype=np.float64)

    def positive_only(self, values: np.ndarray) -> np.ndarray:
        """``values`` with every negative contribution set to 0."""
        return np.asarray(np.maximum(values, 0.0), dtype=np.float64)


@dataclass(frozen=True)
class LogReport:
    """What reading a log kept and dropped (every dropped row is counted here)."""

    rows: int
    kept: int
    unknown_events: dict[str, int] = field(default_factory=dict)
    unknown_videos: int = 0
    unknown_video_ids: tuple[str, ...] = ()
    bad_rows: int = 0
    #: kept views whose watch fraction is outside 0..1 (clipped to it: a percentage reads as 1)
    watch_outside: int = 0
    #: of the bad rows, those whose timestamp is a number outside the years 1-9999 (unix
    #: milliseconds, say) or a whole number that is a date YYYYMMDD (``20261207``), and
    #: :func:`reelsense.io.parse_timestamp`'s message on the first
    timestamps_outside: int = 0
    timestamps_outside_note: str = ""
    #: kept views whose watch fraction is there but not a finite number ("50%", "abc", inf):
    #: they count as views without one (neutral); the first such value, as ``repr`` writes it
    watch_unreadable: int = 0
    watch_unreadable_example: str = ""
    #: rows of a CSV with more cells than the header that hold something past the header's
    #: (an unquoted comma in a cell, say): read from their first cells, the rest ignored; the
    #: first such row's number (1 the first row after the header)
    long_rows: int = 0
    long_rows_first: int = 0

    def summary(self) -> str:
        parts = [f"{self.kept} of {self.rows} events kept"]
        if self.unknown_events:
            shown = ", ".join(f"{k!r} x{v}" for k, v in sorted(self.unknown_events.items()))
            parts.append(f"unknown events: {shown}")
        if self.unknown_videos:
            ids = ", ".join(map(repr, self.unknown_video_ids[:3]))  # a space is seen
            parts.append(f"{self.unknown_videos} events on videos not in the embeddings (e.g. {ids})")
        if self.bad_rows:
            parts.append(f"{self.bad_rows} rows with a missing user or video, or no readable timestamp")
            if self.timestamps_outside:
                parts[-1] += (
                    f" ({self.timestamps_outside} of them a value that is no time, e.g. "
                    f"{self.timestamps_outside_note})"
                )
        if self.watch_outside:
            parts.append(
                f"{self.watch_outside} views with a watch_fraction outside 0-1, clipped to it "
                "(a fraction of the video: 0.85, not 85)"
            )
        if self.long_rows:
            parts.append(_long_rows_note(self.long_rows, self.long_rows_first))
        if self.watch_unreadable:
            parts.append(
                f"{self.watch_unreadable} views with a watch_fraction that is not a number "
                f"(e.g. {self.watch_unreadable_example}), counted as views without one (neutral)"
            )
        return "; ".join(parts)


@dataclass(frozen=True, repr=False)
class EventLog:
    """Events sorted by (user, timestamp); videos as rows of a :class:`~reelsense.rank.Catalog`.

    Attributes:
        users: the user ids, ``user[i]`` indexes them.
        user, video, event: int ``[n]`` codes (``event`` as in :data:`EVENTS`).
        timestamp: float64 ``[n]`` seconds; ``watch_fraction`` float64 ``[n]`` (NaN if none).
        report: what was dropped while reading.
    """

    users: tuple[str, ...]
    user: np.ndarray
    video: np.ndarray
    event: np.ndarray
    timestamp: np.ndarray
    watch_fraction: np.ndarray
    report: LogReport

    def __len__(self) -> int:
        return int(self.user.size)

    def __repr__(self) -> str:
        return f"EventLog(events={len(self)}, users={len(self.users)})"

    def before(self, request_time: dict[str, float]) -> EventLog:
        """Only the events earlier than their user's request time (users not in
        ``request_time`` keep none)."""
        limit = np.array([request_time.get(u, -np.inf) for u in self.users], dtype=np.float64)
        keep = self.timestamp < limit[self.user] if len(self) else np.zeros(0, dtype=bool)
        return self._subset(keep)

    def _subset(self, keep: np.ndarray) -> EventLog:
        return EventLog(
            users=self.users,
            user=self.user[keep],
            video=self.video[keep],
            event=self.event[keep],
            timestamp=self.timestamp[keep],
            watch_fraction=self.watch_fraction[keep],
            report=self.report,
        )

    def first_per_user(self, n: int) -> EventLog:
        """Each user's first ``n`` events (to measure how a ranker grows with feedback)."""
        if len(self) == 0:
            return self
        starts = np.r_[0, np.flatnonzero(np.diff(self.user)) + 1]
        position = np.arange(len(self)) - np.repeat(starts, np.diff(np.r_[starts, len(self)]))
        return self._subset(position < n)


def _long_rows_note(n: int, first: int) -> str:
    return (
        f"{n} rows with more cells than the header (first: row {first}): read from their first "
        "cells, the rest ignored (quote a cell that holds a comma)"
    )


def _parquet(path: Path) -> Any:
    """The Parquet table at ``path``, its columns named by :func:`reelsense.io._text.column_names`."""
    import pyarrow.parquet as pq

    with parquet_input(path):
        table = pq.read_table(path)
    return table.rename_columns(column_names(path, table.column_names))


def _read_table(path: Path) -> tuple[dict[str, list[object]], list[int]]:
    """``(column -> its cells, the rows with more cells than the header that hold something
    past them, numbered from 1 after the header)``; a CSV row's cells past the header's are
    not read (a short row's missing ones are None)."""
    if not path.is_file():  # a folder gave IsADirectoryError
        raise ParameterError(f"{str(path)!r} is not a file: give a CSV or Parquet table")
    if path.suffix.lower() in (".parquet", ".pq"):
        table = _parquet(path)
        return {c: _cells(column) for c, column in zip(table.column_names, table.columns, strict=True)}, []
    allow_long_csv_fields()  # as every reader of reelsense's tables: the limit is process-wide
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # a BOM (Excel's "CSV UTF-8") is dropped
            reader = csv.DictReader(handle)
            names = column_names(path, list(reader.fieldnames or []))  # "a, b": "b"
            reader.fieldnames = names
            rows = list(reader)
    except UnicodeDecodeError as error:
        with path.open("rb") as handle:
            if handle.read(4) == b"PAR1":
                raise ParameterError(
                    f"{str(path)!r} is a Parquet file: name it .parquet to read it as one"
                ) from None
        raise not_utf8(path, error) from None
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        raise ParameterError(f"{str(path)!r} is not a readable CSV table: {error}") from None
    long_at = [i for i, r in enumerate(rows, start=1) if cells_past_header(r)]
    return {c: [r.get(c) for r in rows] for c in names}, long_at


@dataclass(frozen=True, repr=False)
class _FarTime:
    """A Parquet date or timestamp cell that is no Python datetime (outside the years 1-9999,
    or past them in its column's time zone): its unix seconds and how to name it."""

    seconds: float
    text: str  #: ISO 8601 as numpy writes it, ``Z`` for a column with a time zone
    kind: str  #: the column's type, ``date32[day]``

    def __repr__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text


_TIME_UNITS = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}


def _time_ticks(column: Any) -> tuple[np.ndarray, str]:
    """``(the integers a date or timestamp array stores, their numpy unit)``: days of a date32,
    milliseconds of a date64, a timestamp's unit since 1970 UTC (null: 0)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date32(column.type):
        ticks, unit = pc.cast(column, pa.int32()), "D"
    elif pa.types.is_date64(column.type):
        ticks, unit = pc.cast(column, pa.int64()), "ms"
    else:
        ticks, unit = pc.cast(column, pa.int64()), column.type.unit
    return np.asarray(ticks.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64), unit


def _time_seconds(column: Any, stored: tuple[np.ndarray, str] | None = None) -> np.ndarray:
    """float64 ``[n]``: unix seconds of a pyarrow date or timestamp array, computed from the
    stored integers (no Python datetime: a date past the year 9999 is a number too; ``stored``:
    :func:`_time_ticks` of the column when the caller has them); NaN for null."""
    ticks, unit = stored if stored is not None else _time_ticks(column)
    seconds = ticks * 86_400.0 if unit == "D" else ticks / _TIME_UNITS[unit]
    return np.where(np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool), seconds, np.nan)


def _cells(column: Any) -> list[object]:
    """``column.to_pylist()``, with a date or timestamp that is no Python datetime (pyarrow
    raises OverflowError or ValueError) as a :class:`_FarTime`."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    try:
        return list(column.to_pylist())
    except (OverflowError, ValueError):
        if not (pa.types.is_date(column.type) or pa.types.is_timestamp(column.type)):
            raise
    ticks, unit = _time_ticks(column)
    seconds = _time_seconds(column, (ticks, unit))
    stamps = ticks.astype(f"datetime64[{unit}]")  # numpy writes any year: 10183-09-21
    zone = "Z" if pa.types.is_timestamp(column.type) and column.type.tz else ""
    out: list[object] = []
    for i, cell in enumerate(column):
        try:
            out.append(cell.as_py())
        except (OverflowError, ValueError):
            text = str(stamps[i])
            text = f"{ticks[i]} {unit} from 1970" if text == "NaT" else text + zone
            out.append(_FarTime(float(seconds[i]), text, str(column.type)))
    return out


def _float(value: object) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, str):  # a CSV cell (most cells): no type check more
        try:
            return float(value)
        except ValueError:
            return math.nan
    if isinstance(value, _FarTime):
        return value.seconds
    if isinstance(value, datetime):  # a Parquet timestamp column (what `reelsense embed` writes)
        return (
            value.timestamp() if value.tzinfo is not None else value.replace(tzinfo=timezone.utc).timestamp()
        )
    if isinstance(value, date):  # a Parquet date column: midnight UTC of that day
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _seconds(value: object) -> float:
    """Unix seconds from a number, a numeric string, a datetime or an ISO 8601 string (UTC
    when it names no offset, ``Z`` accepted; :func:`reelsense.io.parse_timestamp`,
    which drops fractions of a second); NaN when it is none of these."""
    seconds = _float(value)
    if math.isnan(seconds) and isinstance(value, str) and value.strip():
        from reelsense.errors import ReelsenseError
        from reelsense.io import parse_timestamp

        try:
            parsed = parse_timestamp(value)
        except ReelsenseError:
            return math.nan
        return math.nan if parsed is None else float(parsed)
    return seconds


def _outside_years(seconds: np.ndarray) -> np.ndarray:
    """bool ``[n]``: the finite times that :func:`reelsense.io.parse_timestamp` refuses, outside
    the years 1-9999 (unix milliseconds read as seconds, say)."""
    inside = (seconds >= MIN_TIMESTAMP_SECONDS) & (seconds <= MAX_TIMESTAMP_SECONDS + 1)
    return np.asarray(np.isfinite(seconds) & ~inside, dtype=bool)


def _dates(seconds: np.ndarray) -> np.ndarray:
    """bool ``[n]``: the whole numbers that are a date YYYYMMDD of the years 1900-2100
    (``20261207``), which :func:`reelsense.io.parse_timestamp` refuses to read as seconds."""
    out = np.zeros(seconds.shape, dtype=bool)
    at = np.flatnonzero((seconds >= DATE_LIKE_MIN) & (seconds <= DATE_LIKE_MAX))
    if at.size:  # each distinct value checked once
        values, inverse = np.unique(seconds[at], return_inverse=True)
        out[at] = np.array([date_like(v) is not None for v in values.tolist()], dtype=bool)[inverse]
    return out


def _outside_note(value: object, where: str) -> str:
    """:func:`reelsense.io.parse_timestamp`'s message on a time outside the years 1-9999 (with
    its "milliseconds?" hint where the value / 1000 is a time) or on a date YYYYMMDD; a
    Parquet date or timestamp past those years is named with its column's type."""
    if isinstance(value, _FarTime):  # no number in the wrong unit: no "milliseconds?"
        return f"{where}: timestamp {value.text} (a Parquet {value.kind}) is outside the years 1-9999"
    try:
        parse_timestamp(value, where=where)
    except SidecarError as error:
        return str(error)
    return f"{where}: timestamp {value!r:.80} is outside the years 1-9999"


def _read_columns(path: Path, wanted: tuple[str, ...]) -> tuple[int, dict[str, Any], list[str], list[int]]:
    """``(rows, the columns of wanted that the table has as pyarrow arrays, every column name,
    the rows with more cells than the header)`` (:func:`_read_table`).

    A CSV file is parsed by pyarrow with every cell a string, as :mod:`csv` reads it; a file
    pyarrow reads otherwise (a row with more or fewer cells than the header, an empty header
    name, text that is not UTF-8) is read with :mod:`csv` instead. Column names, of a CSV or
    Parquet file, are read by :func:`~reelsense.io._text.column_names` (``user_id, video_id``;
    a name twice raises :class:`ParameterError`) and a UTF-8 byte order mark is dropped; text
    that is not UTF-8 (:func:`_read_table`) raises :class:`ParameterError`."""
    import pyarrow as pa

    if not path.is_file():  # a folder gave IsADirectoryError
        raise ParameterError(f"{str(path)!r} is not a file: give a CSV or Parquet table")
    if path.suffix.lower() in (".parquet", ".pq"):
        table = _parquet(path)
        columns = {c: table[c] for c in wanted if c in table.column_names}
        return table.num_rows, columns, table.column_names, []
    read = _arrow_csv(path, wanted)
    if read is not None:
        table, header = read
        return table.num_rows, {c: table[c] for c in wanted if c in table.column_names}, header, []
    data, long_at = _read_table(path)
    n = len(next(iter(data.values()), []))
    columns = {
        c: pa.array([None if v is None else str(v) for v in data[c]], pa.string())
        for c in wanted
        if c in data
    }
    return n, columns, list(data), long_at


def _arrow_csv(path: Path, wanted: tuple[str, ...]) -> tuple[Any, list[str]] | None:
    """The CSV file as a pyarrow table of string columns (those of ``wanted`` it has) and its
    header, or None when pyarrow would read it otherwise than :mod:`csv` (see
    :func:`_read_columns`)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    allow_long_csv_fields()
    with path.open(newline="", encoding="utf-8-sig") as handle:  # pyarrow drops a BOM too
        try:
            written = next(csv.reader(handle), [])
        except (csv.Error, UnicodeDecodeError):
            return None
    header = column_names(path, written)  # "a, b" names "b", as _read_table reads it
    if not header or "" in header:
        return None
    irregular: list[object] = []

    def note(row: object) -> str:
        irregular.append(row)
        return "skip"

    present = [c for c in wanted if c in header]
    as_written = [written[header.index(c)] for c in present]  # pyarrow's names, spaces kept
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=note),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in written},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                include_columns=as_written,
            ),
        )
    except (pa.ArrowInvalid, OSError):
        return None
    if irregular or table.column_names != as_written:
        return None
    return table.rename_columns(present), header


def _text(column: Any) -> Any:
    """A pyarrow string array of ``column``'s values (``str`` of each for another type; null
    stays null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.cast(column, pa.string())
    return pa.array([None if v is None else str(v) for v in _cells(column)], pa.string())


def _encode(column: Any) -> tuple[np.ndarray, list[str | None]]:
    """``(code of each row, the distinct strings)`` of a string array (null: None)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column, null_encoding="encode")
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


#: strings that Python's float() and pyarrow's cast read alike: the rest go through float()
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def _numbers(column: Any, *, times: bool) -> np.ndarray:
    """float64 ``[n]``: each value as :func:`_seconds` (``times``) or :func:`_float` reads it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_boolean(column.type)
    ):
        return np.asarray(pc.cast(column, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))
    # a date: midnight UTC of the day, as _float reads a date; a timestamp: its instant (UTC
    # where the column has no time zone, as _float reads a naive datetime), from the stored
    # integers (a Python datetime per cell took 2 us)
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        return _time_seconds(column)
    read = _seconds if times else _float
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return np.array([read(v) for v in _cells(column)], dtype=np.float64)
    out = np.full(len(column), np.nan)
    plain = pc.match_substring_regex(column, _PLAIN_NUMBER).fill_null(False)
    at = np.flatnonzero(plain.to_numpy(zero_copy_only=False))
    try:
        out[at] = pc.cast(column.filter(plain), pa.float64()).to_numpy(zero_copy_only=False)
        rest = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
    except pa.ArrowInvalid:  # e.g. an exponent past float64's range
        rest = np.arange(len(column))
    if rest.size:
        codes, values = _encode(column.take(rest))
        out[rest] = np.array([read(v) for v in values], dtype=np.float64)[codes]
    return out


def _present(column: Any) -> np.ndarray:
    """bool ``[n]``: the cells of ``column`` that hold a value (not null, not blank text, not a
    NaN number: pandas writes a missing float so)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):  # pandas' category dtype
        column = column.dictionary_decode()
    if pa.types.is_floating(column.type):
        present = pc.invert(pc.is_nan(column))
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        present = pc.not_equal(pc.utf8_trim_whitespace(column), "")
    else:
        present = pc.is_valid(column)
    return np.asarray(present.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


_EVENT_SEPARATORS = re.compile(r"[\s_-]+")


def _event_name(name: str) -> str:
    """The :data:`EVENTS` name that ``name`` spells: casefolded, runs of spaces, hyphens and
    underscores one ``_`` (``Not-Interested``, ``not interested`` -> ``not_interested``)."""
    return _EVENT_SEPARATORS.sub("_", name.strip().casefold())


def read_events(path: str | Path, video_index: dict[str, int]) -> EventLog:
    """Read a ``user_id,video_id,timestamp,event,watch_fraction`` log (CSV or Parquet).

    ``timestamp``: unix seconds, an ISO 8601 time (UTC when it names no offset), a Parquet
    timestamp or a Parquet date (midnight UTC of that day); a number outside the years
    1-9999 (milliseconds, say) or a date written YYYYMMDD (``20261207``, not read as seconds
    of 1970-08-23) is no timestamp, as
    :func:`reelsense.io.parse_timestamp` reads one, and counted with its message. An event
    name is read regardless of case, with spaces or hyphens for ``_`` (``Not-Interested``,
    ``not interested``, ``LIKE``). Rows with an event not in :data:`EVENTS` (counted by name,
    lower case), a video not in ``video_index``, a missing user or video,
    or no readable timestamp are dropped and counted in :attr:`EventLog.report` (and
    logged). A view whose ``watch_fraction`` is there but not a finite number (``50%``,
    ``inf``) is kept as one without a fraction and counted too. A ``user_id`` is read without
    surrounding spaces (as :func:`read_users` reads it), and a ``video_id`` not in
    ``video_index`` as written is looked up without them.

    Raises:
        ParameterError: a column is missing, or no row names a known video.
    """
    import pyarrow as pa

    path = Path(path)
    if not path.exists():
        raise ParameterError(f"events file {str(path)!r} does not exist")
    n, data, names_in_file, long_at = _read_columns(path, _COLUMNS)
    missing = [c for c in _COLUMNS if c not in data and c != "watch_fraction"]
    if missing:
        raise ParameterError(
            f"events file {str(path)!r} lacks the columns {missing} (has {sorted(names_in_file)})"
        )
    user_code, user_names = _encode(_text(data["user_id"]))
    user_names = [None if v is None else v.strip() for v in user_names]  # as read_users reads them
    video_code, video_names = _encode(_text(data["video_id"]))
    event_code, event_names = _encode(_text(data["event"]))
    times = _numbers(data["timestamp"], times=True)
    off_years = _outside_years(times)  # no readable timestamp, as parse_timestamp reads one
    if not pa.types.is_temporal(data["timestamp"].type):
        # a column of dates YYYYMMDD (20261207) is no time in seconds; a column of seconds
        # that passes through such numbers (relative times, 220-243 days in) stays seconds
        dates = _dates(times)
        if dates.any() and dates[np.isfinite(times) & ~off_years].all():
            off_years |= dates
    off_years_at = np.flatnonzero(off_years)
    off_years_note = ""
    if off_years_at.size:
        row = int(off_years_at[0])
        written = _cells(data["timestamp"].slice(row, 1))[0]  # a date past the year 9999: a _FarTime
        off_years_note = _outside_note(written, f"row {row + 1}")
        times = np.where(off_years, np.nan, times)  # (pyarrow's array may be read-only)
    fractions = (
        _numbers(data["watch_fraction"], times=False) if "watch_fraction" in data else np.full(n, np.nan)
    )
    blank_user = np.array([not v for v in user_names], dtype=bool)
    blank_video = np.array([v is None or not v.strip() for v in video_names], dtype=bool)
    bad = blank_user[user_code] | blank_video[video_code] | ~np.isfinite(times)
    codes = {e: i for i, e in enumerate(EVENTS)}
    event_keys = ["" if v is None else str(v).strip().lower() for v in event_names]  # as reported
    event_of = np.array([codes.get(_event_name(key), -1) for key in event_keys], dtype=np.int64)[event_code]
    unknown = ~bad & (event_of < 0)
    unknown_events: dict[str, int] = {}
    if unknown.any():  # counted by name, in the order they first appear
        first = np.unique(event_code[unknown], return_index=True)
        seen_at = np.flatnonzero(unknown)[first[1]]
        counts = np.bincount(event_code[unknown], minlength=len(event_names))
        for value, _ in sorted(zip(first[0], seen_at, strict=True), key=lambda pair: pair[1]):
            key = event_keys[value]
            unknown_events[key] = unknown_events.get(key, 0) + int(counts[value])
    row_of = np.array(  # the id as given, else without surrounding spaces ("a, b" in a CSV)
        [-1 if v is None else video_index.get(v, video_index.get(v.strip(), -1)) for v in video_names],
        dtype=np.int64,
    )
    video = row_of[video_code]
    off_catalog = ~bad & (event_of >= 0) & (video < 0)
    kept = ~bad & (event_of >= 0) & (video >= 0)
    off_ids = sorted({str(video_names[v]) for v in np.unique(video_code[off_catalog])})
    outside = np.isfinite(fractions) & ((fractions < 0) | (fractions > 1))  # clipped by EventWeights
    views = kept & (event_of == 0)
    unreadable_at = np.zeros(0, dtype=np.int64)  # views without a column have no fraction to read
    if "watch_fraction" in data:  # those without a finite fraction that are not an empty cell
        unreadable_at = np.flatnonzero(views & ~np.isfinite(fractions))  # neutral in EventWeights.values
        unreadable_at = unreadable_at[_present(data["watch_fraction"].take(unreadable_at))]
    report = LogReport(
        rows=n,
        kept=int(kept.sum()),
        unknown_events=unknown_events,
        unknown_videos=int(off_catalog.sum()),
        unknown_video_ids=tuple(off_ids[:10]),
        bad_rows=int(bad.sum()),
        timestamps_outside=off_years_at.size,
        timestamps_outside_note=off_years_note,
        watch_outside=int((views & outside).sum()),
        watch_unreadable=unreadable_at.size,
        watch_unreadable_example=(
            repr(data["watch_fraction"][int(unreadable_at[0])].as_py()) if unreadable_at.size else ""
        ),
        long_rows=len(long_at),
        long_rows_first=long_at[0] if long_at else 0,
    )
    if not report.kept:
        raise ParameterError(
            f"events file {str(path)!r} has no usable event on a video of the embeddings ({report.summary()})"
        )
    if report.kept < n or report.watch_outside or report.watch_unreadable or report.long_rows:
        logger.warning("%s: %s", path, report.summary())
    used = np.unique(user_code[kept])
    names = sorted({str(user_names[u]) for u in used})  # " u" and "u" are one user
    remap = np.full(len(user_names), -1, dtype=np.int64)
    remap[used] = np.searchsorted(
        np.array(names, dtype=object), np.array([str(user_names[u]) for u in used], dtype=object)
    )
    user = remap[user_code[kept]]
    times, fractions = times[kept], fractions[kept]
    order = np.lexsort((np.arange(user.size), times, user))
    return EventLog(
        users=tuple(names),
        user=user[order],
        video=video[kept][order],
        event=event_of[kept][order],
        timestamp=times[order],
        watch_fraction=fractions[order],
        report=report,
    )


def read_users(path: str | Path) -> dict[str, float]:
    """Read a ``user_id,request_time`` CSV (or Parquet): user (without surrounding spaces, as
    :func:`read_events` reads it) -> request time (unix seconds; in the file, seconds, ISO
    8601, a Parquet timestamp or date as the events' ``timestamp``; an empty cell, or no
    ``request_time`` column in a file of ``user_id`` alone: after every event).

    Raises:
        ParameterError: a column is missing, a row has no user, a request time is not a
            time (a number outside the years 1-9999 included: milliseconds, say; or a date
            written YYYYMMDD, ``20261207``), the file
            has other columns but no ``request_time`` (a misnamed one; a ``user_id`` column
            alone counts every event), or the file names no user.
    """
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"users file {str(path)!r} does not exist")
    data, long_at = _read_table(path)
    if long_at:
        logger.warning("users file %s: %s", path, _long_rows_note(len(long_at), long_at[0]))
    if "user_id" not in data:
        raise ParameterError(f"users file {str(path)!r} has no 'user_id' column (has {sorted(data)})")
    if "request_time" not in data and any(c and c != "user_id" for c in data):  # misnamed?
        raise ParameterError(
            f"users file {str(path)!r} has no 'request_time' column (has {sorted(data)}): name it "
            "so, or give the user_id column alone to count every event"
        )
    times = data.get("request_time", [None] * len(data["user_id"]))
    out: dict[str, float] = {}
    timed = dated = 0  # finite request times, and of them dates YYYYMMDD (the first kept)
    first_date: tuple[object, str] | None = None
    for row, (cell, t) in enumerate(zip(data["user_id"], times, strict=True), start=1):
        user = None if cell is None else str(cell).strip()  # as read_events reads them
        if not user:  # as read_events counts a row without a user
            raise ParameterError(
                f"users file {str(path)!r}: row {row} (request_time={t!r}) has no user_id: give one per row"
            )
        value = math.inf if t in (None, "") else _seconds(t)
        # _outside_years' rule on one value (a numpy array per row cost 2.7 us)
        if math.isfinite(value) and not MIN_TIMESTAMP_SECONDS <= value <= MAX_TIMESTAMP_SECONDS + 1:
            raise ParameterError(
                f"users file {str(path)!r}: " + _outside_note(t, f"request_time of user {user!r}")
            )
        if math.isfinite(value):  # read_events' rule on dates YYYYMMDD: the whole column's
            timed += 1
            if not isinstance(t, (date, _FarTime)) and date_like(value) is not None:  # (a datetime is a date)
                dated += 1
                first_date = first_date or (t, user)
        if math.isnan(value):
            raise ParameterError(
                f"users file {str(path)!r}: request_time={t!r} of user {user!r} is neither unix seconds "
                "nor an ISO 8601 time"
            )
        if user in out:
            raise ParameterError(f"users file {str(path)!r} lists user {user!r} twice")
        out[user] = value
    if not out:
        raise ParameterError(f"users file {str(path)!r} names no user")
    if first_date is not None and dated == timed:
        t, user = first_date
        raise ParameterError(
            f"users file {str(path)!r}: " + _outside_note(t, f"request_time of user {user!r}")
        )
    return out
