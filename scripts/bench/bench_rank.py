#!/usr/bin/env python3
"""Benchmark ``reelsense rank`` on the feedback benchmark and on a synthetic large log.

    python scripts/bench/bench_rank.py dev.parquet                         # feedback scores + timings
    python scripts/bench/bench_rank.py dev.parquet --curve docs/ranking_curve.csv   # + NDCG vs feedback
    python scripts/bench/bench_rank.py --synthetic-only --events 1000000 --videos 100000

``dev.parquet`` is ``reelsense embed ../shared/bench/sounds/queries --sound-index
../shared/bench/sounds/library --discover-sounds -o dev.parquet`` (default preset). For the
feedback benchmark (``../shared/bench/feedback``) it trains on the events before each
user's request time, ranks 10 videos per user, and scores the feed with the benchmark's
``score_feedback.py``, for the ranker and its positive-only variant. ``--curve`` repeats
that with only each user's first N events. The synthetic run makes ``--videos`` videos
with random vectors (the sizes of the default preset), random sounds, uploaders and
hashtags, and ``--events`` random events over ``--users`` users, then trains and ranks
every user in a child process and reports wall time and its peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reelsense.rank import (
    Catalog,
    EventLog,
    LogReport,
    RankConfig,
    rank_users,
    read_catalog,
    read_events,
    read_users,
    train_ranker,
)

BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench"


def write_recs(feeds: list, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "rank", "video_id", "score"])
        for feed in feeds:
            for rank, (video, score) in enumerate(zip(feed.video_ids, feed.scores, strict=True), start=1):
                writer.writerow([feed.user_id, rank, video, f"{score:.6f}"])


def score(truth: Path, recs: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(BENCH / "score_feedback.py"), str(truth), str(recs)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = [x for x in out.splitlines() if x.startswith("RESULT")][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}


def feedback(embeddings: Path, curve: Path | None, amounts: list[int]) -> None:
    folder = BENCH / "feedback"
    catalog = read_catalog(embeddings)
    log = read_events(folder / "events.csv", catalog.index)
    users = read_users(folder / "users.csv")
    print(f"{len(catalog)} videos, {len(log)} events, {len(users)} users; {log.report.summary()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [0, *amounts]:
            part = log.first_per_user(n) if n else log
            for name, config in (
                ("positive+negative", RankConfig()),
                ("positive only", RankConfig(negative_feedback=False)),
            ):
                start = time.perf_counter()
                model = train_ranker(catalog, part.before(users), config)
                trained = time.perf_counter()
                feeds, _ = rank_users(model, catalog, part, users, k=10)
                ranked = time.perf_counter()
                recs = Path(tmp) / "recs.csv"
                write_recs(feeds, recs)
                result = score(folder / "truth.csv", recs)
                label = "all" if n == 0 else str(n)
                rows.append({"events_per_user": label, "variant": name, **result})
                print(
                    f"| {label:>4} | {name:<17} | {result['ndcg']:.3f} | {result['ndcg_new']:.3f} | "
                    f"{result['annoy']:.3f} | {model.info['em_iterations']} | "
                    f"train {trained - start:.1f} s | "
                    f"rank {ranked - trained:.1f} s |",
                    flush=True,
                )
            if curve is None:
                break
    if curve is not None:
        with curve.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {curve}")


def synthetic(n_events: int, n_videos: int, n_users: int, seed: int, config: RankConfig) -> dict[str, float]:
    """Train and rank on random data in this process; returns timings."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    ids = tuple(f"v{i:07d}" for i in range(n_videos))
    emb = rng.normal(size=(n_videos, 512)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    catalog = Catalog(
        video_ids=ids,
        embedding=emb,
        modalities={
            "visual": rng.random((n_videos, 1280), dtype=np.float32),
            "caption": rng.normal(size=(n_videos, 384)).astype(np.float32),
        },
        sound_keys=tuple(f"s{i}" for i in rng.integers(2000, size=n_videos)),
        uploaders=tuple(f"up{i}" for i in rng.integers(20000, size=n_videos)),
        hashtags=tuple((f"t{a}", f"t{b}") for a, b in rng.integers(500, size=(n_videos, 2))),
        presence=rng.random((n_videos, 5), dtype=np.float32),
    )
    user = np.sort(rng.integers(n_users, size=n_events))
    event = rng.choice(6, size=n_events, p=[0.6, 0.15, 0.12, 0.04, 0.04, 0.05])
    log = EventLog(
        users=tuple(f"u{i:06d}" for i in range(n_users)),
        user=user,
        video=rng.integers(n_videos, size=n_events),
        event=event,
        timestamp=np.arange(n_events, dtype=np.float64),
        watch_fraction=np.where(event == 0, rng.random(n_events), np.nan),
        report=LogReport(rows=n_events, kept=n_events),
    )
    request = {u: float(n_events) for u in log.users}
    t1, c1 = time.perf_counter(), time.process_time()
    model = train_ranker(catalog, log, config)
    t2, c2 = time.perf_counter(), time.process_time()
    feeds, _ = rank_users(model, catalog, log, request, k=10)
    t3, c3 = time.perf_counter(), time.process_time()
    assert len(feeds) == n_users
    return {
        "make_s": t1 - t0,
        "train_s": t2 - t1,
        "rank_s": t3 - t2,
        "train_cpu_s": c2 - c1,
        "rank_cpu_s": c3 - c2,
        "users": n_users,
        "feature_dim": model.info["feature_dim"],
        "em_iterations": model.info["em_iterations"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("embeddings", nargs="?", type=Path, help="reelsense embed output of the dev videos")
    parser.add_argument("--curve", type=Path, help="CSV of NDCG against the events per user")
    parser.add_argument("--amounts", default="5,10,20,40", help="events per user for --curve")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-users", type=int, default=RankConfig().max_train_users, help="synthetic: prior from"
    )
    parser.add_argument("--em-iterations", type=int, default=RankConfig().em_iterations, help="synthetic")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--synthetic-only", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config = RankConfig(max_train_users=args.train_users, em_iterations=args.em_iterations)
        print(json.dumps(synthetic(args.events, args.videos, args.users, args.seed, config)))
        return
    if not args.synthetic_only:
        if args.embeddings is None or not (BENCH / "feedback" / "truth.csv").is_file():
            sys.exit("needs the dev embeddings and ../shared/bench/feedback")
        print("| events/user | variant | ndcg | ndcg_new | annoy | EM iterations | train | rank |")
        feedback(args.embeddings, args.curve, [int(a) for a in args.amounts.split(",") if a])
    if not args.skip_synthetic:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--events",
                str(args.events),
                "--videos",
                str(args.videos),
                "--users",
                str(args.users),
                "--seed",
                str(args.seed),
                "--train-users",
                str(args.train_users),
                "--em-iterations",
                str(args.em_iterations),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(
            f"synthetic: {args.events} events, {args.videos} videos, {result['users']} users, "
            f"{result['feature_dim']} features, {result['em_iterations']} EM iterations: "
            f"train {result['train_s']:.1f} s, "
            f"rank {result['rank_s']:.1f} s "
            f"(CPU {result['train_cpu_s']:.0f} + {result['rank_cpu_s']:.0f} s), "
            f"peak RSS {result['peak_rss_mib']:.0f} MiB (making the data: {result['make_s']:.1f} s)"
        )


if __name__ == "__main__":
    main()
