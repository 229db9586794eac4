"""The videos a ranker can show: the rows of a ``reelsense embed`` output."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reelsense.errors import ParameterError
from reelsense.fusion import VECTOR_COLUMNS
from reelsense.rank._parquet import parquet_input

__all__ = ["Catalog", "catalog_rows", "fusion_record", "read_catalog"]

_PRESENCE = ("speech_fraction", "music_fraction", "silent", "voice_over", "has_audio")
_OPTIONAL = ("sound_id", "sound_cluster", "uploader", "hashtags", *_PRESENCE)


@dataclass(frozen=True, repr=False)
class Catalog:
    """Videos with their content, row ``i`` = ``video_ids[i]``.

    Attributes:
        video_ids: the videos (rows with ``status`` ok and an ``embedding``).
        embedding: float32 ``[n, D]``, the fused unit embedding.
        modalities: modality name -> float32 ``[n, d_m]`` vectors, NaN rows where missing.
        sound_keys: the sound of each video (index ``sound_id``, else discovered
            ``sound_cluster``), ``None`` where none.
        uploaders: the uploader of each video, ``None`` where unknown.
        hashtags: the hashtags of each video (lowercase).
        presence: float32 ``[n, 5]`` speech fraction, music fraction, silent, voice-over,
            has audio (0 where unknown).
        fusion_metadata: the file's ``reelsense.fusion`` metadata (JSON text), or ``""``.
    """

    video_ids: tuple[str, ...]
    embedding: np.ndarray
    modalities: dict[str, np.ndarray] = field(default_factory=dict)
    sound_keys: tuple[str | None, ...] = ()
    uploaders: tuple[str | None, ...] = ()
    hashtags: tuple[tuple[str, ...], ...] = ()
    presence: np.ndarray | None = None
    fusion_metadata: str = ""

    def __post_init__(self) -> None:
        n = len(self.video_ids)
        if self.embedding.ndim != 2 or self.embedding.shape[0] != n:
            raise ParameterError(f"embedding has shape {self.embedding.shape}, expected [{n}, D]")
        if len(set(self.video_ids)) != n:
            raise ParameterError("video_ids are not unique")
        for name, vectors in self.modalities.items():
            if vectors.ndim != 2 or vectors.shape[0] != n:
                raise ParameterError(f"{name} vectors have shape {vectors.shape}, expected [{n}, d]")
        for name, values in (
            ("sound_keys", self.sound_keys),
            ("uploaders", self.uploaders),
            ("hashtags", self.hashtags),
        ):
            if values and len(values) != n:
                raise ParameterError(f"{name} has {len(values)} entries, expected {n}")
        if self.presence is not None and self.presence.shape != (n, len(_PRESENCE)):
            raise ParameterError(
                f"presence has shape {self.presence.shape}, expected [{n}, {len(_PRESENCE)}]"
            )

    def __len__(self) -> int:
        return len(self.video_ids)

    def __repr__(self) -> str:
        mods = ", ".join(f"{k}={v.shape[1]}" for k, v in self.modalities.items())
        return f"Catalog(videos={len(self)}, embedding={self.embedding.shape[1]}, {mods})"

    @property
    def index(self) -> dict[str, int]:
        """video id -> row."""
        return {v: i for i, v in enumerate(self.video_ids)}

    def sound_key_list(self) -> list[str | None]:
        return list(self.sound_keys) if self.sound_keys else [None] * len(self)

    def unit_embedding(self) -> np.ndarray:
        norms = np.linalg.norm(self.embedding, axis=1, keepdims=True)
        return np.asarray(self.embedding / np.maximum(norms, 1e-12), dtype=np.float32)


def catalog_rows(
    video_ids: Sequence[object], status: Sequence[object] | None, has_embedding: np.ndarray, path: str | Path
) -> np.ndarray:
    """int64 file rows of the catalog, in its order (by video id): the rows with status
    ``ok`` (or no ``status`` column) and an embedding.

    Raises:
        ParameterError: no such row, or two of them share a video id.
    """
    keep = [int(i) for i in np.flatnonzero(has_embedding) if status is None or status[int(i)] == "ok"]
    if not keep:
        raise ParameterError(f"{str(path)!r} has no row with an embedding")
    keep.sort(key=lambda i: str(video_ids[i]))
    ids = [str(video_ids[i]) for i in keep]
    repeated = sorted({a for a, b in itertools.pairwise(ids) if a == b})
    if repeated:
        raise ParameterError(
            f"{str(path)!r}: {len(repeated)} video ids are on more than one row with an embedding, "
            f"e.g. {repeated[0]!r}: keep one row per video"
        )
    return np.asarray(keep, dtype=np.int64)


def fusion_record(metadata: dict[bytes, bytes] | None, path: str | Path) -> dict[str, Any]:
    """The ``reelsense.fusion`` record of a file's schema metadata (``{}`` when absent).

    Raises:
        ParameterError: the record is not a JSON object.
    """
    text = (metadata or {}).get(b"reelsense.fusion", b"").decode("utf-8", "replace")
    if not text:
        return {}
    try:
        record = json.loads(text)
    except ValueError as error:
        record = error
    if not isinstance(record, dict):
        detail = record if isinstance(record, ValueError) else f"a JSON {type(record).__name__}"
        raise ParameterError(
            f"{str(path)!r}: its 'reelsense.fusion' metadata is not a JSON object ({detail}); "
            "write the file again with `reelsense embed`"
        )
    return record


def read_catalog(path: str | Path) -> Catalog:
    """Read the videos of a ``reelsense embed`` output (a Parquet file or a folder of shards).

    Keeps the rows with status ``ok`` and an ``embedding``; reads the per-modality vectors,
    the sound (``sound_id``, else ``sound_cluster``), uploader, hashtags and presence
    columns when the file has them.

    Raises:
        ParameterError: the file has no ``embedding`` column, or no row with one.
    """
    import pyarrow.dataset as ds

    path = Path(path)
    if not path.exists():
        raise ParameterError(f"embeddings file {str(path)!r} does not exist")
    with parquet_input(path):
        dataset = ds.dataset(str(path), format="parquet")
    names = set(dataset.schema.names)
    if "embedding" not in names or "video_id" not in names:
        missing = "embedding" if "embedding" not in names else "video_id"
        raise ParameterError(
            f"{str(path)!r} has no {missing!r} column (was it written by `reelsense embed` with a preset "
            "other than 'none'?)"
        )
    columns = ["video_id", "embedding"] + [
        c for c in ("status", *VECTOR_COLUMNS.values(), *_OPTIONAL) if c in names
    ]
    # the vectors go straight into float32 arrays, never into Python lists (an object per value)
    from reelsense.featurize._fusion_stage import vectors_from_arrow  # not at import: start-up

    table = dataset.to_table(columns=columns)
    vectors = {c for c in columns if c == "embedding" or c in VECTOR_COLUMNS.values()}
    data = {c: table[c].to_pylist() for c in columns if c not in vectors}
    has = {c: ~table[c].is_null().to_numpy(zero_copy_only=False) for c in vectors}
    rows = np.asarray(catalog_rows(data["video_id"], data.get("status"), has["embedding"], path), np.int64)
    keep = rows.tolist()

    def pick(column: str) -> list[object]:
        values = data.get(column)
        return [values[i] for i in keep] if values is not None else [None] * len(keep)

    def matrix(column: str) -> np.ndarray:
        return vectors_from_arrow(table[column], f"column {column!r} of {str(path)!r}")[rows]

    embedding = matrix("embedding")
    modalities = {  # a modality that no kept row has is left out
        name: matrix(col) for name, col in VECTOR_COLUMNS.items() if col in names and has[col][rows].any()
    }
    sound = [s if s else c for s, c in zip(pick("sound_id"), pick("sound_cluster"), strict=True)]
    presence = np.zeros((len(keep), len(_PRESENCE)), dtype=np.float32)
    for j, col in enumerate(_PRESENCE):
        values = pick(col)
        presence[:, j] = [float(v) if v is not None else 0.0 for v in values]  # type: ignore[arg-type]
    tags = tuple(tuple(sorted({str(t).lower() for t in (h or [])})) for h in pick("hashtags"))  # type: ignore[attr-defined]
    meta = dataset.schema.metadata or {}
    fusion_record(meta, path)  # refuses a record that is not a JSON object
    fusion = meta.get(b"reelsense.fusion", b"").decode("utf-8", "replace")
    return Catalog(
        video_ids=tuple(str(v) for v in pick("video_id")),
        embedding=embedding,
        modalities=modalities,
        sound_keys=tuple(str(s) if s else None for s in sound),
        uploaders=tuple(str(u) if u else None for u in pick("uploader")),
        hashtags=tags,
        presence=presence,
        fusion_metadata=fusion,
    )
