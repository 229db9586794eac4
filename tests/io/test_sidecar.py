"""Sidecars: yt-dlp .info.json, .txt captions, manifests, precedence, hashtags and mentions."""

from __future__ import annotations

import codecs
import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.errors import ParameterError, SidecarError
from reelsense.io import Manifest, Sidecar, iso_time, parse_hashtags, parse_mentions, read_sidecar
from reelsense.io._sidecar import (
    MAX_LIST_ITEMS,
    MAX_TEXT_CHARS,
    FieldRangeError,
    parse_timestamp,
    read_caption_txt,
    read_info_json,
)

INFO = {
    "id": "7431902501814082718",
    "title": "nature documentary but make it short",
    "description": "nature documentary #Wildlife #fyp with @misty.nomad #wildlife",
    "tags": ["wildlife", "fyp"],
    "timestamp": 1730374643,
    "upload_date": "20241031",
    "uploader": "misty.nomad",
    "duration": 5.5,
    "track": "original sound - misty.nomad",
    "artists": None,
    "ext": "mp4",
}


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- hashtags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#café au lait #猫 #日本語", ("café", "猫", "日本語")),
        ("#straße and #STRASSE and #Straße", ("straße",)),  # casefold: ß == ss
        ("#Fyp #fyp #FYP #viral", ("Fyp", "viral")),  # first spelling kept, order kept
        ("🔥#fyp🔥#viral😂 #dance💃", ("fyp", "viral", "dance")),  # emoji boundaries
        ("wow! #fun, #sun. #run! (#gun) #tag's", ("fun", "sun", "run", "gun", "tag")),
        ("#fyp#foryou#viral", ("fyp", "foryou", "viral")),  # run-together tags
        ("https://example.com/page#section www.x.com/#top http://a.b/#c", ()),  # URL fragments
        ("email#notatag &#39; path/#anchor", ()),
        ("#2024 #1st #_ #a_b", ("1st", "a_b")),  # needs a letter
        ("#नमस्ते #ไทย #ছবি", ("नमस्ते", "ไทย", "ছবি")),  # scripts with combining marks
        ("#cafe\u0301 #café", ("café",)),  # NFD and NFC are the same tag
        ("#\ufe0f\u20e3 keycap, ＃全角", ("全角",)),  # keycap emoji is not a tag; full-width sign is
        ("#می\u200cخواهم", ("می\u200cخواهم",)),  # a joiner inside a word is part of the tag
        ("#fyp\u200d #fyp #tag\u200c\u200c!", ("fyp", "tag")),  # a trailing one is not: no twin tag
        ("", ()),
    ],
)
def test_parse_hashtags(text: str, expected: tuple[str, ...]) -> None:
    assert parse_hashtags(text) == expected


@pytest.mark.parametrize("parse", [parse_hashtags, parse_mentions])
@pytest.mark.parametrize("value", [5, b"#a", ["#a"]])
def test_parse_hashtags_and_mentions_refuse_what_is_not_text(parse: object, value: object) -> None:
    with pytest.raises(ParameterError, match=r"text=.* must be a str"):
        parse(value)  # type: ignore[operator]


def test_parse_hashtags_none() -> None:
    assert parse_hashtags(None) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanks @misty.nomad. and @Bob_1!", ("misty.nomad", "Bob_1")),
        ("mail me at a@b.com", ()),
        ("@bob @BOB @日本語ユーザー", ("bob", "日本語ユーザー")),
        ("see https://x.com/@someone", ()),
    ],
)
def test_parse_mentions(text: str, expected: tuple[str, ...]) -> None:
    assert parse_mentions(text) == expected


