"""SQLite plumbing of the fingerprint store: connections, schema, ``meta`` checks, error mapping, streaming.

The layout these functions create and check is documented in :mod:`reelsense.sounds.index._store`.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import numpy as np

from reelsense.errors import SoundIndexError, SoundIndexFormatError
from reelsense.io._files import regular_file_size
from reelsense.sounds.index._codec import decode_array, readd_hint
from reelsense.sounds.index._records import EncodedItem, SoundRecord, utc_now

logger = logging.getLogger(__name__)

__all__ = [
    "MAGIC",
    "PAGE_SIZE",
    "ArrayStream",
    "connect",
    "create_schema",
    "insert_sound",
    "params_difference",
    "read_meta",
    "translate_errors",
    "write_transaction",
]

MAGIC = "reelsense-sound-index"
#: SQLite page size of new stores (bytes): SQLite's default; scripts/dev/bench_store.py compares
#: the layouts (docs/benchmarks.md).
PAGE_SIZE = 4096
_REQUIRED_META = (
    "magic",
    "format_version",
    "params",
    "compression",
    "created_at",
    "package_version",
    "generation",
)
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE sounds (
        key INTEGER PRIMARY KEY AUTOINCREMENT,
        sound_id TEXT NOT NULL UNIQUE,
        duration_seconds REAL NOT NULL,
        n_items INTEGER NOT NULL,
        n_arrays INTEGER NOT NULL,
        source_path TEXT,
        added_at TEXT NOT NULL,
        meta TEXT NOT NULL)""",
    """CREATE TABLE arrays (
        key INTEGER NOT NULL REFERENCES sounds(key) ON DELETE CASCADE,
        name TEXT NOT NULL,
        dtype TEXT NOT NULL,
        shape TEXT NOT NULL,
        codec TEXT NOT NULL,
        nbytes INTEGER NOT NULL,
        crc32 INTEGER NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (key, name))""",
)
_STREAM_SQL = (
    "SELECT s.key, s.sound_id, s.n_arrays, a.name, a.dtype, a.shape, a.codec, a.nbytes, a.crc32, a.data "
    "FROM sounds s LEFT JOIN arrays a ON a.key = s.key ORDER BY s.key, a.name"
)


_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def check_regular(path: Path) -> None:
    """SoundIndexError unless the index and the files SQLite keeps beside it are regular files
    or absent: a FIFO or a device there would block the open or a read forever."""
    for suffix in _SIDE_FILES:
        side = Path(f"{path}{suffix}")
        try:
            regular_file_size(side)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SoundIndexError(f"cannot open the sound index {path}: {exc}") from None


def _probe(con: sqlite3.Connection) -> None:
    con.execute("SELECT count(*) FROM sqlite_master").fetchone()


def remove_reader_files(path: str | os.PathLike[str], timeout_seconds: float = 10.0) -> None:
    """Remove the ``-wal`` and ``-shm`` files that read-only connections made, when no
    connection has the index open any more. SQLite removes them when its last connection
    closes, but only a connection that may write: a read-only one leaves them (an empty
    ``-wal`` and a ``-shm`` beside an index that was only read). So a connection that may write
    is opened, reads, and closes: the last one, it removes them (its checkpoint has nothing to
    copy: this is done only while the ``-wal`` is empty); with another connection open it
    leaves them, as SQLite does. Nothing is removed where the index may not be written."""
    path = Path(path)
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    try:
        if wal.exists() and wal.stat().st_size > 0:
            return  # a writer's commits (a writer open, or one that died): not a reader's to copy
        if not (wal.exists() or shm.exists()):
            return
    except OSError:
        return
    try:
        con = connect(path, "rw", timeout_seconds)
        try:
            _probe(con)
        finally:
            con.close()
    except (sqlite3.Error, SoundIndexError) as exc:
        logger.debug("%s: its -wal/-shm files are left: %s", path, exc)


