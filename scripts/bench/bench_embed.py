"""Retrieval quality of the fused embedding and of each modality alone on ../shared/bench.

Runs ``reelsense embed`` (library: ``embed_corpus``) over the dev queries with the default
preset, the bench library indexed as the sound index and corpus sound discovery, then
scores retrieval (each query against the 239 others) where two videos are *related* when
they use the same source sound (truth ``source_track``, non-empty) or the same picture
(``image_id``). truth.csv is read here only, to score.

Metrics: mAP; recall@5 = |related in the top 5| / min(5, |related|) (capped recall, so
1.0 is reachable when a video has more than 5 related ones); hit@5 = at least one related
video in the top 5. Reported for the combined relation, same sound only and same picture only.
Then the two kinds of "related" a feed wants, for the fused embedding with and without the
discovered sounds (``--sound-index`` only): same-sound hit@5, and "repost original in the top
10" (a repost, truth ``repost_of``, finds the video whose picture it reuses among its 10
nearest). ``--set DIR`` scores another query set in the bench's format (truth.csv + queries/,
e.g. ``scripts/bench/make_hard_queries.py``'s, whose feed videos have pictures, reposts and sounds
with many uses); the library is always the bench's.

    python scripts/bench/bench_embed.py                 # embed (cached in --work) and score
    python scripts/bench/bench_embed.py --set /tmp/hardset      # the hard set's videos
    python scripts/bench/bench_embed.py --frames    # also frame sampling/pooling: cost, same-picture mAP
    python scripts/bench/bench_embed.py --weights       # also: fused variants with other weights
    python scripts/bench/bench_embed.py --feed-variants     # also: the feed table for FEED_VARIANTS
    python scripts/bench/bench_embed.py --rescore --feed-variants   # no embedding run: score --work's output
    python scripts/bench/bench_embed.py --embeddings dev.parquet --learned-fusion fusion.json
                                                  # + the weights of `reelsense fusion train`
    python scripts/bench/bench_embed.py --compare-discovery default clustering=components,library=residual
                                                  # the corpus pass again with other engine options
"""

from __future__ import annotations

import argparse
import csv
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from _bench import cpu_seconds, discovery_params
from reelsense import FeaturizerConfig, RunConfig, embed_corpus
from reelsense.featurize._corpus import cluster_sound_table
from reelsense.featurize._discovery import default_discoverer
from reelsense.featurize._fusion_stage import fuse_columns, sound_keys, vectors_from_arrow
from reelsense.fusion import FusionConfig, pool_frames

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- metrics