@given(st.lists(st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=8), max_size=6))
def test_hashtags_round_trip_property(words: list[str]) -> None:
    """Letters-only tags joined by spaces and emoji come back, deduplicated by NFKC + casefold
    (``Ｆ`` is ``f``)."""
    text = " 🔥".join("#" + w for w in words)
    expected: list[str] = []
    seen: set[str] = set()
    import unicodedata

    for w in words:
        w = unicodedata.normalize("NFC", w)
        key = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", w).casefold())
        if key not in seen:
            seen.add(key)
            expected.append(w)
    assert parse_hashtags(text) == tuple(expected)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1730374643, 1730374643),
        (1730374643.9, 1730374643),
        ("1730374643", 1730374643),
        ("2024-10-31T11:37:23Z", 1730374643),
        ("2024-10-31T11:37:23+00:00", 1730374643),
        ("2024-10-31T13:37:23+02:00", 1730374643),
        ("2024-10-31T11:37:23", 1730374643),  # naive -> UTC
        ("2024-10-31", int(datetime(2024, 10, 31, tzinfo=timezone.utc).timestamp())),
        ("", None),
        (None, None),
    ],
)
def test_parse_timestamp(value: object, expected: int | None) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "31/10/2024", True, [1]])
def test_parse_timestamp_rejects(value: object) -> None:
    with pytest.raises(SidecarError, match="timestamp"):
        parse_timestamp(value)


# --------------------------------------------------------------------------- info.json


def test_read_info_json_fields(tmp_path: Path) -> None:
    sc = read_info_json(_write_json(tmp_path / "v.info.json", INFO))
    assert sc.source == "info.json"
    assert sc.video_id == "7431902501814082718"
    assert sc.caption == INFO["description"]
    assert sc.title == INFO["title"]
    assert sc.hashtags == ("Wildlife", "fyp")
    assert sc.mentions == ("misty.nomad",)
    assert sc.tags == ("wildlife", "fyp")
    assert sc.timestamp_seconds == 1730374643
    assert sc.uploader == "misty.nomad"
    assert sc.track == "original sound - misty.nomad"
    assert sc.artists == ()
    assert sc.duration_seconds == 5.5


def test_read_info_json_fallbacks(tmp_path: Path) -> None:
    data = {"id": 12345, "title": "#Title only", "upload_date": "20241031", "channel": "chan", "artist": "A"}
    sc = read_info_json(_write_json(tmp_path / "v.info.json", data))
    assert sc.video_id == "12345"
    assert sc.caption is None
    assert sc.hashtags == ("Title",)  # from the title when there is no description
    assert sc.timestamp_seconds == int(datetime(2024, 10, 31, tzinfo=timezone.utc).timestamp())
    assert sc.uploader == "chan"
    assert sc.artists == ("A",)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"id": "x", "description": ', "malformed JSON at line 1"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_read_info_json_malformed_names_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad clip.info.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SidecarError, match=match) as err:
        read_info_json(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("tags", "a,b", "'a,b'"),
        ("tags", ["ok", 3], "['ok', 3]"),
        ("duration", "12", "'12'"),
        ("duration", True, "True"),
        ("title", 5, "5"),
        ("description", {"text": "x"}, "{'text': 'x'}"),
        ("artists", [1, 2], "[1, 2]"),
        ("upload_date", "2024-10-31", "'2024-10-31'"),
        ("upload_date", 20241399, "'20241399'"),  # a number, but no date
        ("timestamp", [1730374643], "[1730374643]"),
        ("timestamp", "soon", "'soon'"),
        ("timestamp", False, "False"),
        ("uploader", ["misty"], "['misty']"),
        ("track", 1.5, "1.5"),
    ],
)
def test_a_wrong_typed_field_is_dropped_and_the_rest_kept(
    tmp_path: Path, field: str, value: object, shown: str
) -> None:
    data = {**INFO, "upload_date": None, field: value}
    if field == "upload_date":
        data["timestamp"] = None  # upload_date is read only without a timestamp
    sc = read_info_json(_write_json(tmp_path / "v.info.json", data))
    assert len(sc.warnings) == 1, sc.warnings
    assert sc.warnings[0].startswith(f"field dropped: {tmp_path / 'v.info.json'}: ")
    assert f"'{field}'" in sc.warnings[0] and shown in sc.warnings[0]
    kept = read_info_json(_write_json(tmp_path / "ok.info.json", {**data, field: None}))
    assert sc == Sidecar(**{**kept.__dict__, "sidecar_path": sc.sidecar_path, "warnings": sc.warnings})


