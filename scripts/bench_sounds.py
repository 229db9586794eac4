#!/usr/bin/env python3
"""Performance of reelsense sound fingerprinting and matching.

Prints: fingerprinting speed (x real time per CPU core, CPU time), dev-index build,
index bytes per hour, 10 s query latency (median/p95 CPU ms) against the dev index and a
naive baseline (peak alignment against every sound, no inverted index) in the same run,
then latency against a SYNTHETIC index of ``--sounds`` sounds x ``--minutes`` minutes,
and peak memory (max RSS).

Synthetic index: hash keys drawn from the empirical key distribution of the real library
(so posting-list lengths are realistic), anchor times uniform over each sound, peaks drawn
at the real peak density; the 30 real library tracks are included, so the dev queries
still find their sound among 10,000 decoys.

    python scripts/bench_sounds.py [--bench ../shared/bench] [--sounds 10000] [--minutes 3] [--queries 40]
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from reelsense.audio import FingerprintParams, MatchConfig, SoundIndex, fingerprint
from reelsense.audio._search import HashIndex, PeakTable
from reelsense.audio.match import Candidate, align, match_query, prepare_query
from reelsense.io import read_audio

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--sounds", type=int, default=10000)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--queries", type=int, default=40)
    args = ap.parse_args()
    params, config = FingerprintParams(), MatchConfig()
    sr = params.sample_rate
    lib = sorted((args.bench / "sounds" / "library").glob("*.ogg"))
    audio = [read_audio(p, sample_rate=sr).samples for p in lib]
    hours = sum(a.size for a in audio) / sr / 3600
    t0 = time.process_time()
    prints = [fingerprint(a, sr, params) for a in audio]
    fp_cpu = time.process_time() - t0
    print(
        f"fingerprinting: {hours * 60:.1f} min of audio in {fp_cpu:.2f} s CPU = {hours * 3600 / fp_cpu:.0f}x real time per core"  # noqa: E501
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with SoundIndex.create(Path(tmp) / "dev.rsidx") as index:
            for p, a in zip(lib, audio, strict=True):
                index.add_array(p.stem, a, sr)
            st = index.stats()
        print(
            f"dev index: {st.n_sounds} sounds, {st.file_bytes / 1e6:.2f} MB file = {st.file_bytes / hours / 1e6:.2f} MB per hour; built in {time.perf_counter() - t0:.1f} s wall"  # noqa: E501
        )
        with SoundIndex.open(Path(tmp) / "dev.rsidx", readonly=True) as index:
            t0 = time.perf_counter()
            index.match(audio[0][: 5 * sr], sr)
            print(
                f"dev index load (first match, hashes rebuilt from stored peaks): {time.perf_counter() - t0:.2f} s wall"  # noqa: E501
            )
    with (args.bench / "sounds" / "truth.csv").open() as f:
        truth = [r for r in csv.DictReader(f) if r["sound"] and float(r["clip_s"]) >= 10.0]
    rng = np.random.default_rng(0)
    pick = rng.choice(len(truth), size=min(args.queries, len(truth)), replace=False)
    qdir = args.bench / "sounds" / "queries"
    queries = [read_audio(qdir / f"{truth[i]['qid']}.mp4", sample_rate=sr).samples[: 10 * sr] for i in pick]
    ids = [p.stem for p in lib]

    def build(prs: list) -> tuple[HashIndex, PeakTable]:
        hi = HashIndex.build(
            params.n_keys,
            np.concatenate([p.keys for p in prs]),
            np.concatenate([np.full(p.keys.size, n, dtype=np.int32) for n, p in enumerate(prs)]),
            np.concatenate([p.key_times for p in prs]),
        )
        return hi, PeakTable.build([(p.peaks.times, p.peaks.bins) for p in prs])

    hi, pt = build(prints)

    def latency(hi: HashIndex, pt: PeakTable, ids: list[str]) -> tuple[np.ndarray, float]:
        ms, ok = [], 0
        for q, i in zip(queries, pick, strict=True):
            t0 = time.process_time()
            m = match_query(prepare_query(q, sr, params, config), hi, pt, ids, params, config)
            ms.append(1000 * (time.process_time() - t0))
            ok += bool(m) and m[0].sound_id == truth[i]["sound"]
        return np.array(ms), ok / len(queries)

    ms, acc = latency(hi, pt, ids)
    print(
        f"10 s query vs dev index ({len(ids)} sounds): median {np.median(ms):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms CPU; top-1 {acc:.2f}"  # noqa: E501
    )
    naive = []
    for q in queries[:10]:
        t0 = time.process_time()
        qp = prepare_query(q, sr, params, config)
        for s in range(len(ids)):
            for scale in np.exp(np.linspace(np.log(0.7), np.log(1.45), 30)):  # resample family only
                align(qp.peaks, *pt.peaks(s), Candidate(s, scale, -36 * np.log2(scale), 0.0, 0), config)
        naive.append(1000 * (time.process_time() - t0))
    print(
        f"  baseline, naive alignment against every sound (resample family only): median {np.median(naive):.0f} ms CPU"  # noqa: E501
    )
    # ---- synthetic large index
    keys = np.concatenate([p.keys for p in prints])
    key_rate = keys.size / (hours * 3600)
    peak_rate = sum(len(p.peaks) for p in prints) / (hours * 3600)
    frames = int(args.minutes * 60 * params.frames_per_second)
    n_syn = max(0, args.sounds - len(prints))
    n_keys_each = int(key_rate * args.minutes * 60)
    n_peaks_each = int(peak_rate * args.minutes * 60)
    t0 = time.process_time()
    syn_keys = rng.choice(keys, size=n_syn * n_keys_each).astype(np.uint32)
    syn_times = rng.integers(0, frames, size=syn_keys.size, dtype=np.int32)
    syn_sounds = np.repeat(np.arange(len(prints), len(prints) + n_syn, dtype=np.int32), n_keys_each)
    all_keys = np.concatenate([keys, syn_keys])
    del syn_keys
    big = HashIndex.build(
        params.n_keys,
        all_keys,
        np.concatenate(
            [
                np.concatenate([np.full(p.keys.size, n, dtype=np.int32) for n, p in enumerate(prints)]),
                syn_sounds,
            ]
        ),
        np.concatenate([np.concatenate([p.key_times for p in prints]), syn_times]),
    )
    del all_keys, syn_sounds, syn_times
    per_sound = [(p.peaks.times, p.peaks.bins) for p in prints]
    for _ in range(n_syn):
        t = np.sort(rng.uniform(0, frames, n_peaks_each)).astype(np.float32)
        per_sound.append((t, rng.uniform(0, params.n_bins - 1, n_peaks_each).astype(np.float32)))
    big_pt = PeakTable.build(per_sound)
    del per_sound
    build_cpu = time.process_time() - t0
    big_ids = ids + [f"syn{i:05d}" for i in range(n_syn)]
    print(
        f"synthetic index: {len(big_ids)} sounds x {args.minutes:g} min ({len(big_ids) * args.minutes / 60:.0f} h), "  # noqa: E501
        f"{big.n_postings / 1e6:.1f} M hashes, in-memory {(big.nbytes + big_pt.nbytes) / 1e6:.0f} MB, built in {build_cpu:.1f} s CPU"  # noqa: E501
    )
    ms, acc = latency(big, big_pt, big_ids)
    print(
        f"10 s query vs synthetic index: median {np.median(ms):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms CPU; top-1 {acc:.2f}"  # noqa: E501
    )
    print(f"peak memory (max RSS): {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
