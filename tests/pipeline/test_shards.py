"""The writer's shard layout (the Ray engine's output folder) without Ray: atomic shards, resume,
newest row wins."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reelsense.errors import OutputError
from reelsense.pipeline import OutputWriter, build_schema
from reelsense.pipeline._schema import rows_to_table
from reelsense.pipeline._writer import SHARD_PATTERN


def _schema(option: int = 1) -> pa.Schema:
    return build_schema(
        [pa.field("score", pa.float64())],
        config={"feature_stages": [{"name": "s", "version": 1, "options": {"o": option}}]},
        run={"engine": "ray"},
        extra_metadata={"reelsense.fusion": json.dumps({"dim": 8})},
    )


def _rows(ids: list[str], status: str = "ok", score: float = 1.0) -> list[dict]:
    return [
        {"video_id": vid, "status": status, "score": score, "hashtags": [], "warnings": []} for vid in ids
    ]


def _table(schema: pa.Schema, ids: list[str], status: str = "ok", score: float = 1.0) -> pa.Table:
    return rows_to_table(_rows(ids, status, score), schema)


def ShardFolder(directory: Path, schema: pa.Schema) -> OutputWriter:  # noqa: N802
    return OutputWriter(directory, schema, layout="shards")


def _write(folder: OutputWriter, table: pa.Table) -> Path:
    folder.add_table(table)
    (written,) = folder.flush()
    return written


def _all_rows(folder: Path) -> list[dict]:
    rows: list[dict] = []
    for shard in sorted(folder.iterdir()):
        if SHARD_PATTERN.match(shard.name):
            rows += pq.read_table(shard).to_pylist()
    return rows


def test_shards_are_whole_files_with_the_schema_and_metadata(tmp_path: Path) -> None:
    schema = _schema()
    with ShardFolder(tmp_path / "out", schema) as folder:
        assert folder.open() == {}
        first = _write(folder, _table(schema, ["a", "b"]))
        second = _write(folder, _table(schema, ["c"]))
        assert [p.name for p in folder.files()] == [first.name, second.name]  # oldest first
        assert sum(pq.ParquetFile(p).metadata.num_rows for p in folder.files()) == 3
        assert (tmp_path / "out" / ".reelsense.lock").exists()
    assert not (tmp_path / "out" / ".reelsense.lock").exists()
    read = pq.read_schema(first)
    assert read.metadata == schema.metadata and read.field("video_id").nullable is False
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([first.name, second.name])


def test_open_cleans_temporaries_and_returns_statuses(tmp_path: Path) -> None:
    schema = _schema()
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        _write(folder, _table(schema, ["a"], status="error"))
        _write(folder, _table(schema, ["b"]))
    (tmp_path / ".tmp-shard-x.parquet").write_bytes(b"half")
    with ShardFolder(tmp_path, schema) as folder:
        assert folder.open() == {"a": "error", "b": "ok"}
    assert not (tmp_path / ".tmp-shard-x.parquet").exists()


def test_newest_row_wins_and_old_shards_are_rewritten_or_deleted(tmp_path: Path) -> None:
    schema = _schema()
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        old = _write(folder, _table(schema, ["a", "b"], status="error", score=1.0))
        only_c = _write(folder, _table(schema, ["c"], status="error", score=1.0))
    # a later job (a newer stamp) recomputes b and c (retry_errors)
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        _write(folder, _table(schema, ["b", "c"], score=2.0))
        assert folder.finish() == 3
    rows = {r["video_id"]: r for r in _all_rows(tmp_path)}
    assert len(_all_rows(tmp_path)) == 3
    assert rows["a"]["score"] == 1.0 and rows["b"]["score"] == rows["c"]["score"] == 2.0
    assert old.exists() and not only_c.exists()  # rewritten without b; emptied, deleted
    assert pq.read_schema(old).metadata == schema.metadata


def test_overwrite_removes_the_shards(tmp_path: Path) -> None:
    schema = _schema()
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        _write(folder, _table(schema, ["a"]))
    (tmp_path / "notes.txt").write_text("mine")
    with ShardFolder(tmp_path, _schema(option=2)) as folder:
        assert folder.open(overwrite=True) == {}
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # other files are left alone


def test_other_files_that_break_a_read_of_the_folder_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pyarrow and pandas read every file of the folder whose name does not start with '.' or
    '_' (and recurse into sub-folders): a notes.txt makes `pq.read_table(folder)` fail. The
    job keeps such files (they are the user's) but says so when it opens the folder."""
    schema = _schema()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "old").mkdir()
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden").write_text("")
    with ShardFolder(tmp_path, schema) as folder, caplog.at_level("WARNING", logger="reelsense"):
        folder.open()
        _write(folder, _table(schema, ["a"]))
    warned = [r.getMessage() for r in caplog.records if "not shards" in r.getMessage()]
    assert len(warned) == 1 and "'notes.txt', 'old/'" in warned[0] and "_SUCCESS" not in warned[0]
    with pytest.raises(pa.ArrowInvalid):  # what the warning is about
        pq.read_table(tmp_path)
    caplog.clear()
    (tmp_path / "notes.txt").unlink()
    (tmp_path / "old").rmdir()
    with ShardFolder(tmp_path, schema) as folder, caplog.at_level("WARNING", logger="reelsense"):
        folder.open()
    assert not caplog.records and pq.read_table(tmp_path).num_rows == 1


