"""Search structures: the triplet hash table against a dict, peak tables, parts and masks, the search file."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music import make_notes, render
from reelsense.errors import ParameterError, SoundIndexFormatError
from reelsense.sounds import _kernels
from reelsense.sounds._tables import PeakTable, SearchIndex, TripletTable, build_part
from reelsense.sounds.fingerprint import FingerprintParams, peaks_of, reference_keys
from reelsense.sounds.index._search_file import (
    read_search_file,
    write_search_file,
    write_search_file_streamed,
)
from reelsense.sounds.index._streamed import build_streamed

P = FingerprintParams()


def _table(keys: np.ndarray, sounds: np.ndarray, times: np.ndarray, n_chunks: int) -> TripletTable:
    parts = np.array_split(np.arange(keys.size), n_chunks)

    def chunks():  # type: ignore[no-untyped-def]
        return ((keys[i], sounds[i], times[i]) for i in parts)

    return TripletTable.build(
        chunks,
        max_postings=keys.size,
        n_sounds=int(sounds.max()) + 1 if sounds.size else 1,
        max_frames=int(times.max()) if times.size else 1,
    )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 3000),
    key_space=st.sampled_from([50, 5000, 2**32 - 1]),
    n_chunks=st.integers(1, 4),
    seed=st.integers(0, 10**6),
)
def test_lookup_returns_exactly_the_postings_of_each_key(
    n: int, key_space: int, n_chunks: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, key_space, n, dtype=np.uint64).astype(np.uint32)
    sounds = rng.integers(0, 40, n)
    times = rng.integers(0, 20000, n)
    table = _table(keys, sounds, times, n_chunks)
    expected: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for k, s, t in zip(keys.tolist(), sounds.tolist(), times.tolist(), strict=True):
        expected[k].append((s, t))
    probe = np.concatenate([keys[:50], rng.integers(0, key_space, 50, dtype=np.uint64).astype(np.uint32)])
    hits = table.lookup(probe)
    got: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for q, s, t in zip(hits.query_pos.tolist(), hits.sounds.tolist(), hits.times.tolist(), strict=True):
        got[q].append((s, t))
    for q, k in enumerate(probe.tolist()):
        # 8 check bits: another key in the same bucket slips through with probability 1/256
        assert set(expected[k]) <= set(got[q])
        assert len(got[q]) - len(expected[k]) <= 3
    assert table.n_postings == n


def _probe_grid(rng: np.random.Generator, p: int, h: int, key_space: int) -> np.ndarray:
    """uint32 ``[p, h]`` keys as probing lays them out: runs of one key along a row (neighbouring
    hypotheses), cells without a key, and a key that ends one row and starts the next."""
    grid = rng.integers(0, key_space, (p, h), dtype=np.uint64).astype(np.uint32)
    repeat = rng.random((p, h)) < 0.5
    for j in range(1, h):
        grid[:, j] = np.where(repeat[:, j], grid[:, j - 1], grid[:, j])
    grid[rng.random((p, h)) < 0.15] = _kernels.NO_KEY
    if p > 1:
        grid[1, 0] = grid[0, -1]
    return grid


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2000),
    p=st.integers(0, 40),
    h=st.integers(1, 9),
    load=st.sampled_from([(None, None), (0.5, None), (None, 1.5)]),
    read=st.sampled_from([None, 0.5, 1.5]),
    seed=st.integers(0, 10**6),
)
def test_a_grid_looks_each_run_up_once(
    n: int, p: int, h: int, load: tuple[float | None, float | None], read: float | None, seed: int
) -> None:
    """A ``[p, h]`` look-up finds, for each run of one key along a row, the hits of that key looked
    up alone, named by the run's first cell, in order; cells without a key find nothing."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 300, n, dtype=np.uint64).astype(np.uint32)
    table = _table(keys, rng.integers(0, 40, n), rng.integers(0, 20000, n), 2)
    grid = _probe_grid(rng, p, h, 300)
    flat = grid.ravel()
    expected: list[tuple[int, int, int]] = []
    for c, key in enumerate(flat.tolist()):
        if key == int(_kernels.NO_KEY) or (c % h > 0 and flat[c - 1] == key):
            continue
        alone = table.lookup(np.array([key], dtype=np.uint32), load, read)
        expected += [(c, s, t) for s, t in zip(alone.sounds.tolist(), alone.times.tolist(), strict=True)]
    available = _kernels.AVAILABLE
    try:
        for compiled in {available, False}:  # the compiled look-up and the numpy one
            _kernels.AVAILABLE = compiled
            hits = table.lookup(grid, load, read)
            got = list(zip(hits.query_pos.tolist(), hits.sounds.tolist(), hits.times.tolist(), strict=True))
            assert got == expected
    finally:
        _kernels.AVAILABLE = available


