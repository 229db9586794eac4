"""Record the argument types the sound kernels are called with, and what compiling each costs,
into ``src/reelsense/sounds/_kernel_signatures.py`` (read by :mod:`reelsense.sounds._warmup`).

Run it after changing a kernel's arguments, or what a caller passes to one (a dtype, a read-only
array, a literal): ``python scripts/dev/kernel_signatures.py``. It runs, in this process with the
ahead-of-time compiling switched off, what the bundled examples make reelsense do: index the
reference sounds, build the index's search file and fingerprint the videos' audio as queries
(the ``fingerprint`` group), then match the videos against the saved index, match their audio in
memory, and discover their sounds with and without the index (the ``match`` group: what these
call beyond the fingerprint's kernels). Then it compiles the entries one after the other in a
child process with an empty numba cache, for their cost in seconds (a kernel's first entry also
pays for the kernels it calls), which :func:`reelsense.sounds._warmup.shares` uses to balance
the compiling processes.
``tests/sounds/test_warmup.py`` fails when a fingerprint or a search compiles a kernel that the
file does not list.

The work is done twice: first in a child process, which fills numba's cache, then here, where it
is recorded. A kernel compiled in this process also records the argument types of the kernels it
calls (numba compiles those with it), while one loaded from the cache records nothing of them; so
recording with a warm cache lists what Python calls whatever the cache held before (a fresh tree
listed eight more entries than a used one).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "src" / "reelsense" / "sounds" / "_kernel_signatures.py"
log = logging.getLogger("kernel_signatures")

_TIMER = """
import json, sys, time
from reelsense.sounds import _warmup
out = []
for name, text in json.loads(sys.stdin.read()):
    t0 = time.perf_counter()
    _warmup._dispatcher(name).compile(_warmup.parse_signature(text))
    out.append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def _kernels() -> dict[str, object]:
    from reelsense.sounds import _kernels, _stft

    found: dict[str, object] = {}
    for module, short in ((_kernels, "_kernels"), (_stft, "_stft")):
        for name in module.__all__:
            obj = getattr(module, name)
            if hasattr(obj, "signatures") and hasattr(obj, "compile"):
                found[f"{short}.{name}"] = obj
    return found


def _recorded(kernels: dict[str, object]) -> list[tuple[str, str]]:
    entries = []
    for name, dispatcher in sorted(kernels.items()):
        for sig in dispatcher.signatures:  # type: ignore[attr-defined]
            entries.append((name, "(" + "".join(f"{t!r}, " for t in sig).rstrip() + ")"))
    return sorted(set(entries))


def _fingerprint_work(workdir: Path, sounds: list[Path], videos: list[Path]) -> Path:
    from reelsense.io import read_audio
    from reelsense.sounds import MatchConfig, SoundIndex
    from reelsense.sounds.match import prepare_query

    index_path = workdir / "sounds.rsidx"
    with SoundIndex.create(index_path) as index:
        index.add_many(sounds, workers=1)
        params = index.params
    with SoundIndex.open(index_path, readonly=True) as index:
        index.prepare_search()  # the reference triplets of the search file
    for video in videos:
        audio = read_audio(video, sample_rate=params.sample_rate)
        prepare_query(audio.samples, audio.sample_rate, params, MatchConfig())
    return index_path


def _match_work(index_path: Path, videos: list[Path]) -> None:
    from reelsense.io import read_audio
    from reelsense.sounds import SoundIndex, discover_sounds, match_files

    for _, result in match_files(index_path, videos, workers=1):
        if isinstance(result, Exception):
            raise result
    with SoundIndex.open(index_path, readonly=True) as index:
        for video in videos:
            audio = read_audio(video, sample_rate=index.params.sample_rate)
            index.match(audio.samples, audio.sample_rate)
        rng = np.random.default_rng(0)  # a query that matches nothing runs every stage
        index.match(rng.standard_normal(10 * 11025).astype(np.float32) * 0.1, 11025)
    discover_sounds(videos, workers=1)
    discover_sounds(videos, sound_index=index_path, workers=1)


def _costs(entries: list[tuple[str, str]]) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="rs-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        done = subprocess.run(
            [sys.executable, "-c", _TIMER],
            input=json.dumps(entries),
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
    costs: list[float] = json.loads(done.stdout.strip().splitlines()[-1])
    return costs


def _write(groups: dict[str, list[tuple[str, str, float]]]) -> str:
    lines = [
        '"""The argument types the sound kernels are called with, and the seconds compiling each took',
        "(the first entry of a kernel also pays for the kernels it calls): read by",
        ":mod:`reelsense.sounds._warmup`. Generated by ``python scripts/dev/kernel_signatures.py``; do",
        'not edit."""',
        "",
        "# ruff: noqa: E501",
        "",
        "SIGNATURES: dict[str, tuple[tuple[str, str, float], ...]] = {",
    ]
    for group, entries in groups.items():
        lines.append(f"    {json.dumps(group)}: (")
        for name, text, seconds in entries:
            items = [json.dumps(name), json.dumps(text), f"{seconds:.2f}"]
            line = f"        ({', '.join(items)}),"
            if len(line) <= 110:  # as ruff format writes it
                lines.append(line)
            else:
                lines += ["        ("] + [f"            {item}," for item in items] + ["        ),"]
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=Path, default=ROOT / "examples", help="the examples folder")
    parser.add_argument(
        "--check", action="store_true", help="only say whether the file lists these entries (exit 1 if not)"
    )
    parser.add_argument("--fill-cache", action="store_true", help=argparse.SUPPRESS)  # the child's run
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.fill_cache:  # the same work in a child first: here every kernel loads from the cache
        child = [sys.executable, os.fspath(Path(__file__).resolve()), "--fill-cache"]
        subprocess.run([*child, "--examples", os.fspath(args.examples)], check=True)

    from reelsense.sounds import _warmup

    _warmup.ensure_compiled = lambda *args: None  # type: ignore[assignment]  # record, do not warm up
    sounds = sorted((args.examples / "sounds").iterdir())
    videos = sorted((args.examples / "videos").glob("*.mp4"))
    kernels = _kernels()
    with tempfile.TemporaryDirectory(prefix="rs-sigs-") as tmp:
        index_path = _fingerprint_work(Path(tmp), sounds, videos)
        fingerprint = _recorded(kernels)
        _match_work(index_path, videos)
        match = _recorded(kernels)
    if args.fill_cache:
        return 0
    order = fingerprint + [e for e in match if e not in set(fingerprint)]
    if args.check:  # the entries only: their costs are timings
        from reelsense.sounds._kernel_signatures import SIGNATURES

        recorded = {"fingerprint": fingerprint, "match": order[len(fingerprint) :]}
        same = {g: [(n, t) for n, t, _ in e] for g, e in SIGNATURES.items()} == recorded
        log.info("%s is %s", TARGET, "up to date" if same else "out of date")
        return 0 if same else 1
    costs = dict(zip(order, _costs(order), strict=True))
    groups = {
        "fingerprint": [(n, t, costs[(n, t)]) for n, t in fingerprint],
        "match": [(n, t, costs[(n, t)]) for n, t in order[len(fingerprint) :]],
    }
    text = _write(groups)
    TARGET.write_text(text, encoding="utf-8")
    log.info(
        "wrote %s: %d fingerprint and %d match entries, %.1f s of compiling in all",
        TARGET,
        len(fingerprint),
        len(order),
        sum(costs.values()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
