"""Fusion weights learned from co-engagement, and re-fusing a file with them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from feedback_sim import simulate
from reelsense.cli import main
from reelsense.errors import OutputError, ParameterError
from reelsense.fusion import (
    COMPONENTS,
    FusionConfig,
    LearnedFusion,
    fuse,
    fusion_components,
    learn_fusion_weights,
)


def test_weights_follow_what_pairs_share(rng: np.random.Generator) -> None:
    """Together pairs share a sound and nothing else: the sound's weight grows, the others shrink."""
    config = FusionConfig(dim=64)
    n = 80
    sounds = [f"s{i % 8}" for i in range(n)]
    comps = fusion_components(
        config, visual=rng.normal(size=(n, 32)), caption=rng.normal(size=(n, 16)), sound_keys=sounds
    )
    together = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if sounds[i] == sounds[j]][:200])
    apart = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if sounds[i] != sounds[j]][:200])
    learned = learn_fusion_weights(comps, together, apart, config)
    assert learned.config.sound_weight == 1.0
    assert learned.config.visual_weight < 0.5 and learned.config.caption_weight < 0.5
    assert learned.config.picture_weight < 0.5
    assert learned.accuracy_after >= learned.accuracy_before
    again = learn_fusion_weights(comps, together, apart, config)
    assert again == learned  # deterministic
    with pytest.raises(ParameterError, match="at least 10"):
        learn_fusion_weights(comps, together[:3], apart, config)


def test_components_sum_to_the_fixed_fusion(rng: np.random.Generator) -> None:
    config = FusionConfig(dim=64)
    visual, caption = rng.normal(size=(5, 32)), rng.normal(size=(5, 16))
    keys = ["a", None, "b", "a", None]
    comps = fusion_components(config, visual=visual, caption=caption, sound_keys=keys)
    weights = np.array([getattr(config, f"{c}_weight") for c in COMPONENTS])
    z = np.einsum("m,nmd->nd", weights, comps.rows(slice(None)))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    fused = fuse(config, visual=visual, caption=caption, sound_keys=keys)
    np.testing.assert_allclose(z, fused.vectors, atol=1e-5)


def _fixed_fusion_file(sim: Any, path: Path) -> Path:
    """An embeddings file of ``sim``'s videos fused with the fixed weights."""
    c = sim.catalog
    dim = c.modalities["visual"].shape[1]
    fused = fuse(
        FusionConfig(),
        visual=c.modalities["visual"],
        caption=c.modalities["caption"],
        sound_keys=list(c.sound_keys),
    )
    meta = {b"reelsense.fusion": json.dumps({"fusion": FusionConfig().to_dict()}).encode()}
    table = pa.table(
        {
            "video_id": list(c.video_ids),
            "status": ["ok"] * len(c),
            "embedding": pa.array(
                [list(map(float, v)) for v in fused.vectors], pa.list_(pa.float32(), FusionConfig().dim)
            ),
            "visual_vector": pa.array(
                [list(map(float, v)) for v in c.modalities["visual"]], pa.list_(pa.float32(), dim)
            ),
            "sound_cluster": list(c.sound_keys),
        }
    ).replace_schema_metadata(meta)
    pq.write_table(table, path)
    return path


