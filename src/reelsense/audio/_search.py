"""In-memory search structures: an inverted hash index and per-sound peak lists.

Both are compressed-sparse-row (CSR) layouts over flat numpy arrays, so building is
one sort and a lookup is a handful of vectorised gathers (no Python loop per hit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelsense.errors import ParameterError

__all__ = ["HashIndex", "Hits", "PeakTable"]


@dataclass(frozen=True, repr=False)
class Hits:
    """Postings found for a batch of query keys.

    ``query_pos``: int64 ``[h]`` index of the query key; ``sounds``: int32 ``[h]`` dense
    sound number; ``times``: int32 ``[h]`` anchor frame in the reference.
    """

    query_pos: np.ndarray
    sounds: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return int(self.query_pos.shape[0])


class HashIndex:
    """Inverted index from hash key to (sound number, anchor frame) postings.

    ``offsets``: int64 ``[n_keys + 1]``; postings of key ``k`` are
    ``sounds[offsets[k]:offsets[k+1]]`` / ``times[...]`` (int32 each).
    """

    def __init__(self, offsets: np.ndarray, sounds: np.ndarray, times: np.ndarray) -> None:
        if offsets.ndim != 1 or offsets.size < 2 or int(offsets[-1]) != sounds.size:
            raise ParameterError(
                f"inconsistent hash index: offsets of shape {offsets.shape} for {sounds.size} postings"
            )
        self.offsets = offsets.astype(np.int64, copy=False)
        self.sounds = sounds.astype(np.int32, copy=False)
        self.times = times.astype(np.int32, copy=False)

    @classmethod
    def build(cls, n_keys: int, keys: np.ndarray, sounds: np.ndarray, times: np.ndarray) -> HashIndex:
        """Build from flat postings ``keys`` (uint32 ``[m]`` in ``[0, n_keys)``), ``sounds``, ``times``."""
        keys = np.asarray(keys, dtype=np.int64)
        if keys.size and (keys.min() < 0 or keys.max() >= n_keys):
            raise ParameterError(f"hash keys must lie in [0, {n_keys}), got [{keys.min()}, {keys.max()}]")
        order = np.argsort(keys, kind="stable")
        offsets = np.zeros(n_keys + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=n_keys), out=offsets[1:])
        return cls(offsets, np.asarray(sounds)[order], np.asarray(times)[order])

    @property
    def n_postings(self) -> int:
        return int(self.sounds.size)

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.sounds.nbytes + self.times.nbytes)

    def lookup(self, keys: np.ndarray, max_postings: int | None = None) -> Hits:
        """All postings of ``keys`` (int ``[q]``). Keys whose list is longer than
        ``max_postings`` are skipped (they carry almost no information)."""
        keys = np.asarray(keys, dtype=np.int64)
        starts = self.offsets[keys]
        lens = self.offsets[keys + 1] - starts
        if max_postings is not None:
            lens = np.where(lens > max_postings, 0, lens)
        total = int(lens.sum())
        if total == 0:
            z = np.zeros(0, dtype=np.int32)
            return Hits(np.zeros(0, dtype=np.int64), z, z)
        qpos = np.repeat(np.arange(keys.size, dtype=np.int64), lens)
        ends = np.cumsum(lens)
        idx = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lens), lens)
        return Hits(qpos, self.sounds[idx], self.times[idx])


class PeakTable:
    """Peaks of every reference sound in one CSR table.

    ``offsets``: int64 ``[n_sounds + 1]``; peaks of sound ``i`` are rows
    ``offsets[i]:offsets[i+1]`` of ``times`` (float32 frames, sorted) and ``bins`` (float32).
    ``total_frames``: summed length of all references (last peak time of each).
    """

    def __init__(self, offsets: np.ndarray, times: np.ndarray, bins: np.ndarray) -> None:
        self.offsets = offsets.astype(np.int64, copy=False)
        self.times = times.astype(np.float32, copy=False)
        self.bins = bins.astype(np.float32, copy=False)
        lens = np.diff(self.offsets)
        ends = self.offsets[1:] - 1
        last = np.where(lens > 0, self.times[np.maximum(ends, 0)] if self.times.size else 0.0, 0.0)
        self.total_frames = float(np.sum(last))

    @classmethod
    def build(cls, per_sound: list[tuple[np.ndarray, np.ndarray]]) -> PeakTable:
        lens = np.array([t.size for t, _ in per_sound], dtype=np.int64)
        offsets = np.zeros(lens.size + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        if per_sound:
            times = np.concatenate([np.asarray(t, dtype=np.float32) for t, _ in per_sound])
            bins = np.concatenate([np.asarray(b, dtype=np.float32) for _, b in per_sound])
        else:
            times = np.zeros(0, dtype=np.float32)
            bins = np.zeros(0, dtype=np.float32)
        return cls(offsets, times, bins)

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.times.nbytes + self.bins.nbytes)

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def peaks(self, sound: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.offsets[sound]), int(self.offsets[sound + 1])
        return self.times[lo:hi], self.bins[lo:hi]
