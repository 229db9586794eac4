#!/usr/bin/env python3
"""Performance of reelsense sound fingerprinting and matching (issue 3, item 6), in one run.

Prints:

* fingerprinting speed: x real time per CPU core (CPU time of :func:`fingerprint` on the dev
  library, decoding excluded), and of the arrays an index stores (peaks and the dense test's
  frame bits);
* the dev index (the 30 library tracks): index file + search file bytes per hour of audio,
  open time, and the CPU latency (median / p95) of 10 s queries, with a baseline measured in
  the same run: naive alignment of the query against every reference (no hash lookup) over
  the resample family only;
* a SYNTHETIC index of ``--n-sounds`` sounds x ``--minutes`` minutes, on disk like any index:
  build time and peak memory (max RSS) while indexing, bytes per hour, then, in a fresh
  process, open time (mapping the search file), 10 s query latency (median / p95) with top-1
  of the sampled dev queries among all the decoys, the false-positive rate of the dev negative
  queries against it, and peak memory while matching;
* with ``--shards N``: the synthetic index split into N shards (``split_index``), searched as one
  index in this process (``ShardedIndex``) and by N Ray actors (``RayShardedIndex``, one CPU
  each): latency per query (CPU of all processes, and wall), top-1, false positives, and the
  largest resident memory of one actor. ``--index PATH`` reuses (and ``--keep`` keeps) a synthetic
  index instead of building one in a temporary folder.

Synthetic sounds: peak lists made from the REAL library's reference peaks, so that key
statistics are those of music: each sound is ``--minutes`` long, cut into segments of 8-30 s;
each segment is a randomly placed excerpt of a random library track, TIME-REVERSED and
FREQUENCY-MIRRORED about its median bin (intervals invert: a chord voicing of the library does
not recur in the decoys, and no query, played forwards, can match a decoy under any searched
edit), time-scaled by a random 0.85-1.18 and shifted by a random -6..+6 bins, with half of the
segments mixed with a second such excerpt; peak times and bins are jittered (+-0.25 frame,
+-0.15 bin) and the union is thinned back to the reference density (the most prominent
``ref_peaks_per_second`` per second). The 30 real tracks are in the index too, so every dev
query has its true sound among the decoys.

Latencies are CPU time (``time.process_time``) of ``SoundIndex.match`` on decoded 10 s
excerpts (decoding excluded), so that other processes on the machine do not distort them.

    python scripts/bench/bench_sounds.py [--bench ../shared/bench] [--n-sounds 10000] [--minutes 3]
                                   [--queries 40] [--workdir /tmp]
    python scripts/bench/bench_sounds.py --n-sounds 1000     # a quick run
    python scripts/bench/bench_sounds.py --index /tmp/syn10k.rsidx --keep --shards 2   # shards and Ray actors
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reelsense.io import read_audio
from reelsense.sounds import FingerprintParams, MatchConfig, Peaks, SoundIndex, fingerprint
from reelsense.sounds.fingerprint import peaks_of
from reelsense.sounds.index._index import peak_arrays
from reelsense.sounds.match import prepare_query

ROOT = Path(__file__).resolve().parents[2]


def max_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def decoy_peaks(
    library: list[Peaks], n: int, minutes: float, params: FingerprintParams, seed: int
) -> Iterator[Peaks]:
    """``n`` synthetic reference peak lists built from the library's (see the module docstring)."""
    rng = np.random.default_rng(seed)
    fps = params.frames_per_second
    total = int(minutes * 60 * fps)
    block = max(1, round(fps))
    per_block = max(1, round(params.ref_peaks_per_second * block / fps))
    for _ in range(n):
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        pos = 0.0
        while pos < total:
            seg = rng.uniform(8.0, 30.0) * fps
            for _layer in range(1 + int(rng.random() < 0.5)):
                src = library[int(rng.integers(len(library)))]
                scale, shift = rng.uniform(0.85, 1.18), rng.uniform(-6.0, 6.0)
                need = seg / scale
                if src.times.size == 0 or src.times[-1] < need:
                    continue
                start = rng.uniform(0.0, float(src.times[-1]) - need)
                m = (src.times >= start) & (src.times < start + need)
                t = pos + (start + need - src.times[m]) * scale + rng.uniform(-0.25, 0.25, int(m.sum()))
                b = src.bins[m]
                b = 2.0 * np.median(b) - b if b.size else b  # mirrored about its median: intervals invert
                b = b + shift + rng.uniform(-0.15, 0.15, int(m.sum()))
                parts.append((t, b, src.strength[m]))
            pos += seg
        t = np.concatenate([p[0] for p in parts])
        b = np.concatenate([p[1] for p in parts])
        s = np.concatenate([p[2] for p in parts])
        ok = (t >= 0) & (t < total) & (b >= 0.5) & (b <= params.n_bins - 1.5)
        t, b, s = t[ok], b[ok], s[ok]
        blk = (t // block).astype(np.int64)
        order = np.lexsort((-s, blk))
        sb = blk[order]
        rank = np.arange(sb.size) - np.searchsorted(sb, sb, side="left")
        keep = order[rank < per_block]
        keep = keep[np.argsort(t[keep], kind="stable")]
        yield Peaks(t[keep].astype(np.float32), b[keep].astype(np.float32), s[keep].astype(np.float32))


def load_queries(
    bench: Path, sr: int, n: int, seed: int
) -> tuple[list[np.ndarray], list[str], list[np.ndarray]]:
    """``n`` dev positives of at least 10 s with their sounds, and every negative (all cut to 10 s)."""
    with (bench / "sounds" / "truth.csv").open() as f:
        truth = list(csv.DictReader(f))
    pos = [r for r in truth if r["sound"] and float(r["clip_s"]) >= 10.0]
    rng = np.random.default_rng(seed)
    pick = [pos[i] for i in rng.choice(len(pos), size=min(n, len(pos)), replace=False)]
    qdir = bench / "sounds" / "queries"
    queries = [read_audio(qdir / f"{r['qid']}.mp4", sample_rate=sr).samples[: 10 * sr] for r in pick]
    negatives = [
        read_audio(qdir / f"{r['qid']}.mp4", sample_rate=sr).samples[: 10 * sr]
        for r in truth
        if not r["sound"]
    ]
    return queries, [r["sound"] for r in pick], negatives


def naive_scan(q: np.ndarray, refs: list[Peaks], params: FingerprintParams, config: MatchConfig) -> float:
    """CPU seconds of the brute-force baseline: for every reference and every resample scale (5 %
    steps), histogram the offsets implied by every pair of peaks within ``align_tol_bins``."""
    t0 = time.process_time()
    qp = prepare_query(q, params.sample_rate, params, config).peaks
    for ref in refs:
        order = np.argsort(ref.bins)
        rb, rt = ref.bins[order], ref.times[order]
        for scale in np.exp(np.arange(np.log(0.7), np.log(1.45), 2 * config.scale_step)):
            qb = qp.bins - 36.0 * np.log2(scale)
            lo = np.searchsorted(rb, qb - config.align_tol_bins)
            hi = np.searchsorted(rb, qb + config.align_tol_bins)
            lens = hi - lo
            idx = np.arange(lens.sum()) + np.repeat(lo - np.cumsum(lens) + lens, lens)
            off = np.rint((rt[idx] - scale * np.repeat(qp.times, lens)) / config.align_step_frames).astype(
                np.int64
            )
            if off.size:
                np.bincount(off - off.min()).max()
    return time.process_time() - t0


def measure(index: SoundIndex, queries: list[np.ndarray], truth: list[str], sr: int) -> dict[str, float]:
    ms, ok = [], 0
    for q, sound in zip(queries, truth, strict=True):
        t0 = time.process_time()
        m = index.match(q, sr)
        ms.append(1000.0 * (time.process_time() - t0))
        ok += bool(m) and m[0].sound_id == sound
    a = np.array(ms)
    return {
        "median_ms": float(np.median(a)),
        "p95_ms": float(np.percentile(a, 95)),
        "top1": ok / len(queries),
    }


def child(args: argparse.Namespace, mode: str, index: Path) -> dict[str, float]:
    """Run this script in ``mode`` (build / match) in a fresh process; its JSON report."""
    cmd = [sys.executable, __file__, "--bench", str(args.bench), "--queries", str(args.queries)]
    cmd += ["--n-sounds", str(args.n_sounds), "--minutes", str(args.minutes), f"--{mode}-child", str(index)]
    cmd += ["--shards", str(args.shards)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def build_child(args: argparse.Namespace) -> None:
    """Runs in a fresh process: the library's peaks (one track decoded at a time), the decoys, the
    index and its search file; reports JSON (memory of indexing only)."""
    params = FingerprintParams()
    sr = params.sample_rate
    lib = sorted((args.bench / "sounds" / "library").glob("*.ogg"))
    entries = []
    for p in lib:
        x = read_audio(p, sample_rate=sr).samples
        entries.append((p.stem, peaks_of(x, sr, params, params.ref_peaks_per_second), x.size / sr))
        del x
    n_syn = max(0, args.n_sounds - len(lib))
    t0 = time.perf_counter()
    with SoundIndex.create(args.build_child) as index:
        index.add_peaks(entries)
        decoys = decoy_peaks([e[1] for e in entries], n_syn, args.minutes, params, seed=1)
        index.add_peaks(
            ((f"syn{i:05d}", d, args.minutes * 60) for i, d in enumerate(decoys)), commit_every=500
        )
        store_s = time.perf_counter() - t0
        t1, c1 = time.perf_counter(), time.process_time()
        index.prepare_search()
        search_s, search_cpu = time.perf_counter() - t1, time.process_time() - c1
        st = index.stats()
    res = {
        "n_sounds": st.n_sounds,
        "hours": st.total_duration_seconds / 3600,
        "store_s": store_s,
        "search_s": search_s,
        "search_cpu_s": search_cpu,
        "file_mb": st.file_bytes / 1e6,
        "search_mb": st.search_file_bytes / 1e6,
        "mb_per_hour": (st.bytes_per_hour or 0) / 1e6,
        "rss_mb": max_rss_mb(),
    }
    print(json.dumps(res))


def match_child(args: argparse.Namespace) -> None:
    """Runs in a fresh process: open the index, match, report JSON (memory of matching only)."""
    params = FingerprintParams()
    sr = params.sample_rate
    queries, truth, negatives = load_queries(args.bench, sr, args.queries, seed=0)
    rss_before = max_rss_mb()
    t0 = time.perf_counter()
    with SoundIndex.open(args.match_child, readonly=True) as index:
        index.prepare_search(persist=False)
        open_s = time.perf_counter() - t0
        index.match(queries[0], sr)  # warm the page cache of the mapped file
        res = measure(index, queries, truth, sr)
        neg_ms, fp = [], 0
        for q in negatives:
            t1 = time.process_time()
            fp += bool(index.match(q, sr))
            neg_ms.append(1000.0 * (time.process_time() - t1))
    res.update(
        open_s=open_s,
        fpr=fp / max(1, len(negatives)),
        n_negatives=len(negatives),
        neg_median_ms=float(np.median(neg_ms)),
        neg_p95_ms=float(np.percentile(neg_ms, 95)),
        rss_mb=max_rss_mb(),
        rss_before_mb=rss_before,
    )
    print(json.dumps(res))


def shard_child(args: argparse.Namespace) -> None:
    """Runs in a fresh process: split the index into shards, match through them in this process
    and through Ray actors; reports JSON."""
    import ray

    from reelsense.sounds.index import RayShardedIndex, ShardedIndex, split_index

    params = FingerprintParams()
    sr = params.sample_rate
    queries, truth, negatives = load_queries(args.bench, sr, args.queries, seed=0)
    out_dir = args.shard_child.parent / f"{args.shard_child.stem}-shards{args.shards}"
    if not all((out_dir / f"shard-{i:03d}.rsidx-search").exists() for i in range(args.shards)):
        split_index(args.shard_child, out_dir, args.shards)
    paths = [out_dir / f"shard-{i:03d}.rsidx" for i in range(args.shards)]
    res: dict[str, float] = {}

    def run(index: object, tag: str, cpu: object) -> None:
        ms, wall, ok, fp = [], [], 0, 0
        index.match(queries[0], sr)  # type: ignore[attr-defined]  # warm up
        for q, sound in [*zip(queries, truth, strict=True), *((n, "") for n in negatives)]:
            c0, t0 = cpu(), time.perf_counter()  # type: ignore[operator]
            m = index.match(q, sr)  # type: ignore[attr-defined]
            ms.append(1000 * (cpu() - c0))  # type: ignore[operator]
            wall.append(1000 * (time.perf_counter() - t0))
            if sound:
                ok += bool(m) and m[0].sound_id == sound
            else:
                fp += bool(m)
        n = len(queries)
        res.update(
            {
                f"{tag}_top1": ok / n,
                f"{tag}_fp": fp,
                f"{tag}_cpu_median_ms": float(np.median(ms[:n])),
                f"{tag}_cpu_p95_ms": float(np.percentile(ms[:n], 95)),
                f"{tag}_neg_cpu_p95_ms": float(np.percentile(ms[n:], 95)),
                f"{tag}_wall_median_ms": float(np.median(wall[:n])),
                f"{tag}_wall_p95_ms": float(np.percentile(wall[:n], 95)),
                f"{tag}_neg_wall_p95_ms": float(np.percentile(wall[n:], 95)),
            }
        )

    with ShardedIndex(paths) as local:
        run(local, "local", time.process_time)
    ray.init(num_cpus=args.shards, include_dashboard=False, log_to_driver=False)
    try:
        remote = RayShardedIndex(paths, num_cpus=1)

        def all_cpu() -> float:  # this process and every actor (user + system seconds)
            return time.process_time() + float(sum(ray.get([a.cpu_seconds.remote() for a in remote.actors])))

        run(remote, "ray", all_cpu)
        res["ray_actor_rss_mb"] = max(ray.get([a.max_rss_mb.remote() for a in remote.actors]))
        remote.close()
    finally:
        ray.shutdown()
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--n-sounds", type=int, default=10000)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--workdir", type=Path, default=None, help="where the synthetic index is written")
    ap.add_argument("--build-child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--match-child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--shard-child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--shards", type=int, default=0, help="also search the index split into N shards")
    ap.add_argument("--index", type=Path, default=None, help="synthetic index to reuse (built when missing)")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic index (with --index)")
    args = ap.parse_args()
    if args.build_child is not None:
        build_child(args)
        return
    if args.match_child is not None:
        match_child(args)
        return
    if args.shard_child is not None:
        shard_child(args)
        return
    params, config = FingerprintParams(), MatchConfig()
    sr = params.sample_rate
    lib = sorted((args.bench / "sounds" / "library").glob("*.ogg"))
    audio = [read_audio(p, sample_rate=sr).samples for p in lib]
    hours = sum(a.size for a in audio) / sr / 3600
    t0 = time.process_time()
    prints = [fingerprint(a, sr, params) for a in audio]
    fp_cpu = time.process_time() - t0
    print(
        f"fingerprinting: {hours * 60:.1f} min of audio in {fp_cpu:.2f} s CPU = "
        f"{hours * 3600 / fp_cpu:.0f}x real time per core"
    )
    t0 = time.process_time()
    for a in audio:
        peak_arrays(a, sr, params)
    st_cpu = time.process_time() - t0
    print(
        f"stored arrays (peaks + dense frame bits, what indexing computes): {st_cpu:.2f} s CPU = "
        f"{hours * 3600 / st_cpu:.0f}x real time per core"
    )
    queries, truth, _ = load_queries(args.bench, sr, args.queries, seed=0)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        dev_path = Path(tmp) / "dev.rsidx"
        with SoundIndex.create(dev_path) as index:
            index.add_peaks(
                (p.stem, fp.peaks, a.size / sr) for p, fp, a in zip(lib, prints, audio, strict=True)
            )
            index.prepare_search()
            st = index.stats()
        t0 = time.perf_counter()
        with SoundIndex.open(dev_path, readonly=True) as index:
            index.prepare_search(persist=False)
            open_s = time.perf_counter() - t0
            res = measure(index, queries, truth, sr)
        print(
            f"dev index: {st.n_sounds} sounds ({hours * 60:.0f} min): index file {st.file_bytes / 1e6:.2f} MB + search file "  # noqa: E501
            f"{st.search_file_bytes / 1e6:.2f} MB = {(st.bytes_per_hour or 0) / 1e6:.2f} MB per hour; open {1000 * open_s:.0f} ms"  # noqa: E501
        )
        print(
            f"10 s query vs dev index: median {res['median_ms']:.0f} ms, p95 {res['p95_ms']:.0f} ms CPU; top-1 {res['top1']:.2f} ({len(queries)} queries)"  # noqa: E501
        )
        naive = [1000 * naive_scan(q, [fp.peaks for fp in prints], params, config) for q in queries[:5]]
        print(
            "  baseline in the same run, a naive scan (every reference, every offset, resample family "
            f"at 5 % steps, no hashes): median {np.median(naive):.0f} ms CPU per query = {np.median(naive) / len(prints):.1f} ms per reference sound"  # noqa: E501
        )
        # ---- synthetic large index, built and matched in fresh processes (their own peak memory)
        big = args.index or Path(tmp) / "synthetic.rsidx"
        if big.exists() and args.index is not None:
            with SoundIndex.open(big, readonly=True) as existing:
                est = existing.stats()
            nan = float("nan")
            b = {
                "n_sounds": est.n_sounds,
                "hours": est.total_duration_seconds / 3600,
                "store_s": nan,
                "search_s": nan,
                "search_cpu_s": nan,
                "file_mb": est.file_bytes / 1e6,
                "search_mb": est.search_file_bytes / 1e6,
                "mb_per_hour": (est.bytes_per_hour or 0) / 1e6,
                "rss_mb": nan,
            }
        else:
            b = child(args, "build", big)
        print(
            f"synthetic index: {b['n_sounds']} sounds x {args.minutes:g} min ({b['hours']:.0f} h): "
            f"peaks stored in {b['store_s']:.0f} s wall, search file built in {b['search_s']:.0f} s wall / "
            f"{b['search_cpu_s']:.0f} s CPU"
        )
        print(
            f"  index file {b['file_mb']:.0f} MB + search file {b['search_mb']:.0f} MB = "
            f"{b['mb_per_hour']:.2f} MB per hour of audio; peak memory while indexing (max RSS) "
            f"{b['rss_mb']:.0f} MB"
        )
        r = child(args, "match", big)
        print(
            f"synthetic index, fresh process: open {1000 * r['open_s']:.0f} ms; 10 s query median {r['median_ms']:.0f} ms, "  # noqa: E501
            f"p95 {r['p95_ms']:.0f} ms CPU; top-1 {r['top1']:.2f} ({args.queries} dev queries among {b['n_sounds']} sounds)"  # noqa: E501
        )
        print(
            f"  {r['n_negatives']} dev negatives (10 s): false positives {r['fpr']:.3f}; latency median {r['neg_median_ms']:.0f} ms, "  # noqa: E501
            f"p95 {r['neg_p95_ms']:.0f} ms CPU; peak memory while matching (max RSS) {r['rss_mb']:.0f} MB "
            f"({r['rss_before_mb']:.0f} MB before opening the index)"
        )
        if args.shards:
            sh = child(args, "shard", big)
            for tag, what in (("local", "in one process"), ("ray", f"{args.shards} Ray actors")):
                g = {k[len(tag) + 1 :]: v for k, v in sh.items() if k.startswith(tag + "_")}
                print(
                    f"  {args.shards} shards, {what}: top-1 {g['top1']:.2f}, false positives {g['fp']:.0f}; "
                    f"10 s query CPU median {g['cpu_median_ms']:.0f} ms, p95 {g['cpu_p95_ms']:.0f} ms "
                    f"(negatives p95 {g['neg_cpu_p95_ms']:.0f}); wall median {g['wall_median_ms']:.0f} ms, "
                    f"p95 {g['wall_p95_ms']:.0f} ms (negatives p95 {g['neg_wall_p95_ms']:.0f})"
                )
            print(f"  largest actor resident memory {sh['ray_actor_rss_mb']:.0f} MB")
        if args.index is not None and not args.keep and big.exists():
            for f in big.parent.glob(big.name + "*"):
                f.unlink()


if __name__ == "__main__":
    main()
