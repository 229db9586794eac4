"""SoundIndex across processes: SIGKILL during add_many, a reader matching while a writer adds,
the search file rebuilt or extended when another process changed the index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from media import write_audio
from music import make_notes, render
from reelsense.sounds import SoundIndex
from reelsense.sounds.index import _cache as _index_search
from reelsense.sounds.index._search_file import read_search_file
from reelsense.sounds.index._store import FingerprintStore

SR = 11025
SECONDS = 15.0


def _song(i: int) -> np.ndarray:
    return render(make_notes(100 + i, SECONDS), SECONDS, SR)


def _clip(i: int) -> np.ndarray:
    return _song(i)[3 * SR : 10 * SR]


HELPERS = f"""
import json, os, sys, time
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
import numpy as np
from music import make_notes, render
from reelsense.sounds import SoundIndex
SR, SECONDS = {SR}, {SECONDS}
def song(i):
    return render(make_notes(100 + i, SECONDS), SECONDS, SR)
def clip(i):
    return song(i)[3 * SR : 10 * SR]
def touch(p):
    open(p, "w").close()
"""

KILLED_WRITER = """
path, marker, files = sys.argv[1], sys.argv[2], sys.argv[3:]
done = []
def on_done(p, err):
    done.append(p)
    if len(done) == 3:  # inside the second transaction (the first two sounds are committed)
        touch(marker)
        while True:  # until killed
            time.sleep(3600)
if __name__ == "__main__":
    with SoundIndex.create(path) as index:
        index.add_many(files, workers=2, commit_every=2, on_done=on_done)
"""

READER = """
path, ready, stop, out = sys.argv[1:5]
results = []
with SoundIndex.open(path, readonly=True) as index:
    while not os.path.exists(stop):
        m = index.match(clip(0), SR)
        results.append(m[0].sound_id if m else None)
        touch(f"{ready}.{len(results)}")  # the test waits for a match after each of its commits
    late = index.match(clip(3), SR)
with open(out, "w") as f:
    json.dump({"during": results, "late": late[0].sound_id if late else None}, f)
"""

ADDER = """
path, i = sys.argv[1], int(sys.argv[2])
with SoundIndex.open(path) as index:
    index.add_array(f"song{i}", song(i), SR)
