"""VideoFeaturizer on the tiny models and generated media: features, masks, sounds, batching."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from media import write_audio, write_video
from music import make_notes, render, room_voice_noise
from reelsense.errors import ParameterError
from reelsense.featurize import FeaturizerConfig, VideoFeaturizer
from reelsense.featurize._corpus import assign_cluster_keys
from reelsense.fusion import MODALITIES, VECTOR_COLUMNS, FusionConfig
from reelsense.io import FrameSampling
from reelsense.pipeline import RunConfig


def tiny(**options: object) -> VideoFeaturizer:
    return VideoFeaturizer(FeaturizerConfig(preset="tiny", **options))  # type: ignore[arg-type]


SR = 22050


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two videos sharing a library song (one sped up by 1.2), one stranger song, one
    silent video without caption, one audio-only file; plus the library folder."""
    root = tmp_path_factory.mktemp("featurizer")
    lib = root / "lib"
    videos = root / "videos"
    lib.mkdir()
    videos.mkdir()
    notes = make_notes(7, 24.0)
    song = render(notes, 24.0, SR)
    write_audio(lib / "trend.wav", song, sample_rate=SR)
    write_audio(lib / "other.wav", render(make_notes(8, 24.0), 24.0, SR), sample_rate=SR)
    write_video(videos / "a.mp4", duration_seconds=6.0, audio=song[3 * SR : 9 * SR], sample_rate=SR, seed=1)
    faster = render(notes, 24.0, SR, time_scale=1 / 1.2, pitch=1.2)  # "sped up" edit
    write_video(videos / "b.mp4", duration_seconds=5.0, audio=faster[4 * SR : 9 * SR], sample_rate=SR, seed=2)
    write_video(videos / "c.mp4", duration_seconds=3.0, audio=render(make_notes(99, 3.0), 3.0, SR), seed=3)
    write_video(videos / "mute.mp4", duration_seconds=2.0, audio=None, scene_changes=(1.0,), seed=4)
    write_audio(videos / "voice.flac", duration_seconds=2.0, signal="noise")
    for name, caption in (
        ("a", "Sunset walk #GoldenHour"),
        ("b", "city lights #GoldenHour"),
        ("c", "my cat"),
    ):
        (videos / f"{name}.info.json").write_text(json.dumps({"id": name, "description": caption}), "utf-8")
    return root


@pytest.fixture(scope="module")
def featurizer(media_dir: Path) -> Iterator[VideoFeaturizer]:
    with tiny(
        device="cpu", sound_index=str(media_dir / "lib"), fusion=FusionConfig(dim=64), frame_vectors=True
    ) as fz:
        yield fz


@pytest.fixture(scope="module")
def features(featurizer: VideoFeaturizer, media_dir: Path) -> dict[str, object]:
    with ThreadPoolExecutor(2) as pool:
        out = featurizer.featurize_many([media_dir / "videos"], executor=pool)
    return {f.video_id: f for f in out}


def test_features_of_each_video(features: dict[str, object]) -> None:
    assert sorted(features) == ["a", "b", "c", "mute", "voice"]
    a = features["a"]
    assert a.ok and a.embedding.shape == (64,) and a.embedding.dtype == np.float32  # type: ignore[attr-defined]
    assert abs(float(np.linalg.norm(a.embedding)) - 1.0) < 1e-5  # type: ignore[attr-defined]
    assert a.modality_mask.names() == ("visual", "caption", "audio", "sound")  # type: ignore[attr-defined]
    assert a.caption_text == "Sunset walk golden hour"  # type: ignore[attr-defined]
    assert a.visual.shape == (64,) and a.caption.shape == (32,)  # type: ignore[attr-defined]
    assert a.descriptors is not None and a.descriptors.duration_seconds > 5  # type: ignore[attr-defined]
    frames = a.frame_vectors  # type: ignore[attr-defined]
    assert frames.shape[0] == a.row["visual_frames"] >= 1 and frames.shape[1] == 64  # type: ignore[attr-defined]
    np.testing.assert_allclose(np.linalg.norm(frames, axis=1), 1.0, atol=1e-5)
    assert a.frame_pts_seconds.shape == (frames.shape[0],)  # type: ignore[attr-defined]


