"""In-memory (or memory-mapped) search structures: a triplet hash table and per-sound peak lists.

Both are flat numpy arrays, so building is a couple of sorts, a lookup is a handful of vectorised
gathers (no Python loop per hit), and both can live in a file that is memory-mapped when an index
is opened (see :mod:`reelsense.sounds.index._search_file`).

:class:`TripletTable` is an open hash table with ``2 ** bits`` buckets: a key's bucket is the top
``bits`` bits of ``key * 0x9E3779B97F4A7C15`` (mod 2**64, Fibonacci hashing) and 8 further bits of
that product are kept per posting to reject other keys that share the bucket (about 2 per bucket
at the default load). A posting packs ``(sound number << time_bits) | anchor frame`` into one
unsigned integer. Memory per posting: 1 byte of check plus 4 (or 8) bytes of posting, plus 4 bytes
per bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from reelsense.errors import ParameterError
from reelsense.sounds import _kernels
from reelsense.sounds.fingerprint import FingerprintParams, Peaks, reference_triplet_keys

__all__ = ["Hits", "IndexTotals", "PeakTable", "SearchIndex", "TripletTable", "reference_chunks"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_CHECK_SHIFT = np.uint64(24)
#: a bucket array is at least this large and at most this large (log2)
_MIN_BITS, _MAX_BITS = 8, 30
#: compiled look-ups fetch the buckets of the key this many keys ahead: in a table larger than the
#: processor's caches each key waits on memory, and fetched ahead the waits overlap (a table in
#: cache is as fast either way)
_PREFETCH_AHEAD = 32
#: a table whose buckets and check bytes take at most this much mostly stays in cache: its
#: compiled look-up tests check bytes while it reads the buckets' bounds (``check_first``; the
#: same hits), which in a larger table waits on memory a second time per key (docs/sounds.md
#: has the measurements)
_IN_CACHE_BYTES = 64 << 20
#: compiled look-ups of a table with at most ``2 ** _PRESENCE_MAX_BITS`` buckets (about 2,000 sounds
#: of 3 minutes) first test a bit per (bucket, low ``_PRESENCE_SUB_BITS`` bits of the check byte),
#: built when the table is first searched (4 bytes per bucket, at most 32 MB; see
#: :func:`reelsense.sounds._kernels.presence_filter`): most keys of a query are in no reference, and
#: one read of their bit replaces the reads of their bucket and check bytes. In a larger table more
#: of them are somewhere and the extra read costs more than it saves (docs/sounds.md)
_PRESENCE_SUB_BITS = 5
_PRESENCE_MAX_BITS = 23
_NO_PRESENCE = np.zeros(0, dtype=np.uint64)

Allocate = Callable[[str, tuple[int, ...], str], np.ndarray]
"""``allocate(name, shape, dtype)`` -> a writable zeroed array (``np.zeros`` or a memory map)."""


def _zeros(name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@dataclass(frozen=True, repr=False)
class Hits:
    """Postings found for a batch of query keys.

    ``query_pos``: int64 ``[h]`` flat position of the query key (see :meth:`TripletTable.lookup`);
    ``sounds``: int64 ``[h]`` dense sound number; ``times``: int64 ``[h]`` anchor frame in the
    reference.
    """

    query_pos: np.ndarray
    sounds: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return int(self.query_pos.shape[0])

    @staticmethod
    def empty() -> Hits:
        z = np.zeros(0, dtype=np.int64)
        return Hits(z, z, z)


def _hash(keys: np.ndarray) -> np.ndarray:
    h: np.ndarray = np.asarray(keys, dtype=np.uint32).astype(np.uint64) * _GOLDEN
    return h


def table_bits(n_postings: int) -> int:
    """log2 of the bucket count for two to four postings per bucket."""
    return int(np.clip(np.floor(np.log2(max(n_postings, 1) / 2.0)), _MIN_BITS, _MAX_BITS))


class TripletTable:
    """Hash table from triplet key (uint32) to postings (sound number, anchor frame).

    ``offsets``: uint32 or uint64 ``[2**bits + 1]``: postings of bucket ``b`` are rows
    ``offsets[b]:offsets[b+1]`` of ``check`` (uint8) and ``postings`` (uint32 or uint64,
    ``(sound << time_bits) | frame``).
    """

    def __init__(
        self, bits: int, time_bits: int, offsets: np.ndarray, check: np.ndarray, postings: np.ndarray
    ) -> None:
        if offsets.shape != ((1 << bits) + 1,) or check.shape != postings.shape:
            raise ParameterError(
                f"inconsistent triplet table: {offsets.shape[0]} offsets for 2**{bits} buckets, "
                f"{check.shape[0]} checks for {postings.shape[0]} postings"
            )
        if postings.size and int(offsets[-1]) != postings.size:
            raise ParameterError(f"triplet table offsets end at {int(offsets[-1])}, not {postings.size}")
        self.bits = bits
        self.time_bits = time_bits
        self.offsets = offsets
        self.check = check
        self.postings = postings
        self._presence: np.ndarray | None = None

    def _presence_filter(self) -> np.ndarray:
        """The compiled look-up's presence bits (empty for a table too large to gain by them)."""
        if self._presence is None:  # built once (two threads may both build it: the same array)
            small = self.bits <= _PRESENCE_MAX_BITS and self.postings.size > 0
            self._presence = (
                _kernels.presence_filter(np.asarray(self.offsets), np.asarray(self.check), _PRESENCE_SUB_BITS)
                if small
                else _NO_PRESENCE
            )
        return self._presence

    @property
    def n_postings(self) -> int:
        return int(self.postings.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.check.nbytes + self.postings.nbytes)

    @classmethod
    def build(
        cls,
        chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]],
        *,
        max_postings: int,
        n_sounds: int,
        max_frames: int,
        allocate: Allocate = _zeros,
    ) -> TripletTable:
        """Build from ``chunks()``, an iterable of ``(keys uint32 [m], sounds int [m], frames int [m])``
        that is called twice (count, then fill: a counting sort that never holds all keys at once).

        ``max_postings`` (an upper bound on the total) sizes the bucket array; ``n_sounds`` and
        ``max_frames`` size the packed postings. ``allocate`` makes the output arrays.
        """
        bits = table_bits(max_postings)
        time_bits = max(1, int(max_frames).bit_length())
        sound_bits = max(1, int(n_sounds).bit_length())
        if time_bits + sound_bits > 64:
            raise ParameterError(
                f"{n_sounds} sounds of up to {max_frames} frames do not fit a 64-bit posting"
            )
        post_dtype = "<u4" if time_bits + sound_bits <= 32 else "<u8"
        shift = np.uint64(64 - bits)
        counts = np.zeros(1 << bits, dtype=np.int64)
        total = 0
        for keys, _, _ in chunks():  # pass 1: bucket sizes
            b = np.sort((_hash(keys) >> shift).astype(np.int64))
            starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]]) if b.size else np.zeros(0, np.int64)
            counts[b[starts]] += np.diff(np.r_[starts, b.size])
            total += int(b.size)
        off_dtype = "<u4" if total < (1 << 32) else "<u8"
        offsets = allocate("offsets", ((1 << bits) + 1,), off_dtype)
        np.cumsum(counts, out=counts)
        offsets[1:] = counts
        del counts
        cursor = offsets[:-1].astype(np.int64)
        check = allocate("check", (total,), "|u1")
        postings = allocate("postings", (total,), post_dtype)
        filled = 0
        for keys, sounds, frames in chunks():  # pass 2: scatter each chunk, bucket by bucket
            sounds = np.asarray(sounds, dtype=np.int64)
            frames = np.asarray(frames, dtype=np.int64)
            if keys.size == 0:
                continue
            if sounds.min() < 0 or sounds.max() >= n_sounds or frames.min() < 0 or frames.max() > max_frames:
                raise ParameterError(
                    f"postings outside the declared ranges (sounds < {n_sounds}, frames <= {max_frames})"
                )
            h = _hash(keys)
            b = (h >> shift).astype(np.int64)
            order = np.argsort(b, kind="stable")
            bs = b[order]
            starts = np.flatnonzero(np.r_[True, bs[1:] != bs[:-1]])
            run_len = np.diff(np.r_[starts, bs.size])
            rank = np.arange(bs.size) - np.repeat(starts, run_len)
            pos = cursor[bs] + rank
            check[pos] = ((h[order] >> _CHECK_SHIFT) & np.uint64(0xFF)).astype(np.uint8)
            packed = (sounds[order].astype(np.uint64) << np.uint64(time_bits)) | frames[order].astype(
                np.uint64
            )
            postings[pos] = packed.astype(post_dtype)
            cursor[bs[starts]] += run_len
            filled += int(bs.size)
        if filled != total:
            raise ParameterError(f"chunks() gave {filled} postings on the second pass, {total} on the first")
        return cls(bits, time_bits, offsets, check, postings)

    @property
    def mean_load(self) -> float:
        """Mean postings per bucket."""
        return self.n_postings / float(1 << self.bits)

    def lookup(
        self,
        keys: np.ndarray,
        load: tuple[float | None, float | None] = (None, None),
        read: float | None = None,
    ) -> Hits:
        """All postings of ``keys``: uint32 ``[q]``, each key looked up, or ``[p, h]``, each run of
        one key along the last axis looked up once (neighbouring hypotheses often give a triplet
        the same key); cells holding :data:`reelsense.sounds._kernels.NO_KEY` are skipped. A hit's
        ``query_pos`` is the flat position of its key (of the run's first key). With ``load =
        (low, high)`` only keys whose bucket holds more than ``low`` and at most ``high`` times the
        mean number of postings per bucket (None: no bound; a bound is at least 2 postings). Very
        common patterns fill a few buckets: little evidence, most of the work. ``read``: only the
        first postings of a bucket are read, up to ``read`` times the mean number (at least 2;
        None: all). A bucket's postings lie in sound order, so a key held by many copies of one
        recording finds the same first copies every time."""
        grid = np.asarray(keys, dtype=np.uint32)
        if grid.ndim not in (1, 2):
            raise ParameterError(f"keys must be [q] or [p, h], got shape {grid.shape}")
        grid = grid[:, None] if grid.ndim == 1 else grid
        if grid.size == 0 or self.postings.size == 0:
            return Hits.empty()
        low, high = load
        if _kernels.AVAILABLE:  # the same hits in one compiled pass
            low_len = -1.0 if low is None else max(2.0, low * self.mean_load)
            high_len = math.inf if high is None else max(2.0, high * self.mean_load)
            read_len = math.inf if read is None else max(2.0, read * self.mean_load)
            in_cache = self.offsets.nbytes + self.check.nbytes <= _IN_CACHE_BYTES
            found = _kernels.table_lookup(
                np.ascontiguousarray(grid), np.asarray(self.offsets), np.asarray(self.check),
                np.asarray(self.postings), self.bits, self.time_bits, _GOLDEN, int(_CHECK_SHIFT), low_len,
                high_len, read_len, _PREFETCH_AHEAD, in_cache, self._presence_filter(), _PRESENCE_SUB_BITS,
            )  # fmt: skip
            return Hits(*found)
        flat = grid.ravel()
        first = flat != _kernels.NO_KEY
        first[1:] &= (flat[1:] != flat[:-1]) | (np.arange(1, flat.size) % grid.shape[1] == 0)
        at = np.flatnonzero(first)  # the first key of each run
        h = _hash(flat[at])
        b = (h >> np.uint64(64 - self.bits)).astype(np.int64)
        starts = self.offsets[b].astype(np.int64)
        lens = self.offsets[b + 1].astype(np.int64) - starts
        if low is not None:
            lens[lens <= max(2.0, low * self.mean_load)] = 0
        if high is not None:
            lens[lens > max(2.0, high * self.mean_load)] = 0
        if read is not None:
            np.minimum(lens, int(max(2.0, read * self.mean_load)), out=lens)
        hit = np.flatnonzero(lens)
        lens, starts = lens[hit], starts[hit]
        total = int(lens.sum())
        if total == 0:
            return Hits.empty()
        small = np.int32 if self.postings.size < (1 << 31) else np.int64  # halves the traffic
        ends = np.cumsum(lens)
        idx = np.arange(total, dtype=small) + np.repeat((starts - (ends - lens)).astype(small), lens)
        want = ((h[hit] >> _CHECK_SHIFT) & np.uint64(0xFF)).astype(np.uint8)
        ok = self.check[idx] == np.repeat(want, lens)
        qpos = np.repeat(hit.astype(small), lens)[ok]
        p = self.postings[idx[ok]].astype(np.int64)
        return Hits(at[qpos], p >> self.time_bits, p & ((1 << self.time_bits) - 1))


