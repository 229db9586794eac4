"""Speed and memory of the audio features: log-mel statistics, presence (Silero and fallback).

Figures are CPU time (``time.process_time``, all threads of this process) so that other
jobs on the machine do not distort them; torch runs single-threaded (``--threads``) so
"real-time factor per core" means what it says. Each row is the median of ``--repeat``
runs on synthetic clips (harmonic chords over a beat, plus a formant-synthesised voice),
resampled from 22.05 kHz as the pipeline decodes them. Baselines measured in the same run:
librosa's mel spectrogram for the log-mel front end, and the silero-vad package's own
TorchScript model fed chunk by chunk (its documented usage) for our batched port.

Peak memory per call is measured in a fresh child process, with models loaded and warmed up
on a 1 s clip, on a 60 s clip: RSS sampled every 0.2 ms during the call minus RSS before it
(sees torch's buffers), and tracemalloc's peak (numpy and Python allocations).

Usage: python scripts/bench/bench_audio_features.py [--seconds 10 60] [--repeat 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SR = 22050


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    """Chords over a kick with a gliding formant 'voice' on top, mono float32 at 22.05 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    music = np.zeros_like(t)
    for i, start in enumerate(np.arange(0.0, seconds, 1.0)):
        mask = (t >= start) & (t < start + 1.0)
        for semitone in ((0, 4, 7), (5, 9, 12), (7, 11, 14), (-3, 0, 4))[i % 4]:
            f = 220.0 * 2 ** (semitone / 12)
            music[mask] += sum(np.sin(2 * np.pi * f * h * t[mask]) / h for h in (1, 2, 3))
    f0 = 120.0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    voice = np.sign(np.sin(2 * np.pi * np.cumsum(f0) / SR)) * (np.sin(2 * np.pi * 4.0 * t) > 0)
    mix = 0.05 * music + 0.1 * voice + 0.01 * rng.standard_normal(t.shape[0])
    out: np.ndarray = (0.5 * mix / np.abs(mix).max()).astype(np.float32)
    return out


def cpu_seconds(function: Callable[[], object], repeat: int) -> float:
    function()  # warm-up (lazy imports, caches, model load)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return statistics.median(times)


def silero_package_file(name: str) -> Path | None:
    """A file of the silero-vad package's ``data`` folder (the baseline's own model), or None."""
    spec = importlib.util.find_spec("silero_vad")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "data" / name
        if candidate.is_file():
            return candidate
    return None


