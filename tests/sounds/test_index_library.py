"""A folder of reference sounds given where an index is expected: indexed on the fly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from media import write_audio
from music import make_notes, render
from reelsense.errors import ParameterError
from reelsense.sounds import SoundIndex
from reelsense.sounds.index import _library, build_sound_index, sound_index_file
from reelsense.sounds.index._library import remove_orphaned_workdirs

SR = 22050


def test_a_folder_index_warns_about_each_reference_it_leaves_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    refs = tmp_path / "refs"
    refs.mkdir()
    write_audio(refs / "song.wav", render(make_notes(7, 8.0), 8.0, SR), sample_rate=SR)
    (refs / "broken.mp4").write_bytes(b"not media\n" * 8)
    with caplog.at_level("WARNING"):
        path = build_sound_index(refs, tmp_path / "work")
    with SoundIndex.open(path, readonly=True) as index:
        assert [s.sound_id for s in index.sounds()] == ["song"]
    assert any("broken.mp4 is left out of the index" in r.getMessage() for r in caplog.records)
    only_broken = tmp_path / "bad"
    only_broken.mkdir()
    (only_broken / "broken.mp4").write_bytes(b"not media\n" * 8)
    with pytest.raises(ParameterError, match=r"could be indexed \(.*broken.mp4: cannot decode"):
        build_sound_index(only_broken, tmp_path / "work2")


def test_a_folder_gets_the_ids_sounds_add_gives_and_is_deleted_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = tmp_path / "refs"
    (refs / "a").mkdir(parents=True)
    (refs / "b").mkdir()
    for k, sub in enumerate(("a", "b")):  # the same stem twice: ids are the relative paths
        write_audio(refs / sub / "theme.wav", render(make_notes(20 + k, 6.0), 6.0, SR), sample_rate=SR)
    write_audio(refs / "other.wav", render(make_notes(30, 6.0), 6.0, SR), sample_rate=SR)
    (refs / "other.info.json").write_text(json.dumps({"id": "from-sidecar"}))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with sound_index_file(refs) as path:
        assert Path(path).parent.parent == scratch
        with SoundIndex.open(path, readonly=True) as index:
            assert sorted(index.ids()) == ["a/theme", "b/theme", "from-sidecar"]
    assert list(scratch.iterdir()) == []  # the index built on the fly is gone
    index_file = tmp_path / "lib.rsidx"
    with SoundIndex.create(index_file) as index:
        index.add_array("x", render(make_notes(40, 6.0), 6.0, SR), SR)
    with sound_index_file(index_file) as path:  # an index file is used as it is
        assert Path(path) == index_file
    assert index_file.exists()
    with pytest.raises(ParameterError, match="does not exist"), sound_index_file(tmp_path / "none.rsidx"):
        pass


# ------------------------------------------------- folders left by runs killed outright

_HOLD = """
import os, signal, sys, tempfile
tempfile.tempdir = sys.argv[1]
from reelsense.sounds.index import _library
_library.build_sound_index = lambda source, workdir: os.fspath(workdir)  # the folder is what counts
with _library.sound_index_file(sys.argv[2]) as path:
    print(path, flush=True)
    if sys.argv[3] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # held until the test closes stdin
"""


def _run_holding(scratch: Path, refs: Path, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(scratch), str(refs), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_the_folder_of_a_killed_run_is_removed_by_the_next_and_a_live_one_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch, refs = tmp_path / "tmp", tmp_path / "refs"
    scratch.mkdir()
    refs.mkdir()

    def killed_run() -> Path:
        run = _run_holding(scratch, refs, "kill")
        left = Path(run.communicate()[0].strip())  # the folder (the stand-in index is the folder)
        assert run.returncode == -signal.SIGKILL and left.is_dir()  # SIGKILL: no clean-up ran
        return left

    left = killed_run()
    assert remove_orphaned_workdirs(scratch) == [str(left)] and not left.exists()
    left = killed_run()
    alive = _run_holding(scratch, refs, "hold")
    assert alive.stdout is not None
    try:
        in_use = Path(alive.stdout.readline().strip())
        assert not left.exists()  # the next run removed it before making its own
        assert remove_orphaned_workdirs(scratch) == []  # a live run's folder is kept
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        monkeypatch.setattr(_library, "build_sound_index", lambda source, workdir: os.fspath(workdir))
        with sound_index_file(refs) as path:
            assert sorted(scratch.iterdir()) == sorted([in_use, Path(path)])
    finally:
        alive.communicate("")
    assert alive.returncode == 0 and list(scratch.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_only_folders_whose_lock_nobody_holds_are_removed(tmp_path: Path) -> None:
    import fcntl

    def folder(name: str, lock: bool = True) -> Path:
        path = tmp_path / name
        path.mkdir()
        if lock:
            (path / ".in-use").write_bytes(b"")
        return path

    orphan = folder("reelsense-sounds-orphan")
    held = folder("reelsense-sounds-held")
    being_made = folder("reelsense-sounds-new", lock=False)  # or from an older version
    other = folder("other-orphan")
    (tmp_path / "reelsense-sounds-file").write_bytes(b"")
    (tmp_path / "reelsense-sounds-link").symlink_to(orphan)
    fd = os.open(held / ".in-use", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert remove_orphaned_workdirs(tmp_path) == [str(orphan)]
    finally:
        os.close(fd)
    assert held.is_dir() and being_made.is_dir() and other.is_dir() and not orphan.exists()
    assert remove_orphaned_workdirs(tmp_path) == [str(held)]  # its holder is gone
