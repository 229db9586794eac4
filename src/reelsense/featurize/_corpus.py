"""``embed_corpus``: the featurizer over folders of videos into one resumable Parquet file.

Two passes when sounds are discovered:

1. The per-video pass (:func:`reelsense.pipeline.embed_videos`): every column of every
   video, resumable part by part. The embedding fused here uses the index match only.
2. The corpus pass (``discover_sounds=True``), after consolidation: sound discovery over
   the soundtracks of the ``ok`` rows that the sound index did not identify (all of them
   without an index) and that hold music (:data:`MIN_MUSIC_FRACTION`) groups the videos
   that share a sound; each group gets a key (the
   index sound id most of its members have when a discoverer is given matched videos
   too, else ``discovered:`` + the smallest member id, so keys are stable as a corpus
   grows); ``sound_cluster`` and
   ``sound_cluster_size`` are filled in and every embedding is fused again from the
   stored columns (:func:`reelsense.pipeline.fuse_columns`). The file is rewritten
   atomically. A resumed job redoes this pass over the whole output, so the result is
   the same as a single run over the same videos.

Why only the unidentified videos: what links two soundtracks in discovery is any shared
audio, and a shared voice-over line or ambience recording links videos whose music
differs. On the development set (with an earlier matcher), discovery over all 240 videos
merged two unknown tracks into library sounds through shared voice-overs (sound-identity
recall@5 0.885); over the videos the library did not identify it reached 0.936, because
the library already names the rest (``scripts/bench_embed.py``).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reelsense.errors import OutputError
from reelsense.featurize._discovery import Discoverer, default_discoverer
from reelsense.featurize._featurizer import VideoFeaturizer, model_threads
from reelsense.fusion import FusionConfig
from reelsense.pipeline import (
    EmbedConfig,
    EmbedSummary,
    ProgressEvent,
    embed_videos,
    fuse_columns,
    vectors_from_arrow,
)
from reelsense.pipeline._fusion_stage import VECTOR_COLUMNS, mask_rows

__all__ = [
    "CLUSTERS_KEY",
    "FUSION_KEY",
    "MIN_MUSIC_FRACTION",
    "apply_sound_clusters",
    "assign_cluster_keys",
    "cluster_sound_table",
    "embed_corpus",
    "embed_corpus_from_options",
    "featurizer_from_options",
    "output_notes",
]

log = logging.getLogger(__name__)

#: Videos whose soundtrack has less music than this (``music_fraction``, when presence was
#: computed) take no part in discovery: speech-only and ambience videos share voice lines
#: and recordings, not sounds (on the development set, most speech-only videos were grouped
#: through shared voice lines without this).
MIN_MUSIC_FRACTION = 0.1

FUSION_KEY = "reelsense.fusion"
CLUSTERS_KEY = "reelsense.sound_clusters"


def assign_cluster_keys(
    labels: Sequence[str | None], video_ids: Sequence[str], sound_ids: Sequence[str | None]
) -> tuple[list[str | None], list[int | None]]:
    """Stable keys and sizes for discovered groups (see the module docstring).

    ``labels``: the discovery's group label per video (None or a singleton: no group).
    Returns ``(key per video, group size per video)``, None for videos in no group.
    """
    members: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        if label is not None and label != "":
            members.setdefault(str(label), []).append(i)
    keys: list[str | None] = [None] * len(labels)
    sizes: list[int | None] = [None] * len(labels)
    for group in members.values():
        if len(group) < 2:
            continue
        votes = Counter(sound_ids[i] for i in group if sound_ids[i])
        if votes:
            best = max(votes.values())
            key = min(str(s) for s, n in votes.items() if n == best)
        else:
            key = "discovered:" + min(video_ids[i] for i in group)
        for i in group:
            keys[i] = key
            sizes[i] = len(group)
    return keys, sizes


def _fused_columns(
    table: pa.Table, config: FusionConfig, clusters: list[str | None]
) -> tuple[pa.Array, pa.Array]:
    columns: dict[str, Any] = {}
    for column in VECTOR_COLUMNS.values():
        if column in table.column_names:
            columns[column] = vectors_from_arrow(table[column])
    if "sound_id" in table.column_names:
        columns["sound_id"] = table["sound_id"].to_pylist()
        columns["sound_score"] = table["sound_score"].to_pylist()
    columns["sound_cluster"] = clusters
    fused = fuse_columns(columns, table.num_rows, config)
    present = fused.mask.any(axis=1) & (np.asarray(table["status"].to_pylist(), dtype=object) == "ok")
    embedding_type = table.schema.field("embedding").type
    flat = pa.array(np.where(present[:, None], fused.vectors, 0.0).astype(np.float32).ravel(), pa.float32())
    embedding = pa.FixedSizeListArray.from_arrays(flat, config.dim, mask=pa.array(~present))
    mask = pa.array(mask_rows(fused.mask), type=table.schema.field("modality_mask").type)
    if embedding.type != embedding_type:
        embedding = embedding.cast(embedding_type)
    return embedding, mask


def cluster_sound_table(
    table: pa.Table, config: FusionConfig, discoverer: Discoverer, *, source: str = "the output"
) -> tuple[pa.Table, int]:
    """The corpus pass on a whole output table (every row of a corpus): discover, key the
    groups, re-fuse. Returns the table with ``sound_cluster``, ``sound_cluster_size``,
    ``embedding``, ``modality_mask`` and the :data:`CLUSTERS_KEY` metadata replaced, and
    the number of videos in a shared-sound group. The rows keep their order.

    Raises OutputError when the table was not written with ``discover_sounds``.
    """
    for column in ("sound_cluster", "sound_cluster_size", "embedding", "modality_mask"):
        if column not in table.column_names:
            raise OutputError(f"{source} has no {column!r} column: it was not written with discover_sounds")
    ok = np.asarray(table["status"].to_pylist(), dtype=object) == "ok"
    has_audio = np.asarray([bool(v) for v in table["has_audio"].to_pylist()])
    sound_ids = table["sound_id"].to_pylist() if "sound_id" in table.column_names else [None] * table.num_rows
    unmatched = np.asarray([s is None for s in sound_ids])
    music = np.ones(table.num_rows, dtype=bool)
    if "music_fraction" in table.column_names:  # presence known: only soundtracks with music
        fractions = table["music_fraction"].to_pylist()
        music = np.asarray([f is None or f >= MIN_MUSIC_FRACTION for f in fractions])
    ids = table["video_id"].to_pylist()
    chosen = np.flatnonzero(ok & has_audio & music & (unmatched if discoverer.residual_only else True))
    # by id, not by row: rows land in the order the workers finish, and the discoverer's
    # index (hash-table order, ties among candidates) depends on the order it is given
    chosen = chosen[np.argsort(np.asarray([ids[i] for i in chosen], dtype=object), kind="stable")]
    paths = table["path"].to_pylist()
    labels_sel = discoverer([paths[i] for i in chosen], [ids[i] for i in chosen]) if chosen.size else []
    labels: list[str | None] = [None] * table.num_rows
    for i, label in zip(chosen, labels_sel, strict=True):
        labels[int(i)] = label
    keys, sizes = assign_cluster_keys(labels, ids, sound_ids)
    embedding, mask = _fused_columns(table, config, keys)
    replaced = {
        "sound_cluster": pa.array(keys, pa.string()),
        "sound_cluster_size": pa.array(sizes, pa.int32()),
        "embedding": embedding,
        "modality_mask": mask,
    }
    for name, values in replaced.items():
        table = table.set_column(table.schema.get_field_index(name), table.schema.field(name), values)
    n_grouped = sum(k is not None for k in keys)
    meta = dict(table.schema.metadata or {})
    meta[CLUSTERS_KEY.encode()] = json.dumps(
        {
            "method": discoverer.name,
            "residual_only": discoverer.residual_only,
            "videos": int(chosen.size),
            "grouped": n_grouped,
            "groups": len({k for k in keys if k}),
        },
        sort_keys=True,
    ).encode()
    return table.replace_schema_metadata(meta), n_grouped


def apply_sound_clusters(output: str | os.PathLike[str], config: FusionConfig, discoverer: Discoverer) -> int:
    """The corpus pass over an existing output file (:func:`cluster_sound_table`),
    rewritten atomically. Returns the number of videos in a shared-sound group."""
    out = Path(output)
    table, n_grouped = cluster_sound_table(pq.read_table(out), config, discoverer, source=repr(str(out)))
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    tmp.replace(out)
    return n_grouped


def embed_corpus(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    featurizer: VideoFeaturizer,
    config: EmbedConfig | None = None,
    *,
    discover_sounds: bool = False,
    discoverer: Discoverer | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> EmbedSummary:
    """Featurize every video under ``inputs`` into ``output`` (resumable Parquet; one row
    per video with the modality vectors, descriptors, presence, sound match, embedding and
    ``modality_mask``), then, with ``discover_sounds``, run the corpus pass (module docstring).

    ``config`` shapes finding, decoding and writing (its ``frames`` is replaced by the
    featurizer's). Raises what :func:`~reelsense.pipeline.embed_videos` raises.
    """
    metadata = featurizer.metadata(discover_sounds=discover_sounds)
    embed_config = featurizer.embed_config(config)
    with model_threads(embed_config, None):
        summary = embed_videos(
            inputs,
            output,
            embed_config,
            worker_stages=featurizer.worker_stages(),
            feature_stages=featurizer.feature_stages(discover_sounds=discover_sounds),
            progress=progress,
            metadata={FUSION_KEY: json.dumps(metadata, sort_keys=True, default=str)},
        )
    if not discover_sounds:
        return summary

    chosen = discoverer or default_discoverer(featurizer.sound_index)
    grouped = apply_sound_clusters(output, featurizer.fusion, chosen)
    log.info("sound discovery: %d videos share a sound with another", grouped)
    from reelsense.pipeline._job import output_examples

    return replace(summary, examples=output_examples(Path(output)))


def output_notes(output: str | os.PathLike[str]) -> tuple[str, ...]:
    """Summary lines about an output's embeddings (one file, or a folder of shards):
    size, components, sound matches, groups."""
    import pyarrow.dataset as pads

    dataset = pads.dataset(output, format="parquet")
    names = dataset.schema.names
    if "embedding" not in names:
        return ()
    wanted = [c for c in ("status", "modality_mask", "sound_id", "sound_cluster") if c in names]
    table = dataset.to_table(columns=wanted)
    ok = [s == "ok" for s in table["status"].to_pylist()]
    masks = table["modality_mask"].to_pylist()
    dim = dataset.schema.field("embedding").type.list_size
    embedded = sum(1 for m in masks if m and any(m.values()))
    counts = {
        name: sum(1 for m in masks if m and m.get(name)) for name in ("visual", "caption", "audio", "sound")
    }
    parts = ", ".join(f"{name} {count}" for name, count in counts.items())
    lines = [f"embedding: {dim}-d float32 for {embedded}/{sum(ok)} ok videos (components present: {parts})"]
    if "sound_id" in wanted:
        matched = table["sound_id"].to_pylist()
        found = Counter(s for s in matched if s)
        top = ", ".join(f"{sid} ({n})" for sid, n in found.most_common(3))
        lines.append(
            f"sound index: {sum(found.values())}/{sum(ok)} videos matched" + (f": {top}" if top else "")
        )
    if "sound_cluster" in wanted:
        clusters = [c for c in table["sound_cluster"].to_pylist() if c]
        lines.append(f"sound discovery: {len(clusters)} videos in {len(set(clusters))} shared-sound groups")
    return tuple(lines)


def featurizer_from_options(
    preset: str = "default",
    *,
    device: str | None = None,
    precision: str = "auto",
    frame_strategy: str | None = None,
    sound_index: str | os.PathLike[str] | None = None,
    embedding_dim: int = 512,
    frame_vectors: bool = False,
    batch_size: int | None = None,
    presence: bool = True,
) -> VideoFeaturizer:
    """The featurizer ``reelsense embed`` builds from its plain options (the local job and
    the Ray job's driver and model actors all build theirs here, so their stages agree).
    ``frame_strategy`` None = the default sampling; otherwise that strategy with the
    default size and frame cap (``uniform`` at 1 frame/s, ``count`` 8 frames)."""
    from reelsense.featurize._featurizer import DEFAULT_MAX_FRAMES
    from reelsense.io import FrameSampling

    featurizer = VideoFeaturizer.from_preset(
        preset,
        device=None if device in (None, "auto") else device,
        precision=precision,  # type: ignore[arg-type]
        sound_index=sound_index,
        fusion=FusionConfig(dim=embedding_dim),
        frame_vectors=frame_vectors,
        batch_size=batch_size,
        presence=presence,
    )
    if frame_strategy is not None and featurizer.frame_sampling is not None:
        featurizer.frame_sampling = FrameSampling(
            strategy=frame_strategy,  # type: ignore[arg-type]
            max_side=featurizer.frame_sampling.max_side,
            max_frames=DEFAULT_MAX_FRAMES,
        )
    return featurizer


def embed_corpus_from_options(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    config: EmbedConfig,
    *,
    preset: str = "default",
    device: str | None = None,
    precision: str = "auto",
    frame_strategy: str | None = None,
    sound_index: str | os.PathLike[str] | None = None,
    discover_sounds: bool = False,
    embedding_dim: int = 512,
    frame_vectors: bool = False,
    batch_size: int | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> EmbedSummary:
    """What ``reelsense embed`` runs: build the featurizer from plain options
    (:func:`featurizer_from_options`), run :func:`embed_corpus`, add summary notes."""
    with featurizer_from_options(
        preset,
        device=device,
        precision=precision,
        frame_strategy=frame_strategy,
        sound_index=sound_index,
        embedding_dim=embedding_dim,
        frame_vectors=frame_vectors,
        batch_size=batch_size,
    ) as featurizer:
        summary = embed_corpus(
            inputs, output, featurizer, config, discover_sounds=discover_sounds, progress=progress
        )
    return replace(summary, notes=summary.notes + output_notes(output))