def test_a_long_wrong_typed_value_is_shown_truncated(tmp_path: Path) -> None:
    sc = read_info_json(_write_json(tmp_path / "v.info.json", {"title": "kept", "tags": "x" * 10_000}))
    assert sc.title == "kept" and sc.tags == ()
    assert "'tags'" in sc.warnings[0] and len(sc.warnings[0]) < 300


def test_a_wrong_typed_uploader_falls_back_to_the_channel(tmp_path: Path) -> None:
    data = {"uploader": 7, "channel": "chan", "artists": "A", "artist": "B"}
    sc = read_info_json(_write_json(tmp_path / "v.info.json", data))
    assert (sc.uploader, sc.artists) == ("chan", ("B",))
    assert len(sc.warnings) == 2
    assert "field 'uploader' must be a string, got 7" in sc.warnings[0]
    assert "field 'artists' must be a list of strings, got 'A'" in sc.warnings[1]


@pytest.mark.parametrize("value", [["x"], {"id": "x"}, True])
def test_a_dropped_id_says_the_video_keeps_its_default_id(tmp_path: Path, value: object) -> None:
    sc = read_info_json(_write_json(tmp_path / "v.info.json", {**INFO, "id": value}))
    assert sc.video_id is None and sc.caption == INFO["description"]
    (warning,) = sc.warnings
    assert "field 'id' must be a string or a number" in warning
    assert "keeps the id it has without a sidecar" in warning