def test_sound_match_columns_and_identity(features: dict[str, object]) -> None:
    a, b, c = features["a"], features["b"], features["c"]
    assert a.sound.sound_id == "trend" and b.sound.sound_id == "trend"  # type: ignore[attr-defined]
    assert abs(a.sound.offset_seconds - 3.0) < 0.3 and abs(a.sound.speed - 1.0) < 0.03  # type: ignore[attr-defined]
    assert abs(b.sound.speed - 1.2) < 0.04  # type: ignore[attr-defined]
    assert c.sound.sound_id is None and not c.modality_mask.sound  # type: ignore[attr-defined]
    # same sound (one sped up): much closer than to the stranger, although pictures differ
    ea, eb, ec = a.embedding, b.embedding, c.embedding  # type: ignore[attr-defined]
    assert float(ea @ eb) > float(ea @ ec) + 0.2


def test_missing_modalities_are_masked(features: dict[str, object]) -> None:
    mute, voice = features["mute"], features["voice"]
    assert mute.modality_mask.names() == ("visual",)  # type: ignore[attr-defined]
    assert mute.audio is None and mute.caption is None and mute.descriptors is None  # type: ignore[attr-defined]
    assert voice.modality_mask.names() == ("audio",)  # type: ignore[attr-defined]
    assert voice.visual is None and voice.frame_vectors is None  # type: ignore[attr-defined]
    assert voice.embedding is not None and np.isfinite(voice.embedding).all()  # type: ignore[attr-defined]


def test_featurize_one_matches_the_batch(
    featurizer: VideoFeaturizer, media_dir: Path, features: dict
) -> None:
    one = featurizer.featurize(media_dir / "videos" / "b.mp4")
    assert one.video_id == "b"
    np.testing.assert_allclose(one.embedding, features["b"].embedding, atol=1e-6)  # batch-independent
    np.testing.assert_allclose(one.visual, features["b"].visual, atol=1e-6)
    with pytest.raises(ParameterError, match="not one media file"):
        featurizer.featurize(media_dir / "videos")


def test_batches_sized_by_frames(featurizer: VideoFeaturizer, media_dir: Path, features: dict) -> None:
    """Batch boundaries (1 frame per batch) change nothing."""
    with ThreadPoolExecutor(1) as pool:
        small = featurizer.featurize_many(
            [media_dir / "videos"], run=RunConfig(workers=1, batch_frames=1), executor=pool
        )
    for f in small:
        if f.embedding is not None:
            np.testing.assert_allclose(f.embedding, features[f.video_id].embedding, atol=1e-6)


def test_metadata_and_stages(featurizer: VideoFeaturizer) -> None:
    meta = featurizer.metadata()
    assert meta["models"] == {"image": "tiny_image", "text": "tiny_text", "audio": "logmel_stats"}
    assert meta["fusion"]["dim"] == 64 and meta["fusion"]["version"] >= 1
    assert meta["sound_index_sha256"] and meta["device"] == "cpu" and meta["precision"] == "fp32"
    names = [s.name for s in featurizer.worker_stages()]
    assert names[0] == "audio_descriptors" and names[-2:] == ["sound_match", "audio_embedding"]
    assert [s.name for s in featurizer.feature_stages()] == ["visual", "caption", "fusion"]
    assert featurizer.frame_sampling == FrameSampling(strategy="keyframes", max_side=114, max_frames=16)


def test_vector_columns_are_the_ones_the_stages_write(featurizer: VideoFeaturizer) -> None:
    # readers (fusion apply, the ranker's catalog, the corpus pass) find the vectors through
    # VECTOR_COLUMNS; a reader keyed by modality names instead fused the sound alone
    stages = (*featurizer.worker_stages(), *featurizer.feature_stages())
    written = {f.name for s in stages for f in s.fields}
    assert set(VECTOR_COLUMNS.values()) <= written
    assert featurizer.metadata()["modality_columns"] == VECTOR_COLUMNS
    assert set(VECTOR_COLUMNS) == set(MODALITIES) - {"sound"}


def test_cluster_keys_are_stable_and_prefer_index_ids() -> None:
    keys, sizes = assign_cluster_keys(
        ["g1", "g1", "g1", "g2", "g2", None, "g3"],
        ["v5", "v2", "v9", "v7", "v3", "v1", "v4"],
        ["trend", None, "trend", None, None, "x", None],
    )
    assert keys == ["trend", "trend", "trend", "discovered:v3", "discovered:v3", None, None]
    assert sizes == [3, 3, 3, 2, 2, None, None]


