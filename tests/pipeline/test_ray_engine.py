"""The Ray engine (``embed_corpus(engine="ray")``, ``reelsense embed --engine ray``) against the local engine,
on a 2-CPU local Ray session and generated media with the tiny models."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from media import write_audio, write_bytes, write_video
from music import make_notes, render
from reelsense._signals import restore_signal_handlers, signal_handlers
from reelsense.cli import main
from reelsense.featurize import FeaturizerConfig, embed_corpus
from reelsense.featurize._featurizer import FUSION_KEY
from reelsense.fusion import FusionConfig
from reelsense.pipeline import EmbedSummary, RunConfig
from reelsense.pipeline._schema import CONFIG_KEY
from reelsense.pipeline._writer import SHARD_PATTERN
from reelsense.sounds.index import SoundIndex

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


def _config(preset: str = "tiny", embedding_dim: int = 48, **options: object) -> FeaturizerConfig:
    return FeaturizerConfig(preset=preset, fusion=FusionConfig(dim=embedding_dim), **options)  # type: ignore[arg-type]


def embed_with_ray(
    inputs: list[Path],
    output: Path,
    *,
    shard_rows: int | None = None,
    videos_per_task: int = 8,
    task_retries: int = 2,
    retry_errors: bool = False,
    **options: object,
) -> EmbedSummary:
    run = RunConfig(
        flush_rows=shard_rows,
        flush_seconds=3600.0,  # shards by rows only: the tests count them
        ray_videos_per_task=videos_per_task,
        ray_task_retries=task_retries,
        retry_errors=retry_errors,
    )
    return embed_corpus(inputs, output, _config(**options), run, engine="ray")  # type: ignore[arg-type]


SR = 22050
DIM = 48
VECTORS = ("embedding", "visual_vector", "caption_vector", "audio_vector")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A library song used twice (once sped up), an unknown song used twice (discovery), a
    silent video, an audio-only file, a broken file; captions on some."""
    root = tmp_path_factory.mktemp("ray-media")
    lib, videos = root / "lib", root / "videos"
    lib.mkdir()
    videos.mkdir()
    notes = [make_notes(seed, 16.0) for seed in (21, 22)]
    songs = [render(n, 16.0, SR) for n in notes]
    write_audio(lib / "trend.wav", songs[0], sample_rate=SR)
    with SoundIndex.create(root / "lib.rsidx") as index:  # indexed once, not on every run
        index.add_many([lib / "trend.wav"], workers=1)
    write_video(
        videos / "t1.mp4", duration_seconds=5.0, audio=songs[0][2 * SR : 7 * SR], sample_rate=SR, seed=1
    )
    sped = render(notes[0], 16.0, SR, time_scale=1 / 1.2, pitch=1.2)
    write_video(videos / "t2.mp4", duration_seconds=5.0, audio=sped[3 * SR : 8 * SR], sample_rate=SR, seed=2)
    write_video(
        videos / "u1.mp4", duration_seconds=5.0, audio=songs[1][1 * SR : 6 * SR], sample_rate=SR, seed=3
    )
    write_video(
        videos / "u2.mp4", duration_seconds=5.0, audio=songs[1][3 * SR : 8 * SR], sample_rate=SR, seed=4
    )
    write_video(videos / "mute.mp4", duration_seconds=2.0, audio=None, seed=5)
    write_audio(videos / "voice.flac", duration_seconds=2.0, signal="noise")
    write_bytes(videos / "broken.mp4", b"this is not a video\n" * 10)
    (videos / "t1.txt").write_text("first #TrendSong", encoding="utf-8")
    (videos / "u2.info.json").write_text(json.dumps({"id": "u2", "description": "golden #Hour"}), "utf-8")
    return root / "lib.rsidx", videos


