#!/usr/bin/env python3
"""Consolidating a resumed single-file output: peak memory and CPU of ``OutputWriter.finish``.

A synthetic output shaped like ``reelsense embed``'s (a 1024-d ``embedding`` and 512 / 512 /
200-d modality vectors of random float32, about 9 KiB a row) is written once: ``--old`` rows
consolidated into ``out.parquet``, then a resumed run that adds ``--new`` rows and stops
before consolidating, leaving its rows as part files of ``flush_rows`` (256) rows each. Their
ids are ``--order random`` (interleaved with each other and with the old rows: every part
covers the whole id range) or ``sequential`` (each part a run of ids after the old ones).
Each measurement copies that folder and runs ``finish()`` in a fresh process (its peak
resident memory from ``os.wait4``, CPU user + sys)::

    python scripts/bench/bench_consolidate.py [--old 20000] [--new 20000] [--order random]
        [--workdir DIR] [--repeats 2]

Prints per run: CPU seconds, peak RSS (MB), and the SHA-256 of the consolidated file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from _bench import work_folder

DIMS = {"embedding": 1024, "visual_vector": 512, "caption_vector": 512, "audio_vector": 200}

_FINISH = """
import sys
from pathlib import Path
from reelsense.pipeline import OutputWriter
sys.path.insert(0, {here!r})
from bench_consolidate import schema
with OutputWriter(Path({out!r}), schema()) as writer:
    writer.open()
    writer.finish()
"""


def schema() -> pa.Schema:
    from reelsense.pipeline import build_schema

    fields = [pa.field(name, pa.list_(pa.float32(), dim)) for name, dim in DIMS.items()]
    return build_schema(fields, config={"stages": [{"name": "bench", "version": 1}]}, run={"inputs": []})


def _table(ids: list[str], rng: np.random.Generator) -> pa.Table:
    n = len(ids)
    columns: dict[str, pa.Array] = {
        "video_id": pa.array(ids),
        "path": pa.array([f"/in/{v}.mp4" for v in ids]),
        "status": pa.array(["ok"] * n),
    }
    for name, dim in DIMS.items():
        values = rng.standard_normal(n * dim, dtype=np.float32)
        columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(values), dim)
    target = schema()
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in target]
    return pa.Table.from_arrays([a.cast(f.type) for a, f in zip(arrays, target, strict=True)], schema=target)


def prepare(folder: Path, old: int, new: int, order: str) -> Path:
    from reelsense.pipeline import OutputWriter

    rng = np.random.default_rng(0)
    out = folder / "out.parquet"
    width = len(str(old + new))
    if order == "random":
        all_ids = [f"v{i:0{width}d}" for i in rng.permutation(old + new)]
    else:
        all_ids = [f"v{i:0{width}d}" for i in range(old + new)]
    with OutputWriter(out, schema()) as writer:
        writer.open()
        for start in range(0, old, 2048):
            writer.add_table(_table(all_ids[start : min(old, start + 2048)], rng))
        writer.finish()
    with OutputWriter(out, schema(), flush_rows=256, flush_seconds=1e9) as writer:
        writer.open()
        for start in range(old, old + new, 256):
            writer.add_table(_table(all_ids[start : min(old + new, start + 256)], rng))
        # no finish(): the run stops here, as a killed job does, its rows in part files
    return out


def measure(prepared: Path, scratch: Path) -> tuple[float, float, str]:
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(prepared.parent, scratch)
    out = scratch / prepared.name
    code = _FINISH.format(here=str(Path(__file__).parent), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code])
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"finish() failed with status {status}")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, digest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", type=int, default=20000)
    parser.add_argument("--new", type=int, default=20000)
    parser.add_argument("--order", choices=("random", "sequential"), default="random")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with work_folder(args.workdir) as folder:
        base = folder / f"prepared-{args.old}-{args.new}-{args.order}"
        out = base / "out.parquet"
        if not out.exists():
            base.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            prepare(base, args.old, args.new, args.order)
            print(f"prepared {base} in {time.perf_counter() - t0:.0f} s", flush=True)
        parts = (
            len(list((base / "out.parquet.parts").glob("*.parquet")))
            if (base / "out.parquet.parts").is_dir()
            else 0
        )
        print(f"{args.old} rows consolidated + {args.new} in {parts} parts ({args.order} ids)")
        print(f"{'run':>4s} {'CPU s':>7s} {'peak MB':>8s} sha256")
        for r in range(args.repeats):
            cpu, peak, digest = measure(out, folder / "run")
            print(f"{r:4d} {cpu:7.1f} {peak:8.0f} {digest}", flush=True)


if __name__ == "__main__":
    main()
