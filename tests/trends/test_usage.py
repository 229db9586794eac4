"""Filling uses from the videos' sidecars (``date_uses``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from reelsense.trends._usage import Use, date_uses


def _use(video_id: str, sound: str) -> Use:
    return Use(video_id=video_id, sound=sound, library_sound=None, timestamp_seconds=None)


def test_a_video_named_by_several_uses_has_its_sidecar_read_and_noted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    (tmp_path / "v.info.json").write_text(
        json.dumps({"timestamp": 1_700_000_000, "description": "hi #x", "duration": "12"}), encoding="utf-8"
    )
    broken = tmp_path / "b.mp4"
    broken.write_bytes(b"")
    (tmp_path / "b.info.json").write_text("{not json", encoding="utf-8")
    uses = [_use("v", "s1"), _use("b", "s1"), _use("v", "s2"), _use("b", "s2")]
    with caplog.at_level(logging.WARNING):
        out = date_uses(uses, {"v": str(video), "b": str(broken)})
    assert [(u.video_id, u.sound, u.timestamp_seconds, u.caption) for u in out] == [
        ("v", "s1", 1_700_000_000, "hi #x"),
        ("b", "s1", None, None),
        ("v", "s2", 1_700_000_000, "hi #x"),
        ("b", "s2", None, None),
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("field dropped" in m and "duration" in m for m in messages) == 1, messages
    assert sum("b.info.json" in m for m in messages) == 1, messages


def test_a_tables_timestamps_are_read_as_a_sidecars(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A table's ``timestamp`` takes what a sidecar, a manifest and --reference-time take: ISO
    8601 (with an offset, ``Z``, a date) as well as unix seconds; it stopped the command with
    "is not unix seconds". Milliseconds are still ignored with a warning, now saying so, and
    text that is no time still stops it, naming the line."""
    from reelsense.errors import ParameterError
    from reelsense.trends._usage import read_uses_csv

    table = tmp_path / "m.csv"
    table.write_text(
        "video_id,sound_id,timestamp\n"
        "a,s,2025-12-05T10:00:00+02:00\nb,s,2025-12-05T08:00:00Z\nc,s,2025-12-05\nd,s,1764921600.9\n"
        "e,s,1764921600000\nf,s,\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="reelsense.trends"):
        uses = read_uses_csv(table)
    assert [u.timestamp_seconds for u in uses] == [1764921600, 1764921600, 1764892800, 1764921600, None, None]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "m.csv:6" in warning and "milliseconds?" in warning and "ignored" in warning
    table.write_text("video_id,sound_id,timestamp\na,s,soon\n", encoding="utf-8")
    with pytest.raises(
        ParameterError, match=r"m\.csv:2: timestamp 'soon' is neither unix seconds nor ISO 8601"
    ):
        read_uses_csv(table)


def test_a_tables_timestamp_written_yyyymmdd_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``20251205`` was read as unix seconds (1970-08-23): ignored now, with a warning that names
    the value and the ISO date to write."""
    from reelsense.trends._usage import read_uses_csv

    table = tmp_path / "m.csv"
    table.write_text("video_id,sound_id,timestamp\na,s,20251205\nb,s,2025-12-05\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="reelsense.trends"):
        uses = read_uses_csv(table)
    assert [u.timestamp_seconds for u in uses] == [None, 1764892800]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "m.csv:2" in warning and "'20251205'" in warning and "2025-12-05" in warning


def test_a_table_is_read_by_the_rules_of_the_events_reader(tmp_path: Path) -> None:
    """``sounds trends``' table was read otherwise than ``reelsense rank``'s tables: a header
    written ``video_id, sound_cluster`` or starting with a UTF-8 byte order mark (Excel's "CSV
    UTF-8") was refused as no clusters.csv, a row ending in empty cells past the header's (a
    spreadsheet's trailing commas) as damaged, text that is not UTF-8 raised a
    UnicodeDecodeError traceback, and a column named twice read its last cell without a word.
    They are read, or refused naming the file, as the events reader does; a row with cells
    past the header's that hold something is still refused (those tables are written quoted)."""
    from reelsense.errors import ParameterError
    from reelsense.trends._usage import read_uses_csv

    table = tmp_path / "c.csv"
    rows = "a,s1,1764921600\nb,s2,2025-12-05\n"
    table.write_text("video_id,sound_cluster,timestamp\n" + rows, encoding="utf-8")
    plain = read_uses_csv(table)
    assert [(u.video_id, u.sound, u.timestamp_seconds) for u in plain] == [
        ("a", "s1", 1764921600),
        ("b", "s2", 1764892800),
    ]
    table.write_text("video_id, sound_cluster ,\ttimestamp\n" + rows, encoding="utf-8")
    assert read_uses_csv(table) == plain
    table.write_text("\ufeffvideo_id,sound_cluster,timestamp\n" + rows, encoding="utf-8")
    assert read_uses_csv(table) == plain
    table.write_text(
        "video_id,sound_cluster,timestamp\na,s1,1764921600,,\nb,s2,2025-12-05, \n", encoding="utf-8"
    )
    assert read_uses_csv(table) == plain
    table.write_text("video_id,sound_cluster,timestamp\na,s1,1764921600,x\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"c\.csv:2: 4 fields where the header has 3"):
        read_uses_csv(table)
    table.write_text("video_id,sound_cluster,timestamp\na,s1\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"c\.csv:2: 2 fields where the header has 3"):
        read_uses_csv(table)
    table.write_text("video_id,sound_cluster, sound_cluster\na,s1,s2\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"c\.csv' names the column 'sound_cluster' twice"):
        read_uses_csv(table)
    table.write_bytes(b"video_id,sound_cluster\na\xe9,s1\n")
    with pytest.raises(ParameterError, match=r"c\.csv' is not UTF-8 text \(byte 24 is b'\\xe9'\)"):
        read_uses_csv(table)


def test_a_tables_ignored_timestamps_are_counted_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each timestamp ignored (a date written YYYYMMDD, milliseconds) logged a warning of its
    own: a table of dates so written logged one per row. One warning counts them now, naming
    the first, as the events reader counts its rows with no readable timestamp."""
    from reelsense.trends._usage import read_uses_csv

    table = tmp_path / "m.csv"
    table.write_text(
        "video_id,sound_id,timestamp\na,s,2025-12-05\nb,s,20251205\nc,s,20251206\nd,s,1764921600000\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="reelsense.trends"):
        uses = read_uses_csv(table)
    assert [u.timestamp_seconds for u in uses] == [1764892800, None, None, None]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "m.csv:3: timestamp '20251205' looks like the date 2025-12-05" in warning
    assert warning.endswith("; ignored (3 timestamps of the table ignored in all)")


def test_a_tables_field_over_the_csv_limit_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell over the csv module's field limit raised csv.Error's traceback; it is refused
    naming the file, as the events reader refuses it."""
    import csv

    import reelsense.io._text as text
    from reelsense.errors import ParameterError
    from reelsense.trends._usage import read_uses_csv

    monkeypatch.setattr(text, "MAX_CSV_FIELD_CHARS", 150_000)
    table = tmp_path / "c.csv"
    table.write_text('video_id,sound_cluster\n"' + "x" * 200_000 + '",s1\n', encoding="utf-8")
    before = csv.field_size_limit(131_072)
    try:
        with pytest.raises(ParameterError, match=r"c\.csv' is not a readable CSV table: field larger than"):
            read_uses_csv(table)
    finally:
        csv.field_size_limit(before)