def test_a_foreign_parquet_file_makes_the_folder_unfinished(tmp_path: Path) -> None:
    """A finished folder is not read as finished once a foreign Parquet file is in it, so a
    re-run with nothing left to do goes on to open() and is refused, as one with work is
    (before, `reelsense embed` said the output held its rows and exited 0)."""
    schema = _schema()
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        _write(folder, _table(schema, ["a"]))
        folder.finish()
    assert ShardFolder(tmp_path, schema).finished_statuses() == {"a": "ok"}
    pq.write_table(pa.table({"x": [1]}), tmp_path / "mine.parquet")
    assert ShardFolder(tmp_path, schema).finished_statuses() is None
    with pytest.raises(OutputError, match=r"not shards of this output \(mine.parquet\)"):
        ShardFolder(tmp_path, schema).open()


def test_refusals(tmp_path: Path) -> None:
    schema = _schema()
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        _write(folder, _table(schema, ["a"]))
        with pytest.raises(OutputError, match="being written by another process"):
            ShardFolder(tmp_path, schema).open()
    with pytest.raises(OutputError, match=r"different configuration \(feature_stages"):
        ShardFolder(tmp_path, _schema(option=2)).open()
    foreign = tmp_path / "shard-00000000000000000001-000001.parquet"
    pq.write_table(pa.table({"x": [1]}), foreign)
    with pytest.raises(OutputError, match="not written by reelsense embed"):
        ShardFolder(tmp_path, schema).open()
    a_file = tmp_path / "file.parquet"
    a_file.write_bytes(b"")
    with pytest.raises(OutputError, match="is a file"):
        ShardFolder(a_file, schema).open()
    with pytest.raises(OutputError, match="not open"):
        _write(ShardFolder(tmp_path / "new", schema), _table(schema, ["a"]))
    with ShardFolder(tmp_path / "new", schema) as folder:
        folder.open()
        with pytest.raises(OutputError, match="do not fit the output schema"):
            _write(folder, pa.table({"video_id": ["a"]}))


def test_ray_driver_writes_a_shard_while_it_waits_for_the_next_block(tmp_path: Path) -> None:
    """The Ray engine's driver loop (`_Ticker` + `writer.tick`): the rows that came back are
    written after `flush_seconds` even though the next block has not arrived; the second block
    only comes once that shard is on disk, and no id is written twice. The blocks are taken
    in the caller's thread (where an interrupt reaches Ray Data's iterator)."""
    import threading

    from reelsense.pipeline._ray import _Ticker

    schema = _schema()
    out = tmp_path / "out"
    on_disk = threading.Event()
    taken_in: list[threading.Thread] = []

    def blocks() -> Iterator[pa.Table]:
        taken_in.append(threading.current_thread())
        yield _table(schema, ["a", "b"])
        assert on_disk.wait(timeout=120), "no shard was written while waiting"
        yield _table(schema, ["c"])

    def tick() -> None:
        folder.tick()
        if folder.files():
            on_disk.set()

    with OutputWriter(out, schema, layout="shards", flush_rows=100, flush_seconds=0.5) as folder:
        folder.open()
        seen = []
        with _Ticker(folder.flush_seconds, tick) as ticker:
            for block in blocks():
                seen.append(block["video_id"].to_pylist())
                with ticker.holding():
                    if len(seen) == 1:
                        assert not folder.files()  # nothing written yet: the block is buffered
                    folder.add_table(block)
        folder.finish()
    assert seen == [["a", "b"], ["c"]] and taken_in == [threading.main_thread()]
    assert sorted(r["video_id"] for r in _all_rows(out)) == ["a", "b", "c"]
    assert [r["video_id"] for r in pq.read_table(sorted(folder.files())[0]).to_pylist()] == ["a", "b"]


