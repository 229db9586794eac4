"""The batch engine (run_job, local engine) end to end on generated media: rows, errors, resume,
retry, stages, crashes."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline_media import BAD_IDS, GOOD_IDS

import faults
from media import write_video
from reelsense.errors import OutputError, ParameterError
from reelsense.featurize._audio_stages import AudioDescriptorStage
from reelsense.io import DecodedMedia, FrameSampling
from reelsense.pipeline import (
    EmbedSummary,
    FeatureStage,
    JobSpec,
    ProgressEvent,
    RunConfig,
    StageItem,
    _local,
    finished_summary,
    plan_job,
    run_job,
)
from reelsense.pipeline._writer import parts_dir_for

_SPEC_FIELDS = ("frames", "limit_duration_seconds", "audio_sample_rate")


@dataclass(frozen=True)
class EmbedConfig:
    """Run options and the decoding part of a job spec, in one place for these tests."""

    run: RunConfig
    spec: dict[str, Any]

    def __init__(self, **options: Any) -> None:
        spec = {k: options.pop(k) for k in _SPEC_FIELDS if k in options}
        if "batch_size" in options:
            options["batch_videos"] = options.pop("batch_size")
        object.__setattr__(self, "run", RunConfig(**options))
        object.__setattr__(self, "spec", spec)


def embed_videos(
    inputs: Sequence[Any],
    output: Path,
    config: EmbedConfig | None = None,
    *,
    feature_stages: Sequence[FeatureStage] = (),
    executor: Any = None,
    progress: Any = None,
) -> EmbedSummary:
    """The engine with the audio descriptors as its worker stage (what ``--preset none`` runs)."""
    config = config or EmbedConfig()
    spec = JobSpec((AudioDescriptorStage(),), tuple(feature_stages), **config.spec)
    return run_job(inputs, output, spec, config.run, executor=executor, progress=progress)


ALL_IDS = sorted(GOOD_IDS + BAD_IDS)


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


@pytest.fixture
def work_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "work.log"
    monkeypatch.setenv("REELSENSE_WORK_LOG", str(log))
    return log


def _logged(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    return {r["video_id"]: r for r in pq.read_table(path).to_pylist()}


def _copy_batch(batch_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(batch_dir, tmp_path / "in"))


def test_rows_for_good_and_bad_files(batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor) -> None:
    out = tmp_path / "out.parquet"
    events: list[ProgressEvent] = []
    summary = embed_videos([batch_dir], out, EmbedConfig(workers=2), executor=threads, progress=events.append)
    assert (summary.found, summary.processed, summary.ok, summary.errors, summary.skipped, summary.rows) == (
        8,
        8,
        6,
        2,
        0,
        8,
    )
    assert events[0] == ProgressEvent(0, 8, 0, 0, 0, None)
    assert [e.done for e in events[1:]] == list(range(1, 9))
    assert {vid for vid, _ in summary.error_examples} == set(BAD_IDS)
    assert len(summary.examples) == 6

    rows = _rows(out)
    assert sorted(rows) == ALL_IDS
    assert all(rows[v]["status"] == "ok" and rows[v]["error"] is None for v in GOOD_IDS)
    assert (
        "file is empty" in rows["empty"]["error"] and str(batch_dir / "empty.mp4") in rows["empty"]["error"]
    )
    assert rows["text"]["status"] == "error" and "text.mp4" in rows["text"]["error"]
    assert rows["empty"]["file_size_bytes"] == 0 and rows["empty"]["duration_seconds"] is None

    info = rows["sidecar-id"]
    assert info["path"] == str(batch_dir / "withinfo.mp4")
    assert info["hashtags"] == ["fyp", "dance"] and info["tags"] == ["fyp", "dance"]
    assert info["timestamp"].timestamp() == 1730374643 and info["uploader"] == "misty.nomad"
    assert info["sidecar_source"] == "info.json" and (info["width"], info["height"]) == (72, 128)
    assert rows["clip1"]["caption"] == "a caption #Café #猫 with @someone"
    assert (rows["clip1"]["hashtags"], rows["clip1"]["mentions"]) == (["Café", "猫"], ["someone"])
    assert rows["clip0"]["sidecar_source"] is None and rows["clip0"]["hashtags"] == []

    rotated = rows["nested/clip3"]  # 64x112 upright, stored turned by 90 degrees, no audio
    assert (rotated["width"], rotated["height"], rotated["rotation_degrees"]) == (64, 112, 90)
    assert rotated["has_audio"] is False and rotated["audio_loudness_lufs"] is None
    assert rows["nested/clip2"]["container"] == "webm" and rows["nested/clip2"]["video_codec"] == "vp8"
    song = rows["song"]
    assert song["has_video"] is False and song["duration_seconds"] == pytest.approx(2.5, abs=0.05)
    assert song["audio_duration_seconds"] == pytest.approx(2.5, abs=0.05)
    # the tone clip (440 Hz at amplitude 0.5 in tests/media.py): centroid ~440 Hz, RMS ~-9 dBFS
    # (not the peak: AAC overshoots where the tone stops)
    assert rows["clip1"]["audio_spectral_centroid_hz"] == pytest.approx(440, rel=0.05)
    assert rows["clip1"]["audio_rms_dbfs"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.5)


def test_output_reads_in_pandas_pyarrow_duckdb(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor
) -> None:
    out = tmp_path / "out.parquet"
    embed_videos([batch_dir], out, EmbedConfig(workers=2), executor=threads)
    df = pd.read_parquet(out)
    assert len(df) == 8 and df["video_id"].is_unique
    assert str(df["timestamp"].dtype).startswith("datetime64") and str(df["timestamp"].dt.tz) == "UTC"
    assert df.loc[df.video_id == "sidecar-id", "timestamp"].iloc[0] == pd.Timestamp(
        1730374643, unit="s", tz="UTC"
    )
    assert list(df.loc[df.video_id == "clip1", "hashtags"].iloc[0]) == ["Café", "猫"]
    assert df["audio_loudness_lufs"].dtype == np.float64
    assert pq.ParquetFile(out).metadata.num_rows == 8
    duckdb = pytest.importorskip("duckdb")
    ((count, oks),) = duckdb.sql(
        f"SELECT count(*), count(*) FILTER (WHERE status = 'ok') FROM read_parquet('{out}')"
    ).fetchall()
    assert (count, oks) == (8, 6)


def test_resume_skips_finished_and_adds_new(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor, work_log: Path
) -> None:
    src = _copy_batch(batch_dir, tmp_path)
    out = tmp_path / "out.parquet"
    embed_videos([src], out, EmbedConfig(workers=2), executor=threads)
    assert sorted(_logged(work_log)) == ALL_IDS
    before = out.read_bytes()

    summary = embed_videos([src], out, EmbedConfig(workers=2), executor=threads)
    assert (summary.processed, summary.skipped, summary.rows) == (0, 8, 8)
    assert sorted(_logged(work_log)) == ALL_IDS  # nothing recomputed
    assert out.read_bytes() == before  # and the output is not even rewritten

    write_video(src / "late.mp4", duration_seconds=0.5)
    summary = embed_videos([src], out, EmbedConfig(workers=2), executor=threads)
    assert (summary.processed, summary.skipped, summary.rows) == (1, 8, 9)
    assert sorted(_logged(work_log)) == sorted([*ALL_IDS, "late"])
    assert sorted(_rows(out)) == sorted([*ALL_IDS, "late"])


def test_an_input_added_later_never_changes_a_written_id(
    tmp_path: Path, threads: ThreadPoolExecutor, work_log: Path
) -> None:
    """A file added in another folder claims the id of a row already written: the written file
    keeps it and the new one is renamed (the written file was given a new id, recomputed and
    written twice)."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write_video(first / "x.mp4", duration_seconds=0.5)
    write_video(first / "y.mp4", duration_seconds=0.5)
    out = tmp_path / "out.parquet"
    embed_videos([first], out, EmbedConfig(workers=1), executor=threads)
    write_video(second / "x.mp4", duration_seconds=0.5, seed=3)
    summary = embed_videos([first, second], out, EmbedConfig(workers=1), executor=threads)
    assert (summary.processed, summary.skipped, summary.rows) == (1, 2, 3)
    rows = _rows(out)
    assert sorted(rows) == ["x", "x.mp4", "y"]
    assert rows["x"]["path"].endswith("a/x.mp4") and rows["x.mp4"]["path"].endswith("b/x.mp4")
    assert sorted(_logged(work_log)) == ["x", "x.mp4", "y"]  # nothing computed twice


