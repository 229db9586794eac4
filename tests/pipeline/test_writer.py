"""The writer's single-file layout: atomic parts, consolidation, resume state, metadata, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelsense import __version__
from reelsense.errors import OutputError
from reelsense.pipeline import OutputWriter as ResumableParquetWriter
from reelsense.pipeline import build_schema
from reelsense.pipeline._writer import parts_dir_for

CONFIG = {"audio_sample_rate": 22050, "stages": [{"name": "x", "version": 1}]}


def _schema(config: dict[str, Any] = CONFIG, extra: tuple[pa.Field, ...] = ()) -> pa.Schema:
    return build_schema([pa.field("score", pa.float64()), *extra], config=config, run={"inputs": ["in"]})


def _row(vid: str, status: str = "ok", score: float = 1.0) -> dict[str, Any]:
    return {
        "video_id": vid,
        "path": f"/in/{vid}.mp4",
        "status": status,
        "error": None if status == "ok" else "boom",
        "hashtags": ["a", "b"],
        "timestamp": 1730374643000,
        "score": score,
    }


def _part_names(out: Path) -> list[str]:
    parts = parts_dir_for(out)
    return sorted(p.name for p in parts.iterdir()) if parts.is_dir() else []


def test_flush_every_k_rows_writes_whole_parts(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    with ResumableParquetWriter(out, _schema(), flush_rows=2, flush_seconds=1e9) as writer:
        assert writer.open() == {}
        for i in range(5):
            writer.add(_row(f"v{i}"))
        # 5 rows, flush every 2: two parts on disk, one row buffered, no temporaries, no output yet
        assert _part_names(out) == ["part-000001.parquet", "part-000002.parquet"]
        assert not out.exists()
        assert [pq.read_table(parts_dir_for(out) / n).num_rows for n in _part_names(out)] == [2, 2]
        assert writer.finish() == 5
    assert not parts_dir_for(out).exists()
    assert not (tmp_path / ".out.parquet.lock").exists()
    assert sorted(pq.read_table(out)["video_id"].to_pylist()) == [f"v{i}" for i in range(5)]


def test_flush_after_seconds(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1000, flush_seconds=0.05)
    writer.open()
    writer.add(_row("a"))
    assert _part_names(out) == []
    writer._last_flush -= 1.0  # as if a second had passed since the last part
    writer.add(_row("b"))
    assert _part_names(out) == ["part-000001.parquet"]
    writer.close()


def test_metadata_and_schema_in_every_file(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    writer.open()
    writer.add(_row("a"))
    part_meta = pq.read_schema(parts_dir_for(out) / "part-000001.parquet").metadata
    writer.finish()
    for meta in (part_meta, pq.read_schema(out).metadata):
        assert meta[b"reelsense.version"].decode() == __version__
        assert meta[b"reelsense.schema_version"] == b"1"
        assert json.loads(meta[b"reelsense.config"]) == CONFIG
        assert json.loads(meta[b"reelsense.run"]) == {"inputs": ["in"]}
    table = pq.read_table(out)
    assert table.schema.field("video_id").nullable is False
    assert table.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    row = table.to_pylist()[0]
    assert row["hashtags"] == ["a", "b"] and row["timestamp"].timestamp() == 1730374643


def test_empty_job_writes_empty_output(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.parquet"
    writer = ResumableParquetWriter(out, _schema())
    writer.open()
    assert writer.finish() == 0
    table = pq.read_table(out)
    assert table.num_rows == 0 and "score" in table.schema.names


def test_resume_state_from_output_and_parts_newest_wins(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=10)
    writer.open()
    for vid, status in [("a", "ok"), ("b", "error"), ("c", "ok")]:
        writer.add(_row(vid, status))
    writer.finish()
    # second run: b recomputed (now ok), d new; killed before consolidation (parts kept)
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    assert writer.open() == {"a": "ok", "b": "error", "c": "ok"}
    writer.add(_row("b", "ok", score=2.0))
    writer.add(_row("d", "error"))
    writer._unlock()  # simulate a kill: parts stay, nothing consolidated
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    assert writer.open() == {"a": "ok", "b": "ok", "c": "ok", "d": "error"}
    writer.add(_row("d", "ok", score=3.0))
    assert writer.finish() == 4
    rows = {r["video_id"]: (r["status"], r["score"]) for r in pq.read_table(out).to_pylist()}
    assert rows == {"a": ("ok", 1.0), "b": ("ok", 2.0), "c": ("ok", 1.0), "d": ("ok", 3.0)}


def test_crash_between_rename_and_part_deletion(tmp_path: Path) -> None:
    """Output already holds the parts' rows when the parts are still there: no duplicates."""
    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    writer.open()
    writer.add(_row("a"))
    writer.add(_row("b"))
    saved = {n: (parts_dir_for(out) / n).read_bytes() for n in _part_names(out)}
    writer.finish()
    parts_dir_for(out).mkdir()
    for name, data in saved.items():  # as if the process died right after the final rename
        (parts_dir_for(out) / name).write_bytes(data)
    writer = ResumableParquetWriter(out, _schema())
    assert writer.open() == {"a": "ok", "b": "ok"}
    assert writer.finish() == 2
    assert sorted(pq.read_table(out)["video_id"].to_pylist()) == ["a", "b"]


