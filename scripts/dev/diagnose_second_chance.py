#!/usr/bin/env python3
"""Where the dense second chance's true sounds stand among the peak search's candidates, and
what the dense search costs over fewer sounds (dev benchmark, ../shared/bench, or ``--set``).

For every query whose peak search returns nothing or a best match under
``MatchConfig.dense_below_score`` (the queries that reach the second chance), it runs the
dense search over every sound (the ``library`` scope), over the candidate sounds the peak search
ranked (the ``candidates`` scope) and over the first candidate sound alone, and prints:

* per positive that the library scope finds (score >= the threshold, right sound): the rank of
  its true sound among the candidate sounds (``-`` when the peaks ranked other sounds only) and
  the votes of the candidate cells;
* the CPU time (process time, one thread) of each of the three searches, median and p95, for
  the negatives and the positives apart.

Uses the matcher's internals on purpose (the candidates and the dense references, below the
public result). One process; set ``OMP_NUM_THREADS=1``.

    OMP_NUM_THREADS=1 python scripts/dev/diagnose_second_chance.py [--bench ../shared/bench] [--set DIR]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from reelsense.io import read_audio
from reelsense.sounds import MatchConfig, SoundIndex
from reelsense.sounds.dense import DenseHit, DenseReferences, dense_search
from reelsense.sounds.fingerprint import log_spectrogram, pick_peaks
from reelsense.sounds.match import (
    dense_grid,
    dense_peak_score,
    match_query_candidates,
    prepare_query_from_peaks,
)

ROOT = Path(__file__).resolve().parents[2]


def _timed(
    spec: np.ndarray, refs: DenseReferences, grid: tuple[np.ndarray, np.ndarray], total: int
) -> tuple[DenseHit | None, float]:
    t0 = time.process_time()
    hit = dense_search(spec, refs, *grid, trials_frames=total)
    return hit, time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--set", type=Path, default=None, help="query set folder (default: BENCH/sounds)")
    args = ap.parse_args()
    qset = args.set or args.bench / "sounds"
    with (qset / "truth.csv").open(newline="") as f:
        truth = list(csv.DictReader(f))
    files = {p.stem: p for p in (qset / "queries").iterdir() if p.suffix == ".mp4"}
    config = MatchConfig()
    tmp = Path(tempfile.mkdtemp(prefix="reelsense-diag-"))
    with SoundIndex.create(tmp / "lib.rsidx", config=config) as index:
        for p in sorted((args.bench / "sounds" / "library").glob("*.ogg")):
            index.add_file(p)
        params = index.params
        search = index._search.get()
        every, ids, number = index._dense_references()
        grid = dense_grid(config, params)
        cpu: dict[str, dict[str, list[float]]] = {
            kind: {"library": [], "candidates": [], "first candidate": []}
            for kind in ("negatives", "positives")
        }
        print("query kind sound: rank of the true sound among the candidate sounds; votes of the cells")
        for row in truth:
            audio = read_audio(files[row["qid"]], sample_rate=params.sample_rate)
            spec = log_spectrogram(audio.samples, audio.sample_rate, params)
            peaks = pick_peaks(spec, params, params.query_peaks_per_second)
            query = prepare_query_from_peaks(peaks, audio.duration_seconds, params, config)
            found, cands = match_query_candidates(query, search, params, config)
            if found and found[0].score >= config.dense_below_score:
                continue
            sounds = list(dict.fromkeys(search.ids[c.sound] for c in cands))
            which = [number[s] for s in sounds if s in number]
            group = "positives" if row["sound"] else "negatives"
            hit, seconds = _timed(spec, every, grid, every.total_frames)
            cpu[group]["library"].append(seconds)
            if which:
                cpu[group]["candidates"].append(
                    _timed(spec, every.subset(which), grid, every.total_frames)[1]
                )
                cpu[group]["first candidate"].append(
                    _timed(spec, every.subset(which[:1]), grid, every.total_frames)[1]
                )
            if not row["sound"] or hit is None or ids[hit.sound] != row["sound"]:
                continue
            k = search.ids.index(ids[hit.sound])
            if dense_peak_score(hit, k, query, search, params, config) < config.threshold:
                continue
            rank = sounds.index(row["sound"]) if row["sound"] in sounds else "-"
            print(f"  {row['qid']} {row['kind']} {row['sound']}: {rank}; {[c.votes for c in cands]}")
        for group, by_scope in cpu.items():
            for scope, times in by_scope.items():
                if times:
                    t = 1000 * np.array(times)
                    print(
                        f"{group} ({len(times)}) dense over {scope}: "
                        f"median {np.median(t):.0f} ms, p95 {np.percentile(t, 95):.0f} ms"
                    )


if __name__ == "__main__":
    main()
