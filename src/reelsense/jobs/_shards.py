"""A folder of Parquet shards with one schema: the output of the Ray job.

Layout of an output folder ``OUT/``:

- ``shard-<stamp>-<seq>.parquet``: finished rows, all with the same schema and file
  metadata as a ``reelsense embed`` file (``reelsense.config``, ``reelsense.fusion``...).
  ``<stamp>`` is the job's start time in nanoseconds (20 digits) and ``<seq>`` counts the
  shards of that job, so names sort oldest first. Each shard is written to
  ``.tmp-<name>`` in the same folder, fsynced and renamed (``os.replace``): a shard is whole
  or absent, whatever kills the job.
- ``.reelsense.lock``: an advisory ``flock`` held while a job writes the folder.

Readers take the folder as one dataset (``pandas.read_parquet("OUT")``, ``pyarrow.dataset``,
DuckDB ``'OUT/*.parquet'``); dot-files are skipped by all of them.

Resuming (:meth:`ShardFolder.open`): temporaries are deleted, every shard is checked
against the job's schema and configuration (the same check as the local writer's), and a
video id found in several shards (a row recomputed with ``retry_errors``) is kept in the
newest shard only: older shards are rewritten without it (atomically) or deleted. So the
folder never holds a video twice once a job has opened or finished it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reelsense.errors import OutputError
from reelsense.pipeline._writer import (
    _fsync_path,
    acquire_lock,
    check_compatible,
    release_lock,
    stored_schema,
)

__all__ = ["SHARD_PATTERN", "ShardFolder"]

log = logging.getLogger(__name__)

SHARD_PATTERN = re.compile(r"^shard-(\d{20})-(\d{6,})\.parquet$")
_LOCK_NAME = ".reelsense.lock"
_TMP_PREFIX = ".tmp-"


class ShardFolder:
    """Write and settle the shards of ``directory`` (see the module docstring).

    Use as a context manager: :meth:`open` (lock, clean, check, settle; returns the
    finished statuses), :meth:`write` tables, :meth:`settle` at the end; leaving the
    ``with`` block releases the lock.
    """

    def __init__(self, directory: str | os.PathLike[str], schema: pa.Schema) -> None:
        self.directory = Path(directory)
        self.schema = schema
        self._stamp = f"{time.time_ns():020d}"
        self._seq = 0
        self._lock_fd: int | None = None
        self._stored: pa.Schema | None = None
        self.shards_written = 0

    # ------------------------------------------------------------------ open / settle

    def open(self, *, overwrite: bool = False) -> dict[str, str]:
        """Lock the folder, delete temporaries (and every shard with ``overwrite``), check
        the shards, settle duplicates; returns ``{video_id: status}`` of the finished rows.

        Raises OutputError when the path is a file, the folder is locked by another job, or
        a shard is not a reelsense output or was written with another configuration.
        """
        if self.directory.exists() and not self.directory.is_dir():
            raise OutputError(
                f"{str(self.directory)!r} is a file: the Ray engine writes a folder of shards "
                "(give a folder path)"
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the folder {str(self.directory)!r}: {exc}") from exc
        self._lock_fd = acquire_lock(self.directory / _LOCK_NAME, self.directory)
        try:
            for tmp in self.directory.glob(_TMP_PREFIX + "*"):
                tmp.unlink(missing_ok=True)
            if overwrite:
                for shard in self.shards():
                    shard.unlink()
            self._stored = stored_schema(self.schema)
            for shard in self.shards():
                check_compatible(shard, self.schema, stored=self._stored)
            return self.settle()
        except BaseException:
            self.close()
            raise

    def shards(self) -> list[Path]:
        """The shard files, oldest first."""
        found = [p for p in self.directory.iterdir() if SHARD_PATTERN.match(p.name)]
        return sorted(found, key=lambda p: p.name)

    def settle(self) -> dict[str, str]:
        """Keep each video id in its newest shard only (rewriting or deleting older shards);
        returns ``{video_id: status}`` over the folder."""
        seen: set[str] = set()
        statuses: dict[str, str] = {}
        for shard in reversed(self.shards()):  # newest first
            table = pq.read_table(shard, columns=["video_id", "status"])
            ids = table["video_id"].to_pylist()
            keep = np.fromiter((vid not in seen for vid in ids), dtype=bool, count=len(ids))
            if not keep.all():
                self._drop_rows(shard, keep)
            for vid, status in zip(ids, table["status"].to_pylist(), strict=True):
                if vid not in seen:
                    statuses[vid] = status
                    seen.add(vid)
        return statuses

    def _drop_rows(self, shard: Path, keep: np.ndarray) -> None:
        if not keep.any():
            log.info("%s: every row was recomputed in a newer shard; deleting it", shard.name)
            shard.unlink()
            return
        table = pq.read_table(shard).filter(pa.array(keep))
        log.info("%s: %d rows recomputed in a newer shard; rewriting it", shard.name, int((~keep).sum()))
        self.replace(shard, table)

    # ------------------------------------------------------------------ writing

    def _atomic_write(self, target: Path, table: pa.Table) -> None:
        tmp = self.directory / f"{_TMP_PREFIX}{target.name}"
        pq.write_table(table, tmp)
        _fsync_path(tmp)
        tmp.replace(target)
        _fsync_path(self.directory, directory=True)

    def write(self, table: pa.Table) -> Path:
        """Write ``table`` (cast to the schema, metadata attached) as a new shard, atomically."""
        if self._lock_fd is None:
            raise OutputError("the shard folder is not open")
        self._seq += 1
        target = self.directory / f"shard-{self._stamp}-{self._seq:06d}.parquet"
        self._atomic_write(target, self.conform(table))
        self.shards_written += 1
        log.debug("wrote %s (%d rows)", target.name, table.num_rows)
        return target

    def replace(self, shard: Path, table: pa.Table) -> None:
        """Rewrite an existing shard with ``table`` (whose schema metadata is kept), atomically."""
        self._atomic_write(shard, table)

    def conform(self, table: pa.Table) -> pa.Table:
        """``table`` with exactly this folder's schema and metadata (raises OutputError);
        a table that has them already is returned as is."""
        if table.schema.equals(self.schema, check_metadata=True):
            return table
        try:
            return table.select(self.schema.names).cast(self.schema)
        except (KeyError, pa.ArrowException) as exc:
            raise OutputError(f"rows do not fit the output schema: {exc}") from exc

    # ------------------------------------------------------------------ reading

    def tables(self) -> Iterator[tuple[Path, pa.Table]]:
        """Each shard with its rows, oldest first."""
        for shard in self.shards():
            yield shard, pq.read_table(shard)

    def rows(self) -> int:
        return sum(int(pq.ParquetFile(s).metadata.num_rows) for s in self.shards())

    # ------------------------------------------------------------------ lock

    def close(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            release_lock(self._lock_fd, self.directory / _LOCK_NAME)
            self._lock_fd = None

    def __enter__(self) -> ShardFolder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
