#!/usr/bin/env python3
"""Accuracy of reelsense sound matching on the real-audio dev benchmark (../shared/bench).

Builds a SoundIndex from ``sounds/library``, matches every query, writes a predictions CSV
in the format ``score_sounds.py`` reads, runs the scorer and prints its table.

    python scripts/bench/eval_sounds.py [--bench ../shared/bench] [--limit N] [--kinds voice,combo]
                                  [--workers 2] [-o /tmp/predictions.csv] [--threshold T]
                                  [--second-chance [library|candidates]]
    python scripts/bench/eval_sounds.py --set /tmp/hardset   # another query set in the bench's format
                                                       # (truth.csv + queries/), e.g. make_hard_queries.py

The score's calibration (synthetic negatives) is ``scripts/dev/calibrate_sound_scores.py``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import cast

import numpy as np

from reelsense.io import read_audio
from reelsense.sounds import MatchConfig, SoundIndex
from reelsense.sounds.match import DENSE_SCOPES, DenseScope

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"

_INDEX: SoundIndex | None = None


def _init(index_path: str, second_chance: str | None) -> None:
    global _INDEX
    scope = cast(DenseScope, second_chance or "library")
    config = MatchConfig(dense_second_chance=second_chance is not None, dense_scope=scope)
    _INDEX = SoundIndex.open(index_path, readonly=True, config=config)


def _match(args: tuple[str, float | None]) -> tuple[str, list, float]:
    path, threshold = args
    assert _INDEX is not None
    audio = read_audio(path, sample_rate=_INDEX.params.sample_rate)
    t0 = time.process_time()
    matches = _INDEX.match(audio.samples, audio.sample_rate, threshold=threshold)
    return path, matches, time.process_time() - t0


def build_index(bench: Path, index_path: Path, workers: int) -> float:
    lib = sorted((bench / "sounds" / "library").glob("*.ogg"))
    t0 = time.perf_counter()
    with SoundIndex.create(index_path) as index:
        index.add_many(lib, workers=workers)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--set", type=Path, default=None, help="query set folder (default: BENCH/sounds)")
    ap.add_argument("--limit", type=int, default=0, help="match only the first N queries (of the kinds)")
    ap.add_argument("--kinds", default="", help="comma-separated query kinds to match")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument(
        "--second-chance",
        nargs="?",
        const="library",
        default=None,
        choices=DENSE_SCOPES,
        help="the dense second chance over every sound (library, the default) or the peak search's "
        "candidate sounds (MatchConfig.dense_scope)",
    )
    ap.add_argument("-o", "--output", type=Path, default=None, help="predictions CSV (default: temp file)")
    args = ap.parse_args()
    qset = args.set or args.bench / "sounds"
    truth_csv = qset / "truth.csv"
    if not truth_csv.is_file():
        print(f"no benchmark at {args.bench}", file=sys.stderr)
        return 2
    with truth_csv.open(newline="") as f:
        truth = list(csv.DictReader(f))
    kinds = {k for k in args.kinds.split(",") if k}
    rows = [r for r in truth if not kinds or r["kind"] in kinds]
    if args.limit:
        rows = rows[: args.limit]
    tmp = Path(tempfile.mkdtemp(prefix="reelsense-eval-"))
    index_path = tmp / "dev.rsidx"
    build_s = build_index(args.bench, index_path, args.workers)
    print(f"indexed library in {build_s:.1f} s wall ({args.workers} workers)")
    qdir = qset / "queries"
    files = {p.stem: p for p in qdir.iterdir()}
    jobs = [(str(files[r["qid"]]), args.threshold) for r in rows]
    t0 = time.perf_counter()
    cpu = []
    out_path = args.output or tmp / "predictions.csv"
    pool = ProcessPoolExecutor(
        args.workers, initializer=_init, initargs=(str(index_path), args.second_chance)
    )
    with pool as ex, out_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["query", "predicted_sound", "score", "offset_s", "speed", "pitch_semitones"])
        for path, matches, c in ex.map(_match, jobs, chunksize=4):
            cpu.append(c)
            best = matches[0] if matches else None
            w.writerow(
                [
                    Path(path).stem,
                    best.sound_id if best else "",
                    f"{best.score:.3f}" if best else "",
                    f"{best.offset_seconds:.3f}" if best else "",
                    f"{best.speed:.4f}" if best else "",
                    f"{best.pitch_semitones:.2f}" if best else "",
                ]
            )
    wall = time.perf_counter() - t0
    print(
        f"matched {len(jobs)} queries in {wall:.1f} s wall; match CPU per query (after decoding): "
        f"median {1000 * np.median(cpu):.0f} ms, p95 {1000 * np.percentile(cpu, 95):.0f} ms, "
        f"total {sum(cpu):.1f} s"
    )
    for name, sel in (
        ("positives", [bool(r["sound"]) for r in rows]),
        ("negatives", [not r["sound"] for r in rows]),
    ):
        c = np.array(cpu)[np.array(sel, dtype=bool)]
        if c.size:
            print(
                f"  {name} ({c.size}): median {1000 * np.median(c):.0f} ms, "
                f"p95 {1000 * np.percentile(c, 95):.0f} ms, total {c.sum():.1f} s"
            )
    print(f"predictions: {out_path}")
    sub = [r for r in truth if r in rows]
    truth_path = truth_csv
    if len(sub) != len(truth):
        truth_path = tmp / "truth_subset.csv"
        with truth_path.open("w", newline="") as f:
            w2 = csv.DictWriter(f, fieldnames=list(truth[0]))
            w2.writeheader()
            w2.writerows(sub)
    res = subprocess.run(
        [sys.executable, str(args.bench / "score_sounds.py"), str(truth_path), str(out_path)],
        check=False,
        capture_output=True,
        text=True,
    )
    print(res.stdout + res.stderr)
    return res.returncode


if __name__ == "__main__":
    raise SystemExit(main())
