"""Walking inputs: recursion, extension filter, hidden files, symlink loops, ids, collisions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reelsense.errors import ParameterError
from reelsense.io import MediaFile, assign_video_ids, media_ids, walk_media
from reelsense.io._walk import normalize_extensions


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def _rels(files: list[MediaFile]) -> list[str]:
    return [f.relative_path for f in files]


def test_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    _touch(
        tmp_path, "b.mp4", "a.MOV", "notes.txt", "a.info.json", "z/y.webm", "z/x/w.mkv", "m/song.mp3", "B.mp4"
    )
    files = walk_media([tmp_path])
    assert _rels(files) == ["B.mp4", "a.MOV", "b.mp4", "m/song.mp3", "z/y.webm", "z/x/w.mkv"]
    assert all(f.root == str(tmp_path) and Path(f.path).is_absolute() for f in files)
    assert _rels(walk_media([tmp_path], extensions=["MP4", ".webm"])) == ["B.mp4", "b.mp4", "z/y.webm"]


def test_hidden_entries_skipped(tmp_path: Path) -> None:
    _touch(tmp_path, "._clip.mp4", ".cache/x.mp4", "clip.mp4")
    assert _rels(walk_media([tmp_path])) == ["clip.mp4"]
    assert _rels(walk_media([tmp_path], include_hidden=True)) == ["._clip.mp4", "clip.mp4", ".cache/x.mp4"]


@pytest.mark.parametrize("value", ["no", 0, None])
def test_include_hidden_must_be_a_bool(tmp_path: Path, value: object) -> None:
    """A value such as "no" was read as a truth value: the dot-files were taken (add_sounds, match_sounds and
    trend_report pass it on as given)."""
    _touch(tmp_path, ".dot.mp4", "clip.mp4")
    for walk in (walk_media, media_ids):
        with pytest.raises(ParameterError, match=f"include_hidden={value!r} must be True or False"):
            walk([tmp_path], include_hidden=value)  # type: ignore[operator]


def test_explicit_file_taken_whatever_extension(tmp_path: Path) -> None:
    _touch(tmp_path, "odd.bin", "d/v.mp4")
    files = walk_media([tmp_path / "odd.bin", tmp_path / "d"])
    assert [(f.relative_path, f.default_id) for f in files] == [("odd.bin", "odd"), ("v.mp4", "v")]


def test_missing_input_raises(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="nope"):
        walk_media([tmp_path / "nope"])


def test_symlink_loop_and_duplicates(tmp_path: Path) -> None:
    _touch(tmp_path, "a/clip.mp4", "a/sub/deep.mp4")
    (tmp_path / "a" / "sub" / "loop").symlink_to(tmp_path / "a")  # a/sub/loop -> a
    (tmp_path / "a" / "link.mp4").symlink_to(tmp_path / "a" / "clip.mp4")  # same file twice
    (tmp_path / "a" / "dangling.mp4").symlink_to(tmp_path / "missing.mp4")
    files = walk_media([tmp_path / "a", tmp_path / "a" / "sub"])
    # the dangling link is listed (its decode gives an error row saying so), never skipped silently
    assert _rels(files) == ["clip.mp4", "dangling.mp4", "sub/deep.mp4"]


def test_a_file_keeps_its_own_path_over_a_link_to_it_found_first(tmp_path: Path) -> None:
    """a_link.mp4 -> z_real.mp4 sorts first: the real file keeps its place in the walk under its
    own path and id (it got none before, and the link took its content), also when both are
    named one after the other."""
    _touch(tmp_path, "z_real.mp4", "b.mp4")
    (tmp_path / "a_link.mp4").symlink_to(tmp_path / "z_real.mp4")
    assert _rels(walk_media([tmp_path])) == ["z_real.mp4", "b.mp4"]
    named = walk_media([tmp_path / "a_link.mp4", tmp_path / "z_real.mp4"])
    assert [f.default_id for f in named] == ["z_real"]
    assert [f.default_id for f in walk_media([tmp_path / "a_link.mp4"])] == [
        "a_link"
    ]  # a link alone is taken


def test_a_file_keeps_its_own_path_over_a_path_through_a_linked_folder(tmp_path: Path) -> None:
    """The same file reached through a link to its folder (links/media/clip.mp4, where
    links/media -> media) and under its own path is listed once under its own path, whichever
    input comes first (the path through the link was kept when it came first)."""
    _touch(tmp_path, "media/clip.mp4")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "media").symlink_to(tmp_path / "media")
    real, linked = tmp_path / "media" / "clip.mp4", tmp_path / "links" / "media" / "clip.mp4"
    for inputs in ([linked, real], [real, linked], [tmp_path / "links" / "media", real]):
        files = walk_media(inputs)
        assert [f.path for f in files] == [str(real)], inputs
    # a link to the file and a path through a linked folder (one link each): the path that
    # ends in the file keeps it (its row keeps the file's name), found first or not
    (tmp_path / "links" / "alias.mp4").symlink_to(real)
    for inputs in ([tmp_path / "links" / "alias.mp4", linked], [linked, tmp_path / "links" / "alias.mp4"]):
        assert [f.path for f in walk_media(inputs)] == [str(linked)], inputs


def test_default_ids(tmp_path: Path) -> None:
    _touch(tmp_path, "trip/day1/clip.final.mp4", "x.mp4")
    files = walk_media([tmp_path])
    assert [f.default_id for f in files] == ["x", "trip/day1/clip.final"]


def test_assign_ids_prefers_sidecar_and_disambiguates(tmp_path: Path) -> None:
    _touch(tmp_path, "clip.mp4", "clip.webm", "other.mp4", "s1.mp4")
    files = walk_media([tmp_path])
    assert _rels(files) == ["clip.mp4", "clip.webm", "other.mp4", "s1.mp4"]
    # two formats of one stem get their extensions; sidecar ids win over paths
    assert assign_video_ids(files, [None, None, "123", None]) == ["clip.mp4", "clip.webm", "123", "s1"]
    # two files claiming one sidecar id with the same extension get a digest of their path
    ids = assign_video_ids(files, [None, None, "123", "123"])
    assert ids[:2] == ["clip.mp4", "clip.webm"]
    assert ids[2] != ids[3] and all(re.fullmatch(r"123\.mp4~[0-9a-f]{8}", i) for i in ids[2:])
    assert assign_video_ids(files, [None, None, "123", "123"]) == ids  # stable


def test_assign_ids_collision_across_roots_gets_digests(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _touch(tmp_path, "one/clip.mp4", "two/clip.mp4", "one/x.mp4", "one/x.MP4")
    files = walk_media([tmp_path / "one", tmp_path / "two"])
    with caplog.at_level("WARNING"):
        ids = assign_video_ids(files, [None] * len(files))
    assert len(set(ids)) == len(ids)
    assert sorted(ids)[2:] == ["x.MP4", "x.mp4"]  # the extension as spelled tells these apart
    assert all(re.fullmatch(r"clip\.mp4~[0-9a-f]{8}", i) for i in sorted(ids)[:2])
    assert "is claimed by 2 files" in caplog.text
    assert caplog.text.count("is claimed by") == 2  # one warning per clash ('clip', 'x')...
    assert "using clip.mp4~" in caplog.text and "using clip.mp4, clip.mp4" not in caplog.text  # ...final ids
    # a common parent gives distinct relative ids
    assert assign_video_ids(walk_media([tmp_path]), [None] * 4) == [
        "one/clip",
        "one/x.MP4",
        "one/x.mp4",
        "two/clip",
    ]


def test_assign_ids_same_sidecar_id_two_formats(tmp_path: Path) -> None:
    _touch(tmp_path, "v.mp4", "v.webm", "w.mp4")
    files = walk_media([tmp_path])
    assert assign_video_ids(files, ["123", "123", None]) == ["123.mp4", "123.webm", "w"]
    with pytest.raises(ParameterError):
        assign_video_ids(files, [None])


def test_assign_ids_keeps_the_ids_already_written(tmp_path: Path) -> None:
    files = [MediaFile(str(tmp_path / d / "clip.mp4"), str(tmp_path / d), "clip.mp4") for d in ("new", "old")]
    assert all(re.fullmatch(r"clip\.mp4~[0-9a-f]{8}", i) for i in assign_video_ids(files, [None, None]))
    known = {str(tmp_path / "old" / "clip.mp4"): "clip"}  # an earlier run gave it "clip"
    assert assign_video_ids(files, [None, None], known=known) == ["clip.mp4", "clip"]


def test_normalize_extensions() -> None:
    assert normalize_extensions(["MP4", ".Webm", " mov "]) == {".mp4", ".webm", ".mov"}
    with pytest.raises(ParameterError):
        normalize_extensions([""])
    with pytest.raises(ParameterError):
        normalize_extensions([])


def test_assign_ids_refuses_what_is_not_a_sequence_by_name(tmp_path: Path) -> None:
    _touch(tmp_path, "a.mp4")
    files = walk_media([tmp_path])
    with pytest.raises(ParameterError, match=r"files=None must be a sequence"):
        assign_video_ids(None, [None])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"sidecar_ids=None must be a sequence"):
        assign_video_ids(files, None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"sidecar_ids='x' must be a sequence"):
        assign_video_ids(files, "x")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"known=\['a'\] must be a mapping"):
        assign_video_ids(files, [None], known=["a"])  # type: ignore[arg-type]
    assert assign_video_ids(files, [None], known=None) == ["a"]


def test_media_ids_warns_once_when_a_sidecar_id_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A sidecar whose ``id`` is dropped (wrong type) or that cannot be read at all leaves the
    video its default id: one warning per such file names it, the id it gets and why, and the
    sidecar's other notes (here the bad ``tags``) are left to whoever reads its fields. The id
    used to change without a word (``sounds match`` read no sidecar field to log)."""
    import json

    from reelsense.io import media_ids

    _touch(tmp_path, "bad.mp4", "broken.mp4", "fine.mp4", "plain.mp4", "caption.mp4")
    (tmp_path / "bad.info.json").write_text(json.dumps({"id": ["x"], "tags": "a,b"}), encoding="utf-8")
    (tmp_path / "broken.info.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "fine.info.json").write_text(json.dumps({"id": "yt123", "tags": "a,b"}), encoding="utf-8")
    # a .txt caption has no id to lose: unreadable, it is left to whoever reads the caption
    (tmp_path / "caption.txt").write_bytes(b"caf\xe9 \xff\xfe")
    (tmp_path / "broken.txt").write_bytes(b"caf\xe9 \xff\xfe")
    with caplog.at_level("WARNING", logger="reelsense.io"):
        ids = [vid for vid, _ in media_ids([tmp_path])]
    assert ids == ["bad", "broken", "caption", "yt123", "plain"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    bad, broken = messages
    assert f"{tmp_path / 'bad.mp4'} gets the video id 'bad'" in bad and "field 'id'" in bad
    assert "tags" not in bad
    assert f"{tmp_path / 'broken.mp4'} gets the video id 'broken'" in broken and "malformed JSON" in broken
    assert "broken.txt" not in broken  # the .info.json's error only


def test_empty_inputs_say_none_were_given() -> None:
    from reelsense.io._walk import media_ids

    empty = r"^inputs=\[\] is empty: no inputs given; pass at least one file or folder$"
    with pytest.raises(ParameterError, match=empty):
        media_ids([])


def test_check_inputs_returns_the_inputs_listed(tmp_path: Path) -> None:
    """The caller uses what check_inputs returns: an iterator is listed once, and an empty
    one is refused as no inputs (it had no len(), so it passed and was walked as nothing:
    'no media files found under ' followed by nothing)."""
    from reelsense.io import check_inputs

    assert check_inputs([tmp_path, "x"]) == [tmp_path, "x"]
    assert check_inputs(iter([tmp_path])) == [tmp_path]
    assert check_inputs((p for p in ("a", "b")), "sources") == ["a", "b"]
    empty = r"^inputs=\[\] is empty: no inputs given; pass at least one file or folder$"
    for nothing in (iter([]), (p for p in ())):
        with pytest.raises(ParameterError, match=empty):
            check_inputs(nothing)
        with pytest.raises(ParameterError, match=empty):
            media_ids(nothing)