@pytest.fixture(scope="module")
def work_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray session (2 CPUs) whose workers log every video they decode to the returned
    file and crash on a video with id ``crashme`` (REELSENSE_WORK_LOG / REELSENSE_TEST_FAULTS)."""
    log_path = tmp_path_factory.mktemp("ray-log") / "work.log"
    log_path.touch()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REELSENSE_WORK_LOG", str(log_path))
        mp.setenv("REELSENSE_TEST_FAULTS", json.dumps({"crash_ids": ["crashme"]}))
        handlers = signal_handlers()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield log_path
        finally:
            ray.shutdown()
            restore_signal_handlers(handlers, default_too=True)  # ray.init leaves its SIGTERM handler


def _logged(path: Path) -> list[str]:
    return path.read_text("utf-8").split()


def _rows(path: Path) -> dict[str, dict]:
    return {row["video_id"]: row for row in pq.read_table(path).to_pylist()}


def _options(lib: Path) -> dict:
    return {"sound_index": str(lib), "discover_sounds": True}


@pytest.fixture(scope="module")
def local_output(media: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib, videos = media
    out = tmp_path_factory.mktemp("ray-local") / "local.parquet"
    with pytest.MonkeyPatch.context() as mp:  # the Ray session's audit variables are not for this run
        mp.delenv("REELSENSE_WORK_LOG", raising=False)
        mp.delenv("REELSENSE_TEST_FAULTS", raising=False)
        embed_corpus([videos], out, _config(**_options(lib)), RunConfig(workers=1))
    return out


@pytest.fixture(scope="module")
def ray_output(media: tuple[Path, Path], work_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib, videos = media
    out = tmp_path_factory.mktemp("ray-out") / "shards"
    summary = embed_with_ray([videos], out, shard_rows=3, videos_per_task=2, **_options(lib))
    assert (summary.found, summary.processed, summary.ok, summary.errors) == (7, 7, 6, 1)
    assert summary.ray is not None and summary.engine == "ray"
    assert summary.ray.shards == 3 and summary.rows == 7 and summary.ray.lost == 0
    assert summary.ray.actors == 1 and summary.ray.gpus_per_actor == 0.0
    assert sorted(_logged(work_log)) == sorted(_rows_of_folder(out))
    return out


def _rows_of_folder(folder: Path) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for shard in sorted(folder.iterdir()):
        if SHARD_PATTERN.match(shard.name):
            for vid, row in _rows(shard).items():
                assert vid not in rows, f"{vid} is in two shards"
                rows[vid] = row
    return rows


def test_rows_equal_the_local_engine(local_output: Path, ray_output: Path) -> None:
    local, remote = _rows(local_output), _rows_of_folder(ray_output)
    assert sorted(local) == sorted(remote) == ["broken", "mute", "t1", "t2", "u1", "u2", "voice"]
    skip = {*VECTORS, "warnings"}
    for vid, row in local.items():
        other = remote[vid]
        assert {k: v for k, v in row.items() if k not in skip and not isinstance(v, float)} == {
            k: v for k, v in other.items() if k not in skip and not isinstance(v, float)
        }, vid
        for key, value in row.items():
            if isinstance(value, float):
                assert other[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (vid, key)
        for key in VECTORS:
            if row[key] is None:
                assert other[key] is None, (vid, key)
            else:
                np.testing.assert_allclose(other[key], row[key], atol=1e-6, err_msg=f"{vid} {key}")
    # the comparison means something: matches, a discovered group, every modality, an error
    assert local["t2"]["sound_id"] == "trend" and local["u1"]["sound_cluster"] == local["u2"]["sound_cluster"]
    assert local["u1"]["sound_cluster"] is not None and local["u2"]["modality_mask"]["caption"]
    assert local["mute"]["audio_vector"] is None and local["voice"]["visual_vector"] is None


def test_same_schema_and_metadata(local_output: Path, ray_output: Path) -> None:
    shard = next(p for p in ray_output.iterdir() if SHARD_PATTERN.match(p.name))
    local, remote = pq.read_schema(local_output), pq.read_schema(shard)
    assert remote.remove_metadata().equals(local.remove_metadata())
    lmeta = {k.decode(): v.decode() for k, v in local.metadata.items()}
    rmeta = {k.decode(): v.decode() for k, v in remote.metadata.items()}
    assert rmeta[CONFIG_KEY] == lmeta[CONFIG_KEY]
    lf, rf = json.loads(lmeta[FUSION_KEY]), json.loads(rmeta[FUSION_KEY])
    assert {k: v for k, v in rf.items() if k not in ("device", "precision")} == {
        k: v for k, v in lf.items() if k not in ("device", "precision")
    }
    assert rf["device"] == "cpu" and json.loads(rmeta["reelsense.run"])["engine"] == "ray"
    assert json.loads(rmeta["reelsense.sound_clusters"]) == json.loads(lmeta["reelsense.sound_clusters"])


def test_bad_file_is_an_error_row_and_the_folder_reads_as_one_table(ray_output: Path) -> None:
    rows = _rows_of_folder(ray_output)
    assert rows["broken"]["status"] == "error" and "broken.mp4" in rows["broken"]["error"]
    assert rows["broken"]["embedding"] is None
    df = pd.read_parquet(ray_output)  # dot-files (lock, temporaries) are skipped
    assert len(df) == 7 and set(df.video_id) == set(rows)
    assert len(df.loc[df.video_id == "t1", "embedding"].iloc[0]) == DIM
    duckdb = pytest.importorskip("duckdb")
    found = duckdb.sql(
        f"SELECT count(*), count(embedding) FROM read_parquet('{ray_output}/*.parquet')"
    ).fetchall()
    assert found == [(7, 6)]


def test_resume_through_the_cli_recomputes_only_what_is_missing(
    media: tuple[Path, Path], ray_output: Path, work_log: Path, tmp_path: Path
) -> None:
    lib, videos = media
    folder = tmp_path / "copy"
    folder.mkdir()
    shards = sorted(p for p in ray_output.iterdir() if SHARD_PATTERN.match(p.name))
    for shard in shards[:-1]:  # the last shard "was never written"
        (folder / shard.name).write_bytes(shard.read_bytes())
    (folder / ".tmp-shard-leftover.parquet").write_bytes(b"half a shard")  # a killed write
    missing = set(_rows(shards[-1]))
    before = len(_logged(work_log))
    args = ["embed", str(videos), "-o", str(folder), "--engine", "ray", "--preset", "tiny"]
    args += ["--sound-index", str(lib), "--discover-sounds", "--embedding-dim", str(DIM)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{len(missing)} processed" in result.output
    assert f"{7 - len(missing)} already in the output" in result.output
    assert set(_logged(work_log)[before:]) == missing  # only those were decoded again
    assert not (folder / ".tmp-shard-leftover.parquet").exists()
    resumed, full = _rows_of_folder(folder), _rows_of_folder(ray_output)
    assert sorted(resumed) == sorted(full)
    # each shard is sorted by video_id (the folder is not: the resumed shard is the newest);
    # sorted after reading, it is in the local engine's order
    for shard in folder.iterdir():
        if SHARD_PATTERN.match(shard.name):
            ids = pq.read_table(shard)["video_id"].to_pylist()
            assert ids == sorted(ids), shard.name
    read = pq.read_table(folder).sort_by("video_id")["video_id"].to_pylist()
    assert read == sorted(full)
    for vid, row in full.items():
        if row["embedding"] is not None:
            np.testing.assert_allclose(resumed[vid]["embedding"], row["embedding"], atol=1e-6)
    # finished: a second run computes nothing
    again = CliRunner().invoke(main, args, catch_exceptions=False)
    assert again.exit_code == 0 and "0 processed" in again.output and "7 already" in again.output


def test_retry_errors_and_a_crashing_decoder(
    media: tuple[Path, Path], ray_output: Path, work_log: Path, tmp_path: Path
) -> None:
    """``retry_errors`` recomputes the error rows and keeps one row per video; a video whose
    decoding task dies every time (even alone in its task) gets an error row, its block
    neighbour is not lost."""
    lib, videos = media
    folder = tmp_path / "retry"
    folder.mkdir()
    for shard in ray_output.iterdir():
        if SHARD_PATTERN.match(shard.name):
            (folder / shard.name).write_bytes(shard.read_bytes())
    crashing = tmp_path / "more"
    crashing.mkdir()
    write_video(crashing / "crashme.mp4", duration_seconds=1.0, seed=7)
    before = len(_logged(work_log))
    summary = embed_with_ray(
        [videos, crashing],
        folder,
        retry_errors=True,
        task_retries=0,
        videos_per_task=2,
        **_options(lib),
    )
    assert (summary.found, summary.skipped, summary.processed, summary.errors) == (8, 6, 2, 2)
    assert summary.ray is not None and summary.ray.lost == 1
    # broken ran twice: its task (shared with crashme) died, then alone; crashme dies unlogged
    assert _logged(work_log)[before:] == ["broken", "broken"]
    rows = _rows_of_folder(folder)  # raises on a video in two shards
    assert len(rows) == 8 and rows["broken"]["status"] == "error" and "broken.mp4" in rows["broken"]["error"]
    assert rows["crashme"]["status"] == "error" and "died" in rows["crashme"]["error"]


def test_no_models_equals_the_local_engine(media: tuple[Path, Path], work_log: Path, tmp_path: Path) -> None:
    """``--preset none`` (metadata and audio descriptors only) on Ray gives the local engine's rows."""
    _, videos = media
    local = tmp_path / "none.parquet"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("REELSENSE_WORK_LOG", raising=False)
        mp.delenv("REELSENSE_TEST_FAULTS", raising=False)
        embed_corpus([videos], local, _config(preset="none"), RunConfig(workers=1))
    summary = embed_with_ray([videos], tmp_path / "none", preset="none")
    assert (summary.found, summary.ok, summary.errors) == (7, 6, 1)
    mine, theirs = _rows(local), _rows_of_folder(tmp_path / "none")
    assert sorted(mine) == sorted(theirs) and "embedding" not in mine["t1"]
    for vid, row in mine.items():
        for key, value in row.items():
            if key == "warnings":
                continue
            if isinstance(value, float):
                assert theirs[vid][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (vid, key)
            else:
                assert theirs[vid][key] == value, (vid, key)


def test_refusals(media: tuple[Path, Path], ray_output: Path, tmp_path: Path) -> None:
    from reelsense.errors import OutputError

    _, videos = media
    with pytest.raises(OutputError, match="was written with"):  # refused before any model loads
        embed_with_ray([videos], ray_output, preset="tiny", embedding_dim=DIM + 8)
    a_file = tmp_path / "f.parquet"
    a_file.write_bytes(b"")
    with pytest.raises(OutputError, match="is a file"):
        embed_with_ray([videos], a_file, preset="tiny")
    result = CliRunner().invoke(
        main, ["embed", str(videos), "-o", str(tmp_path / "x"), "--engine", "ray", "-w", "2"]
    )
    assert result.exit_code == 2 and "--workers" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]  # nothing created


