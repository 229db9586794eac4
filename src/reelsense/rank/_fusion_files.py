"""File to file: ``reelsense fusion train`` (weights from a log) and ``fusion apply``."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reelsense._checks import check_outputs_apart
from reelsense._progress import ProgressCallback
from reelsense.errors import ParameterError
from reelsense.fusion import (
    COMPONENTS,
    FUSION_VERSION,
    VECTOR_COLUMNS,
    FusionComponents,
    FusionConfig,
    LearnedFusion,
    fusion_components,
    learn_fusion_weights,
)
from reelsense.rank._catalog import fusion_record
from reelsense.rank._events import read_events, read_users
from reelsense.rank._model import RankConfig, pair_feedback
from reelsense.rank._parquet import parquet_input

__all__ = ["apply_fusion_file", "co_engagement_pairs", "train_fusion_file"]

logger = logging.getLogger(__name__)
_KEY = b"reelsense.fusion"


def co_engagement_pairs(
    user: np.ndarray,
    video: np.ndarray,
    value: np.ndarray,
    disliked: np.ndarray,
    *,
    strong: float = 1.0,
    per_user: int = 20,
    max_pairs: int = 100_000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(together [p, 2], apart [q, 2])`` video pairs from per-(user, video) feedback
    (sorted by user): two videos of one user with ``value >= strong`` go together; one of
    those and one the user marked "not interested" or gave ``value <= -strong`` go apart.
    At most ``per_user`` videos of each kind per user, ``max_pairs`` pairs of each kind
    (a seeded sample)."""
    together: list[tuple[int, int]] = []
    apart: list[tuple[int, int]] = []
    bounds = np.r_[0, np.flatnonzero(np.diff(user)) + 1, user.size]
    for s, e in itertools.pairwise(bounds):
        liked = video[s:e][value[s:e] >= strong][:per_user]
        bad = video[s:e][(value[s:e] <= -strong) | disliked[s:e]][:per_user]
        together += [(int(a), int(b)) for i, a in enumerate(liked) for b in liked[i + 1 :] if a != b]
        apart += [(int(a), int(b)) for a in liked for b in bad if a != b]
    rng = np.random.default_rng(seed)

    def cap(rows: list[tuple[int, int]]) -> np.ndarray:
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        if len(arr) > max_pairs:
            arr = arr[np.sort(rng.choice(len(arr), size=max_pairs, replace=False))]
        return arr

    return cap(together), cap(apart)


#: the columns that fusion reads besides the vector columns
_SOUND_COLUMNS = ("sound_id", "sound_score", "sound_cluster")

#: videos whose fusion parts are computed at once (the float64 intermediates of one block)
_BLOCK_ROWS = 2048
#: bytes read at once from a column chunk when a file is read batch by batch
_READ_BUFFER_BYTES = 1 << 20


