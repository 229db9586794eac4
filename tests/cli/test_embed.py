"""``reelsense embed`` through click's CliRunner, on generated media."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import faults
from media import write_audio, write_bytes, write_video
from music import make_notes, render
from reelsense.cli import main
from reelsense.fusion import MODALITIES


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "in"
    (root / "sub").mkdir(parents=True)
    write_video(root / "a.mp4", duration_seconds=1.0, audio="noise")
    write_video(root / "sub" / "b.webm", duration_seconds=1.0)
    write_bytes(root / "broken.mp4", b"")
    write_bytes(root / "notes.mp4", b"just text, not a video\n")
    info = {"id": "777", "description": "caption of a #Test @user", "timestamp": 1730374643, "uploader": "u"}
    (root / "a.info.json").write_text(json.dumps(info), encoding="utf-8")
    return root


def _invoke(*args: str) -> tuple[int, str]:
    """``reelsense embed ARGS --preset tiny`` unless a preset is given (tests never load real models)."""
    preset = [] if "--preset" in args or "--help" in args else ["--preset", "tiny"]
    result = CliRunner().invoke(main, ["embed", *args, *preset], catch_exceptions=False)
    return result.exit_code, result.output


def test_help_says_how_ray_rows_are_ordered() -> None:
    """A Ray folder is sorted shard by shard only (a resume adds shards): the help says so and
    how to sort, instead of promising rows sorted by video_id."""
    code, output = _invoke("--help")
    text = " ".join(output.split())
    assert code == 0
    assert "Rows are sorted by video_id (with --engine ray: within each shard)" in text
    assert "Each shard is sorted by video_id, the folder is not" in text
    assert "table.sort_by('video_id'), ORDER BY video_id" in text


def test_help_lists_options() -> None:
    code, output = _invoke("--help")
    assert code == 0
    for option in (
        "--output",
        "--workers",
        "--ext",
        "--manifest",
        "--overwrite",
        "--retry-errors",
        "--limit-duration",
        "--preset",
        "--device",
        "--precision",
        "--frames",
        "--sound-index",
        "--min-score",
        "--second-chance",
        "--discover-sounds",
        "--embedding-dim",
        "--frame-vectors",
        "--batch-size",
    ):
        assert option in output


def test_embed_then_resume_then_refuse(small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1")
    assert code == 1, output  # some files failed
    assert "4 videos found: 4 processed (2 ok, 2 errors), 0 already in the output" in output
    assert re.search(r"videos/s", output) and f"output: {out} (4 rows)" in output
    assert "broken: cannot decode" in output and "notes: cannot decode" in output
    assert "first rows:" in output and "#Test" in output  # the example table shows the hashtags
    rows = {r["video_id"]: r for r in pq.read_table(out).to_pylist()}
    assert sorted(rows) == ["777", "broken", "notes", "sub/b"]
    assert rows["777"]["hashtags"] == ["Test"] and rows["777"]["mentions"] == ["user"]

    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1")
    assert code == 0 and "0 processed (0 ok, 0 errors), 4 already in the output" in output
    assert "4 already in the output (2 of them errors: --retry-errors recomputes them)" in output
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1", "--retry-errors")
    assert code == 1 and "2 processed (0 ok, 2 errors)" in output, output  # as docs/cli.md says

    code, output = _invoke(str(small_dir), "-o", str(out), "--sample-rate", "16000")
    assert code == 1
    assert "Error:" in output and "--sample-rate was 22050 before (now 16000)" in output
    assert "--overwrite" in output and "Traceback" not in output

    code, output = _invoke(str(small_dir), "-o", str(out), "--sample-rate", "16000", "--overwrite", "-w", "1")
    assert code == 1 and "4 processed" in output


def test_a_resume_into_a_re_fused_output_is_refused(small_dir: Path, tmp_path: Path) -> None:
    """An output re-fused by `fusion apply` holds learned-weight embeddings: new rows would
    hold fixed-weight ones beside them."""
    out = tmp_path / "o.parquet"
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1")
    assert code == 1 and "4 processed" in output
    table = pq.read_table(out)
    meta = dict(table.schema.metadata)
    record = json.loads(meta[b"reelsense.fusion"])
    record["learned"] = {"version": 1}  # what `reelsense fusion apply` adds
    meta[b"reelsense.fusion"] = json.dumps(record).encode()
    pq.write_table(table.replace_schema_metadata(meta), out)
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1")
    assert code == 1 and "re-fused with learned weights" in output and "Traceback" not in output


def test_an_output_written_by_something_else_is_refused_in_one_line(small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "theirs.parquet"
    pq.write_table(pa.table({"video_id": ["x"], "score": [1]}), out)
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1")
    assert code == 1 and "is not a reelsense embed output (no status, path column)" in output
    assert "Traceback" not in output and pq.read_table(out).num_rows == 1  # left as it was
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1", "--overwrite")
    assert code == 1 and "4 processed" in output  # two of the inputs are broken


def test_the_default_frames_named_or_not_resume_each_other(small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1", "--frames", "keyframes")
    assert code == 1 and "4 processed" in output  # two of the inputs are broken
    for frames in ([], ["--frames", "keyframes"]):
        code, output = _invoke(str(small_dir), "-o", str(out), "--workers", "1", *frames)
        assert code == 0 and "0 processed (0 ok, 0 errors), 4 already in the output" in output, output


def test_a_refusal_names_an_option_left_at_its_default_by_its_value() -> None:
    from reelsense.cli.embed import _resume_refusal
    from reelsense.errors import ResumeMismatchError

    said = _resume_refusal(ResumeMismatchError("o.parquet", "min_score", None, 3.0))
    assert "--min-score was 2 before (now 3)" in said
    said = _resume_refusal(ResumeMismatchError("o.parquet", "second_chance", None, True))
    assert "--second-chance was not used before" in said


def test_a_resume_plans_the_job_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A resume with videos left to do walks the inputs, reads each sidecar and the manifest and
    warns of an id clash once: what finished_summary planned goes on to run_job (each planned
    it before: every sidecar read twice, the clash warned of twice, the manifest loaded three
    times with the resume check's). A resume with nothing to do reads each of them once too."""
    import reelsense.pipeline._plan as plan_module
    from reelsense.io import Manifest

    root = tmp_path / "in"
    root.mkdir()
    write_video(root / "a.mp4", duration_seconds=1.0, audio="noise")
    (root / "a.info.json").write_text(json.dumps({"description": "first #A"}), encoding="utf-8")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "elsewhere", "caption": "not here"}) + "\n", encoding="utf-8")
    out = tmp_path / "o.parquet"
    args = [str(root), "-o", str(out), "--manifest", str(manifest), "-w", "1", "--no-progress"]
    code, output = _invoke(*args)
    assert code == 0 and "1 videos found: 1 processed (1 ok, 0 errors)" in output, output
    write_video(root / "a.webm", duration_seconds=1.0)  # default id 'a' too: the new file makes way

    sidecar_reads: list[str] = []
    manifest_loads: list[str] = []
    read_sidecar, load = plan_module.read_sidecar, Manifest.load

    def counted_read(video: Any, **options: Any) -> Any:
        sidecar_reads.append(Path(video).name)
        return read_sidecar(video, **options)

    def counted_load(cls: type[Manifest], path: Any) -> Manifest:
        manifest_loads.append(str(path))
        return load(path)

    monkeypatch.setattr(plan_module, "read_sidecar", counted_read)
    monkeypatch.setattr(Manifest, "load", classmethod(counted_load))

    def clash_warnings() -> int:
        return sum("is claimed by 2 files" in r.getMessage() for r in caplog.records)

    with caplog.at_level("WARNING"):
        code, output = _invoke(*args)
    assert code == 0, output
    assert "2 videos found: 1 processed (1 ok, 0 errors), 1 already in the output" in output
    assert sorted(sidecar_reads) == ["a.mp4", "a.webm"]  # once each
    assert manifest_loads == [str(manifest)]
    assert clash_warnings() == 1
    rows = {r["video_id"]: r for r in pq.read_table(out).to_pylist()}
    assert sorted(rows) == ["a", "a.webm"]
    assert rows["a"]["hashtags"] == rows["a.webm"]["hashtags"] == ["A"]  # one stem, one sidecar

    sidecar_reads.clear()
    manifest_loads.clear()
    caplog.clear()
    with caplog.at_level("WARNING"):
        code, output = _invoke(*args)  # nothing left to do
    assert code == 0 and "0 processed (0 ok, 0 errors), 2 already in the output" in output, output
    assert sorted(sidecar_reads) == ["a.mp4", "a.webm"]
    assert manifest_loads == [str(manifest)]
    assert clash_warnings() == 0  # each file keeps the id it was written with