def test_a_resume_warns_about_a_file_replaced_under_its_id(
    tmp_path: Path, threads: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    """A file replaced by one of another size keeps its old row on a resume (nothing compares
    contents): the resume says so, naming the file and --overwrite."""
    src = tmp_path / "in"
    src.mkdir()
    write_video(src / "x.mp4", duration_seconds=0.5)
    write_video(src / "y.mp4", duration_seconds=0.5)
    out = tmp_path / "out.parquet"
    embed_videos([src], out, EmbedConfig(workers=1), executor=threads)
    with caplog.at_level("WARNING", logger="reelsense.pipeline._plan"):
        embed_videos([src], out, EmbedConfig(workers=1), executor=threads)
    assert "changed size" not in caplog.text
    write_video(src / "x.mp4", duration_seconds=1.0, seed=3)
    with caplog.at_level("WARNING", logger="reelsense.pipeline._plan"):
        summary = embed_videos([src], out, EmbedConfig(workers=1), executor=threads)
    assert (summary.processed, summary.skipped) == (0, 2)  # the old row is kept
    assert "1 file(s) changed size since their rows were written" in caplog.text
    assert "x.mp4" in caplog.text and "--overwrite" in caplog.text


def _one_video_job(tmp_path: Path) -> tuple[Path, Path, JobSpec, RunConfig]:
    """A folder ``in/`` holding ``x.mp4``, the output ``out.parquet`` beside it, an audio-descriptor
    job and a one-worker run."""
    src = tmp_path / "in"
    src.mkdir()
    write_video(src / "x.mp4", duration_seconds=0.5)
    return src, tmp_path / "out.parquet", JobSpec((AudioDescriptorStage(),)), RunConfig(workers=1)


def test_one_plan_serves_finished_summary_and_run_job(
    tmp_path: Path, threads: ThreadPoolExecutor, work_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume planned once (plan_job) and handed to finished_summary, then to run_job: the
    sidecars are read and the output's ids and statuses noted once, the rows are those a run
    that plans by itself writes."""
    import reelsense.pipeline._plan as plan_module

    src, out, spec, run = _one_video_job(tmp_path)
    run_job([src], out, spec, run, executor=threads)
    write_video(src / "y.mp4", duration_seconds=0.5)
    reads: list[str] = []
    read_sidecar = plan_module.read_sidecar

    def counted(video: Any, **options: Any) -> Any:
        reads.append(Path(video).name)
        return read_sidecar(video, **options)

    monkeypatch.setattr(plan_module, "read_sidecar", counted)
    plan = plan_job([src], out, run)
    assert [p.item.video_id for p in plan.videos] == ["x", "y"]
    assert plan.finished == {"x": "ok"} and plan.manifest is None and plan.seconds >= 0
    assert finished_summary([src], out, run, plan=plan) is None  # y is left to do
    summary = run_job([src], out, spec, run, executor=threads, plan=plan)
    assert sorted(reads) == ["x.mp4", "y.mp4"]  # once each, by plan_job
    assert (summary.found, summary.processed, summary.skipped, summary.rows) == (2, 1, 1, 2)
    assert sorted(_logged(work_log)) == ["x", "y"]

    reads.clear()
    plan = plan_job([src], out, run)
    done = finished_summary([src], out, run, plan=plan)
    assert done is not None and (done.found, done.skipped, done.processed, done.rows) == (2, 2, 0, 2)
    assert [r["video_id"] for r in done.examples] == ["x", "y"]
    assert sorted(reads) == ["x.mp4", "y.mp4"]


def test_a_plan_for_another_job_is_refused(tmp_path: Path, threads: ThreadPoolExecutor) -> None:
    """A plan holds the ids and statuses of one output, found with one set of options: given
    for another output, inputs, engine or finding options it is refused before anything is
    written."""
    src, out, spec, run = _one_video_job(tmp_path)
    plan = plan_job([src], out, run)
    assert plan_job([src], out, replace(run, overwrite=True)).finished is None
    for inputs, output, other in (
        ([src], tmp_path / "other.parquet", run),
        ([src, src], out, run),
        ([src], out, replace(run, extensions=(".webm",))),
        ([src], out, replace(run, overwrite=True)),
    ):
        with pytest.raises(ParameterError, match="the job plan was made for another job"):
            run_job(inputs, output, spec, other, executor=threads, plan=plan)
    with pytest.raises(ParameterError, match="its engine"):
        finished_summary([src], out, run, engine="ray", plan=plan)
    assert not out.exists() and not (tmp_path / "other.parquet").exists()
    summary = run_job([src], out, spec, replace(run, workers=2), executor=threads, plan=plan)
    assert (summary.found, summary.processed, summary.rows) == (1, 1, 1)  # workers do not shape a plan


def test_plan_job_takes_the_loaded_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """plan_job uses a manifest already loaded (the resume check loads it to compare its
    content) instead of loading it again, and refuses one that is not the run's."""
    from reelsense.io import Manifest

    src = tmp_path / "in"
    src.mkdir()
    write_video(src / "x.mp4", duration_seconds=0.5)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "x", "caption": "from the manifest"}) + "\n", encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "x", "caption": "another"}) + "\n", encoding="utf-8")
    run = RunConfig(workers=1, manifest=str(manifest))
    loaded = Manifest.load(manifest)
    loads: list[str] = []
    load = Manifest.load

    def counted(cls: type[Manifest], path: Any) -> Manifest:
        loads.append(str(path))
        return load(path)

    monkeypatch.setattr(Manifest, "load", classmethod(counted))
    plan = plan_job([src], run=run, manifest=loaded)
    assert plan.manifest is loaded and loads == []
    assert plan.videos[0].sidecar is not None and plan.videos[0].sidecar.caption == "from the manifest"
    assert plan_job([src], run=run).manifest is not None and loads == [str(manifest)]
    with pytest.raises(ParameterError, match="is not the run's"):
        plan_job([src], run=run, manifest=load(other))
    with pytest.raises(ParameterError, match="is not the run's"):
        plan_job([src], run=RunConfig(workers=1), manifest=loaded)