@pytest.mark.parametrize("compiled", [True, False])
def test_a_bucket_read_up_to_a_bound_gives_its_first_postings_in_sound_order(compiled: bool) -> None:
    """``read`` bounds the postings read per bucket: a key held 50 times (sound 0..49, as copies of
    one recording give) finds its first ``read`` x mean-load postings, lowest sounds first, and
    the same ones for every look-up; without ``read`` all 50, and with a load cap under 50, none."""
    if compiled and not _kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    others = rng.integers(1, 2**31, 400, dtype=np.uint64).astype(np.uint32)
    keys = np.r_[np.full(50, 7, dtype=np.uint32), others]
    sounds = np.r_[np.arange(50), rng.integers(50, 90, others.size)]
    table = _table(keys, sounds, rng.integers(0, 20000, keys.size), 3)
    cap = 8.0
    cap_len = int(max(2.0, cap * table.mean_load))
    assert cap_len < 50
    available = _kernels.AVAILABLE
    try:
        _kernels.AVAILABLE = compiled
        probe = np.array([7, 7], dtype=np.uint32)
        assert len(table.lookup(probe)) == 100
        assert len(table.lookup(probe, (None, cap))) == 0
        hits = table.lookup(probe, (cap, None), cap)
        assert hits.sounds.tolist() == 2 * list(range(cap_len))
        assert hits.query_pos.tolist() == [0] * cap_len + [1] * cap_len
    finally:
        _kernels.AVAILABLE = available


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 3000),
    n_probe=st.integers(0, 300),
    h=st.sampled_from([1, 5]),
    ahead=st.sampled_from([1, 2, 7, 32, 1000]),
    load=st.sampled_from(
        [(-1.0, np.inf, np.inf), (2.0, np.inf, np.inf), (-1.0, 3.0, np.inf), (2.0, np.inf, 3.0)]
    ),
    sub_bits=st.integers(0, 8),
    seed=st.integers(0, 10**6),
)
def test_lookup_fetching_ahead_finds_what_it_finds_without(
    n: int, n_probe: int, h: int, ahead: int, load: tuple[float, float, float], sub_bits: int, seed: int
) -> None:
    """Prefetching is a hint: the compiled look-up's hits, in order, do not depend on how far ahead
    it fetches (including past the last key), nor on whether it fetches at all; the look-up that
    tests check bytes first (tables in cache) and the one that tests presence bits first find the
    same hits in the same order."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 5000, n, dtype=np.uint64).astype(np.uint32)
    table = _table(keys, rng.integers(0, 40, n), rng.integers(0, 20000, n), 2)
    probe = _probe_grid(rng, n_probe, h, 5000)
    args = (probe, table.offsets, table.check, table.postings, table.bits, table.time_bits)
    rest = (np.uint64(0x9E3779B97F4A7C15), 24, *load)
    presence = _kernels.presence_filter(table.offsets, table.check, sub_bits)
    none = np.zeros(0, dtype=np.uint64)
    plain = _kernels.table_lookup(*args, *rest, 0, False, none, 0)
    for fetch in (0, ahead):
        for first in (False, True):
            for bits in (none, presence):
                other = _kernels.table_lookup(*args, *rest, fetch, first, bits, sub_bits)
                for a, b in zip(plain, other, strict=True):
                    np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 3000), sub_bits=st.integers(0, 8), seed=st.integers(0, 10**6))
def test_presence_filter_sets_the_bit_of_each_posting_and_no_other(n: int, sub_bits: int, seed: int) -> None:
    """Bit ``(bucket << sub_bits) | (check & mask)`` is set exactly for the buckets' postings."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 5000, n, dtype=np.uint64).astype(np.uint32)
    table = _table(keys, rng.integers(0, 40, n), rng.integers(0, 20000, n), 2)
    words = _kernels.presence_filter(table.offsets, table.check, sub_bits)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")
    assert bits.size == max(64, (1 << (table.bits + sub_bits)))
    bucket = np.repeat(np.arange(1 << table.bits), np.diff(table.offsets.astype(np.int64)))
    expected = np.zeros(bits.size, dtype=np.uint8)
    expected[(bucket << sub_bits) | (table.check.astype(np.int64) & ((1 << sub_bits) - 1))] = 1
    np.testing.assert_array_equal(bits, expected)