def test_ext_filter_and_manifest(small_dir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"id": "sub/b", "caption": "from the manifest #M"}) + "\n", encoding="utf-8"
    )
    out = tmp_path / "o.parquet"
    code, output = _invoke(
        str(small_dir),
        "-o",
        str(out),
        "--ext",
        "webm",
        "--manifest",
        str(manifest),
        "-w",
        "1",
        "--no-progress",
    )
    assert code == 0, output
    rows = pq.read_table(out).to_pylist()
    assert [(r["video_id"], r["caption"], r["hashtags"]) for r in rows] == [
        ("sub/b", "from the manifest #M", ["M"])
    ]
    # another manifest shapes other rows: refused before any model loads, even with nothing new
    manifest.write_text(json.dumps({"id": "sub/b", "caption": "edited"}) + "\n", encoding="utf-8")
    args = [str(small_dir), "-o", str(out), "--ext", "webm", "-w", "1", "--no-progress"]
    code, output = _invoke(*args, "--manifest", str(manifest))
    assert code == 1 and "the --manifest file's content changed" in output
    code, output = _invoke(*args)
    assert code == 1 and "--manifest was not given now" in output


def test_quiet_silences_the_workers_warnings_too(tmp_path: Path) -> None:
    """``-q``: errors only. A warning raised while a worker decodes (no usable audio, an ok
    row) went to stderr anyway, as the spawned workers did not get the command's log level."""
    import subprocess
    import sys

    src = tmp_path / "in"
    src.mkdir()
    write_video(
        src / "quiet.mp4", duration_seconds=0.5, audio=np.zeros(22050, dtype=np.float32), sample_rate=22050
    )
    command = [
        sys.executable,
        "-m",
        "reelsense",
        "embed",
        str(src),
        "--preset",
        "none",
        "-w",
        "1",
        "--no-progress",
    ]
    loud = subprocess.run(
        [*command, "-o", str(tmp_path / "a.parquet")], capture_output=True, text=True, timeout=300
    )
    assert (
        loud.returncode == 0
        and "WARNING reelsense.io._decode: " in loud.stderr
        and "no usable audio" in loud.stderr
    )
    quiet = subprocess.run(
        [*command, "-o", str(tmp_path / "b.parquet"), "-q"], capture_output=True, text=True, timeout=300
    )
    # no log line of reelsense's (a third-party library's own warning would not be ours to hide)
    assert quiet.returncode == 0 and quiet.stdout == ""
    assert "no usable audio" not in quiet.stderr and "reelsense" not in quiet.stderr


