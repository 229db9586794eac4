"""A folder of reference sounds given where an index is expected: indexed on the fly."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from media import write_audio
from music import make_notes, render
from reelsense.errors import ParameterError
from reelsense.sounds import SoundIndex
from reelsense.sounds.index import build_sound_index, sound_index_file

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