def test_bad_options(media_dir: Path) -> None:
    with pytest.raises(ParameterError, match="does not exist"):
        tiny(device="cpu", sound_index=str(media_dir / "nope"))
    with pytest.raises(ParameterError, match="fp16"):
        tiny(device="cpu", precision="fp16")
    empty = media_dir / "empty_lib"
    empty.mkdir(exist_ok=True)
    with pytest.raises(ParameterError, match="no audio or video files"):
        tiny(device="cpu", sound_index=str(empty))
    fz = tiny(device="cpu", frames=FrameSampling(strategy="count", count=2))
    assert fz.frame_sampling is not None and fz.frame_sampling.strategy == "count"
    assert fz.sound_index is None and "sound_match" not in [s.name for s in fz.worker_stages()]


def test_device_and_precision_plumbing(media_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """auto picks the CPU here (no CUDA/MPS) with fp32; bf16 autocast runs on the CPU and the
    embedding stays close to fp32's; the models report what they run on."""
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    auto = tiny(presence=False)
    assert auto.device == "cpu" and auto.precision == "fp32"
    bf16 = tiny(device="cpu", precision="bf16", presence=False)
    assert bf16.precision == "bf16" and bf16.metadata()["precision"] == "bf16"
    path = media_dir / "videos" / "a.mp4"
    a, b = auto.featurize(path), bf16.featurize(path)
    assert a.embedding is not None and b.embedding is not None
    assert float(a.embedding @ b.embedding) > 0.98
    assert "speech_fraction" not in a.row  # presence=False: no presence columns


def test_model_threads_leave_room_for_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from reelsense.featurize._featurizer import model_threads

    monkeypatch.setattr("reelsense.featurize._featurizer.available_cpus", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        with model_threads(RunConfig(workers=3), None):
            assert torch.get_num_threads() == 1  # 4 CPUs - 3 decoding workers
        assert torch.get_num_threads() == 4  # restored
        with model_threads(RunConfig(workers=1), None):
            assert torch.get_num_threads() == 3
        with ThreadPoolExecutor(1) as pool, model_threads(RunConfig(workers=3), pool):
            assert torch.get_num_threads() == 4  # a caller's executor: left alone
    finally:
        torch.set_num_threads(before)


def test_discovery_sees_the_videos_in_id_order_whatever_the_row_order() -> None:
    """Rows land in the order workers finish; the discoverer (whose index depends on input
    order) is given the videos sorted by id, so the grouping is the same on every run."""
    import pyarrow as pa

    from reelsense.featurize._corpus import cluster_sound_table
    from reelsense.featurize._discovery import Discoverer
    from reelsense.fusion import FusionConfig

    seen: list[list[str]] = []

    class SeenError(Exception):
        pass

    def run(paths: object, video_ids: list[str]) -> list[str | None]:
        seen.append(list(video_ids))
        raise SeenError

    ids = ["c", "a", "d", "b"]
    table = pa.table(
        {
            "video_id": ids,
            "path": [f"/x/{v}.mp4" for v in ids],
            "status": ["ok"] * 4,
            "has_audio": [True] * 4,
            "sound_cluster": pa.array([None] * 4, pa.string()),
            "sound_cluster_size": pa.array([0] * 4, pa.int32()),
            "embedding": pa.array([None] * 4, pa.list_(pa.float32())),
            "modality_mask": pa.array([0] * 4, pa.int32()),
        }
    )
    for order in (ids, ids[::-1]):
        rows = table.take([ids.index(v) for v in order])
        with pytest.raises(SeenError):
            cluster_sound_table(rows, FusionConfig(), Discoverer("t", run, residual_only=False))
    assert seen == [["a", "b", "c", "d"]] * 2


def test_second_chance_finds_a_reverberant_use_under_a_voice(tmp_path: Path) -> None:
    """``second_chance`` reaches the sound match: a library song in a room under a voice-over
    and noise, which the peak search misses, is found with it and not without."""
    lib, videos = tmp_path / "lib", tmp_path / "videos"
    lib.mkdir()
    videos.mkdir()
    songs = {f"song{seed}": render(make_notes(seed, 40.0), 40.0, SR) for seed in (11, 12, 13)}
    for name, song in songs.items():
        write_audio(lib / f"{name}.wav", song, sample_rate=SR)
    roomy = room_voice_noise(songs["song12"][12 * SR : 22 * SR], seed=4, sample_rate=SR)
    write_audio(videos / "roomy.wav", roomy, sample_rate=SR)  # lossless: the same samples everywhere
    with pytest.raises(ParameterError, match="second_chance=True needs a sound_index"):
        FeaturizerConfig(second_chance=True)
    found = {}
    for second_chance in (False, True):
        config = FeaturizerConfig(
            preset="tiny", device="cpu", sound_index=str(lib), second_chance=second_chance
        )
        assert ("second_chance" in config.record()) is second_chance  # older outputs still resume
        with VideoFeaturizer(config) as fz:
            stage = next(s for s in fz.worker_stages() if s.name == "sound_match")
            assert ("second_chance" in stage.options()) is second_chance
            (out,) = fz.featurize_many([videos])
        found[second_chance] = out.sound
    assert found[False].sound_id is None
    assert found[True].sound_id == "song12"
    assert abs(found[True].offset_seconds - 12.0) < 0.3


def test_second_chance_scope_is_recorded_only_when_bounded() -> None:
    """``second_chance_scope`` reaches the sound match stage and discovery's library look-up; the
    output records it only for ``candidates`` (outputs made before it existed still resume)."""
    from reelsense.featurize._audio_stages import SoundMatchStage
    from reelsense.featurize._corpus import _default_discoverer

    with pytest.raises(ParameterError, match="second_chance_scope='all'"):
        FeaturizerConfig(sound_index="lib.rsidx", second_chance=True, second_chance_scope="all")  # type: ignore[arg-type]
    for scope in ("library", "candidates"):
        config = FeaturizerConfig(
            preset="tiny", sound_index="lib.rsidx", second_chance=True, second_chance_scope=scope
        )
        assert config.record().get("second_chance_scope") == (None if scope == "library" else scope)
        stage = SoundMatchStage("lib.rsidx", second_chance=True, second_chance_scope=scope)
        assert stage.options().get("second_chance_scope") == (None if scope == "library" else scope)
        name = _default_discoverer("lib.rsidx", config).name  # what a resumed corpus pass compares
        assert ("second_chance_scope=candidates" in name) is (scope == "candidates")


def test_min_score_is_the_matchers_default_and_recorded_only_when_changed() -> None:
    from reelsense.featurize._config import DEFAULT_MIN_SCORE
    from reelsense.sounds import MatchConfig

    assert MatchConfig().threshold == DEFAULT_MIN_SCORE
    assert "min_score" not in FeaturizerConfig(sound_index="lib.rsidx").record()  # earlier outputs resume
    assert FeaturizerConfig(sound_index="lib.rsidx", min_score=4.0).record()["min_score"] == 4.0
    with pytest.raises(ParameterError, match="min_score=nan must be a finite number"):
        FeaturizerConfig(sound_index="lib.rsidx", min_score=float("nan"))
    with pytest.raises(ParameterError, match=r"min_score=-1\.0 must be >= 0"):  # the matcher would refuse it
        FeaturizerConfig(sound_index="lib.rsidx", min_score=-1.0)
    with pytest.raises(ParameterError, match=r"min_score=4\.0 needs a sound_index"):
        FeaturizerConfig(min_score=4.0)


def test_featurize_refuses_a_folder_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_audio(tmp_path / "a.wav")
    featurizer = VideoFeaturizer(FeaturizerConfig(preset="none"))

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("featurized the folder's files")

    monkeypatch.setattr(featurizer, "featurize_many", no_work)
    with pytest.raises(ParameterError, match="is a folder, not one media file"):
        featurizer.featurize(tmp_path)
    with pytest.raises(ParameterError, match="path=None must be a path"):
        featurizer.featurize(None)  # type: ignore[arg-type]


def test_entry_points_refuse_wrong_types(tmp_path: Path) -> None:
    from reelsense.featurize import embed_corpus

    with pytest.raises(ParameterError, match=r"fusion=.* must be a FusionConfig"):
        FeaturizerConfig(fusion={"dim": 8})  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="frames=3 must be a FrameSampling or a strategy name"):
        FeaturizerConfig(frames=3)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"config=.* must be a FeaturizerConfig"):
        VideoFeaturizer({"preset": "tiny"})  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="paths='videos' is a single path"):
        VideoFeaturizer(FeaturizerConfig(preset="none")).featurize_many("videos")  # type: ignore[arg-type]
    out = tmp_path / "out.parquet"
    with pytest.raises(ParameterError, match="inputs='videos' is a single path: pass a list of paths"):
        embed_corpus("videos", out)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"config=RunConfig.* must be a FeaturizerConfig.*swapped"):
        embed_corpus([tmp_path], out, RunConfig(), FeaturizerConfig())  # type: ignore[arg-type]
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 1.5}, r"batch_size=1\.5 must be an integer, got float"),
        ({"batch_size": True}, r"batch_size=True must be an integer, got bool"),
        ({"batch_size": float("nan")}, r"batch_size=nan must be an integer, got float"),
        ({"batch_size": "8"}, r"batch_size='8' must be an integer, got str"),
        ({"batch_size": 0}, r"batch_size=0 must be >= 1"),
        ({"limit_duration_seconds": True}, r"limit_duration_seconds=True must be a number, got bool"),
        ({"limit_duration_seconds": "5"}, r"limit_duration_seconds='5' must be a number, got str"),
        ({"limit_duration_seconds": float("nan")}, r"limit_duration_seconds=nan must be a finite number"),
        ({"limit_duration_seconds": float("inf")}, r"limit_duration_seconds=inf must be a finite number"),
        ({"limit_duration_seconds": 0.0}, r"limit_duration_seconds=0\.0 must be > 0"),
    ],
)
def test_config_numbers_are_checked_by_type(options: dict[str, object], message: str) -> None:
    """An integer field takes no float or bool (``batch_size=1.5`` used to pass the check and
    fail in the first model batch); a time field takes no bool, string or NaN."""
    with pytest.raises(ParameterError, match=message):
        FeaturizerConfig(**options)  # type: ignore[arg-type]


