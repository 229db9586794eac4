"""The one writer of batch jobs: resumable, crash-safe rows into one Parquet file or a folder of shards.

Both layouts keep finished rows in *part files* written atomically (to a temporary name
in the same folder, fsynced, then renamed with ``os.replace``), so a part is whole or
absent whatever kills the process, and an advisory lock (``flock``, released by the OS
if the process dies) so two jobs never write the same output.

``layout="file"`` (the local engine), output ``OUT.parquet``:

- ``OUT.parquet.parts/part-000001.parquet``, ...: the rows written so far;
- ``.OUT.parquet.lock``: the lock.
- :meth:`OutputWriter.finish` merges the existing output (if any) and the parts into a
  temporary file, fsyncs it, renames it over ``OUT.parquet`` and only then deletes the
  parts. With ``overwrite`` the existing output is left in place until that rename, and
  ``OUT.parquet.parts/.overwriting`` (written before any part) marks the parts as those of
  an overwrite: a resume of an interrupted overwrite, with ``overwrite`` or without, never
  counts the old output's rows (without it, it goes on from the parts and still replaces
  the old output when done).

``layout="shards"`` (the Ray engine), output folder ``OUT/``:

- ``OUT/shard-<stamp>-<seq>.parquet``: the rows, each shard with the whole schema and
  metadata; ``<stamp>`` is the job's start in nanoseconds (20 digits) and ``<seq>`` counts
  that job's shards, so names sort oldest first. Each shard is sorted by ``video_id``;
  the folder reads as one table (``pandas.read_parquet("OUT")``, ``pyarrow.dataset``,
  DuckDB ``'OUT/*.parquet'``; dot-files are skipped by all of them), but not in
  ``video_id`` order: a resume's new shards hold ids from anywhere, and keeping the
  folder in order would mean rewriting every shard, so a reader sorts.
- ``OUT/.reelsense.lock``: the lock.
- :meth:`OutputWriter.finish` *settles* the folder: an id found in several shards (a row
  recomputed by ``retry_errors``) is kept in the newest shard only.

Resuming (:meth:`OutputWriter.open`): every existing file is checked against the job's
schema and configuration (``reelsense.config``: a resume with other options is refused,
and the message names the differences); the finished ids are those in the output and in
the parts, the newest row winning (a part over the output, a later part over an earlier
one). So nothing is lost, duplicated, or needs recomputing after a kill at any point.

:meth:`OutputWriter.finish` can also replace every row once they are all written (a
corpus-level pass, such as sound discovery), atomically per file.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reelsense.errors import OutputError
from reelsense.io._files import TMP_PREFIX, replacing
from reelsense.pipeline._schema import CONFIG_KEY, SCHEMA_VERSION_KEY, VERSION_KEY, rows_to_table

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ROW_GROUP_ROWS",
    "SHARD_PATTERN",
    "Layout",
    "OutputWriter",
    "check_compatible",
    "check_layout",
    "parts_dir_for",
    "reading_output",
    "stored_schema",
    "write_row_groups",
]

log = logging.getLogger(__name__)

Layout = Literal["file", "shards"]

_PART_RE = re.compile(r"^part-(\d{6,})\.parquet$")
#: the file in a single-file output's parts folder that marks its parts as an overwrite's
OVERWRITING_MARKER = ".overwriting"
SHARD_PATTERN = re.compile(r"^shard-(\d{20})-(\d{6,})\.parquet$")
#: rows per row group of a single-file output (:class:`OutputWriter`, :func:`write_row_groups`)
ROW_GROUP_ROWS = 8192
#: bytes read at a time from a part while consolidating (see :class:`_SortedSource`)
_READ_BUFFER_BYTES = 1 << 20


def parts_dir_for(output: str | os.PathLike[str]) -> Path:
    """The folder that holds the part files of a single-file ``output``."""
    out = Path(output)
    return out.with_name(out.name + ".parts")


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """``pyarrow.parquet`` write options for a table of ``schema``: dictionary encoding for
    every Parquet column except the floating-point ones (the vectors and the measures). Their
    values seldom repeat, so a dictionary of them would be built only to be dropped once it
    fills a page (the cost and sizes: ``scripts/bench/bench_write.py``)."""
    return {"use_dictionary": list(_dictionary_columns(schema))}


@functools.lru_cache(maxsize=32)
def _dictionary_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The Parquet column paths of ``schema`` that are not floating-point."""
    buffer = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), buffer)
    meta = pq.read_metadata(pa.BufferReader(buffer.getvalue()))
    columns = [meta.schema.column(i) for i in range(meta.num_columns)]
    return tuple(c.path for c in columns if c.physical_type not in ("FLOAT", "DOUBLE"))


