"""The per-video result of the featurizer: frozen dataclasses built from an output row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from reelsense.audio.descriptors import AudioDescriptors
from reelsense.fusion import FUSION_VERSION, MODALITIES

__all__ = ["AudioPresenceColumns", "ModalityMask", "SoundIdentity", "VideoFeatures"]


@dataclass(frozen=True)
class ModalityMask:
    """Which components went into a video's embedding."""

    visual: bool = False
    caption: bool = False
    audio: bool = False
    sound: bool = False

    @classmethod
    def from_value(cls, value: Mapping[str, Any] | None) -> ModalityMask:
        value = value or {}
        return cls(**{m: bool(value.get(m)) for m in MODALITIES})

    def names(self) -> tuple[str, ...]:
        """The present components, in :data:`~reelsense.fusion.MODALITIES` order."""
        return tuple(m for m in MODALITIES if getattr(self, m))


@dataclass(frozen=True)
class SoundIdentity:
    """The sound a video uses: the best index match (``sound_id`` ... ``pitch_semitones``;
    None without ``--sound-index`` or without a match) and the discovered cluster
    (``cluster``, ``cluster_size``; None unless sounds were discovered over a corpus)."""

    sound_id: str | None = None
    score: float | None = None
    offset_seconds: float | None = None
    speed: float | None = None
    tempo: float | None = None
    pitch_semitones: float | None = None
    cluster: str | None = None
    cluster_size: int | None = None

    @property
    def identified(self) -> bool:
        return self.sound_id is not None or self.cluster is not None


@dataclass(frozen=True)
class AudioPresenceColumns:
    """Speech/music presence of the soundtrack as stored in the output."""

    speech_fraction: float | None
    music_fraction: float | None
    speech_seconds: float | None
    music_seconds: float | None
    voice_over: bool | None
    silent: bool | None


def _vector(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.asarray(value, dtype=np.float32)


@dataclass(frozen=True, repr=False)
class VideoFeatures:
    """Everything the featurizer computed for one video.

    Attributes:
        video_id, path: the video's id (sidecar id, else file stem/relative path) and file.
        status, error: ``ok``, or ``error`` with the reason (the other fields are then empty).
        embedding: fused float32 ``[dim]``, unit norm; None when no component was present.
        modality_mask: which components the embedding holds.
        visual: pooled frame vector float32 ``[d_image]``; caption: ``[d_text]``; audio:
            ``[d_audio]`` (None when the modality is missing).
        frame_vectors: per-frame L2-normalised vectors ``[n, d_image]`` with
            ``frame_pts_seconds`` ``[n]`` (only when the featurizer keeps them).
        descriptors: audio descriptors (None without audio); presence: speech/music
            presence (None without audio or when not computed).
        sound: index match and discovered cluster.
        caption_text: the text that was embedded (None: no caption).
        duration_seconds: media duration.
        fusion_version: :data:`reelsense.fusion.FUSION_VERSION` of the embedding.
        row: every column of the output row, as computed.
    """

    video_id: str
    path: str
    status: str
    error: str | None
    embedding: np.ndarray | None
    modality_mask: ModalityMask
    visual: np.ndarray | None
    caption: np.ndarray | None
    audio: np.ndarray | None
    frame_vectors: np.ndarray | None
    frame_pts_seconds: np.ndarray | None
    descriptors: AudioDescriptors | None
    presence: AudioPresenceColumns | None
    sound: SoundIdentity
    caption_text: str | None
    duration_seconds: float | None
    fusion_version: int
    row: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __repr__(self) -> str:
        dim = None if self.embedding is None else self.embedding.shape[0]
        return (
            f"VideoFeatures(video_id={self.video_id!r}, status={self.status!r}, embedding=<float32 [{dim}]>, "
            f"modalities={self.modality_mask.names()}, sound={self.sound.sound_id or self.sound.cluster!r})"
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any], caption_text: str | None = None) -> VideoFeatures:
        """Build from one output row (as the stages produced it, or read back from Parquet)."""
        descriptor_names = AudioDescriptors.__dataclass_fields__
        descriptors = None
        if row.get("audio_duration_seconds") is not None:
            values: dict[str, Any] = {name: row.get(f"audio_{name}") for name in descriptor_names}
            descriptors = AudioDescriptors(**values)
        presence = None
        if row.get("speech_fraction") is not None:
            presence = AudioPresenceColumns(
                **{name: row.get(name) for name in AudioPresenceColumns.__dataclass_fields__}
            )
        frames = row.get("frame_vectors")
        cluster_size = row.get("sound_cluster_size")
        return cls(
            video_id=str(row["video_id"]),
            path=str(row.get("path")),
            status=str(row.get("status")),
            error=row.get("error"),
            embedding=_vector(row.get("embedding")),
            modality_mask=ModalityMask.from_value(row.get("modality_mask")),
            visual=_vector(row.get("visual_vector")),
            caption=_vector(row.get("caption_vector")),
            audio=_vector(row.get("audio_vector")),
            frame_vectors=None if frames is None else np.asarray(list(frames), dtype=np.float32),
            frame_pts_seconds=None
            if row.get("frame_pts_seconds") is None
            else np.asarray(row["frame_pts_seconds"], dtype=np.float64),
            descriptors=descriptors,
            presence=presence,
            sound=SoundIdentity(
                sound_id=row.get("sound_id"),
                score=row.get("sound_score"),
                offset_seconds=row.get("sound_offset_seconds"),
                speed=row.get("sound_speed"),
                tempo=row.get("sound_tempo"),
                pitch_semitones=row.get("sound_pitch_semitones"),
                cluster=row.get("sound_cluster"),
                cluster_size=None if cluster_size is None else int(cluster_size),
            ),
            caption_text=caption_text,
            duration_seconds=row.get("duration_seconds"),
            fusion_version=FUSION_VERSION,
            row=dict(row),
        )
