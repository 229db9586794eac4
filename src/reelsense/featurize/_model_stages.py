"""Batched model stages (main process or a Ray model actor): frames, captions and soundtracks to vectors.

Each stage holds a loaded encoder and turns a batch of decoded videos into one vector
column (a fixed-size list of float32). A missing modality -- no video stream, no frame
decoded, no caption with letters or digits, no audio stream -- is a null, never a vector.

- :class:`VisualStage`: every sampled frame of every video in the batch goes through the
  image encoder together (frames of the same size are stacked and run in passes of
  ``batch_size`` frames), then each video's frame vectors are pooled
  (:func:`reelsense.fusion.pool_frames`). Optionally the per-frame vectors are kept too.
- :class:`CaptionStage`: :func:`reelsense.text.build_caption_text` of the caption (the
  title when there is no caption) and the platform tags, embedded in one call per batch.
- :class:`AudioEmbeddingStage`: the audio encoder over the decoded soundtracks.

"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from reelsense.errors import ParameterError
from reelsense.fusion import Pooling, pool_frames
from reelsense.io import DecodedMedia
from reelsense.pipeline import StageItem

if TYPE_CHECKING:
    from reelsense.audio.embedding import AudioEncoder
    from reelsense.text import TextEncoder
    from reelsense.vision import ImageEncoder

__all__ = [
    "AudioEmbeddingStage",
    "AudioStatisticsStage",
    "CaptionStage",
    "VisualStage",
    "caption_text_of",
    "vector_field",
]

log = logging.getLogger(__name__)


def vector_field(name: str, dim: int) -> pa.Field:
    """A nullable ``fixed_size_list<float32>[dim]`` column."""
    return pa.field(name, pa.list_(pa.float32(), dim))


def _model_record(entry: Any) -> dict[str, Any]:
    return {"model": entry.name, "dim": int(entry.output_dim), "source": entry.source.describe()}


@dataclass(eq=False)
class VisualStage:
    """Pooled frame vectors (``visual_vector``) and how many frames went in
    (``visual_frames``); with ``frame_vectors``, also ``frame_vectors`` (list of the
    per-frame vectors, L2-normalised) and ``frame_pts_seconds``."""

    encoder: ImageEncoder
    pooling: Pooling = "mean"
    frame_vectors: bool = False
    batch_size: int | None = None
    name: str = "visual"
    version: int = 1
    needs_audio: bool = False
    needs_frames: bool = True

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        dim = self.encoder.dim
        out = [vector_field("visual_vector", dim), pa.field("visual_frames", pa.int32())]
        if self.frame_vectors:
            out += [
                pa.field("frame_vectors", pa.list_(pa.list_(pa.float32(), dim))),
                pa.field("frame_pts_seconds", pa.list_(pa.float64())),
            ]
        return tuple(out)

    def options(self) -> dict[str, Any]:
        return {
            **_model_record(self.encoder.entry),
            "portrait_policy": self.encoder.portrait_policy,
            "pooling": self.pooling,
            "frame_vectors": self.frame_vectors,
        }

    def encode_frames(self, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Frame vectors float32 ``[n_i, dim]`` for each uint8 ``[n_i, h_i, w_i, 3]`` array;
        arrays of the same frame size are encoded together, in passes of ``batch_size``.

        The operations of :meth:`ImageEncoder.encode` (so the same vectors), arranged for a
        GPU: the frames of a size go up as one uint8 tensor (pinned on CUDA, each pass's
        slice copied ``non_blocking``) and are preprocessed on the device, and the features
        stay there until a single copy back for the whole batch, so the host queues every
        pass without waiting for the device.
        """
        import torch

        out: list[np.ndarray] = [np.zeros((0, self.encoder.dim), np.float32) for _ in batches]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, frames in enumerate(batches):
            if frames.shape[0]:
                groups[tuple(frames.shape[1:])].append(i)
        if not groups:
            return out
        order = [i for members in groups.values() for i in members]
        features = torch.cat(
            [self._encode_on_device([batches[i] for i in members]) for members in groups.values()]
        )
        host = features.cpu().numpy()  # the one synchronisation of the batch
        start = 0
        for i in order:
            count = batches[i].shape[0]
            out[i] = host[start : start + count]
            start += count
        return out

    def _encode_on_device(self, arrays: Sequence[np.ndarray]) -> Any:
        """Features ``[sum n_i, dim]`` on the encoder's device (not synchronised) of
        same-size uint8 frame arrays."""
        frames = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        return self.encoder.encode_on_device(frames, self.batch_size)

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        empty = np.zeros((0, 1, 1, 3), np.uint8)
        frames = [item.media.frames.frames if item.media.frames is not None else empty for item in items]
        encoded = self.encode_frames(frames)
        results: list[dict[str, Any]] = []
        for item, vectors in zip(items, encoded, strict=True):
            if vectors.shape[0] == 0:
                results.append({"visual_vector": None, "visual_frames": 0})
                continue
            assert item.media.frames is not None
            pts = item.media.frames.pts_seconds
            pooled = pool_frames(vectors, pts, item.media.info.duration_seconds, self.pooling)
            row: dict[str, Any] = {"visual_vector": pooled, "visual_frames": int(vectors.shape[0])}
            if self.frame_vectors:
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                unit = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
                row["frame_vectors"] = list(unit)
                row["frame_pts_seconds"] = [float(t) for t in pts]
            results.append(row)
        return results


