"""``reelsense plot``: a 2-D map of the embeddings of a ``reelsense embed`` output (PNG, JPEG, SVG
or PDF)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

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

__all__ = ["plot"]


@click.command("plot")
@click.argument("embeddings", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Image to write: .png, .jpg/.jpeg, .svg or .pdf (the suffix says the format).",
)
@click.option(
    "--color-by",
    type=click.Choice(["sound", "cluster", "uploader"]),
    default="sound",
    show_default=True,
    help="sound: index match, else discovered cluster; cluster: discovered cluster; uploader.",
)
@click.option("--column", default="embedding", show_default=True, help="Vector column (e.g. visual_vector).")
@click.option(
    "--method",
    type=click.Choice(["auto", "tsne", "pca"]),
    default="auto",
    show_default=True,
    help="auto: t-SNE up to 4000 videos, PCA above.",
)
@progress_option
@verbosity_options
def plot(
    embeddings: Path, output: Path, color_by: str, column: str, method: str, progress: bool | None
) -> None:
    """Draw the videos of EMBEDDINGS (a Parquet file written by `reelsense embed`) as a
    2-D map coloured by their sound, discovered cluster or uploader, and save it as an image
    (PNG, JPEG, SVG or PDF, as the suffix of -o says)."""
    from reelsense.featurize import plot_embeddings
    from reelsense.featurize._plot import PLOT_FORMATS

    check_suffix(output, tuple(PLOT_FORMATS), "plot writes PNG, JPEG, SVG or PDF, as the suffix says")
    check_outputs([embeddings], {"-o/--output": output})
    with library_errors(), stage_bars(progress, unit="step") as bars:
        info = plot_embeddings(
            embeddings,
            output,
            color_by=color_by,  # type: ignore[arg-type]
            column=column,
            method=method,  # type: ignore[arg-type]
            progress=bars,
        )
    labels = f"{info['labels']} {color_by} label{'' if info['labels'] == 1 else 's'}"
    drawn, left_out = cast(int, info["points"]), cast(int, info["left_out"])
    note = f"; {left_out} of {drawn + left_out} rows left out, without a finite {column!r}"
    note = note if left_out else ""
    echo_summary(f"wrote {info['output']}: {drawn} videos, {info['method']}, {labels}{note}")
