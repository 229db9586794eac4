"""The GPU-oriented arrangement of the model stages gives the same numbers as the plain one:
log-mel statistics in the workers, image passes queued on the device, per-item isolation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from media import write_audio, write_video
from reelsense.audio.embedding import load_audio_encoder
from reelsense.featurize import FeaturizerConfig, VideoFeaturizer
from reelsense.featurize._model_stages import AudioEmbeddingStage
from reelsense.io import FrameSampling, decode
from reelsense.pipeline import StageItem, WorkerStage, run_feature_stages
from reelsense.vision import load_image_encoder


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> list:
    root = tmp_path_factory.mktemp("stage-paths")
    write_video(root / "a.mp4", duration_seconds=2.0, audio="tone", seed=1)
    write_video(root / "b.mp4", duration_seconds=1.5, audio="noise", seed=2, width=96, height=96)
    write_video(root / "mute.mp4", duration_seconds=1.0, audio=None, seed=3)
    write_audio(root / "c.flac", duration_seconds=3.0, signal="noise")
    sampling = FrameSampling(strategy="count", count=3, max_side=128)
    return [
        decode(root / name, audio_sample_rate=22050, frames=sampling)
        for name in ("a.mp4", "b.mp4", "mute.mp4", "c.flac")
    ]


def test_log_mel_statistics_in_the_workers_equal_the_batched_stage(decoded: list) -> None:
    batched = AudioEmbeddingStage(load_audio_encoder("logmel_stats"))
    worker = batched.for_workers()
    assert worker is not None and isinstance(worker, WorkerStage)
    assert (worker.name, worker.version, worker.options(), worker.fields) == (
        batched.name,
        batched.version,
        batched.options(),
        batched.fields,
    )
    items = [StageItem(str(i), {}, media) for i, media in enumerate(decoded)]
    expected = batched.process_batch(items)
    for media, want in zip(decoded, expected, strict=True):
        got = worker.process(media)["audio_vector"]
        if want["audio_vector"] is None:
            assert got is None and media.audio is None
        else:
            np.testing.assert_array_equal(got, want["audio_vector"])
    assert sum(e["audio_vector"] is not None for e in expected) == 3


def test_featurizer_puts_model_free_audio_in_the_workers() -> None:
    fz = VideoFeaturizer(FeaturizerConfig(preset="tiny", device="cpu", presence=False))
    assert [s.name for s in fz.worker_stages()] == ["audio_descriptors", "audio_embedding"]
    assert [s.name for s in fz.feature_stages()] == ["visual", "caption", "fusion"]
    clip = VideoFeaturizer(
        FeaturizerConfig(preset="tiny_clip", device="cpu", presence=False)
    )  # a model: batched here
    assert [s.name for s in clip.feature_stages()] == ["visual", "caption", "audio_embedding", "fusion"]


def test_image_passes_on_the_device_equal_encode(decoded: list) -> None:
    """Frames of several sizes, passes of 2 frames, one copy back: the vectors of encode()."""
    fz = VideoFeaturizer(FeaturizerConfig(preset="tiny", device="cpu", presence=False, batch_size=2))
    assert fz.visual is not None
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, (3, 40, 24, 3), dtype=np.uint8),
        rng.integers(0, 256, (0, 40, 24, 3), dtype=np.uint8),
        rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 256, (1, 40, 24, 3), dtype=np.uint8),
    ]
    got = fz.visual.encode_frames(arrays)
    encoder = fz.visual.encoder
    for array, vectors in zip(arrays, got, strict=True):
        assert vectors.shape == (array.shape[0], encoder.dim) and vectors.dtype == np.float32
        if array.shape[0]:
            np.testing.assert_allclose(
                vectors, encoder.encode(array, batch_size=2, normalize=False), atol=1e-6
            )
    same = load_image_encoder("tiny_image", device="cpu")
    np.testing.assert_allclose(got[2], same.encode(arrays[2], normalize=False), atol=1e-5)  # other passes


@dataclass
class _Picky:
    """A feature stage that fails on the batch holding ``bad`` (and on ``bad`` alone)."""

    bad: str
    name: str = "picky"
    version: int = 1
    needs_audio: bool = False
    needs_frames: bool = False
    seen: int = 0

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return (pa.field("picked", pa.int32()),)

    def options(self) -> dict[str, Any]:
        return {}

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        self.seen += len(items)
        if any(item.video_id == self.bad for item in items):
            raise RuntimeError(f"cannot handle {self.bad}")
        return [{"picked": len(items)} for _ in items]


def test_run_feature_stages_isolates_the_failing_item(decoded: list) -> None:
    batch = [({"video_id": vid, "status": "ok"}, media) for vid, media in zip("abcd", decoded, strict=True)]
    first, second = _Picky("b"), _Picky("nobody")
    run_feature_stages([first, second], batch)
    rows = {row["video_id"]: row for row, _ in batch}
    assert (
        rows["b"]["status"] == "error"
        and "stage 'picky' failed: RuntimeError: cannot handle b" in rows["b"]["error"]
    )
    assert [rows[v]["picked"] for v in "acd"] == [3, 3, 3]  # second stage: one batch of the 3 survivors
    assert "picked" not in rows["b"] and first.seen == 4 + 4 and second.seen == 3
