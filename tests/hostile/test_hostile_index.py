"""Hostile sound indexes: special files, damaged or edited search caches, edited meta,
read-only indexes, and Hypothesis fuzzing of index opening."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media import write_audio
from music import make_notes, render
from reelsense.errors import NoAudioError, ReelsenseError, SoundIndexError, SoundIndexFormatError
from reelsense.sounds import SoundIndex
from reelsense.sounds.index import _search_file, _sql
from reelsense.sounds.index._search_file import read_search_file, search_file_path

SR = 22050


def _song(seed: int, seconds: float = 12.0) -> np.ndarray:
    return np.asarray(render(make_notes(seed, seconds), seconds, SR), dtype=np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("idx") / "idx.rsidx"
    with SoundIndex.create(path) as index:
        for i in range(3):
            index.add_array(f"song{i}", _song(i), SR)
        index.prepare_search()
    return path


def _copy(built: Path, tmp_path: Path) -> Path:
    for src in (built, search_file_path(built)):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    return tmp_path / built.name


def _top(path: Path, seed: int) -> str | None:
    with SoundIndex.open(path, readonly=True) as index:
        found = index.match(_song(seed)[2 * SR : 9 * SR], SR)
    return found[0].sound_id if found else None


def test_fifo_index_and_side_files_are_refused(tmp_path: Path, built: Path) -> None:
    os.mkfifo(tmp_path / "fifo.rsidx")
    with pytest.raises(SoundIndexError, match="FIFO"):
        SoundIndex.open(tmp_path / "fifo.rsidx", readonly=True)
    path = _copy(built, tmp_path)
    os.mkfifo(f"{path}-wal")
    with pytest.raises(SoundIndexError, match="FIFO"):
        SoundIndex.open(path, readonly=True)


def test_fifo_search_file_is_ignored(tmp_path: Path, built: Path) -> None:
    path = _copy(built, tmp_path)
    search = search_file_path(path)
    search.unlink()
    os.mkfifo(search)
    with pytest.raises(SoundIndexFormatError, match="FIFO"):
        read_search_file(search)


def test_flipped_bytes_in_the_search_file_are_detected(tmp_path: Path, built: Path) -> None:
    path = _copy(built, tmp_path)
    search = search_file_path(path)
    data = bytearray(search.read_bytes())
    for where in (100, len(data) // 2):  # an array byte, then another
        damaged = bytearray(data)
        damaged[where] ^= 0x40
        search.write_bytes(bytes(damaged))
        with pytest.raises(SoundIndexFormatError, match="checksum"):
            read_search_file(search)
        assert _top(path, 1) == "song1"  # rebuilt (or kept in memory), never a wrong answer
    assert read_search_file(search).sound_ids == ["song0", "song1", "song2"]  # rewritten


def test_workers_trust_only_the_versions_their_parent_checked(
    tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker handed its parent's checked versions maps the file without reading its arrays;
    the same bytes under a new inode (a rewrite) are checked in full again."""
    monkeypatch.setattr(_search_file, "_VERIFIED", set())
    monkeypatch.setattr(_search_file, "_TRUSTED", set())
    path = _copy(built, tmp_path)
    search = search_file_path(path)
    with SoundIndex.open(path, readonly=True) as parent:
        checked = parent.prepare_search()  # the parent's full check
    assert len(checked) == 1
    reads: list[int] = []
    real = _search_file._region_crc

    def counting(f: object, offset: int, nbytes: int) -> int:
        reads.append(nbytes)
        return real(f, offset, nbytes)

    monkeypatch.setattr(_search_file, "_region_crc", counting)
    with SoundIndex.open(path, readonly=True, trusted=checked) as worker:
        worker.prepare_search()
    assert reads == []
    assert _top(path, 1) == "song1"
    rewritten = search.with_name("rewritten")
    rewritten.write_bytes(search.read_bytes())
    rewritten.replace(search)
    assert read_search_file(search).sound_ids == ["song0", "song1", "song2"]
    assert len(reads) == len(_search_file._ARRAYS)
    damaged = bytearray(search.read_bytes())
    damaged[100] ^= 0x40
    rewritten.write_bytes(bytes(damaged))
    rewritten.replace(search)
    with pytest.raises(SoundIndexFormatError, match="checksum"):
        read_search_file(search)