def test_cli_train_and_apply_record_the_learned_fusion(tmp_path: Path) -> None:
    sim = simulate(0, n_videos=80, n_users=30, shown=25)
    c = sim.catalog
    embeddings = _fixed_fusion_file(sim, tmp_path / "emb.parquet")
    events, _ = sim.write(tmp_path)
    runner = CliRunner()
    weights = tmp_path / "fusion.json"
    result = runner.invoke(
        main, ["fusion", "train", str(embeddings), "--events", str(events), "-o", str(weights), "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "components" in result.stderr and "fit" in result.stderr and "300/300" in result.stderr
    # rows are counted in videos, the fit in steps (both had no unit before)
    assert re.search(r"components: 100%[^\n\r]*\[[^\]]*video", result.stderr), result.stderr
    assert re.search(r"fit: 100%[^\n\r]*300/300 \[[^\]]*step", result.stderr), result.stderr
    learned = LearnedFusion.load(weights)
    out = tmp_path / "learned.parquet"
    result = runner.invoke(
        main, ["fusion", "apply", str(embeddings), "--weights", str(weights), "-o", str(out), "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "fuse: 100%|" in result.stderr and f"{len(c)}/{len(c)}" in result.stderr
    written = pq.read_table(out)
    record = json.loads(written.schema.metadata[b"reelsense.fusion"])
    assert record["learned"]["version"] == 1 and record["fusion"] == learned.config.to_dict()
    vectors = np.stack(written["embedding"].to_pylist())
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    from reelsense.rank import apply_fusion_file

    with pytest.raises(OutputError, match="is the input"):
        apply_fusion_file(embeddings, weights, embeddings)


def test_train_says_when_the_users_file_leaves_no_event(tmp_path: Path) -> None:
    # request times before every event, or users the log does not have, left "0 'together'
    # and 0 'apart' pairs: at least 10 of each are needed", with nothing on why
    from reelsense.rank import train_fusion_file

    sim = simulate(0, n_videos=40, n_users=10, shown=10)
    embeddings = _fixed_fusion_file(sim, tmp_path / "emb.parquet")
    events, _ = sim.write(tmp_path)
    early, strangers = tmp_path / "early.csv", tmp_path / "strangers.csv"
    users = sorted({line.split(",")[0] for line in events.read_text().splitlines()[1:]})
    early.write_text("user_id,request_time\n" + "".join(f"{u},1000\n" for u in users))
    strangers.write_text("user_id,request_time\nnobody,2000000000\n")
    for path, known in ((early, len(users)), (strangers, 0)):
        message = (
            rf"no event of '.*events.csv' is before its user's request_time in '.*{path.name}' "
            rf"\(\d+ events of {len(users)} users, {known} of them in that file\)"
        )
        with pytest.raises(ParameterError, match=message):
            train_fusion_file(embeddings, events, tmp_path / "f.json", users=path)
    assert not (tmp_path / "f.json").exists()


def test_apply_with_the_files_own_weights_gives_its_embedding_back(tmp_path: Path) -> None:
    """Re-fusing with the fixed weights the file was fused with reproduces its embedding and
    mask: every vector column and the sound take part, as in `reelsense embed`."""
    sim = simulate(0, n_videos=40, n_users=10, shown=10)
    c = sim.catalog
    visual, caption = c.modalities["visual"], c.modalities["caption"]
    n = len(c)
    keys = [k if i % 4 else None for i, k in enumerate(c.sound_keys)]  # some videos without a sound
    fused = fuse(FusionConfig(), visual=visual, caption=caption, sound_keys=keys)
    masks = [
        {m: bool(v) for m, v in zip(("visual", "caption", "audio", "sound"), row, strict=True)}
        for row in fused.mask
    ]
    meta = {b"reelsense.fusion": json.dumps({"fusion": FusionConfig().to_dict()}).encode()}
    table = pa.table(
        {
            "video_id": list(c.video_ids),
            "status": ["ok"] * n,
            "embedding": pa.array(
                [list(map(float, v)) for v in fused.vectors], pa.list_(pa.float32(), FusionConfig().dim)
            ),
            "modality_mask": masks,
            "visual_vector": pa.array(
                [list(map(float, v)) for v in visual], pa.list_(pa.float32(), visual.shape[1])
            ),
            "caption_vector": pa.array(
                [list(map(float, v)) for v in caption], pa.list_(pa.float32(), caption.shape[1])
            ),
            "sound_cluster": keys,
        }
    ).replace_schema_metadata(meta)
    embeddings = tmp_path / "emb.parquet"
    pq.write_table(table, embeddings)
    weights = LearnedFusion(
        FusionConfig(), together_pairs=10, apart_pairs=10, accuracy_before=0.5, accuracy_after=0.5
    )
    from reelsense.rank import apply_fusion_file

    out = tmp_path / "again.parquet"
    assert apply_fusion_file(embeddings, weights.save(tmp_path / "fusion.json"), out) == n
    again = pq.read_table(out)
    assert again["modality_mask"].to_pylist() == masks
    assert all(m["visual"] and m["caption"] for m in masks) and not all(m["sound"] for m in masks)
    np.testing.assert_allclose(np.stack(again["embedding"].to_pylist()), fused.vectors, atol=1e-5)
    # re-applying over that output, interrupted while the Parquet file is written, keeps it
    before = out.read_bytes()

    real_write = pq.ParquetWriter.write_table

    def interrupted(self, table, row_group_size=None):  # type: ignore[no-untyped-def]
        real_write(self, table.slice(0, 3), row_group_size=row_group_size)  # a part of the rows
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pq.ParquetWriter, "write_table", interrupted)
        with pytest.raises(KeyboardInterrupt):
            apply_fusion_file(embeddings, tmp_path / "fusion.json", out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.parquet", "emb.parquet", "fusion.json"]


def test_pair_grams_block_by_block_equal_the_whole_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pairs' component dot products are computed in blocks of pairs (3 here), so that the
    gathered rows of every pair (pairs x components x D floats) are never held at once."""
    from reelsense.fusion import FusionComponents, _learned

    rng = np.random.default_rng(4)
    components = FusionComponents(rng.normal(size=(9, 5, 16)).astype(np.float32), rng.uniform(size=9))
    a, b = rng.integers(0, 9, 10), rng.integers(0, 9, 10)
    whole = np.einsum("pmd,pnd->pmn", components.rows(a), components.rows(b))
    monkeypatch.setattr(_learned, "_GRAM_BLOCK_PAIRS", 3)
    ab, aa, bb = _learned._grams(components, a, b)
    np.testing.assert_array_equal(ab, whole)
    # the same blocks' rows give each pair's own products
    np.testing.assert_array_equal(aa, np.einsum("pmd,pnd->pmn", components.rows(a), components.rows(a)))
    np.testing.assert_array_equal(bb, np.einsum("pmd,pnd->pmn", components.rows(b), components.rows(b)))


def test_components_are_float32_parts_row_by_row(rng: np.random.Generator) -> None:
    """The components are held as float32 with the sound's confidence apart; their float64
    rows are the unit parts, the sound's times its confidence (in float64), and a block of
    rows gives the same bits as those rows of the whole."""
    from reelsense.fusion import FusionComponents, sound_identity_vectors
    from reelsense.fusion._fuse import project_modality

    config = FusionConfig(dim=64)
    n = 60
    visual, caption = rng.normal(size=(n, 32)), rng.normal(size=(n, 16))
    visual[3] = np.nan
    keys = [f"s{i % 6}" if i % 5 else None for i in range(n)]
    conf = rng.uniform(0.2, 1.0, n)
    inputs = {"visual": visual, "caption": caption, "sound_keys": keys, "sound_confidence": conf}
    whole = fusion_components(config, **inputs)  # type: ignore[arg-type]
    assert whole.parts.dtype == np.float32 and len(whole) == n
    rows = whole.rows(np.arange(n))
    caption_part, _ = project_modality(caption, "caption", config)
    np.testing.assert_array_equal(rows[:, COMPONENTS.index("caption")], caption_part.astype(np.float64))
    sound, weight = sound_identity_vectors(keys, conf, config)
    has = weight > 0
    np.testing.assert_array_equal(rows[has, COMPONENTS.index("sound")], sound[has] * weight[has, None])
    assert not rows[~has, COMPONENTS.index("sound")].any() and not rows[3, 0].any()
    first = fusion_components(config, **{k: v[:7] for k, v in inputs.items()})  # type: ignore[arg-type]
    np.testing.assert_array_equal(first.rows(slice(None)), rows[:7])
    held = FusionComponents(rows.copy(), conf)  # float64 parts too: rows() never scales them in place
    first = held.rows(slice(None)).copy()
    np.testing.assert_array_equal(held.rows(slice(None)), first)
    with pytest.raises(ParameterError, match="FusionComponents"):
        learn_fusion_weights(rows, np.zeros((10, 2), int), np.zeros((10, 2), int), config)  # type: ignore[arg-type]


def test_train_reads_the_embeddings_once_and_fuses_block_by_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fusion train` reads the file once, only the columns fusion needs, and computes the
    parts of the paired videos block by block of rows; the weights are those of the whole
    components of the catalog."""
    from reelsense.fusion import _learned
    from reelsense.rank import _fusion_files, train_fusion_file
    from reelsense.rank._catalog import read_catalog
    from reelsense.rank._events import read_events
    from reelsense.rank._fusion_files import co_engagement_pairs
    from reelsense.rank._model import RankConfig, pair_feedback

    sim = simulate(1, n_videos=60, n_users=25, shown=20)
    c = sim.catalog
    order = np.arange(len(c))[::-1]  # file rows in another order than the catalog's
    meta = {b"reelsense.fusion": json.dumps({"fusion": FusionConfig().to_dict()}).encode()}
    visual, caption = c.modalities["visual"][order], c.modalities["caption"][order]
    table = pa.table(
        {
            "video_id": [c.video_ids[i] for i in order],
            "status": ["ok"] * len(c),
            "embedding": pa.array(list(visual[:, :4]), pa.list_(pa.float32(), 4)),
            "visual_vector": pa.array(list(visual), pa.list_(pa.float32(), visual.shape[1])),
            "caption_vector": pa.array(list(caption), pa.list_(pa.float32(), caption.shape[1])),
            "sound_cluster": [c.sound_keys[i] for i in order],
            "hashtags": [["#a"]] * len(c),
        }
    ).replace_schema_metadata(meta)
    embeddings = tmp_path / "emb.parquet"
    pq.write_table(table, embeddings)
    events, _ = sim.write(tmp_path)
    # the expected weights: the whole components of the catalog, as before
    catalog = read_catalog(embeddings)
    pairs = pair_feedback(read_events(events, catalog.index), RankConfig())
    together, apart = co_engagement_pairs(pairs.user, pairs.video, pairs.value, pairs.disliked)
    whole = fusion_components(
        FusionConfig(),
        visual=catalog.modalities["visual"],
        caption=catalog.modalities["caption"],
        sound_keys=list(catalog.sound_keys),
        sound_confidence=np.ones(len(catalog)),
    )
    expected = learn_fusion_weights(whole, together, apart, FusionConfig())

    reads: list[object] = []
    blocks: list[int] = []
    real_read, real_parts = pq.read_table, _learned.fusion_components

    def read(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(kwargs.get("columns"))
        return real_read(*args, **kwargs)

    def parts(config, **kwargs):  # type: ignore[no-untyped-def]
        blocks.append(len(kwargs["visual"]))
        return real_parts(config, **kwargs)

    monkeypatch.setattr(pq, "read_table", read)
    monkeypatch.setattr(_fusion_files, "fusion_components", parts)
    monkeypatch.setattr(_fusion_files, "_BLOCK_ROWS", 7)
    learned = train_fusion_file(embeddings, events, tmp_path / "fusion.json")
    assert learned.config == expected.config
    assert (learned.accuracy_before, learned.accuracy_after) == (
        expected.accuracy_before,
        expected.accuracy_after,
    )
    # the 1024-d embedding is not in that read: only its nulls are taken, a block at a time
    assert len(reads) == 1 and "hashtags" not in reads[0] and "embedding" not in reads[0]  # type: ignore[operator]
    assert max(blocks) == 7 and sum(blocks) == len(np.unique(np.concatenate([together, apart])))


def test_apply_fuses_block_by_block_with_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fusion apply` fuses a few rows at a time (each row's embedding depends on that row
    alone): the file it writes is the one it writes in one block."""
    from reelsense.rank import _fusion_files, apply_fusion_file

    sim = simulate(2, n_videos=30, n_users=5, shown=5)
    c = sim.catalog
    visual, caption = c.modalities["visual"], c.modalities["caption"]
    keys = [k if i % 3 else None for i, k in enumerate(c.sound_keys)]
    meta = {b"reelsense.fusion": json.dumps({"fusion": FusionConfig().to_dict()}).encode()}
    table = pa.table(
        {
            "video_id": list(c.video_ids),
            "status": ["ok" if i % 7 else "error" for i in range(len(c))],
            "embedding": pa.array(list(np.zeros((len(c), 1024), np.float32)), pa.list_(pa.float32(), 1024)),
            "visual_vector": pa.array(list(visual), pa.list_(pa.float32(), visual.shape[1])),
            "caption_vector": pa.array(list(caption), pa.list_(pa.float32(), caption.shape[1])),
            "sound_cluster": keys,
        }
    ).replace_schema_metadata(meta)
    embeddings = tmp_path / "emb.parquet"
    pq.write_table(table, embeddings)
    weights = LearnedFusion(
        FusionConfig(visual_weight=0.7),
        together_pairs=10,
        apart_pairs=10,
        accuracy_before=0.5,
        accuracy_after=0.6,
    ).save(tmp_path / "fusion.json")
    apply_fusion_file(embeddings, weights, tmp_path / "whole.parquet")
    seen: list[tuple[str, int, int]] = []
    monkeypatch.setattr(_fusion_files, "_BLOCK_ROWS", 7)
    apply_fusion_file(embeddings, weights, tmp_path / "blocks.parquet", progress=lambda *a: seen.append(a))
    assert (tmp_path / "blocks.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert seen == [("fuse", done, 30) for done in (7, 14, 21, 28, 30)]


def test_apply_streams_the_file_batch_by_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fusion apply` never reads the whole table: it reads batches of a few rows across the
    file's row groups and writes each as it comes; the rows, their order and values, the
    schema and metadata are those of fusing the whole table at once."""
    from reelsense.featurize._fusion_stage import fuse_columns
    from reelsense.rank import _fusion_files, apply_fusion_file

    sim = simulate(3, n_videos=30, n_users=5, shown=5)
    c = sim.catalog
    n = len(c)
    visual, caption = c.modalities["visual"], c.modalities["caption"]
    keys = [k if i % 3 else None for i, k in enumerate(c.sound_keys)]
    meta = {b"reelsense.fusion": json.dumps({"fusion": FusionConfig().to_dict()}).encode(), b"other": b"kept"}
    table = pa.table(
        {
            "video_id": list(c.video_ids),
            "status": ["ok" if i % 7 else "error" for i in range(n)],
            "embedding": pa.array(list(np.zeros((n, 1024), np.float32)), pa.list_(pa.float32(), 1024)),
            "visual_vector": pa.array(list(visual), pa.list_(pa.float32(), visual.shape[1])),
            "caption_vector": pa.array(list(caption), pa.list_(pa.float32(), caption.shape[1])),
            "sound_cluster": keys,
            "hashtags": [[f"#{i}"] for i in range(n)],
        }
    ).replace_schema_metadata(meta)
    embeddings = tmp_path / "emb.parquet"
    pq.write_table(table, embeddings, row_group_size=8)  # four row groups
    config = FusionConfig(visual_weight=0.7, sound_weight=0.2)
    weights = LearnedFusion(
        config, together_pairs=10, apart_pairs=10, accuracy_before=0.5, accuracy_after=0.6
    ).save(tmp_path / "fusion.json")

    sizes: list[int] = []
    real_batches = pq.ParquetFile.iter_batches

    def batches(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        for batch in real_batches(self, *args, **kwargs):
            sizes.append(batch.num_rows)
            yield batch

    def whole_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the whole table was read")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", batches)
    monkeypatch.setattr(pq, "read_table", whole_read)
    monkeypatch.setattr(_fusion_files, "_BLOCK_ROWS", 3)
    out = tmp_path / "out.parquet"
    assert apply_fusion_file(embeddings, weights, out) == n
    assert max(sizes) == 3 and sum(sizes) == n and len(sizes) > 4
    monkeypatch.undo()

    # the whole table fused at once
    whole = fuse_columns(
        {
            "visual_vector": np.stack(visual).astype(np.float32),
            "caption_vector": np.stack(caption).astype(np.float32),
            "sound_cluster": keys,
        },
        n,
        config,
    )
    written = pq.read_table(out)
    present = whole.mask.any(axis=1) & np.array([i % 7 != 0 for i in range(n)])
    got = written["embedding"].to_pylist()
    assert [v is not None for v in got] == list(present)
    assert np.stack([v for v in got if v is not None]).astype(np.float32).tobytes() == (
        whole.vectors[present].tobytes()
    )
    for name in ("video_id", "status", "visual_vector", "caption_vector", "sound_cluster", "hashtags"):
        assert written[name].equals(table[name]), name
    assert written.schema.remove_metadata().equals(table.schema.remove_metadata())
    record = json.loads(written.schema.metadata[b"reelsense.fusion"])
    assert record["fusion"] == config.to_dict() and written.schema.metadata[b"other"] == b"kept"


def test_learned_weights_and_accuracies_are_pinned(tmp_path: Path) -> None:
    """The weights and accuracies learned from a seeded simulation, as 57b8822 learned them
    (its fit took the pairs' cosines by einsum; the fit now takes them as matrix-vector
    products, equal to the last bits only): the JSON written stays the same."""
    from reelsense.rank._events import read_events
    from reelsense.rank._fusion_files import co_engagement_pairs
    from reelsense.rank._model import RankConfig, pair_feedback

    sim = simulate(4, n_videos=120, n_users=60, shown=30)
    c = sim.catalog
    parts = fusion_components(
        FusionConfig(),
        visual=c.modalities["visual"],
        caption=c.modalities["caption"],
        sound_keys=list(c.sound_keys),
    )
    events, _ = sim.write(tmp_path)
    pairs = pair_feedback(read_events(events, c.index), RankConfig())
    together, apart = co_engagement_pairs(pairs.user, pairs.video, pairs.value, pairs.disliked)
    learned = learn_fusion_weights(parts, together, apart, FusionConfig())
    weights = {f"{m}_weight": getattr(learned.config, f"{m}_weight") for m in COMPONENTS}
    assert (len(together), len(apart)) == (1179, 2489)
    assert weights == {
        "visual_weight": 0.3612,
        "caption_weight": 0.3875,
        "audio_weight": 0.3026,
        "sound_weight": 0.3033,
        "picture_weight": 1.0,
    }
    assert (learned.accuracy_before, learned.accuracy_after) == (0.5753, 0.571)


@pytest.mark.parametrize("fixed", [True, False])
def test_apply_refuses_vectors_of_another_size_than_the_weights_learned_on(
    tmp_path: Path, fixed: bool
) -> None:
    """Weights learned on one model's vectors (visual_vector of 32 values) re-fused another
    model's (64 values: another preset) without a word, the fusion's random projections
    taking any size; the fused dim and seed were the only things compared."""
    from reelsense.rank import apply_fusion_file, train_fusion_file

    sim = simulate(0, n_videos=80, n_users=30, shown=25)
    embeddings = _fixed_fusion_file(sim, tmp_path / "emb.parquet")
    events, _ = sim.write(tmp_path)
    weights = tmp_path / "fusion.json"
    learned = train_fusion_file(embeddings, events, weights)
    size = sim.catalog.modalities["visual"].shape[1]
    assert learned.extra["vector_sizes"] == {"visual_vector": size}
    assert apply_fusion_file(embeddings, weights, tmp_path / "same.parquet") == len(sim.catalog)
    table = pq.read_table(embeddings)
    wider = np.concatenate([sim.catalog.modalities["visual"]] * 2, axis=1)
    kind = pa.list_(pa.float32(), 2 * size) if fixed else pa.list_(pa.float32())
    other = table.set_column(
        table.column_names.index("visual_vector"),
        "visual_vector",
        pa.array([list(map(float, v)) for v in wider], kind),
    ).replace_schema_metadata(table.schema.metadata)
    pq.write_table(other, tmp_path / "other.parquet")
    message = (
        rf"'.*other\.parquet' has visual_vector vectors of {2 * size} values, the learned weights "
        rf"'.*fusion\.json' were learned on {size}"
    )
    out = tmp_path / "out" / "learned.parquet"
    with pytest.raises(ParameterError, match=message):
        apply_fusion_file(tmp_path / "other.parquet", weights, out)
    assert not out.exists()
    result = CliRunner().invoke(
        main, ["fusion", "apply", str(tmp_path / "other.parquet"), "--weights", str(weights), "-o", str(out)]
    )
    assert result.exit_code == 1 and re.search(message, result.output.replace("\n", " ")), result.output
    assert not out.exists()


def test_train_on_an_applied_file_starts_from_the_embed_time_fusion(tmp_path: Path) -> None:
    """`fusion train` on a file that `fusion apply` re-fused started the fit (and measured
    accuracy_before) from the learned weights the file records, so it learned other weights
    than on the file embed wrote; it starts from the embed-time fusion, which apply keeps."""
    from reelsense.rank import apply_fusion_file, train_fusion_file

    sim = simulate(0, n_videos=80, n_users=30, shown=25)
    embed_config = FusionConfig(caption_weight=0.25)  # not the defaults: they are not assumed
    embeddings = _fixed_fusion_file(sim, tmp_path / "emb.parquet")
    table = pq.read_table(embeddings)
    meta = {b"reelsense.fusion": json.dumps({"fusion": embed_config.to_dict()}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), embeddings)
    events, _ = sim.write(tmp_path)
    first = train_fusion_file(embeddings, events, tmp_path / "first.json")
    applied = tmp_path / "applied.parquet"
    apply_fusion_file(embeddings, tmp_path / "first.json", applied)
    record = json.loads(pq.read_schema(applied).metadata[b"reelsense.fusion"])
    assert record["fusion"] == first.config.to_dict()
    assert record["embed_fusion"] == embed_config.to_dict()
    again = train_fusion_file(applied, events, tmp_path / "again.json")
    assert again.config == first.config
    assert (again.accuracy_before, again.accuracy_after) == (first.accuracy_before, first.accuracy_after)
    # applied twice: still the embed-time fusion
    twice = tmp_path / "twice.parquet"
    apply_fusion_file(applied, tmp_path / "again.json", twice)
    record = json.loads(pq.read_schema(twice).metadata[b"reelsense.fusion"])
    assert record["embed_fusion"] == embed_config.to_dict()
    assert train_fusion_file(twice, events, tmp_path / "twice.json").config == first.config


def test_train_refuses_an_applied_file_that_lost_its_embed_time_fusion(tmp_path: Path) -> None:
    """A file re-fused before apply kept the embed-time fusion: its start is unknown."""
    from reelsense.rank import apply_fusion_file, train_fusion_file

    sim = simulate(0, n_videos=80, n_users=30, shown=25)
    embeddings = _fixed_fusion_file(sim, tmp_path / "emb.parquet")
    events, _ = sim.write(tmp_path)
    train_fusion_file(embeddings, events, tmp_path / "w.json")
    applied = tmp_path / "applied.parquet"
    apply_fusion_file(embeddings, tmp_path / "w.json", applied)
    table = pq.read_table(applied)
    record = json.loads(table.schema.metadata[b"reelsense.fusion"])
    record.pop("embed_fusion", None)
    meta = {b"reelsense.fusion": json.dumps(record).encode()}
    pq.write_table(table.replace_schema_metadata(meta), applied)
    with pytest.raises(ParameterError, match=r"applied.parquet.*re-fused.*fusion train.*emb"):
        train_fusion_file(applied, events, tmp_path / "again.json")