def test_a_folder_index_is_refused_on_a_multi_node_cluster(tmp_path: Path) -> None:
    """A folder of reference sounds is indexed on the driver only: fine on one node,
    refused when other nodes' decoding tasks would need to open it."""
    from reelsense.errors import ParameterError
    from reelsense.featurize._featurizer import _actor_plan

    folder, built = str(tmp_path / "sounds"), str(tmp_path / "tmp" / "sounds.rsidx")
    with_folder, with_file = _config(sound_index=folder), _config(sound_index=built)
    assert _actor_plan(with_folder, built, {}, "cpu", 1).metadata  # one node: the driver's file is local
    _actor_plan(with_file, built, {}, "cpu", 3)  # an index file is passed as is
    with pytest.raises(ParameterError, match="3 nodes"):
        _actor_plan(with_folder, built, {}, "cpu", 3)


@pytest.mark.parametrize(
    ("device", "asked", "gpus"),
    [
        ("auto", None, None),  # the cluster decides
        ("auto", 0.5, 0.5),
        ("cpu", None, 0.0),
        ("cpu", 0.0, 0.0),
        ("CPU", None, 0.0),
        ("cuda", None, 1.0),
        ("cuda", 0.25, 0.25),
    ],
)
def test_the_device_decides_the_gpus_per_actor(device: str, asked: float | None, gpus: float | None) -> None:
    from reelsense.pipeline._ray import actor_gpus

    assert actor_gpus(device, asked) == gpus


