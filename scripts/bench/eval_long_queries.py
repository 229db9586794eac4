#!/usr/bin/env python3
"""Matching queries of a minute to eleven minutes on the real-audio dev benchmark (../shared/bench).

The dev queries last 3-15 s; a user also matches whole videos and tracks. This builds the dev
library's index (or opens ``--index``) and matches, in one process:

1. **long negatives**: the dev negative queries (no library sound) played back to back, from
   the 1st, 11th, 21st, 31st and 41st on (wrapping round), cut to 1, 2, 3, 4.3, 6 and 8
   minutes: none should match;
2. **windows of negatives**: the same sequence cut into 30 s and 60 s windows (hop half a
   window): none should match;
3. **long positives**: the first 3 minutes of library tracks 3, 10 and 21 (sorted by name),
   plain and sped up 1.2x (resampled), between halves of 0, 1.5, 3 and 8 minutes of the
   negatives: each should match its track;
4. **excerpts**: 30 s and 60 s excerpts of every third library track (random starts, seed 0) at
   speeds 0.85, 1.0 and 1.2, under the next negative query as a voice-over (0.7x the music's
   RMS): each should match its track;
5. **short sounds**: a second index of the middle 30 s of every library track (a library of
   short trending sounds), against the negatives cut to 0.5, 0.75, 1, 1.25, 1.5, 2 and 4
   minutes (none should match) and every fifth 30 s sound, plain and sped up 1.2x, inside 2
   minutes of the negatives (each should match).

Prints, per group, how many matched and their scores (CPU seconds per query beside them).

    python scripts/bench/eval_long_queries.py [--bench ../shared/bench] [--index LIB.rsidx] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr

from reelsense.io import read_audio
from reelsense.sounds import SoundIndex

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"
SR = 16000


def _match(index: SoundIndex, x: np.ndarray) -> tuple[str, float, float]:
    """The best match's id (empty: none) and score, and the CPU seconds it took."""
    t0 = time.process_time()
    found = index.match(np.ascontiguousarray(x, dtype=np.float32), SR)
    cpu = time.process_time() - t0
    return (found[0].sound_id, found[0].score, cpu) if found else ("", 0.0, cpu)


def _report(name: str, rows: list[tuple[str, str, str, float]], want_match: bool) -> None:
    """``rows``: (label, expected id or "", found id or "", score) per query."""
    if want_match:
        right = [r for r in rows if r[2] == r[1]]
        scores = np.array([r[3] for r in right]) if right else np.zeros(0)
        wrong = [r for r in rows if r[2] and r[2] != r[1]]
        print(
            f"{name}: {len(right)}/{len(rows)} found"
            + (f", scores min {scores.min():.1f}, median {np.median(scores):.1f}" if scores.size else "")
            + (f"; {len(wrong)} wrong: {[(r[0], r[2]) for r in wrong]}" if wrong else "")
        )
        for r in rows:
            print(f"  {r[0]}: {r[2] or '-'} {r[3]:.1f}")
    else:
        hits = [r for r in rows if r[2]]
        print(f"{name}: {len(hits)}/{len(rows)} matched")
        for r in hits:
            print(f"  {r[0]}: {r[2]} {r[3]:.1f}")


Row = tuple[str, str, str, float]
Run = Callable[[str, str, np.ndarray], Row]


def _runner(index: SoundIndex, cpu: list[float]) -> Run:
    """``run(label, expected id, audio)``: the query's report row; its CPU seconds go to ``cpu``."""

    def run(label: str, expected: str, x: np.ndarray) -> Row:
        sound, score, c = _match(index, x)
        cpu.append(c)
        return label, expected, sound, score

    return run


