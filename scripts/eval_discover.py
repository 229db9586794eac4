#!/usr/bin/env python3
"""Accuracy of sound discovery and trending flags on the real-audio dev benchmark (../shared/bench).

1. Indexes ``sounds/library`` (unless ``--index`` names an index), runs
   :func:`reelsense.sounds.discover.discover_sounds` on every query video WITH the library
   and WITHOUT it, writes ``clusters.csv`` / ``clusters_noindex.csv`` and scores both with
   ``score_sounds.py --clusters`` (adjusted Rand index against ``source_track``).
2. Checks the placement of each use: speed relative to the representative against the
   truth ratio of ``speed * tempo``, and offsets in library time.
3. Runs the trends report on ``clusters.csv`` and ``clusters_noindex.csv``, with and
   without hashtag links (as ``reelsense sounds trends`` does), maps
   each sound to the majority ``source_track`` of its videos (this script reads the truth;
   the library never does) and scores the trending flags against ``tracks.csv``: per
   track, trending if any of its sounds is flagged; precision/recall over all tracks and
   over the tracks that were found as a sound at all. For context it also scores the same
   trend statistic on the TRUE grouping (what perfect discovery would give).

    python scripts/eval_discover.py [--bench ../shared/bench] [--workers 2] [--out /tmp/eval_discover]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from reelsense.sounds import SoundIndex
from reelsense.sounds.discover import Discovery, discover_sounds
from reelsense.trends import Use, trend_report, trend_table
from reelsense.trends._stats import TrendParams

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"


def score_clusters(bench: Path, clusters: Path) -> str:
    out = subprocess.run(
        [
            sys.executable,
            str(bench / "score_sounds.py"),
            str(bench / "sounds" / "truth.csv"),
            str(clusters),
            "--clusters",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def placement_errors(result: Discovery, truth: dict[str, dict[str, str]]) -> str:
    """Median relative speed error of members vs their representative, offset accuracy in library time."""
    by_id = {v.video_id: v for v in result.videos}
    speed_err, offset_err = [], []
    for v in result.videos:
        if v.cluster is None or v.speed is None or v.representative is None:
            continue
        t = truth[v.video_id]
        scale = float(t["speed"]) * float(t["tempo"])
        if v.library_sound is not None:
            if t["sound"] != v.library_sound:
                continue
            rep_scale, rep_offset = 1.0, 0.0
            if v.offset_seconds is not None:
                offset_err.append(abs(v.offset_seconds - float(t["offset_s"])))
        else:
            rep = by_id.get(v.representative)
            if rep is None or v.video_id == rep.video_id:
                continue
            tr = truth[rep.video_id]
            if tr["source_track"] != t["source_track"]:
                continue
            rep_scale = float(tr["speed"]) * float(tr["tempo"])
            rep_offset = float(tr["offset_s"])
            del rep_offset
        speed_err.append(abs(v.speed / (scale / rep_scale) - 1.0))
    se, oe = np.array(speed_err), np.array(offset_err)
    speed = "-"
    if se.size:
        speed = f"median relative error {np.median(se):.4f}, within 2 %: {np.mean(se <= 0.02):.3f}"
    offset = f"{np.mean(oe <= 0.5):.3f}" if oe.size else "- (no library)"
    return (
        f"speed vs representative: {speed} (n={se.size}); "
        f"offset in library time within 0.5 s: {offset} (n={oe.size})"
    )


def trend_scores(flags: dict[str, bool], truth_trending: dict[str, bool]) -> str:
    tp = sum(flags.get(t, False) and y for t, y in truth_trending.items())
    fp = sum(flags.get(t, False) and not y for t, y in truth_trending.items())
    fn = sum((not flags.get(t, False)) and y for t, y in truth_trending.items())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    missed = sorted(t for t, y in truth_trending.items() if y and not flags.get(t, False))
    extra = sorted(t for t, y in truth_trending.items() if not y and flags.get(t, False))
    return (
        f"precision {p:.3f} ({tp}/{tp + fp}), recall {r:.3f} ({tp}/{tp + fn}); missed {missed}; false {extra}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/eval_discover"))
    ap.add_argument("--index", type=Path, default=None, help="existing library index (default: build one)")
    ap.add_argument("--window-days", type=float, default=7.0)
    args = ap.parse_args()
    sounds = args.bench / "sounds"
    args.out.mkdir(parents=True, exist_ok=True)
    with (sounds / "truth.csv").open(newline="") as f:
        truth = {r["qid"]: r for r in csv.DictReader(f)}
    with (sounds / "tracks.csv").open(newline="") as f:
        tracks = {r["source_track"]: r["trending"] == "1" for r in csv.DictReader(f)}
    queries = sorted((sounds / "queries").glob("*.mp4"))

    index = args.index
    if index is None:
        index = args.out / "library.rsidx"
        if not index.exists():
            t0 = time.perf_counter()
            with SoundIndex.create(index) as idx:
                idx.add_many(sorted((sounds / "library").glob("*.ogg")), workers=args.workers)
            print(f"indexed the library in {time.perf_counter() - t0:.1f} s -> {index}")

    results = {}
    for name, idx in (("clusters", index), ("clusters_noindex", None)):
        t0 = time.perf_counter()
        res = discover_sounds(queries, index=idx, workers=args.workers)
        path = args.out / f"{name}.csv"
        res.write_csv(path)
        results[name] = res
        st = res.stats
        print(
            f"\n## {name} ({'with' if idx else 'without'} the library): "
            f"{time.perf_counter() - t0:.1f} s wall "
            f"(fingerprint {st.fingerprint_seconds:.1f} s, match {st.match_seconds:.1f} s), "
            f"{len(res.sounds)} sounds, {st.n_music} music videos, {st.n_edges} edges"
        )
        print(f"python3 {args.bench / 'score_sounds.py'} {sounds / 'truth.csv'} {path} --clusters")
        print(score_clusters(args.bench, path))
        print(placement_errors(res, truth))

    reports = {}
    for grouping in ("clusters", "clusters_noindex"):
        for links in (True, False):
            name = f"trends{'' if grouping == 'clusters' else '_noindex'}{'' if links else '_nolinks'}"
            print(
                f"\n## trending flags ({'with' if grouping == 'clusters' else 'without'} the library, "
                f"hashtag links {'on' if links else 'off'})"
            )
            trends_csv = args.out / f"{name}.csv"
            report = trend_report(
                [args.out / f"{grouping}.csv", sounds / "queries"],
                trends_csv,
                report=args.out / f"{name}.html",
                params=TrendParams(window_days=args.window_days),
                link_hashtags=links,
            )
            reports[name] = report
            table = args.out / f"{grouping}.csv"
            print(
                f"reelsense sounds trends {table} {sounds / 'queries'} -o {trends_csv} "
                f"--report {args.out / f'{name}.html'}{'' if links else ' --no-hashtag-links'}"
            )
            members: dict[str, list[str]] = defaultdict(list)
            for v in results[grouping].videos:
                if v.cluster is not None:
                    members[v.cluster].append(v.video_id)
            flags: dict[str, bool] = {}
            n_links = n_right = 0
            for s in report.sounds:
                votes = Counter(truth[q]["source_track"] or "none" for q in members[s.sound])
                track = votes.most_common(1)[0][0]
                flags[track] = flags.get(track, False) or s.trend.trending
                for u in s.uses:
                    if u.linked_hashtag is not None:
                        n_links += 1
                        n_right += truth[u.video_id]["source_track"] == track
            if links:
                print(f"hashtag links: {n_links}, to the video's own track: {n_right}")
            print("all tracks:          " + trend_scores(flags, tracks))
            found = {t: y for t, y in tracks.items() if t in flags}
            print(f"tracks found ({len(found)}): " + trend_scores(flags, found))
    report = reports["trends"]
    # the same statistic on the true grouping (perfect discovery)
    uses = [
        Use(q, r["source_track"], None, int(v.timestamp_seconds or 0))
        for q, r in truth.items()
        for v in results["clusters"].videos
        if v.video_id == q and r["source_track"]
    ]
    oracle = {
        s.sound: s.trend.trending
        for s in trend_table(
            uses,
            params=TrendParams(window_days=args.window_days),
            reference_seconds=report.reference_seconds,
            start_seconds=report.start_seconds,
        )
    }
    print("true grouping:       " + trend_scores(oracle, tracks))


if __name__ == "__main__":
    main()
