#!/usr/bin/env python3
"""reelsense sound matching against Olaf (JorenSix/Olaf, C), CPU time on one core, in one run.

Olaf is not part of reelsense and is not installed by it: build its core program in a scratch
folder (it needs zig 0.15, e.g. from the ``ziglang`` PyPI package) and pass its path::

    git clone https://github.com/JorenSix/Olaf /tmp/olaf && cd /tmp/olaf
    python -m ziglang build -Dcore=true -Doptimize=ReleaseFast     # -> zig-out/bin/olaf_core

    python scripts/bench/bench_olaf.py --olaf-core /tmp/olaf/zig-out/bin/olaf_core [--bench ../shared/bench]
                                 [--repeats 3] [--cli]

Olaf's own CLI converts audio with ffmpeg; here its core program gets 16 kHz mono float32 raw
files decoded by the same PyAV decoder reelsense uses (:func:`reelsense.io.read_audio`), and that
decoding and writing is counted as Olaf's "prep". Every figure is the median of ``--repeats``
runs of CPU time (user + system, this process and its children), so other processes on the
machine do not distort it:

* Olaf: library prep (decode 30 tracks to raw), store (one ``olaf_core store`` of all of them,
  into a fresh LMDB database), query prep (decode the 240 dev queries), query (one
  ``olaf_core query`` of all of them);
* reelsense, library calls in this process (imports excluded): indexing =
  ``SoundIndex.create`` + ``add_many(workers=1)`` + ``prepare_search`` (decoding included);
  matching = ``SoundIndex.open`` + ``match_file`` of every query (decoding included), with
  decoding alone measured beside it, and top-1 / false positives of that run;
* with ``--cli``, the same through ``reelsense sounds add -w 1`` / ``reelsense sounds match -w 1``
  in a subprocess (interpreter start-up and imports included), and ``reelsense --help``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from _bench import cpu_seconds, run_cli
from reelsense.io import read_audio
from reelsense.sounds import SoundIndex

ROOT = Path(__file__).resolve().parents[2]
OLAF_RATE = 16000


def timed(fn: Callable[[], object]) -> float:
    c0 = cpu_seconds()
    fn()
    return cpu_seconds() - c0


def to_raw(files: list[Path], out: Path) -> list[tuple[Path, Path]]:
    """Decode each file to 16 kHz mono float32 raw (Olaf's input format)."""
    pairs = []
    for f in files:
        raw = out / f"{f.stem}.raw"
        read_audio(f, sample_rate=OLAF_RATE).samples.astype("<f4", copy=False).tofile(raw)
        pairs.append((raw, f))
    return pairs


def olaf(core: Path, home: Path, command: str, pairs: list[tuple[Path, Path]]) -> str:
    args = [str(core), command]
    for raw, orig in pairs:
        args += [str(raw), orig.name]
    env = {**os.environ, "HOME": str(home)}
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    return out.stdout


def olaf_round(core: Path, lib: list[Path], queries: list[Path], work: Path) -> dict[str, float]:
    shutil.rmtree(work, ignore_errors=True)
    (work / "home" / ".olaf" / "db").mkdir(parents=True)
    (work / "lib").mkdir()
    (work / "q").mkdir()
    res: dict[str, float] = {}
    box: dict[str, list[tuple[Path, Path]]] = {}
    res["lib_prep"] = timed(lambda: box.__setitem__("lib", to_raw(lib, work / "lib")))
    res["store"] = timed(lambda: olaf(core, work / "home", "store", box["lib"]))
    res["query_prep"] = timed(lambda: box.__setitem__("q", to_raw(queries, work / "q")))
    res["query"] = timed(lambda: olaf(core, work / "home", "query", box["q"]))
    return res


def reelsense_round(
    lib: list[Path], queries: list[Path], truth: dict[str, str], work: Path
) -> dict[str, float]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = work / "lib.rsidx"
    res: dict[str, float] = {}

    def index() -> None:
        with SoundIndex.create(path) as idx:
            idx.add_many(lib, workers=1)
            idx.prepare_search()

    res["index"] = timed(index)
    preds: dict[str, str] = {}

    def match() -> None:
        with SoundIndex.open(path, readonly=True) as idx:
            for q in queries:
                m = idx.match_file(q)
                preds[q.stem] = m[0].sound_id if m else ""

    res["match"] = timed(match)
    res["decode_queries"] = timed(lambda: [read_audio(q, sample_rate=11025) for q in queries])
    res["decode_library"] = timed(lambda: [read_audio(f, sample_rate=11025) for f in lib])
    pos = [q for q, s in truth.items() if s]
    neg = [q for q, s in truth.items() if not s]
    res["top1"] = sum(preds.get(q) == truth[q] for q in pos) / max(1, len(pos))
    res["fp"] = sum(bool(preds.get(q)) for q in neg)
    return res


def cli_round(lib: list[Path], queries: list[Path], work: Path) -> dict[str, float]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    idx = work / "lib.rsidx"
    _, add = run_cli(["sounds", "add", *map(str, lib), "--sound-index", str(idx), "-w", "1", "--no-progress"])
    match_args = ["sounds", "match", *map(str, queries), "--sound-index", str(idx), "-w", "1"]
    _, match = run_cli([*match_args, "-o", str(work / "m.csv"), "--no-progress"])
    _, help_cpu = run_cli(["--help"])
    return {"cli_add": add, "cli_match": match, "cli_help": help_cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--olaf-core", type=Path, default=None, help="Olaf's olaf_core program (skip Olaf if absent)"
    )
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time the reelsense CLI commands")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    sounds = args.bench / "sounds"
    lib = sorted((sounds / "library").glob("*.ogg"))
    with (sounds / "truth.csv").open(newline="") as handle:
        truth = {r["qid"]: r["sound"] for r in csv.DictReader(handle)}
    queries = [sounds / "queries" / f"{q}.mp4" for q in truth]
    minutes = sum(read_audio(path, sample_rate=8000).samples.size for path in lib) / 8000 / 60
    runs: dict[str, list[float]] = {}
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for _ in range(args.repeats):
            rounds = [reelsense_round(lib, queries, truth, Path(tmp) / "rs")]
            if args.olaf_core is not None:
                rounds.append(olaf_round(args.olaf_core, lib, queries, Path(tmp) / "olaf"))
            if args.cli:
                rounds.append(cli_round(lib, queries, Path(tmp) / "cli"))
            for r in rounds:
                for k, v in r.items():
                    runs.setdefault(k, []).append(v)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"library: {len(lib)} tracks, {minutes:.1f} min; queries: {len(queries)} dev videos; "
        f"CPU seconds, median of {args.repeats}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print("| step | Olaf | reelsense (library calls) | reelsense CLI |")
    print("|---|---:|---:|---:|")
    o = med.get

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    def total(a: str, b: str) -> float | None:
        x, y = o(a), o(b)
        return None if x is None or y is None else x + y

    olaf_index = total("lib_prep", "store")
    olaf_query = total("query_prep", "query")
    print(f"| library prep (decode) | {f(o('lib_prep'))} | {f(o('decode_library'))} (inside indexing) | |")
    print(f"| indexing (store) | {f(o('store'))} | | |")
    print(f"| **index total** | **{f(olaf_index)}** | **{f(o('index'))}** | {f(o('cli_add'))} |")
    print(f"| query prep (decode) | {f(o('query_prep'))} | {f(o('decode_queries'))} (inside matching) | |")
    print(f"| query | {f(o('query'))} | | |")
    print(f"| **240 queries total** | **{f(olaf_query)}** | **{f(o('match'))}** | {f(o('cli_match'))} |")
    if "cli_help" in med:
        print(f"`reelsense --help`: {med['cli_help']:.2f} s CPU")
    print(f"reelsense top-1 {med['top1']:.3f}, false positives {int(med['fp'])} (dev set)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
