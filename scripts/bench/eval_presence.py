"""Accuracy of speech / music presence and of the voice-over flag on the sounds benchmark.

Truth comes from ``truth.csv`` (read only here, never by the library):

- speech present: ``voice_snr_db`` is set (a voice-over) or ``kind == speech_only``;
- music present: ``source_track`` is set (every music excerpt, with or without voice/noise);
- voice-over: both.

Prints one markdown table per detector (Silero VAD, and the energy-spectral fallback) with the
accuracy of each clip-level decision per kind, and a RESULT line. ``--set name=value``
overrides a :class:`PresenceConfig` field (the threshold plateau study in docs/benchmarks.md).
Refitting the fallback's weights to Silero is ``scripts/dev/fit_presence_fallback.py``.

Usage: python scripts/bench/eval_presence.py [--bench ../shared/bench] [--vad silero energy]
       [--set music_score=3.0 ...] [--failures]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from reelsense.audio import AudioPresence, PresenceConfig, analyse_presence
from reelsense.io import read_audio

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000  # the presence detectors' own rate: no resampling inside the timed calls
KIND_ORDER = (
    "clean",
    "speed",
    "tempo",
    "pitch",
    "short",
    "noise",
    "unknown_track",
    "voice",
    "combo",
    "speech_only",
    "silence",
)


def truth_of(row: dict[str, str]) -> tuple[bool, bool, bool]:
    speech = bool(row["voice_snr_db"]) or row["kind"] == "speech_only"
    music = bool(row["source_track"])
    return speech, music, speech and music


def load(bench: Path) -> list[tuple[dict[str, str], np.ndarray]]:
    sounds = bench / "sounds"
    with (sounds / "truth.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [(row, read_audio(sounds / "queries" / f"{row['qid']}.mp4", RATE).samples) for row in rows]


def evaluate(
    clips: list[tuple[dict[str, str], np.ndarray]], vad: str, config: PresenceConfig, failures: bool
) -> dict[str, float]:
    per_kind: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4))
    cpu = 0.0
    audio_seconds = 0.0
    for row, samples in clips:
        start = time.process_time()
        result: AudioPresence = analyse_presence(samples, RATE, vad=vad, config=config)
        cpu += time.process_time() - start
        audio_seconds += samples.shape[0] / RATE
        truth = truth_of(row)
        got = (result.has_speech, result.has_music, result.voice_over)
        per_kind[row["kind"]] += [truth[0] == got[0], truth[1] == got[1], truth[2] == got[2], 1]
        if failures and truth != got:
            print(
                f"  miss {row['qid']} kind={row['kind']} voice_snr={row['voice_snr_db'] or '-'} "
                f"noise_snr={row['noise_snr_db'] or '-'} eq={row['eq']} truth={truth} got={got} "
                f"speech={result.speech_fraction:.2f} music={result.music_fraction:.2f} "
                f"overlap={result.overlap_seconds:.1f}s"
            )
    model = result.vad_model
    print(f"\n### {model} (vad={vad})\n")
    print("| kind | n | speech present | music present | voice_over |")
    print("|---|---:|---:|---:|---:|")
    total = np.zeros(4)
    for kind in sorted(per_kind, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else 99):
        v = per_kind[kind]
        total += v
        print(f"| {kind} | {int(v[3])} | {v[0] / v[3]:.2f} | {v[1] / v[3]:.2f} | {v[2] / v[3]:.2f} |")
    print(
        f"| **all** | {int(total[3])} | {total[0] / total[3]:.3f} | {total[1] / total[3]:.3f} | "
        f"{total[2] / total[3]:.3f} |"
    )
    rtf = audio_seconds / max(cpu, 1e-9)
    print(
        f"\nRESULT vad={model} speech_acc={total[0] / total[3]:.3f} music_acc={total[1] / total[3]:.3f} "
        f"voice_over_acc={total[2] / total[3]:.3f} n={int(total[3])} cpu_s={cpu:.1f} "
        f"audio_s={audio_seconds:.0f} realtime_x={rtf:.0f}"
    )
    return {"speech": total[0] / total[3], "music": total[1] / total[3], "voice_over": total[2] / total[3]}


def parse_overrides(items: list[str]) -> PresenceConfig:
    fields = {f.name: f for f in dataclasses.fields(PresenceConfig)}
    values: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in fields:
            raise SystemExit(f"unknown PresenceConfig field {name!r} (fields: {', '.join(fields)})")
        values[name] = float(value)
    return PresenceConfig(**values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--vad", nargs="+", default=["silero", "energy"], choices=["silero", "energy"])
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE")
    parser.add_argument("--failures", action="store_true", help="list the clips decided wrongly")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # CPU time per core (and no contention with other jobs)
    start = time.perf_counter()
    clips = load(args.bench)
    print(f"decoded {len(clips)} queries at {RATE} Hz in {time.perf_counter() - start:.1f} s")
    config = parse_overrides(args.set)
    for vad in args.vad:
        evaluate(clips, vad, config, args.failures)


if __name__ == "__main__":
    main()