def test_retry_errors_recomputes_error_rows_only(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor, work_log: Path
) -> None:
    src = _copy_batch(batch_dir, tmp_path)
    out = tmp_path / "out.parquet"
    embed_videos([src], out, EmbedConfig(workers=2), executor=threads)
    work_log.unlink()
    write_video(src / "empty.mp4", duration_seconds=0.5)  # the broken file gets fixed
    summary = embed_videos([src], out, EmbedConfig(workers=2, retry_errors=True), executor=threads)
    assert sorted(_logged(work_log)) == sorted(BAD_IDS)
    assert (summary.processed, summary.ok, summary.errors, summary.skipped, summary.rows) == (2, 1, 1, 6, 8)
    rows = _rows(out)
    assert len(rows) == 8 and rows["empty"]["status"] == "ok" and rows["text"]["status"] == "error"


def test_a_resume_counts_the_error_rows_it_keeps(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor
) -> None:
    """A resume skips the error rows of an earlier run unless asked to retry them, and says
    how many it kept: with nothing to do, with new videos, and none when retrying."""
    src = _copy_batch(batch_dir, tmp_path)
    out = tmp_path / "out.parquet"
    first = embed_videos([src], out, EmbedConfig(workers=2), executor=threads)
    assert (first.errors, first.kept_errors) == (len(BAD_IDS), 0)
    idle = embed_videos([src], out, EmbedConfig(workers=2), executor=threads)
    assert (idle.processed, idle.skipped, idle.kept_errors) == (0, 8, len(BAD_IDS))
    write_video(src / "late.mp4", duration_seconds=0.5)
    more = embed_videos([src], out, EmbedConfig(workers=2), executor=threads)
    assert (more.processed, more.skipped, more.kept_errors) == (1, 8, len(BAD_IDS))
    retried = embed_videos([src], out, EmbedConfig(workers=2, retry_errors=True), executor=threads)
    assert (retried.processed, retried.errors, retried.kept_errors) == (len(BAD_IDS), len(BAD_IDS), 0)