def test_bad_invocations(small_dir: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o.parquet")
    code, output = _invoke(str(small_dir), "-o", out, "--overwrite", "--retry-errors")
    assert code == 2 and "exclude each other" in output
    code, output = _invoke(str(tmp_path / "missing"), "-o", out)
    assert code == 2 and "does not exist" in output
    code, output = _invoke(str(small_dir))
    assert code == 2 and "--output" in output
    bad_manifest = tmp_path / "m.csv"
    bad_manifest.write_text("caption\nx\n", encoding="utf-8")
    code, output = _invoke(str(small_dir), "-o", out, "--manifest", str(bad_manifest))
    assert code == 1 and "m.csv" in output and "'path' or 'id' column" in output
    code, output = _invoke(str(small_dir), "-o", out, "--second-chance")
    assert code == 2 and "--second-chance needs --sound-index" in output
    code, output = _invoke(str(small_dir), "-o", out, "--min-score", "4")
    assert code == 2 and "--min-score needs --sound-index" in output
    code, output = _invoke(str(small_dir), "-o", out, "--actors", "2")
    assert code == 2 and "--actors only applies to --engine ray" in output
    code, output = _invoke(str(small_dir), "-o", out, "--ray-address", "auto", "--gpus-per-actor", "1")
    assert code == 2 and "--ray-address, --gpus-per-actor only apply to --engine ray" in output
    # the local engine's options with Ray, which has no per-video time limit: they did nothing
    shards = str(tmp_path / "shards_out")
    code, output = _invoke(str(small_dir), "-o", shards, "--engine", "ray", "--video-timeout", "60")
    assert code == 2 and "--video-timeout only applies to the local engine" in output, output
    code, output = _invoke(str(small_dir), "-o", shards, "--engine", "ray", "-w", "2", "--video-timeout", "0")
    assert code == 2 and "--workers, --video-timeout only apply to the local engine" in output, output
    assert not Path(out).exists()
    # an output of the other engine's layout: a usage error for both engines
    code, output = _invoke(str(small_dir), "-o", str(tmp_path))
    assert code == 2 and "is a folder: the local engine writes one Parquet file" in output
    a_file = tmp_path / "shards"
    a_file.write_bytes(b"not a folder")
    code, output = _invoke(str(small_dir), "-o", str(a_file), "--engine", "ray")
    assert code == 2 and "is a file: the Ray engine writes a folder of shards" in output


@pytest.fixture(scope="module")
def sound_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Videos using two library songs (one of them twice, once sped up) and a reused unknown song."""
    root = tmp_path_factory.mktemp("cli-sounds")
    lib, videos = root / "lib", root / "videos"
    lib.mkdir()
    videos.mkdir()
    sr = 22050
    notes = [make_notes(seed, 20.0) for seed in (11, 12, 13)]
    songs = [render(n, 20.0, sr) for n in notes]
    write_audio(lib / "trend.wav", songs[0], sample_rate=sr)
    write_audio(lib / "calm.wav", songs[1], sample_rate=sr)
    write_video(
        videos / "t1.mp4", duration_seconds=5.0, audio=songs[0][2 * sr : 7 * sr], sample_rate=sr, seed=1
    )
    sped = render(notes[0], 20.0, sr, time_scale=1 / 1.25, pitch=1.25)
    write_video(videos / "t2.mp4", duration_seconds=5.0, audio=sped[3 * sr : 8 * sr], sample_rate=sr, seed=2)
    write_video(
        videos / "c1.mp4", duration_seconds=5.0, audio=songs[1][5 * sr : 10 * sr], sample_rate=sr, seed=3
    )
    write_video(
        videos / "u1.mp4", duration_seconds=5.0, audio=songs[2][1 * sr : 6 * sr], sample_rate=sr, seed=4
    )
    write_video(
        videos / "u2.mp4", duration_seconds=5.0, audio=songs[2][3 * sr : 8 * sr], sample_rate=sr, seed=5
    )
    (videos / "t1.txt").write_text("first #TrendSong", encoding="utf-8")
    return lib, videos


def test_embed_with_sound_index_folder_discovery_and_resume(
    sound_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    lib, videos = sound_dirs
    out = tmp_path / "e.parquet"
    args = [str(videos), "-o", str(out), "-w", "1", "--sound-index", str(lib), "--discover-sounds"]
    code, output = _invoke(*args, "--embedding-dim", "48", "--frame-vectors", "--frames", "scenes")
    assert code == 0, output
    assert "5 processed (5 ok, 0 errors)" in output
    assert "embedding: 48-d float32 for 5/5 ok videos" in output
    assert "sound index: 3/5 videos matched: trend (2), calm (1)" in output
    # the one discovery engine, given every video with the library as anchors: t1/t2 under
    # "trend", u1/u2 as a discovered sound (c1 shares its sound with no other video)
    assert "sound discovery: 4 videos in 2 shared-sound groups" in output
    assert "VCAS" in output and re.search(r"trend x1\.2[456] ", output) and "discovered:u1" in output

    table = pq.read_table(out)
    schema = table.schema
    assert schema.field("embedding").type == pa.list_(pa.float32(), 48)
    assert schema.field("visual_vector").type == pa.list_(pa.float32(), 64)
    assert schema.field("modality_mask").type == pa.struct([(m, pa.bool_()) for m in MODALITIES])
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    fusion = json.loads(meta["reelsense.fusion"])
    assert fusion["fusion"]["dim"] == 48 and fusion["models"]["image"] == "tiny_image"
    assert fusion["discover_sounds"] is True and fusion["sound_index_sha256"]
    clusters = json.loads(meta["reelsense.sound_clusters"])
    assert clusters["videos"] == 5 and not clusters["residual_only"] and clusters["groups"] == 2
    rows = {r["video_id"]: r for r in table.to_pylist()}
    assert rows["t1"]["sound_id"] == rows["t2"]["sound_id"] == "trend"
    assert (
        abs(rows["t2"]["sound_speed"] - 1.25) < 0.04 and abs(rows["t1"]["sound_offset_seconds"] - 2.0) < 0.3
    )
    assert (
        rows["u1"]["sound_id"] is None
        and rows["u1"]["sound_cluster"] == rows["u2"]["sound_cluster"] is not None
    )
    assert rows["u1"]["modality_mask"]["sound"] and rows["u1"]["sound_cluster_size"] == 2
    assert rows["c1"]["modality_mask"] == {"visual": True, "caption": False, "audio": True, "sound": True}
    assert (
        len(rows["t1"]["frame_vectors"])
        == len(rows["t1"]["frame_pts_seconds"])
        == rows["t1"]["visual_frames"]
    )
    emb = {vid: np.asarray(r["embedding"]) for vid, r in rows.items()}
    assert float(emb["t1"] @ emb["t2"]) > float(emb["t1"] @ emb["c1"]) + 0.2  # same sound, sped up
    assert float(emb["u1"] @ emb["u2"]) > float(emb["u1"] @ emb["c1"]) + 0.2  # discovered, no library

    # readable as is: pandas, pyarrow, DuckDB
    df = pd.read_parquet(out)
    assert len(df) == 5 and len(df.loc[df.video_id == "t1", "embedding"].iloc[0]) == 48
    duckdb = pytest.importorskip("duckdb")
    found = duckdb.sql(
        f"SELECT video_id, len(embedding), modality_mask.sound FROM read_parquet('{out}') "
        "WHERE sound_id = 'trend' ORDER BY video_id"
    ).fetchall()
    assert found == [("t1", 48, True), ("t2", 48, True)]

    # resume: a new video is added, the corpus pass runs again over everything
    before = {vid: r["embedding"] for vid, r in rows.items()}
    shutil.copy(videos / "u2.mp4", tmp_path / "u3.mp4")
    code, output = _invoke(
        *args, str(tmp_path / "u3.mp4"), "--embedding-dim", "48", "--frame-vectors", "--frames", "scenes"
    )
    assert code == 0, output
    assert "1 processed (1 ok, 0 errors), 5 already in the output" in output
    rows = {r["video_id"]: r for r in pq.read_table(out).to_pylist()}
    assert (
        rows["u3"]["sound_cluster"] == rows["u1"]["sound_cluster"] and rows["u1"]["sound_cluster_size"] == 3
    )
    np.testing.assert_allclose(rows["t1"]["embedding"], before["t1"], atol=1e-6)
    # other fusion options are another configuration: refused
    code, output = _invoke(*args, "--embedding-dim", "64", "--frame-vectors", "--frames", "scenes")
    assert code == 1 and "--embedding-dim was 48 before (now 64)" in output


def test_min_score_sets_the_sound_match_threshold(sound_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """As in ``sounds match``: a match below ``--min-score`` leaves the sound columns null, and a
    resume with another ``--min-score`` is refused by name."""
    lib, videos = sound_dirs
    scores = {}
    for min_score in ("2", "1e6"):
        out = tmp_path / f"m{min_score}.parquet"
        args = [
            str(videos / "t1.mp4"),
            str(videos / "c1.mp4"),
            "-o",
            str(out),
            "-w",
            "1",
            "--sound-index",
            str(lib),
        ]
        code, output = _invoke(*args, "--embedding-dim", "16", "--min-score", min_score)
        assert code == 0, output
        rows = {r["video_id"]: r for r in pq.read_table(out).to_pylist()}
        scores[min_score] = {vid: (r["sound_id"], r["sound_score"]) for vid, r in rows.items()}
    assert scores["2"]["t1"][0] == "trend" and scores["2"]["c1"][0] == "calm"
    assert scores["1e6"] == {"t1": (None, None), "c1": (None, None)}
    code, output = _invoke(*args, "--embedding-dim", "16", "--min-score", "3")
    assert code == 1 and "--min-score was 1000000 before (now 3);" in output, output
    # left out (its default, which is not recorded): refused by name too, before any model loads
    code, output = _invoke(*args, "--embedding-dim", "16")
    assert code == 1 and "--min-score was 1000000 before (now 2);" in output, output
    # the library's error names the value in use, not None (the default is not recorded)
    from reelsense.errors import ResumeMismatchError
    from reelsense.featurize import FeaturizerConfig, embed_corpus
    from reelsense.fusion import FusionConfig
    from reelsense.pipeline import RunConfig

    config = FeaturizerConfig(preset="tiny", sound_index=lib, fusion=FusionConfig(dim=16))
    with pytest.raises(ResumeMismatchError, match=r"min_score=1000000\.0 \(now 2\.0\)"):
        embed_corpus([videos / "t1.mp4", videos / "c1.mp4"], out, config=config, run=RunConfig(workers=1))


def test_preset_none_keeps_descriptor_only_rows(small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    code, output = _invoke(str(small_dir), "-o", str(out), "-w", "1", "--preset", "none")
    assert code == 1, output  # the two broken files
    assert "embedding" not in pq.read_schema(out).names and "audio_loudness_lufs" in pq.read_schema(out).names
    code, output = _invoke(str(small_dir), "-o", str(out), "--preset", "none", "--discover-sounds")
    assert code == 2 and "no embedding" in output


@pytest.mark.parametrize(
    ("option", "value"),
    [("--embedding-dim", "64"), ("--batch-size", "4"), ("--precision", "fp32"), ("--device", "cpu")],
)
def test_preset_none_refuses_the_model_options_it_would_ignore(
    small_dir: Path, tmp_path: Path, option: str, value: str
) -> None:
    """`--preset none` runs no model and fuses nothing: --embedding-dim, --batch-size and
    --precision did nothing there (--embedding-dim was even recorded, so a resume without it
    was refused): a usage error naming the option, as --frames is, given at its default too."""
    out = tmp_path / "o.parquet"
    for given in (value, None):
        args = [str(small_dir), "-o", str(out), "--preset", "none", option]
        default = {"--embedding-dim": "1024", "--batch-size": "8", "--precision": "auto", "--device": "auto"}[
            option
        ]
        code, output = _invoke(*args, given or default)
        assert code == 2, output
        assert f"{option}: --preset none computes no embedding" in output and "would do nothing" in output
    assert not out.exists()


def test_preset_none_refuses_the_model_actor_options_of_ray(small_dir: Path, tmp_path: Path) -> None:
    """With --engine ray, --preset none starts no model actor: --device cuda failed after Ray
    had started ("1 GPUs per model actor were asked for, but the Ray cluster has 0 GPUs"),
    --actors and --gpus-per-actor did nothing; usage errors before Ray starts."""
    for option, value in (("--device", "cuda"), ("--actors", "2"), ("--gpus-per-actor", "0")):
        code, output = _invoke(
            str(small_dir),
            "-o",
            str(tmp_path / "shards"),
            "--engine",
            "ray",
            "--preset",
            "none",
            option,
            value,
        )
        assert code == 2 and f"{option}: --preset none computes no embedding" in output, output


def test_a_preset_none_output_resumes_whatever_fusion_it_recorded(small_dir: Path, tmp_path: Path) -> None:
    """An output made with no models records the fusion settings, which shape nothing: one made
    with FusionConfig(dim=64) (by the library, or by the CLI before --embedding-dim was refused
    with --preset none) was refused on a plain resume ("--embedding-dim was 64 before (now
    1024)"), and the advice could not be followed (--embedding-dim is refused there)."""
    from reelsense.featurize import FeaturizerConfig, embed_corpus
    from reelsense.fusion import FusionConfig
    from reelsense.pipeline import RunConfig

    out = tmp_path / "o.parquet"
    config = FeaturizerConfig(preset="none", fusion=FusionConfig(dim=64))
    embed_corpus([small_dir], out, config=config, run=RunConfig(workers=1))
    _, output = _invoke(str(small_dir), "-o", str(out), "-w", "1", "--preset", "none")
    assert "before" not in output and "already in the output" in output, output


def test_a_resume_refusal_says_an_absent_value_in_words() -> None:
    """`--limit-duration was None before (now 100000.0)`: the absent value is said in words and
    a whole number as typed."""
    from reelsense.cli.embed import _resume_refusal
    from reelsense.errors import ResumeMismatchError

    said = _resume_refusal(ResumeMismatchError("o.parquet", "limit_duration_seconds", None, 100000.0))
    assert "--limit-duration was not given before (now 100000);" in said
    said = _resume_refusal(ResumeMismatchError("o.parquet", "limit_duration_seconds", 2.5, None))
    assert "--limit-duration was 2.5 before (now not given);" in said
    said = _resume_refusal(ResumeMismatchError("o.parquet", "second_chance_scope", None, "candidates"))
    assert "--second-chance-scope was 'library' before (now 'candidates')" in said
    said = _resume_refusal(ResumeMismatchError("o.parquet", "min_score", 1e6, 3.0))
    assert "--min-score was 1000000 before (now 3)" in said


@pytest.mark.slow
def test_video_timeout_turns_a_hung_video_into_an_error_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_video(src / "fine.mp4", duration_seconds=0.5)
    write_video(src / "stuck.mp4", duration_seconds=0.5)
    faults.hang(monkeypatch, ["stuck"])  # hangs for good; over the limit whatever the load (tests/faults.py)
    out = tmp_path / "out.parquet"
    code, output = _invoke(
        str(src), "-o", str(out), "--preset", "none", "--workers", "1", "--video-timeout", "600"
    )
    assert code == 1, output
    rows = pd.read_parquet(out).set_index("video_id")
    assert rows.loc["fine", "status"] == "ok"
    assert rows.loc["stuck", "status"] == "error"
    assert "time limit of 600 s" in rows.loc["stuck", "error"]


def _parts_ids(out: Path) -> list[str]:
    from reelsense.pipeline._writer import parts_dir_for

    parts = sorted(parts_dir_for(out).glob("part-*.parquet"))
    return [vid for p in parts for vid in pq.read_table(p, columns=["video_id"])["video_id"].to_pylist()]


#: the part of the interrupt message on decoded videos not yet handed to the writer: with
#: ``-w 1`` the worker decodes ahead, so on a loaded machine the next video may be done (and
#: counted) when the interrupt comes, or not
_DROPPED = r"(?:\d+ videos? decoded but not yet embedded (?:was|were) dropped; )?"


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, rows: int) -> list[str]:
    """Ctrl-C once ``rows`` rows were handed to the writer (as the engine's tally records the
    last of them); returns their ids."""
    from reelsense.pipeline._job import RunTally

    record = RunTally.record
    recorded: list[str] = []

    def record_then_interrupt(self: RunTally, video_id: str, ok: bool, error: object = None) -> None:
        record(self, video_id, ok, error)
        recorded.append(video_id)
        if len(recorded) == rows:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunTally, "record", record_then_interrupt)
    return recorded