def write_row_groups(
    path: str | os.PathLike[str],
    schema: pa.Schema,
    tables: Iterable[pa.Table],
    row_group_rows: int = ROW_GROUP_ROWS,
) -> int:
    """Write the rows of ``tables`` (each of ``schema``, in order) to ``path`` through a synced
    temporary (:func:`~reelsense.io._files.replacing`, with :func:`parquet_options`), in row
    groups of ``row_group_rows`` rows (the last one shorter; one empty row group when there
    are no rows). Holds one row group's rows and one table at a time, as ``tables`` come.
    Returns the rows written."""
    rows = 0
    with replacing(path) as tmp, pq.ParquetWriter(tmp, schema, **parquet_options(schema)) as writer:
        pending: list[pa.Table] = []
        pending_rows = 0
        for table in tables:
            pending.append(table)
            pending_rows += int(table.num_rows)
            if pending_rows >= row_group_rows:  # write whole row groups, carry the rest
                merged = pa.concat_tables(pending)
                whole = (pending_rows // row_group_rows) * row_group_rows
                writer.write_table(merged.slice(0, whole), row_group_size=row_group_rows)
                rows += whole
                pending, pending_rows = [merged.slice(whole)], pending_rows - whole
        if pending_rows or rows == 0:
            writer.write_table(
                pa.concat_tables(pending) if pending else schema.empty_table(), row_group_size=row_group_rows
            )
            rows += pending_rows
    return rows


def _atomic_write(target: Path, table: pa.Table, **options: Any) -> None:
    """``table`` into ``target`` through a synced temporary in the same folder
    (:func:`~reelsense.io._files.replacing`, with :func:`parquet_options`)."""
    with replacing(target) as tmp:
        pq.write_table(table, tmp, **parquet_options(table.schema), **options)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON configuration by dotted path; a list of named objects (the stages) by
    their names, so that a difference names the stage and option (``worker_stages.sound_match.
    options.index_sha256``), not the whole list."""
    named = isinstance(value, list) and all(
        isinstance(v, dict) and isinstance(v.get("name"), str) for v in value
    )
    if named and len({v["name"] for v in value}) == len(value):
        value = {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in value}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def _config_diff(ours: str, theirs: str) -> str:
    try:
        a, b = _flatten(json.loads(theirs)), _flatten(json.loads(ours))
    except json.JSONDecodeError:
        return "unreadable configuration"
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))
    shown = [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}" for k in keys[:6]]
    return "; ".join(shown) + (f"; and {len(keys) - 6} more" if len(keys) > 6 else "")


def stored_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as it reads back from Parquet (list item names, units normalised), no metadata."""
    buffer = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), buffer)
    return pq.read_schema(pa.BufferReader(buffer.getvalue())).remove_metadata()


def check_compatible(path: Path, schema: pa.Schema, *, stored: pa.Schema | None = None) -> None:
    """Refuse to continue an existing file written with another configuration or columns.

    ``stored``: :func:`stored_schema` of ``schema`` (computed when not given). Raises
    OutputError when ``path`` is not a readable reelsense output, has another schema
    version, configuration (the message names the differences) or columns; logs a warning
    when only the reelsense version differs.
    """
    stored = stored_schema(schema) if stored is None else stored
    try:
        existing = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise OutputError(
            f"{str(path)!r} exists but is not a readable Parquet file ({exc}); "
            "use overwrite (--overwrite) or another output path"
        ) from exc
    meta = {k.decode(): v.decode() for k, v in (existing.metadata or {}).items()}
    if CONFIG_KEY not in meta:
        raise OutputError(
            f"{str(path)!r} exists but was not written by reelsense embed; "
            "use overwrite (--overwrite) or another output path"
        )
    ours = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    if meta.get(SCHEMA_VERSION_KEY) != ours.get(SCHEMA_VERSION_KEY):
        difference = f"schema version {meta.get(SCHEMA_VERSION_KEY)} -> {ours.get(SCHEMA_VERSION_KEY)}"
    elif meta[CONFIG_KEY] != ours[CONFIG_KEY]:
        difference = _config_diff(ours[CONFIG_KEY], meta[CONFIG_KEY])
    else:
        difference = ""
    if difference:
        raise OutputError(
            f"{str(path)!r} was written with a different configuration ({difference}); resuming "
            "would mix rows computed differently. Use overwrite (--overwrite) to start over, "
            "or another output path"
        )
    if not existing.remove_metadata().equals(stored):
        raise OutputError(
            f"{str(path)!r} has other columns than this job writes; "
            "use overwrite (--overwrite) to start over, or another output path"
        )
    if meta.get(VERSION_KEY) != ours.get(VERSION_KEY):
        log.warning(
            "%s was written by reelsense %s; continuing it with %s",
            path,
            meta.get(VERSION_KEY),
            ours.get(VERSION_KEY),
        )