def test_overwrite_recomputes_everything(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor, work_log: Path
) -> None:
    out = tmp_path / "out.parquet"
    embed_videos([batch_dir], out, EmbedConfig(workers=2), executor=threads)
    summary = embed_videos([batch_dir], out, EmbedConfig(workers=2, overwrite=True), executor=threads)
    assert (summary.processed, summary.skipped, summary.rows) == (8, 0, 8)
    assert sorted(_logged(work_log)) == sorted(ALL_IDS * 2)


def test_config_mismatch_refused(batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor) -> None:
    out = tmp_path / "out.parquet"
    embed_videos([batch_dir], out, EmbedConfig(workers=2), executor=threads)
    before = out.read_bytes()
    with pytest.raises(OutputError, match=r"limit_duration_seconds: None -> 1\.0.*--overwrite"):
        embed_videos([batch_dir], out, EmbedConfig(workers=2, limit_duration_seconds=1.0), executor=threads)
    assert out.read_bytes() == before
    # workers, extensions and the inputs do not shape rows: a resume may change them
    summary = embed_videos([batch_dir], out, EmbedConfig(workers=1, extensions=("mp4",)), executor=threads)
    assert summary.found == 5 and summary.skipped == 5 and summary.processed == 0


def test_manifest_captions_and_digest(batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor) -> None:
    manifest = tmp_path / "captions.csv"
    manifest.write_text(
        "path,caption,timestamp,uploader\n"
        f"{batch_dir / 'clip0.mp4'},hello #Manifest,2024-10-31T11:37:23Z,ann\n"
        "clip1.mp4,ignored: clip1 has a .txt caption,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.parquet"
    embed_videos([batch_dir], out, EmbedConfig(workers=2, manifest=str(manifest)), executor=threads)
    rows = _rows(out)
    assert (rows["clip0"]["caption"], rows["clip0"]["hashtags"], rows["clip0"]["uploader"]) == (
        "hello #Manifest",
        ["Manifest"],
        "ann",
    )
    assert rows["clip0"]["sidecar_source"] == "manifest"
    assert rows["clip0"]["timestamp"].timestamp() == 1730374643
    assert rows["clip1"]["sidecar_source"] == "txt"
    manifest.write_text("path,caption\nclip0.mp4,changed\n", encoding="utf-8")
    with pytest.raises(OutputError, match="manifest_sha256"):
        embed_videos([batch_dir], out, EmbedConfig(workers=2, manifest=str(manifest)), executor=threads)


def test_malformed_sidecar_keeps_video_with_warning(tmp_path: Path, threads: ThreadPoolExecutor) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_video(src / "v.mp4", duration_seconds=0.5)
    (src / "v.info.json").write_text('{"id": "x", ', encoding="utf-8")
    (src / "v.txt").write_text("fallback caption #ok", encoding="utf-8")
    out = tmp_path / "out.parquet"
    embed_videos([src], out, EmbedConfig(workers=1), executor=threads)
    row = _rows(out)["v"]
    assert (
        row["status"] == "ok" and row["caption"] == "fallback caption #ok" and row["sidecar_source"] == "txt"
    )
    assert (
        len(row["warnings"]) == 1
        and "v.info.json" in row["warnings"][0]
        and "malformed" in row["warnings"][0]
    )


def test_a_wrong_typed_sidecar_field_is_dropped_with_a_warning_in_the_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from reelsense.pipeline._plan import plan_videos

    (tmp_path / "v.mp4").write_bytes(b"")  # planning reads no media
    info = {"id": ["x"], "description": "kept #tag", "tags": "a,b", "uploader": "ann"}
    (tmp_path / "v.info.json").write_text(json.dumps(info), encoding="utf-8")
    with caplog.at_level("WARNING"):
        (planned,) = plan_videos([tmp_path])
    columns = planned.base_columns()
    assert planned.item.video_id == "v"  # the video keeps its default id, and says so
    assert (columns["caption"], columns["hashtags"], columns["uploader"]) == ("kept #tag", ["tag"], "ann")
    id_note, tags_note = columns["warnings"]
    assert "field 'id'" in id_note and "keeps the id it has without a sidecar" in id_note
    assert "field 'tags'" in tags_note and "'a,b'" in tags_note
    assert caplog.text.count(id_note) == caplog.text.count(tags_note) == 1  # logged once, not twice


def test_limit_duration(tmp_path: Path, batch_dir: Path, threads: ThreadPoolExecutor) -> None:
    out = tmp_path / "out.parquet"
    embed_videos([batch_dir / "song.flac"], out, EmbedConfig(limit_duration_seconds=1.0), executor=threads)
    song = _rows(out)["song"]
    assert song["duration_seconds"] == pytest.approx(2.5, abs=0.05)  # what the file holds
    assert song["audio_duration_seconds"] == pytest.approx(1.0, abs=0.01)  # what was analysed


def test_id_collision_across_roots(tmp_path: Path, threads: ThreadPoolExecutor) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        write_video(tmp_path / sub / "x.mp4", duration_seconds=0.5)
    # the clash is resolved with stable path digests and a warning; the batch goes on
    summary = embed_videos([tmp_path / "a", tmp_path / "b"], tmp_path / "o.parquet", executor=threads)
    assert (summary.found, summary.ok) == (2, 2)
    ids = sorted(_rows(tmp_path / "o.parquet"))
    assert len(ids) == 2 and all(re.fullmatch(r"x\.mp4~[0-9a-f]{8}", i) for i in ids)


# --------------------------------------------------------------------------- feature stages


@dataclass
class MeanColourStage:
    """A real batched stage: the mean RGB of each video's sampled frames, computed per batch."""

    fail_on: str | None = None
    batch_sizes: list[int] = field(default_factory=list)
    name: str = "mean_colour"
    version: int = 1
    needs_audio: bool = False
    needs_frames: bool = True

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return (pa.field("mean_rgb", pa.list_(pa.float32(), 3)), pa.field("frames_seen", pa.int32()))

    def options(self) -> dict[str, Any]:
        return {}

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        self.batch_sizes.append(len(items))
        if any(item.video_id == self.fail_on for item in items):
            raise RuntimeError(f"cannot handle {self.fail_on}")
        out = []
        for item in items:
            media: DecodedMedia = item.media
            if media.frames is None:
                out.append({"mean_rgb": None, "frames_seen": 0})
                continue
            mean = media.frames.frames.reshape(-1, 3).mean(axis=0)
            out.append({"mean_rgb": mean.astype(np.float32).tolist(), "frames_seen": len(media.frames)})
        return out


def test_feature_stage_batches_in_main_process(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor
) -> None:
    stage = MeanColourStage()
    config = EmbedConfig(workers=2, batch_size=4, frames=FrameSampling("count", count=2, max_side=32))
    out = tmp_path / "out.parquet"
    summary = embed_videos([batch_dir], out, config, feature_stages=[stage], executor=threads)
    assert summary.ok == 6 and sorted(stage.batch_sizes) == [2, 4]  # 6 ok videos, batches of 4
    rows = _rows(out)
    assert rows["clip0"]["frames_seen"] == 2 and len(rows["clip0"]["mean_rgb"]) == 3
    assert rows["song"]["frames_seen"] == 0 and rows["song"]["mean_rgb"] is None
    assert rows["empty"]["frames_seen"] is None  # error rows never reach the stage
    meta = json.loads(pq.read_schema(out).metadata[b"reelsense.config"])
    assert meta["feature_stages"] == [{"name": "mean_colour", "version": 1, "options": {}}]
    assert meta["frames"]["strategy"] == "count"


@dataclass
class SeenMediaStage:
    """A stage that records which parts of each video's media reached it."""

    needs_audio: bool
    needs_frames: bool
    seen: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    name: str = "seen"
    version: int = 1

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return ()

    def options(self) -> dict[str, Any]:
        return {}

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        for item in items:
            self.seen[item.video_id] = (item.media.audio is not None, item.media.frames is not None)
        return [{} for _ in items]


@pytest.mark.parametrize("needs", [(False, True), (True, False), (True, True)])
def test_workers_hand_on_only_the_media_the_feature_stages_need(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor, needs: tuple[bool, bool]
) -> None:
    """The audio is decoded for the worker stage either way; it reaches the feature stages only
    when one of them needs it (and the frames likewise)."""
    stage = SeenMediaStage(*needs)
    config = EmbedConfig(workers=2, frames=FrameSampling("count", count=1, max_side=32))
    summary = embed_videos(
        [batch_dir], tmp_path / "o.parquet", config, feature_stages=[stage], executor=threads
    )
    assert summary.ok == 6
    has_audio = {"clip0", "clip1", "nested/clip2", "sidecar-id", "song"}  # clip3 has none
    has_frames = {"clip0", "clip1", "nested/clip2", "nested/clip3", "sidecar-id"}  # song is audio only
    want_audio, want_frames = needs
    assert stage.seen == {
        vid: (want_audio and vid in has_audio, want_frames and vid in has_frames) for vid in stage.seen
    }
    assert len(stage.seen) == 6
    assert _rows(tmp_path / "o.parquet")["song"]["audio_rms_dbfs"] is not None  # the worker stage had it


def test_feature_stage_failure_isolated_to_one_item(
    batch_dir: Path, tmp_path: Path, threads: ThreadPoolExecutor
) -> None:
    stage = MeanColourStage(fail_on="clip1")
    config = EmbedConfig(workers=2, batch_size=8, frames=FrameSampling("count", count=1, max_side=32))
    out = tmp_path / "out.parquet"
    summary = embed_videos([batch_dir], out, config, feature_stages=[stage], executor=threads)
    rows = _rows(out)
    assert rows["clip1"]["status"] == "error" and "cannot handle clip1" in rows["clip1"]["error"]
    assert all(rows[v]["status"] == "ok" for v in GOOD_IDS if v != "clip1")
    assert summary.ok == 5 and summary.errors == 3
    assert stage.batch_sizes[0] == 6 and stage.batch_sizes[1:] == [1] * 6  # batch, then one by one


def test_stage_needing_frames_requires_frame_sampling(batch_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="need frames"):
        embed_videos([batch_dir], tmp_path / "o.parquet", feature_stages=[MeanColourStage()])


# --------------------------------------------------------------------------- real worker processes


@pytest.mark.slow
def test_worker_crash_becomes_error_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker process dying on one video (like a decoder segfault) costs that row only."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        write_video(src / f"{name}.mp4", duration_seconds=0.5)
    monkeypatch.setenv("REELSENSE_TEST_FAULTS", json.dumps({"crash_ids": ["b"]}))
    out = tmp_path / "out.parquet"
    summary = embed_videos([src], out, EmbedConfig(workers=1))
    rows = _rows(out)
    assert sorted(rows) == ["a", "b", "c"]
    assert rows["b"]["status"] == "error" and "worker process died" in rows["b"]["error"]
    assert rows["a"]["status"] == rows["c"]["status"] == "ok"
    assert (summary.ok, summary.errors) == (2, 1)
    assert not parts_dir_for(out).exists()


def test_a_pool_found_broken_when_submitting_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies while the main process is busy (the models, the writer) is noticed
    by the next ``submit``, not by a future: the pool is replaced and every video still gets
    its row (the whole job stopped with BrokenProcessPool)."""
    import queue
    from concurrent.futures.process import BrokenProcessPool

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        write_video(src / f"{name}.mp4", duration_seconds=0.5)
    pools: list[Any] = []

    class Pool:  # runs items in this process; the first pool breaks at its second submit
        def __init__(self) -> None:
            self.submits = 0
            pools.append(self)

        def submit(self, fn: Any, *args: Any) -> Future[Any]:
            self.submits += 1
            if len(pools) == 1 and self.submits > 1:
                raise BrokenProcessPool("a child process terminated abruptly")
            future: Future[Any] = Future()
            future.set_result(fn(*args))
            return future

        def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
            pass

    def new_pool(engine: Any) -> Pool:
        engine._starts, engine._start_times = queue.SimpleQueue(), {}  # no start reports
        return Pool()

    monkeypatch.setattr(_local.LocalEngine, "_new_pool", new_pool)
    out = tmp_path / "out.parquet"
    summary = embed_videos([src], out, EmbedConfig(workers=1))
    rows = _rows(out)
    assert sorted(rows) == ["a", "b", "c"] and all(r["status"] == "ok" for r in rows.values())
    assert (summary.ok, summary.errors, len(pools)) == (3, 0, 2)


@pytest.mark.slow
def test_hung_video_times_out_and_the_batch_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A video whose decoder hangs is killed once over video_timeout_seconds, re-run alone,
    and becomes an error row; the videos in flight beside it are re-run and finish ok."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c", "d"):
        write_video(src / f"{name}.mp4", duration_seconds=0.5)
    faults.hang(monkeypatch, ["b"])  # hangs for good; over the limit whatever the load (tests/faults.py)
    out = tmp_path / "out.parquet"
    summary = embed_videos([src], out, EmbedConfig(workers=2, video_timeout_seconds=600.0))
    rows = _rows(out)
    assert sorted(rows) == ["a", "b", "c", "d"]
    assert rows["b"]["status"] == "error" and "timed out" in rows["b"]["error"]
    assert "600 s" in rows["b"]["error"]
    assert all(rows[v]["status"] == "ok" for v in "acd")
    assert (summary.ok, summary.errors) == (3, 1)


def test_a_video_is_over_the_limit_counting_from_when_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time-limit decision on a fake clock: a video's clock starts when its worker
    reports starting it (not when it is queued), and it is over the limit only past it."""
    now = [100.0]
    monkeypatch.setattr(_local, "time", SimpleNamespace(monotonic=lambda: now[0]))
    first, second = Future[Any](), Future[Any]()
    pending: dict[Future[Any], Any] = {first: "first", second: "second"}
    started: dict[Future[Any], float] = {first: 100.0}  # the worker's report

    def over(limit: float | None = 10.0) -> list[Any]:
        return _local.LocalEngine._stuck(pending, started, limit)

    assert over() == []
    now[0] = 105.0
    started[second] = 105.0
    assert over() == []
    now[0] = 110.0
    assert over() == []  # at the limit is not over it
    now[0] = 110.5
    assert over() == ["first"]
    now[0] = 115.5
    assert over() == ["first", "second"]
    assert over(None) == []  # no limit


def test_workers_report_when_they_start_an_item(tmp_path: Path) -> None:
    """The clock of a video starts in its worker: the report carries the worker's time."""
    import multiprocessing as mp
    import time

    from reelsense.pipeline._worker import DecodeRequest, WorkItem, process_item, report_starts_to

    queue = mp.get_context("spawn").SimpleQueue()
    report_starts_to(queue)
    try:
        before = time.monotonic()
        process_item(
            WorkItem("x", str(tmp_path / "missing.mp4")), DecodeRequest(None, None, None, _limits()), ()
        )
        video_id, when = queue.get()
        assert video_id == "x" and before <= when <= time.monotonic()
    finally:
        report_starts_to(None)


def _limits() -> Any:
    from reelsense.io import DecodeLimits

    return DecodeLimits()


def test_video_timeout_must_be_positive() -> None:
    with pytest.raises(ParameterError, match="video_timeout_seconds=0"):
        EmbedConfig(video_timeout_seconds=0)


def test_a_file_as_the_ray_output_is_refused_before_ray_starts(
    batch_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelsense.pipeline import _ray

    def started(*args: object, **kwargs: object) -> None:
        pytest.fail("the Ray engine was started")

    monkeypatch.setattr(_ray, "RayEngine", started)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"a file")
    spec = JobSpec((AudioDescriptorStage(),), ())
    with pytest.raises(OutputError, match="is a file: the Ray engine writes a folder of shards"):
        run_job([batch_dir], out, spec, engine="ray")


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (True, r"limit_duration_seconds=True must be a number, got bool"),
        ("5", r"limit_duration_seconds='5' must be a number, got str"),
        (float("nan"), r"limit_duration_seconds=nan must be a finite number"),
        (0, r"limit_duration_seconds=0 must be > 0"),
    ],
)
def test_spec_limit_duration_is_a_positive_number(seconds: object, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        JobSpec((AudioDescriptorStage(),), limit_duration_seconds=seconds)  # type: ignore[arg-type]
    spec = JobSpec((AudioDescriptorStage(),), limit_duration_seconds=np.float32(1.5))  # type: ignore[arg-type]
    assert type(spec.limit_duration_seconds) is float