@pytest.mark.parametrize(
    ("device", "asked", "message"),
    [
        ("cuda:0", None, "device 'cuda:0': the Ray engine takes auto, cpu, cuda"),
        ("mps", None, "device 'mps': the Ray engine takes auto, cpu, cuda"),
        ("tpu", None, "device 'tpu'"),
        ("cpu", 1.0, "device 'cpu' runs the model actors on CPUs, but 1 GPUs per actor"),
        ("cuda", 0.0, "device 'cuda' needs GPUs, but 0 GPUs per model actor"),
    ],
)
def test_a_device_the_ray_engine_cannot_honour_is_refused(
    device: str, asked: float | None, message: str
) -> None:
    """Refused when the engine is made (before Ray starts), by ``actor_gpus`` and the CLI alike."""
    from reelsense.errors import ParameterError
    from reelsense.pipeline import JobSpec
    from reelsense.pipeline._ray import RayEngine

    with pytest.raises(ParameterError, match=re.escape(message)):
        RayEngine(JobSpec(worker_stages=(), device=device), RunConfig(ray_gpus_per_actor=asked))
    code = CliRunner().invoke(
        main,
        ["embed", ".", "-o", "never", "--engine", "ray", "--device", device]
        + ([] if asked is None else ["--gpus-per-actor", str(asked)]),
    )
    assert code.exit_code == 2 and message in " ".join(code.output.split()), code.output


