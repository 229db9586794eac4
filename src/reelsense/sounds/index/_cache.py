"""Keeping a sound index's search structure in step with its store (used by ``SoundIndex``).

The structure matched against (:class:`~reelsense.sounds._tables.SearchIndex`) is derived from the
peaks in the store. :class:`SearchCache` gets it, in order of preference:

1. from memory, when the store's ``generation`` has not moved since the last call;
2. from the search file beside the index (:mod:`reelsense.sounds.index._search_file`, memory-mapped), when it
   was built for this store with these parameters. Sounds added since it was written are
   fingerprinted into a small in-memory table searched beside it, removed ones are masked;
3. by a full rebuild from the store, written to the search file (when ``persist`` and the folder
   is writable) and then mapped. A rebuild happens when there is no usable file or when the
   sounds added since it was written exceed ``max(REBUILD_MIN_SOUNDS, REBUILD_FRACTION * n)``
   (or the removed ones ``REBUILD_FRACTION * n``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from reelsense.errors import SoundIndexError, SoundIndexFormatError
from reelsense.sounds._tables import PeakTable, SearchIndex, TripletTable, build_part
from reelsense.sounds.fingerprint import FingerprintParams, Peaks
from reelsense.sounds.index._search_file import (
    SearchFile,
    read_search_file,
    search_file_path,
    write_search_file_streamed,
)
from reelsense.sounds.index._store import FingerprintStore

__all__ = ["REBUILD_FRACTION", "REBUILD_MIN_SOUNDS", "SearchCache"]

logger = logging.getLogger(__name__)

REBUILD_MIN_SOUNDS = 64
REBUILD_FRACTION = 0.05


def _peaks(arrays: dict[str, np.ndarray]) -> Peaks:
    t = np.asarray(arrays["peak_times"], dtype=np.float32)
    return Peaks(t, np.asarray(arrays["peak_bins"], dtype=np.float32), t)


@dataclass(frozen=True)
class _Base:
    """A full build (mapped from the search file, or in memory) that deltas are taken against."""

    table: TripletTable
    peaks: PeakTable
    ids: list[str]
    keys: list[int]
    generation: int

    @classmethod
    def of(cls, f: SearchFile) -> _Base:
        return cls(f.table, f.peaks, f.sound_ids, f.sound_keys, f.generation)


class SearchCache:
    """The up-to-date :class:`SearchIndex` of one store (thread-safe).

    ``identity``: the fingerprint scheme fields stored in the search file's header and required
    to match when it is read (scheme name and version, parameters).
    """

    def __init__(
        self,
        store: FingerprintStore,
        params: FingerprintParams,
        identity: dict[str, Any],
        *,
        persist: bool = True,
    ) -> None:
        self._store = store
        self._params = params
        self._identity = {**identity, "params": params.to_dict(), "store_created_at": store.created_at}
        self.persist = persist
        self.path = search_file_path(store.path)
        self._lock = threading.Lock()
        self._base: _Base | None = None
        self._file_stamp: tuple[int, int] | None = None  # (inode, mtime) of the file last looked at
        self._search: SearchIndex | None = None
        self._generation = -1

    def get(self) -> SearchIndex:
        """The search structure for the store's current content."""
        with self._lock:
            generation = self._store.generation
            if self._search is None or generation != self._generation:
                self._search = self._refresh(generation)
                self._generation = generation
            return self._search

    def rebuild(self, *, persist: bool | None = None) -> SearchIndex:
        """Rebuild from the store now (and write the search file when ``persist``)."""
        with self._lock:
            self._search, self._generation = self._rebuild(self.persist if persist is None else persist)
            return self._search

    # ------------------------------------------------------------------ internals
    def _usable(self, f: SearchFile) -> bool:
        return all(f.header.get(k) == v for k, v in self._identity.items())

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def _load_file(self) -> _Base | None:
        self._file_stamp = self._stamp()
        if self._file_stamp is None:
            return None
        try:
            f = read_search_file(self.path)
        except SoundIndexFormatError as exc:
            logger.warning("ignoring the search file (it is rebuilt from the index): %s", exc)
            return None
        if not self._usable(f):
            logger.info("%s was built for another index or other parameters; rebuilding", self.path)
            return None
        mismatch = self._disagreement(f)
        if mismatch:
            logger.warning("ignoring %s (it is rebuilt from the index): %s", self.path, mismatch)
            return None
        return _Base.of(f)

    def _disagreement(self, f: SearchFile) -> str:
        """'' when every sound of the file that the store still holds has the same id there
        (the file is bound to its index by store key and id), else what differs."""
        current = {r.key: r.sound_id for r in self._store.records()}
        for key, sound_id in zip(f.sound_keys, f.sound_ids, strict=True):
            if key in current and current[key] != sound_id:
                return f"it names store key {key} {sound_id!r} but the index holds {current[key]!r} there"
        if f.generation > self._store.generation:
            return f"it reflects generation {f.generation}, newer than the index's {self._store.generation}"
        return ""

    def _refresh(self, generation: int) -> SearchIndex:
        stamp = self._stamp()
        if stamp is not None and stamp != self._file_stamp:  # written (by anyone) since we looked
            self._base = self._load_file() or self._base
        base = self._base
        if base is not None and base.generation == generation:
            return SearchIndex([(base.table, base.peaks)], base.ids)
        if base is None:
            return self._rebuild(self.persist)[0]
        current = {r.key: r.sound_id for r in self._store.records()}
        known = set(base.keys)
        alive = np.array([k in current for k in base.keys], dtype=bool)
        added = [(k, sid) for k, sid in current.items() if k not in known]
        limit = max(REBUILD_MIN_SOUNDS, REBUILD_FRACTION * len(base.keys))
        if len(added) > limit or np.count_nonzero(~alive) > limit:
            return self._rebuild(self.persist)[0]
        peaks, ids = [], []
        for _key, sid in added:
            try:
                peaks.append(_peaks(self._store.get_arrays(sid)))
            except SoundIndexError:  # removed since the listing: the next call sees it
                continue
            ids.append(sid)
        parts: list[tuple[TripletTable, PeakTable]] = [(base.table, base.peaks)]
        if peaks:
            parts.append(build_part(peaks, self._params))
        logger.debug("search base + %d added, %d removed sounds", len(ids), np.count_nonzero(~alive))
        return SearchIndex(parts, base.ids + ids, np.r_[alive, np.ones(len(ids), dtype=bool)])

    def _rebuild(self, persist: bool) -> tuple[SearchIndex, int]:
        if persist:
            try:
                return self._rebuild_file()
            except OSError as exc:  # e.g. a read-only folder: build in memory instead
                logger.info("cannot write %s (%s); keeping the search structure in memory", self.path, exc)
        keys: list[int] = []
        ids: list[str] = []
        peaks: list[Peaks] = []
        with self._store.iter_arrays() as stream:
            for key, sound_id, arrays in stream:
                keys.append(int(key))
                ids.append(sound_id)
                peaks.append(_peaks(arrays))
            generation = stream.generation
        if not peaks:
            self._base = None
            return SearchIndex([], []), generation
        table, peak_table = build_part(peaks, self._params)
        self._base = _Base(table, peak_table, ids, keys, generation)
        return SearchIndex([(table, peak_table)], ids), generation

    def _rebuild_file(self) -> tuple[SearchIndex, int]:
        """Stream the store's peaks into a new search file (bounded memory) and map it."""
        keys: list[int] = []
        ids: list[str] = []
        with self._store.iter_arrays() as stream:

            def sounds() -> Iterator[tuple[np.ndarray, np.ndarray]]:
                for key, sound_id, arrays in stream:
                    keys.append(int(key))
                    ids.append(sound_id)
                    yield arrays["peak_times"], arrays["peak_bins"]

            def header() -> dict[str, Any]:
                return {
                    **self._identity,
                    "generation": stream.generation,
                    "sound_ids": ids,
                    "sound_keys": keys,
                }

            written = write_search_file_streamed(self.path, header, sounds(), self._params)
            generation = stream.generation
        if not written:
            self._base = None
            return SearchIndex([], []), generation
        base = self._load_file()
        if base is None:
            raise SoundIndexFormatError(f"{self.path} could not be read back after writing it")
        logger.info("wrote %s (%d sounds, generation %d)", self.path, len(ids), generation)
        self._base = base
        return SearchIndex([(base.table, base.peaks)], ids), generation
