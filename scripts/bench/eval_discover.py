#!/usr/bin/env python3
"""Accuracy of sound discovery and trending flags on the real-audio dev benchmark (../shared/bench).

1. Indexes ``sounds/library`` (unless ``--index`` names an index) and runs
   :func:`reelsense.sounds.discover.discover_sounds` on every query video WITH the library and
   WITHOUT it, once per ``--discovery`` option set (default: the engine's defaults). Each run
   writes the product CSV (``clusters[_noindex][_K].csv``) and, from the result itself, a
   scorer copy with the columns ``score_sounds.py`` reads (``query,cluster``; the product CSV says
   ``video_id,sound_cluster``), scored with
   ``--clusters`` (adjusted Rand index against ``source_track``) and
   ``--clusters --shared-audio`` (track precision and shared-audio recall).
2. Checks the placement of each use: speed relative to the representative against the truth
   ratio of ``speed * tempo``, and offsets in library time.
3. For the first option set: runs the trends report on the two clusters CSVs, with and without
   hashtag links (as ``reelsense sounds trends`` does), maps each sound to the majority
   ``source_track`` of its videos (this script reads the truth; the library never does) and
   scores the trending flags against ``tracks.csv``: per track, trending if any of its sounds
   is flagged. For context it also scores the same trend statistic on the TRUE grouping.
4. Prints one summary table of every run (wall and CPU seconds of the process and its workers:
   the machine may be shared, so wall time alone can mislead).

    python scripts/bench/eval_discover.py [--bench ../shared/bench] [--workers 2] [--out /tmp/eval_discover]
    python scripts/bench/eval_discover.py --discovery default \
        clustering=components music_filter=0,library=residual
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

from _bench import ProcSampler, discovery_params
from reelsense.sounds import SoundIndex
from reelsense.sounds.discover import Discovery, discover_sounds
from reelsense.trends import TrendParams, Use, trend_report, trend_table

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"


def write_scorer_csv(result: Discovery, path: Path) -> Path:
    """``query,cluster`` rows (the columns score_sounds.py reads), whatever the product CSV names them."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["query", "cluster"])
        for v in result.videos:
            w.writerow([v.video_id, v.cluster or ""])
    return path


def score(bench: Path, clusters: Path, *flags: str) -> tuple[str, dict[str, float]]:
    """The scorer's table and its RESULT line as numbers."""
    cmd = [sys.executable, str(bench / "score_sounds.py"), str(bench / "sounds" / "truth.csv"), str(clusters)]
    out = subprocess.run([*cmd, *flags], check=True, capture_output=True, text=True).stdout
    result = [line for line in out.splitlines() if line.startswith("RESULT ")][-1]
    values = {}
    for item in result.split()[1:]:
        name, _, value = item.partition("=")
        try:
            values[name] = float(value)
        except ValueError:
            values[name] = float("nan")
    return out, values


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
            rep_scale = 1.0
            if v.offset_seconds is not None and np.isfinite(v.offset_seconds):
                offset_err.append(abs(v.offset_seconds - float(t["offset_s"])))
        else:
            rep = by_id.get(v.representative)
            if rep is None or v.video_id == rep.video_id:
                continue
            tr = truth[rep.video_id]
            if tr["source_track"] != t["source_track"]:
                continue
            rep_scale = float(tr["speed"]) * float(tr["tempo"])
        speed_err.append(abs(v.speed / (scale / rep_scale) - 1.0))
    se, oe = np.array(speed_err), np.array(offset_err)
    speed = "-"
    if se.size:
        speed = f"median relative error {np.median(se):.4f}, within 2 %: {np.mean(se <= 0.02):.3f}"
    offset = f"{np.mean(oe <= 0.5):.3f}" if oe.size else "- (no library offsets)"
    return (
        f"speed vs representative: {speed} (n={se.size}); "
        f"offset in library time within 0.5 s: {offset} (n={oe.size})"
    )


