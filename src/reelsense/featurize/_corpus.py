"""``embed_corpus``: the featurizer over folders of videos into one resumable output.

Two passes when sounds are discovered (``FeaturizerConfig.discover_sounds``):

1. The per-video pass (:func:`reelsense.pipeline.run_job`): every column of every video,
   resumable part by part. The embedding fused here uses the index match only.
2. The corpus pass, once every row is written: sound discovery over the soundtracks of
   the ``ok`` rows that the sound index did not identify (all of them without an index)
   and that hold music (:data:`MIN_MUSIC_FRACTION`) groups the videos that share a sound;
   each group gets a key (the index sound id most of its members have when the
   discoverer is given matched videos too, else ``discovered:`` + the smallest member id,
   so keys are stable as a corpus grows); ``sound_cluster`` and ``sound_cluster_size``
   are filled in and every embedding is fused again from the stored columns. Each file is
   rewritten atomically. A resumed job redoes this pass over the whole output, so the
   result is the same as a single run over the same videos.

Why only the unidentified videos: what links two soundtracks in discovery is any shared
audio, and a shared voice-over line or ambience recording links videos whose music
differs; the library already names the matched ones (measured in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from reelsense._checks import check_path
from reelsense.errors import OutputError, ParameterError, ResumeMismatchError
from reelsense.featurize._config import DEFAULT_FRAME_STRATEGY, FEATURIZER_KEY, FeaturizerConfig
from reelsense.featurize._discovery import Discoverer, default_discoverer
from reelsense.featurize._featurizer import FUSION_KEY, VideoFeaturizer, model_threads
from reelsense.featurize._fusion_stage import (
    MIN_MUSIC_FRACTION,
    fuse_columns,
    mask_rows,
    vectors_from_arrow,
)
from reelsense.fusion import VECTOR_COLUMNS, FusionConfig
from reelsense.io import Manifest, check_inputs
from reelsense.pipeline import (
    CONFIG_KEY,
    SHARD_PATTERN,
    EmbedSummary,
    Engine,
    JobPlan,
    OutputWriter,
    ProgressEvent,
    RunConfig,
    build_schema,
    engine_layout,
    finished_summary,
    plan_job,
    run_content,
    run_job,
)

__all__ = [
    "CLUSTERS_KEY",
    "MIN_MUSIC_FRACTION",
    "assign_cluster_keys",
    "cluster_sound_table",
    "embed_corpus",
    "output_notes",
]

log = logging.getLogger(__name__)

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
    if "music_fraction" in table.column_names:
        columns["music_fraction"] = table["music_fraction"].to_pylist()
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


def embed_corpus(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    config: FeaturizerConfig | None = None,
    run: RunConfig | None = None,
    *,
    engine: Engine = "local",
    featurizer: VideoFeaturizer | None = None,
    discoverer: Discoverer | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> EmbedSummary:
    """What ``reelsense embed`` runs: featurize every video under ``inputs`` into ``output``,
    one row per video with the metadata, sidecar fields, descriptors, presence, modality
    vectors, sound match, ``embedding`` and ``modality_mask``; then, with
    ``config.discover_sounds``, the corpus pass (module docstring).

    ``output`` is one Parquet file with ``engine="local"`` (worker processes decode, the
    models run in this process) and a folder of Parquet shards with ``engine="ray"`` (Ray
    Data decoding tasks and model actors; needs ``reelsense[ray]``); both are resumable:
    a re-run skips the videos already finished there. ``run``: how the job runs
    (:class:`~reelsense.pipeline.RunConfig`). ``featurizer``: an already loaded
    :class:`VideoFeaturizer` to use (its config is used; give no ``config`` then).
    ``discoverer``: the corpus sound discovery (None: the default one).

    Worker processes are started with ``spawn``; a script calling this needs the
    ``if __name__ == "__main__":`` guard (Python's rule for ``spawn``, see the README).

    Raises ParameterError (bad inputs or options, unresolvable id collisions), SidecarError
    (a malformed manifest), OutputError (the output is locked, or was written with another
    configuration), ModelNotFoundError (weights missing) and, with ``run.strict``,
    ItemFailedError. A video that fails never raises otherwise: it gets an error row.
    """
    inputs = check_inputs(inputs)  # listed once: an iterator is planned and then embedded
    check_path(output, "output")
    for name, value, kind in (
        ("config", config, FeaturizerConfig),
        ("run", run, RunConfig),
        ("featurizer", featurizer, VideoFeaturizer),
    ):
        if value is not None and not isinstance(value, kind):
            raise ParameterError(
                f"{name}={value!r} must be a {kind.__name__}, got {type(value).__name__}"
                + (" (config and run swapped?)" if isinstance(value, FeaturizerConfig | RunConfig) else "")
            )
    run = run or RunConfig()
    if featurizer is not None and config is not None:
        raise ParameterError("give a FeaturizerConfig or a loaded featurizer, not both")
    if engine == "ray":  # a device the Ray engine cannot honour is refused before anything loads
        from reelsense.pipeline._ray import actor_gpus

        asked = featurizer.config if featurizer is not None else config or FeaturizerConfig()
        actor_gpus(asked.device, run.ray_gpus_per_actor)
    plan = None
    if featurizer is None:
        config = config or FeaturizerConfig()
        resumable, manifest = _resume_check(output, config, run, engine, discoverer)
        if resumable:  # planned once: the same plan goes to run_job when there is work
            plan = plan_job(inputs, output, run, engine=engine, manifest=manifest)
            done = finished_summary(inputs, output, run, engine=engine, plan=plan)
            if done is not None:  # nothing to do: no model is loaded
                if progress is not None:
                    progress(ProgressEvent(0, 0, 0, 0, done.skipped))
                return replace(done, notes=output_notes(output))
        if engine == "ray" and config.has_models:
            # the driver's models only describe the columns: the actors run theirs
            driver = VideoFeaturizer(replace(config, device="cpu", precision="fp32"))
            driver.config = config  # the actors' plan is made from the asked device and precision
        else:
            driver = VideoFeaturizer(config)
        with driver:
            return _embed(inputs, output, driver, run, engine, discoverer, progress, plan)
    return _embed(inputs, output, featurizer, run, engine, discoverer, progress, plan)


def _resume_check(
    output: str | os.PathLike[str],
    config: FeaturizerConfig,
    run: RunConfig,
    engine: Engine = "local",
    discoverer: Discoverer | None = None,
) -> tuple[bool, Manifest | None]:
    """Refuse, before any model loads, an output that another process is writing, or that
    was written with other options (ResumeMismatchError names the first option that
    differs). The full check (every stage's options, the sound index's content) happens
    again when the output is opened.

    Returns whether the output exists and was written with these options (and, with
    ``discover_sounds``, its corpus pass completed with the discovery ``discoverer`` (None:
    the default one) names), and ``run.manifest`` when the check loaded it (to compare its
    content with the output's; None otherwise), for the plan to use."""
    writer = OutputWriter(output, build_schema([], config={}, run={}), layout=engine_layout(engine))
    writer.check_unlocked()
    if run.overwrite:
        return False, None
    metadata = writer.existing_metadata() or {}
    stored = metadata.get(FEATURIZER_KEY)
    if stored is None:
        return False, None
    if _learned_fusion(metadata):  # its rows carry learned weights; new rows would not
        raise ResumeMismatchError(
            os.fspath(output), "learned_fusion", "learned weights (reelsense fusion apply)", "fixed weights"
        )
    try:
        before = json.loads(stored)
    except json.JSONDecodeError:
        return False, None
    now = json.loads(json.dumps(config.record(), sort_keys=True, default=str))
    if before.get("frames") == DEFAULT_FRAME_STRATEGY:  # an output written before that was recorded as None
        before["frames"] = None
    # a field recorded only away from its default (min_score, second_chance...) and absent now
    # differs too; a key no field has any more (an older record's) is not compared
    known = {f.name for f in fields(FeaturizerConfig)}
    dropped = [key for key in before if key not in now and key in known]
    # with no models nothing is fused: the fusion settings recorded do not shape the rows
    unused = {"fusion"} if not config.has_models and before.get("preset") == now.get("preset") else set()
    for key in [*now, *dropped]:
        if key not in unused and before.get(key) != now.get(key):
            # a field left at its default is not recorded: the message names the value in use
            used = now[key] if key in now else getattr(config, key)
            raise ResumeMismatchError(os.fspath(output), key, before.get(key), used)
    manifest = _check_run_content(output, metadata, run)
    if not config.discover_sounds:
        return True, manifest
    try:  # the corpus pass ran to the end, with the discovery this run would use
        method = json.loads(metadata.get(CLUSTERS_KEY, "{}")).get("method")
    except json.JSONDecodeError:
        return False, manifest
    return bool(method) and method == (discoverer or _default_discoverer(None, config)).name, manifest


def _learned_fusion(metadata: dict[str, str]) -> bool:
    """Whether ``reelsense fusion apply`` re-fused this output (its fusion record holds the
    learned weights)."""
    try:
        record = json.loads(metadata.get(FUSION_KEY, "{}"))
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and record.get("learned") is not None


def _check_run_content(
    output: str | os.PathLike[str], metadata: dict[str, str], run: RunConfig
) -> Manifest | None:
    """The run options that shape the rows (the manifest's content, the decoding limits), as
    recorded in the output's ``reelsense.config``: compared here too, before any model loads
    (and before a resume with nothing to do says so), not only once the output is opened.
    Returns ``run.manifest`` when it was loaded for this (None otherwise)."""
    try:
        stored = json.loads(metadata.get(CONFIG_KEY, "{}"))
    except json.JSONDecodeError:
        return None
    manifest = Manifest.load(run.manifest) if run.manifest else None
    now = json.loads(json.dumps(run_content(run, manifest), sort_keys=True, default=str))  # as written
    for key, value in now.items():
        if key in stored and stored[key] != value:
            raise ResumeMismatchError(os.fspath(output), key, stored[key], value)
    return manifest


def _default_discoverer(index: str | None, config: FeaturizerConfig) -> Discoverer:
    """The default discovery, with the sound match's ``second_chance`` in its library look-up."""
    from reelsense.sounds.discover import DiscoveryParams

    params = DiscoveryParams(
        second_chance=config.second_chance, second_chance_scope=config.second_chance_scope
    )
    return default_discoverer(index, params=params)


def _embed(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    featurizer: VideoFeaturizer,
    run: RunConfig,
    engine: Engine,
    discoverer: Discoverer | None,
    progress: Callable[[ProgressEvent], None] | None,
    plan: JobPlan | None = None,
) -> EmbedSummary:
    config = featurizer.config
    post_pass = None
    if config.discover_sounds:
        chosen = discoverer or _default_discoverer(featurizer.sound_index, config)

        def post_pass(table: pa.Table) -> pa.Table:
            clustered, grouped = cluster_sound_table(table, config.fusion, chosen)
            log.info("sound discovery: %d videos share a sound with another", grouped)
            return clustered

    with model_threads(run, None) if engine == "local" else contextlib.nullcontext():
        summary = run_job(
            inputs,
            output,
            featurizer.job_spec(),
            run,
            engine=engine,
            progress=progress,
            post_pass=post_pass,
            plan=plan,
        )
    return replace(summary, notes=summary.notes + (output_notes(output) if summary.rows else ()))


def output_notes(output: str | os.PathLike[str]) -> tuple[str, ...]:
    """Summary lines about an output's embeddings (one file, or a folder of shards):
    size, components, sound matches, groups."""
    import pyarrow.dataset as pads

    path = Path(output)
    # a folder of shards: the shards only (other files may sit beside them)
    source: str | list[str] = str(path)
    if path.is_dir():
        source = [str(p) for p in sorted(path.iterdir()) if SHARD_PATTERN.match(p.name)]
    dataset = pads.dataset(source, format="parquet")
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
