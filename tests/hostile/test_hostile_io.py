"""Hostile inputs at the io layer: names that are not UTF-8, sidecar and manifest values out
of range, special files, id clashes. Every case is generated here (nothing checked in)."""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocking import raised_without_blocking
from reelsense.errors import DecodeError, SidecarError
from reelsense.io import (
    Manifest,
    NotRegularFileError,
    assign_video_ids,
    clean_text,
    path_from_text,
    path_text,
    read_regular_file,
    read_sidecar,
    walk_media,
)
from reelsense.io._sidecar import read_info_json
from reelsense.io._text import has_surrogates

# --------------------------------------------------------------------------- names


@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"\x00" not in b and b"/" not in b))
def test_path_text_round_trips_any_name(raw: bytes) -> None:
    name = os.fsdecode(raw)
    text = path_text(name)
    text.encode("utf-8")  # always valid UTF-8
    assert path_from_text(text) == name
    assert path_text(raw) == text


@given(st.text(max_size=30))
def test_path_text_leaves_plain_names_alone(text: str) -> None:
    if "\\" not in text and not has_surrogates(text):
        assert path_text(text) == text
    clean_text(text).encode("utf-8")


def test_path_text_escape_is_documented_spelling() -> None:
    assert path_text(os.fsdecode(b"bad\xff.mp4")) == "bad\\xff.mp4"
    assert path_text("a\\xff") == "a\\\\xff"  # a real backslash stays distinct from the byte
    assert path_from_text("C:\\clips") == "C:\\clips"  # a lone backslash typed by hand is literal


def test_non_utf8_name_gets_an_escaped_id(tmp_path: Path) -> None:
    (tmp_path / os.fsdecode(b"bad\xff.mp4")).write_bytes(b"x")
    files = walk_media([tmp_path])
    assert [f.default_id for f in files] == ["bad\\xff"]
    assert assign_video_ids(files, [None]) == ["bad\\xff"]


# --------------------------------------------------------------------------- special files


def test_fifo_and_devices_are_listed_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "zero.mp4").symlink_to("/dev/zero")
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "missing.mp4")
    files = walk_media([tmp_path])
    assert sorted(f.relative_path for f in files) == ["gone.mp4", "pipe.mp4", "zero.mp4"]
    from reelsense.io import decode

    for f, words in [(files[0], "dangling"), (files[1], "FIFO"), (files[2], "character device")]:
        with pytest.raises(DecodeError, match=words):
            decode(f.path)


def test_read_regular_file_refuses_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x.info.json"
    os.mkfifo(fifo)
    error = raised_without_blocking(lambda: read_regular_file(fifo, max_bytes=100), OSError)
    assert isinstance(error, NotRegularFileError)
    # read_sidecar does not even try: a FIFO is not a sidecar
    assert read_sidecar(tmp_path / "x.mp4") is None


def test_read_regular_file_bounds_the_read(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"1" * 1000)
    assert len(read_regular_file(big, max_bytes=1000)) == 1000
    with pytest.raises(OSError, match="more than the 999"):
        read_regular_file(big, max_bytes=999)


# --------------------------------------------------------------------------- sidecar values


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("timestamp", "NaN"),
        ("timestamp", "1e400"),
        ("timestamp", "-Infinity"),
        ("timestamp", "1e20"),
        ("timestamp", '"99999-01-01"'),
        ("timestamp", '"0000-01-01"'),
        ("timestamp", "9" * 5000),
        ("duration", "1e400"),
        ("duration", "-3"),
        ("uploader", '"x\\ud800y"'),
        ("description", '"\\udfff"'),
        ("tags", '["ok", "\\ud800"]'),
        ("id", "NaN"),
    ],
)
def test_out_of_range_field_is_dropped_with_a_warning(tmp_path: Path, field: str, raw: str) -> None:
    path = tmp_path / "v.info.json"
    path.write_text(f'{{"title": "kept", "{field}": {raw}}}', encoding="utf-8")
    sidecar = read_info_json(path)
    assert sidecar.title == "kept"
    assert len(sidecar.warnings) == 1 and "field dropped" in sidecar.warnings[0]
    assert field in sidecar.warnings[0]
    assert sidecar.timestamp_seconds is None and sidecar.uploader is None and sidecar.duration_seconds is None


