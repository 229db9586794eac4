"""Persistent, embedded, crash-safe store of fingerprint arrays: the disk layer under ``SoundIndex``.

:class:`FingerprintStore` keeps, per reference sound, a record (id, stable integer key, duration, source
path, free-form JSON meta) and a few named numpy arrays (e.g. hashes and their times). It needs no server:
it is one SQLite 3 database (standard-library :mod:`sqlite3`) and never pickles anything.

Files
-----
The store is the single file you name (e.g. ``my.rsidx``). It runs in WAL journal mode, so while any
connection is open SQLite keeps ``my.rsidx-wal`` and ``my.rsidx-shm`` beside it; they belong to the store
(committed sounds may live only in the ``-wal`` file until a checkpoint): copy or move the three together,
or close every connection first (the last one to close checkpoints and deletes them; a read-only one cannot,
so closing a read-only store removes them through a brief writable connection when the ``-wal`` is empty
and no other connection is open). WAL needs a local file system with working shared memory (not NFS/SMB).

On-disk layout (format_version 1)
---------------------------------
::

    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)   -- one row per key:
        magic            'reelsense-sound-index'
        format_version   '1'
        params           JSON object: the fingerprint parameters every stored array was made with
        compression      'raw' | 'shuffle-zlib': how new arrays are written (each row names its own codec)
        created_at       UTC ISO-8601 time of creation
        package_version  reelsense version that created the store
        generation       decimal integer, incremented in every committed change

    sounds(key              INTEGER PRIMARY KEY AUTOINCREMENT,  -- stable; never reused (sqlite_sequence)
           sound_id         TEXT NOT NULL UNIQUE,
           duration_seconds REAL NOT NULL,
           n_items          INTEGER NOT NULL,  -- len of its first array (1 for a 0-d array)
           n_arrays         INTEGER NOT NULL,  -- number of `arrays` rows of this key
           source_path      TEXT,              -- NULL when unknown
           added_at         TEXT NOT NULL,     -- UTC ISO-8601
           meta             TEXT NOT NULL)     -- JSON object

    arrays(key    INTEGER NOT NULL REFERENCES sounds(key) ON DELETE CASCADE,
           name   TEXT NOT NULL,
           dtype  TEXT NOT NULL,     -- little-endian numpy dtype string: '<u4', '<i4', '<f4', '|u1', ...
           shape  TEXT NOT NULL,     -- JSON list of ints, C order
           codec  TEXT NOT NULL,     -- 'raw' | 'shuffle-zlib' (see reelsense.sounds.index._codec)
           nbytes INTEGER NOT NULL,  -- decoded byte length = prod(shape) * itemsize
           crc32  INTEGER NOT NULL,  -- zlib.crc32 of the decoded bytes
           data   BLOB NOT NULL,
           UNIQUE (key, name))

Reading a ``'raw'`` array without reelsense: ``np.frombuffer(data, dtype).reshape(json.loads(shape))``.

Guarantees
----------
- **Atomic writes.** Each :meth:`FingerprintStore.add` and each :meth:`~FingerprintStore.add_many` (or each
  batch of it with ``commit_every``) is one SQLite transaction that also bumps ``generation``; a process
  killed at any point leaves a store that opens and holds each sound wholly or not at all.
- **Durability.** ``synchronous=NORMAL`` by default: in WAL mode this never corrupts the database and never
  loses a commit when the *process* dies (committed frames are already in the OS page cache); only an OS
  crash or power cut can roll back the last commits (still to a consistent state). ``durable=True`` selects
  ``synchronous=FULL`` (an fsync of the WAL per commit) when even that matters.
- **Concurrency.** Any number of readers (other processes or threads, ``readonly=True`` or not) read while
  one writer adds; a read (:meth:`~FingerprintStore.iter_arrays`, :meth:`~FingerprintStore.get_arrays`)
  sees one committed snapshot. A second writer waits up to ``timeout_seconds`` for the lock and then raises
  :class:`~reelsense.errors.SoundIndexError`. Do not carry an open store across ``fork``: open one per
  process.
- **Versioning.** Opening a file that is not SQLite, an SQLite database that is not ours, or a newer
  ``format_version`` raises :class:`~reelsense.errors.SoundIndexFormatError`; older versions are upgraded in
  place by the steps in ``_MIGRATIONS`` when opened writable.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import numpy as np

from reelsense._version import __version__
from reelsense.errors import ParameterError, SoundIndexError, SoundIndexFormatError
from reelsense.sounds.index._codec import CODECS, decode_array, readd_hint
from reelsense.sounds.index._records import (
    RECORD_COLUMNS,
    SoundRecord,
    StoreItem,
    StoreStats,
    encode_item,
    record_from_row,
    to_json,
    utc_now,
)
from reelsense.sounds.index._sql import (
    MAGIC,
    ArrayStream,
    connect,
    create_schema,
    insert_sound,
    params_difference,
    read_meta,
    remove_reader_files,
    translate_errors,
    write_transaction,
)

__all__ = ["FORMAT_VERSION", "ArrayStream", "FingerprintStore", "SoundRecord", "StoreItem", "StoreStats"]

logger = logging.getLogger(__name__)

#: the on-disk format this code writes (and the newest it reads).
FORMAT_VERSION = 1

#: upgrade steps: ``_MIGRATIONS[v](connection)`` turns a format-``v`` store into format ``v + 1``; it runs
#: inside the write transaction that then records the new ``format_version``.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


class FingerprintStore:
    """Embedded, crash-safe store of named numpy arrays per sound (see the module docstring for the layout).

    Open with :meth:`open`; use as a context manager or call :meth:`close`. Methods are thread-safe
    (one lock per store object); every method raises :class:`~reelsense.errors.SoundIndexError` (or its
    subclass :class:`~reelsense.errors.SoundIndexFormatError`) for store problems and
    :class:`~reelsense.errors.ParameterError` for bad arguments.
    """

    def __init__(
        self, con: sqlite3.Connection, path: Path, *, readonly: bool, timeout_seconds: float
    ) -> None:
        """Internal: use :meth:`open`."""
        self._con: sqlite3.Connection | None = con
        self.path = path
        self._resolved_path = path.resolve()  # later streams open the same file even after a chdir
        self.readonly = readonly
        self.timeout_seconds = timeout_seconds
        self._lock = threading.RLock()
        meta = read_meta(con, path)
        self.format_version = int(meta["format_version"])
        self.params: Mapping[str, object] = MappingProxyType(json.loads(meta["params"]))
        self.compression = meta["compression"]
        self.created_at = meta["created_at"]
        self.package_version = meta["package_version"]

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        readonly: bool = False,
        params: Mapping[str, object] | None = None,
        compression: str = "shuffle-zlib",
        durable: bool = False,
        timeout_seconds: float = 10.0,
    ) -> FingerprintStore:
        """Open (or with ``create=True`` create) a store.

        Args:
            path: the database file (``.rsidx`` by convention); parent folders are made with ``create``.
            create: create the store when the file does not exist (or is empty); an existing store is opened.
            readonly: open read-only (SQLite ``mode=ro``); every write raises SoundIndexError.
            params: JSON-serialisable fingerprint parameters. Stored at creation; when opening an existing
                store they must equal the stored ones (None accepts whatever is stored).
            compression: codec for new arrays when creating: ``'shuffle-zlib'`` (compress arrays that shrink
                by >= 10 %) or ``'raw'``. Ignored for an existing store (its stored setting is used).
            durable: ``synchronous=FULL`` (fsync per commit) instead of ``NORMAL``; see the module docstring.
            timeout_seconds: how long a writer waits for another writer's lock before SoundIndexError.

        Raises:
            SoundIndexError: the file does not exist (without ``create``) or is locked/unreadable.
            SoundIndexFormatError: the file is not a reelsense sound index, has a newer format, or was built
                with other ``params`` (the message names the differing keys).
            ParameterError: ``create`` with ``readonly``, non-JSON ``params``, unknown ``compression``.
        """
        p = Path(path)
        if create and readonly:
            raise ParameterError("create=True and readonly=True exclude each other")
        if compression not in CODECS:
            raise ParameterError(f"unknown compression {compression!r}; expected one of {CODECS}")
        if not (timeout_seconds >= 0 and math.isfinite(timeout_seconds)):
            raise ParameterError(f"timeout_seconds must be finite and >= 0, got {timeout_seconds!r}")
        params_json = None if params is None else to_json(params, "params")
        if p.is_dir():
            raise SoundIndexFormatError(f"{p} is a directory, not a sound index file")
        if not p.exists() and not create:
            raise SoundIndexError(
                f"no sound index at {p}: the file does not exist (make one with `reelsense sounds add "
                "--sound-index PATH`, SoundIndex.create in the library)"
            )
        if create:
            p.parent.mkdir(parents=True, exist_ok=True)
        mode = "ro" if readonly else ("rwc" if create else "rw")
        con = connect(p, mode, timeout_seconds)
        try:
            with translate_errors(p, timeout_seconds):
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not tables:
                    if not create:
                        raise SoundIndexFormatError(
                            f"{p} is an empty file or empty SQLite database, not a reelsense sound index "
                            "(`reelsense sounds add --sound-index PATH` makes one, SoundIndex.create in "
                            "the library)"
                        )
                    meta_rows = {
                        "magic": MAGIC,
                        "format_version": str(FORMAT_VERSION),
                        "params": params_json or "{}",
                        "params_sha256": hashlib.sha256((params_json or "{}").encode("utf-8")).hexdigest(),
                        "compression": compression,
                        "created_at": utc_now(),
                        "package_version": __version__,
                        "generation": "0",
                    }
                    create_schema(con, meta_rows)
                meta = read_meta(con, p)
                sealed = meta.get("params_sha256")
                if (
                    sealed is not None
                    and sealed != hashlib.sha256(meta["params"].encode("utf-8")).hexdigest()
                ):
                    raise SoundIndexFormatError(
                        f"{p} is damaged: its meta params were changed after it was built (they no longer "
                        "match params_sha256), so its fingerprints cannot be trusted; rebuild the index"
                    )
                version = int(meta["format_version"])
                if meta["compression"] not in CODECS:
                    raise SoundIndexFormatError(
                        f"{p} uses compression {meta['compression']!r}, unknown to reelsense {__version__} "
                        f"(it knows {CODECS}); upgrade reelsense"
                    )
                if version > FORMAT_VERSION:
                    raise SoundIndexFormatError(
                        f"{p} has sound index format_version {version}, newer than the {FORMAT_VERSION} this "
                        f"reelsense {__version__} reads; upgrade reelsense (pip install -U reelsense)"
                    )
                if not readonly:
                    mode_row = con.execute("PRAGMA journal_mode = WAL").fetchone()
                    if str(mode_row[0]).lower() != "wal":
                        raise SoundIndexError(f"{p}: cannot switch to WAL journal mode (got {mode_row[0]!r})")
                    con.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                    con.execute("PRAGMA journal_size_limit = 67108864")
                    if version < FORMAT_VERSION:
                        _migrate(con, p, version)
                elif version < FORMAT_VERSION:
                    raise SoundIndexFormatError(
                        f"{p} has the older sound index format_version {version} (this reelsense writes "
                        f"{FORMAT_VERSION}); open it once without readonly=True to upgrade it in place"
                    )
                con.execute("PRAGMA foreign_keys = ON")
                store = cls(con, p, readonly=readonly, timeout_seconds=timeout_seconds)
            if params_json is not None:
                diff = params_difference(store.params, json.loads(params_json))
                if diff:
                    raise SoundIndexFormatError(
                        f"{p} was built with other fingerprint parameters ({diff}); fingerprints made with "
                        "other parameters cannot be matched against it: open it with its stored params "
                        "(params=None) or build a new index"
                    )
        except BaseException:
            con.close()
            if readonly:  # a read-only connection leaves its -wal and -shm
                remove_reader_files(p, timeout_seconds)
            raise
        return store

    # ------------------------------------------------------------------ plumbing
    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            raise SoundIndexError(f"the sound index {self.path} is closed")
        return self._con

    def _check_writable(self) -> sqlite3.Connection:
        con = self._connection()
        if self.readonly:
            raise SoundIndexError(
                f"the sound index {self.path} is open read-only; open it without readonly=True"
            )
        return con

    @contextmanager
    def _write_txn(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (rolled back on any exception), translating SQLite errors."""
        with self._lock, translate_errors(self.path, self.timeout_seconds):
            con = self._check_writable()
            with write_transaction(con):
                yield con

    def _unknown(self, sound_id: str) -> SoundIndexError:
        ids = self.ids()
        close = difflib.get_close_matches(str(sound_id), ids, n=5, cutoff=0.6)
        hint = f"close ids: {', '.join(map(repr, close))}" if close else f"it holds {len(ids)} sounds"
        return SoundIndexError(f"no sound {sound_id!r} in {self.path} ({hint})")

    # ------------------------------------------------------------------ writing
    def add(
        self,
        sound_id: str,
        arrays: Mapping[str, np.ndarray],
        *,
        duration_seconds: float,
        source_path: str | None = None,
        meta: Mapping[str, object] | None = None,
        replace: bool = False,
    ) -> SoundRecord:
        """Add one sound atomically.

        Args:
            sound_id: non-empty id, unique in the store.
            arrays: name -> array (fixed-size int/uint/float dtype, any shape; at least one array).
            duration_seconds: length of the reference audio (finite, >= 0).
            source_path: where the sound came from, if known.
            meta: JSON-serialisable extra data.
            replace: overwrite an existing sound of that id (it gets a new key); without it a duplicate id
                raises SoundIndexError and nothing is written.
        """
        item = StoreItem(sound_id, arrays, duration_seconds, source_path, meta)
        encoded = encode_item(item, self.compression)
        with self._write_txn() as con:
            return insert_sound(con, self.path, encoded, replace)

    def add_many(
        self,
        items: Iterable[StoreItem],
        *,
        replace: bool = False,
        commit_every: int | None = None,
        commit_seconds: float | None = None,
    ) -> list[SoundRecord]:
        """Add many sounds; ``items`` is consumed lazily (a generator keeps memory bounded).

        Args:
            items: the sounds.
            replace: as in :meth:`add`.
            commit_every: None (default) makes the whole call one transaction: all sounds or none. An int N
                commits after every N sounds, so a huge import keeps the ``-wal`` file small and a failure or
                kill keeps the batches committed before it (a warning logs how many).
            commit_seconds: with ``commit_every``, also commit when this many seconds passed since the
                transaction began (checked as each sound arrives), so a kill costs at most about that
                much work however slowly the sounds come.

        Returns:
            the records of the added sounds, in order.
        """
        if commit_every is not None and (not isinstance(commit_every, int) or commit_every < 1):
            raise ParameterError(f"commit_every must be None or an int >= 1, got {commit_every!r}")
        done: list[SoundRecord] = []
        iterator = iter(items)
        with self._lock:
            try:
                while True:
                    batch: list[SoundRecord] = []
                    began = time.monotonic()
                    timed_out = False
                    with self._write_txn() as con:
                        for item in iterator:
                            if not isinstance(item, StoreItem):
                                raise ParameterError(
                                    f"add_many takes StoreItem objects, got {type(item).__name__}"
                                )
                            batch.append(
                                insert_sound(con, self.path, encode_item(item, self.compression), replace)
                            )
                            if commit_every is not None and len(batch) >= commit_every:
                                break
                            if commit_seconds is not None and time.monotonic() - began >= commit_seconds:
                                timed_out = True
                                break
                    done.extend(batch)
                    if commit_every is None or (len(batch) < commit_every and not timed_out):
                        return done
            except BaseException:
                if commit_every is not None and done:
                    logger.warning(
                        "add_many failed after committing %d sounds to %s; they are kept",
                        len(done),
                        self.path,
                    )
                raise

    def remove(self, sound_id: str) -> None:
        """Remove a sound and its arrays (its key is never reused). Unknown id -> SoundIndexError."""
        with self._write_txn() as con:
            row = con.execute("SELECT key FROM sounds WHERE sound_id = ?", (sound_id,)).fetchone()
            if row is None:
                raise self._unknown(sound_id)
            con.execute("DELETE FROM arrays WHERE key = ?", row)
            con.execute("DELETE FROM sounds WHERE key = ?", row)

    def vacuum(self) -> None:
        """Rewrite the file to return free pages (after many removals) to the file system; keys are kept."""
        with self._lock, translate_errors(self.path, self.timeout_seconds):
            self._check_writable().execute("VACUUM")

    # ------------------------------------------------------------------ reading
    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, translate_errors(self.path, self.timeout_seconds):
            return self._connection().execute(sql, args).fetchall()

    def ids(self) -> list[str]:
        """All sound ids, in key (insertion) order."""
        return [str(r[0]) for r in self._query("SELECT sound_id FROM sounds ORDER BY key")]

    def __contains__(self, sound_id: object) -> bool:
        return isinstance(sound_id, str) and bool(
            self._query("SELECT 1 FROM sounds WHERE sound_id = ?", (sound_id,))
        )

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM sounds")[0][0])

    def record(self, sound_id: str) -> SoundRecord:
        """The record of one sound; unknown id -> SoundIndexError listing close ids."""
        rows = self._query(f"SELECT {RECORD_COLUMNS} FROM sounds WHERE sound_id = ?", (sound_id,))
        if not rows:
            raise self._unknown(sound_id)
        return record_from_row(rows[0])

    def records(self) -> list[SoundRecord]:
        """All records, in key order."""
        return [record_from_row(r) for r in self._query(f"SELECT {RECORD_COLUMNS} FROM sounds ORDER BY key")]

    def get_arrays(self, sound_id: str, *, verify: bool = True) -> dict[str, np.ndarray]:
        """The arrays of one sound (read-only, native byte order), checked against the record.

        Raises:
            SoundIndexError: unknown id (listing close ids).
            SoundIndexFormatError: a corrupt or missing array (naming the sound).
        """
        rows = self._query(
            "SELECT s.n_arrays, a.name, a.dtype, a.shape, a.codec, a.nbytes, a.crc32, a.data "
            "FROM sounds s LEFT JOIN arrays a ON a.key = s.key WHERE s.sound_id = ? ORDER BY a.name",
            (sound_id,),
        )
        if not rows:
            raise self._unknown(sound_id)
        present = [r for r in rows if r[1] is not None]
        if len(present) != rows[0][0]:
            raise SoundIndexFormatError(
                f"sound {sound_id!r} in {self.path} is incomplete: {len(present)} of {rows[0][0]} arrays "
                f"stored; {readd_hint(sound_id, str(self.path))}"
            )
        return {
            str(r[1]): decode_array(sound_id, str(r[1]), *r[2:], verify=verify, index=str(self.path))
            for r in present
        }

    def iter_arrays(self, *, batch_size: int = 256, verify: bool = True) -> ArrayStream:
        """Stream ``(key, sound_id, arrays)`` for every sound in key order from one committed snapshot.

        Uses its own read-only connection (so writers in this or other processes are not blocked) and holds
        at most ``batch_size`` array rows in memory besides the sound being yielded. The returned
        :class:`ArrayStream` is an iterator with a ``generation`` attribute: the generation of the snapshot
        it reads (compare with :attr:`generation` later to see whether the store changed since).
        Close it (or exhaust it, or use ``with``) to release the snapshot.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._connection()
        return ArrayStream(self._resolved_path, self.timeout_seconds, batch_size=batch_size, verify=verify)

    @property
    def generation(self) -> int:
        """Counter incremented by every committed change (from any process); one indexed read."""
        return int(self._query("SELECT value FROM meta WHERE key = 'generation'")[0][0])

    def stats(self) -> StoreStats:
        """Totals (counts, durations, bytes) and the ``meta`` fields."""
        with self._lock, translate_errors(self.path, self.timeout_seconds):
            con = self._connection()
            con.execute("BEGIN")
            try:
                n, dur, items = con.execute(
                    "SELECT COUNT(*), COALESCE(SUM(duration_seconds), 0), COALESCE(SUM(n_items), 0) "
                    "FROM sounds"
                ).fetchone()
                raw, stored = con.execute(
                    "SELECT COALESCE(SUM(nbytes), 0), COALESCE(SUM(length(data)), 0) FROM arrays"
                ).fetchone()
                page = con.execute("PRAGMA page_size").fetchone()[0]
                pages = con.execute("PRAGMA page_count").fetchone()[0]
                free = con.execute("PRAGMA freelist_count").fetchone()[0]
                generation = int(con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            finally:
                con.execute("COMMIT")
        file_bytes = int(page * pages)
        return StoreStats(
            path=str(self.path),
            n_sounds=int(n),
            total_duration_seconds=float(dur),
            total_items=int(items),
            array_bytes=int(raw),
            stored_bytes=int(stored),
            file_bytes=file_bytes,
            free_bytes=int(page * free),
            bytes_per_hour=file_bytes / (dur / 3600.0) if dur > 0 else None,
            format_version=self.format_version,
            params=self.params,
            compression=self.compression,
            created_at=self.created_at,
            package_version=self.package_version,
            generation=generation,
        )

    def check(self) -> list[str]:
        """Full consistency check: SQLite ``integrity_check`` plus decoding (with CRC) every array.

        Returns:
            a list of problems, empty when the store is healthy.
        """
        problems: list[str] = []
        rows = self._query("PRAGMA integrity_check")
        problems += [f"sqlite: {r[0]}" for r in rows if r[0] != "ok"]
        for sound_id in self.ids():
            try:
                arrays = self.get_arrays(sound_id)
                rec = self.record(sound_id)
            except SoundIndexFormatError as exc:
                problems.append(str(exc))
                continue
            # the length of the array stored first (arrays come back by name); stores written
            # before the dense bits recorded the largest array's, which is one of them too
            lengths = sorted({int(a.shape[0]) if a.ndim else 1 for a in arrays.values()})
            if rec.n_items not in lengths:
                problems.append(
                    f"sound {sound_id!r}: record says n_items={rec.n_items}, its arrays hold {lengths}"
                )
        return problems

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                if self.readonly:  # a read-only connection leaves its -wal and -shm
                    remove_reader_files(self._resolved_path, self.timeout_seconds)

    def __enter__(self) -> FingerprintStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._con is None else ("read-only" if self.readonly else "writable")
        return f"FingerprintStore({str(self.path)!r}, {state}, format_version={self.format_version})"


def _migrate(con: sqlite3.Connection, path: Path, version: int) -> None:
    """Upgrade a writable store from ``version`` to :data:`FORMAT_VERSION` in one transaction."""
    with write_transaction(con):
        current = int(read_meta(con, path)["format_version"])  # another process may have migrated meanwhile
        for v in range(current, FORMAT_VERSION):
            step = _MIGRATIONS.get(v)
            if step is None:
                raise SoundIndexFormatError(
                    f"{path} has sound index format_version {v} and this reelsense has no upgrade from it; "
                    "rebuild the index from its source files"
                )
            logger.info("upgrading sound index %s from format %d to %d", path, v, v + 1)
            step(con)
        con.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
