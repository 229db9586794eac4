"""A resumable, crash-safe Parquet writer: rows go to part files, then one atomic output.

Layout while a job runs, for an output ``OUT.parquet``:

- ``OUT.parquet.parts/part-000001.parquet``, ``part-000002.parquet``, ...: finished rows,
  written every ``flush_rows`` rows or ``flush_seconds`` seconds. Each part is written to
  a temporary name in the same folder, fsynced, then renamed (``os.replace``), so a part
  is either whole or absent, whatever kills the process.
- ``.OUT.parquet.lock``: an advisory lock (``flock``) held while the writer is open, so
  two jobs never write the same output; it is released by the OS if the process dies.

:meth:`ResumableParquetWriter.finish` merges the existing output (if any) and the parts
into a temporary file, fsyncs it, renames it over ``OUT.parquet`` and only then deletes
the parts. Every file carries the schema and its metadata.

Resuming (:meth:`ResumableParquetWriter.open`): the finished ids are those in the output
and in the parts. When an id occurs more than once (a row recomputed by
``retry_errors``, or a crash between the final rename and the deletion of the parts),
the newest wins: a part over the output, a later part over an earlier one. So nothing
is lost, duplicated, or needs recomputing after a kill at any point. An existing output
or part written with another configuration or schema is refused with OutputError.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reelsense.errors import OutputError
from reelsense.pipeline._schema import CONFIG_KEY, SCHEMA_VERSION_KEY, VERSION_KEY, rows_to_table

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ResumableParquetWriter",
    "acquire_lock",
    "check_compatible",
    "parts_dir_for",
    "release_lock",
    "stored_schema",
]

log = logging.getLogger(__name__)

_PART_RE = re.compile(r"^part-(\d{6,})\.parquet$")


def _part_seq(path: Path) -> int:
    match = _PART_RE.match(path.name)
    return int(match.group(1)) if match else -1


def parts_dir_for(output: str | os.PathLike[str]) -> Path:
    """The folder that holds the part files of ``output``."""
    out = Path(output)
    return out.with_name(out.name + ".parts")


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # e.g. directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
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


def acquire_lock(lock_path: Path, target: Path) -> int:
    """Create ``lock_path`` and take an exclusive ``flock`` on it (released by the OS if the
    process dies); returns the descriptor. Raises OutputError when another process holds it."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot create lock file {str(lock_path)!r}: {exc}") from exc
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(
                f"{str(target)!r} is being written by another process (lock {str(lock_path)!r})"
            ) from None
    return fd


def release_lock(fd: int, lock_path: Path) -> None:
    """Remove the lock file and release the lock taken by :func:`acquire_lock`."""
    with contextlib.suppress(OSError):
        lock_path.unlink()
    os.close(fd)  # closing releases the flock


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