class PeakTable:
    """Peaks of every reference sound in one table.

    ``offsets``: int64 ``[n_sounds + 1]``; peaks of sound ``i`` are rows
    ``offsets[i]:offsets[i+1]`` of ``times`` (float32 frames, sorted; :meth:`build` sorts) and
    ``bins`` (float32).
    """

    def __init__(self, offsets: np.ndarray, times: np.ndarray, bins: np.ndarray) -> None:
        if (
            offsets.ndim != 1
            or offsets.size < 1
            or int(offsets[-1]) != times.size
            or times.shape != bins.shape
        ):
            raise ParameterError(
                f"inconsistent peak table: offsets end at {int(offsets[-1]) if offsets.size else None} "
                f"for {times.size} times and {bins.size} bins"
            )
        self.offsets = offsets
        self.times = times
        self.bins = bins

    @classmethod
    def build(
        cls, per_sound: Sequence[tuple[np.ndarray, np.ndarray]], allocate: Allocate = _zeros
    ) -> PeakTable:
        """From ``[(times float [n_i], bins float [n_i]), ...]``."""
        lens = np.array([np.asarray(t).size for t, _ in per_sound], dtype=np.int64)
        offsets = allocate("peak_offsets", (lens.size + 1,), "<i8")
        np.cumsum(lens, out=offsets[1:])
        total = int(offsets[-1])
        times = allocate("peak_times", (total,), "<f4")
        bins = allocate("peak_bins", (total,), "<f4")
        for i, (t, b) in enumerate(per_sound):
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            t = np.asarray(t, dtype=np.float32)
            order = np.argsort(t, kind="stable") if np.any(np.diff(t) < 0) else slice(None)
            times[lo:hi] = t[order]
            bins[lo:hi] = np.asarray(b, dtype=np.float32)[order]
        return cls(offsets, times, bins)

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.times.nbytes + self.bins.nbytes)

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def peaks(self, sound: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.offsets[sound]), int(self.offsets[sound + 1])
        return self.times[lo:hi], self.bins[lo:hi]

    def last_frames(self) -> np.ndarray:
        """float64 ``[n_sounds]``: time of each sound's last peak (0 for a sound without peaks)."""
        lens = np.diff(self.offsets)
        if self.times.size == 0:
            return np.zeros(lens.size)
        last = self.times[np.maximum(self.offsets[1:] - 1, 0)].astype(np.float64)  # times are sorted
        return np.where(lens > 0, np.maximum(last, 0.0), 0.0)


