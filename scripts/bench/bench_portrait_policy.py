"""Measure the portrait policies of the image encoder on real portrait videos.

For every query video of the dev benchmark (../shared/bench/sounds, 360x640 portrait), three
frames (at 25/50/75 % of the duration) are embedded with each portrait policy and mean-pooled
into one vector per video. Two retrieval figures are printed per policy, over cosine
similarity with every other video:

- same image: mAP and recall@5 where "related" = same ``image_id`` in truth.csv (videos that
  reuse one picture with a different pan/zoom, caption or mirroring);
- same category: mAP where "related" = same coarse ``image_category``.

Plus the encoder cost per frame (CPU process time, so other jobs on the machine do not distort
it). Usage: python scripts/bench/bench_portrait_policy.py [--model efficientnet_lite0] [--bench DIR]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import av
import numpy as np

from reelsense.models import PortraitPolicy
from reelsense.vision import load_image_encoder

POLICIES: tuple[PortraitPolicy, ...] = ("pad_blur", "pad_mean", "tiles", "center_crop", "resize")


def sample_frames(path: Path, fractions: tuple[float, ...] = (0.25, 0.5, 0.75)) -> np.ndarray:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration or 0) / 1e6
        out = []
        for fraction in fractions:
            target = duration * fraction
            container.seek(int(target / float(stream.time_base)), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is None or frame.time >= target - 1e-3:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
    return np.stack(out)


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")
    hits = relevant[order]
    if not hits.any():
        return float("nan")
    ranks = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def retrieval(vectors: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    aps, recalls = [], []
    for i in range(len(labels)):
        mask = np.arange(len(labels)) != i
        relevant = labels[mask] == labels[i]
        if not relevant.any():
            continue
        scores = sims[i, mask]
        aps.append(average_precision(scores, relevant))
        top = np.argsort(-scores, kind="stable")[:5]
        recalls.append(float(relevant[top].any()))
    return float(np.mean(aps)), float(np.mean(recalls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument(
        "--bench", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "bench"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N queries")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = list(csv.DictReader((args.bench / "sounds" / "truth.csv").open()))
    if args.limit:
        rows = rows[: args.limit]
    t0 = time.perf_counter()
    frames = [sample_frames(args.bench / "sounds" / "queries" / f"{row['qid']}.mp4") for row in rows]
    print(
        f"decoded {sum(len(f) for f in frames)} frames of {len(rows)} videos "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    images = np.array([row["image_id"] for row in rows])
    categories = np.array([row["image_category"] for row in rows])
    encoder = load_image_encoder(args.model, device=args.device, precision="fp32")
    print(f"model {encoder.entry.name}, frames {frames[0].shape[1]}x{frames[0].shape[2]}")
    print("| policy | same-image mAP | same-image R@5 | same-category mAP | ms/frame (CPU time) |")
    print("|---|---:|---:|---:|---:|")
    for policy in POLICIES:
        encoder.portrait_policy = policy
        c0 = time.process_time()
        pooled = np.stack([encoder.encode(video, batch_size=16).mean(axis=0) for video in frames])
        cpu_ms = (time.process_time() - c0) * 1000 / sum(len(f) for f in frames)
        image_map, image_r5 = retrieval(pooled, images)
        category_map, _ = retrieval(pooled, categories)
        print(
            f"| {policy} | {image_map:.3f} | {image_r5:.3f} | {category_map:.3f} | {cpu_ms:.1f} |", flush=True
        )


if __name__ == "__main__":
    main()
