#!/usr/bin/env python3
"""Score distribution of synthetic negatives: the calibration of the match score.

A maintainer's calibration tool: it sets the private calibration constant of
``reelsense.sounds.verify`` to read raw scores and searches private in-memory tables
(``reelsense.sounds._tables.SearchIndex``). Excerpts of each library track (random speed,
gain, noise) are matched against an index of the OTHER tracks, plus pink noise, babble and
near-silence; a calibrated score has ``P(score >= x) ~ 10**-x`` on such clips. Figures in
docs/benchmarks.md ("Calibration of the score").

    python scripts/dev/calibrate_sound_scores.py [--bench ../shared/bench] [--per-track 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))  # the benchmarks' noise and babble helpers

from _bench import babble, pink  # noqa: E402
from reelsense.io import read_audio  # noqa: E402


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    x = pink(rng, n)
    out: np.ndarray = (x / (np.abs(x).max() + 1e-9)).astype(np.float32)
    return out


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--per-track", type=int, default=8, help="excerpts per library track")
    args = ap.parse_args()
    calibrate(args.bench, args.per_track, seed=7)


if __name__ == "__main__":
    main()