class _Cluster:
    """What ``RayEngine._resources`` asks of Ray: a one-node cluster with ``gpus`` GPUs and
    ``cpus`` CPUs."""

    def __init__(self, gpus: float, cpus: float = 16.0) -> None:
        self.gpus = gpus
        self.cpus = cpus

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": self.cpus, **({"GPU": self.gpus} if self.gpus else {})}

    def nodes(self) -> list[dict[str, object]]:
        return [{"Alive": True}]


@pytest.mark.parametrize(
    ("device", "asked", "cluster_gpus", "expected"),
    [
        ("auto", None, 2.0, (2, 1.0, "cuda")),  # today's behaviour: the GPUs when there are
        ("auto", None, 0.0, (1, 0.0, "cpu")),
        ("auto", 0.0, 2.0, (1, 0.0, "cpu")),
        ("cpu", None, 2.0, (1, 0.0, "cpu")),  # cpu on a GPU cluster: the actors stay on CPUs
        ("cuda", None, 2.0, (2, 1.0, "cuda")),
        ("cuda", 0.5, 1.0, (2, 0.5, "cuda")),
    ],
)
def test_the_actors_get_the_resources_of_the_device(
    device: str, asked: float | None, cluster_gpus: float, expected: tuple[int, float, str]
) -> None:
    from reelsense.pipeline import ActorPlan, JobSpec
    from reelsense.pipeline._ray import RayEngine

    planned: list[str] = []

    def plan(on: str, nodes: int) -> ActorPlan:
        planned.append(on)
        return ActorPlan(build=tuple, metadata={"device": on})

    engine = RayEngine(
        JobSpec(worker_stages=(), actor_plan=plan, device=device), RunConfig(ray_gpus_per_actor=asked)
    )
    engine.ray = _Cluster(cluster_gpus)
    engine._resources()
    assert (engine.actors, engine.gpus_per_actor, engine.device) == expected
    assert planned == [expected[2]] and engine.metadata == {"device": expected[2]}