class ResumableParquetWriter:
    """Write rows of ``schema`` to ``output`` incrementally (see the module docstring).

    Use as a context manager: ``open`` (returns the finished statuses), ``add`` rows,
    ``finish`` (consolidate); leaving the ``with`` block without ``finish`` (an
    exception, Ctrl-C) writes the buffered rows to a part and keeps the parts for a resume.
    """

    def __init__(
        self,
        output: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        flush_rows: int = 256,
        flush_seconds: float = 30.0,
        row_group_rows: int = 8192,
    ) -> None:
        self.output = Path(output)
        self.parts_dir = parts_dir_for(self.output)
        self.schema = schema
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.row_group_rows = row_group_rows
        self._lock_path = self.output.with_name("." + self.output.name + ".lock")
        self._lock_fd: int | None = None
        self._buffer: list[Mapping[str, Any]] = []
        self._last_flush = time.monotonic()
        self._next_seq = 1
        self._added: set[str] = set()
        self.parts_written = 0
        self._stored_schema: pa.Schema | None = None

    # ------------------------------------------------------------------ open / resume

    def open(self, *, overwrite: bool = False) -> dict[str, str]:
        """Lock the output, clean up leftovers and return ``{video_id: status}`` of the rows
        already finished (empty with ``overwrite``, which deletes the output and parts).

        Raises OutputError when the output is locked by another process, is not a
        reelsense output, or was written with another configuration or schema.
        """
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the folder of {str(self.output)!r}: {exc}") from exc
        self._lock()
        try:
            if overwrite:
                with contextlib.suppress(FileNotFoundError):
                    self.output.unlink()
                shutil.rmtree(self.parts_dir, ignore_errors=True)
            self._remove_temporaries()
            sources = self._sources()
            for source in sources:
                self._check_compatible(source)
            statuses = self._statuses(sources)
        except BaseException:
            self._unlock()
            raise
        parts = self._part_paths()
        self._next_seq = 1 + max((_part_seq(p) for p in parts), default=0)
        self._last_flush = time.monotonic()
        return statuses

    def _lock(self) -> None:
        self._lock_fd = acquire_lock(self._lock_path, self.output)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            release_lock(self._lock_fd, self._lock_path)
            self._lock_fd = None

    def _remove_temporaries(self) -> None:
        for tmp in self.output.parent.glob(f".{self.output.name}.tmp-*"):
            tmp.unlink(missing_ok=True)
        if self.parts_dir.is_dir():
            for tmp in self.parts_dir.glob(".tmp-*"):
                tmp.unlink(missing_ok=True)

    def _part_paths(self) -> list[Path]:
        if not self.parts_dir.is_dir():
            return []
        return sorted((p for p in self.parts_dir.iterdir() if _part_seq(p) >= 0), key=_part_seq)

    def _sources(self) -> list[Path]:
        """Existing files, oldest first: the output, then the parts in order."""
        return ([self.output] if self.output.exists() else []) + self._part_paths()

    def _check_compatible(self, path: Path) -> None:
        if self._stored_schema is None:
            self._stored_schema = stored_schema(self.schema)
        check_compatible(path, self.schema, stored=self._stored_schema)

    @staticmethod
    def _statuses(sources: Sequence[Path]) -> dict[str, str]:
        statuses: dict[str, str] = {}
        for source in sources:  # oldest first: later sources overwrite earlier ones
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
        self._buffer.append(row)
        if len(self._buffer) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as one part file (atomically); returns its path."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return None
        if self._lock_fd is None:
            raise OutputError("the writer is not open")
        table = rows_to_table(self._buffer, self.schema)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        final = self.parts_dir / f"part-{self._next_seq:06d}.parquet"
        tmp = self.parts_dir / f".tmp-{self._next_seq:06d}-{os.getpid()}.parquet"
        pq.write_table(table, tmp)
        _fsync_path(tmp)
        tmp.replace(final)
        _fsync_path(self.parts_dir, directory=True)
        log.debug("wrote %s (%d rows)", final, table.num_rows)
        self._next_seq += 1
        self.parts_written += 1
        self._buffer = []
        return final

    def _kept_tables(self, sources: Sequence[Path]) -> Iterator[pa.Table]:
        """Each source's rows in batches, minus ids that a newer source also has (newest wins)."""
        seen: set[str] = set()
        masks: list[np.ndarray] = []
        for source in reversed(sources):
            ids = pq.read_table(source, columns=["video_id"])["video_id"].to_pylist()
            masks.append(np.fromiter((vid not in seen for vid in ids), dtype=bool, count=len(ids)))
            seen.update(ids)
        for source, mask in zip(sources, reversed(masks), strict=True):
            offset = 0
            for batch in pq.ParquetFile(source).iter_batches(batch_size=self.row_group_rows):
                keep = mask[offset : offset + batch.num_rows]
                offset += batch.num_rows
                table = pa.Table.from_batches([batch]).cast(self.schema)
                yield table if keep.all() else table.filter(pa.array(keep))

    def finish(self) -> int:
        """Flush, merge output and parts into ``output`` atomically, delete the parts.

        Returns the number of rows in the output. Without any new part the existing
        output is left untouched (an empty output is written when there is none).
        """
        self.flush()
        sources = self._sources()
        parts = self._part_paths()
        if not parts and self.output.exists():
            rows = pq.ParquetFile(self.output).metadata.num_rows
            self.close()
            return int(rows)
        tmp = self.output.with_name(f".{self.output.name}.tmp-{os.getpid()}")
        rows = 0
        with pq.ParquetWriter(tmp, self.schema) as writer:
            pending: list[pa.Table] = []
            pending_rows = 0
            for table in self._kept_tables(sources):
                pending.append(table)
                pending_rows += int(table.num_rows)
                if pending_rows >= self.row_group_rows:  # write whole row groups, carry the rest
                    merged = pa.concat_tables(pending)
                    whole = (pending_rows // self.row_group_rows) * self.row_group_rows
                    writer.write_table(merged.slice(0, whole), row_group_size=self.row_group_rows)
                    rows += whole
                    pending, pending_rows = [merged.slice(whole)], pending_rows - whole
            if pending_rows or rows == 0:
                writer.write_table(
                    pa.concat_tables(pending) if pending else self.schema.empty_table(),
                    row_group_size=self.row_group_rows,
                )
                rows += pending_rows
        _fsync_path(tmp)
        tmp.replace(self.output)
        _fsync_path(self.output.parent, directory=True)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.close()
        return rows

    def close(self) -> None:
        """Flush buffered rows to a part (if still open) and release the lock."""
        if self._lock_fd is not None and self._buffer:
            self.flush()
        self._unlock()

    def __enter__(self) -> ResumableParquetWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