def test_leftover_temporaries_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    parts = parts_dir_for(out)
    parts.mkdir()
    (parts / ".tmp-000003-123.parquet").write_bytes(b"half a part")
    (tmp_path / ".out.parquet.tmp-99").write_bytes(b"half an output (old name)")
    (tmp_path / ".tmp-out.parquet-98").write_bytes(b"half an output")
    (tmp_path / ".tmp-other.parquet-97").write_bytes(b"another output's: kept")
    writer = ResumableParquetWriter(out, _schema())
    assert writer.open() == {}
    assert not (parts / ".tmp-000003-123.parquet").exists()
    assert not (tmp_path / ".out.parquet.tmp-99").exists()
    assert not (tmp_path / ".tmp-out.parquet-98").exists()
    assert (tmp_path / ".tmp-other.parquet-97").exists()
    writer.close()


def test_duplicate_id_in_one_job_is_refused(tmp_path: Path) -> None:
    writer = ResumableParquetWriter(tmp_path / "o.parquet", _schema())
    writer.open()
    writer.add(_row("a"))
    with pytest.raises(OutputError, match="'a' was already written"):
        writer.add(_row("a"))
    writer.close()


def test_second_writer_is_locked_out(tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    first = ResumableParquetWriter(out, _schema())
    first.open()
    with pytest.raises(OutputError, match="another process"):
        ResumableParquetWriter(out, _schema()).open()
    first.close()
    second = ResumableParquetWriter(out, _schema())
    second.open()
    second.close()


@pytest.mark.parametrize("where", ["output", "part"])
def test_config_mismatch_refused_unless_overwrite(tmp_path: Path, where: str) -> None:
    out = tmp_path / "o.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    writer.open()
    writer.add(_row("a"))
    if where == "output":
        writer.finish()
    else:
        writer.close()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    other = {**CONFIG, "audio_sample_rate": 16000}
    with pytest.raises(OutputError, match=r"audio_sample_rate: 22050 -> 16000.*overwrite"):
        ResumableParquetWriter(out, _schema(other)).open()
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")} == before  # nothing touched
    # another column set with the same config is refused too
    with pytest.raises(OutputError, match="other columns"):
        ResumableParquetWriter(out, _schema(extra=(pa.field("more", pa.int32()),))).open()
    writer = ResumableParquetWriter(out, _schema(other))
    assert writer.open(overwrite=True) == {}
    # the old rows stay on disk until the new output replaces them; the parts to come are marked
    # as an overwrite's (no part is there yet)
    assert _part_names(out) == ([".overwriting"] if where == "output" else [])
    assert out.exists() == (where == "output")
    writer.add(_row("b"))
    writer.finish()
    assert pq.read_table(out)["video_id"].to_pylist() == ["b"]
    assert json.loads(pq.read_schema(out).metadata[b"reelsense.config"]) == other


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"not parquet at all", "not a readable Parquet file"), (None, "not written by reelsense")],
)
def test_foreign_output_refused(tmp_path: Path, content: bytes | None, match: str) -> None:
    out = tmp_path / "o.parquet"
    if content is None:
        pq.write_table(pa.table({"x": [1]}), out)
    else:
        out.write_bytes(content)
    with pytest.raises(OutputError, match=match):
        ResumableParquetWriter(out, _schema()).open()
    assert os.path.getsize(out) > 0  # noqa: PTH202 - untouched