def test_config_numbers_are_python_numbers() -> None:
    config = FeaturizerConfig(batch_size=np.int64(4), limit_duration_seconds=np.float32(2.5))  # type: ignore[arg-type]
    assert type(config.batch_size) is int and config.batch_size == 4
    assert type(config.limit_duration_seconds) is float and config.limit_duration_seconds == 2.5
    assert FeaturizerConfig().batch_size is None and FeaturizerConfig().limit_duration_seconds is None


def test_embed_corpus_takes_an_iterator_of_inputs(tmp_path: Path) -> None:
    """The inputs are listed once: an iterator was walked by the plan and then seen empty
    ('list_iterator' object is not subscriptable), and an empty one ended with 'no media
    files found under ' followed by nothing."""
    from reelsense.featurize import embed_corpus

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", duration_seconds=1.0, seed=1)
    none, run = FeaturizerConfig(preset="none"), RunConfig(workers=1)
    with pytest.raises(ParameterError, match=r"^inputs=\[\] is empty: no inputs given"):
        embed_corpus(iter([]), tmp_path / "empty.parquet", none, run)
    summary = embed_corpus(iter([videos]), tmp_path / "out.parquet", none, run)
    assert (summary.found, summary.ok) == (1, 1)


def test_embed_with_an_index_leaves_its_folder_as_it_found_it(tmp_path: Path) -> None:
    """The read-only connections of the sound match (one per decoding worker) left an empty
    lib.rsidx-wal and a lib.rsidx-shm beside the index."""
    from reelsense.featurize import embed_corpus
    from reelsense.sounds import SoundIndex

    index = tmp_path / "idx" / "lib.rsidx"
    song = render(make_notes(7, 8.0), 8.0, SR)
    with SoundIndex.create(index) as created:
        created.add_array("song", song, SR)
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", duration_seconds=4.0, audio=song[SR : 5 * SR], sample_rate=SR, seed=1)
    config = FeaturizerConfig(preset="tiny", device="cpu", sound_index=str(index))
    summary = embed_corpus([videos], tmp_path / "out.parquet", config, RunConfig(workers=2))
    assert summary.ok == 1
    assert sorted(p.name for p in index.parent.iterdir()) == ["lib.rsidx", "lib.rsidx-search"]