_LOOKUP_AS_PYTHON = """
import numpy as np
from reelsense.sounds import _kernels
from reelsense.sounds._tables import TripletTable
keys = np.array([5, 9, 5, 77], dtype=np.uint32)
table = TripletTable.build(lambda: iter([(keys, np.array([0, 1, 2, 3]), np.array([10, 20, 30, 40]))]),
                           max_postings=4, n_sounds=4, max_frames=40)
probe = np.r_[np.array([5, 77], dtype=np.uint32), np.arange(1000, 1100, dtype=np.uint32)]  # > 32 keys
hits = table.lookup(probe)
print(_kernels.AVAILABLE, sorted(zip(hits.query_pos.tolist(), hits.sounds.tolist(), hits.times.tolist())))
"""


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed or REELSENSE_NUMBA=0")
def test_lookup_runs_with_numbas_jit_disabled() -> None:
    """``NUMBA_DISABLE_JIT=1`` (numba's debugging switch) runs the kernels as Python: the
    look-up's prefetch hint, an intrinsic that only compiled code can call, is then skipped."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "REELSENSE_NUMBA": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _LOOKUP_AS_PYTHON], env=env, capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=1)
    assert out[0] == str(_kernels.AVAILABLE)
    assert out[1].strip() == "[(0, 0, 10), (0, 2, 30), (1, 3, 40)]"  # keys 1000-1099 are absent


def test_packed_postings_widen_when_needed() -> None:
    keys = np.array([7, 7, 9], dtype=np.uint32)
    big = _table(keys, np.array([0, 70000, 3]), np.array([5, 2**20, 0]), 1)
    assert big.postings.dtype == np.uint64
    hits = big.lookup(np.array([7], dtype=np.uint32))
    assert sorted(zip(hits.sounds.tolist(), hits.times.tolist(), strict=True)) == [(0, 5), (70000, 2**20)]
    small = _table(keys, np.array([0, 1, 2]), np.array([5, 6, 7]), 1)
    assert small.postings.dtype == np.uint32


def test_lookup_rejects_keys_of_other_shapes() -> None:
    table = _table(np.array([7, 9], dtype=np.uint32), np.array([0, 1]), np.array([5, 6]), 1)
    with pytest.raises(ParameterError, match="keys must be"):
        table.lookup(np.zeros((2, 2, 2), dtype=np.uint32))


def test_build_rejects_postings_outside_the_declared_ranges() -> None:
    keys = np.array([1, 2], dtype=np.uint32)
    with pytest.raises(ParameterError, match="declared ranges"):
        TripletTable.build(
            lambda: [(keys, np.array([0, 5]), np.array([1, 2]))], max_postings=2, n_sounds=3, max_frames=10
        )


def _song_peaks(seed: int, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    return peaks_of(render(make_notes(seed, seconds), seconds, 11025), 11025, P, P.ref_peaks_per_second)


def test_a_part_holds_each_sounds_reference_keys() -> None:
    peaks = [_song_peaks(s) for s in (1, 2, 3)]
    table, pt = build_part(peaks, P)
    assert len(pt) == 3
    for i, p in enumerate(peaks):
        t, b = pt.peaks(i)
        assert np.array_equal(t, p.times) and np.array_equal(b, p.bins)
        keys, frames = reference_keys(p, P)
        hits = table.lookup(keys)
        mine = hits.sounds == i
        # every key of sound i finds sound i at its own anchor frame (times laid end to end are undone)
        found = set(zip(hits.query_pos[mine].tolist(), hits.times[mine].tolist(), strict=True))
        assert all((q, int(f)) in found for q, f in enumerate(frames))
    assert table.n_postings == sum(reference_keys(p, P)[0].size for p in peaks)


def test_search_index_numbers_parts_and_masks_removed_sounds() -> None:
    a, b, c = (_song_peaks(s, 12.0) for s in (4, 5, 6))
    index = SearchIndex(
        [build_part([a, b], P), build_part([c], P)], ["a", "b", "c"], np.array([True, False, True])
    )
    assert len(index) == 3 and index.n_alive == 2
    assert np.array_equal(index.peaks(2)[0], c.times)
    keys_b, _ = reference_keys(b, P)
    keys_c, _ = reference_keys(c, P)
    assert 1 not in set(index.lookup(keys_b).sounds.tolist())  # removed
    assert 2 in set(index.lookup(keys_c).sounds.tolist())  # second part, numbered after the first
    assert index.total_frames == pytest.approx(float(a.times[-1] + c.times[-1]), rel=1e-6)
    assert index.totals.sounds == 2 and index.totals.frames == index.total_frames
    with pytest.raises(ParameterError, match="ids"):
        SearchIndex([build_part([a], P)], ["a", "b"])


def test_peak_table_last_frames_and_empty_sounds() -> None:
    pt = PeakTable.build([(np.array([1.0, 5.0]), np.array([3.0, 4.0])), (np.zeros(0), np.zeros(0))])
    assert pt.last_frames().tolist() == [5.0, 0.0]
    assert pt.peaks(1)[0].size == 0


def test_search_file_round_trip_and_damage(tmp_path: Path) -> None:
    peaks = [_song_peaks(s, 10.0) for s in (7, 8)]
    path = tmp_path / "x.rsidx-search"
    header = {"generation": 3, "sound_ids": ["p", "q"], "sound_keys": [1, 2], "params": P.to_dict()}
    write_search_file(path, header, lambda allocate: build_part(peaks, P, allocate=allocate))
    f = read_search_file(path)
    mem_table, mem_peaks = build_part(peaks, P)
    assert f.generation == 3 and f.sound_ids == ["p", "q"] and f.sound_keys == [1, 2]
    # mapped from the file, not read into memory (a plain view of the mapping)
    assert isinstance(f.table.postings.base, np.memmap) and not f.table.postings.flags.writeable
    for name in ("offsets", "check", "postings"):
        assert np.array_equal(getattr(f.table, name), getattr(mem_table, name))
    assert np.array_equal(f.peaks.times, mem_peaks.times)
    assert not list(tmp_path.glob("*.tmp"))
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # truncated trailer
    with pytest.raises(SoundIndexFormatError):
        read_search_file(path)
    path.write_bytes(b"not a search file at all")
    with pytest.raises(SoundIndexFormatError):
        read_search_file(path)


def test_a_failed_build_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "y-search"

    def broken(allocate):  # type: ignore[no-untyped-def]
        allocate("offsets", (10,), "<u4")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_search_file(path, {"generation": 0}, broken)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=5, deadline=None)
@given(n_sounds=st.integers(1, 7), chunk=st.sampled_from([50, 700, 50_000]), seed=st.integers(0, 99))
def test_streamed_search_file_holds_the_in_memory_tables(n_sounds: int, chunk: int, seed: int) -> None:
    # the bounded-memory build (spilled partitions, any grouping of sounds) gives the same arrays
    rng = np.random.default_rng(seed)
    peaks = [_song_peaks(int(s), float(rng.uniform(0.5, 12.0))) for s in rng.integers(0, 50, n_sounds)]
    table, peak_table = build_part(peaks, P)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.rsidx-search"
        header = {
            "generation": 1,
            "sound_ids": [str(i) for i in range(n_sounds)],
            "sound_keys": list(range(n_sounds)),
        }
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        try:
            build_streamed(
                ((p.times, p.bins) for p in peaks), P, fd, align=4096, spill_dir=tmp, chunk_peaks=chunk
            )
        finally:
            os.close(fd)
        assert [q.name for q in Path(tmp).iterdir()] == ["s.rsidx-search"]  # spill files removed
        assert write_search_file_streamed(path, lambda: header, ((p.times, p.bins) for p in peaks), P)
        f = read_search_file(path)
        for name in ("offsets", "check", "postings"):
            assert np.array_equal(getattr(f.table, name), getattr(table, name))
        assert (f.table.bits, f.table.time_bits) == (table.bits, table.time_bits)
        for name in ("offsets", "times", "bins"):
            assert np.array_equal(getattr(f.peaks, name), getattr(peak_table, name))
        assert not write_search_file_streamed(Path(tmp) / "empty-search", lambda: header, iter(()), P)
        assert not (Path(tmp) / "empty-search").exists()