def _schema(path: Path) -> Any:
    """The Arrow schema of the Parquet file ``path``, checked to hold what fusion reads: an
    ``embedding`` column and at least one per-modality vector column."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ParameterError(
            f"embeddings file {str(path)!r} does not exist (a single Parquet file is needed)"
        )
    with parquet_input(path):
        schema = pq.read_schema(path)
    names = schema.names
    if "embedding" not in names:
        raise ParameterError(
            f"{str(path)!r} has no 'embedding' column (was it written by `reelsense embed`?)"
        )
    if not any(c in names for c in VECTOR_COLUMNS.values()):
        raise ParameterError(
            f"{str(path)!r} has none of the per-modality vector columns "
            f"({', '.join(VECTOR_COLUMNS.values())}) that fusion weighs: nothing to learn or re-fuse"
        )
    return schema


def _batches(path: Path, columns: Sequence[str] | None = None) -> Iterator[Any]:
    """The record batches of the Parquet file ``path`` (``columns`` only, when given), at most
    ``_BLOCK_ROWS`` rows each, in file order, read one at a time (the column chunks a page at a
    time, so the whole file is never in memory)."""
    import pyarrow.parquet as pq

    with parquet_input(path):
        source = pq.ParquetFile(path, buffer_size=_READ_BUFFER_BYTES, pre_buffer=False)
        yield from source.iter_batches(batch_size=_BLOCK_ROWS, columns=columns)


def _parts(
    columns: dict[str, Any],
    rows: np.ndarray,
    config: FusionConfig,
    progress: ProgressCallback | None = None,
) -> FusionComponents:
    """The fusion parts of the file rows ``rows``, computed block by block of rows (each row's
    parts depend on that row alone); ``progress("components", done, total)`` after each."""
    import pyarrow as pa

    from reelsense.featurize._fusion_stage import sound_keys, vectors_from_arrow

    def values(name: str) -> list[Any] | None:
        if name not in columns:
            return None
        column = columns[name].to_pylist()
        return [column[i] for i in rows]

    keys = conf = None
    if "sound_id" in columns or "sound_cluster" in columns:
        none = [None] * len(rows)
        keys, conf = sound_keys(
            values("sound_id") or none, values("sound_score") or none, values("sound_cluster"), config
        )
    parts = np.zeros((len(rows), len(COMPONENTS), config.dim), dtype=np.float32)
    confidence = np.zeros(len(rows))
    for start in range(0, len(rows), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        take = pa.array(rows[block])
        vectors = {
            m: vectors_from_arrow(columns[c].take(take)) for m, c in VECTOR_COLUMNS.items() if c in columns
        }
        part = fusion_components(
            config,
            **vectors,
            sound_keys=None if keys is None else keys[block],
            sound_confidence=None if conf is None else conf[block],
        )
        parts[block], confidence[block] = part.parts, part.sound_confidence
        if progress is not None:
            progress("components", min(start + _BLOCK_ROWS, len(rows)), len(rows))
    return FusionComponents(parts, confidence)


def _vector_size(column: Any) -> int | None:
    """The length of the vectors of a vector column (Arrow), None when it holds none: a
    fixed-size list's from its type, another list's from its first vector."""
    import pyarrow as pa

    from reelsense.featurize._fusion_stage import vectors_from_arrow

    if column.null_count == len(column):
        return None
    if pa.types.is_fixed_size_list(column.type):
        return int(column.type.list_size)
    return int(vectors_from_arrow(column.drop_null().slice(0, 1)).shape[1])


def _check_vector_size(
    name: str, size: int | None, model: LearnedFusion, path: Path, learned: object
) -> None:
    """Refuse vectors of another length than the weights were learned on (a learned fusion
    without the record, made before it, is not checked)."""
    sizes = model.extra.get("vector_sizes") or {}
    if size is not None and name in sizes and size != sizes[name]:
        raise ParameterError(
            f"{str(path)!r} has {name} vectors of {size} values, the learned weights "
            f"{str(learned)!r} were learned on {sizes[name]}: another model's vectors (learn "
            "weights on this file with `reelsense fusion train`)"
        )


def _base_config(meta: dict[bytes, bytes], path: Path, key: str = "fusion") -> FusionConfig:
    """The fusion config of the file's record: ``"fusion"``, the one its embeddings were fused
    with; ``"embed_fusion"``, the one ``reelsense embed`` fused them with (which
    :func:`apply_fusion_file` keeps)."""
    record = fusion_record(meta, path)
    fusion = dict(record.get(key, {}))
    if fusion.get("version", FUSION_VERSION) != FUSION_VERSION:
        raise ParameterError(
            f"{str(path)!r} was fused with fusion version {fusion.get('version')}, not {FUSION_VERSION}"
        )
    fusion.pop("version", None)
    return FusionConfig(**fusion)


def _embed_config(meta: dict[bytes, bytes], path: Path) -> FusionConfig:
    """The fusion config ``reelsense embed`` fused the file with, where training starts: a
    file that :func:`apply_fusion_file` re-fused says it in ``"embed_fusion"`` (its
    ``"fusion"`` is the learned one); one re-fused before that was kept is refused."""
    record = fusion_record(meta, path)
    if record.get("learned") is None:
        return _base_config(meta, path)
    if "embed_fusion" not in record:
        learned = record["learned"]
        source = learned.get("extra", {}).get("embeddings") if isinstance(learned, dict) else None
        raise ParameterError(
            f"{str(path)!r} was re-fused with learned weights by `reelsense fusion apply` of an "
            "older reelsense, which did not keep the fusion it was embedded with: `fusion train` "
            "starts from that; train on the file `reelsense embed` wrote"
            + (f" ({source!r}, the one these weights were learned on)" if source else "")
        )
    return _base_config(meta, path, "embed_fusion")


def train_fusion_file(
    embeddings: str | Path,
    events: str | Path,
    output: str | Path,
    *,
    users: str | Path | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> LearnedFusion:
    """Learn fusion weights from the log ``events`` over the videos of ``embeddings`` (only
    events before each user's request time when ``users`` is given); write them as JSON.
    Raises OutputError when ``output`` is one of the input files, ParameterError when
    ``users`` leaves no event (naming how many of the log's users it lists). ``progress(stage, done,
    total)`` is called as the paired videos' components are computed (``"components"``, in
    videos) and as the weights are fitted (``"fit"``, in steps)."""
    check_outputs_apart({"output": output}, (embeddings, events, users))
    import pyarrow.parquet as pq

    from reelsense.rank._catalog import catalog_rows

    path = Path(embeddings)
    schema = _schema(path)
    # the embed-time fusion, on a file `fusion apply` re-fused too: the same weights as on the original
    base = _embed_config(dict(schema.metadata or {}), path)
    if "video_id" not in schema.names:
        raise ParameterError(f"{str(path)!r} has no 'video_id' column (was it written by `reelsense embed`?)")
    needed = ("video_id", "status", *VECTOR_COLUMNS.values(), *_SOUND_COLUMNS)
    with parquet_input(path):
        table = pq.read_table(path, columns=[c for c in schema.names if c in needed])
    columns: dict[str, Any] = {c: table[c] for c in table.column_names}
    del table
    # of the embedding only which rows have one: read a block at a time, its vectors dropped
    has_embedding = np.concatenate(
        [
            ~np.asarray(batch.column(0).is_null().to_numpy(zero_copy_only=False))
            for batch in _batches(path, ["embedding"])
        ]
        or [np.zeros(0, dtype=bool)]
    )
    # the catalog's videos (as `reelsense rank` reads them): file rows in video id order
    ids = columns["video_id"].to_pylist()
    status = columns["status"].to_pylist() if "status" in columns else None
    rows = catalog_rows(ids, status, has_embedding, path)
    log = read_events(events, {str(ids[r]): i for i, r in enumerate(rows)})
    del ids, status
    if users is not None:
        request_times = read_users(users)
        kept = log.before(request_times)
        if len(log) and not len(kept):
            seen = [log.users[u] for u in np.unique(log.user)]
            raise ParameterError(
                f"no event of {str(events)!r} is before its user's request_time in {str(users)!r} "
                f"({len(log)} events of {len(seen)} users, {sum(u in request_times for u in seen)} "
                "of them in that file): nothing to learn from"
            )
        log = kept
    pairs = pair_feedback(log, RankConfig())
    together, apart = co_engagement_pairs(pairs.user, pairs.video, pairs.value, pairs.disliked, seed=seed)
    # the parts of the videos in a pair only, indexed by their rank among them
    used = np.unique(np.concatenate([together, apart]).reshape(-1))
    parts = _parts(columns, rows[used], base, progress)
    learned = learn_fusion_weights(
        parts, np.searchsorted(used, together), np.searchsorted(used, apart), base, progress=progress
    )
    sizes = {c: _vector_size(columns[c]) for c in VECTOR_COLUMNS.values() if c in columns}
    extra = {
        "embeddings": path.name,
        "events": Path(events).name,
        "vector_sizes": {c: size for c, size in sizes.items() if size is not None},  # checked on apply
    }
    learned = LearnedFusion(**{**learned.__dict__, "extra": extra})
    learned.save(output)
    logger.info("learned fusion weights %s", learned.config.to_dict())
    return learned


def apply_fusion_file(
    embeddings: str | Path,
    learned: str | Path,
    output: str | Path,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Write a copy of ``embeddings`` whose ``embedding`` and ``modality_mask`` come from the
    learned weights (same maths as the fixed fusion), with ``reelsense.fusion`` metadata
    that holds the learned config and how it was learned: the same rows in the same order,
    read, fused and written a block of rows at a time (held: one block and one row group of
    :data:`~reelsense.pipeline.ROW_GROUP_ROWS` rows, never the whole file). Returns the rows
    written. Raises OutputError when ``output`` is one of the input files.
    ``progress(stage, done, total)`` is called as the rows are fused (stage ``"fuse"``, in
    videos)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from reelsense.featurize._fusion_stage import fuse_columns, mask_rows, vectors_from_arrow

    check_outputs_apart({"output": output}, (embeddings, learned))
    path, output = Path(embeddings), Path(output)
    model = LearnedFusion.load(learned)
    schema = _schema(path)
    meta = dict(schema.metadata or {})
    base = _base_config(meta, path)
    if (base.dim, base.seed) != (model.config.dim, model.config.seed):
        raise ParameterError(
            f"{str(path)!r} has fusion dim {base.dim} seed {base.seed}, the learned weights "
            f"dim {model.config.dim} seed {model.config.seed}"
        )
    for name in VECTOR_COLUMNS.values():  # a file's vector sizes before any row is read, where it says them
        if name in schema.names and pa.types.is_fixed_size_list(schema.field(name).type):
            _check_vector_size(name, schema.field(name).type.list_size, model, path, learned)
    with parquet_input(path):
        n = int(pq.read_metadata(path).num_rows)
    emb_type = schema.field("embedding").type
    mask_type = schema.field("modality_mask").type if "modality_mask" in schema.names else None
    record = fusion_record(meta, path)
    if record.get("learned") is None:  # re-fused again: the embed-time fusion it keeps stays
        record["embed_fusion"] = base.to_dict()
    record["fusion"] = model.config.to_dict()
    record["learned"] = model.to_dict()
    meta[_KEY] = json.dumps(record, sort_keys=True, default=str).encode()

    def fused(batch: pa.RecordBatch) -> pa.Table:
        """The rows of ``batch`` with the embedding and mask of the learned weights (each
        row's depend on that row alone)."""
        rows = batch.num_rows
        table = pa.Table.from_batches([batch])
        # keyed by column name, as fuse_columns reads an output's columns
        inputs: dict[str, object] = {}
        for c in VECTOR_COLUMNS.values():
            if c in table.column_names:
                _check_vector_size(c, _vector_size(table[c]), model, path, learned)  # another list's
                inputs[c] = vectors_from_arrow(table[c])
        inputs.update(
            (name, table[name].to_pylist())
            for name in (*_SOUND_COLUMNS, "music_fraction")
            if name in table.column_names
        )
        fusion = fuse_columns(inputs, rows, model.config)
        ok = (
            [s == "ok" for s in table["status"].to_pylist()]
            if "status" in table.column_names
            else [True] * rows
        )
        present = fusion.mask.any(axis=1) & np.asarray(ok, dtype=bool)
        # from the array itself, never through Python lists (an object per value)
        embedding = pa.FixedSizeListArray.from_arrays(
            pa.array(fusion.vectors.reshape(-1)), fusion.vectors.shape[1], mask=pa.array(~present)
        ).cast(emb_type)
        new = table.set_column(table.column_names.index("embedding"), "embedding", embedding)
        if mask_type is not None:
            masks = [m if p else None for m, p in zip(mask_rows(fusion.mask), present, strict=True)]
            new = new.set_column(
                new.column_names.index("modality_mask"), "modality_mask", pa.array(masks, mask_type)
            )
        return new.replace_schema_metadata(meta)

    def blocks() -> Iterator[pa.Table]:
        done = 0
        for batch in _batches(path):
            yield fused(batch)
            done += batch.num_rows
            if progress is not None:
                progress("fuse", done, n)

    # the schema of every block: the embedding's and mask's fields as `set_column` makes them
    out_schema = schema.set(schema.get_field_index("embedding"), pa.field("embedding", emb_type))
    if mask_type is not None:
        out_schema = out_schema.set(
            out_schema.get_field_index("modality_mask"), pa.field("modality_mask", mask_type)
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    # the embed output's own writer; imported here: the pipeline package costs the rank
    # commands' start-up about 0.15 s
    from reelsense.pipeline import write_row_groups

    return write_row_groups(output, out_schema.with_metadata(meta), blocks())
