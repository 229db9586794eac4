"""Benchmark of the fingerprint store (reelsense.sounds.index._store.FingerprintStore).

Synthesises N reference sounds of DURATION seconds with ITEMS fingerprint items each: a ``hashes`` array of
uniformly random uint32 (fingerprint hashes are close to random) and a ``times`` array of sorted int32 frame
indices at FRAMES_PER_SECOND. A pool of 64 distinct sounds is generated once and cycled (ids are unique), so
the figures exclude synthesis. For each codec it measures:

- add: ``add`` one sound per transaction, and ``add_many(commit_every=500)``: sounds/s and MB/s of array data;
- load: ``iter_arrays`` over the whole store (with and without CRC verification): MB/s and seconds;
- random access: ``get_arrays`` of 200 random ids (median ms), and the cost of reading ``generation``;
- size: file bytes, bytes per sound, bytes per hour of reference audio (measured, and for given item rates);

and the same work for baselines in the same run: one ``.npy`` file per array (``np.save``/``np.load``) and
one ``np.savez`` file per sound. Times are wall seconds and CPU seconds (``time.process_time``; the machine is
shared, so CPU time is the steadier figure). Peak RSS is ``ru_maxrss`` after each phase.

    python scripts/dev/bench_store.py                  # 2,000 sounds (~30 s)
    python scripts/dev/bench_store.py --n 10000        # larger store
    python scripts/dev/bench_store.py --codec raw --page-size 4096   # explore the layout choices
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from reelsense.sounds.index import _sql as _store_sql
from reelsense.sounds.index._store import FingerprintStore, StoreItem

POOL = 64


def make_pool(items: int, duration: float, frames_per_second: float) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    n_frames = int(duration * frames_per_second)
    return [
        {
            "hashes": rng.integers(0, 2**32, items, dtype=np.uint64).astype(np.uint32),
            "times": np.sort(rng.integers(0, n_frames, items)).astype(np.int32),
        }
        for _ in range(POOL)
    ]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def line(label: str, t: Timer, n: int, mb: float) -> str:
    return (
        f"  {label:<34} {t.wall:7.2f} s wall {t.cpu:7.2f} s cpu  {n / t.wall:9.0f} sounds/s "
        f"{mb / t.wall:8.1f} MB/s (cpu {mb / max(t.cpu, 1e-9):7.1f} MB/s)"
    )


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_store(
    root: Path, codec: str, pool: list[dict[str, np.ndarray]], n: int, duration: float, rates: list[float]
) -> dict[str, float]:
    mb = n * sum(a.nbytes for a in pool[0].values()) / 1e6
    path = root / f"{codec}.rsidx"
    print(f"store codec={codec} page_size={_store_sql.PAGE_SIZE}: {n} sounds, {mb:.1f} MB of arrays")
    with (
        FingerprintStore.open(path, create=True, params={"bench": 1}, compression=codec) as store,
        Timer() as t,
    ):
        for i in range(n):
            store.add(f"s{i:06d}", pool[i % POOL], duration_seconds=duration)
    print(line("add (1 txn per sound)", t, n, mb) + f"  rss {peak_rss_mib():.0f} MiB")
    result = {"add_wall": t.wall, "add_cpu": t.cpu}

    def items() -> Iterator[StoreItem]:
        for i in range(n):
            yield StoreItem(f"s{i:06d}", pool[i % POOL], duration)

    path2 = root / f"{codec}-many.rsidx"
    with (
        FingerprintStore.open(path2, create=True, params={"bench": 1}, compression=codec) as store,
        Timer() as t,
    ):
        store.add_many(items(), commit_every=500)
    print(line("add_many(commit_every=500)", t, n, mb) + f"  rss {peak_rss_mib():.0f} MiB")

    with FingerprintStore.open(path, readonly=True) as store:
        for verify in (True, False):
            with Timer() as t:
                count = sum(1 for _ in store.iter_arrays(verify=verify))
            assert count == n
            print(line(f"iter_arrays (verify={verify})", t, n, mb) + f"  rss {peak_rss_mib():.0f} MiB")
            if verify:
                result.update(load_wall=t.wall, load_cpu=t.cpu)
        ids = np.random.default_rng(1).choice(n, size=min(200, n), replace=False)
        lat = []
        for i in ids:
            t0 = time.perf_counter()
            store.get_arrays(f"s{i:06d}")
            lat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        generations = [store.generation for _ in range(1000)]
        gen_us = (time.perf_counter() - t0) * 1e3
        assert len(set(generations)) == 1
        st = store.stats()
    med, p95 = np.median(lat) * 1e3, np.percentile(lat, 95) * 1e3
    print(f"  get_arrays random id: median {med:.3f} ms, p95 {p95:.3f} ms; generation read {gen_us:.1f} us")
    assert st.bytes_per_hour is not None
    per_item = st.file_bytes / st.total_items
    print(
        f"  size: file {st.file_bytes / 1e6:.1f} MB ({st.file_bytes / n / 1e3:.1f} kB/sound, "
        f"{per_item:.2f} B/item; blobs {st.stored_bytes / st.array_bytes:.3f} of raw), "
        f"{st.bytes_per_hour / 1e6:.2f} MB per hour of audio at "
        f"{st.total_items / st.total_duration_seconds:.1f} items/s; at "
        + ", ".join(f"{r:g} items/s: {per_item * r * 3600 / 1e6:.2f} MB/h" for r in rates)
    )
    result["bytes"] = st.file_bytes
    return result


def bench_files(root: Path, kind: str, pool: list[dict[str, np.ndarray]], n: int) -> dict[str, float]:
    mb = n * sum(a.nbytes for a in pool[0].values()) / 1e6
    folder = root / kind
    folder.mkdir()
    save: Callable[[int], None]
    if kind == "npy":

        def save(i: int) -> None:
            for name, a in pool[i % POOL].items():
                np.save(folder / f"s{i:06d}.{name}.npy", a)

    else:

        def save(i: int) -> None:
            arrays = pool[i % POOL]
            np.savez(folder / f"s{i:06d}.npz", hashes=arrays["hashes"], times=arrays["times"])

    with Timer() as t:
        for i in range(n):
            save(i)
    print(f"baseline {kind}: {n} sounds")
    print(line("write", t, n, mb))
    result = {"add_wall": t.wall, "add_cpu": t.cpu}
    with Timer() as t:
        if kind == "npy":
            for p in sorted(folder.iterdir()):
                np.load(p)
        else:
            for p in sorted(folder.iterdir()):
                with np.load(p) as z:
                    {k: z[k] for k in z.files}
    print(line("read all", t, n, mb))
    size = disk_bytes(folder)
    print(f"  size: {size / 1e6:.1f} MB in {sum(1 for _ in folder.iterdir())} files")
    result.update(load_wall=t.wall, load_cpu=t.cpu, bytes=size)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="number of sounds (default 2000)")
    ap.add_argument("--items", type=int, default=5000, help="fingerprint items per sound (default 5000)")
    ap.add_argument("--duration", type=float, default=180.0, help="seconds per sound (default 180)")
    ap.add_argument("--frames-per-second", type=float, default=62.5, help="time resolution of `times`")
    ap.add_argument("--rates", type=float, nargs="*", default=[20.0, 50.0, 100.0], help="items/s to size for")
    ap.add_argument("--codec", choices=["raw", "shuffle-zlib", "both"], default="both")
    ap.add_argument("--page-size", type=int, default=None, help="explore another SQLite page size")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    if args.page_size:
        _store_sql.PAGE_SIZE = args.page_size
    root = Path(tempfile.mkdtemp(prefix="bench_store_", dir=args.dir))
    try:
        pool = make_pool(args.items, args.duration, args.frames_per_second)
        print(f"peak RSS after synthesis: {peak_rss_mib():.0f} MiB")
        codecs = ["shuffle-zlib", "raw"] if args.codec == "both" else [args.codec]
        results = {c: bench_store(root, c, pool, args.n, args.duration, args.rates) for c in codecs}
        if not args.no_baseline:
            results.update({k: bench_files(root, k, pool, args.n) for k in ("npy", "npz")})
            print(
                "ratios: speed = baseline / store time, cpu [wall] (>1: store faster); size = store/baseline"
            )
            for c in codecs:
                for k in ("npy", "npz"):
                    r, b = results[c], results[k]
                    add = f"{b['add_cpu'] / r['add_cpu']:.2f}x [{b['add_wall'] / r['add_wall']:.2f}x]"
                    load = f"{b['load_cpu'] / r['load_cpu']:.2f}x [{b['load_wall'] / r['load_wall']:.2f}x]"
                    print(f"  {c} vs {k}: add {add}, load {load}, size {r['bytes'] / b['bytes']:.3f}x")
        print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