def similarity(vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity ``[n, n]``; rows without a vector (NaN) score 0 against everything."""
    x = np.nan_to_num(np.asarray(vectors, dtype=np.float64))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms > 0, norms, 1.0)
    out: np.ndarray = unit @ unit.T
    return out


def retrieval(sims: np.ndarray, related: np.ndarray) -> dict[str, float]:
    """mAP, capped recall@5 and hit@5 over the queries that have a related video."""
    n = sims.shape[0]
    aps: list[float] = []
    recalls: list[float] = []
    hits: list[float] = []
    rng = np.random.default_rng(0)
    tiebreak = np.asarray(rng.random(n)) * 1e-9  # fixed random order among equal scores (e.g. all 0)
    for i in range(n):
        others = np.arange(n) != i
        rel = related[i, others]
        if not rel.any():
            continue
        scores = sims[i, others] + tiebreak[others]
        order = np.argsort(-scores, kind="stable")
        ranked = rel[order]
        ranks = np.flatnonzero(ranked) + 1
        aps.append(float(np.mean(np.arange(1, ranks.size + 1) / ranks)))
        recalls.append(float(ranked[:5].sum()) / min(5, int(rel.sum())))
        hits.append(float(ranked[:5].any()))
    return {
        "mAP": float(np.mean(aps)),
        "R@5": float(np.mean(recalls)),
        "hit@5": float(np.mean(hits)),
        "n": len(aps),
    }


def relations(truth: list[dict[str, str]]) -> dict[str, np.ndarray]:
    track = np.array([r["source_track"] for r in truth], dtype=object)
    image = np.array([r["image_id"] for r in truth], dtype=object)
    same_sound = (track[:, None] == track[None, :]) & (track[:, None] != "")
    same_image = (image[:, None] == image[None, :]) & (image[:, None] != "")
    return {"combined": same_sound | same_image, "same sound": same_sound, "same picture": same_image}


def print_table(title: str, results: dict[str, dict[str, dict[str, float]]]) -> None:
    names = list(next(iter(results.values())))
    print(f"\n{title}\n")
    print("| representation | " + " | ".join(f"{n} mAP | {n} R@5" for n in names) + " |")
    print("|---|" + "---:|---:|" * len(names))
    for rep, per in results.items():
        cells = " | ".join(f"{per[n]['mAP']:.3f} | {per[n]['R@5']:.3f}" for n in names)
        print(f"| {rep} | {cells} |")


# ---------------------------------------------------------------------------- embedding run

_V1 = FusionConfig(center_visual=False, picture_weight=0.0, audio_stand_in=False)

#: ``--feed-variants``: the fusion of version 1 (no centring, no picture part, no audio stand-in,
#: 512-d; only the hash keys of the random maps differ), what each part of the default does alone,
#: and the other ideas that were measured (a lower sound weight, other picture settings, seeds).
FEED_VARIANTS: dict[str, FusionConfig] = {
    "v1 maths, 512-d (no centring, no picture part, no stand-in)": replace(_V1, dim=512),
    "v1 + sound 0.75, 512-d": replace(_V1, dim=512, sound_weight=0.75),
    "v1 + centring + sound 0.75, 512-d": replace(_V1, dim=512, center_visual=True, sound_weight=0.75),
    "v1 + centring, 512-d": replace(_V1, dim=512, center_visual=True),
    "default at 512-d": FusionConfig(dim=512),
    "no picture part": FusionConfig(picture_weight=0.0),
    "no audio stand-in": FusionConfig(audio_stand_in=False),
    "no centring": FusionConfig(center_visual=False),
    "picture bandwidth 0.1": FusionConfig(picture_bandwidth=0.1),
    "picture bandwidth 0.2": FusionConfig(picture_bandwidth=0.2),
    "picture weight 0.8": FusionConfig(picture_weight=0.8),
    "picture weight 1.2": FusionConfig(picture_weight=1.2),
    "seed 1": FusionConfig(seed=1),
    "seed 2": FusionConfig(seed=2),
}


def feed_hits(sims: np.ndarray, truth: list[dict[str, str]]) -> tuple[float, float, int, int]:
    """Same-sound hit@5 and repost-original hit@10 (and how many queries each counts)."""
    track = np.array([r["source_track"] for r in truth], dtype=object)
    position = {r["qid"]: i for i, r in enumerate(truth)}
    s = sims.copy()
    np.fill_diagonal(s, -np.inf)
    tiebreak = np.random.default_rng(0).random(s.shape[0]) * 1e-9
    order = np.argsort(-(s + tiebreak[None, :]), axis=1, kind="stable")
    sound_hits = []
    for i in range(len(truth)):
        same = (track == track[i]) & (track[i] != "")
        same[i] = False
        if same.any():
            sound_hits.append(bool(same[order[i, :5]].any()))
    repost_hits = [
        bool(position[r["repost_of"]] in order[i, :10])
        for i, r in enumerate(truth)
        if r.get("repost_of") and r["repost_of"] in position
    ]
    return (
        float(np.mean(sound_hits)) if sound_hits else float("nan"),
        float(np.mean(repost_hits)) if repost_hits else float("nan"),
        len(sound_hits),
        len(repost_hits),
    )


def embed(args: argparse.Namespace, queries: Path, library: Path) -> Path:
    out: Path = args.work / f"{args.set.name if args.set else 'dev'}.parquet"
    index = args.work / "library.rsidx"
    if not index.exists():
        from reelsense.sounds.index import SoundIndex

        with SoundIndex.create(index) as idx:
            idx.add_many(sorted(str(p) for p in library.glob("*.ogg")), workers=args.workers)
    c0, t0 = cpu_seconds(), time.perf_counter()
    summary = embed_corpus(
        [queries],
        out,
        FeaturizerConfig(device="cpu", sound_index=str(index), discover_sounds=True),
        RunConfig(workers=args.workers, overwrite=args.overwrite),
        discoverer=default_discoverer(str(index), params=discovery_params(args.discovery)),
    )
    print(
        f"embed: {summary.processed} processed, {summary.skipped} cached, {summary.errors} errors; "
        f"{time.perf_counter() - t0:.1f} s wall, {cpu_seconds() - c0:.1f} CPU s"
    )
    return out


def score_output(
    out: Path,
    truth: list[dict[str, str]],
    weights: bool,
    extra_fusions: dict[str, FusionConfig] | None = None,
) -> None:
    table = pq.read_table(out)
    ids = table["video_id"].to_pylist()
    position = {vid: i for i, vid in enumerate(ids)}
    order = [position[r["qid"]] for r in truth]
    table = table.take(order)
    rel = relations(truth)
    n = table.num_rows
    columns = {c: vectors_from_arrow(table[c]) for c in ("visual_vector", "caption_vector", "audio_vector")}
    sound_ids = table["sound_id"].to_pylist()
    scores = table["sound_score"].to_pylist()
    clusters = table["sound_cluster"].to_pylist()
    music = table["music_fraction"].to_pylist() if "music_fraction" in table.column_names else None
    config = FusionConfig()
    reps: dict[str, np.ndarray] = {
        "visual": similarity(columns["visual_vector"]),
        "caption": similarity(columns["caption_vector"]),
        "audio (log-mel stats)": similarity(columns["audio_vector"]),
    }
    for label, use_clusters in (
        ("sound identity: index match", None),
        ("sound identity: index + discovered", clusters),
    ):
        keys, conf = sound_keys(sound_ids, scores, use_clusters, config)
        onehot = np.array([[k == other and k is not None for other in keys] for k in keys], dtype=float)
        reps[label] = onehot * np.sqrt(np.outer(conf, conf))
    reps["fused (stored `embedding`)"] = similarity(vectors_from_arrow(table["embedding"]))
    results = {name: {r: retrieval(s, m) for r, m in rel.items()} for name, s in reps.items()}
    print_table(f"Retrieval on the {n} queries (related = same source sound OR same picture)", results)
    print("\nThe fused embedding, the two kinds of related (fused again from the stored columns)\n")
    print("| configuration | fusion | same sound hit@5 | repost original hit@10 | combined mAP |")
    print("|---|---|---:|---:|---:|")
    fusions = {"default": FusionConfig(), **(extra_fusions or {})}
    for config_name, use in (("--sound-index only", [None] * n), ("with --discover-sounds", clusters)):
        for fusion_name, cfg in fusions.items():
            emb = fuse_columns(
                {**columns, "sound_id": sound_ids, "sound_score": scores, "sound_cluster": use,
                 "music_fraction": music}, n, cfg,
            )  # fmt: skip
            sims = similarity(emb.vectors)
            hit5, hit10, n5, n10 = feed_hits(sims, truth)
            combined = retrieval(sims, rel["combined"])["mAP"]
            cells = f"{hit5:.3f} ({n5}) | {hit10:.3f} ({n10}) | {combined:.3f}"
            print(f"| {config_name} | {fusion_name} | {cells} |")
    if weights:
        variants = {
            "visual 1, caption 0.5, audio 0.5, sound 1 (default)": FusionConfig(),
            "no sound component": FusionConfig(sound_weight=0.0),
            "no caption": FusionConfig(caption_weight=0.0),
            "no audio": FusionConfig(audio_weight=0.0),
            "equal weights 1": FusionConfig(caption_weight=1.0, audio_weight=1.0),
            "sound 1.5": FusionConfig(sound_weight=1.5),
            "sound 0.7": FusionConfig(sound_weight=0.7),
            "dim 256": FusionConfig(dim=256),
            "dim 1024": FusionConfig(dim=1024),
            "seed 1": FusionConfig(seed=1),
        }
        fused = {}
        for name, cfg in variants.items():
            emb = fuse_columns(
                {**columns, "sound_id": sound_ids, "sound_score": scores, "sound_cluster": clusters,
                 "music_fraction": music}, n, cfg,
            )  # fmt: skip
            fused[name] = {r: retrieval(similarity(emb.vectors), m) for r, m in rel.items()}
        print_table("Fusion variants (recomputed from the stored modality columns)", fused)


# ---------------------------------------------------------------------------- frames


def compare_frames(args: argparse.Namespace, queries: list[Path], truth: list[dict[str, str]]) -> None:
    from reelsense.io import FrameSampling, decode
    from reelsense.vision import load_image_encoder

    encoder = load_image_encoder("efficientnet_lite0", device="cpu", precision="fp32")
    image = np.array([r["image_id"] for r in truth], dtype=object)
    same_image = image[:, None] == image[None, :]
    category = np.array([r["image_category"] for r in truth], dtype=object)
    same_category = category[:, None] == category[None, :]
    base = FrameSampling(max_side=399, max_frames=16)
    strategies = {
        "keyframes": replace(base, strategy="keyframes"),
        "scenes": replace(base, strategy="scenes"),
        "count 1": replace(base, strategy="count", count=1),
        "count 4": replace(base, strategy="count", count=4),
        "uniform 1 fps": replace(base, strategy="uniform", fps=1.0),
    }
    decode_only = {"uniform 1 fps"}  # ~10 frames/video: the model cost would take long here
    print("\nFrame sampling (EfficientNet-Lite0, tiles, CPU fp32; CPU seconds of this process)\n")
    print(
        "| sampling | frames/video | decode CPU s | model CPU s | total CPU ms/video "
        "| same-picture mAP (mean) | (duration) | same-category mAP (mean) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, sampling in strategies.items():
        c0 = time.process_time()
        decoded = [decode(q, frames=sampling, threads=1) for q in queries]
        c1 = time.process_time()
        n_frames = sum(len(m.frames) for m in decoded if m.frames is not None)
        if name in decode_only:
            print(f"| {name} | {n_frames / len(queries):.2f} | {c1 - c0:.1f} | not run | | | | |", flush=True)
            continue
        pooled_mean, pooled_dur = [], []
        for media in decoded:
            assert media.frames is not None
            vectors = encoder.encode(media.frames.frames)
            pooled_mean.append(pool_frames(vectors, method="mean"))
            pooled_dur.append(
                pool_frames(vectors, media.frames.pts_seconds, media.info.duration_seconds, "duration")
            )
        c2 = time.process_time()
        m_mean = retrieval(similarity(np.stack(pooled_mean)), same_image)["mAP"]
        m_dur = retrieval(similarity(np.stack(pooled_dur)), same_image)["mAP"]
        cat = retrieval(similarity(np.stack(pooled_mean)), same_category)["mAP"]
        print(
            f"| {name} | {n_frames / len(queries):.2f} | {c1 - c0:.1f} | {c2 - c1:.1f} | "
            f"{(c2 - c0) * 1000 / len(queries):.0f} | {m_mean:.3f} | {m_dur:.3f} | {cat:.3f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--work", type=Path, default=Path("/tmp/reelsense-bench-embed"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", type=Path, default=None, help="another query set (truth.csv + queries/)")
    parser.add_argument("--frames", action="store_true", help="compare frame sampling and pooling")
    parser.add_argument("--weights", action="store_true", help="score fusion variants")
    parser.add_argument(
        "--feed-variants", action="store_true", help="also the feed table for fusion variants (FEED_VARIANTS)"
    )
    parser.add_argument("--no-embed", action="store_true", help="only --frames")
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="no embedding run: score the output already in --work (the feed tables fuse again from its "
        "columns, so an output of an older fusion version gives this version's figures there)",
    )
    parser.add_argument(
        "--learned-fusion",
        type=Path,
        default=None,
        help="also score the weights of `reelsense fusion train` (a JSON file) in the feed table",
    )
    parser.add_argument(
        "--embeddings", type=Path, default=None, help="score this embed output instead of embedding again"
    )
    parser.add_argument("--overwrite", action="store_true", help="recompute the cached per-video pass")
    parser.add_argument(
        "--discovery",
        default="default",
        help="discovery engine options for the embedding run, e.g. clustering=components,library=residual",
    )
    parser.add_argument(
        "--compare-discovery",
        nargs="+",
        default=None,
        metavar="OPTIONS",
        help="redo the corpus pass on a copy with each of these engine options and score it",
    )
    args = parser.parse_args()
    sounds = args.bench / "sounds"
    queries_root = args.set or sounds
    with (queries_root / "truth.csv").open(encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    args.work.mkdir(parents=True, exist_ok=True)
    if args.frames:
        compare_frames(args, [queries_root / "queries" / f"{r['qid']}.mp4" for r in truth], truth)
    if not args.no_embed:
        if args.embeddings is not None:
            out = args.embeddings
        elif args.rescore:
            out = args.work / f"{args.set.name if args.set else 'dev'}.parquet"
        else:
            out = embed(args, queries_root / "queries", sounds / "library")
        extra = dict(FEED_VARIANTS) if args.feed_variants else {}
        if args.learned_fusion is not None:
            from reelsense.fusion import LearnedFusion

            extra["learned"] = LearnedFusion.load(args.learned_fusion).config
        score_output(out, truth, args.weights, extra or None)
        for k, spec in enumerate(args.compare_discovery or []):
            copy = args.work / f"dev-discovery-{k}.parquet"
            shutil.copy(out, copy)
            c0, t0 = cpu_seconds(), time.perf_counter()
            discoverer = default_discoverer(str(args.work / "library.rsidx"), params=discovery_params(spec))
            clustered, grouped = cluster_sound_table(pq.read_table(copy), FusionConfig(), discoverer)
            pq.write_table(clustered, copy)
            print(
                f"\ndiscovery {spec!r} ({discoverer.name}): {grouped} videos grouped, "
                f"{time.perf_counter() - t0:.1f} s wall, {cpu_seconds() - c0:.1f} CPU s"
            )
            score_output(copy, truth, False)


if __name__ == "__main__":
    main()