def test_many_parts_consolidate_into_few_row_groups(tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=3, row_group_rows=10)
    writer.open()
    for i in range(25):
        writer.add(_row(f"v{i:02d}", score=float(i)))
    assert writer.finish() == 25
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == 25 and meta.num_row_groups <= 4
    assert pq.read_table(out)["score"].to_pylist() == [float(i) for i in range(25)]


def _dictionary_encoded(path: Path) -> dict[str, bool]:
    """Whether each Parquet column of ``path``'s first row group is dictionary-encoded."""
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    return {
        meta.schema.column(i).path: any("DICTIONARY" in e for e in group.column(i).encodings)
        for i in range(meta.num_columns)
    }


def test_floating_point_columns_are_written_without_a_dictionary(tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    vector = pa.field("vector", pa.list_(pa.float32(), 4))
    writer = ResumableParquetWriter(out, _schema(extra=(vector,)), flush_rows=2, flush_seconds=1e9)
    writer.open()
    rows = [{**_row(f"v{i}", score=i / 7), "vector": [i / 3, 1.0, -i, 0.5]} for i in range(3)]
    for row in rows:
        writer.add(row)
    part = parts_dir_for(out) / "part-000001.parquet"
    for path in (part, None):
        if path is None:
            assert writer.finish() == 3
            path = out
        encoded = _dictionary_encoded(path)
        assert not encoded["score"] and not encoded["vector.list.element"]
        assert not encoded["duration_seconds"]  # a base column of floats
        assert encoded["video_id"] and encoded["status"] and encoded["hashtags.list.element"]
    table = pq.read_table(out)
    assert table["score"].to_pylist() == [r["score"] for r in rows]
    got = np.asarray(table["vector"].to_pylist(), dtype=np.float32)
    assert np.array_equal(got, np.asarray([r["vector"] for r in rows], dtype=np.float32))


def test_a_damaged_part_is_set_aside_and_its_rows_redone(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    writer.open()
    for vid in ("a", "b", "c"):
        writer.add(_row(vid))
    writer._unlock()  # killed before consolidation
    second = parts_dir_for(out) / "part-000002.parquet"
    second.write_bytes(second.read_bytes()[:40])  # a torn file (written by something else)
    writer = ResumableParquetWriter(out, _schema())
    assert writer.open() == {"a": "ok", "c": "ok"}  # b is done again, a and c are kept
    assert len(writer.damaged) == 1 and "part-000002.parquet" in writer.damaged[0]
    writer.add(_row("b", score=2.0))
    assert writer.finish() == 3
    assert pq.read_table(out)["video_id"].to_pylist() == ["a", "b", "c"]
    assert (tmp_path / "out.parquet.damaged").is_dir()  # kept for inspection, out of the way


def test_rows_are_written_sorted_by_id_whatever_the_order_they_came_in(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    ids = [f"v{i:03d}" for i in range(40)]
    order = list(np.random.default_rng(3).permutation(ids))
    writer = ResumableParquetWriter(out, _schema(), flush_rows=7, row_group_rows=5)
    writer.open()
    for vid in order[:25]:
        writer.add(_row(vid))
    writer.finish()
    writer = ResumableParquetWriter(out, _schema(), flush_rows=4, row_group_rows=5)
    writer.open()
    for vid in order[25:]:
        writer.add(_row(vid))
    assert writer.finish() == 40
    assert pq.read_table(out)["video_id"].to_pylist() == ids


def test_an_unsorted_output_of_an_older_version_is_merged_in_order(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    table = pa.Table.from_pylist([_row(v) for v in ("c", "a", "b")], schema=_schema())
    pq.write_table(table, out)
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    assert writer.open() == {"a": "ok", "b": "ok", "c": "ok"}
    writer.add(_row("aa"))
    writer.finish()
    assert pq.read_table(out)["video_id"].to_pylist() == ["a", "aa", "b", "c"]


def test_a_full_disk_loses_nothing_already_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    writer.open()
    writer.add(_row("a"))
    writer.finish()
    before = out.read_bytes()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    writer.open(overwrite=True)
    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(OSError, match="No space left"), writer:
        writer.add(_row("b"))
    assert out.read_bytes() == before  # the old output is intact
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no half-written temporary left
    assert not (tmp_path / ".out.parquet.lock").exists()


def test_a_configuration_difference_names_the_stage_and_option() -> None:
    from reelsense.pipeline._writer import _config_diff

    def config(index: str) -> str:
        stages = [
            {"name": "descriptors", "options": {}},
            {"name": "sound_match", "options": {"index": index}},
        ]
        return json.dumps({"worker_stages": stages, "dim": 8})

    assert (
        _config_diff(config("new"), config("old"))
        == "worker_stages.sound_match.options.index: 'old' -> 'new'"
    )
    unnamed = _config_diff(json.dumps({"a": [1, 2]}), json.dumps({"a": [1, 3]}))
    assert unnamed == "a: [1, 3] -> [1, 2]"  # a list of plain values stays one value


def _damage_a_page(path: Path, column: str = "score") -> None:
    """Overwrite the pages of ``column`` in the first row group, keeping the footer intact (the
    file opens, its ids read; its rows do not)."""
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == column)
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset
    data[start : start + chunk.total_compressed_size] = b"\xfe" * chunk.total_compressed_size
    path.write_bytes(bytes(data))


def test_a_part_damaged_inside_is_set_aside_and_a_damaged_output_is_refused_by_name(tmp_path: Path) -> None:
    """A damaged page under an intact footer: a part is read whole on resume and set aside (its
    videos are redone); the consolidated output is refused naming it and what to do, never a
    bare "cannot write"."""
    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=2)
    writer.open()
    for vid in ("a", "b", "c", "d"):
        writer.add(_row(vid, score=float(ord(vid))))
    writer._unlock()  # killed before consolidation
    second = parts_dir_for(out) / "part-000002.parquet"
    _damage_a_page(second)
    writer = ResumableParquetWriter(out, _schema())
    assert writer.open() == {"a": "ok", "b": "ok"}  # c and d are done again
    assert len(writer.damaged) == 1 and "part-000002.parquet" in writer.damaged[0]
    for vid in ("c", "d"):
        writer.add(_row(vid, score=float(ord(vid))))
    assert writer.finish() == 4
    assert pq.read_table(out)["score"].to_pylist() == [97.0, 98.0, 99.0, 100.0]

    _damage_a_page(out)
    writer = ResumableParquetWriter(out, _schema())
    assert writer.open() == {vid: "ok" for vid in "abcd"}  # ids and statuses still read
    writer.add(_row("e"))
    refused = r"out\.parquet' is damaged and cannot be read \(.*\): .*restore it, or start over with"
    with pytest.raises(OutputError, match=refused):
        writer.finish()
    writer.close()
    writer = ResumableParquetWriter(out, _schema())
    assert writer.open(overwrite=True) == {}
    writer.add(_row("a"))
    assert writer.finish() == 1


def test_earlier_ids_pass_over_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    """One damaged part must not make a resume forget every written id (an input added since
    could then rename a written one)."""
    out = tmp_path / "out.parquet"
    writer = ResumableParquetWriter(out, _schema(), flush_rows=1)
    writer.open()
    for vid in ("a", "b"):
        writer.add(_row(vid))
    writer._unlock()  # killed before consolidation
    second = parts_dir_for(out) / "part-000002.parquet"
    second.write_bytes(second.read_bytes()[:40])
    assert ResumableParquetWriter(out, _schema()).earlier_ids() == {"/in/a.mp4": "a"}


@pytest.mark.parametrize("rows_before_the_interrupt", [0, 1])
def test_a_resume_of_an_interrupted_overwrite_drops_the_old_rows(
    tmp_path: Path, rows_before_the_interrupt: int
) -> None:
    """An overwrite interrupted (with or without a part written) and resumed without
    ``overwrite``: the old output's rows neither count as finished nor survive the finish,
    and the old output (another configuration here) is not refused."""
    out = tmp_path / "out.parquet"
    old = ResumableParquetWriter(out, _schema({"audio_sample_rate": 8000}))
    old.open()
    for vid in ("a", "b", "gone"):
        old.add(_row(vid, score=0.0))
    old.finish()
    with pytest.raises(KeyboardInterrupt), ResumableParquetWriter(out, _schema(), flush_rows=1) as writer:
        writer.open(overwrite=True)
        for vid in ("a", "b")[:rows_before_the_interrupt]:
            writer.add(_row(vid, score=2.0))
        raise KeyboardInterrupt
    resumed = ResumableParquetWriter(out, _schema())
    assert resumed.finished_statuses() is None  # not "every video finished"
    assert "/in/gone.mp4" not in resumed.earlier_ids()
    assert resumed.open() == {vid: "ok" for vid in ("a", "b")[:rows_before_the_interrupt]}
    for vid in ("a", "b")[rows_before_the_interrupt:]:
        resumed.add(_row(vid, score=2.0))
    assert resumed.finish() == 2
    table = pq.read_table(out)
    assert table["video_id"].to_pylist() == ["a", "b"] and table["score"].to_pylist() == [2.0, 2.0]
    assert not parts_dir_for(out).exists()
    again = ResumableParquetWriter(out, _schema())  # the marker went with the parts
    assert again.open() == {"a": "ok", "b": "ok"}
    again.close()


def test_write_row_groups_regroups_the_tables_as_they_come(tmp_path: Path) -> None:
    """Row groups of ``row_group_rows`` rows whatever the tables' sizes (the last shorter), the
    rows in order; a table is taken from the iterator only after the previous is written or
    held; no rows still give a readable file."""
    from reelsense.pipeline import write_row_groups

    schema = pa.schema([("x", pa.int64())], metadata={b"k": b"v"})
    taken: list[int] = []

    def tables():  # type: ignore[no-untyped-def]
        start = 0
        for size in (5, 0, 7, 3, 1):
            taken.append(size)
            yield pa.table({"x": list(range(start, start + size))}, schema=schema)
            start += size

    out = tmp_path / "out.parquet"
    assert write_row_groups(out, schema, tables(), row_group_rows=4) == 16
    meta = pq.ParquetFile(out).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [4, 4, 4, 4]
    assert pq.read_table(out)["x"].to_pylist() == list(range(16))
    assert pq.read_schema(out).metadata[b"k"] == b"v" and taken == [5, 0, 7, 3, 1]
    empty = tmp_path / "empty.parquet"
    assert write_row_groups(empty, schema, iter(()), row_group_rows=4) == 0
    assert pq.read_table(empty).num_rows == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.parquet", "out.parquet"]


def test_a_consolidated_source_holds_nothing_once_its_rows_are_taken(tmp_path: Path) -> None:
    """Consolidation streams each sorted part: once a source's last row is taken, neither its
    Parquet reader (which keeps buffers of several times a batch while open) nor the taken
    rows stay allocated, so finished parts do not add up to the whole output."""
    from reelsense.pipeline._writer import _SortedSource

    schema = pa.schema([pa.field("video_id", pa.string()), pa.field("v", pa.list_(pa.float32(), 256))])
    sources = []
    for k in range(4):
        ids = [f"v{k}-{i:03d}" for i in range(64)]
        values = np.arange(64 * 256, dtype=np.float32) + k
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(values), 256)
        pq.write_table(pa.table([pa.array(ids), vectors], schema=schema), tmp_path / f"part-{k}.parquet")
        sources.append(_SortedSource(tmp_path / f"part-{k}.parquet", np.array(ids, dtype=object), schema, 48))
    import gc

    gc.collect()  # what earlier tests left is freed before, not during, the count
    before = pa.total_allocated_bytes()
    for k, source in enumerate(sources):
        first = source.take(list(range(0, 40)))
        rest = source.take(list(range(40, 64)))
        got = pa.concat_tables([first, rest])
        assert got["video_id"].to_pylist() == [f"v{k}-{i:03d}" for i in range(64)]
        assert got["v"][63].as_py()[0] == 63 * 256 + k
        del first, rest, got
        # the source itself keeps neither its reader nor a row (the allocator's count below is
        # process-wide; these are its own)
        assert source._batches is None and source._buffer.num_rows == 0
    assert pa.total_allocated_bytes() <= before
