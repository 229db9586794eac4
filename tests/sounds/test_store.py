"""Tests of the persistent fingerprint store (reelsense.sounds.index._store.FingerprintStore)."""

from __future__ import annotations

import inspect
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reelsense.errors import ParameterError, SoundIndexError, SoundIndexFormatError
from reelsense.sounds.index import _store
from reelsense.sounds.index._store import FingerprintStore, StoreItem

PARAMS = {"sample_rate": 8000, "hop": 128, "fan_out": [3, 5]}
#: items per sound in the kill-inside-a-transaction test: 9 uncommitted sounds of ~0.5 MB exceed SQLite's
#: 2 MB page cache, so uncommitted pages have spilled into the -wal file when the writer is killed.
N_BIG = 100_000


def synthetic_arrays(seed: int, n_items: int) -> dict[str, np.ndarray]:
    """Fingerprint-like arrays: random uint32 hashes and sorted int32 frame times (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    return {
        "hashes": rng.integers(0, 2**32, n_items, dtype=np.uint64).astype(np.uint32),
        "times": np.sort(rng.integers(0, 11250, n_items)).astype(np.int32),
    }


def assert_arrays_equal(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, a in want.items():
        assert got[name].dtype == a.dtype.newbyteorder("="), name
        assert got[name].shape == a.shape, name
        np.testing.assert_array_equal(got[name], a)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "idx" / "sounds.rsidx"


@pytest.fixture
def store(path: Path) -> Iterator[FingerprintStore]:
    with FingerprintStore.open(path, create=True, params=PARAMS) as s:
        yield s


# ------------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("compression", ["raw", "shuffle-zlib"])
def test_round_trip_of_several_dtypes_shapes_and_byte_orders(path: Path, compression: str) -> None:
    rng = np.random.default_rng(3)
    arrays: dict[str, np.ndarray] = {
        "u32": rng.integers(0, 2**32, 3000, dtype=np.uint64).astype(np.uint32),
        "i32_sorted": np.sort(rng.integers(-5, 9000, 3000)).astype(np.int32),
        "u8_2d": rng.integers(0, 256, (40, 7)).astype(np.uint8),
        "i16_big_endian": rng.integers(-3000, 3000, 500).astype(">i2"),
        "u64": rng.integers(0, 2**63, 100, dtype=np.uint64),
        "f16": rng.normal(size=64).astype(np.float16),
        "f32_strided": rng.normal(size=(50, 6)).astype(np.float32)[::2, 1::2],
        "f64_scalar": np.array(2.5),
        "i8_empty": np.zeros((0, 3), dtype=np.int8),
    }
    with FingerprintStore.open(path, create=True, params=PARAMS, compression=compression) as s:
        rec = s.add("song", arrays, duration_seconds=12.5)
        assert rec.n_items == 3000
        got = s.get_arrays("song")
        assert_arrays_equal(got, arrays)
        assert all(not a.flags.writeable for a in got.values())
        ((key, sid, streamed),) = list(s.iter_arrays())
    assert (key, sid) == (rec.key, "song")
    assert_arrays_equal(streamed, arrays)
    with FingerprintStore.open(path, readonly=True) as s:  # persisted, not just cached
        assert_arrays_equal(s.get_arrays("song"), arrays)


def test_codec_choice_and_reading_without_reelsense(store: FingerprintStore, path: Path) -> None:
    """Near-random hashes stay raw, small time values compress; a raw array reads with sqlite3 + numpy."""
    arrays = synthetic_arrays(1, 4000)
    key = store.add("a", arrays, duration_seconds=30.0).key
    con = sqlite3.connect(path)
    rows = {
        r[0]: r[1:]
        for r in con.execute("SELECT name, codec, dtype, shape, data FROM arrays WHERE key=?", (key,))
    }
    con.close()
    assert rows["hashes"][0] == "raw" and rows["times"][0] == "shuffle-zlib"
    _, dtype, shape, data = rows["hashes"]
    np.testing.assert_array_equal(np.frombuffer(data, dtype).reshape(json.loads(shape)), arrays["hashes"])
    assert len(rows["times"][3]) < 0.5 * arrays["times"].nbytes


@pytest.fixture(scope="module")
def property_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FingerprintStore]]:
    folder = tmp_path_factory.mktemp("property")
    stores = {
        c: FingerprintStore.open(folder / f"{c}.rsidx", create=True, compression=c)
        for c in ("raw", "shuffle-zlib")
    }
    yield stores
    for s in stores.values():
        s.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        hnp.arrays(
            dtype=st.sampled_from(
                ["<u1", "<i1", "<u2", ">i2", "<u4", ">i4", "<i8", ">u8", "<f2", ">f4", "<f8"]
            ),
            shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=12),
        ),
        min_size=1,
        max_size=4,
    ),
    compression=st.sampled_from(["raw", "shuffle-zlib"]),
)
def test_property_random_arrays_round_trip_byte_exactly(
    property_stores: dict[str, FingerprintStore], data: list[np.ndarray], compression: str
) -> None:
    arrays = {f"a{i}": a for i, a in enumerate(data)}
    s = property_stores[compression]
    rec = s.add("x", arrays, duration_seconds=1.0, replace=True)
    got = s.get_arrays("x")
    assert rec.n_items == (data[0].shape[0] if data[0].ndim else 1)  # the first array's length
    for name, a in arrays.items():
        native = a.astype(a.dtype.newbyteorder("="))
        assert got[name].dtype == native.dtype and got[name].shape == a.shape
        assert got[name].tobytes() == native.tobytes()  # byte-exact, NaN payloads included


# ------------------------------------------------------------------------------------------- records, keys
def test_records_keys_never_reused_and_remove(store: FingerprintStore, path: Path) -> None:
    recs = [
        store.add(
            sid,
            synthetic_arrays(i, 50 + i),
            duration_seconds=10.0 + i,
            source_path=f"/m/{sid}.mp4",
            meta={"i": i},
        )
        for i, sid in enumerate(["snd_a", "snd_b", "snd_c"])
    ]
    assert [r.key for r in recs] == sorted({r.key for r in recs})
    assert store.ids() == ["snd_a", "snd_b", "snd_c"] and len(store) == 3 and "snd_b" in store
    assert store.record("snd_b") == recs[1]
    assert recs[1].n_items == 51 and recs[1].source_path == "/m/snd_b.mp4" and recs[1].meta == {"i": 1}
    store.remove("snd_c")  # the largest key: SQLite would reuse it without AUTOINCREMENT
    assert "snd_c" not in store and store.ids() == ["snd_a", "snd_b"]
    d = store.add("snd_d", synthetic_arrays(9, 10), duration_seconds=1.0)
    assert d.key > recs[2].key
    with pytest.raises(SoundIndexError, match="snd_c") as err:
        store.get_arrays("snd_c")
    assert "close ids" in str(err.value) and "'snd_a'" in str(err.value)
    with pytest.raises(SoundIndexError, match="no sound 'snd_x'"):
        store.remove("snd_x")
    con = sqlite3.connect(path)  # no orphaned array rows
    assert (
        con.execute("SELECT COUNT(*) FROM arrays WHERE key NOT IN (SELECT key FROM sounds)").fetchone()[0]
        == 0
    )
    con.close()
    store.close()
    with FingerprintStore.open(path) as again:
        assert [r.key for r in again.records()] == [recs[0].key, recs[1].key, d.key]


def test_duplicate_and_replace(store: FingerprintStore) -> None:
    first = store.add("a", synthetic_arrays(1, 100), duration_seconds=5.0)
    generation = store.generation
    with pytest.raises(SoundIndexError, match=r"already in .*replace=True"):
        store.add("a", synthetic_arrays(2, 10), duration_seconds=1.0)
    assert store.generation == generation and store.record("a") == first
    new = store.add("a", synthetic_arrays(2, 10), duration_seconds=1.0, replace=True)
    assert new.key > first.key and new.n_items == 10 and store.ids() == ["a"]
    assert_arrays_equal(store.get_arrays("a"), synthetic_arrays(2, 10))


def test_add_many_is_all_or_nothing_and_batched_mode_keeps_batches(store: FingerprintStore) -> None:
    store.add("s3", synthetic_arrays(3, 20), duration_seconds=1.0)
    items = [StoreItem(f"s{i}", synthetic_arrays(i, 20), 1.0) for i in range(6)]  # s3 collides
    g = store.generation
    with pytest.raises(SoundIndexError, match="'s3' is already"):
        store.add_many(items)
    assert store.ids() == ["s3"] and store.generation == g
    with pytest.raises(SoundIndexError, match="'s3' is already"):
        store.add_many(items, commit_every=2)
    assert store.ids() == ["s3", "s0", "s1"]  # first batch kept, batch with the failure rolled back
    assert store.generation == g + 1
    recs = store.add_many((it for it in items[2:]), replace=True, commit_every=3)
    assert [r.sound_id for r in recs] == ["s2", "s3", "s4", "s5"] and len(store) == 6
    assert store.generation == g + 3  # two batches of three and two


def test_generation_bumps_and_is_visible_from_another_connection(store: FingerprintStore, path: Path) -> None:
    with FingerprintStore.open(path, readonly=True) as reader:
        g0 = reader.generation
        assert store.generation == g0
        store.add("a", synthetic_arrays(1, 10), duration_seconds=1.0)
        assert reader.generation == g0 + 1
        stream = reader.iter_arrays()
        assert stream.generation == g0 + 1
        store.add_many(
            [StoreItem("b", synthetic_arrays(2, 10), 1.0), StoreItem("c", synthetic_arrays(3, 10), 1.0)]
        )
        store.remove("a")
        assert reader.generation == g0 + 3
        assert [sid for _, sid, _ in stream] == ["a"]  # the stream reads its snapshot
        store.add_many([])
        assert reader.generation == g0 + 3  # nothing committed, nothing bumped


def test_stats(store: FingerprintStore) -> None:
    empty = store.stats()
    assert empty.n_sounds == 0 and empty.bytes_per_hour is None and empty.params == PARAMS
    for i in range(4):
        store.add(f"s{i}", synthetic_arrays(i, 1000), duration_seconds=900.0)
    st_ = store.stats()
    assert (st_.n_sounds, st_.total_duration_seconds, st_.total_items) == (4, 3600.0, 4000)
    assert st_.array_bytes == 4 * 8000 and 0 < st_.stored_bytes < st_.array_bytes
    assert st_.file_bytes > st_.stored_bytes and st_.bytes_per_hour == pytest.approx(st_.file_bytes)
    assert st_.format_version == _store.FORMAT_VERSION and st_.compression == "shuffle-zlib"
    assert st_.generation == 4 and st_.created_at.endswith("+00:00")


# ------------------------------------------------------------------------------------------- formats, errors
def test_params_mismatch_names_the_keys(path: Path) -> None:
    FingerprintStore.open(path, create=True, params=PARAMS).close()
    with FingerprintStore.open(path, params={**PARAMS, "fan_out": (3, 5)}) as s:  # tuple == stored list
        assert s.params == PARAMS
    with FingerprintStore.open(path) as s:
        assert s.params == PARAMS
    with pytest.raises(SoundIndexFormatError) as err:
        FingerprintStore.open(path, params={"sample_rate": 16000, "hop": 128, "fan_out": [3, 5], "extra": 1})
    msg = str(err.value)
    assert "sample_rate: stored 8000, given 16000" in msg and "extra: stored <absent>, given 1" in msg
    assert "hop" not in msg


def test_files_that_are_not_a_sound_index(tmp_path: Path) -> None:
    junk = tmp_path / "junk.rsidx"
    junk.write_bytes(b"ID3\x04" + bytes(range(256)) * 20)
    with pytest.raises(SoundIndexFormatError, match="not an SQLite database"):
        FingerprintStore.open(junk)
    foreign = tmp_path / "other.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE songs (title TEXT)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    for create in (False, True):
        with pytest.raises(SoundIndexFormatError, match=r"not a reelsense sound index .*tables: songs"):
            FingerprintStore.open(foreign, create=create)
    assert foreign.read_bytes() == before  # untouched (not even switched to WAL)
    empty = tmp_path / "empty.rsidx"
    empty.touch()
    with pytest.raises(SoundIndexFormatError, match="empty"):
        FingerprintStore.open(empty)
    missing = tmp_path / "missing.rsidx"
    with pytest.raises(SoundIndexError, match="does not exist") as err:
        FingerprintStore.open(missing, readonly=True)
    assert not isinstance(err.value, SoundIndexFormatError) and not missing.exists()
    with pytest.raises(SoundIndexFormatError, match="directory"):
        FingerprintStore.open(tmp_path)


def _set_meta(path: Path, key: str, value: str) -> None:
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    con.commit()
    con.close()


def test_newer_format_version_and_wrong_magic(path: Path) -> None:
    FingerprintStore.open(path, create=True).close()
    _set_meta(path, "format_version", str(_store.FORMAT_VERSION + 1))
    with pytest.raises(SoundIndexFormatError, match=f"format_version {_store.FORMAT_VERSION + 1}, newer"):
        FingerprintStore.open(path)
    _set_meta(path, "format_version", str(_store.FORMAT_VERSION))
    _set_meta(path, "compression", "zstd-dict")
    with pytest.raises(SoundIndexFormatError, match="compression 'zstd-dict'"):
        FingerprintStore.open(path)
    _set_meta(path, "compression", "raw")
    _set_meta(path, "magic", "someone-elses-index")
    with pytest.raises(SoundIndexFormatError, match="someone-elses-index"):
        FingerprintStore.open(path)


def test_migration_hook_upgrades_older_stores(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FingerprintStore.open(path, create=True) as s:
        s.add("a", synthetic_arrays(1, 10), duration_seconds=1.0)
    calls = []

    def step(con: sqlite3.Connection) -> None:
        calls.append(1)
        con.execute("ALTER TABLE sounds ADD COLUMN loudness REAL")

    monkeypatch.setattr(_store, "FORMAT_VERSION", 2)
    with pytest.raises(SoundIndexFormatError, match="no upgrade from it"):
        FingerprintStore.open(path)
    monkeypatch.setitem(_store._MIGRATIONS, 1, step)
    with pytest.raises(SoundIndexFormatError, match="without readonly=True to upgrade"):
        FingerprintStore.open(path, readonly=True)
    with FingerprintStore.open(path) as s:
        assert s.format_version == 2 and calls == [1] and s.ids() == ["a"]
    with FingerprintStore.open(path) as s:  # already upgraded: the step does not run again
        assert calls == [1]


def _corrupt(path: Path, sql: str, *args: object) -> None:
    con = sqlite3.connect(path)
    con.execute(sql, args)
    con.commit()
    con.close()


def test_corrupt_blobs_raise_format_errors_naming_the_sound(store: FingerprintStore, path: Path) -> None:
    for i, sid in enumerate(["flip", "short", "dtype", "gone", "ok"]):
        store.add(sid, synthetic_arrays(i, 500), duration_seconds=3.0)
    raw = store.get_arrays("flip")["hashes"].tobytes()
    flipped = bytes([raw[0] ^ 0xFF]) + raw[1:]
    _corrupt(
        path,
        "UPDATE arrays SET data = ? WHERE name = 'hashes' AND key = 1",
        flipped,
    )
    _corrupt(path, "UPDATE arrays SET data = substr(data, 1, 100) WHERE name = 'hashes' AND key = 2")
    _corrupt(path, "UPDATE arrays SET dtype = 'O' WHERE name = 'hashes' AND key = 3")
    _corrupt(path, "DELETE FROM arrays WHERE name = 'times' AND key = 4")
    expected = {
        "flip": "CRC-32 mismatch",
        "short": "blob holds 100 bytes",
        "dtype": "dtype 'O'",
        "gone": "incomplete",
    }
    for sid, why in expected.items():
        with pytest.raises(SoundIndexFormatError, match=why) as err:
            store.get_arrays(sid)
        # the message names the index and how to replace the sound (it named store.remove)
        assert repr(sid) in str(err.value) and f"--sound-index {path} --replace" in str(err.value)
    assert_arrays_equal(store.get_arrays("ok"), synthetic_arrays(4, 500))
    assert store.get_arrays("flip", verify=False)["hashes"][0] != synthetic_arrays(0, 500)["hashes"][0]
    with pytest.raises(SoundIndexFormatError, match="'flip'") as err:
        list(store.iter_arrays())
    assert f"in {path} is corrupt" in str(err.value) and "--replace" in str(err.value)
    problems = store.check()
    assert len(problems) == 4 and all(any(repr(s) in p for p in problems) for s in expected)


def test_readonly_refuses_writes(store: FingerprintStore, path: Path) -> None:
    store.add("a", synthetic_arrays(1, 10), duration_seconds=1.0)
    with FingerprintStore.open(path, readonly=True) as ro:
        assert ro.ids() == ["a"]
        for write in (
            lambda: ro.add("b", synthetic_arrays(2, 10), duration_seconds=1.0),
            lambda: ro.add_many([StoreItem("b", synthetic_arrays(2, 10), 1.0)]),
            lambda: ro.remove("a"),
            ro.vacuum,
        ):
            with pytest.raises(SoundIndexError, match="read-only"):
                write()
    assert store.ids() == ["a"]


def test_bad_arguments_and_closed_store(store: FingerprintStore, path: Path) -> None:
    good = synthetic_arrays(1, 10)
    bad_calls = {
        "dtype complex": lambda: store.add("x", {"a": np.zeros(3, np.complex64)}, duration_seconds=1.0),
        "dtype object": lambda: store.add("x", {"a": np.array(["s"], dtype=object)}, duration_seconds=1.0),
        "no arrays": lambda: store.add("x", {}, duration_seconds=1.0),
        "nan duration": lambda: store.add("x", good, duration_seconds=float("nan")),
        "empty id": lambda: store.add("", good, duration_seconds=1.0),
        "meta not JSON": lambda: store.add("x", good, duration_seconds=1.0, meta={"f": object()}),
        "not a StoreItem": lambda: store.add_many([("x", good, 1.0)]),  # type: ignore[list-item]
        "commit_every": lambda: store.add_many([], commit_every=0),
        "create and readonly": lambda: FingerprintStore.open(path, create=True, readonly=True),
        "params not JSON": lambda: FingerprintStore.open(path, params={"x": {1, 2}}),
    }
    for what, call in bad_calls.items():
        with pytest.raises(ParameterError):
            call()
            pytest.fail(what)
    assert len(store) == 0 and store.generation == 0 and 3 not in store
    store.close()
    store.close()
    with pytest.raises(SoundIndexError, match="closed"):
        store.ids()


# ------------------------------------------------------------------------------------------- processes
WRITER = """
import itertools, os, sys, time
import numpy as np
from reelsense.sounds.index._store import FingerprintStore, StoreItem