def test_extreme_but_valid_times_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "v.info.json"
    path.write_text('{"timestamp": "9999-12-31T23:59:59Z"}', encoding="utf-8")
    assert read_info_json(path).timestamp_seconds == 253402300799
    path.write_text('{"timestamp": -62135596800}', encoding="utf-8")
    assert read_info_json(path).timestamp_seconds == -62135596800


def test_deep_nesting_is_a_malformed_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "v.info.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(SidecarError, match="malformed JSON"):
        read_info_json(path)


def test_csv_manifest_keeps_line_breaks_in_quotes(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    caption = "line1\nline2\u2028third\u0085fourth\r\nfifth"
    manifest.write_text(f'path,caption\nv.mp4,"{caption}"\nw.mp4,plain\n', encoding="utf-8", newline="")
    loaded = Manifest.load(manifest)
    hit = loaded.lookup(tmp_path / "v.mp4")
    assert hit is not None and hit.caption == caption
    other = loaded.lookup(tmp_path / "w.mp4")
    assert other is not None and other.caption == "plain"


def test_jsonl_manifest_keeps_u2028(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"path": "v.mp4", "caption": "a\u2028b\u0085c"}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    hit = Manifest.load(manifest).lookup(tmp_path / "v.mp4")
    assert hit is not None and hit.caption == "a\u2028b\u0085c"


def test_manifest_path_escape_matches_non_utf8_file(tmp_path: Path) -> None:
    name = os.fsdecode(b"bad\xff.mp4")
    (tmp_path / name).write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,caption,timestamp\n{path_text(name)},hello,1e400\n", encoding="utf-8")
    hit = Manifest.load(manifest).lookup(tmp_path / name)
    assert hit is not None and hit.caption == "hello" and hit.timestamp_seconds is None
    assert hit.warnings


# --------------------------------------------------------------------------- fuzzing

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None), max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)
_fields = st.sampled_from(
    [
        "id",
        "timestamp",
        "upload_date",
        "uploader",
        "channel",
        "description",
        "title",
        "tags",
        "artists",
        "duration",
    ]
)


@given(st.dictionaries(_fields, _json_values, max_size=6))
def test_fuzz_info_json(tmp_path_factory: pytest.TempPathFactory, data: dict[str, object]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "v.info.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    sidecar = read_info_json(path)  # a field it cannot use is dropped, never the whole sidecar
    for text in (sidecar.video_id, sidecar.caption, sidecar.title, sidecar.uploader, *sidecar.tags):
        if text is not None:
            text.encode("utf-8")
    if sidecar.timestamp_seconds is not None:
        assert -62135596800 <= sidecar.timestamp_seconds <= 253402300799
    if sidecar.duration_seconds is not None:
        assert math.isfinite(sidecar.duration_seconds)


@given(st.text(max_size=200), st.sampled_from(["m.csv", "m.jsonl", "m.json"]))
def test_fuzz_manifest(tmp_path_factory: pytest.TempPathFactory, body: str, name: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(body.encode("utf-8", "surrogatepass"))
    with contextlib.suppress(SidecarError):  # a clear, named refusal is the only failure allowed
        Manifest.load(path)


@given(st.binary(max_size=300))
def test_fuzz_manifest_bytes(tmp_path_factory: pytest.TempPathFactory, body: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "m.csv"
    path.write_bytes(b"path,caption,timestamp\n" + body)
    with contextlib.suppress(SidecarError):
        Manifest.load(path)


def test_trends_reads_escaped_paths_and_drops_impossible_times(tmp_path: Path) -> None:
    from reelsense.trends import read_uses_csv

    table = tmp_path / "clusters.csv"
    name = os.fsdecode(b"/v/bad\xff.mp4")
    table.write_text(
        f"video_id,cluster,timestamp,path\na,s1,1e400,{path_text(name)}\nb,s1,nan,\nc,s1,1730374643,\n",
        encoding="utf-8",
    )
    uses = {u.video_id: u for u in read_uses_csv(table)}
    assert uses["a"].path == name and uses["a"].timestamp_seconds is None
    assert uses["b"].timestamp_seconds is None and uses["c"].timestamp_seconds == 1730374643
