"""``reelsense embed``: one Parquet row per video (parses options, calls :func:`reelsense.embed_corpus`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from reelsense._checks import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from reelsense.cli._common import (
    EXIT_FAILED,
    FiniteFloatRange,
    check_outputs,
    check_suffix,
    extensions_option,
    given_options,
    include_hidden_option,
    library_errors,
    min_score_option,
    on_interrupt,
    progress_option,
    quiet,
    resolve_second_chance_scope,
    resolve_workers,
    second_chance_scope_option,
    sound_index_option,
    split_extensions,
    strict_option,
    verbosity_options,
    workers_option,
)

if TYPE_CHECKING:
    from reelsense.pipeline import EmbedSummary, ProgressEvent

__all__ = ["embed", "format_summary"]

#: FeaturizerConfig fields -> the option that sets them (for messages)
_OPTION_OF = {
    "preset": "--preset",
    "frames": "--frames",
    "frame_vectors": "--frame-vectors",
    "sound_index": "--sound-index",
    "discover_sounds": "--discover-sounds",
    "second_chance": "--second-chance",
    "second_chance_scope": "--second-chance-scope",
    "min_score": "--min-score",
    "fusion": "--embedding-dim",
    "audio_sample_rate": "--sample-rate",
    "limit_duration_seconds": "--limit-duration",
    "presence": "--preset",
    "pooling": "--frames",
}


#: ``embed``'s options that only the models and the fused embedding use (refused with ``--preset none``)
_MODELS_ONLY = (
    "sound_index",
    "discover_sounds",
    "frame_vectors",
    "frames",
    "embedding_dim",
    "batch_size",
    "precision",
    "device",  # with --engine ray too: no model actor is started
    "actors",
    "gpus_per_actor",
)


def _progress_bar(enabled: bool | None) -> tuple[Any, Callable[[ProgressEvent], None]]:
    from tqdm import tqdm

    bar = tqdm(
        total=0,
        unit="video",
        dynamic_ncols=True,
        disable=None if enabled is None else not enabled,
        file=sys.stderr,
    )

    def update(event: ProgressEvent) -> None:
        if event.interrupted:  # the last event: the interrupt message says what it holds
            return
        if event.video_id is None:
            bar.reset(total=event.total)  # the skipped ones are counted once, in the summary
            return
        bar.set_postfix(ok=event.ok, errors=event.errors, refresh=False)
        bar.update(event.done - bar.n)

    return bar, update


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _rows(count: int) -> str:
    return f"{_count(count, 'row')} of this run {'was' if count == 1 else 'were'}"


def _interrupt_message(output: Path, event: ProgressEvent | None, *, overwrite: bool = False) -> str:
    """What ``embed`` says when interrupted: the rows of this run saved in or beside ``output``
    and how to resume. ``event``: the last progress event of the run (None: none came); the
    library sends one more when interrupted, after the writer wrote the rows it held (see
    :class:`~reelsense.pipeline.ProgressEvent`), so its ``saved`` is what the run kept."""
    where = repr(str(output))
    resume = "run the same command again to resume"
    if event is None:
        return f"no row of this run was saved (it stopped before any video was done); {resume}"
    if not event.interrupted:  # stopped after the job returned: its rows were all written
        if not event.done:
            return f"no row of this run was saved: nothing was left to compute in {where}"
        return f"{_rows(event.done)} saved in {where} (the job had finished)"
    lost = event.done - event.saved  # handed to the writer, whose last write failed
    if lost > 0:
        saved = (
            f"{_rows(event.saved)} saved in or beside {where}"
            if event.saved
            else "no row of this run was saved"
        )
        said = [f"{saved}: {_count(lost, 'finished row')} could not be written (see the warning above)"]
    elif event.saved:
        said = [f"{_rows(event.saved)} saved in or beside {where} (every row finished before the interrupt)"]
    else:
        said = ["no row of this run was saved yet (rows are saved after each model batch)"]
    if event.dropped is None:
        said.append("any videos still in the Ray pipeline (decoding, model actors) were dropped")
    elif event.dropped:
        verb = "was" if event.dropped == 1 else "were"
        said.append(f"{_count(event.dropped, 'video')} decoded but not yet embedded {verb} dropped")
    if overwrite and event.saved:
        resume = "--overwrite would start over: run the command again without it to resume from them"
    return "; ".join([*said, resume])


def _value(value: Any) -> str:
    """An option's value in a resume refusal: an absent one in words, a whole number as typed
    (``100000``, not ``100000.0``)."""
    if value is None:
        return "not given"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _resume_refusal(exc: Any) -> str:
    if exc.option == "learned_fusion":
        return (
            f"{exc.output}: its embeddings were re-fused with learned weights (reelsense fusion apply), "
            "new rows would not be; embed into another -o (or --overwrite), then fusion apply again"
        )
    from reelsense.featurize._config import DEFAULT_FRAME_STRATEGY, DEFAULT_MIN_SCORE

    option = _OPTION_OF.get(exc.option, exc.option)
    # options recorded only when not at their default are absent (None) at the default
    defaults = {
        "min_score": DEFAULT_MIN_SCORE,
        "second_chance": False,
        "second_chance_scope": "library",
        "frames": DEFAULT_FRAME_STRATEGY,
    }
    default = defaults.get(exc.option)
    before = default if exc.before is None else exc.before
    now = default if exc.now is None else exc.now
    if isinstance(before, bool) and isinstance(now, bool):
        said = f"{option} was used before" if before else f"{option} was not used before"
    elif exc.option == "fusion" and isinstance(before, dict) and isinstance(now, dict):
        said = f"{option} was {before.get('dim')} before (now {now.get('dim')})"
    elif exc.option == "manifest_sha256":
        said = (
            "--manifest was not used before"
            if before is None
            else ("--manifest was not given now" if now is None else "the --manifest file's content changed")
        )
    else:
        said = f"{option} was {_value(before)} before (now {_value(now)})"
    return f"{exc.output}: {said}; give the same options to resume, --overwrite to start over, or another -o"


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


def _error_lines(summary: EmbedSummary) -> list[str]:
    """The failed videos of a run (a few, then how many more)."""
    if not summary.error_examples:
        return []
    lines = ["errors:", *(f"  {vid}: {message}" for vid, message in summary.error_examples)]
    if summary.errors > len(summary.error_examples):
        lines.append(f"  ... {summary.errors - len(summary.error_examples)} more (status = 'error' rows)")
    return lines


def format_summary(summary: EmbedSummary) -> str:
    """The human-readable report printed after a run."""
    kept = ""
    if summary.kept_errors:
        kept = f" ({summary.kept_errors} of them errors: --retry-errors recomputes them)"
    lines = [
        f"{summary.found} videos found: {summary.processed} processed "
        f"({summary.ok} ok, {summary.errors} errors), {summary.skipped} already in the output{kept}",
        f"{summary.wall_seconds:.1f} s wall, {summary.videos_per_second:.2f} videos/s",
        f"output: {summary.output} ({summary.rows} rows)",
    ]
    if summary.ray is not None:
        ray = summary.ray
        lines.append(
            f"ray: {ray.shards} shards in the folder ({ray.shards_written} written now), "
            f"{ray.actors} model actors x {ray.gpus_per_actor:g} GPU"
            + (f", {ray.lost} videos whose task always died" if ray.lost else "")
        )
    lines += summary.notes
    lines += _error_lines(summary)
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
    help="Parquet file to write (.parquet); a folder of Parquet shards with --engine ray.",
)
@workers_option
@extensions_option
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV, JSON Lines or JSON array of captions (path or id, caption, timestamp, uploader).",
)
@click.option(
    "--overwrite", is_flag=True, help="Start over (the old output is replaced only when the new one is done)."
)
@click.option("--retry-errors", is_flag=True, help="Recompute the rows whose status is 'error'.")
@strict_option
@click.option(
    "--limit-duration",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Analyse at most the first SECONDS of each file.",
)
@click.option(
    "--sample-rate",
    type=click.IntRange(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE),
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
    type=FiniteFloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Write a part at least this often.",
)
@click.option(
    "--video-timeout",
    type=FiniteFloatRange(min=0),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="Local engine: a video whose decoding and worker stages take longer is re-run alone, "
    "then written as an error row (its workers are restarted). 0: no limit.",
)
@include_hidden_option
@click.option(
    "--preset",
    default="default",
    show_default=True,
    help="Models (default, clip, siglip, tiny...; see docs/models.md); 'none' = no models, "
    "metadata and audio descriptors only.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (cuda > mps > cpu), cpu, cuda[:N], mps; with --engine ray: auto, cpu or cuda "
    "(the model actors' GPUs: cpu 0, cuda 1 unless --gpus-per-actor).",
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
    type=click.Choice(["keyframes", "scenes", "uniform", "count"]),
    default=None,
    help="Frame sampling [default: keyframes, at most 16 per video].",
)
@sound_index_option(
    required=False,
    help="A sound index (reelsense sounds add), or a folder of reference sounds to index first: "
    "adds the best match (sound_id, sound_score, sound_offset_seconds, sound_speed...) and the "
    "sound-identity component of the embedding.",
)
@min_score_option
@click.option(
    "--second-chance",
    is_flag=True,
    help="With --sound-index: also run the dense second chance on videos the peak search leaves "
    "unmatched or weak (reverb + voice-over + noise), in the match and in --discover-sounds' library "
    "look-up, at a CPU cost per such video linear in the index's length, and between videos in "
    "--discover-sounds (about 3x the CPU of that pass).",
)
@second_chance_scope_option
@click.option(
    "--discover-sounds",
    is_flag=True,
    help="After the per-video pass, group the videos that share a sound (no library needed) "
    "into sound_cluster and fuse it into the embeddings.",
)
@click.option(
    "--embedding-dim", type=click.IntRange(8, 65536), default=1024, show_default=True, help="Fused size."
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
    help="--engine ray: model actors [default: one per GPU, else 1].",
)
@click.option(
    "--gpus-per-actor",
    type=FiniteFloatRange(min=0),
    default=None,
    help="--engine ray: GPUs per model actor (fractions share a GPU) "
    "[default: 1 if the cluster has GPUs, else 0].",
)
@progress_option
@verbosity_options
@click.pass_context
def embed(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    output: Path,
    workers: int | None,
    extensions: tuple[str, ...],
    manifest: Path | None,
    overwrite: bool,
    retry_errors: bool,
    strict: bool,
    limit_duration: float | None,
    sample_rate: int,
    flush_rows: int | None,
    flush_seconds: float,
    video_timeout: float,
    include_hidden: bool,
    preset: str,
    device: str,
    precision: str,
    frames: str | None,
    sound_index: Path | None,
    min_score: float,
    second_chance: bool,
    second_chance_scope: str | None,
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
    """Describe and embed every video under INPUTS (files or folders, searched
    recursively) in one Parquet row each: media metadata, caption, hashtags and sidecar
    fields, audio descriptors, speech/music presence, the frame, caption and audio
    vectors, the sound match (with --sound-index) and the fused `embedding` with its
    `modality_mask`. Rows are sorted by video_id (with --engine ray: within each shard).

    Re-running with the same OUTPUT resumes: videos already there are skipped. Rows of
    files that cannot be decoded have status 'error' and the reason (exit code 1).

    With --engine ray, OUTPUT is a folder of Parquet shards with the same columns and
    metadata (read it as one table: pyarrow.dataset.dataset(OUTPUT)). Each shard is sorted
    by video_id, the folder is not (shards are written as rows come back, a resume adds
    more): sort after reading (table.sort_by('video_id'), ORDER BY video_id).
    """
    from reelsense.errors import OutputError, ParameterError, ResumeMismatchError
    from reelsense.pipeline._writer import check_layout

    if overwrite and retry_errors:
        raise click.UsageError("--overwrite and --retry-errors exclude each other")
    try:  # an output of the other engine's layout (a folder for local, a file for Ray)
        check_layout(output, "file" if engine == "local" else "shards")
    except OutputError as exc:
        raise click.UsageError(str(exc)) from exc
    if engine == "local":
        used = given_options(ctx, ("ray_address", "actors", "gpus_per_actor"))
        if used:
            verb = "apply" if len(used) > 1 else "applies"
            raise click.UsageError(f"{', '.join(used)} only {verb} to --engine ray")
        check_suffix(output, (".parquet", ".pq"), "embed writes Parquet")
    else:
        local_only = given_options(ctx, ("workers", "video_timeout"))
        if local_only:
            verb = "apply" if len(local_only) > 1 else "applies"
            raise click.UsageError(
                f"{', '.join(local_only)} only {verb} to the local engine: Ray runs one decoding task "
                "per CPU and has no time limit per video (it retries a task that dies)"
            )
        if output.suffix.lower() in (".csv", ".json", ".jsonl", ".tsv", ".txt"):
            raise click.BadParameter(
                f"{str(output)!r}: --engine ray writes a folder of Parquet shards", param_hint="-o/--output"
            )
        from reelsense.pipeline._ray import actor_gpus

        try:  # the library's mapping of --device to GPUs per actor, checked before anything loads
            actor_gpus(device, gpus_per_actor)
        except ParameterError as exc:
            raise click.UsageError(f"--engine ray: --device / --gpus-per-actor: {exc}") from exc
    unused = given_options(ctx, _MODELS_ONLY) if preset == "none" else []
    if unused:
        raise click.UsageError(
            f"{', '.join(unused)}: --preset none computes no embedding (no model runs, nothing is "
            "fused), so these options would do nothing: leave them out (or name a preset with models)"
        )
    if second_chance and not sound_index:
        raise click.UsageError("--second-chance needs --sound-index (it is part of the sound match)")
    scope = resolve_second_chance_scope(second_chance, second_chance_scope)

    from tqdm.contrib.logging import logging_redirect_tqdm

    from reelsense.featurize import FeaturizerConfig, embed_corpus
    from reelsense.featurize._config import DEFAULT_MIN_SCORE
    from reelsense.fusion import FusionConfig
    from reelsense.pipeline import RunConfig

    given = click.get_current_context().get_parameter_source("min_score") is not ParameterSource.DEFAULT
    if (given or min_score != DEFAULT_MIN_SCORE) and not sound_index:
        raise click.UsageError("--min-score needs --sound-index (it is the sound match's lowest score)")

    try:
        config = FeaturizerConfig(
            preset=preset,
            device=device,
            precision=precision,  # type: ignore[arg-type]
            frames=frames,  # type: ignore[arg-type]
            frame_vectors=frame_vectors,
            batch_size=batch_size,
            sound_index=str(sound_index) if sound_index else None,
            second_chance=second_chance,
            second_chance_scope=scope,
            min_score=min_score,
            discover_sounds=discover_sounds,
            fusion=FusionConfig(dim=embedding_dim),
            audio_sample_rate=sample_rate,
            limit_duration_seconds=limit_duration,
        )
        run = RunConfig(
            workers=resolve_workers(workers),
            extensions=split_extensions(extensions),
            include_hidden=include_hidden,
            manifest=str(manifest) if manifest else None,
            flush_rows=flush_rows,
            flush_seconds=flush_seconds,
            video_timeout_seconds=video_timeout or None,
            overwrite=overwrite,
            retry_errors=retry_errors,
            strict=strict,
            ray_address=ray_address,
            ray_actors=actors,
            ray_gpus_per_actor=gpus_per_actor,
        )
    except ParameterError as exc:
        raise click.UsageError(str(exc)) from exc
    check_outputs(inputs, {"-o/--output": output})  # after every usage check: it creates the folder
    last: list[ProgressEvent] = []  # the run's last progress event, for the interrupt message
    on_interrupt(lambda: _interrupt_message(output, last[-1] if last else None, overwrite=overwrite))
    bar, draw = _progress_bar(progress)

    def update(event: ProgressEvent) -> None:
        last[:] = [event]
        draw(event)

    summary: EmbedSummary
    with library_errors():
        try:
            with bar, logging_redirect_tqdm():
                summary = embed_corpus(inputs, output, config, run, engine=engine, progress=update)  # type: ignore[arg-type]
        except ResumeMismatchError as exc:
            raise click.ClickException(_resume_refusal(exc)) from exc
    if quiet():  # errors only, on stderr
        if summary.error_examples:
            click.echo("\n".join(_error_lines(summary)), err=True)
    else:
        click.echo(format_summary(summary))
    if summary.errors:
        ctx.exit(EXIT_FAILED)
