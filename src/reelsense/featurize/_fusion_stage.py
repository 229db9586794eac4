"""The fusion stage: ``embedding`` and ``modality_mask`` from a row's stored columns.

The embedding is a pure function of columns that are in the output (``visual_vector``,
``caption_vector``, ``audio_vector``, ``sound_id``/``sound_score``, ``sound_cluster``), so
it can be recomputed from the Parquet file alone: that is how discovered sound clusters
(a corpus-level result) enter the embeddings in a final pass after the per-video rows are
written (see :mod:`reelsense.featurize`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from reelsense.errors import ParameterError
from reelsense.featurize._model_stages import vector_field
from reelsense.fusion import (
    MODALITIES,
    VECTOR_COLUMNS,
    FusedEmbeddings,
    FusionConfig,
    fuse,
    match_confidence,
)
from reelsense.pipeline import StageItem

__all__ = [
    "MIN_MUSIC_FRACTION",
    "FusionStage",
    "fuse_columns",
    "mask_field",
    "mask_rows",
    "sound_keys",
    "vectors_from_arrow",
    "vectors_from_values",
]


#: A soundtrack with less music than this (``music_fraction``, when presence was computed)
#: counts as having no music: it takes no part in sound discovery (speech-only and ambience
#: videos share voice lines and recordings, not sounds; without this, speech-only videos
#: group through shared voice lines), and its audio vector never stands in for a sound
#: component (:attr:`FusionConfig.audio_stand_in`).
MIN_MUSIC_FRACTION = 0.1


def music_flags(fractions: Sequence[float | None] | None) -> np.ndarray | None:
    """bool ``[n]``: ``music_fraction >= MIN_MUSIC_FRACTION`` (False where unknown); None
    when the column is absent."""
    if fractions is None:
        return None
    return np.asarray([f is not None and f >= MIN_MUSIC_FRACTION for f in fractions], dtype=bool)


def mask_field() -> pa.Field:
    """``modality_mask``: struct of one bool per fused component."""
    return pa.field("modality_mask", pa.struct([pa.field(m, pa.bool_()) for m in MODALITIES]))


def vectors_from_values(values: Sequence[Any]) -> np.ndarray | None:
    """Stack per-row vectors (arrays, lists or None) into float32 ``[n, d]`` with NaN rows
    for None; ``None`` when every row is None."""
    dim = next((len(v) for v in values if v is not None), None)
    if dim is None:
        return None
    out = np.full((len(values), dim), np.nan, dtype=np.float32)
    for i, value in enumerate(values):
        if value is not None:
            out[i] = np.asarray(value, dtype=np.float32)
    return out


def vectors_from_arrow(column: pa.ChunkedArray | pa.Array, name: str = "the column") -> np.ndarray:
    """A ``fixed_size_list<float32>[d]`` column as float32 ``[n, d]`` (NaN rows for nulls). A
    variable-length list column (another tool's file) is taken when its rows share one length;
    anything else raises ParameterError naming ``name``."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    numeric = (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ) and (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type))
    if not numeric:
        raise ParameterError(f"{name} is not a vector column (a list of numbers): its type is {kind}")
    if not pa.types.is_fixed_size_list(kind):
        import pyarrow.compute as pc  # only for another tool's file: not at import

        lengths = set(pc.list_value_length(array).drop_null().to_pylist())
        if len(lengths) > 1:
            raise ParameterError(
                f"{name} holds vectors of {len(lengths)} different lengths: {sorted(lengths)[:5]}"
            )
        array = array.cast(pa.list_(kind.value_type, lengths.pop() if lengths else 1))
    dim = array.type.list_size
    out = np.full((len(array), dim), np.nan, dtype=np.float32)
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if valid.any():
        out[valid] = np.asarray(array.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, dim)
    return out


def sound_keys(
    sound_ids: Sequence[str | None],
    scores: Sequence[float | None],
    clusters: Sequence[str | None] | None,
    config: FusionConfig,
) -> tuple[list[str | None], np.ndarray]:
    """The sound key and confidence of each row: its own index match when it has one (at
    or above ``config.min_sound_score``; confidence :func:`match_confidence`), else its
    discovered cluster (confidence 1), else none."""
    keys: list[str | None] = []
    conf = np.zeros(len(sound_ids))
    for i, (sound_id, score) in enumerate(zip(sound_ids, scores, strict=True)):
        if sound_id and score is not None and score >= config.min_sound_score and match_confidence(score) > 0:
            keys.append(sound_id)
            conf[i] = match_confidence(score)
        elif clusters is not None and clusters[i]:
            keys.append(clusters[i])
            conf[i] = 1.0
        else:
            keys.append(None)
    return keys, conf


def fuse_columns(columns: Mapping[str, Any], n: int, config: FusionConfig) -> FusedEmbeddings:
    """Fuse from output columns: ``*_vector`` as float arrays ``[n, d]`` (NaN rows) or absent,
    ``sound_id``/``sound_score``/``sound_cluster``/``music_fraction`` as sequences or absent."""
    sound_ids = columns.get("sound_id")
    clusters = columns.get("sound_cluster")
    keys: list[str | None] | None = None
    conf = None
    if sound_ids is not None or clusters is not None:
        ids = list(sound_ids) if sound_ids is not None else [None] * n
        scores = list(columns.get("sound_score") or [None] * n)
        keys, conf = sound_keys(ids, scores, list(clusters) if clusters is not None else None, config)
    vectors = {m: columns.get(col) for m, col in VECTOR_COLUMNS.items()}
    if all(v is None for v in vectors.values()) and keys is None:
        return FusedEmbeddings(
            np.full((n, config.dim), np.nan, np.float32), np.zeros((n, len(MODALITIES)), bool)
        )
    music = music_flags(columns.get("music_fraction"))
    return fuse(config, **vectors, sound_keys=keys, sound_confidence=conf, music=music)


def mask_rows(mask: np.ndarray) -> list[dict[str, bool]]:
    """``modality_mask`` values for each row of a bool ``[n, 4]`` mask."""
    return [{m: bool(v) for m, v in zip(MODALITIES, row, strict=True)} for row in mask]


@dataclass(eq=False)
class FusionStage:
    """``embedding`` (``fixed_size_list<float32>[dim]``, null when no component is present)
    and ``modality_mask``; with ``discover_sounds``, also the ``sound_cluster`` /
    ``sound_cluster_size`` columns, left null here and filled by the corpus pass."""

    config: FusionConfig = field(default_factory=FusionConfig)
    discover_sounds: bool = False
    models: Mapping[str, Any] = field(default_factory=dict)
    name: str = "fusion"
    version: int = 1
    needs_audio: bool = False
    needs_frames: bool = False

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        out = [vector_field("embedding", self.config.dim), mask_field()]
        if self.discover_sounds:
            out += [pa.field("sound_cluster", pa.string()), pa.field("sound_cluster_size", pa.int32())]
        return tuple(out)

    def options(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "discover_sounds": self.discover_sounds, "models": dict(self.models)}

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        rows = [item.row for item in items]
        columns: dict[str, Any] = {
            col: vectors_from_values([r.get(col) for r in rows]) for col in VECTOR_COLUMNS.values()
        }
        for name in ("sound_id", "sound_score", "sound_cluster", "music_fraction"):
            if any(name in r for r in rows):
                columns[name] = [r.get(name) for r in rows]
        fused = fuse_columns({k: v for k, v in columns.items() if v is not None}, len(rows), self.config)
        out = []
        for vector, mask in zip(fused.vectors, mask_rows(fused.mask), strict=True):
            out.append({"embedding": vector if any(mask.values()) else None, "modality_mask": mask})
        return out
