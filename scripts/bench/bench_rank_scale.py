#!/usr/bin/env python3
"""The feedback commands at growing sizes: wall time and peak memory of ``reelsense rank train``,
``rank feed --model``, ``fusion train``, ``fusion apply`` and ``plot``, one run per size.

Each size gets a synthetic embeddings file (``bench_catalog.write_catalog``: the shape of a
``reelsense embed`` output), an events log of about ``--events-per-video`` events per video
(views with a watch fraction, then likes, shares, skips and "not interested" on some of them,
over 14 days, a Zipf popularity (rank^-0.8) over 60 % of the videos: the rest are new uploads) and a users
file of ``--users-per-video`` users per video, requesting after the log. Every command runs in
its own process; its peak resident memory is that process's (``os.wait4``)::

    python scripts/bench/bench_rank_scale.py [--sizes 1000,10000,30000] [--workdir DIR]
                                             [--commands rank-train,rank-feed,fusion-train,fusion-apply,plot]
                                             [--users N] [--history H]

``--history H`` writes long histories instead (each user views ``H`` distinct random videos, one a
minute, and likes 15 % of them): ``--sizes 10000 --users 25 --history 2000 --commands rank-train``
is the heavy-user case of docs/benchmarks.md, *Ranking at scale*.

Prints per size and command: wall seconds and peak RSS (MB), and the growth exponents of both
between the two largest sizes (1.0: linear).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from _bench import work_folder
from bench_catalog import write_catalog

#: the log's first second and length
START, DAYS = 1_730_000_000, 14
COMMANDS = ("rank-train", "rank-feed", "fusion-train", "fusion-apply", "plot")


def write_events(
    path: Path, users_path: Path, n_videos: int, n_events: int, n_users: int, seed: int = 0
) -> None:
    """About ``n_events`` events: views, and a like, share, skip or "not interested" after
    some of them (1.3 events per view)."""
    rng = np.random.default_rng(seed)
    shown = rng.permutation(n_videos)[: max(1, int(0.6 * n_videos))]
    popularity = 1.0 / np.arange(1, shown.size + 1) ** 0.8  # Zipf's law over the shown videos
    n_views = max(1, int(n_events / 1.3))
    user = rng.integers(0, n_users, n_views)
    video = shown[rng.choice(shown.size, n_views, p=popularity / popularity.sum())]
    when = START + np.sort(rng.integers(0, DAYS * 86400, n_views))
    draw = rng.random(n_views)
    kinds = np.select(
        [draw < 0.12, draw < 0.16, draw < 0.40, draw < 0.43], ["like", "share", "skip", "not_interested"], ""
    )
    extra = kinds != ""
    table = pa.table(
        {
            "user_id": np.char.add("u", np.concatenate([user, user[extra]]).astype(str)),
            "video_id": np.char.add("v", np.char.zfill(np.concatenate([video, video[extra]]).astype(str), 8)),
            "timestamp": np.concatenate([when, when[extra] + 5]),
            "event": np.concatenate([np.full(n_views, "view"), kinds[extra]]),
            "watch_fraction": pa.array(
                np.concatenate([rng.random(n_views).round(3), np.full(int(extra.sum()), np.nan)]),
                from_pandas=True,
            ),
        }
    )
    pacsv.write_csv(table.sort_by("timestamp"), path)
    write_users(users_path, n_users, rng)


def write_history_events(
    path: Path, users_path: Path, n_videos: int, history: int, n_users: int, seed: int = 0
) -> int:
    """Long histories: each of ``n_users`` users views ``history`` distinct random videos, one a
    minute (a uniform watch fraction), and likes 15 % of them. Returns the number of events."""
    if history > n_videos:
        raise SystemExit(f"--history {history} is more than the {n_videos} videos")
    rng = np.random.default_rng(seed)
    video = np.concatenate([rng.choice(n_videos, history, replace=False) for _ in range(n_users)])
    user = np.repeat(np.arange(n_users), history)
    when = START + np.tile(np.arange(history) * 60, n_users)
    liked = rng.random(video.size) < 0.15
    n_likes = int(liked.sum())
    table = pa.table(
        {
            "user_id": np.char.add("u", np.concatenate([user, user[liked]]).astype(str)),
            "video_id": np.char.add("v", np.char.zfill(np.concatenate([video, video[liked]]).astype(str), 8)),
            "timestamp": np.concatenate([when, when[liked] + 5]),
            "event": np.concatenate([np.full(video.size, "view"), np.full(n_likes, "like")]),
            "watch_fraction": pa.array(
                np.concatenate([rng.random(video.size).round(3), np.full(n_likes, np.nan)]), from_pandas=True
            ),
        }
    )
    pacsv.write_csv(table.sort_by([("user_id", "ascending"), ("timestamp", "ascending")]), path)
    write_users(users_path, n_users, rng)
    return int(table.num_rows)


def write_users(path: Path, n_users: int, rng: np.random.Generator) -> None:
    """``user_id,request_time``: every user asks within the hour after the log."""
    users = pa.table(
        {
            "user_id": np.char.add("u", np.arange(n_users).astype(str)),
            "request_time": START + DAYS * 86400 + rng.integers(0, 3600, n_users),
        }
    )
    pacsv.write_csv(users, path)


def measured(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command in its own process; raises on failure."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({process.returncode}):\n{error[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def commands(work: Path, n: int) -> dict[str, list[str]]:
    """Each command's argv: ``reelsense WORDS EMBEDDINGS [OPTIONS] -o OUTPUT``."""
    emb, events, users = work / f"catalog_{n}.parquet", work / f"events_{n}.csv", work / f"users_{n}.csv"
    logs = ("--events", str(events), "--users", str(users))
    model, weights = work / f"model_{n}", work / f"fusion_{n}.json"
    specs: dict[str, tuple[tuple[str, ...], tuple[str, ...], Path]] = {
        "rank-train": (("rank", "train"), logs, model),
        "rank-feed": (("rank", "feed"), (*logs, "--model", str(model)), work / f"feeds_{n}.csv"),
        "fusion-train": (("fusion", "train"), logs, weights),
        "fusion-apply": (("fusion", "apply"), ("--weights", str(weights)), work / f"fused_{n}.parquet"),
        "plot": (("plot",), (), work / f"map_{n}.png"),
    }
    return {
        name: [sys.executable, "-m", "reelsense", *words, str(emb), *options, "-o", str(output)]
        for name, (words, options, output) in specs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,30000", help="videos, comma-separated")
    parser.add_argument("--events-per-video", type=float, default=10.0)
    parser.add_argument("--users-per-video", type=float, default=0.2)
    parser.add_argument("--users", type=int, default=None, help="users (default: from --users-per-video)")
    parser.add_argument(
        "--history",
        type=int,
        default=None,
        help="long histories instead: each user views this many distinct videos (15 %% liked)",
    )
    parser.add_argument("--commands", default=",".join(COMMANDS), help=f"some of {','.join(COMMANDS)}")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the files go (default: a temporary folder)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    wanted = args.commands.split(",")
    unknown = sorted(set(wanted) - set(COMMANDS))
    if unknown:
        parser.error(f"unknown commands {unknown}; choose from {','.join(COMMANDS)}")
    if "rank-feed" in wanted and "rank-train" not in wanted:
        parser.error("rank-feed uses the model rank-train writes: list both")
    if "fusion-apply" in wanted and "fusion-train" not in wanted:
        parser.error("fusion-apply uses the weights fusion-train writes: list both")
    results: dict[str, list[tuple[int, float, float]]] = {c: [] for c in wanted}
    with work_folder(args.workdir) as work:
        print("| videos | events | users | command | wall s | peak RSS MB |")
        print("|---:|---:|---:|---|---:|---:|")
        for n in sizes:
            n_users = args.users if args.users is not None else max(1, int(n * args.users_per_video))
            write_catalog(work / f"catalog_{n}.parquet", n)
            if args.history is None:
                n_events = int(n * args.events_per_video)
                write_events(work / f"events_{n}.csv", work / f"users_{n}.csv", n, n_events, n_users)
            else:
                n_events = write_history_events(
                    work / f"events_{n}.csv", work / f"users_{n}.csv", n, args.history, n_users
                )
            argv = commands(work, n)
            for name in wanted:
                wall, peak = measured(argv[name])
                results[name].append((n, wall, peak))
                print(f"| {n} | {n_events} | {n_users} | {name} | {wall:.1f} | {peak:.0f} |", flush=True)
    if len(sizes) >= 2:
        print("\ngrowth between the two largest sizes (exponent of size; 1.0 is linear):")
        for name, rows in results.items():
            (n0, w0, m0), (n1, w1, m1) = rows[-2], rows[-1]
            scale = math.log(n1 / n0)
            print(f"  {name}: time {math.log(w1 / w0) / scale:.2f}, memory {math.log(m1 / m0) / scale:.2f}")


if __name__ == "__main__":
    main()