def short_sounds(library: list[Path], negs: list[np.ndarray], seq: np.ndarray, cpu: list[float]) -> None:
    """Group 5: the middle 30 s of each library track as the references."""
    cuts = []
    with (
        tempfile.TemporaryDirectory(prefix="reelsense-short-") as tmp,
        SoundIndex.create(Path(tmp) / "short.rsidx") as index,
    ):
        for path in library:
            track = read_audio(path, sample_rate=SR).samples
            mid = track.size // 2
            cuts.append(track[max(0, mid - 15 * SR) : mid + 15 * SR])
            index.add_array(path.stem, cuts[-1], SR)
        run = _runner(index, cpu)
        rows = []
        for minutes in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 4.0):
            for start in range(0, 50, 10):
                x = np.concatenate(negs[start:] + negs[:start])[: int(minutes * 60 * SR)]
                rows.append(run(f"{minutes} min from negative {start + 1}", "", x))
        _report("short sounds (30 s), long negatives", rows, want_match=False)
        rows = []
        for k in range(0, len(library), 5):
            for speed in (1.0, 1.2):
                music = soxr.resample(cuts[k], SR * speed, SR) if speed != 1.0 else cuts[k]
                x = np.concatenate([seq[: 60 * SR], music, seq[60 * SR : 120 * SR]])
                rows.append(run(f"{library[k].stem} x{speed} in 2 min", library[k].stem, x))
        _report("short sounds (30 s) inside 2 min of negatives", rows, want_match=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--index", type=Path, default=None, help="the dev library's index (default: built)")
    ap.add_argument("--workers", type=int, default=2, help="processes indexing the library")
    args = ap.parse_args()
    truth_csv = args.bench / "sounds" / "truth.csv"
    if not truth_csv.is_file():
        print(f"no benchmark at {args.bench}", file=sys.stderr)
        return 2
    with truth_csv.open(newline="") as f:
        truth = list(csv.DictReader(f))
    qdir = args.bench / "sounds" / "queries"
    files = {p.stem: p for p in qdir.iterdir()}
    negs = [read_audio(files[r["qid"]], sample_rate=SR).samples for r in truth if not r["sound"]]
    library = sorted((args.bench / "sounds" / "library").glob("*.ogg"))
    index_path = args.index
    if index_path is None:
        index_path = Path(tempfile.mkdtemp(prefix="reelsense-long-")) / "dev.rsidx"
        with SoundIndex.create(index_path) as built:
            built.add_many(library, workers=args.workers)
    cpu: list[float] = []
    with SoundIndex.open(index_path, readonly=True) as index:
        run = _runner(index, cpu)
        rows = []
        for minutes in (1.0, 2.0, 3.0, 4.3, 6.0, 8.0):
            for start in range(0, 50, 10):
                x = np.concatenate(negs[start:] + negs[:start])[: int(minutes * 60 * SR)]
                rows.append(run(f"{minutes} min from negative {start + 1}", "", x))
        _report("long negatives", rows, want_match=False)
        seq = np.concatenate(negs)
        for seconds in (30, 60):
            n = seconds * SR
            starts = range(0, seq.size - n, n // 2)
            rows = [run(f"{seconds} s at {s // SR} s", "", seq[s : s + n]) for s in starts]
            _report(f"negatives in {seconds} s windows", rows, want_match=False)
        rows = []
        for k in (2, 9, 20):
            track = read_audio(library[k], sample_rate=SR).samples[: 180 * SR]
            for speed in (1.0, 1.2):
                music = soxr.resample(track, SR * speed, SR) if speed != 1.0 else track
                for pad_minutes in (0.0, 1.5, 3.0, 8.0):
                    pad = seq[: int(pad_minutes * 60 * SR)]
                    x = np.concatenate([pad[: pad.size // 2], music, pad[pad.size // 2 :]])
                    label = f"{library[k].stem} x{speed} in {x.size / SR / 60:.1f} min"
                    rows.append(run(label, library[k].stem, x))
        _report("long positives", rows, want_match=True)
        rng = np.random.default_rng(0)
        for seconds in (30, 60):
            rows = []
            for k in range(0, len(library), 3):
                track = read_audio(library[k], sample_rate=SR).samples
                for speed in (0.85, 1.0, 1.2):
                    start = int(rng.uniform(0, max(1.0, track.size / SR - seconds * speed - 1)) * SR)
                    clip = track[start : start + int(seconds * speed * SR)]
                    music = soxr.resample(clip, SR * speed, SR) if speed != 1.0 else clip
                    voice = np.resize(negs[(k + 1) % len(negs)], music.size)
                    x = music + 0.7 * voice * (np.std(music) / (np.std(voice) + 1e-9))
                    rows.append(run(f"{library[k].stem} x{speed} from {start // SR} s", library[k].stem, x))
            _report(f"{seconds} s excerpts", rows, want_match=True)
    short_sounds(library, negs, seq, cpu)
    c = np.array(cpu)
    print(f"match CPU per query: median {np.median(c):.2f} s, max {c.max():.2f} s ({c.size} queries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