def trend_scores(flags: dict[str, bool], truth_trending: dict[str, bool]) -> tuple[str, float, float]:
    tp = sum(flags.get(t, False) and y for t, y in truth_trending.items())
    fp = sum(flags.get(t, False) and not y for t, y in truth_trending.items())
    fn = sum((not flags.get(t, False)) and y for t, y in truth_trending.items())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    missed = sorted(t for t, y in truth_trending.items() if y and not flags.get(t, False))
    extra = sorted(t for t, y in truth_trending.items() if not y and flags.get(t, False))
    text = (
        f"precision {p:.3f} ({tp}/{tp + fp}), recall {r:.3f} ({tp}/{tp + fn}); missed {missed}; false {extra}"
    )
    return text, p, r


def run_trends(
    args: argparse.Namespace,
    results: dict[str, Discovery],
    truth: dict[str, dict[str, str]],
    tracks: dict[str, bool],
) -> dict[str, tuple[float, float]]:
    sounds = args.bench / "sounds"
    scores: dict[str, tuple[float, float]] = {}
    reference = start = None
    for grouping, result in results.items():
        for links in (True, False):
            name = f"trends{'' if grouping == 'library' else '_noindex'}{'' if links else '_nolinks'}"
            table = args.out / f"clusters{'' if grouping == 'library' else '_noindex'}.csv"
            print(f"\n## trending flags ({grouping}, hashtag links {'on' if links else 'off'})")
            print(
                f"reelsense sounds trends {table} {sounds / 'queries'} -o {args.out / name}.csv "
                f"--report {args.out / name}.html{'' if links else ' --no-hashtag-links'}"
            )
            report = trend_report(
                [table, sounds / "queries"],
                args.out / f"{name}.csv",
                report=args.out / f"{name}.html",
                params=TrendParams(window_days=args.window_days),
                link_hashtags=links,
            )
            if grouping == "library" and links:
                reference, start = report.reference_seconds, report.start_seconds
            members: dict[str, list[str]] = defaultdict(list)
            for v in result.videos:
                if v.cluster is not None:
                    members[v.cluster].append(v.video_id)
            flags: dict[str, bool] = {}
            n_links = n_right = 0
            wrong: Counter[str] = Counter()
            for s in report.sounds:
                votes = Counter(truth[q]["source_track"] or "none" for q in members[s.sound])
                track = votes.most_common(1)[0][0] if votes else "none"
                flags[track] = flags.get(track, False) or s.trend.trending
                for u in s.uses:
                    if u.linked_hashtag is not None:
                        n_links += 1
                        right = truth[u.video_id]["source_track"] == track
                        n_right += right
                        if not right:
                            wrong[u.linked_hashtag.casefold()] += 1
            if links:
                print(
                    f"hashtag links: {n_links}, to the video's own track: {n_right}; "
                    f"wrong by tag: {dict(wrong)}"
                )
            text, p, r = trend_scores(flags, tracks)
            print("all tracks: " + text)
            scores[name] = (p, r)
    if "library" in results and reference is not None and start is not None:
        uses = [
            Use(v.video_id, truth[v.video_id]["source_track"], None, int(v.timestamp_seconds or 0))
            for v in results["library"].videos
            if truth[v.video_id]["source_track"]
        ]
        table = trend_table(
            uses,
            params=TrendParams(window_days=args.window_days),
            reference_seconds=reference,
            start_seconds=start,
        )
        oracle = {s.sound: s.trend.trending for s in table}
        print("\ntrue grouping: " + trend_scores(oracle, tracks)[0])
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/eval_discover"))
    ap.add_argument("--index", type=Path, default=None, help="existing library index (default: build one)")
    ap.add_argument("--window-days", type=float, default=7.0)
    ap.add_argument(
        "--discovery",
        nargs="+",
        default=["default"],
        metavar="OPTIONS",
        help="engine option sets to evaluate, e.g. default clustering=components,music_filter=0",
    )
    ap.add_argument("--no-library", action="store_true", help="only the runs without the library")
    ap.add_argument("--no-trends", action="store_true", help="skip the trending flags")
    args = ap.parse_args()
    sounds = args.bench / "sounds"
    args.out.mkdir(parents=True, exist_ok=True)
    with (sounds / "truth.csv").open(newline="") as f:
        truth = {r["qid"]: r for r in csv.DictReader(f)}
    with (sounds / "tracks.csv").open(newline="") as f:
        tracks = {r["source_track"]: r["trending"] == "1" for r in csv.DictReader(f)}
    queries = sorted((sounds / "queries").glob("*.mp4"))

    index = args.index
    if index is None and not args.no_library:
        index = args.out / "library.rsidx"
        if not index.exists():
            t0 = time.perf_counter()
            with SoundIndex.create(index) as idx:
                idx.add_many(sorted((sounds / "library").glob("*.ogg")), workers=args.workers)
            print(f"indexed the library in {time.perf_counter() - t0:.1f} s -> {index}")

    sampler = ProcSampler()
    sampler.start()
    rows = []
    first: dict[str, Discovery] = {}
    for k, spec in enumerate(args.discovery):
        params = discovery_params(spec)
        runs = (("no library", None),) if args.no_library else (("library", index), ("no library", None))
        for grouping, index_path in runs:
            stem = f"clusters{'' if index_path else '_noindex'}{'' if k == 0 else f'_{k}'}"
            sampler.sample()
            c0, t0 = sampler.cpu_seconds(), time.perf_counter()
            res = discover_sounds(queries, sound_index=index_path, params=params, workers=args.workers)
            wall = time.perf_counter() - t0
            sampler.sample()
            cpu = sampler.cpu_seconds() - c0
            res.write_csv(args.out / f"{stem}.csv")
            scorer = write_scorer_csv(res, args.out / f"{stem}.scorer.csv")
            if k == 0:
                first["library" if index_path else "no library"] = res
            st = res.stats
            print(
                f"\n## {spec} ({grouping}): {wall:.1f} s wall, {cpu:.1f} CPU s "
                f"(fingerprint {st.fingerprint_seconds:.1f} s, match {st.match_seconds:.1f} s), "
                f"{len(res.sounds)} sounds, {st.n_music} music videos, {st.n_edges} edges"
            )
            print(f"python3 {args.bench / 'score_sounds.py'} {sounds / 'truth.csv'} {scorer} --clusters")
            table, ari = score(args.bench, scorer, "--clusters")
            print(table)
            _, shared = score(args.bench, scorer, "--clusters", "--shared-audio")
            print(
                f"--shared-audio: track_precision {shared['track_precision']:.3f}, "
                f"shared_recall {shared['shared_recall']:.3f}, "
                f"shared_recall_unknown {shared['shared_recall_unknown']:.3f}"
            )
            print(placement_errors(res, truth))
            rows.append((spec, grouping, ari, shared, wall, cpu))
    sampler.stop.set()
    trends: dict[str, tuple[float, float]] = {}
    if not args.no_trends and first:
        trends = run_trends(args, first, truth, tracks)

    print("\n## summary\n")
    print(
        "| options | library | ARI | pair precision | pair recall | track precision | shared recall "
        "| wall s | CPU s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for spec, grouping, ari, shared, wall, cpu in rows:
        print(
            f"| {spec} | {grouping} | {ari['ari']:.3f} | {ari['pair_precision']:.3f} "
            f"| {ari['pair_recall']:.3f} "
            f"| {shared['track_precision']:.3f} | {shared['shared_recall']:.3f} | {wall:.1f} | {cpu:.1f} |"
        )
    if trends:
        print("\n| trends (first option set) | precision | recall |\n|---|---:|---:|")
        for name, (p, r) in trends.items():
            print(f"| {name} | {p:.3f} | {r:.3f} |")


if __name__ == "__main__":
    main()
