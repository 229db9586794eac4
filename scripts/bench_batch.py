"""Throughput of ``reelsense embed`` (default preset) against decode-only, same files, same run.

Three jobs through the same batch harness (planning, sidecars, worker processes, Parquet):

- ``decode only``: audio at 22050 Hz and the default frame sampling (key frames, at most
  16, 399 px) decoded in the workers, no stage computing anything;
- ``embed``: what ``reelsense embed FILES -o OUT`` runs with the default preset (frames
  through EfficientNet-Lite0, captions through MiniLM, log-mel audio embedding, audio
  descriptors, speech/music presence, fusion);
- ``embed + sound index`` (with ``--library``): the same plus matching every soundtrack
  against the indexed library.

Wall-clock and CPU seconds (this process and its reaped worker processes, from
``getrusage``) are printed; on a shared machine the CPU figures are the ones to compare.
Model loading is timed apart from the per-video work.

    python scripts/bench_batch.py ../shared/bench/sounds/queries --library ../shared/bench/sounds/library
    python scripts/bench_batch.py examples/videos --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _bench import DecodeOnly, cpu_seconds
from reelsense import FeaturizerConfig, RunConfig, VideoFeaturizer, embed_corpus
from reelsense.io import walk_media
from reelsense.pipeline import JobSpec, run_job


def report(name: str, n: int, wall: float, cpu: float, load: float = 0.0) -> tuple[float, float]:
    print(
        f"| {name} | {n} | {wall:.1f} | {cpu:.1f} | {n / wall:.2f} | {n / cpu:.2f} | {load:.1f} |", flush=True
    )
    return n / wall, n / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path)
    parser.add_argument("--library", type=Path, default=None, help="reference sounds to index and match")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    args = parser.parse_args()
    files = [f.path for f in walk_media(args.inputs)]
    if args.limit:
        files = files[: args.limit]
    n = len(files)
    sampling = FeaturizerConfig().frame_sampling(224)
    print(f"{n} files, {args.workers} workers; frames: {sampling}\n")
    print("| job | videos | wall s | CPU s | videos/s (wall) | videos per CPU s | model load s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        c0, t0 = cpu_seconds(), time.perf_counter()
        run_job(
            files,
            Path(tmp) / "decode.parquet",
            JobSpec((DecodeOnly(),), frames=sampling),
            RunConfig(workers=args.workers),
        )
        base_wall, base_cpu = report("decode only", n, time.perf_counter() - t0, cpu_seconds() - c0)
        jobs: list[tuple[str, Path | None]] = [("embed (default preset)", None)]
        if args.library is not None:
            jobs.append(("embed + sound index", args.library))
        for name, library in jobs:
            c0, t0 = cpu_seconds(), time.perf_counter()
            config = FeaturizerConfig(device="cpu", sound_index=str(library) if library else None)
            with VideoFeaturizer(config) as featurizer:
                load = time.perf_counter() - t0
                c1, t1 = cpu_seconds(), time.perf_counter()
                summary = embed_corpus(
                    files,
                    Path(tmp) / f"{name[:5]}-{library is not None}.parquet",
                    run=RunConfig(workers=args.workers),
                    featurizer=featurizer,
                )
            assert summary.errors == 0, summary.error_examples
            wall, cpu = report(name, n, time.perf_counter() - t1, cpu_seconds() - c1, load)
            print(
                f"|   ratio to decode only | | | | {wall / base_wall:.3f} | {cpu / base_cpu:.3f} | |",
                flush=True,
            )


if __name__ == "__main__":
    main()