def test_ctrl_c_counts_the_rows_of_the_run_it_saved(
    small_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows handed to the writer before Ctrl-C are written on the way out (a part), and the
    message counts exactly those; a resume after it counts only its own rows."""
    recorded = _interrupt_after(monkeypatch, 2)
    out = tmp_path / "o.parquet"
    args = (str(small_dir), "-o", str(out), "-w", "1", "--preset", "none", "--flush-seconds", "3600")
    code, output = _invoke(*args)
    assert code == 130, output
    assert sorted(_parts_ids(out)) == sorted(recorded) and len(recorded) == 2
    assert re.search(
        rf"interrupted: 2 rows of this run were saved in or beside {re.escape(repr(str(out)))} \(every "
        rf"row finished before the interrupt\); {_DROPPED}run the same command again to resume",
        output,
    ), output
    recorded.clear()
    code, output = _invoke(*args)  # the resume: 2 more of its own, the first run's 2 not counted
    assert code == 130 and "interrupted: 2 rows of this run were saved" in output, output
    assert len(_parts_ids(out)) == 4


def test_an_interrupted_overwrite_resumed_without_overwrite_drops_every_old_row(
    small_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interrupt message of an `--overwrite` says to resume without it: that resume
    finishes the overwrite, so no row of the old output survives (here: the row of a video
    removed since, and the rows of the videos the interrupted run had not redone)."""
    out = tmp_path / "o.parquet"
    args = (str(small_dir), "-o", str(out), "-w", "1", "--preset", "none", "--flush-seconds", "3600")
    code, output = _invoke(*args)
    assert code == 1 and "4 processed" in output, output
    old = pq.read_table(out)
    gone = old.slice(0, 1).to_pylist()[0] | {"video_id": "gone", "path": "/removed/gone.mp4"}
    pq.write_table(pa.concat_tables([old, pa.Table.from_pylist([gone], schema=old.schema)]), out)

    _interrupt_after(monkeypatch, 2)
    code, output = _invoke(*args, "--overwrite")
    assert code == 130 and "run the command again without it to resume" in output, output
    monkeypatch.undo()
    code, output = _invoke(*args)
    assert code == 1 and "2 processed" in output and "2 already in the output" in output, output
    rows = pq.read_table(out)
    assert sorted(rows["video_id"].to_pylist()) == ["777", "broken", "notes", "sub/b"]


def test_ctrl_c_during_the_model_batch_says_no_row_was_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoded videos wait in the main process for a model batch: Ctrl-C before it ran saves
    no row of them, and the message says so and how many decoded videos were dropped."""
    src = tmp_path / "in"
    src.mkdir()
    write_video(src / "a.mp4", duration_seconds=0.5, seed=1)
    write_video(src / "b.mp4", duration_seconds=0.5, seed=2)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("reelsense.pipeline._local.run_feature_stages", interrupted)
    out = tmp_path / "o.parquet"
    code, output = _invoke(str(src), "-o", str(out), "-w", "1")
    assert code == 130, output
    assert _parts_ids(out) == [] and not out.exists()
    assert (
        "interrupted: no row of this run was saved yet (rows are saved after each model batch); "
        "2 videos decoded but not yet embedded were dropped; run the same command again to resume"
    ) in output, output


def test_ctrl_c_with_a_failed_last_write_does_not_claim_the_rows(
    small_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer writes its buffered rows on the way out; when that fails (a full disk), the
    message says they could not be written instead of counting them as saved."""
    from reelsense.pipeline._writer import OutputWriter

    _interrupt_after(monkeypatch, 2)

    def full(self: OutputWriter) -> list[Path]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(OutputWriter, "flush", full)
    out = tmp_path / "o.parquet"
    args = (str(small_dir), "-o", str(out), "-w", "1", "--preset", "none", "--flush-seconds", "3600")
    code, output = _invoke(*args)
    assert code == 130, output
    assert _parts_ids(out) == []
    assert re.search(
        r"interrupted: no row of this run was saved: 2 finished rows could not be written \(see the "
        rf"warning above\); {_DROPPED}run the same command again to resume",
        output,
    ), output


def test_the_interrupt_message_never_claims_more_than_was_saved() -> None:
    from reelsense.cli.embed import _interrupt_message
    from reelsense.pipeline import ProgressEvent

    out = Path("out")
    ray = ProgressEvent(3, 9, 3, 0, 0, saved=3, interrupted=True, dropped=None)
    assert _interrupt_message(out, ray) == (
        "3 rows of this run were saved in or beside 'out' (every row finished before the interrupt); "
        "any videos still in the Ray pipeline (decoding, model actors) were dropped; "
        "run the same command again to resume"
    )
    one = ProgressEvent(1, 9, 1, 0, 0, saved=1, interrupted=True, dropped=1)
    assert _interrupt_message(out, one, overwrite=True) == (
        "1 row of this run was saved in or beside 'out' (every row finished before the interrupt); "
        "1 video decoded but not yet embedded was dropped; "
        "--overwrite would start over: run the command again without it to resume from them"
    )
    assert _interrupt_message(out, None).startswith("no row of this run was saved")
    finished = ProgressEvent(9, 9, 9, 0, 0, video_id="last", saved=0)  # stopped after the job returned
    assert (
        _interrupt_message(out, finished) == "9 rows of this run were saved in 'out' (the job had finished)"
    )