def reference_chunks(
    peaks: PeakTable, params: FingerprintParams, *, sound_offset: int = 0, chunk_peaks: int = 50_000
) -> Callable[[], Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """``chunks()`` for :meth:`TripletTable.build`: reference triplet keys of every sound of ``peaks``
    (numbered from ``sound_offset``), computed for groups of sounds at once.

    Sounds of a group are laid end to end on one time axis with gaps wider than the target zone,
    so one vectorised :func:`~reelsense.sounds.fingerprint.reference_keys` call serves the group
    without pairing peaks of different sounds.
    """
    gap = 4.0 * (params.pair_max_frames + 2)
    last_all = np.ceil(peaks.last_frames())

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        n = len(peaks)
        i = 0
        while i < n:
            j = int(np.searchsorted(peaks.offsets, peaks.offsets[i] + chunk_peaks, side="right"))
            j = min(max(j - 1, i + 1), n)
            lo, hi = int(peaks.offsets[i]), int(peaks.offsets[j])
            sound = np.repeat(np.arange(i, j), np.diff(peaks.offsets[i : j + 1]))
            times = peaks.times[lo:hi].astype(np.float64)
            start = np.r_[0.0, np.cumsum(last_all[i:j] + gap)][:-1]  # whole frames
            keys, anchor = reference_triplet_keys(
                Peaks(times + start[sound - i], peaks.bins[lo:hi], times), params
            )
            frames = np.maximum(np.rint(times[anchor]), 0).astype(np.int64)
            yield keys, sound[anchor] + sound_offset, frames
            i = j

    return gen


@dataclass(frozen=True)
class IndexTotals:
    """The references a match's trial count is taken over (:func:`reelsense.sounds.verify.log10_trials`):
    how many there are and their frames together (each to its last peak). A shard of a larger
    index is searched with the whole index's totals."""

    frames: float
    sounds: int

    def __add__(self, other: IndexTotals) -> IndexTotals:
        return IndexTotals(self.frames + other.frames, self.sounds + other.sounds)


class SearchIndex:
    """What the matcher searches: triplet tables over consecutive ranges of sound numbers, the
    peaks of every sound, the sound ids, and which sounds are alive (removed ones are masked).

    ``parts``: ``[(TripletTable, PeakTable), ...]``; part ``p`` holds sounds
    ``sum(len(peaks) of parts before p)`` onwards, numbered consecutively.
    """

    def __init__(
        self,
        parts: Sequence[tuple[TripletTable, PeakTable]],
        ids: Sequence[str],
        alive: np.ndarray | None = None,
    ) -> None:
        self.parts = list(parts)
        self.ids = list(ids)
        starts = np.cumsum([0] + [len(pk) for _, pk in self.parts])
        if int(starts[-1]) != len(self.ids):
            raise ParameterError(f"{len(self.ids)} ids for {int(starts[-1])} sounds in the tables")
        self._starts = starts
        self.alive = np.ones(len(self.ids), dtype=bool) if alive is None else np.asarray(alive, dtype=bool)
        last = np.concatenate([pk.last_frames() for _, pk in self.parts]) if self.parts else np.zeros(0)
        self.total_frames = float(np.sum(last[self.alive])) if last.size else 0.0

    @classmethod
    def from_peaks(cls, peaks: Sequence[Peaks], ids: Sequence[str], params: FingerprintParams) -> SearchIndex:
        """An in-memory index of reference peaks (``ids[i]`` names ``peaks[i]``)."""
        return cls([build_part(peaks, params)], ids)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_alive(self) -> int:
        return int(self.alive.sum())

    @property
    def totals(self) -> IndexTotals:
        """The live sounds and their frames (the trial count of a search of this index)."""
        return IndexTotals(self.total_frames, self.n_alive)

    @property
    def n_postings(self) -> int:
        return sum(t.n_postings for t, _ in self.parts)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes + p.nbytes for t, p in self.parts)

    def lookup(
        self,
        keys: np.ndarray,
        load: tuple[float | None, float | None] = (None, None),
        read: float | None = None,
    ) -> Hits:
        """Postings of ``keys`` in every part, numbered globally; removed sounds left out
        (``keys``, ``load``, ``read``: see :meth:`TripletTable.lookup`)."""
        found = []
        for (table, _), start in zip(self.parts, self._starts[:-1], strict=True):
            hits = table.lookup(keys, load, read)
            if len(hits):
                found.append(Hits(hits.query_pos, hits.sounds + int(start), hits.times))
        if not found:
            return Hits.empty()
        if len(found) == 1:
            hits = found[0]
        else:
            hits = Hits(
                np.concatenate([h.query_pos for h in found]),
                np.concatenate([h.sounds for h in found]),
                np.concatenate([h.times for h in found]),
            )
        if not self.alive.all():
            keep = self.alive[hits.sounds]
            hits = Hits(hits.query_pos[keep], hits.sounds[keep], hits.times[keep])
        return hits

    def peaks(self, sound: int) -> tuple[np.ndarray, np.ndarray]:
        p = int(np.searchsorted(self._starts, sound, side="right")) - 1
        return self.parts[p][1].peaks(sound - int(self._starts[p]))


def build_part(
    peaks: Sequence[Peaks] | Sequence[tuple[np.ndarray, np.ndarray]],
    params: FingerprintParams,
    *,
    allocate: Allocate = _zeros,
) -> tuple[TripletTable, PeakTable]:
    """The triplet table and peak table of some reference sounds (``Peaks`` or ``(times, bins)``)."""
    pairs = [(p.times, p.bins) if isinstance(p, Peaks) else (p[0], p[1]) for p in peaks]
    table = PeakTable.build(pairs, allocate)
    n_peaks = int(table.offsets[-1])
    fan = params.ref_fan_out
    last = table.last_frames()
    return (
        TripletTable.build(
            reference_chunks(table, params),
            max_postings=n_peaks * fan * (fan - 1) // 2,
            n_sounds=max(len(table), 1),
            max_frames=int(np.ceil(last.max())) + 1 if last.size else 1,
            allocate=allocate,
        ),
        table,
    )