def connect(path: Path, mode: str, timeout_seconds: float) -> sqlite3.Connection:
    """An autocommit connection (explicit BEGIN/COMMIT) with URI ``mode`` ``ro``, ``rw`` or ``rwc``.

    Only regular files are opened (:func:`check_regular`). With ``ro``, an index that this
    process may not write to (another user's, a read-only mount) whose write-ahead log
    cannot be attached is opened ``immutable`` instead: reading never needs write access.
    """
    check_regular(path)
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    try:
        con = sqlite3.connect(
            uri, uri=True, timeout=timeout_seconds, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise SoundIndexError(f"cannot open the sound index {path} (mode={mode}): {exc}") from exc
    if mode != "ro":
        return con
    try:
        _probe(con)
    except sqlite3.DatabaseError as exc:
        if "readonly" not in str(exc) and "unable to open" not in str(exc):
            return con  # reported, with its own message, by the first real query
        con.close()
        logger.info("%s: %s; opening it immutable (read-only file or folder)", path, exc)
        try:
            con = sqlite3.connect(
                uri + "&immutable=1",
                uri=True,
                timeout=timeout_seconds,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc2:
            raise SoundIndexError(f"cannot open the sound index {path} read-only: {exc2}") from exc2
    return con


@contextmanager
def translate_errors(path: Path, timeout_seconds: float | None = None) -> Iterator[None]:
    """Map :mod:`sqlite3` errors to SoundIndexError / SoundIndexFormatError with actionable messages."""
    try:
        yield
    except (sqlite3.OperationalError, sqlite3.IntegrityError) as exc:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            waited = "" if timeout_seconds is None else f" (waited {timeout_seconds:g} s)"
            raise SoundIndexError(
                f"the sound index {path} is locked by another writer{waited}; only one process can add at a "
                "time: retry later or open it with a larger timeout_seconds"
            ) from exc
        if "readonly" in msg:
            raise SoundIndexError(f"the sound index {path} cannot be written ({msg})") from exc
        raise SoundIndexError(f"the sound index {path}: {msg}") from exc
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            raise
        msg = str(exc)
        if "not a database" in msg:
            raise SoundIndexFormatError(
                f"{path} is not a reelsense sound index: it is not an SQLite database ({msg}); a sound "
                "index is the file made by `reelsense sounds add --sound-index PATH` (SoundIndex.create in "
                "the library); give a new path to create one"
            ) from exc
        raise SoundIndexFormatError(
            f"the sound index {path} is damaged ({msg}); rebuild it from its source files"
        ) from exc


def create_schema(con: sqlite3.Connection, meta_rows: Mapping[str, str]) -> None:
    """Make an empty database a format-1 store (WAL, tables, ``meta`` rows); safe against a racing creator."""
    con.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    con.execute("PRAGMA journal_mode = WAL")
    with write_transaction(con, bump_generation=False):
        if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone() is None:
            for statement in _SCHEMA:
                con.execute(statement)
            con.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(meta_rows.items()))


@contextmanager
def write_transaction(con: sqlite3.Connection, *, bump_generation: bool = True) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception.

    With ``bump_generation`` the commit also increments ``meta.generation`` when any row changed.
    """
    con.execute("BEGIN IMMEDIATE")
    changes_before = con.total_changes
    try:
        yield
        if bump_generation and con.total_changes != changes_before:
            con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def _not_ours(con: sqlite3.Connection, path: Path, why: str) -> SoundIndexFormatError:
    tables = sorted(str(r[0]) for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    return SoundIndexFormatError(
        f"{path} is an SQLite database but not a reelsense sound index ({why}; its tables: "
        f"{', '.join(tables) or 'none'}; expected meta, sounds, arrays with meta.magic = {MAGIC!r}); "
        "give the path of a sound index, or a new path to create one"
    )


def read_meta(con: sqlite3.Connection, path: Path) -> dict[str, str]:
    """The ``meta`` table as a dict, after checking the magic string and required keys."""
    try:
        rows = con.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.OperationalError as exc:
        raise _not_ours(con, path, str(exc)) from None
    meta = {str(k): str(v) for k, v in rows}
    if meta.get("magic") != MAGIC:
        raise _not_ours(con, path, f"meta.magic is {meta.get('magic')!r}")
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        raise SoundIndexFormatError(f"the sound index {path} is damaged: meta lacks {missing}; rebuild it")
    try:
        int(meta["format_version"])
        int(meta["generation"])
        json.loads(meta["params"])
    except ValueError as exc:
        raise SoundIndexFormatError(
            f"the sound index {path} is damaged: bad meta value ({exc}); rebuild it"
        ) from None
    return meta


_ABSENT = "<absent>"


def params_difference(stored: Mapping[str, object], given: Mapping[str, object]) -> str:
    """'' when equal, else ``"key: stored X, given Y; ..."`` for every differing key (sorted)."""
    keys = sorted(k for k in set(stored) | set(given) if stored.get(k, _ABSENT) != given.get(k, _ABSENT))

    def show(mapping: Mapping[str, object], key: str) -> str:
        return repr(mapping[key]) if key in mapping else _ABSENT

    return "; ".join(f"{k}: stored {show(stored, k)}, given {show(given, k)}" for k in keys)


class ArrayStream(Iterator[tuple[int, str, dict[str, np.ndarray]]]):
    """Iterator of ``(key, sound_id, arrays)`` over one read snapshot (see ``FingerprintStore.iter_arrays``).

    Attributes:
        generation: the store generation of the snapshot being read.
    """

    def __init__(self, path: Path, timeout_seconds: float, *, batch_size: int, verify: bool) -> None:
        self._path = path
        self._batch_size = batch_size
        self._verify = verify
        self._con: sqlite3.Connection | None = connect(path, "ro", timeout_seconds)
        try:
            with translate_errors(path, timeout_seconds):
                self._con.execute("BEGIN")
                row = self._con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                self.generation = int(row[0])
                self._cursor = self._con.execute(_STREAM_SQL)
        except BaseException:
            self.close()
            raise
        self._groups = itertools.groupby(self._rows(), key=lambda r: int(r[0]))

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        while True:
            batch = self._cursor.fetchmany(self._batch_size)
            if not batch:
                return
            yield from batch

    def __next__(self) -> tuple[int, str, dict[str, np.ndarray]]:
        if self._con is None:
            raise StopIteration
        with translate_errors(self._path):
            group = next(self._groups, None)
            if group is None:
                self.close()
                raise StopIteration
            key, rows_iter = group
            rows = list(rows_iter)
        sound_id = str(rows[0][1])
        present = [r for r in rows if r[3] is not None]
        if len(present) != rows[0][2]:
            raise SoundIndexFormatError(
                f"sound {sound_id!r} in {self._path} is incomplete: {len(present)} of {rows[0][2]} arrays "
                f"stored; {readd_hint(sound_id, str(self._path))}"
            )
        arrays = {
            str(r[3]): decode_array(sound_id, str(r[3]), *r[4:], verify=self._verify, index=str(self._path))
            for r in present
        }
        return key, sound_id, arrays

    def close(self) -> None:
        """Release the snapshot and the connection (idempotent)."""
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()
            self._con = None

    def __enter__(self) -> ArrayStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def insert_sound(con: sqlite3.Connection, path: Path, item: EncodedItem, replace: bool) -> SoundRecord:
    """Insert one encoded sound inside the caller's write transaction."""
    if replace:
        con.execute(
            "DELETE FROM arrays WHERE key = (SELECT key FROM sounds WHERE sound_id = ?)", (item.sound_id,)
        )
        con.execute("DELETE FROM sounds WHERE sound_id = ?", (item.sound_id,))
    added_at = utc_now()
    try:
        cur = con.execute(
            "INSERT INTO sounds (sound_id, duration_seconds, n_items, n_arrays, source_path, added_at, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                item.sound_id,
                item.duration_seconds,
                item.n_items,
                len(item.arrays),
                item.source_path,
                added_at,
                item.meta_json,
            ),
        )
    except sqlite3.IntegrityError:
        raise SoundIndexError(
            f"sound {item.sound_id!r} is already in {path}; "
            "pass replace=True to overwrite it (it gets a new key)"
        ) from None
    key = int(cur.lastrowid or 0)
    con.executemany(
        "INSERT INTO arrays (key, name, dtype, shape, codec, nbytes, crc32, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(key, e.name, e.dtype, e.shape_json, e.codec, e.nbytes, e.crc32, e.data) for e in item.arrays],
    )
    return SoundRecord(
        sound_id=item.sound_id,
        key=key,
        duration_seconds=item.duration_seconds,
        n_items=item.n_items,
        source_path=item.source_path,
        added_at=added_at,
        meta=MappingProxyType(json.loads(item.meta_json)),
    )
