"""``replacing``: every file output is written whole, synced, then renamed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reelsense.io import _files
from reelsense.io._files import replacing


def test_the_new_file_replaces_the_old_only_when_whole(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    with replacing(out) as tmp:
        tmp.write_text("new, part one\n")
        assert out.read_text() == "old\n"  # a reader meanwhile sees the old file
        with tmp.open("a") as f:
            f.write("part two\n")
    assert out.read_text() == "new, part one\npart two\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, error: type) -> None:
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    with pytest.raises(error), replacing(out) as tmp:
        tmp.write_text("half of the new")
        raise error()
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_pair_is_renamed_only_when_both_are_whole(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "a_summary.csv"
    a.write_text("old a\n")
    b.write_text("old b\n")
    with pytest.raises(KeyboardInterrupt), replacing(a) as ta, replacing(b) as tb:
        ta.write_text("new a\n")
        tb.write_text("new b, half")
        raise KeyboardInterrupt
    assert (a.read_text(), b.read_text()) == ("old a\n", "old b\n")
    with replacing(a) as ta, replacing(b) as tb:
        ta.write_text("new a\n")
        tb.write_text("new b\n")
    assert (a.read_text(), b.read_text()) == ("new a\n", "new b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a_summary.csv"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names open files through /proc")
def test_the_temporary_is_synced_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power loss after the rename must not leave an empty file (data not yet on disk)."""
    out = tmp_path / "out.csv"
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, Path.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", str(Path(f"/proc/self/fd/{fd}").readlink())))
        real_fsync(fd)

    def replace(self: Path, target: Path) -> Path:
        events.append(("rename", self.name))
        return real_replace(self, target)

    monkeypatch.setattr(_files.os, "fsync", fsync)
    monkeypatch.setattr(Path, "replace", replace)
    with replacing(out) as tmp:
        tmp.write_text("new\n")
    assert events == [("fsync", str(tmp)), ("rename", tmp.name), ("fsync", str(tmp_path))]
    assert out.read_text() == "new\n"


def test_the_regular_file_readers_refuse_a_missing_path_or_limit_by_name(tmp_path: Path) -> None:
    """None (or a number) where a path or a byte limit goes is a ParameterError naming the
    argument, as the other io functions raise, not a TypeError from ``os.open``."""
    from reelsense.errors import ParameterError
    from reelsense.io import read_regular_file, regular_file_size

    there = tmp_path / "f.txt"
    there.write_bytes(b"abc")
    for bad in (None, 3):
        with pytest.raises(ParameterError, match=rf"path={bad!r} must be a path"):
            read_regular_file(bad, max_bytes=10)  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match=rf"path={bad!r} must be a path"):
            regular_file_size(bad)  # type: ignore[arg-type]
    for limit in (None, 2.5, -1):
        with pytest.raises(ParameterError, match=rf"max_bytes={limit!r} must be"):
            read_regular_file(there, max_bytes=limit)  # type: ignore[arg-type]
    assert read_regular_file(there, max_bytes=3) == b"abc" and regular_file_size(there) == 3
