#!/usr/bin/env python3
"""Scaling of sound discovery: wall/CPU time, peak memory and ARI at growing corpus sizes.

Corpora are synthesised from the real-audio dev benchmark (../shared/bench/sounds):

* music (80 %): excerpts of 5-15 s cut at random offsets from the 30 library tracks and
  from the 30 unknown-track query soundtracks (8 tracks not in the library), resampled by
  a random speed 0.8-1.25 (pitch moves with it), a pitch shift of +-2 semitones on a fifth
  of them (phase vocoder), gain -8..+4 dB, pink noise at 5-25 dB SNR on 40 %;
* speech (10 %): excerpts of the dev speech-only recordings (speech joins no sound) and
  synthetic babble;
* noise (10 %): pink/brown noise and excerpts of the dev ambience recordings.

Truth: the source track (library id or the unknown track's id from truth.csv, read by this
script only); every speech/noise item is its own group. Clips are written as 11025 Hz WAV
files so that :func:`reelsense.sounds.discover.discover_sounds` is measured end to end on
paths (decode included), exactly as the CLI runs it.

    python scripts/bench/bench_discover.py [--sizes 250,1000,5000] [--workers 2] [--seed 7] \
        [--discovery SPEC ...]

Each size runs in a fresh child process (so the corpus generator's memory is not counted).
Prints one row per size (wall seconds, CPU seconds of the discovery process and its workers,
peak RSS of the discovery process and of the largest worker, stage times, ARI, pair
precision/recall)
and the log-log slope of time against size between the smallest and the largest size.
CPU time is reported because the machine is shared (wall time includes waiting for CPUs).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import soxr

from _bench import ProcSampler, babble, discovery_params, pink
from reelsense.io import read_audio
from reelsense.sounds.discover import discover_sounds

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"
SR = 11025


def _unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / (np.std(x) + 1e-12), dtype=np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)


def load_sources(bench: Path) -> tuple[list[tuple[str, np.ndarray]], list[np.ndarray], list[np.ndarray]]:
    """(music sources with their track id, speech recordings, ambience recordings) at 11025 Hz."""
    sounds = bench / "sounds"
    music = [
        (p.stem, read_audio(p, sample_rate=SR).samples) for p in sorted((sounds / "library").glob("*.ogg"))
    ]
    speech, ambience = [], []
    with (sounds / "truth.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            path = sounds / "queries" / f"{row['qid']}.mp4"
            if row["kind"] == "unknown_track":
                music.append((row["source_track"], read_audio(path, sample_rate=SR).samples))
            elif row["kind"] == "speech_only":
                speech.append(read_audio(path, sample_rate=SR).samples)
            elif row["kind"] == "silence":
                ambience.append(read_audio(path, sample_rate=SR).samples)
    return music, speech, ambience


def _cut(rng: np.random.Generator, x: np.ndarray, seconds: float) -> np.ndarray:
    n = min(x.size, int(seconds * SR))
    s0 = int(rng.integers(0, x.size - n + 1))
    return x[s0 : s0 + n]


def make_item(rng: np.random.Generator, sources: tuple, k: int) -> tuple[np.ndarray, str]:
    """One synthetic soundtrack and its truth label."""
    import librosa

    music, speech, ambience = sources
    u = rng.random()
    length = rng.uniform(5.0, 15.0)
    if u < 0.8:
        src = int(rng.integers(len(music)))
        track, x = music[src]
        speed = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        n_seg = min(x.size, int(length * speed * SR))
        s0 = int(rng.integers(0, x.size - n_seg + 1))
        seg = x[s0 : s0 + n_seg]
        y = soxr.resample(seg, SR * speed, SR, quality="MQ").astype(np.float32)  # plays `speed` x faster
        if rng.random() < 0.2:
            y = librosa.effects.pitch_shift(y, sr=SR, n_steps=float(rng.uniform(-2, 2))).astype(np.float32)
        y = y / _rms(y) * 0.1 * 10 ** (rng.uniform(-8, 4) / 20)
        if rng.random() < 0.4:
            y = y + _unit(pink(rng, y.size)) * _rms(y) * 10 ** (-rng.uniform(5, 25) / 20)
        return y.astype(np.float32), track
    n = int(length * SR)
    if u < 0.9:
        y = (
            _cut(rng, speech[int(rng.integers(len(speech)))], length)
            if rng.random() < 0.5
            else babble(rng, n, SR)
        )
    else:
        y = (
            _cut(rng, ambience[int(rng.integers(len(ambience)))], length)
            if rng.random() < 0.5
            else _unit(pink(rng, n, power=float(rng.choice([1.0, 2.0]))))
        )
    y = y / _rms(y) * 0.05
    return y.astype(np.float32), f"single{k}"


def write_wav(path: Path, x: np.ndarray) -> None:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def ari(truth: list[str], pred: list[str]) -> tuple[float, float, float]:
    """Adjusted Rand index, pair precision, pair recall."""

    def c2(n: float) -> float:
        return n * (n - 1) / 2

    pairs = Counter(zip(truth, pred, strict=True))
    a, b = Counter(truth), Counter(pred)
    sum_ij = sum(c2(v) for v in pairs.values())
    sum_a, sum_b = sum(c2(v) for v in a.values()), sum(c2(v) for v in b.values())
    expected = sum_a * sum_b / c2(len(truth))
    top = 0.5 * (sum_a + sum_b)
    score = (sum_ij - expected) / (top - expected) if top != expected else 1.0
    return score, sum_ij / sum_b if sum_b else 1.0, sum_ij / sum_a if sum_a else 1.0


def child(folder: Path, workers: int, spec: str) -> None:
    """Run discovery (options ``spec``) on the WAV files of ``folder``; print a JSON line of figures."""
    paths = sorted(folder.glob("*.wav"))
    sampler = ProcSampler()
    sampler.start()
    t0 = time.perf_counter()
    res = discover_sounds(paths, workers=workers, params=discovery_params(spec))
    wall = time.perf_counter() - t0
    sampler.sample()
    sampler.stop.set()
    me = os.getpid()
    st = res.stats
    out = {
        "wall_s": wall,
        "cpu_s": sum(sampler.cpu.values()),
        # VmHWM, not ru_maxrss: ru_maxrss survives fork + exec, so it would report the bench
        # process that spawned this one
        "rss_parent_mb": sampler.hwm.get(me, 0.0),
        "rss_worker_mb": max([v for k, v in sampler.hwm.items() if k != me] or [0.0]),
        "fingerprint_s": st.fingerprint_seconds,
        "match_s": st.match_seconds,
        "cluster_s": st.cluster_seconds,
        "edges": st.n_edges,
        "index_mb": st.index_bytes / 1e6,
        "sounds": len(res.sounds),
        "music": st.n_music,
        "labels": [v.cluster or "" for v in res.videos],
    }
    print(json.dumps(out))


def run(
    size: int, sources: tuple, workers: int, seed: int, tmp: Path, specs: list[str]
) -> list[dict[str, float | str]]:
    """One corpus of ``size`` clips, discovered once per option set in ``specs``."""
    rng = np.random.default_rng(seed + size)
    folder = tmp / f"n{size}"
    folder.mkdir()
    truth = []
    for k in range(size):
        x, label = make_item(rng, sources, k)
        write_wav(folder / f"c{k:05d}.wav", x)
        truth.append(label)
    rows: list[dict[str, float | str]] = []
    for spec in specs:
        cmd = [sys.executable, __file__, "--child", str(folder), "--workers", str(workers)]
        proc = subprocess.run(
            [*cmd, "--discovery", spec],
            check=True,
            capture_output=True,
            text=True,
        )
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        pred = [lab or f"none{k}" for k, lab in enumerate(res.pop("labels"))]
        score, precision, recall = ari(truth, pred)
        rows.append({"n": size, "options": spec, **res})
        rows[-1].update(ari=score, pair_precision=precision, pair_recall=recall)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    ap.add_argument("--sizes", default="250,1000,5000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--discovery",
        nargs="+",
        default=["default"],
        metavar="SPEC",
        help="engine option sets, each run on the same corpora (e.g. default join_score=3,merge_score=3)",
    )
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.workers, args.discovery[0])
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    sources = load_sources(args.bench)
    print(f"sources: {len(sources[0])} music, {len(sources[1])} speech, {len(sources[2])} ambience")
    cols = [
        "n",
        "options",
        "wall_s",
        "cpu_s",
        "fingerprint_s",
        "match_s",
        "cluster_s",
        "rss_parent_mb",
        "rss_worker_mb",
        "index_mb",
        "edges",
        "music",
        "sounds",
        "ari",
        "pair_precision",
        "pair_recall",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---:|" * len(cols))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_discover_") as tmp:
        for size in sizes:
            for r in run(size, sources, args.workers, args.seed, Path(tmp), args.discovery):
                rows.append(r)
                cells = [
                    f"{r[c]:.3f}"
                    if isinstance(r[c], float) and c in ("ari", "pair_precision", "pair_recall")
                    else (f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c]))
                    for c in cols
                ]
                print("| " + " | ".join(cells) + " |", flush=True)
    for spec in args.discovery:
        mine = [r for r in rows if r["options"] == spec]
        if len(mine) >= 2:
            a, b = mine[0], mine[-1]
            for key in ("wall_s", "cpu_s", "match_s", "fingerprint_s"):
                slope = math.log(float(b[key]) / float(a[key])) / math.log(float(b["n"]) / float(a["n"]))
                print(f"{spec}: growth exponent of {key} (log-log slope {a['n']} -> {b['n']}): {slope:.2f}")


if __name__ == "__main__":
    main()