def test_the_readers_log_each_note_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A library caller of read_info_json, read_caption_txt or read_sidecar sees the notes
    logged, as Manifest.load logs a row's, each once; media_ids, which wants only the ids,
    logs none (whatever reads the sidecar for its fields does)."""
    from reelsense.io import media_ids

    info = _write_json(tmp_path / "v.info.json", {**INFO, "tags": "a,b"})
    (tmp_path / "v.mp4").write_bytes(b"")
    with caplog.at_level("WARNING", logger="reelsense.io"):
        (note,) = read_info_json(info).warnings
        assert caplog.text.count(note) == 1
        caplog.clear()
        assert read_sidecar(tmp_path / "v.mp4").warnings == (note,)
        assert caplog.text.count(note) == 1
        caplog.clear()
        assert [vid for vid, _ in media_ids([tmp_path / "v.mp4"])] == [INFO["id"]]
        assert caplog.text == ""
        txt = tmp_path / "long.txt"
        txt.write_text("x" * (MAX_TEXT_CHARS + 1), encoding="utf-8")
        (cut,) = read_caption_txt(txt).warnings
        assert caplog.text.count(cut) == 1


_KNOWN_FIELDS = sorted(
    {"id", "description", "title", "tags", "timestamp", "upload_date", "uploader", "channel"}
    | {"uploader_id", "track", "artists", "artist", "duration"}
)
_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(_KNOWN_FIELDS), _ANY_JSON, max_size=len(_KNOWN_FIELDS)))
def test_any_values_of_the_known_fields_never_discard_the_sidecar(data: dict[str, object]) -> None:
    # the invariant: read_info_json never raises for a JSON object, every field it keeps has its
    # declared type, a field given a good value is kept whatever the others hold, and each
    # dropped field gets exactly one note
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v.info.json"
        path.write_text(json.dumps({**data, "ext": "mp4"}), encoding="utf-8")
        sc = read_info_json(path)
        path.write_text(json.dumps({**data, "track": "kept"}), encoding="utf-8")
        assert read_info_json(path).track == "kept"
    for text in (sc.video_id, sc.caption, sc.title, sc.uploader, sc.track):
        assert text is None or (isinstance(text, str) and text.strip() == text and text)
    for texts in (sc.tags, sc.artists, sc.hashtags, sc.mentions):
        assert isinstance(texts, tuple) and all(isinstance(t, str) for t in texts)
    assert sc.timestamp_seconds is None or type(sc.timestamp_seconds) is int
    assert sc.duration_seconds is None or (type(sc.duration_seconds) is float and sc.duration_seconds >= 0)
    assert all(w.startswith("field dropped: ") for w in sc.warnings)
    assert len(sc.warnings) <= len(data)


def test_read_caption_txt(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("\ufeff  hello #World from @me \n", encoding="utf-8")
    sc = read_caption_txt(path)
    assert (sc.source, sc.caption, sc.hashtags, sc.mentions) == (
        "txt",
        "hello #World from @me",
        ("World",),
        ("me",),
    )
    (tmp_path / "latin1.txt").write_bytes("café #été".encode("latin-1"))  # no mark: not UTF-8
    with pytest.raises(SidecarError, match=r"latin1\.txt.*UTF-8"):
        read_caption_txt(tmp_path / "latin1.txt")
    (tmp_path / "utf16.txt").write_bytes("hi #fyp".encode("utf-16-le"))  # no mark: NULs in UTF-8
    with pytest.raises(SidecarError, match=r"utf16\.txt.*NUL bytes \(UTF-16 without a byte order mark\?\)"):
        read_caption_txt(tmp_path / "utf16.txt")
    (tmp_path / "nul.txt").write_bytes(b"great clip #fyp\n\x00")  # a stray NUL: read as before
    assert read_caption_txt(tmp_path / "nul.txt").hashtags == ("fyp",)
    (tmp_path / "cut.txt").write_bytes(codecs.BOM_UTF16_LE + "ok".encode("utf-16-le")[:-1])
    with pytest.raises(SidecarError, match=r"cut\.txt"):
        read_caption_txt(tmp_path / "cut.txt")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_files_with_a_byte_order_mark_are_read_in_its_encoding(tmp_path: Path, codec: str) -> None:
    """Windows Notepad's "Unicode" and PowerShell 5's ``>`` write UTF-16 with a byte order
    mark: a caption, a sidecar and a manifest so written read as their UTF-8 twins."""
    caption = "Straße 猫 #été @me 🎵"
    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(codec, b"")  # the others write their own mark
    (tmp_path / "c.txt").write_bytes(bom + caption.encode(codec))
    assert read_caption_txt(tmp_path / "c.txt").caption == caption
    info = json.dumps({"id": "v", "description": caption})
    (tmp_path / "v.info.json").write_bytes(bom + info.encode(codec))
    assert read_info_json(tmp_path / "v.info.json").caption == caption
    (tmp_path / "m.csv").write_bytes(bom + f"id,caption\nv,{caption}\n".encode(codec))
    assert Manifest.load(tmp_path / "m.csv").lookup(tmp_path / "v.mp4", ["v"]).caption == caption


# --------------------------------------------------------------------------- manifests


def test_manifest_csv_by_path_and_id(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,id,caption,timestamp,uploader\n"
        'sub/a.mp4,,"caption A #one, with comma",1730374643,ann\n'
        ",b,caption B #two,2024-10-31T11:37:23Z,\n"
        "sub/c.mp4,cid,,,\n",
        encoding="utf-8",
    )
    m = Manifest.load(manifest)
    assert len(m) == 3
    a = m.lookup(tmp_path / "sub" / "a.mp4")
    assert a is not None
    assert (a.caption, a.hashtags, a.timestamp_seconds, a.uploader, a.video_id) == (
        "caption A #one, with comma",
        ("one",),
        1730374643,
        "ann",
        None,
    )
    assert m.lookup(tmp_path / "elsewhere" / "b.mp4") is None
    b = m.lookup(tmp_path / "elsewhere" / "b.mp4", ids=["b"])
    assert b is not None and b.timestamp_seconds == 1730374643 and b.uploader is None
    c = m.lookup(tmp_path / "sub" / "c.mp4")
    assert c is not None and c.video_id == "cid" and c.caption is None


def test_manifest_jsonl_and_json(tmp_path: Path) -> None:
    rows = [{"path": "/abs/x.mp4", "caption": "#猫 cat"}, {"id": "y", "caption": "why", "timestamp": 5}]
    jl = tmp_path / "m.jsonl"
    jl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    js = _write_json(tmp_path / "m.json", rows)
    for path in (jl, js):
        m = Manifest.load(path)
        x = m.lookup("/abs/x.mp4")
        assert x is not None and x.hashtags == ("猫",)
        y = m.lookup("/any/y.webm", ids=["y"])
        assert y is not None and y.timestamp_seconds == 5


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("m.csv", "caption\nhello\n", "'path' or 'id' column"),
        ("m.csv", "path,caption\na.mp4,x\na.mp4,y\n", "listed twice"),
        ("m.csv", "path,id,caption\n,,orphan\n", "neither 'path' nor 'id'"),
        ("m.csv", "path,caption\na.mp4,x,extra\n", "more fields"),
        ("m.jsonl", '{"id": ["a"], "caption": "x"}\n', r"m.jsonl:1: .*'id' it can use .*\['a'\]"),
        ("m.jsonl", '{"path": 5, "caption": "x"}\n', r"neither 'path' nor 'id' it can use .*field 'path'"),
        ("m.jsonl", '{"path": "a.mp4"}\n{"path": \n', "m.jsonl:2: malformed JSON"),
        ("m.jsonl", '["a.mp4"]\n', "expected a JSON object"),
        ("m.txt", "path\n", "must be .csv"),
        ("m.csv", 'path,caption\n"unterminated,x\n', "malformed CSV"),
        ("m.csv", "", "the manifest is empty"),
        ("m.jsonl", "\n \n", "the manifest is empty"),
    ],
)
def test_manifest_malformed(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SidecarError, match=match):
        Manifest.load(path)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ('{"path": "a.mp4", "caption": 5, "uploader": "ann"}', "caption"),
        ('{"path": "a.mp4", "title": ["t"], "uploader": "ann"}', "title"),
        ('{"path": "a.mp4", "timestamp": [1], "uploader": "ann"}', "timestamp"),
        ('{"path": "a.mp4", "timestamp": "tomorrow", "uploader": "ann"}', "timestamp"),
        ('{"path": "a.mp4", "id": {"x": 1}, "uploader": "ann"}', "id"),
    ],
)
def test_a_wrong_typed_manifest_field_is_dropped_from_its_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, row: str, field: str
) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(row + '\n{"path": "b.mp4", "caption": "fine"}\n', encoding="utf-8")
    with caplog.at_level("WARNING"):
        m = Manifest.load(path)
    hit = m.lookup(tmp_path / "a.mp4")
    assert hit is not None and hit.uploader == "ann"
    (warning,) = hit.warnings
    assert warning.startswith(f"field dropped: {path}:1: ") and field in warning
    assert ("keeps the id it has without a sidecar" in warning) == (field == "id")
    assert warning in caplog.text
    other = m.lookup(tmp_path / "b.mp4")
    assert other is not None and other.caption == "fine" and other.warnings == ()


def test_a_csv_manifest_timestamp_that_is_not_a_time_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("path,caption,timestamp\na.mp4,x,tomorrow\n", encoding="utf-8")
    hit = Manifest.load(path).lookup(tmp_path / "a.mp4")
    assert hit is not None and hit.caption == "x" and hit.timestamp_seconds is None
    assert "'tomorrow'" in hit.warnings[0]


# --------------------------------------------------------------------------- precedence


def test_read_sidecar_precedence(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    manifest_path = tmp_path / "m.csv"
    manifest_path.write_text("path,caption\nclip.mp4,from manifest\n", encoding="utf-8")
    manifest = Manifest.load(manifest_path)

    sc = read_sidecar(video, manifest=manifest)
    assert sc is not None and (sc.source, sc.caption) == ("manifest", "from manifest")

    (tmp_path / "clip.txt").write_text("from txt", encoding="utf-8")
    sc = read_sidecar(video, manifest=manifest)
    assert sc is not None and (sc.source, sc.caption) == ("txt", "from txt")

    _write_json(tmp_path / "clip.info.json", INFO)
    sc = read_sidecar(video, manifest=manifest)
    assert sc is not None and sc.source == "info.json" and sc.video_id == INFO["id"]

    assert read_sidecar(tmp_path / "other.mp4") is None


def test_read_sidecar_malformed_raises_or_falls_back(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    (tmp_path / "clip.info.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "clip.txt").write_text("txt caption", encoding="utf-8")
    with pytest.raises(SidecarError, match=r"clip\.info\.json"):
        read_sidecar(video)
    errors: list[SidecarError] = []
    sc = read_sidecar(video, on_error=errors.append)
    assert sc is not None and sc.source == "txt"
    assert len(errors) == 1 and "clip.info.json" in str(errors[0])


def test_read_sidecar_manifest_id_by_default_id(tmp_path: Path) -> None:
    manifest_path = tmp_path / "m.jsonl"
    manifest_path.write_text('{"id": "trip/day1/clip", "caption": "by relative id"}\n', encoding="utf-8")
    manifest = Manifest.load(manifest_path)
    video = tmp_path / "trip" / "day1" / "clip.mp4"
    assert read_sidecar(video, manifest=manifest) is None
    sc = read_sidecar(video, manifest=manifest, default_id="trip/day1/clip")
    assert sc is not None and sc.caption == "by relative id"


def test_a_manifest_path_is_refused_where_a_loaded_manifest_goes(tmp_path: Path) -> None:
    """read_sidecar takes a loaded Manifest; a path there failed with an AttributeError."""
    from reelsense.errors import ParameterError

    with pytest.raises(
        ParameterError, match=r"manifest='m.csv' must be a Manifest \(Manifest.load\(path\)\)"
    ):
        read_sidecar(tmp_path / "a.mp4", manifest="m.csv")  # type: ignore[arg-type]


def test_a_manifest_caption_longer_than_the_csv_field_limit(tmp_path: Path) -> None:
    """The csv module refuses fields over 131,072 characters by default; a manifest's caption
    may be as long as a sidecar's."""
    caption = "#long " + "é" * 200_000
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,caption\na,{caption}\n", encoding="utf-8")
    side = Manifest.load(manifest).lookup(tmp_path / "a.mp4", ["a"])
    assert side is not None and side.caption == caption[:MAX_TEXT_CHARS]  # read whole, then cut
    assert side.hashtags == ("long",)
    assert side.warnings == (
        f"field cut: {manifest}:2: field 'caption' holds {len(caption)} characters; "
        f"the first {MAX_TEXT_CHARS} are kept",
    )


