#!/usr/bin/env python3
"""Throughput of the embedding job against its bound: decode-only, model-only and end to end, one run.

Four measurements over the same videos (``INPUTS``, default the bundled examples; the
development set is ``../shared/bench/sounds/queries``), with the same preset, frame sampling,
batching and worker count. The runs share one pool of worker processes, started and warmed
up first (imports, models; its seconds are printed apart), so the figures are the steady
state of a long job:

* **decode-only**: the job with a worker stage that decodes (audio and the preset's frames)
  and computes nothing: planning, sidecars, worker processes, Parquet, as the real job;
* **decode + worker stages**: the same with the preset's worker stages (audio descriptors,
  music/speech presence, the audio embedding), no feature stages: what the workers deliver;
* **model-only**: the videos decoded beforehand and held in memory with their sidecars'
  captions, then every stage the job runs (worker stages per video with a worker's threads,
  feature stages in the job's batches), timed in this
  process with the job's model threads; the feature stages' wall time is kept apart;
* **end to end**: the job as ``embed_corpus`` runs it with the loaded featurizer.

Printed per measurement: videos/s (wall) and CPU seconds per video (this process and its
workers, live or reaped). Then the bound: on the CPU, decode and models share the cores, so
the bound is the CPU time of decode + models per video and the figure is end-to-end CPU over
it (goal <= 1.15). On a GPU the bound is min(decode-only, feature stages alone) videos/s and
the figure is end-to-end videos/s over it (goal >= 0.8); printed beside it, the bound with
the worker stages counted on the workers' side, min(decode + worker stages, feature stages).
Also the main process's CPU per video outside the models (its feature stages are timed; the
rest is planning, batching, fusion bookkeeping, Arrow conversion and writing; goal <= 5 ms),
and the same split for its main thread alone (the process's other threads include the
executor's, which receives the workers' results): on a GPU the main thread launches the models' kernels,
and when it is the bottleneck its CPU per video sets the job's rate.

Then the start-up of the command line (goal: under 1 s for ``reelsense --help``, under 2 s for
a resume with nothing to do): ``reelsense --help``, and ``reelsense embed`` over the same
videos with the same preset, device and workers, run once to write its output and then
resumed with every video done (the median of three), wall and CPU seconds of the child
process (``--skip-startup`` leaves it out: on a lent GPU it costs a full CLI run of the videos).

``--clip-shaped`` adds the same runs with a randomly initialised CLIP ViT-B/32-shaped
image/text model (built here, nothing downloaded) in place of the preset's image and text
models: the cost of a CLIP-class encoder, not its accuracy.

``--batch-size`` (image-model inputs per pass, as in ``reelsense embed``), ``--batch-videos``
and ``--batch-frames`` (the job's model batches, :class:`reelsense.RunConfig`) apply to
every run, so one call measures one batching; on a GPU they set how many kernel launches
the main thread makes per video. ``--precision bf16`` on the CPU runs the models under
autocast as fp16 does on CUDA, so the operator calls it prints (autocast's casts included)
are close to those a CUDA run launches (autocast's operator lists differ a little between
the two).

    python scripts/bench/bench_throughput.py [INPUTS ...] [--workers 2] [--limit 120] [--device cpu|cuda]
                                       [--preset default] [--clip-shaped] [--repeat 1] [--skip-startup]
                                       [--precision auto] [--batch-size N] [--batch-videos 32]
                                       [--batch-frames 256]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from _bench import DecodeOnly, run_cli, tree_cpu_seconds
from reelsense import FeaturizerConfig, RunConfig, VideoFeaturizer
from reelsense._workers import process_pool
from reelsense.io import decode, read_sidecar, walk_media
from reelsense.pipeline import FeatureStage, JobSpec, StageItem, run_job, sidecar_columns

ROOT = Path(__file__).resolve().parents[2]


def model_threads(run: RunConfig) -> int:
    """The torch threads ``embed_corpus`` gives the models beside ``run.workers`` decoders."""
    return max(1, len(os.sched_getaffinity(0)) - run.workers)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TimedStage:
    """A feature stage whose ``process_batch`` CPU time is summed: this process's (all its
    threads) and the calling thread's (the job's main thread)."""

    def __init__(self, stage: FeatureStage) -> None:
        self._stage = stage
        self.cpu = 0.0
        self.thread_cpu = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stage, name)

    @property
    def name(self) -> str:
        return self._stage.name

    @property
    def version(self) -> int:
        return self._stage.version

    @property
    def needs_audio(self) -> bool:
        return self._stage.needs_audio

    @property
    def needs_frames(self) -> bool:
        return self._stage.needs_frames

    @property
    def fields(self) -> Any:
        return self._stage.fields

    def options(self) -> dict[str, Any]:
        return self._stage.options()

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        start, thread_start = time.process_time(), time.thread_time()
        try:
            return self._stage.process_batch(items)
        finally:
            self.cpu += time.process_time() - start
            self.thread_cpu += time.thread_time() - thread_start


@dataclass(frozen=True)
class Measure:
    name: str
    videos: int
    wall: float
    cpu: float
    feature_wall: float = 0.0  # model-only: the wall time of the feature stages alone

    @property
    def feature_per_second(self) -> float:
        """Videos/s of the feature stages alone (the models on a GPU; the worker stages
        run in the decoding workers)."""
        return self.videos / self.feature_wall

    @property
    def per_second(self) -> float:
        return self.videos / self.wall

    @property
    def cpu_per_video(self) -> float:
        return self.cpu / self.videos


def worker_job(spec: JobSpec, with_stages: bool) -> JobSpec:
    """The job with a worker stage that only decodes (audio and the preset's frames), after
    the preset's worker stages when ``with_stages``; no feature stages."""
    stages = (*spec.worker_stages, DecodeOnly()) if with_stages else (DecodeOnly(),)
    return JobSpec(stages, frames=spec.frames, audio_sample_rate=spec.audio_sample_rate)


def warm_pool(files: list[str], spec: JobSpec, run: RunConfig, out: Path) -> tuple[Executor, float]:
    """A worker pool shared by the runs, warmed up on ``2 x workers`` videos with the job's
    worker stages (imports, models); returns it and the seconds the warm-up took."""
    pool = process_pool(run.workers, "spawn")
    t0 = time.perf_counter()
    job = worker_job(spec, True)
    run_job(files[: 2 * run.workers], out, job, replace(run, overwrite=True), executor=pool)
    return pool, time.perf_counter() - t0


def workers_only(
    name: str, files: list[str], job: JobSpec, run: RunConfig, out: Path, pool: Executor
) -> Measure:
    """``job`` (worker stages only) over ``files`` on the warm pool."""
    c0, t0 = tree_cpu_seconds(), time.perf_counter()
    run_job(files, out, job, replace(run, overwrite=True), executor=pool)
    return Measure(name, len(files), time.perf_counter() - t0, tree_cpu_seconds() - c0)


def _caption_columns(path: str) -> dict[str, Any]:
    """The row columns a video's sidecar gives the caption and fusion stages (as in the job)."""
    return sidecar_columns(read_sidecar(path, on_error=lambda error: None))


@contextlib.contextmanager
def as_in_a_worker() -> Iterator[None]:
    """Run the worker stages here with the threads a decoding worker gives them: one torch
    thread, one BLAS and OpenMP thread (``reelsense._workers``); torch's threads are restored
    after. Without the limit, the main process's BLAS pool spins beside the log-mel products,
    and model-only's CPU per video rose by about a quarter (0.118 against 0.091 s,
    2026-12-05), which inflated the bound."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    try:
        with threadpool_limits(limits=1):
            torch.set_num_threads(1)
            yield
    finally:  # after the limits are lifted: lifting them resets OpenMP's threads, torch's too
        torch.set_num_threads(before)


def model_only(
    files: list[str], spec: JobSpec, run: RunConfig, threads: int, count_calls: bool = False
) -> tuple[Measure, OperatorCalls | None]:
    import torch

    media = [
        decode(f, audio_sample_rate=spec.audio_sample_rate, frames=spec.frames, limits=run.decode_limits)
        for f in files
    ]
    # the captions the job reads from the sidecars, in memory like the frames
    captions = {m.info.path: _caption_columns(m.info.path) for m in media}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        first: dict[str, Any] = {"video_id": "warm-up", **captions[media[0].info.path]}
        with as_in_a_worker():  # compiled kernels and lazy models, as the warm pool
            for worker_stage in spec.worker_stages:
                first.update(worker_stage.process(media[0]))
        for feature_stage in spec.feature_stages:
            first.update(feature_stage.process_batch([StageItem("warm-up", first, media[0])])[0])
        t0, c0 = time.perf_counter(), time.process_time()
        rows: list[dict[str, Any]] = []
        with as_in_a_worker():
            for m in media:
                row: dict[str, Any] = {"video_id": m.info.path, **captions[m.info.path]}
                for worker_stage in spec.worker_stages:
                    row.update(worker_stage.process(m))
                rows.append(row)
        t1 = time.perf_counter()
        for start, end in model_batches(media, run):
            items = [StageItem(str(i), rows[i], media[i]) for i in range(start, end)]
            for feature_stage in spec.feature_stages:
                for row, out in zip(rows[start:end], feature_stage.process_batch(items), strict=True):
                    row.update(out)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        calls = operator_calls(spec, media, rows, run) if count_calls else None
    finally:
        torch.set_num_threads(before)
    return Measure("model-only", len(files), wall, cpu, feature_wall=t0 + wall - t1), calls


def model_batches(media: Sequence[Any], run: RunConfig) -> list[tuple[int, int]]:
    """``(start, end)`` of the job's model batches over ``media``: at most ``batch_videos``
    videos, closed once they hold ``batch_frames`` frames."""
    out: list[tuple[int, int]] = []
    start = 0
    while start < len(media):
        end, frames = start, 0
        while end < len(media) and end - start < run.batch_videos and frames < run.batch_frames:
            decoded = media[end].frames
            frames += 0 if decoded is None else len(decoded)
            end += 1
        out.append((start, end))
        start = end
    return out


@dataclass(frozen=True)
class OperatorCalls:
    """Tensor operator calls per video in the feature stages, views left out (on a GPU each
    is at least one kernel launch from the main thread), and the conversions among them
    (``to`` calls that copy: dtype casts, and on a GPU the uploads too)."""

    per_video: float
    casts_per_video: float
    videos: int


def operator_calls(
    spec: JobSpec, media: Sequence[Any], rows: Sequence[dict[str, Any]], run: RunConfig, batches: int = 4
) -> OperatorCalls:
    """Count the operator calls of the feature stages over the first ``batches`` model
    batches (untimed: counting slows every call)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0
        casts = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket.__name__ in ("to", "_to_copy"):  # a copy unless it returned its input
                copied = out is not args[0]
                self.calls += copied
                self.casts += copied
            elif not func.is_view:
                self.calls += 1
            return out

    counted = model_batches(media, run)[:batches]
    with Count() as count:
        for start, end in counted:
            items = [StageItem(str(i), dict(rows[i]), media[i]) for i in range(start, end)]
            for feature_stage in spec.feature_stages:
                feature_stage.process_batch(items)
    videos = counted[-1][1] if counted else 0
    return OperatorCalls(count.calls / max(videos, 1), count.casts / max(videos, 1), videos)


@dataclass(frozen=True)
class MainCpu:
    """CPU seconds of the job's main process, outside its feature stages and inside them: the
    whole process (all threads) and the main thread alone (on a GPU, the thread that launches
    the models' kernels: the job's critical path when it is the bottleneck)."""

    outside: float
    inside: float
    thread_outside: float
    thread_inside: float


def end_to_end(
    files: list[str], fz: VideoFeaturizer, run: RunConfig, out: Path, pool: Executor
) -> tuple[Measure, MainCpu]:
    """The job as ``reelsense embed`` runs it; returns the measure and its main process's CPU."""
    import torch

    spec = fz.job_spec()
    timed = [TimedStage(s) for s in spec.feature_stages]
    spec = replace(spec, feature_stages=tuple(timed))
    c0, m0, th0, t0 = tree_cpu_seconds(), own_cpu(), time.thread_time(), time.perf_counter()
    before = torch.get_num_threads()
    torch.set_num_threads(model_threads(run))  # as embed_corpus sizes them
    try:
        run_job(files, out, spec, replace(run, overwrite=True), executor=pool)
    finally:
        torch.set_num_threads(before)
    wall, cpu = time.perf_counter() - t0, tree_cpu_seconds() - c0
    main, thread = own_cpu() - m0, time.thread_time() - th0
    model, thread_model = sum(s.cpu for s in timed), sum(s.thread_cpu for s in timed)
    return Measure("end to end", len(files), wall, cpu), MainCpu(
        main - model, model, thread - thread_model, thread_model
    )


def clip_shaped_preset(workdir: Path) -> str:
    """Register a random CLIP ViT-B/32-shaped dual encoder (and a preset using it) from files
    written under ``workdir``; the tokenizer is the tiny test model's (its vocabulary and special
    tokens set the text embedding size and ids; the transformer is ViT-B/32's)."""
    from transformers import CLIPConfig, CLIPModel

    from reelsense.models import (
        DirectorySource,
        ModelEntry,
        Preset,
        get_preset,
        register_model,
        register_preset,
    )

    target = workdir / "clip_b32_random"
    tiny = ROOT / "models" / "tiny_clip"
    shutil.copytree(tiny, target)
    text = json.loads((tiny / "config.json").read_text())["text_config"]
    tokens = {k: text[k] for k in ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id")}
    config = CLIPConfig(
        text_config={**tokens, "hidden_size": 512, "intermediate_size": 2048,
                     "num_hidden_layers": 12, "num_attention_heads": 8, "max_position_embeddings": 77},
        vision_config={"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                       "num_attention_heads": 12, "image_size": 224, "patch_size": 32},
        projection_dim=512,
    )  # fmt: skip
    CLIPModel(config).save_pretrained(target, safe_serialization=True)
    pre = json.loads((target / "preprocessor_config.json").read_text())
    pre.update(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    (target / "preprocessor_config.json").write_text(json.dumps(pre))
    register_model(
        ModelEntry(
            name="clip_b32_random",
            modalities=("image", "text"),
            architecture="hf_dual_encoder",
            source=DirectorySource(str(target)),
            normalize=True,
            license="Apache-2.0",
            description="random CLIP ViT-B/32-shaped model, for timing only",
        ),
        replace=True,
    )
    default = get_preset("default")
    register_preset(
        Preset("clip_b32_random", "clip_b32_random", "clip_b32_random", default.audio), replace=True
    )
    return "clip_b32_random"


def run_preset(files: list[str], preset: str, args: argparse.Namespace, tmp: Path) -> None:
    import torch

    run = RunConfig(workers=args.workers, batch_videos=args.batch_videos, batch_frames=args.batch_frames)
    fz = VideoFeaturizer(
        FeaturizerConfig(
            preset=preset, device=args.device, precision=args.precision, batch_size=args.batch_size
        )
    )
    spec = fz.job_spec()
    threads = model_threads(run)
    results: dict[str, list[Measure]] = {}
    mains: list[MainCpu] = []
    calls: OperatorCalls | None = None
    pool, warm_seconds = warm_pool(files, spec, run, tmp / "warm.parquet")
    with pool:
        for _ in range(args.repeat):
            m = workers_only("decode-only", files, worker_job(spec, False), run, tmp / "decode.parquet", pool)
            results.setdefault(m.name, []).append(m)
            job = worker_job(spec, True)
            m = workers_only("decode + worker stages", files, job, run, tmp / "workers.parquet", pool)
            results.setdefault(m.name, []).append(m)
            m, counted = model_only(files, spec, run, threads, count_calls=calls is None)
            calls = calls or counted
            results.setdefault(m.name, []).append(m)
            m, main = end_to_end(files, fz, run, tmp / "e2e.parquet", pool)
            results.setdefault(m.name, []).append(m)
            mains.append(main)
    print(
        f"\n### preset `{preset}` on {fz.device} ({fz.precision}), {len(files)} videos, {run.workers} workers"
    )
    passes = "the default" if args.batch_size is None else str(args.batch_size)
    print(f"model batches of at most {run.batch_videos} videos or {run.batch_frames} frames; "
          f"image-model inputs per pass: {passes}")  # fmt: skip
    print(f"models: {fz.models()}; model threads in the main process: {threads}; "
          f"worker pool started and warmed up in {warm_seconds:.1f} s (not counted below)\n")  # fmt: skip
    print("| run | videos/s (wall) | CPU s per video |")
    print("|---|---:|---:|")
    med: dict[str, Measure] = {}
    for name, ms in results.items():
        best = sorted(ms, key=lambda x: x.cpu)[len(ms) // 2]
        med[name] = best
        print(f"| {name} | {best.per_second:.2f} | {best.cpu_per_video:.3f} |")
    dec, mod, e2e = med["decode-only"], med["model-only"], med["end to end"]
    work = med["decode + worker stages"]
    n = len(files)

    def per_video_ms(part: str) -> float:
        return 1000 * statistics.median(float(getattr(m, part)) for m in mains) / n

    rest_ms, model_ms = per_video_ms("outside"), per_video_ms("inside")
    print()
    if torch.device(fz.device).type == "cuda":
        # on a GPU the worker stages (audio descriptors, speech detection) run in the
        # decoding workers beside decoding, so the models' side is the feature stages alone
        bound = min(dec.per_second, mod.feature_per_second)
        print(f"model-only, feature stages alone (the device's side): {mod.feature_per_second:.2f} videos/s")
        print(f"GPU bound min(decode-only, feature stages) = {bound:.2f} videos/s; "
              f"end to end = {e2e.per_second / bound:.2f} of it (goal >= 0.8)")  # fmt: skip
        side = min(work.per_second, mod.feature_per_second)
        print(f"with the worker stages on the workers' side: min(decode + worker stages, feature stages) = "
              f"{side:.2f} videos/s; end to end = {e2e.per_second / side:.2f} of it")  # fmt: skip
    else:
        bound = dec.cpu_per_video + mod.cpu_per_video
        print(f"CPU bound decode + models = {bound:.3f} CPU s per video; "
              f"end to end = {e2e.cpu_per_video / bound:.2f}x of it (goal <= 1.15)")  # fmt: skip
    print(f"main process per video: {model_ms:.1f} ms CPU in the feature stages, "
          f"{rest_ms:.1f} ms outside them (goal <= 5 ms)")  # fmt: skip
    print(f"its main thread alone: {per_video_ms('thread_inside'):.1f} ms in the feature stages, "
          f"{per_video_ms('thread_outside'):.1f} ms outside them")  # fmt: skip
    if calls is not None:
        print(f"tensor operator calls in the feature stages (views left out; each at least one kernel "
              f"launch on a GPU): {calls.per_video:.1f} per video, {calls.casts_per_video:.1f} of them "
              f"conversions: dtype casts, uploads (first {calls.videos} videos)")  # fmt: skip
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def startup(files: list[str], preset: str, args: argparse.Namespace, tmp: Path) -> None:
    """The command line's start-up: ``reelsense --help``, and a resume with nothing to do."""
    help_wall, help_cpu = run_cli(["--help"])
    out = tmp / "cli.parquet"
    embed = ["embed", *files, "-o", str(out), "--preset", preset, "--device", args.device]
    embed += ["--precision", args.precision]
    embed += ["-w", str(args.workers), "-q"]
    first_wall, _ = run_cli(embed)
    resumes = sorted(run_cli(embed) for _ in range(3))
    wall, cpu = resumes[1]
    print(f"\n### start-up of the command line (preset `{preset}`, {len(files)} videos)\n")
    print(f"`reelsense --help`: {help_wall:.2f} s wall, {help_cpu:.2f} CPU s (goal < 1 s)")
    print(f"`reelsense embed` resumed with every video done: {wall:.2f} s wall, {cpu:.2f} CPU s "
          f"(median of 3; goal < 2 s); the first run, writing it: {first_wall:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", type=Path, default=[ROOT / "examples" / "videos"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=120, help="at most N videos (model-only holds them all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "fp16", "bf16"],
        default="auto",
        help="as `reelsense embed`: auto = fp16 on CUDA, fp32 elsewhere",
    )
    parser.add_argument(
        "--preset",
        default="default",
        help="a registered preset, or clip_b32_random (the CLIP-shaped one alone)",
    )
    parser.add_argument("--clip-shaped", action="store_true", help="also a random CLIP ViT-B/32-shaped model")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (median reported)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="image-model inputs per pass (as `reelsense embed`)"
    )
    defaults = RunConfig()
    parser.add_argument("--batch-videos", type=int, default=defaults.batch_videos, help="videos per batch")
    parser.add_argument("--batch-frames", type=int, default=defaults.batch_frames, help="frames per batch")
    parser.add_argument(
        "--skip-startup", action="store_true", help="leave out the command line's start-up (a full CLI run)"
    )
    args = parser.parse_args()
    files = [f.path for f in walk_media(args.inputs)][: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        preset = clip_shaped_preset(Path(tmp)) if args.preset == "clip_b32_random" else args.preset
        run_preset(files, preset, args, Path(tmp))
        if args.clip_shaped and preset != "clip_b32_random":
            run_preset(files, clip_shaped_preset(Path(tmp)), args, Path(tmp))
        if preset != "clip_b32_random" and not args.skip_startup:  # the CLI cannot load clip_b32_random
            startup(files, preset, args, Path(tmp))


if __name__ == "__main__":
    main()