@pytest.mark.parametrize(
    ("actors", "gpus", "cpus", "fixed", "expected"),
    [
        (None, 2.0, 2.0, True, 1),  # one per GPU, capped: a CPU stays for the decoding tasks
        (None, 4.0, 3.0, True, 2),
        (None, 0.0, 2.0, True, 1),
        (1, 0.0, 2.0, True, 1),
        (2, 0.0, 2.0, True, "2 model actors .* need 3 CPUs, but the Ray cluster has 2: .* at most 1 actors"),
        (3, 0.0, 2.0, True, "3 model actors"),
        (None, 0.0, 1.0, True, r"1 model actors .* need 2 CPUs, .* has 1: .*\(more CPUs needed\)"),
        (2, 0.0, 2.0, False, 2),  # a cluster that was joined may grow: a warning only
    ],
)
def test_the_actors_leave_a_cpu_for_decoding(
    actors: int | None,
    gpus: float,
    cpus: float,
    fixed: bool,
    expected: int | str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each model actor holds a CPU for its whole life and each decoding task needs one: with
    every CPU taken by actors (``--actors 2`` on a 2-CPU machine) Ray Data waited forever
    without a word (measured: killed after 100 s, no row). The default is capped; more actors
    than fit are refused on a session reelsense started, and warned about on a joined one."""
    from reelsense.errors import ParameterError
    from reelsense.pipeline import ActorPlan, JobSpec
    from reelsense.pipeline._ray import RayEngine

    def plan(on: str, nodes: int) -> ActorPlan:
        return ActorPlan(build=tuple, metadata={})

    engine = RayEngine(
        JobSpec(worker_stages=(), actor_plan=plan, device="auto"), RunConfig(ray_actors=actors)
    )
    engine.ray = _Cluster(gpus, cpus)
    if isinstance(expected, str):
        with pytest.raises(ParameterError, match=expected):
            engine._resources(fixed=fixed)
        return
    with caplog.at_level("WARNING", logger="reelsense"):
        engine._resources(fixed=fixed)
    assert engine.actors == expected
    assert ("wait" in caplog.text) == (not fixed)
    # the default capped below one actor per GPU is said (GPUs left idle)
    assert ("not one per GPU" in caplog.text) == (actors is None and 0 < cpus - 1 < gpus), caplog.text


def test_only_an_address_or_ray_address_joins_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """--ray-address local starts a new session on this machine (Ray's meaning), whose CPUs do
    not grow: too many actors there are refused, not only warned about before a wait forever."""
    from reelsense.pipeline._ray import joins_cluster

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    addresses = (None, "local", "auto", "ray://head:10001")
    assert [joins_cluster(a) for a in addresses] == [False, False, True, True]
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert [joins_cluster(a) for a in (None, "local", "auto")] == [True, False, True]


def test_cuda_on_a_cluster_without_gpus_is_refused() -> None:
    """The local engine refuses ``device="cuda"`` without CUDA; the Ray engine refuses it on a
    cluster without GPUs (it ran the models on the CPUs and recorded ``device: cpu``)."""
    from reelsense.errors import ParameterError
    from reelsense.pipeline import JobSpec
    from reelsense.pipeline._ray import RayEngine

    engine = RayEngine(JobSpec(worker_stages=(), device="cuda"), RunConfig())
    engine.ray = _Cluster(0.0)
    with pytest.raises(
        ParameterError, match=r"device 'cuda' requested: 1 GPUs per model actor .* has 0 GPUs"
    ):
        engine._resources()


def test_the_library_refuses_a_device_ray_cannot_honour(
    media: tuple[Path, Path], work_log: Path, tmp_path: Path
) -> None:
    """``embed_corpus(engine="ray")`` with an explicit device: refused, as the local engine
    refuses one it cannot use, and nothing is written (this machine's Ray session has no GPU)."""
    from reelsense.errors import ParameterError

    _, videos = media
    for device, message in (
        ("cuda", "device 'cuda' requested: .* has 0 GPUs"),
        ("cuda:0", "device 'cuda:0': the Ray engine takes"),
        ("mps", "device 'mps': the Ray engine takes"),
    ):
        with pytest.raises(ParameterError, match=message):
            embed_with_ray([videos], tmp_path / "out", device=device)
        assert not (tmp_path / "out").exists()
