"""``reelsense embed``: one Parquet row per video (parses options, calls ``embed_videos``,
``embed_corpus_from_options`` or, with ``--engine ray``, ``reelsense.jobs.embed_with_ray``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reelsense.errors import ReelsenseError
from reelsense.featurize import embed_corpus_from_options
from reelsense.jobs import RayEmbedSummary, embed_with_ray
from reelsense.pipeline import EmbedConfig, EmbedSummary, ProgressEvent, embed_videos

__all__ = ["embed", "format_summary"]


def _split_extensions(values: Sequence[str]) -> tuple[str, ...] | None:
    parts = tuple(p for v in values for p in v.split(",") if p.strip())
    return parts or None


def _progress_bar(enabled: bool | None) -> tuple[tqdm[Any], Callable[[ProgressEvent], None]]:
    bar: tqdm[Any] = tqdm(
        total=0,
        unit="video",
        dynamic_ncols=True,
        disable=None if enabled is None else not enabled,
        file=sys.stderr,
    )

    def update(event: ProgressEvent) -> None:
        if event.video_id is None:
            bar.reset(total=event.total)
            if event.skipped:
                bar.write(f"{event.skipped} videos already in the output: skipped")
            return
        bar.set_postfix(ok=event.ok, errors=event.errors, refresh=False)
        bar.update(event.done - bar.n)

    return bar, update


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.1f}"
    elif isinstance(value, list):
        text = " ".join("#" + v for v in value) if value else "-"
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


_EXAMPLE_COLUMNS = (
    ("video_id", "video_id", 22),
    ("status", "status", 6),
    ("duration_seconds", "sec", 5),
    ("size", "size", 8),
    ("audio_loudness_lufs", "LUFS", 6),
    ("audio_tempo_bpm", "bpm", 6),
    ("sound", "sound (index match x speed)", 27),
    ("modalities", "embedded", 8),
    ("hashtags", "hashtags", 22),
    ("caption", "caption / error", 30),
)

_MASK_LETTERS = {"visual": "V", "caption": "C", "audio": "A", "sound": "S"}


def _modalities(mask: Any) -> str | None:
    if not mask:
        return None
    return "".join(letter if mask.get(name) else "." for name, letter in _MASK_LETTERS.items())


def _sound(row: dict[str, Any]) -> str | None:
    if row.get("sound_id"):
        speed = row.get("sound_speed")
        return f"{row['sound_id']} x{speed:.2f}" if speed else str(row["sound_id"])
    cluster = row.get("sound_cluster")
    return str(cluster) if cluster else None


def _check_engine(
    engine: str,
    output: Path,
    workers: int | None,
    preset: str,
    device: str,
    ray_address: str | None,
    actors: int | None,
    gpus_per_actor: float | None,
) -> float | None:
    """Refuse options that do not apply to the engine; returns the GPUs per actor to ask for."""
    if engine == "local":
        used = [name for name, value in (("--ray-address", ray_address), ("--actors", actors)) if value]
        if gpus_per_actor is not None:
            used.append("--gpus-per-actor")
        if used:
            raise click.UsageError(f"{', '.join(used)} only apply to --engine ray")
        if output.is_dir():
            raise click.UsageError(f"{str(output)!r} is a folder: the local engine writes one Parquet file")
        return None
    if workers:
        raise click.UsageError("--workers is for the local engine: Ray runs one decoding task per CPU")
    if preset == "none":
        raise click.UsageError("--engine ray runs the models: --preset none is for the local engine")
    if device not in ("auto", "cpu", "cuda"):
        raise click.UsageError(
            f"--engine ray: --device is auto, cpu or cuda (Ray assigns the GPUs), got {device!r}"
        )
    if device == "cpu":
        if gpus_per_actor:
            raise click.UsageError("--device cpu and --gpus-per-actor > 0 exclude each other")
        return 0.0
    if device == "cuda" and gpus_per_actor is None:
        return 1.0
    return gpus_per_actor


def format_summary(summary: EmbedSummary) -> str:
    """The human-readable report printed after a run."""
    lines = [
        f"{summary.found} videos found: {summary.processed} processed "
        f"({summary.ok} ok, {summary.errors} errors), {summary.skipped} already in the output",
        f"{summary.wall_seconds:.1f} s wall, {summary.videos_per_second:.2f} videos/s",
        f"output: {summary.output} ({summary.rows} rows)",
    ]
    if isinstance(summary, RayEmbedSummary):
        lines.append(
            f"ray: {summary.shards} shards in the folder ({summary.shards_written} written now), "
            f"{summary.actors} model actors x {summary.gpus_per_actor:g} GPU"
            + (f", {summary.lost} videos whose task always died" if summary.lost else "")
        )
    lines += summary.notes
    if summary.error_examples:
        lines.append("errors:")
        lines += [f"  {vid}: {message}" for vid, message in summary.error_examples]
        if summary.errors > len(summary.error_examples):
            lines.append(f"  ... {summary.errors - len(summary.error_examples)} more (status = 'error' rows)")
    if summary.examples and summary.examples[0].get("modality_mask") is not None:
        lines.append("embedded: V visual, C caption, A audio, S sound identity ('.' = missing, masked)")
    if summary.examples:
        lines.append("first rows:")
        lines.append("  " + " ".join(f"{title:<{width}}" for _, title, width in _EXAMPLE_COLUMNS).rstrip())
        for row in summary.examples:
            row = dict(row)
            if row.get("width") and row.get("height"):
                row["size"] = f"{row['width']}x{row['height']}"
            if row.get("status") == "error":
                row["caption"] = row.get("error")
            row["sound"] = _sound(row)
            row["modalities"] = _modalities(row.get("modality_mask"))
            cells = [f"{_cell(row.get(key), width):<{width}}" for key, _, width in _EXAMPLE_COLUMNS]
            lines.append("  " + " ".join(cells).rstrip())
    return "\n".join(lines)


@click.command("embed")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Parquet file to write (a folder of Parquet shards with --engine ray).",
)
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Decoding processes [default: CPUs, max 8].",
)
@click.option(
    "--ext",
    "extensions",
    multiple=True,
    metavar="EXT[,EXT...]",
    help="Only files with these extensions (repeatable) [default: every audio/video format reelsense reads].",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV/JSONL of captions (path or id, caption, timestamp, uploader).",
)
@click.option("--overwrite", is_flag=True, help="Discard an existing output and start over.")
@click.option("--retry-errors", is_flag=True, help="Recompute the rows whose status is 'error'.")
@click.option(
    "--limit-duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Analyse at most the first SECONDS of each file.",
)
@click.option(
    "--sample-rate",
    type=click.IntRange(1000, 384000),
    default=22050,
    show_default=True,
    help="Analysis rate (Hz).",
)
@click.option(
    "--flush-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per part file [default: 256], or per shard with --engine ray [default: 1024].",
)
@click.option(
    "--flush-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Write a part at least this often.",
)
@click.option(
    "--video-timeout",
    "video_timeout",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="Local engine: a video whose decoding and worker stages take longer is re-run alone, "
    "then written as an error row (its workers are restarted). 0: no limit.",
)
@click.option("--include-hidden", is_flag=True, help="Also walk dot-files and dot-folders.")
@click.option(
    "--preset",
    default="default",
    show_default=True,
    help="Models (reelsense.models presets: default, clip, siglip, tiny...); 'none' = no models, "
    "metadata and audio descriptors only.",
)
@click.option(
    "--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda[:N], mps."
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "fp16", "bf16"]),
    default="auto",
    show_default=True,
    help="auto = fp16 on CUDA, fp32 elsewhere.",
)
@click.option(
    "--frames",
    "frame_strategy",
    type=click.Choice(["keyframes", "scenes", "uniform", "count"]),
    default=None,
    help="Frame sampling [default: keyframes, at most 16 per video].",
)
@click.option(
    "--sound-index",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A sound index (reelsense sounds add), or a folder of reference sounds to index first: "
    "adds the best match (sound_id, sound_score, sound_offset_seconds, sound_speed...) and the "
    "sound-identity component of the embedding.",
)
@click.option(
    "--discover-sounds",
    is_flag=True,
    help="After the per-video pass, group the videos that share a sound (no library needed) "
    "into sound_cluster and fuse it into the embeddings.",
)
@click.option(
    "--embedding-dim", type=click.IntRange(8, 65536), default=512, show_default=True, help="Fused size."
)
@click.option("--frame-vectors", is_flag=True, help="Also store the per-frame vectors.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Frames per image-model pass [default: 8 on the CPU, 64 on CUDA].",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: worker processes and the models in this process, one Parquet file. ray: a Ray "
    "Data job (decoding tasks on CPUs, model actors on GPUs) writing a folder of shards "
    "(needs reelsense[ray]).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDR",
    help="--engine ray: the Ray cluster to join (e.g. ray://head:10001, auto) [default: start a local one].",
)
@click.option(
    "--actors",
    type=click.IntRange(min=1),
    default=None,
    help="--engine ray: model actors [default: one per GPU of the cluster, else 1].",
)
@click.option(
    "--gpus-per-actor",
    type=click.FloatRange(min=0),
    default=None,
    help="--engine ray: GPUs per model actor (fractions share a GPU) "
    "[default: 1 if the cluster has GPUs, else 0].",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar [default: when stderr is a terminal]."
)
def embed(
    inputs: tuple[Path, ...],
    output: Path,
    workers: int | None,
    extensions: tuple[str, ...],
    manifest: Path | None,
    overwrite: bool,
    retry_errors: bool,
    limit_duration: float | None,
    sample_rate: int,
    flush_rows: int,
    flush_seconds: float,
    video_timeout: float,
    include_hidden: bool,
    preset: str,
    device: str,
    precision: str,
    frame_strategy: str | None,
    sound_index: Path | None,
    discover_sounds: bool,
    embedding_dim: int,
    frame_vectors: bool,
    batch_size: int | None,
    engine: str,
    ray_address: str | None,
    actors: int | None,
    gpus_per_actor: float | None,
    progress: bool | None,
) -> None:
    """Describe and embed every video under INPUT... (files or folders, searched
    recursively) in one Parquet row each: media metadata, caption, hashtags and sidecar
    fields, audio descriptors, speech/music presence, the frame, caption and audio
    vectors, the sound match (with --sound-index) and the fused `embedding` with its
    `modality_mask`.

    Re-running with the same OUTPUT resumes: videos already there are skipped. Rows of
    files that cannot be decoded have status 'error' and the reason.

    With --engine ray, OUTPUT is a folder of Parquet shards with the same columns and
    metadata (read it as one table: pandas.read_parquet(OUTPUT)); Ray schedules the
    decoding and the model actors, and a re-run skips the videos already in the folder.
    """
    if overwrite and retry_errors:
        raise click.UsageError("--overwrite and --retry-errors exclude each other")
    if preset == "none" and (sound_index or discover_sounds or frame_vectors or frame_strategy):
        raise click.UsageError("--preset none computes no embedding: drop the embedding options")
    gpus_per_actor = _check_engine(
        engine, output, workers, preset, device, ray_address, actors, gpus_per_actor
    )
    if flush_rows is None:
        flush_rows = 1024 if engine == "ray" else 256
    try:
        options: dict[str, Any] = {"workers": workers} if workers else {}
        config = EmbedConfig(
            extensions=_split_extensions(extensions),
            include_hidden=include_hidden,
            manifest=str(manifest) if manifest else None,
            audio_sample_rate=sample_rate,
            limit_duration_seconds=limit_duration,
            flush_rows=flush_rows,
            flush_seconds=flush_seconds,
            video_timeout_seconds=video_timeout or None,
            overwrite=overwrite,
            retry_errors=retry_errors,
            **options,
        )
        bar, update = _progress_bar(progress)
        summary: EmbedSummary
        with bar, logging_redirect_tqdm():
            if engine == "ray":
                summary = embed_with_ray(
                    list(inputs),
                    output,
                    preset=preset,
                    config=config,
                    ray_address=ray_address,
                    actors=actors,
                    gpus_per_actor=gpus_per_actor,
                    precision=precision,
                    sound_index=sound_index,
                    discover_sounds=discover_sounds,
                    embedding_dim=embedding_dim,
                    frame_strategy=frame_strategy,
                    frame_vectors=frame_vectors,
                    batch_size=batch_size,
                    shard_rows=flush_rows,
                    progress=update,
                )
            elif preset == "none":
                summary = embed_videos(list(inputs), output, config, progress=update)
            else:
                summary = embed_corpus_from_options(
                    list(inputs),
                    output,
                    config,
                    preset=preset,
                    device=device,
                    precision=precision,
                    frame_strategy=frame_strategy,
                    sound_index=sound_index,
                    discover_sounds=discover_sounds,
                    embedding_dim=embedding_dim,
                    frame_vectors=frame_vectors,
                    batch_size=batch_size,
                    progress=update,
                )
    except ReelsenseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_summary(summary))