def test_search_file_bound_to_its_index(tmp_path: Path, built: Path) -> None:
    """A search file whose ids disagree with the index (here: its ids reversed, checksums
    recomputed as a deliberate edit would) is not used."""
    path = _copy(built, tmp_path)
    with sqlite3.connect(path) as con:  # rename the sounds in the index behind the cache's back
        con.execute("UPDATE sounds SET sound_id = 'x' || sound_id")
    assert _top(path, 2) == "xsong2"


def test_edited_meta_params_are_refused(tmp_path: Path, built: Path) -> None:
    path = _copy(built, tmp_path)
    with sqlite3.connect(path) as con:
        params = json.loads(con.execute("SELECT value FROM meta WHERE key = 'params'").fetchone()[0])
        params["hop_length"] = params["hop_length"] * 2  # valid, but not what the peaks were made with
        con.execute("UPDATE meta SET value = ? WHERE key = 'params'", (json.dumps(params),))
    with pytest.raises(SoundIndexFormatError, match="params_sha256"):
        SoundIndex.open(path, readonly=True)


def test_read_only_index_falls_back_to_immutable(
    tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader without write access (which cannot attach the write-ahead log) opens the
    index immutable. Root ignores file modes, so the refusal is simulated at the probe."""
    path = _copy(built, tmp_path)
    real_probe = _sql._probe
    calls: list[str] = []

    def refuse_once(con: sqlite3.Connection) -> None:
        calls.append("probe")
        if len(calls) == 1:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        real_probe(con)

    monkeypatch.setattr(_sql, "_probe", refuse_once)
    assert _top(path, 0) == "song0"
    assert calls


def test_silent_nan_and_short_audio_are_not_sounds(tmp_path: Path) -> None:
    files = {
        "silent.wav": np.zeros(SR, dtype=np.float32),
        "short.wav": _song(3)[: int(0.05 * SR)],
    }
    for name, x in files.items():
        write_audio(tmp_path / name, x, sample_rate=SR)
    with SoundIndex.create(tmp_path / "idx.rsidx") as index:
        for name in files:
            with pytest.raises(NoAudioError, match="no usable audio") as raised:
                index.add_file(tmp_path / name)
            # was "cannot decode '...': no usable audio (treated as absent): 50 ms of audio, ..."
            message = str(raised.value)
            assert message.count("no usable audio") == 1 and "treated as absent" not in message
            assert message == f"no usable audio in {str(tmp_path / name)!r}: {raised.value.cause}"
        assert index.ids() == []


@settings(max_examples=60)
@given(st.binary(max_size=2000))
def test_fuzz_open_index_bytes(tmp_path_factory: pytest.TempPathFactory, blob: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "x.rsidx"
    path.write_bytes(blob)
    with contextlib.suppress(ReelsenseError):  # refused with a named error: the only failure allowed
        SoundIndex.open(path, readonly=True).close()


@settings(max_examples=30)
@given(
    st.sampled_from(["format_version", "generation", "params", "compression", "magic", "created_at"]),
    st.one_of(st.text(max_size=30), st.integers().map(str), st.just("1e400"), st.just("{}")),
)
def test_fuzz_index_meta(tmp_path_factory: pytest.TempPathFactory, built: Path, key: str, value: str) -> None:
    path = _copy(built, tmp_path_factory.mktemp("fuzz"))
    with sqlite3.connect(path) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    try:
        with SoundIndex.open(path, readonly=True) as index:
            index.match(_song(1)[2 * SR : 6 * SR], SR)
    except ReelsenseError:
        pass