def caption_text_of(row: Any) -> str | None:
    """The text embedded for a row: caption (else title) with its hashtags and tags as words."""
    from reelsense.text._caption import build_caption_text  # lazy: reelsense.text imports torch

    caption = row.get("caption") or row.get("title")
    return build_caption_text(caption, row.get("tags") or ())


@dataclass(eq=False)
class CaptionStage:
    """``caption_vector``: the text encoder on :func:`caption_text_of` (null when missing)."""

    encoder: TextEncoder
    name: str = "caption"
    version: int = 1
    needs_audio: bool = False
    needs_frames: bool = False

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return (vector_field("caption_vector", self.encoder.dim),)

    def options(self) -> dict[str, Any]:
        return {**_model_record(self.encoder.entry), "max_tokens": self.encoder.spec.max_tokens}

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        embedded = self.encoder.encode_captions([caption_text_of(item.row) for item in items])
        return [
            {"caption_vector": vector if present else None}
            for vector, present in zip(embedded.vectors, embedded.present, strict=True)
        ]


@dataclass(eq=False)
class AudioEmbeddingStage:
    """``audio_vector``: the audio encoder on the decoded soundtrack (null without audio)."""

    encoder: AudioEncoder
    name: str = "audio_embedding"
    version: int = 1
    needs_audio: bool = True
    needs_frames: bool = False

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return (vector_field("audio_vector", self.encoder.dim),)

    def options(self) -> dict[str, Any]:
        return {**_model_record(self.encoder.entry), "sample_rate": self.encoder.sample_rate}

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        keep = [
            i
            for i, item in enumerate(items)
            if item.media.audio is not None and item.media.audio.samples.size
        ]
        clips = []
        for i in keep:
            audio = items[i].media.audio
            assert audio is not None
            clips.append((audio.samples, audio.sample_rate))
        vectors = self.encoder.encode_many(clips)
        results: list[dict[str, Any]] = [{"audio_vector": None} for _ in items]
        for i, vector in zip(keep, vectors, strict=True):
            results[i] = {"audio_vector": vector}
        return results

    def for_workers(self) -> AudioStatisticsStage | None:
        """The same column computed in the decoding workers, when the encoder is plain CPU
        arithmetic with no model to batch (``logmel_stats``); None for model encoders."""
        entry = self.encoder.entry
        if entry.architecture != "logmel_stats":
            return None
        record = _model_record(entry)
        return AudioStatisticsStage(
            model=str(record["model"]),
            dim=int(record["dim"]),
            source=str(record["source"]),
            sample_rate=int(self.encoder.sample_rate),
        )


_WORKER_AUDIO_ENCODERS: dict[str, AudioEncoder] = {}


@dataclass(frozen=True)
class AudioStatisticsStage:
    """``audio_vector`` of a model-free audio encoder (``logmel_stats``), computed in the
    decoding workers: a :class:`~reelsense.pipeline.WorkerStage` with the name, version,
    options and column of :class:`AudioEmbeddingStage` on that encoder, and the same
    vectors (each clip is embedded on its own either way).

    Why in the workers: it is about 16 ms of numpy per 10 s clip; in the main process it
    would take CPU time from feeding the GPU (at 100 videos/s, 1.6 s of every second).
    The encoder is loaded once per worker process.
    """

    model: str
    dim: int
    source: str
    sample_rate: int
    name: str = "audio_embedding"
    version: int = 1
    needs_audio: bool = True
    needs_frames: bool = False

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return (vector_field("audio_vector", self.dim),)

    def options(self) -> dict[str, Any]:
        return {"model": self.model, "dim": self.dim, "source": self.source, "sample_rate": self.sample_rate}

    def process(self, media: DecodedMedia) -> dict[str, Any]:
        if media.audio is None or media.audio.samples.size == 0:
            return {"audio_vector": None}
        encoder = _WORKER_AUDIO_ENCODERS.get(self.model)
        if encoder is None:
            from reelsense.audio.embedding import load_audio_encoder

            encoder = _WORKER_AUDIO_ENCODERS[self.model] = load_audio_encoder(self.model)
        if encoder.dim != self.dim:
            raise ParameterError(
                f"audio model {self.model!r} gives {encoder.dim}-d vectors, expected {self.dim}"
            )
        return {"audio_vector": encoder.encode(media.audio.samples, media.audio.sample_rate)}
