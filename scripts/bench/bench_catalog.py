#!/usr/bin/env python3
"""Reading an embeddings file for ranking and fusion: ``reelsense.rank.read_catalog`` against
the bare read of the same columns into float32 arrays, at growing sizes, in one run.

``rank``, ``rank train`` and ``fusion train`` start by reading the catalog; its memory is most
of their peak. Each size gets a synthetic file shaped like a ``reelsense embed`` output (the
vector columns as ``fixed_size_list<float32>``, ids, status, sound, uploader, hashtags), and
each reader runs in a fresh process so that its peak resident memory is its own::

    python scripts/bench/bench_catalog.py [--sizes 1000,10000,30000] [--workdir DIR]

Prints per size and reader: wall seconds, peak RSS (MB), and the ratio of ``read_catalog`` to
the bare read.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from _bench import work_folder

#: the vector columns and their sizes (the default preset's, with a 1024-d embedding)
DIMS = {"embedding": 1024, "visual_vector": 512, "caption_vector": 512, "audio_vector": 200}

#: reader -> (imports, not timed; the timed read)
_READERS = {
    "read_catalog": ("from reelsense.rank import read_catalog", "read_catalog(PATH)"),
    "bare pyarrow": (
        "import numpy as np, pyarrow.parquet as pq",
        "table = pq.read_table(PATH, columns=COLUMNS); "
        "[np.asarray(table[c].combine_chunks().flatten().to_numpy(), np.float32) for c in VECTORS]",
    ),
}
_TIMED = """
import resource, sys, time
PATH, COLUMNS, VECTORS = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
{setup}
start = time.perf_counter()
{code}
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def write_catalog(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {
        "video_id": pa.array([f"v{i:08d}" for i in range(n)]),
        "status": pa.array(["ok"] * n),
        "sound_id": pa.array([f"s{k}" if k < 50 else None for k in rng.integers(0, 100, n)]),
        "uploader": pa.array([f"u{k}" for k in rng.integers(0, max(1, n // 30), n)]),
        "hashtags": pa.array([[f"t{k}" for k in rng.integers(0, 800, 3)] for _ in range(n)]),
    }
    for name, dim in DIMS.items():
        values = rng.standard_normal((n, dim), dtype=np.float32)
        columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), dim)
    pq.write_table(pa.table(columns), path)


def timed(reader: str, path: Path) -> tuple[float, float]:
    setup, read = _READERS[reader]
    code = _TIMED.format(setup=setup, code=read)
    wanted = ["video_id", "status", *DIMS]
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), ",".join(wanted), ",".join(DIMS)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, peak_mb = result.stdout.split()
    return float(seconds), float(peak_mb)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,30000", help="videos per file, comma-separated")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the files go (default: a temporary folder)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with work_folder(args.workdir) as workdir:
        print("| videos | reader | wall s | peak RSS MB | vs bare (time, memory) |")
        print("|---:|---|---:|---:|---|")
        for n in sizes:
            path = workdir / f"catalog_{n}.parquet"
            write_catalog(path, n)
            bare = timed("bare pyarrow", path)
            ours = timed("read_catalog", path)
            print(f"| {n} | bare pyarrow | {bare[0]:.2f} | {bare[1]:.0f} | |")
            print(
                f"| {n} | read_catalog | {ours[0]:.2f} | {ours[1]:.0f} | "
                f"{ours[0] / bare[0]:.2f}x, {ours[1] / bare[1]:.2f}x |"
            )


if __name__ == "__main__":
    main()