def test_a_huge_caption_and_tag_list_are_cut_to_their_start_with_a_note(tmp_path: Path) -> None:
    """A 60 MB description of hashtags took 22 s and 1.2 GB to read, and was stored whole."""
    description = "intro " + " ".join(f"#t{i}" for i in range(MAX_TEXT_CHARS))
    path = tmp_path / "v.info.json"
    tags = [f"tag{i}" for i in range(MAX_LIST_ITEMS + 5)]
    path.write_text(
        json.dumps({"id": "v", "description": description, "title": "kept", "tags": tags}), encoding="utf-8"
    )
    sc = read_info_json(path)
    assert sc.caption == description[:MAX_TEXT_CHARS].rstrip()
    assert sc.hashtags == parse_hashtags(sc.caption) and sc.hashtags[0] == "t0"
    assert f"t{MAX_TEXT_CHARS - 1}" not in sc.hashtags
    assert sc.tags == tuple(tags[:MAX_LIST_ITEMS])
    assert (sc.video_id, sc.title) == ("v", "kept")
    assert sc.warnings == (
        f"field cut: {path}: field 'description' holds {len(description)} characters; "
        f"the first {MAX_TEXT_CHARS} are kept",
        f"field cut: {path}: field 'tags' holds {len(tags)} items; the first {MAX_LIST_ITEMS} are kept, "
        f"each of at most {MAX_TEXT_CHARS} characters",
    )


