#!/usr/bin/env python3
"""Accuracy of reelsense sound matching on the real-audio dev benchmark (../shared/bench).

Builds a SoundIndex from ``sounds/library``, matches every query, writes a predictions CSV
in the format ``score_sounds.py`` reads, runs the scorer and prints its table.

    python scripts/eval_sounds.py [--bench ../shared/bench] [--limit N] [--kinds voice,combo]
                                  [--workers 2] [-o /tmp/predictions.csv] [--threshold T]
    python scripts/eval_sounds.py --set /tmp/hardset   # another query set in the bench's format
                                                       # (truth.csv + queries/), e.g. make_hard_queries.py
    python scripts/eval_sounds.py --calibrate   # score distribution of synthetic negatives
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

import numpy as np
import soxr

from _bench import babble, pink
from reelsense.io import read_audio
from reelsense.sounds import SoundIndex

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"

_INDEX: SoundIndex | None = None


def _init(index_path: str) -> None:
    global _INDEX
    _INDEX = SoundIndex.open(index_path, readonly=True)


def _match(args: tuple[str, float | None]) -> tuple[str, list, float]:
    path, threshold = args
    assert _INDEX is not None
    audio = read_audio(path, sample_rate=_INDEX.params.sample_rate)
    t0 = time.process_time()
    matches = _INDEX.match(audio.samples, audio.sample_rate, threshold=threshold)
    return path, matches, time.process_time() - t0


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    x = pink(rng, n)
    return (x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def calibrate(bench: Path, n_per_track: int, seed: int) -> None:
    """Scores of synthetic negatives: excerpts of each library track (random speed, gain,
    noise) matched against an index of the OTHER tracks, plus pink noise, babble and
    near-silence. A calibrated score has P(score >= x) ~ 10**-x on such clips."""
    from reelsense.sounds import verify as _align
    from reelsense.sounds._tables import SearchIndex
    from reelsense.sounds.fingerprint import FingerprintParams, peaks_of
    from reelsense.sounds.match import MatchConfig, match_query, prepare_query

    params, config = FingerprintParams(), MatchConfig()
    sr = params.sample_rate
    lib = sorted((bench / "sounds" / "library").glob("*.ogg"))
    audio = [read_audio(p, sample_rate=sr).samples for p in lib]
    peaks = [peaks_of(a, sr, params, params.ref_peaks_per_second) for a in audio]
    rng = np.random.default_rng(seed)
    offset = 40.0
    _align.TRIALS_CALIBRATION_LOG10 = -offset  # no clipping: raw scores
    raw: list[float] = []
    kinds: list[str] = []

    def best_score(index: SearchIndex, x: np.ndarray) -> float:
        q = prepare_query(x, sr, params, config)
        m = match_query(q, index, params, config, threshold=-1e9, top_k=1)
        return (m[0].score - offset) if m else -offset

    for i in range(len(lib)):
        keep = [j for j in range(len(lib)) if j != i]
        others = SearchIndex.from_peaks([peaks[j] for j in keep], [lib[j].stem for j in keep], params)
        for _ in range(n_per_track):
            dur = float(rng.choice([3.0, 5.0, 8.0, 10.0, 15.0]))
            speed = float(rng.choice([1.0, 1.0, 0.8, 0.9, 1.1, 1.2, 1.3]))
            n_src = int(dur * speed * sr)
            a = audio[i]
            start = int(rng.integers(0, max(1, a.size - n_src)))
            x = a[start : start + n_src]
            x = soxr.resample(x, sr * speed, sr) if speed != 1.0 else x  # resample: pitch moves with speed
            x = x * 10 ** (rng.uniform(-10, 5) / 20)
            if rng.random() < 0.4:
                x = x + _pink(rng, x.size) * np.sqrt(np.mean(x**2)) * 10 ** (-rng.uniform(0, 10) / 20)
            raw.append(best_score(others, x.astype(np.float32)))
            kinds.append("unknown_song")
    everything = SearchIndex.from_peaks(peaks, [p.stem for p in lib], params)
    for k in range(3 * n_per_track):
        n = int(rng.choice([3.0, 8.0, 15.0]) * sr)
        x = [_pink(rng, n) * 0.3, babble(rng, n, sr) * 0.3, _pink(rng, n) * 1e-3][k % 3]
        raw.append(best_score(everything, x))
        kinds.append(["pink_noise", "babble", "near_silence"][k % 3])
    r = np.array(raw)
    print(f"{r.size} synthetic negatives; raw score = -log10 P(single alignment) - log10(nominal trials)")
    for kind in sorted(set(kinds)):
        sel = np.array(kinds) == kind
        print(f"  {kind:14s} n={sel.sum():4d} max={r[sel].max():6.2f} q90={np.quantile(r[sel], 0.9):6.2f}")
    for c in (0.0, -0.5, -1.0, -1.5, -2.0):
        s = r - c
        print(
            f"  calibration {c:+.1f}: P(score>=0.5)={np.mean(s >= 0.5):.3f} P(score>=1)={np.mean(s >= 1):.3f} "  # noqa: E501
            f"P(score>=2)={np.mean(s >= 2):.3f}"
        )


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
    ap.add_argument("-o", "--output", type=Path, default=None, help="predictions CSV (default: temp file)")
    ap.add_argument("--calibrate", action="store_true", help="score synthetic negatives instead")
    ap.add_argument("--per-track", type=int, default=8, help="--calibrate: excerpts per library track")
    args = ap.parse_args()
    if args.calibrate:
        calibrate(args.bench, args.per_track, seed=7)
        return 0
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
    pool = ProcessPoolExecutor(args.workers, initializer=_init, initargs=(str(index_path),))
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
        f"median {1000 * np.median(cpu):.0f} ms, p95 {1000 * np.percentile(cpu, 95):.0f} ms"
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