"""


def _script(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / f"{name}.py"
    p.write_text(HELPERS + body)
    return p


def _wait_for(path: Path, proc: subprocess.Popen[bytes], err: Path) -> None:
    """Until the child makes ``path`` (pytest-timeout ends a test whose child hangs)."""
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {err.read_text()}")
        time.sleep(0.01)


def _kill_writer_on_third_sound(
    tmp_path: Path, body: str, n_songs: int, env: dict[str, str]
) -> tuple[list[str], Path]:
    """Run the writer script ``body`` on ``n_songs`` files and SIGKILL it (and its workers)
    once it holds its third sound; returns the files and the index path."""
    files = [str(write_audio(tmp_path / f"song{i}.wav", _song(i), sample_rate=SR)) for i in range(n_songs)]
    index_path, marker, err = tmp_path / "i.rsidx", tmp_path / "marker", tmp_path / "err.txt"
    script = _script(tmp_path, "writer", body)
    with err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(index_path), str(marker), *files],
            stderr=e,
            start_new_session=True,
            env=env,
        )
    try:
        _wait_for(marker, proc, err)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the writer and its worker processes
        proc.wait()
    return files, index_path


def test_sigkill_during_add_many_leaves_whole_sounds_that_match(
    tmp_path: Path, killed_child_env: dict[str, str]
) -> None:
    files, index_path = _kill_writer_on_third_sound(tmp_path, KILLED_WRITER, 5, killed_child_env)
    with FingerprintStore.open(index_path) as store:  # opens (recovers the WAL), whole sounds only
        assert store.ids() == ["song0", "song1"] and store.check() == []
    with SoundIndex.open(index_path) as index:
        for i in (0, 1):
            m = index.match(_clip(i), SR)
            assert m and m[0].sound_id == f"song{i}"
            assert m[0].offset_seconds == pytest.approx(3.0, abs=0.1)
        assert index.match(_clip(2), SR) == []
        index.add_many(files[2:], workers=1)  # the interrupted sounds can be added again
        assert index.match(_clip(4), SR)[0].sound_id == "song4"


def test_a_reader_matches_while_a_writer_adds(tmp_path: Path) -> None:
    index_path = tmp_path / "i.rsidx"
    with SoundIndex.create(index_path) as writer:
        writer.add_array("song0", _song(0), SR)
        ready, stop, out, err = (tmp_path / n for n in ("ready", "stop", "out.json", "err.txt"))
        script = _script(tmp_path, "reader", READER)
        with err.open("wb") as e:
            proc = subprocess.Popen(
                [sys.executable, str(script), *map(str, (index_path, ready, stop, out))], stderr=e
            )
        try:
            _wait_for(Path(f"{ready}.1"), proc, err)
            for i in (1, 2, 3):  # each add is a commit; the reader matches again after each one
                writer.add_array(f"song{i}", _song(i), SR)
                matched = len(list(tmp_path.glob("ready.*")))
                _wait_for(Path(f"{ready}.{matched + 1}"), proc, err)
            stop.touch()
            assert proc.wait() == 0, err.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
    res = json.loads(out.read_text())
    assert len(res["during"]) >= 4 and set(res["during"]) == {"song0"}
    assert res["late"] == "song3"


def _add_in_another_process(tmp_path: Path, index_path: Path, i: int) -> None:
    script = _script(tmp_path, "adder", ADDER)
    r = subprocess.run([sys.executable, str(script), str(index_path), str(i)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_search_file_is_extended_then_rebuilt_when_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_path = tmp_path / "i.rsidx"
    with SoundIndex.create(index_path) as index:
        for i in (0, 1):
            index.add_array(f"song{i}", _song(i), SR)
        index.prepare_search()
        search = index.search_path
        first = search.stat().st_ino, read_search_file(search).generation
        assert first[1] == index.stats().generation
        _add_in_another_process(tmp_path, index_path, 2)
        # one sound added elsewhere: matched from a small table beside the mapped file
        assert index.match(_clip(2), SR)[0].sound_id == "song2"
        assert search.stat().st_ino == first[0]
        with SoundIndex.open(index_path) as other:
            other.remove("song1")
        assert index.match(_clip(1), SR) == []  # removed elsewhere: masked
        assert index.match(_clip(0), SR)[0].sound_id == "song0"
        # past the rebuild limit the file is written again for the current generation
        monkeypatch.setattr(_index_search, "REBUILD_MIN_SOUNDS", 0)
        monkeypatch.setattr(_index_search, "REBUILD_FRACTION", 0.0)
        _add_in_another_process(tmp_path, index_path, 3)
        assert index.match(_clip(3), SR)[0].sound_id == "song3"
        rebuilt = read_search_file(search)
        assert search.stat().st_ino != first[0]
        assert rebuilt.generation == index.stats().generation
        assert sorted(rebuilt.sound_ids) == ["song0", "song2", "song3"]
        inode = search.stat().st_ino
    with SoundIndex.open(index_path, readonly=True) as fresh:  # a fresh open maps the file as it is
        assert fresh.match(_clip(2), SR)[0].sound_id == "song2"
    assert search.stat().st_ino == inode


SLOW_WRITER = KILLED_WRITER.replace("commit_every=2", "commit_every=1000, commit_seconds=0.0")


def test_sigkill_keeps_sounds_committed_by_time(tmp_path: Path, killed_child_env: dict[str, str]) -> None:
    """``commit_seconds`` commits by time however large ``commit_every`` is: killed on its
    third sound, the writer kept the two before it (with ``commit_every`` alone: none)."""
    _kill_writer_on_third_sound(tmp_path, SLOW_WRITER, 4, killed_child_env)
    index_path = tmp_path / "i.rsidx"
    with FingerprintStore.open(index_path) as store:
        assert store.ids() == ["song0", "song1"] and store.check() == []