def test_a_text_at_the_limit_is_kept_whole_and_a_long_tag_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "v.info.json"
    title = "x" * MAX_TEXT_CHARS
    path.write_text(json.dumps({"title": title, "tags": ["a", "b" * (MAX_TEXT_CHARS + 1)]}), encoding="utf-8")
    sc = read_info_json(path)
    assert sc.title == title
    assert sc.tags == ("a", "b" * MAX_TEXT_CHARS)
    assert sc.warnings == (
        f"field cut: {path}: field 'tags' holds 2 items; the first 2 are kept, "
        f"each of at most {MAX_TEXT_CHARS} characters",
    )


def test_a_huge_txt_caption_is_cut_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("  #a " + "y" * (2 * MAX_TEXT_CHARS), encoding="utf-8")
    sc = read_caption_txt(path)
    assert sc.caption is not None and len(sc.caption) == MAX_TEXT_CHARS and sc.hashtags == ("a",)
    assert sc.warnings == (
        f"field cut: {path}: field 'caption' holds {2 * MAX_TEXT_CHARS + 3} characters; "
        f"the first {MAX_TEXT_CHARS} are kept",
    )


def test_an_upload_date_written_as_a_number_and_a_timestamp_in_milliseconds(tmp_path: Path) -> None:
    """upload_date 20241031 (a JSON number) reads as the date; a timestamp in milliseconds is
    dropped with a hint (the message only said "outside the years 1-9999")."""
    day = int(datetime(2024, 10, 31, tzinfo=timezone.utc).timestamp())
    sc = read_info_json(_write_json(tmp_path / "a.info.json", {"upload_date": 20241031}))
    assert sc.timestamp_seconds == day
    sc = read_info_json(
        _write_json(tmp_path / "b.info.json", {"timestamp": day * 1000, "upload_date": "20241031"})
    )
    assert sc.timestamp_seconds == day  # from upload_date
    assert any("milliseconds? it takes unix seconds" in w for w in sc.warnings), sc.warnings


