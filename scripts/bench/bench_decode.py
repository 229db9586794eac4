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

Usage: python scripts/bench/bench_decode.py [FOLDER ...] [--limit N] [--sample-rate 22050]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from pathlib import Path

import av

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


def bench_folder(folder: Path, limit: int | None, sample_rate: int, max_side: int) -> None:
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
    args = parser.parse_args()
    print(f"PyAV {av.__version__}, FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}")
    for folder in args.folders:
        if not folder.is_dir():
            print(f"\n{folder}: not a folder, skipped")
            continue
        bench_folder(folder, args.limit, args.sample_rate, args.max_side)


if __name__ == "__main__":
    main()