def check_layout(output: Path, layout: Layout) -> None:
    """Raise OutputError when ``output`` is a file where ``layout`` writes a folder of shards,
    or a folder where it writes one file (checked by the CLI as a usage error, and by a job
    before it starts its engine)."""
    if layout == "shards" and output.exists() and not output.is_dir():
        raise OutputError(
            f"{str(output)!r} is a file: the Ray engine writes a folder of shards (give a folder path)"
        )
    if layout == "file" and output.is_dir():
        raise OutputError(f"{str(output)!r} is a folder: the local engine writes one Parquet file")


@contextlib.contextmanager
def reading_output(path: Path, layout: Layout) -> Iterator[None]:
    """Turn a failure to read ``path``, a file of this output, into an OutputError saying what
    to do: a damaged data page (the footer intact) only shows when its rows are read."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        if layout == "shards":
            advice = (
                "move it out of the folder (its videos are processed again) or start over with --overwrite"
            )
        else:
            advice = "it holds finished rows, so it is not moved: restore it, or start over with --overwrite"
        reason = " ".join(str(exc).split())  # pyarrow's messages span lines
        raise OutputError(f"{str(path)!r} is damaged and cannot be read ({reason}): {advice}") from exc


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open ``fd`` is the file now at ``path``."""
    try:
        st = path.stat()
    except OSError:
        return False
    own = os.fstat(fd)
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