_YEAR_1 = -62135596800  # 0001-01-01T00:00:00Z
_YEAR_10000 = 253402300800  # 10000-01-01T00:00:00Z


@given(st.integers(min_value=_YEAR_1, max_value=_YEAR_10000 - 1))
def test_iso_time_reads_back_as_the_same_second(seconds: int) -> None:
    text = iso_time(seconds)
    assert len(text) == 20 and text.endswith("Z")  # four-digit years, also before 1000
    assert parse_timestamp(text) == seconds


@pytest.mark.parametrize("seconds", [1e20, -1e15, _YEAR_10000, _YEAR_1 - 1])
def test_iso_time_names_a_value_outside_the_years_it_can_write(seconds: float) -> None:
    with pytest.raises(ParameterError, match="outside the years 1-9999"):
        iso_time(seconds)
    assert iso_time(float("nan")) == iso_time(None) == ""


@pytest.mark.parametrize(
    ("text", "hashtags", "mentions"),
    [
        # full-width letters are the same tag (NFKC), the first spelling is kept
        ("#ＦＹＰ #fyp @ｕｓｅｒ @User", ("ＦＹＰ",), ("ｕｓｅｒ",)),
        ("#fyp #ＦＹＰ #FYP", ("fyp",), ()),
        ("#Straße #STRASSE #ﬁre #fire", ("Straße", "ﬁre"), ()),
    ],
)
def test_tags_are_one_under_nfkc_and_casefold(
    text: str, hashtags: tuple[str, ...], mentions: tuple[str, ...]
) -> None:
    assert parse_hashtags(text) == hashtags
    assert parse_mentions(text) == mentions


@pytest.mark.parametrize("value", [20261207, "20261207", " 20261207 ", 20261207.0, 19000101, "21001231"])
def test_a_yyyymmdd_date_is_not_read_as_unix_seconds(value: object) -> None:
    """20261207 was read as unix seconds (1970-08-23) without a word: a whole number that is a
    date YYYYMMDD of the years 1900-2100 is refused, naming the value and the ISO date."""
    with pytest.raises(FieldRangeError, match=r"20261207|19000101|21001231") as caught:
        parse_timestamp(value, where="t")
    assert "ISO 8601" in str(caught.value) and "YYYYMMDD" in str(caught.value)
    assert "2026-12-07" in str(caught.value) or str(value).strip()[:4] in str(caught.value)


@pytest.mark.parametrize("value", [20261399, 20260230, 18991231, 21010101, 20261207.5, 1733500000])
def test_numbers_that_are_no_yyyymmdd_date_stay_unix_seconds(value: float) -> None:
    assert parse_timestamp(value) == int(value)


def test_an_info_json_timestamp_written_yyyymmdd_falls_back_to_upload_date(tmp_path: Path) -> None:
    path = tmp_path / "v.info.json"
    path.write_text(json.dumps({"timestamp": 20241105, "upload_date": "20241105"}))
    sc = read_info_json(path)
    assert sc.timestamp_seconds == int(datetime(2024, 11, 5, tzinfo=timezone.utc).timestamp())
    assert any("20241105" in w and "2024-11-05" in w for w in sc.warnings), sc.warnings