def jit_silero(samples_16k: np.ndarray) -> Callable[[], object]:
    """The packaged TorchScript model, one 512-sample chunk per call (silero's documented loop)."""
    import torch

    path = silero_package_file("silero_vad.jit")
    assert path is not None
    model = torch.jit.load(str(path), map_location="cpu").eval()
    n = -(-samples_16k.shape[0] // 512) * 512
    padded = np.zeros(n, np.float32)
    padded[: samples_16k.shape[0]] = samples_16k
    chunks = torch.from_numpy(padded).reshape(-1, 512)

    def run() -> object:
        model.reset_states()
        with torch.inference_mode():
            return [model(chunk, 16000) for chunk in chunks]

    return run


def speed_table(seconds_list: list[float], repeat: int) -> None:
    import librosa

    from reelsense.audio import analyse_presence, logmel_statistics
    from reelsense.audio.embedding import resample
    from reelsense.audio.presence import speech_probabilities

    has_silero = silero_package_file("silero_vad.jit") is not None
    print("| clip | function | CPU ms | real-time x per core | speed vs baseline |")
    print("|---|---|---:|---:|---:|")
    for seconds in seconds_list:
        x = clip(seconds)
        x16 = resample(x, SR, 16000)
        rows: list[tuple[str, float, float | None]] = []

        def librosa_logmel(x16: np.ndarray = x16) -> np.ndarray:
            mel = librosa.feature.melspectrogram(
                y=x16, sr=16000, n_fft=512, hop_length=160, n_mels=64, fmin=50, fmax=8000
            )
            return np.asarray(librosa.power_to_db(mel))

        base = cpu_seconds(librosa_logmel, repeat)
        rows.append(("librosa melspectrogram + power_to_db (16 kHz input; baseline)", base, None))
        ours = cpu_seconds(partial(logmel_statistics, x, SR), repeat)
        rows.append(("logmel_statistics (incl. resampling 22.05->16 kHz)", ours, base / ours))
        fallback = cpu_seconds(partial(analyse_presence, x, SR, vad="energy"), repeat)
        rows.append(("analyse_presence vad=energy (fallback)", fallback, None))
        if has_silero:
            full = cpu_seconds(partial(analyse_presence, x, SR, vad="silero"), repeat)
            rows.append(("analyse_presence vad=silero", full, None))
            port = cpu_seconds(partial(speech_probabilities, x16, 16000, vad="silero"), repeat)
            jit = cpu_seconds(jit_silero(x16), max(1, repeat // 2))
            rows.append(("silero-vad package JIT, chunk loop (baseline)", jit, None))
            rows.append(("speech_probabilities vad=silero (batched port)", port, jit / port))
        for name, cpu, ratio in rows:
            speed = f"{ratio:.2f}x" if ratio else ""
            print(f"| {seconds:.0f} s | {name} | {cpu * 1000:.1f} | {seconds / cpu:.0f} | {speed} |")


def _rss_bytes() -> int:
    with Path("/proc/self/statm").open() as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def _peak_child(name: str, seconds: float, queue: multiprocessing.Queue) -> None:
    import threading
    import tracemalloc

    import torch

    torch.set_num_threads(1)
    from reelsense.audio import analyse_presence, load_audio_encoder, logmel_statistics

    encoder = load_audio_encoder()
    calls = {
        "logmel_statistics": lambda x: logmel_statistics(x, SR),
        "logmel_stats encoder": lambda x: encoder.encode(x, SR),
        "analyse_presence vad=energy": lambda x: analyse_presence(x, SR, vad="energy"),
        "analyse_presence vad=silero": lambda x: analyse_presence(x, SR, vad="silero"),
    }
    calls[name](clip(1.0))  # warm-up on 1 s: lazy imports, models and caches loaded
    x = clip(seconds)
    baseline = _rss_bytes()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:  # RSS every 0.2 ms (sees torch's allocations, which tracemalloc does not)
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.0002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    tracemalloc.start()
    calls[name](x)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    done.set()
    sampler.join()
    queue.put(((peak[0] - baseline) / 2**20, traced / 2**20))


def memory_table(seconds: float) -> None:
    names = ["logmel_statistics", "logmel_stats encoder", "analyse_presence vad=energy"]
    if silero_package_file("silero_vad.jit") is not None:
        names.append("analyse_presence vad=silero")
    context = multiprocessing.get_context("spawn")
    input_mb = seconds * SR * 4 / 2**20
    print(f"\nPeak memory of one call on a {seconds:.0f} s clip ({input_mb:.1f} MB of float32 input):\n")
    print("| function | RSS growth MB (sampled) | numpy/Python peak MB (tracemalloc) |")
    print("|---|---:|---:|")
    for name in names:
        queue = context.Queue()
        process = context.Process(target=_peak_child, args=(name, seconds, queue))
        process.start()
        rss, traced = queue.get(timeout=300)
        process.join()
        print(f"| {name} | {rss:.1f} | {traced:.1f} |")


def import_times() -> None:
    print("\nImport cost in a fresh interpreter (what each spawned worker pays), best of 3:\n")
    for module in ("numpy", "scipy.signal", "reelsense.audio", "reelsense.models", "torch"):
        code = (
            f"import sys, time; t = time.perf_counter(); import {module}; "
            "print(round(time.perf_counter() - t, 3), 'torch' in sys.modules)"
        )
        runs = [
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
            for _ in range(3)
        ]
        best = min(float(run.stdout.split()[0]) for run in runs)
        print(f"- `import {module}`: {best:.2f} s (torch imported: {runs[0].stdout.split()[1]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--memory-seconds", type=float, default=60.0)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}; CPU time, median of {args.repeat}\n")
    speed_table(args.seconds, args.repeat)
    memory_table(args.memory_seconds)
    import_times()


if __name__ == "__main__":
    main()