class OutputWriter:
    """Write rows of ``schema`` to ``output`` incrementally (see the module docstring).

    Use as a context manager: :meth:`open` (returns the finished statuses), :meth:`add`
    rows or :meth:`add_table` tables, :meth:`finish` (consolidate or settle); leaving the
    ``with`` block without ``finish`` (an exception, Ctrl-C) writes the buffered rows to a
    part and keeps every part for a resume.

    ``flush_rows``/``flush_seconds``: a part is written when so many rows are buffered or
    so many seconds passed since the last one. ``row_group_rows``: rows per row group of
    the consolidated file.
    """

    def __init__(
        self,
        output: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        layout: Layout = "file",
        flush_rows: int = 256,
        flush_seconds: float = 30.0,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        if layout not in ("file", "shards"):
            raise OutputError(f"layout must be 'file' or 'shards', got {layout!r}")
        self.output = Path(output)
        self.layout: Layout = layout
        self.schema = schema
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.row_group_rows = row_group_rows
        if layout == "file":
            self.parts_dir = parts_dir_for(self.output)
            self._lock_path = self.output.with_name("." + self.output.name + ".lock")
        else:
            self.parts_dir = self.output
            self._lock_path = self.output / ".reelsense.lock"
        self._stamp = f"{time.time_ns():020d}"
        self._lock_fd: int | None = None
        self._rows: list[Mapping[str, Any]] = []
        self._tables: list[pa.Table] = []
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._next_seq = 1
        self._added: set[str] = set()
        self._replace_output = False
        self.parts_written = 0
        #: rows this writer wrote to part files (shards) so far: each is on disk, whatever stops the job now
        self.rows_written = 0
        #: part files found damaged at :meth:`open` and set aside (their new paths)
        self.damaged: list[str] = []
        self._stored_schema: pa.Schema | None = None
        self._read_cache: dict[tuple[str, int, int], pa.Table] = {}  # see _id_columns
        self._listing: list[Path] | None = None  # see _listed_once

    # ------------------------------------------------------------------ before a job

    def check_unlocked(self) -> None:
        """Raise OutputError when another process holds the output's lock (a cheap check
        to run before expensive set-up; :meth:`open` takes the lock for real)."""
        if fcntl is None or not self._lock_path.exists():
            return
        try:
            fd = os.open(self._lock_path, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            raise OutputError(
                f"{str(self.output)!r} is being written by another process (lock {str(self._lock_path)!r})"
            ) from None
        finally:
            os.close(fd)

    def finished_statuses(self) -> dict[str, str] | None:
        """``{video_id: status}`` of a complete output as it is on disk, read without the
        lock; None when a killed run left parts to consolidate (a single file) or nothing
        is there yet."""
        if self.layout == "file" and (
            self._part_paths() or not self.output.exists() or self._old_output_dropped()
        ):
            return None
        if self.layout == "shards" and self._foreign_parquet():  # open() refuses the folder
            return None
        sources = self._sources()
        if not sources:
            return None
        statuses: dict[str, str] = {}
        for source in sources:  # oldest first: later sources overwrite earlier ones
            table = self._id_columns(source)
            if table is None:  # a damaged file: open() says which
                return None
            statuses.update(zip(table["video_id"].to_pylist(), table["status"].to_pylist(), strict=True))
        return statuses

    def earlier_ids(self) -> dict[str, str]:
        """``{path: video_id}`` of the rows on disk, read without the lock (the newest file
        wins): a resume gives each file the id it had, whatever inputs were added since. A
        file that cannot be read is passed over (``open`` sets a damaged part aside or reports
        the file); the others still count."""
        found: dict[str, str] = {}
        for source in self._sources():
            table = self._id_columns(source)
            if table is None:
                continue
            for path, vid in zip(table["path"].to_pylist(), table["video_id"].to_pylist(), strict=True):
                if path is not None and vid is not None:
                    found[path] = vid
        return found

    def written_sizes(self) -> dict[str, tuple[str, int]]:
        """``{path: (status, file_size_bytes)}`` of the rows on disk that recorded the file's
        size, read without the lock (the newest file wins; a file that cannot be read is
        passed over)."""
        found: dict[str, tuple[str, int]] = {}
        for source in self._sources():
            table = self._id_columns(source)
            if table is None or "file_size_bytes" not in table.column_names:
                continue
            rows = zip(
                table["path"].to_pylist(),
                table["status"].to_pylist(),
                table["file_size_bytes"].to_pylist(),
                strict=True,
            )
            for path, status, size in rows:
                if path is not None and status is not None and size is not None:
                    found[path] = (status, int(size))
        return found

    def _id_columns(self, source: Path) -> pa.Table | None:
        """``video_id``, ``status``, ``path`` and (where the file has it) ``file_size_bytes`` of
        ``source``, read without the lock once per version of the file (a resume asks for the
        ids, the statuses and the sizes); None when it cannot be read."""
        try:
            st = source.stat()
            key = (str(source), st.st_mtime_ns, st.st_size)
            if key not in self._read_cache:
                with pq.ParquetFile(source) as parquet:  # opened once for the schema and the columns
                    names = parquet.schema_arrow.names
                    missing = [c for c in ("video_id", "status", "path") if c not in names]
                    if missing:
                        raise OutputError(
                            f"{str(source)!r} is not a reelsense embed output (no {', '.join(missing)} "
                            "column): give another output, or overwrite it"
                        )
                    columns = ["video_id", "status", "path"] + [c for c in ("file_size_bytes",) if c in names]
                    self._read_cache[key] = parquet.read(columns=columns)
        except (OSError, pa.ArrowException):
            return None
        return self._read_cache[key]

    def existing_metadata(self) -> dict[str, str] | None:
        """The key-value metadata of the output as it is on disk (its oldest file), or None
        when it holds nothing yet."""
        for path in self._sources():
            try:
                meta = pq.read_schema(path).metadata or {}
            except (OSError, pa.ArrowException):
                return None
            return {k.decode(): v.decode() for k, v in meta.items()}
        return None

    # ------------------------------------------------------------------ files

    def _is_part(self, path: Path) -> bool:
        pattern = _PART_RE if self.layout == "file" else SHARD_PATTERN
        return bool(pattern.match(path.name))

    @contextlib.contextmanager
    def _listed_once(self) -> Iterator[None]:
        """Inside, the reads without the lock (:meth:`finished_statuses`, :meth:`earlier_ids`,
        :meth:`written_sizes`, :meth:`files`) share one listing of the folder of the parts (a
        shard folder may hold thousands of files): the output as it was when planned. Not
        for :meth:`open` and what follows, which change the folder."""
        self._listing = self._list_parts_dir()
        try:
            yield
        finally:
            self._listing = None

    def _list_parts_dir(self) -> list[Path]:
        return list(self.parts_dir.iterdir()) if self.parts_dir.is_dir() else []

    def _entries(self) -> list[Path]:
        """The entries of the folder of the parts (for shards, the output folder)."""
        return self._listing if self._listing is not None else self._list_parts_dir()

    def _foreign_parquet(self) -> list[str]:
        """Names of the Parquet files of a shard folder that are not its shards (a read of the
        folder, ``pq.read_table`` or DuckDB's glob, would mix them in)."""
        if self.layout != "shards":  # the parts of a single file are in a folder of their own
            return []
        return sorted(
            p.name
            for p in self._entries()
            if p.suffix.lower() == ".parquet" and not p.name.startswith(".") and not self._is_part(p)
        )

    def _part_paths(self) -> list[Path]:
        """The part files (shards), oldest first."""
        found = [p for p in self._entries() if self._is_part(p)]
        if self.layout == "file":
            return sorted(found, key=lambda p: int(_PART_RE.match(p.name).group(1)))  # type: ignore[union-attr]
        return sorted(found, key=lambda p: p.name)

    def _old_output_dropped(self) -> bool:
        """Whether the existing single-file output is to be replaced, not continued: this job
        overwrites it, or its parts are those of an interrupted overwrite (the marker)."""
        return self.layout == "file" and (
            self._replace_output or (self.parts_dir / OVERWRITING_MARKER).exists()
        )

    def _consolidated(self) -> list[Path]:
        """The consolidated single-file output, when it exists and counts as a source."""
        if self.layout == "file" and self.output.exists() and not self._old_output_dropped():
            return [self.output]
        return []

    def _sources(self) -> list[Path]:
        """Existing files, oldest first: the output, then the parts in order."""
        return self._consolidated() + self._part_paths()

    def files(self) -> list[Path]:
        """The files that hold the rows now (the single file, or the shards)."""
        return self._sources()

    # ------------------------------------------------------------------ open / resume

    def check_layout(self) -> None:
        """Raise OutputError when the output path does not fit the layout (:func:`check_layout`)."""
        check_layout(self.output, self.layout)

    def open(self, *, overwrite: bool = False) -> dict[str, str]:
        """Lock the output, clean up leftovers and return ``{video_id: status}`` of the rows
        already finished (empty with ``overwrite``, which deletes the parts; an existing
        single-file output is replaced only when :meth:`finish` has the new one). The parts of
        an interrupted overwrite are resumed without ``overwrite`` too, and the old output's
        rows do not count: :meth:`finish` replaces it with the parts' rows alone.

        Raises OutputError when the output is locked by another process, is not a
        reelsense output, or was written with another configuration or schema.
        """
        self.check_layout()
        if self.layout == "shards" and self.output.is_dir():
            foreign = self._foreign_parquet()
            if foreign:  # a read of the folder (pq.read_table, DuckDB's glob) would mix them in
                raise OutputError(
                    f"{str(self.output)!r} holds Parquet files that are not shards of this output "
                    f"({', '.join(foreign[:3])}): give an empty folder or one written by the Ray engine"
                )
            others = sorted(
                p.name + ("/" if p.is_dir() else "")
                for p in self.output.iterdir()
                if not p.name.startswith((".", "_")) and not self._is_part(p)
            )
            if others:  # kept (they are the caller's), but pyarrow's read of the folder takes them
                log.warning(
                    "%s holds files that are not shards (%s): pyarrow.parquet.read_table and "
                    "pandas.read_parquet read every file of the folder whose name does not start "
                    "with '.' or '_' (and its sub-folders), so they fail on these or mix them in; "
                    "move them out, or read the shards by name (DuckDB: '%s')",
                    self.output,
                    ", ".join(repr(name) for name in others[:3]) + (", ..." if len(others) > 3 else ""),
                    self.output / "shard-*.parquet",
                )
        folder = self.output if self.layout == "shards" else self.output.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the folder {str(folder)!r}: {exc}") from exc
        self._lock()
        try:
            self._replace_output = False
            if overwrite:
                if self.layout == "file":
                    shutil.rmtree(self.parts_dir, ignore_errors=True)
                    if self.output.exists():
                        self._mark_overwriting()
                else:
                    for part in self._part_paths():
                        part.unlink()
            elif self._old_output_dropped() and self.output.exists():
                log.info(
                    "%s: resuming an interrupted overwrite (its earlier rows are replaced when the job ends)",
                    self.output,
                )
            self._replace_output = overwrite or self._old_output_dropped()
            self._remove_temporaries()
            self._set_aside_damaged_parts()
            sources = self._sources()
            for source in sources:
                self._check_compatible(source)
            statuses = self._statuses(sources) if self.layout == "file" else self._settle()
        except BaseException:
            self._unlock()
            raise
        if self.layout == "file":
            parts = self._part_paths()
            self._next_seq = 1 + max((int(_PART_RE.match(p.name).group(1)) for p in parts), default=0)  # type: ignore[union-attr]
        self._last_flush = time.monotonic()
        return statuses

    def _mark_overwriting(self) -> None:
        """Write the marker that makes the parts to come an overwrite's (synced before any
        part is, so a part never exists without it)."""
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        with replacing(self.parts_dir / OVERWRITING_MARKER) as tmp:
            tmp.write_text(
                f"the parts here overwrite {self.output.name}: its rows are not resumed\n", encoding="utf-8"
            )

    def _set_aside_damaged_parts(self) -> None:
        """Move part files (shards) that do not read back as Parquet aside
        (``OUT.parquet.damaged/``, or ``OUT/.damaged/`` for shards): their videos are redone,
        the other parts kept. Parts are read whole; a shard, its footer only (a damaged page
        in a shard is found when read, and refused naming it). The consolidated single-file
        output is never moved: a damaged one is refused, it is the user's data."""
        for part in self._part_paths():
            try:
                if self.layout == "file":  # parts hold only unconsolidated rows: read them whole
                    pq.read_table(part)
                else:  # a shard folder may be the whole dataset: its footer only
                    pq.ParquetFile(part).metadata  # noqa: B018 - reads the footer
                continue
            except (OSError, pa.ArrowException) as exc:
                reason = " ".join(str(exc).split())
            aside = (
                self.output / ".damaged"
                if self.layout == "shards"
                else parts_dir_for(self.output).with_suffix(".damaged")
            )
            aside.mkdir(exist_ok=True)
            target = aside / f"{part.name}.{time.time_ns()}"
            part.replace(target)
            self.damaged.append(str(target))
            log.warning(
                "%s is damaged (%s): set aside as %s; its videos are processed again", part, reason, target
            )

    def _lock(self) -> None:
        while True:
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot create lock file {str(self._lock_path)!r}: {exc}") from exc
            if fcntl is None:
                break
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise OutputError(
                    f"{str(self.output)!r} is being written by another process "
                    f"(lock {str(self._lock_path)!r})"
                ) from None
            if _same_file(fd, self._lock_path):
                break
            # the writer that held it deleted the file between our open and our lock: this lock is
            # on a file nobody else will open, so take the one at the path now
            os.close(fd)
        self._lock_fd = fd

    def _unlock(self) -> None:  # deleted while still locked: see _lock for a racing opener
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                self._lock_path.unlink()
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _remove_temporaries(self) -> None:
        """Temporaries of a killed writer of this output (never another output's)."""
        leftovers = []
        if self.layout == "file":
            name = glob.escape(self.output.name)
            leftovers.append(self.output.parent.glob(f"{TMP_PREFIX}{name}-*"))
            leftovers.append(self.output.parent.glob(f".{name}.tmp-*"))  # written by reelsense < 0.2

        if self.parts_dir.is_dir():
            leftovers.append(self.parts_dir.glob(TMP_PREFIX + "*"))
        for found in leftovers:
            for tmp in found:
                tmp.unlink(missing_ok=True)

    def _check_compatible(self, path: Path) -> None:
        if self._stored_schema is None:
            self._stored_schema = stored_schema(self.schema)
        check_compatible(path, self.schema, stored=self._stored_schema)

    def _statuses(self, sources: Sequence[Path]) -> dict[str, str]:
        statuses: dict[str, str] = {}
        for source in sources:  # oldest first: later sources overwrite earlier ones
            with reading_output(source, self.layout):
                table = pq.read_table(source, columns=["video_id", "status"])
            statuses.update(zip(table["video_id"].to_pylist(), table["status"].to_pylist(), strict=True))
        return statuses

    # ------------------------------------------------------------------ writing

    def add(self, row: Mapping[str, Any]) -> None:
        """Buffer one row; writes a part when ``flush_rows`` or ``flush_seconds`` is reached."""
        vid = row.get("video_id")
        if not isinstance(vid, str):
            raise OutputError(f"row has no string video_id: {vid!r}")
        if vid in self._added:
            raise OutputError(f"video_id {vid!r} was already written by this job")
        self._added.add(vid)
        self._rows.append(row)
        self._buffered += 1
        self._maybe_flush()

    def add_table(self, table: pa.Table) -> None:
        """Buffer finished rows given as a table (cast to the schema; raises OutputError when
        they do not fit); writes a part when ``flush_rows`` or ``flush_seconds`` is reached."""
        table = self.conform(table)
        ids = table["video_id"].to_pylist()
        again = [vid for vid in ids if vid in self._added]
        if again:
            raise OutputError(f"video_id {again[0]!r} was already written by this job")
        self._added.update(ids)
        self._tables.append(table)
        self._buffered += table.num_rows
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._buffered >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def tick(self) -> None:
        """Write the buffered rows when ``flush_seconds`` passed since the last part, even if
        no row arrives now (the engine calls this while it waits, so a part is written at
        least every ``flush_seconds`` while rows are buffered)."""
        if self._buffered and time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def conform(self, table: pa.Table) -> pa.Table:
        """``table`` with exactly this output's schema and metadata (raises OutputError);
        a table that has them already is returned as is."""
        if table.schema.equals(self.schema, check_metadata=True):
            return table
        try:
            return table.select(self.schema.names).cast(self.schema)
        except (KeyError, pa.ArrowException) as exc:
            raise OutputError(f"rows do not fit the output schema: {exc}") from exc

    def _new_part(self) -> Path:
        if self.layout == "file":
            path = self.parts_dir / f"part-{self._next_seq:06d}.parquet"
        else:
            path = self.parts_dir / f"shard-{self._stamp}-{self._next_seq:06d}.parquet"
        self._next_seq += 1
        return path

    def flush(self) -> list[Path]:
        """Write the buffered rows as part files (at most ``flush_rows`` rows each),
        atomically; returns their paths."""
        self._last_flush = time.monotonic()
        if not self._buffered:
            return []
        if self._lock_fd is None:
            raise OutputError("the writer is not open")
        tables = list(self._tables)
        if self._rows:
            tables.append(rows_to_table(self._rows, self.schema))
        merged = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        merged = merged.take(pc.sort_indices(merged, sort_keys=[("video_id", "ascending")]))
        self._rows, self._tables, self._buffered = [], [], 0
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        written = []
        step = max(self.flush_rows, 1)
        for start in range(0, merged.num_rows, step):
            part = self._new_part()
            _atomic_write(part, merged.slice(start, step))
            rows = min(step, merged.num_rows - start)
            log.debug("wrote %s (%d rows)", part, rows)
            self.parts_written += 1
            self.rows_written += rows
            written.append(part)
        return written

    def _sorted_rows(self, sources: Sequence[Path]) -> Iterator[pa.Table]:
        """Every kept row of ``sources`` (an id in a newer source wins over an older one), in
        ``video_id`` order, in tables of at most ``row_group_rows`` rows.

        Parts are sorted by id when written, so the rows of one output chunk are a
        contiguous run of each source, read in order (memory stays at about one chunk per
        source); a source that is not sorted (an output written before rows were sorted)
        is read whole and sorted once."""
        ids: list[np.ndarray] = []
        for src in sources:
            with reading_output(src, self.layout):
                ids.append(
                    np.asarray(pq.read_table(src, columns=["video_id"])["video_id"].to_pylist(), dtype=object)
                )
        seen: set[str] = set()
        keep: list[np.ndarray] = [np.zeros(0, dtype=bool)] * len(sources)
        for k in range(len(sources) - 1, -1, -1):  # newest first
            keep[k] = np.fromiter((vid not in seen for vid in ids[k]), dtype=bool, count=len(ids[k]))
            seen.update(ids[k].tolist())
        readers = []
        for src, vids in zip(sources, ids, strict=True):
            with reading_output(src, self.layout):
                readers.append(_SortedSource(src, vids, self.schema, self.row_group_rows))
        # the global order: (id, source, row in source) of every kept row
        order = sorted(
            (vid, k, r) for k, vids in enumerate(ids) for r, vid in enumerate(vids.tolist()) if keep[k][r]
        )
        for start in range(0, len(order), self.row_group_rows):
            chunk = order[start : start + self.row_group_rows]
            pieces = []
            for k, reader in enumerate(readers):
                wanted = [reader.position(r) for _, kk, r in chunk if kk == k]
                if wanted:
                    with reading_output(sources[k], self.layout):
                        pieces.append(reader.take(wanted))
            table = pa.concat_tables(pieces)
            by_id = pc.sort_indices(table, sort_keys=[("video_id", "ascending")])
            yield table.take(by_id)

    def _settle(self) -> dict[str, str]:
        """Shards: keep each video id in its newest shard only (rewriting or deleting older
        shards); returns ``{video_id: status}`` over the folder."""
        seen: set[str] = set()
        statuses: dict[str, str] = {}
        for shard in reversed(self._part_paths()):  # newest first
            with reading_output(shard, self.layout):
                table = pq.read_table(shard, columns=["video_id", "status"])
            ids = table["video_id"].to_pylist()
            keep = np.fromiter((vid not in seen for vid in ids), dtype=bool, count=len(ids))
            if not keep.all():
                if not keep.any():
                    log.info("%s: every row was recomputed in a newer shard; deleting it", shard.name)
                    shard.unlink()
                else:
                    log.info(
                        "%s: %d rows recomputed in a newer shard; rewriting it",
                        shard.name,
                        int((~keep).sum()),
                    )
                    with reading_output(shard, self.layout):
                        kept = pq.read_table(shard).filter(pa.array(keep))
                    _atomic_write(shard, kept)
            for vid, status in zip(ids, table["status"].to_pylist(), strict=True):
                if vid not in seen:
                    statuses[vid] = status
                    seen.add(vid)
        return statuses

    def finish(self, rewrite: Callable[[pa.Table], pa.Table] | None = None) -> int:
        """Flush, then consolidate (single file: merge output and parts into ``output``
        atomically, delete the parts) or settle (shards); then, when given, replace every
        row by ``rewrite(all rows)`` (a corpus-level pass: same rows, same order; the
        returned schema metadata is kept), each file atomically; then release the lock.
        Returns the number of rows."""
        rows = self._consolidate()
        if rewrite is not None and rows:
            self._rewrite(rewrite)
        self.close()
        return rows

    def _consolidate(self) -> int:
        self.flush()
        if self.layout == "shards":
            return len(self._settle())
        sources = self._sources()
        parts = self._part_paths()
        if not parts and self.output.exists() and not self._replace_output:
            return int(pq.ParquetFile(self.output).metadata.num_rows)
        rows = write_row_groups(self.output, self.schema, self._sorted_rows(sources), self.row_group_rows)
        self._replace_output = False
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return rows

    # ------------------------------------------------------------------ after the job

    def tables(self) -> Iterator[tuple[Path, pa.Table]]:
        """Each file of the output with its rows (the schema's metadata attached), oldest first."""
        for path in self._sources():
            with reading_output(path, self.layout):
                table = pq.read_table(path)
            yield path, table.replace_schema_metadata(self.schema.metadata)

    def _rewrite(self, transform: Callable[[pa.Table], pa.Table]) -> None:
        if self._lock_fd is None:
            raise OutputError("the writer is not open")
        pieces = list(self.tables())
        if not pieces:
            return
        table = pa.concat_tables([t for _, t in pieces])
        changed = transform(table)
        if changed.num_rows != table.num_rows:
            raise OutputError(f"a rewrite must keep the {table.num_rows} rows, got {changed.num_rows}")
        offset = 0
        for path, piece in pieces:
            part = changed.slice(offset, piece.num_rows)
            offset += piece.num_rows
            if self.layout == "file":
                _atomic_write(path, part, row_group_size=self.row_group_rows)
            else:
                _atomic_write(path, part)
        self.schema = changed.schema

    def close(self) -> None:
        """Write buffered rows to a part (if still open) and release the lock."""
        if self._lock_fd is not None and self._buffered:
            self.flush()
        self._unlock()

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # keep what is buffered, but never hide the error that ended the job
            self.close()
        except Exception as flush_error:
            log.warning("could not write the last %d buffered rows: %s", self._buffered, flush_error)
            self._unlock()


class _SortedSource:
    """Rows of one source file in ``video_id`` order, handed out in increasing runs: a
    sorted file is streamed batch by batch; an unsorted one is read whole and sorted."""

    def __init__(self, path: Path, ids: np.ndarray, schema: pa.Schema, batch_rows: int) -> None:
        self._schema = schema
        rank = np.argsort(ids, kind="stable")
        self._sorted = bool(np.all(rank == np.arange(len(ids))))
        # the sorted position of each row (rows are asked for by their index in the file)
        self._position = np.empty(len(ids), dtype=np.int64)
        self._position[rank] = np.arange(len(ids))
        self._table: pa.Table | None = None
        self._batches: Iterator[pa.RecordBatch] | None = None
        self._buffer = schema.empty_table()
        self._buffer_start = 0  # sorted position of the buffer's first row
        self._rows = len(ids)
        self._read = 0  # rows read from the file so far
        if self._sorted:
            # pyarrow's default pre-buffers a whole row group's column chunks beside the batch
            source = pq.ParquetFile(path, buffer_size=_READ_BUFFER_BYTES, pre_buffer=False)
            self._batches = source.iter_batches(batch_size=batch_rows)
        else:
            table = pq.read_table(path).cast(schema)
            self._table = table.take(pa.array(rank))

    def position(self, row: int) -> int:
        return int(self._position[row])

    def take(self, positions: Sequence[int]) -> pa.Table:
        """The rows at sorted ``positions`` (increasing, each above every earlier call's: the
        rows up to the last are let go)."""
        if self._table is not None:
            return self._table.take(pa.array(positions))
        last = positions[-1]
        while self._buffer_start + self._buffer.num_rows <= last:
            assert self._batches is not None
            batch = next(self._batches)
            self._read += batch.num_rows
            if self._read >= self._rows:
                # an open reader keeps buffers of several times a batch: drop it once read
                self._batches = None
            self._buffer = pa.concat_tables([self._buffer, pa.Table.from_batches([batch]).cast(self._schema)])
        local = pa.array([p - self._buffer_start for p in positions])
        out = self._buffer.take(local)
        # drop what no later call can ask for (rows up to ``last``: each row is asked for once)
        done = last + 1 - self._buffer_start
        if done >= self._buffer.num_rows:
            self._buffer = self._schema.empty_table()
        else:
            self._buffer = self._buffer.slice(done)
        self._buffer_start += done
        return out
