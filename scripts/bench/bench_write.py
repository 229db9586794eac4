"""Writing the embed output: pyarrow's default Parquet options against reelsense's, in one run.

    python scripts/bench/bench_write.py out.parquet --repeats 5   # an output of `reelsense embed`

The table is read once and written to memory ``--repeats`` times each way, alternating:
pyarrow's defaults (every column dictionary-encoded until its dictionary fills a page) and
:func:`reelsense.pipeline.parquet_options` (no dictionary for floating-point columns), as the
output writer writes its parts and the consolidated file. Prints the median CPU milliseconds
per 1,000 rows, the bytes per row, and the ratios; checks that both files read back to the same
table. The rows are not repeated to make a bigger table: repeated vectors would repeat exact
values, which a dictionary compresses and real vectors never offer.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reelsense.pipeline import parquet_options

DEFAULTS = "pyarrow defaults"
OURS = "reelsense"


def _write(table: pa.Table, options: dict[str, object]) -> tuple[float, bytes]:
    buffer = io.BytesIO()
    t0 = time.process_time()
    pq.write_table(table, buffer, **options)
    return time.process_time() - t0, buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("output", type=Path, help="a Parquet file written by reelsense embed")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    table = pq.read_table(args.output).combine_chunks()
    n = table.num_rows
    if n == 0:
        raise SystemExit(f"{args.output} has no rows")
    ways: dict[str, dict[str, object]] = {DEFAULTS: {}, OURS: parquet_options(table.schema)}
    _write(table, {})  # the first write of a process pays pyarrow's one-time set-up
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    data: dict[str, bytes] = {}
    for _ in range(args.repeats):
        for name, options in ways.items():
            seconds, data[name] = _write(table, options)
            cpu[name].append(seconds)
    if not pq.read_table(io.BytesIO(data[OURS])).equals(pq.read_table(io.BytesIO(data[DEFAULTS]))):
        raise SystemExit("the two files read back differently")
    kib = table.nbytes / n / 1024
    print(f"{args.output}: {n} rows ({kib:.1f} KiB each in memory), median of {args.repeats}")
    print(f"{'options':18s} {'CPU ms / 1k rows':>16s} {'bytes / row':>12s}")
    for name in ways:
        ms = 1e6 * statistics.median(cpu[name]) / n
        print(f"{name:18s} {ms:16.1f} {len(data[name]) / n:12.0f}")
    ratio_cpu = statistics.median(cpu[OURS]) / statistics.median(cpu[DEFAULTS])
    ratio_size = len(data[OURS]) / len(data[DEFAULTS])
    print(f"{OURS} / defaults: CPU {ratio_cpu:.2f}x, size {ratio_size:.2f}x")


if __name__ == "__main__":
    main()