def test_ray_driver_loop_raises_the_error_of_a_tick() -> None:
    """A tick that fails (a full disk while writing a shard) is raised in the driver's thread:
    by the next use of the writer, or when the loop ends."""
    import threading

    from reelsense.pipeline._ray import _Ticker

    def failing() -> tuple[threading.Event, Callable[[], None]]:
        failed = threading.Event()

        def tick() -> None:
            failed.set()
            raise OutputError("cannot write the shard")

        return failed, tick

    failed, tick = failing()
    with pytest.raises(OutputError, match="cannot write the shard"), _Ticker(0.01, tick) as ticker:
        assert failed.wait(timeout=120)
        with ticker.holding():
            raise AssertionError("the writer was used after a tick failed")
    failed, tick = failing()
    with pytest.raises(OutputError, match="cannot write the shard"), _Ticker(0.01, tick):
        assert failed.wait(timeout=120)


def test_a_lock_file_deleted_while_being_locked_is_not_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer that held the lock deletes its file when it finishes. A writer that opened
    the old file just before must not lock it (a third could then lock a new file at the
    path and two would write at once): it locks the file at the path."""
    import fcntl

    from reelsense.pipeline import _writer

    schema = _schema()
    real_flock = fcntl.flock
    lock_path = tmp_path / ".reelsense.lock"
    deleted: list[bool] = []

    def flock(fd: int, operation: int) -> None:
        if operation & fcntl.LOCK_EX and not deleted:  # the previous holder finishes now
            lock_path.unlink()
            deleted.append(True)
        real_flock(fd, operation)

    monkeypatch.setattr(_writer.fcntl, "flock", flock)
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        assert deleted and lock_path.exists()
        with pytest.raises(OutputError, match="being written by another process"):
            ShardFolder(tmp_path, schema).open()  # a third writer finds the lock held


def test_a_folder_with_other_parquet_files_is_refused(tmp_path: Path) -> None:
    """A read of the folder (``pq.read_table(folder)``, DuckDB's glob) would mix another
    table's rows in; other files may stay beside the shards."""
    schema = _schema()
    (tmp_path / "notes.txt").write_text("mine")
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        _write(folder, _table(schema, ["a"]))
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    refused = r"holds Parquet files that are not shards of this output \(other\.parquet\)"
    with pytest.raises(OutputError, match=refused):
        ShardFolder(tmp_path, schema).open()


def _count_listings(monkeypatch: pytest.MonkeyPatch, folder: Path) -> list[Path]:
    """The listings of ``folder`` from now on (``os.scandir`` and ``os.listdir``, under
    ``Path.iterdir`` and ``Path.glob`` too)."""
    import os

    listed: list[Path] = []

    def counted(real: Callable[..., object]) -> Callable[..., object]:
        def listing(path: object = ".") -> object:
            if not isinstance(path, int) and Path(path) == folder:  # type: ignore[arg-type]
                listed.append(folder)
            return real(path)

        return listing

    monkeypatch.setattr(os, "scandir", counted(os.scandir))
    monkeypatch.setattr(os, "listdir", counted(os.listdir))
    return listed


def test_planning_a_ray_job_lists_the_shard_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan_job read the ids, the file sizes and the statuses of the shards each from a listing
    of its own (four listings of the folder, which may hold thousands of shards)."""
    from reelsense.pipeline import RunConfig
    from reelsense.pipeline._plan import plan_job

    schema, out, videos = _schema(), tmp_path / "out", tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b"):
        (videos / f"{name}.mp4").write_bytes(b"")
    for status in ("error", "ok"):  # two runs, two shards: the newest row wins
        with ShardFolder(out, schema) as folder:
            folder.open()
            _write(folder, _table(schema, ["a"], status=status))
    listed = _count_listings(monkeypatch, out)
    plan = plan_job([videos], out, RunConfig(), engine="ray")
    assert len(listed) == 1
    assert plan.finished == {"a": "ok"}


def test_the_ray_run_info_counts_the_shards_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_job listed the shards for the summary, and RayEngine.info listed them again."""
    from types import SimpleNamespace

    from reelsense.pipeline._ray import RayEngine

    schema = _schema()
    with ShardFolder(tmp_path, schema) as folder:
        folder.open()
        _write(folder, _table(schema, ["a"]))
        files = folder.files()
        listed = _count_listings(monkeypatch, tmp_path)
        engine = SimpleNamespace(actors=2, gpus_per_actor=0.5, lost=0)
        info = RayEngine.info(engine, folder, files)  # type: ignore[arg-type]
    assert listed == [] and info.shards == 1 and info.shards_written == 1
