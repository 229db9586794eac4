"""Decode throughput of reelsense.io.decode against a naive full decode, in the same run.

For every folder given (default: examples/ and ../shared/bench/sounds/queries), each
mode decodes every media file once and the script prints media-seconds per CPU-second
(CPU time of the whole process, all decoder threads included, so other load on the
machine does not distort it), files per CPU-second, the ratio to the baseline, and how
many video frames the decoders produced and how many frames came back.

Modes:
  baseline   every video frame decoded and converted to RGB at native size, and every
             audio frame decoded to an array (what a naive tool does)
  audio      reelsense audio only (mono float32 at --sample-rate)
  uniform    audio + 1 frame per second (--max-side)
  keyframes  audio + key frames only
  scenes     audio + a frame per shot
  v-uniform  1 frame per second, no audio (what the video side costs alone)
  v-keyframe key frames only, no audio (compare with v-uniform: the skip_frame saving)

With ``--hwaccel cuda`` (NVDEC; PyAV's wheels ship FFmpeg's CUDA device and cuvid decoders,
used through :class:`av.codec.hwaccel.HWAccel`), two more modes decode the video on the device,
without falling back to software (a file the device cannot decode is counted as a failure):
  hw-base    baseline's video on the device: every frame downloaded and converted to RGB at
             native size (compare with baseline)
  hw-uniform every frame decoded on the device, the first one of each second downloaded and
             converted to RGB within max_side (compare with v-uniform)
Their CPU time is this process's only (the device's work is not in it): compare wall time too.
On a machine without the device the script says why and runs the other modes.

Usage: python scripts/bench/bench_decode.py [FOLDER ...] [--limit N] [--sample-rate 22050]
                                             [--hwaccel cuda]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from pathlib import Path

import av
from av.codec.hwaccel import HWAccel

from reelsense.io import MEDIA_EXTENSIONS, FrameSampling, decode, probe

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FOLDERS = [REPO / "examples", REPO.parent / "shared" / "bench" / "sounds" / "queries"]


def naive_full_decode(path: Path) -> tuple[int, int]:
    """Decode everything (video as RGB at native size, audio as arrays); returns
    (video frames decoded, video frames returned), the same count."""
    video_frames = 0
    with av.open(str(path)) as container:
        streams = [*container.streams.video[:1], *container.streams.audio[:1]]
        for stream in streams:
            stream.thread_type = "AUTO"
        for frame in container.decode(*streams):
            if isinstance(frame, av.VideoFrame):
                frame.to_ndarray(format="rgb24")
                video_frames += 1
            else:
                frame.to_ndarray()
    return video_frames, video_frames


def device_decode(device: str, fps: float | None, max_side: int) -> Callable[[Path], tuple[int, int]]:
    """Video decoded on ``device`` (no software fallback): every frame converted to RGB at native
    size (``fps`` None), or the first frame of each ``1 / fps`` seconds within ``max_side``."""

    def call(path: Path) -> tuple[int, int]:
        decoded = returned = 0
        next_time = 0.0
        with av.open(str(path), hwaccel=HWAccel(device, allow_software_fallback=False)) as container:
            if not container.streams.video:
                return 0, 0
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                decoded += 1
                if fps is None:
                    frame.to_ndarray(format="rgb24")
                    returned += 1
                    continue
                t = frame.time if frame.time is not None else next_time
                if t + 1e-6 < next_time:
                    continue
                scale = max_side / max(frame.width, frame.height)
                frame.reformat(
                    width=max(2, round(frame.width * min(scale, 1.0))),
                    height=max(2, round(frame.height * min(scale, 1.0))),
                    format="rgb24",
                ).to_ndarray()
                returned += 1
                next_time = (int(t * fps) + 1) / fps
        return decoded, returned

    return call


def device_problem(device: str, files: list[Path]) -> str | None:
    """Why ``device`` cannot decode the first video file with hardware, or None when it does."""
    for path in files:
        try:
            with av.open(str(path), hwaccel=HWAccel(device, allow_software_fallback=False)) as container:
                if not container.streams.video:
                    continue
                ctx = container.streams.video[0].codec_context
                return None if ctx.is_hwaccel else f"{ctx.name} has no {device} decoder in this FFmpeg"
        except (av.error.FFmpegError, RuntimeError) as exc:  # no device, or no stream it decodes
            return f"{type(exc).__name__}: {exc}"
    return "no video stream in these files"


def run_mode(files: list[Path], call: Callable[[Path], tuple[int, int]]) -> dict[str, float]:
    decoded = returned = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for path in files:
        d, r = call(path)
        decoded += d
        returned += r
    return {
        "cpu": time.process_time() - cpu0,
        "wall": time.perf_counter() - wall0,
        "decoded": decoded,
        "returned": returned,
    }


def reelsense_mode(
    sample_rate: int | None, sampling: FrameSampling | None
) -> Callable[[Path], tuple[int, int]]:
    def call(path: Path) -> tuple[int, int]:
        result = decode(path, audio_sample_rate=sample_rate, frames=sampling)
        return result.video_frames_decoded, len(result.frames) if result.frames is not None else 0

    return call


def bench_folder(
    folder: Path, limit: int | None, sample_rate: int, max_side: int, hwaccel: str | None
) -> None:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MEDIA_EXTENSIONS and p.is_file())
    if limit:
        files = files[:limit]
    if not files:
        print(f"\n{folder}: no media files, skipped")
        return
    for path in files:  # warm the page cache so the first mode is not charged for disk reads
        path.read_bytes()
    media_seconds = sum(probe(p).duration_seconds for p in files)
    modes: dict[str, Callable[[Path], tuple[int, int]]] = {
        "baseline": naive_full_decode,
        "audio": reelsense_mode(sample_rate, None),
        "uniform": reelsense_mode(sample_rate, FrameSampling("uniform", fps=1.0, max_side=max_side)),
        "keyframes": reelsense_mode(sample_rate, FrameSampling("keyframes", max_side=max_side)),
        "scenes": reelsense_mode(sample_rate, FrameSampling("scenes", max_side=max_side)),
        "v-uniform": reelsense_mode(None, FrameSampling("uniform", fps=1.0, max_side=max_side)),
        "v-keyframe": reelsense_mode(None, FrameSampling("keyframes", max_side=max_side)),
    }
    if hwaccel:
        problem = device_problem(hwaccel, files)
        if problem:
            print(f"\n--hwaccel {hwaccel}: not available here ({problem}); its modes are skipped")
        else:
            modes["hw-base"] = device_decode(hwaccel, None, max_side)
            modes["hw-uniform"] = device_decode(hwaccel, 1.0, max_side)
    print(f"\n{folder}: {len(files)} files, {media_seconds:.1f} media seconds")
    print(f"audio at {sample_rate} Hz, frames resized to max_side={max_side}; CPU time of this process")
    header = (
        f"{'mode':<10} {'cpu_s':>7} {'wall_s':>7} {'media_s/cpu_s':>13} {'x_baseline':>10} "
        f"{'files/cpu_s':>11} {'vframes_decoded':>15} {'frames_out':>10}"
    )
    print(header)
    print("-" * len(header))
    baseline = None
    for name, call in modes.items():
        stats = run_mode(files, call)
        speed = media_seconds / stats["cpu"]
        baseline = baseline or speed
        print(
            f"{name:<10} {stats['cpu']:>7.2f} {stats['wall']:>7.2f} {speed:>13.1f} {speed / baseline:>10.2f} "
            f"{len(files) / stats['cpu']:>11.1f} {stats['decoded']:>15.0f} {stats['returned']:>10.0f}"
        )
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process so far: {rss_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="*", type=Path, default=DEFAULT_FOLDERS)
    parser.add_argument("--limit", type=int, default=None, help="at most N files per folder")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--max-side", type=int, default=224)
    parser.add_argument("--hwaccel", default=None, help="also decode the video on this device (cuda: NVDEC)")
    args = parser.parse_args()
    print(f"PyAV {av.__version__}, FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}")
    for folder in args.folders:
        if not folder.is_dir():
            print(f"\n{folder}: not a folder, skipped")
            continue
        bench_folder(folder, args.limit, args.sample_rate, args.max_side, args.hwaccel)


if __name__ == "__main__":
    main()