PARAMS = {params!r}
N_BIG = {n_big!r}
{helper}

mode, path, marker, stop = sys.argv[1:5]

def touch(p):
    with open(p, "w"):
        pass

store = FingerprintStore.open(path, create=True, params=PARAMS)
if mode == "pause-mid-batch":  # 2 batches of 10 commit, then the writer stops inside the third transaction
    def items():
        for i in range(100):
            if i == 29:
                touch(marker)
                while True:  # until killed
                    time.sleep(3600)
            yield StoreItem(f"s{{i:04d}}", synthetic_arrays(i, N_BIG), 180.0)
    store.add_many(items(), commit_every=10)
elif mode == "loop":  # one add per sound until told to stop
    for i in itertools.count():
        if os.path.exists(stop):
            break
        store.add(f"s{{i:04d}}", synthetic_arrays(i, 3000), duration_seconds=180.0, meta={{"i": i}})
        if i == 3:
            touch(marker)
elif mode == "hold-lock":  # a write transaction stays open until told to stop
    def held():
        yield StoreItem("held", synthetic_arrays(0, 10), 1.0)
        touch(marker)
        while not os.path.exists(stop):
            time.sleep(0.01)
    store.add_many(held())
store.close()
"""


def _start_writer(tmp_path: Path, mode: str, path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(params=PARAMS, n_big=N_BIG, helper=inspect.getsource(synthetic_arrays)))
    marker, stop = tmp_path / f"{mode}.marker", tmp_path / f"{mode}.stop"
    err = (tmp_path / f"{mode}.stderr").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(path), str(marker), str(stop)], stderr=err
    )
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"writer exited early: {(tmp_path / f'{mode}.stderr').read_text()}")
        time.sleep(0.01)
    return proc, marker, stop


def _assert_consistent(store: FingerprintStore, n_items: int) -> None:
    assert store.check() == []
    for key, sid, arrays in store.iter_arrays():
        i = int(sid[1:])
        assert store.record(sid).key == key and store.record(sid).n_items == n_items
        assert_arrays_equal(arrays, synthetic_arrays(i, n_items))


def test_sigkill_inside_a_transaction_leaves_whole_sounds_only(tmp_path: Path, path: Path) -> None:
    proc, _, _ = _start_writer(tmp_path, "pause-mid-batch", path)
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    with FingerprintStore.open(path) as s:  # writable open: recovers the WAL
        assert s.ids() == [f"s{i:04d}" for i in range(20)]
        assert s.generation == 2
        _assert_consistent(s, N_BIG)
        s.add("after", synthetic_arrays(99, 10), duration_seconds=1.0)
        assert s.record("after").key == 21  # keys of the lost transaction's rows are not half-used


def test_readers_read_while_another_process_writes_and_a_sigkill_keeps_whole_sounds(
    tmp_path: Path, path: Path
) -> None:
    proc, _, _ = _start_writer(tmp_path, "loop", path)
    counts = []
    try:
        with FingerprintStore.open(path, readonly=True) as reader:
            while True:  # the writer adds until it is killed
                assert proc.poll() is None
                stream = reader.iter_arrays(batch_size=16)
                seen = [(key, sid) for key, sid, _ in stream]
                assert [sid for _, sid in seen] == [f"s{i:04d}" for i in range(len(seen))]
                assert stream.generation >= len(seen)
                counts.append(len(seen))
                if len(set(counts)) >= 4:
                    break
            _, _, arrays = next(iter(reader.iter_arrays()))
            assert_arrays_equal(arrays, synthetic_arrays(0, 3000))
        time.sleep(float(np.random.default_rng().uniform(0.0, 0.2)))  # then kill it at an arbitrary point
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(set(counts)) >= 4 and counts == sorted(counts)
    with FingerprintStore.open(path, readonly=True) as s:
        n = len(s)
        assert n >= counts[-1] and s.ids() == [f"s{i:04d}" for i in range(n)]
        _assert_consistent(s, 3000)


def test_second_writer_waits_for_the_lock_then_fails_clearly(tmp_path: Path, path: Path) -> None:
    FingerprintStore.open(path, create=True, params=PARAMS).close()
    proc, _, stop = _start_writer(tmp_path, "hold-lock", path)  # holds the lock until `stop` exists
    try:
        with FingerprintStore.open(path, timeout_seconds=0.2) as other:
            with pytest.raises(SoundIndexError, match=r"locked by another writer \(waited 0.2 s\)"):
                other.add("mine", synthetic_arrays(1, 10), duration_seconds=1.0)
            assert other.ids() == [] and "mine" not in other  # reads are not blocked; nothing half-written
        # a writer allowed to wait long enough waits while the lock is held, then adds
        errors: list[BaseException] = []
        with FingerprintStore.open(path, timeout_seconds=3600.0) as patient:

            def add() -> None:
                try:
                    patient.add("mine", synthetic_arrays(1, 10), duration_seconds=1.0)
                except BaseException as exc:
                    errors.append(exc)

            adding = threading.Thread(target=add)
            adding.start()
            adding.join(0.5)
            assert adding.is_alive() and not errors  # still waiting: the other process holds the lock
            stop.touch()
            assert proc.wait() == 0
            adding.join()
            assert not errors, errors
            assert patient.ids() == ["held", "mine"] and patient.check() == []
    finally:
        stop.touch()
        proc.wait()


def test_threads_share_a_store_and_separate_writers_take_turns(store: FingerprintStore, path: Path) -> None:
    errors: list[BaseException] = []

    def shared(t: int) -> None:
        try:
            for i in range(10):
                store.add(f"t{t}-{i}", synthetic_arrays(t * 100 + i, 200), duration_seconds=1.0)
                store.ids()
        except BaseException as exc:  # recorded and re-raised in the test thread
            errors.append(exc)

    def own_store() -> None:
        try:
            with FingerprintStore.open(path) as mine:
                mine.add_many(StoreItem(f"own-{i}", synthetic_arrays(1000 + i, 200), 1.0) for i in range(10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=shared, args=(t,)) for t in range(3)] + [
        threading.Thread(target=own_store)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(store) == 40 and store.generation == 31 and store.check() == []
    assert_arrays_equal(store.get_arrays("t2-7"), synthetic_arrays(207, 200))


def test_synchronous_mode(path: Path) -> None:
    for durable, level in ((False, 1), (True, 2)):  # NORMAL, FULL
        with FingerprintStore.open(path, create=True, durable=durable) as s:
            assert s._connection().execute("PRAGMA synchronous").fetchone()[0] == level
            assert s._connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_open_does_not_create_without_create(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.rsidx"
    with pytest.raises(SoundIndexError):
        FingerprintStore.open(target)
    assert not target.parent.exists()
    with FingerprintStore.open(target, create=True, params={"a": 1}) as s:
        assert s.params == {"a": 1}
    with FingerprintStore.open(
        target, create=True, params={"a": 1}
    ) as s:  # create on an existing store opens it
        assert len(s) == 0
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "x.rsidx"
    ]  # closing the last writer removes -wal/-shm


def test_the_repair_hint_quotes_an_index_path_for_a_shell() -> None:
    from reelsense.sounds.index._codec import readd_hint

    hint = readd_hint("song1", "/data/my sounds/lib.rsidx")
    assert "`reelsense sounds add FILE --sound-index '/data/my sounds/lib.rsidx' --replace`" in hint
    assert "--sound-index /data/lib.rsidx --replace" in readd_hint("song1", "/data/lib.rsidx")


def test_a_read_only_use_leaves_the_folder_as_it_found_it(path: Path) -> None:
    """A read-only connection cannot remove the -wal and -shm files SQLite makes for it, so
    every read-only use (discover/embed/match with an index) left an empty my.rsidx-wal and a
    my.rsidx-shm beside the index. Now the last reader tidies them; a writer's are kept."""
    with FingerprintStore.open(path, create=True, params=PARAMS) as s:
        s.add("a", synthetic_arrays(1, 10), duration_seconds=1.0)
    before = sorted(p.name for p in path.parent.iterdir())
    assert before == [path.name]
    with FingerprintStore.open(path, readonly=True) as r1, FingerprintStore.open(path, readonly=True) as r2:
        assert r1.ids() == ["a"]
        r1.close()  # not the last reader: nothing is removed under r2
        assert r2.ids() == ["a"]
        stream = r2.iter_arrays()
        assert [sid for _, sid, _ in stream] == ["a"]
    assert sorted(p.name for p in path.parent.iterdir()) == before
    with FingerprintStore.open(path) as writer:  # a writer's files stay while it is open
        writer.add("b", synthetic_arrays(2, 10), duration_seconds=1.0)
        with FingerprintStore.open(path, readonly=True) as reader:
            assert reader.ids() == ["a", "b"]
        assert Path(f"{path}-wal").exists() and writer.ids() == ["a", "b"]
    assert sorted(p.name for p in path.parent.iterdir()) == before
