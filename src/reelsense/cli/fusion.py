"""``reelsense fusion train`` / ``apply``: fusion weights learned from co-engagement."""

from __future__ import annotations

from pathlib import Path

import click

from reelsense.cli._common import (
    check_outputs,
    check_suffix,
    echo_summary,
    library_errors,
    progress_option,
    stage_bars,
    verbosity_options,
)

__all__ = ["fusion"]

_IN = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("fusion")
@verbosity_options
def fusion() -> None:
    """Learn the fusion weights from what viewers did, and re-fuse an output with them.

    The fixed weights of `reelsense embed` stay the default (docs/ranking.md#learned-fusion).
    """


@fusion.command("train")
@click.argument("embeddings", type=_IN)
@click.option(
    "--events", required=True, type=_IN, help="user_id,video_id,timestamp,event,watch_fraction (CSV/Parquet)."
)
@click.option(
    "--users", type=_IN, help="user_id,request_time (CSV/Parquet): learn only from events before them."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON to write."
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seeds the pair sample."
)
@progress_option
@verbosity_options
def train(
    embeddings: Path, events: Path, users: Path | None, output: Path, seed: int, progress: bool | None
) -> None:
    """Learn fusion weights (visual, caption, audio, sound, picture) from EVENTS over the
    videos of EMBEDDINGS (co-liked videos together, liked and 'not interested' apart)."""
    from reelsense.rank import train_fusion_file

    check_suffix(output, (".json",), "fusion train writes JSON")
    check_outputs([embeddings, events, *([users] if users else [])], {"-o/--output": output})
    with library_errors(), stage_bars(progress, unit="step", units={"components": "video"}) as bars:
        learned = train_fusion_file(embeddings, events, output, users=users, seed=seed, progress=bars)
    c = learned.config
    echo_summary(
        f"wrote {output}: weights visual {c.visual_weight:.3f}, caption {c.caption_weight:.3f}, "
        f"audio {c.audio_weight:.3f}, sound {c.sound_weight:.3f}, picture {c.picture_weight:.3f} "
        f"from {learned.together_pairs} together / "
        f"{learned.apart_pairs} apart pairs (balanced accuracy {learned.accuracy_before:.3f} -> "
        f"{learned.accuracy_after:.3f})"
    )


@fusion.command("apply")
@click.argument("embeddings", type=_IN)
@click.option("--weights", required=True, type=_IN, help="JSON from `reelsense fusion train`.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Parquet to write."
)
@progress_option
@verbosity_options
def apply(embeddings: Path, weights: Path, output: Path, progress: bool | None) -> None:
    """Write a copy of EMBEDDINGS fused with the learned weights (metadata records them)."""
    from reelsense.rank import apply_fusion_file

    check_suffix(output, (".parquet",), "fusion apply writes Parquet")
    check_outputs([embeddings, weights], {"-o/--output": output})
    with library_errors(), stage_bars(progress) as bars:
        rows = apply_fusion_file(embeddings, weights, output, progress=bars)
    echo_summary(f"wrote {output}: {rows} rows")
