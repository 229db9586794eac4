"""A 2-D map of video embeddings (PCA or t-SNE), saved as an image (PNG, JPEG, SVG or PDF, as the
output's suffix says: :data:`PLOT_FORMATS`).

t-SNE is scikit-learn's :class:`sklearn.manifold.TSNE` (Barnes-Hut, ``O(n log n)``) on
L2-normalised rows, so distances follow cosine similarity. It starts from the PCA map with a
fixed seed, so the same vectors give the same map. ``auto`` uses t-SNE up to
:data:`TSNE_MAX_POINTS` videos and PCA above (``method="tsne"`` draws larger maps too, slowly).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pyarrow.parquet as pq

from reelsense._checks import check_choice, check_outputs_apart, check_path
from reelsense._progress import ProgressCallback, stage
from reelsense.errors import OutputError, ParameterError
from reelsense.featurize._fusion_stage import vectors_from_arrow
from reelsense.io._files import regular_file_size, replacing

__all__ = [
    "PLOT_FORMATS",
    "TSNE_MAX_POINTS",
    "ColorBy",
    "MapMethod",
    "embedding_map",
    "pca_2d",
    "plot_embeddings",
    "tsne_2d",
]

TSNE_MAX_POINTS = 4000
ColorBy = Literal["sound", "cluster", "uploader"]
MapMethod = Literal["auto", "tsne", "pca"]
_MAX_COLOURS = 20
#: The formats :func:`plot_embeddings` writes, by the output's suffix (any case), as matplotlib names them.
PLOT_FORMATS: dict[str, str] = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg", ".pdf": "pdf"}


#: rows per block of :func:`pca_2d` (its float64 working copy is one block, not the matrix)
_PCA_BLOCK_ROWS = 8192


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of ``vectors [n, d]`` -> float64 ``[n, 2]``
    (signs fixed so the largest loading is positive: deterministic).

    From the ``[d, d]`` covariance, summed over blocks of rows, so that the memory it adds
    to the input's is ``O(d^2)`` and one block, not a float64 copy of the whole matrix."""
    x = np.asarray(vectors)
    n = x.shape[0]
    if n < 2:
        return np.zeros((n, 2))
    mean = x.mean(axis=0, dtype=np.float64)
    blocks = [slice(start, start + _PCA_BLOCK_ROWS) for start in range(0, n, _PCA_BLOCK_ROWS)]
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for rows in blocks:
        centred = x[rows].astype(np.float64) - mean
        scatter += centred.T @ centred
    _, eigenvectors = np.linalg.eigh(scatter)  # ascending eigenvalues
    axes = eigenvectors[:, ::-1][:, : min(2, n - 1)].T
    signs = np.sign(axes[np.arange(axes.shape[0]), np.argmax(np.abs(axes), axis=1)])
    axes = axes * signs[:, None]
    out = np.zeros((n, 2))
    for rows in blocks:
        out[rows, : axes.shape[0]] = (x[rows].astype(np.float64) - mean) @ axes.T
    return out


def tsne_2d(vectors: np.ndarray, *, perplexity: float = 30.0, steps: int = 750) -> np.ndarray:
    """t-SNE of ``vectors [n, d]`` (cosine geometry: rows are L2-normalised) -> float64
    ``[n, 2]``, by scikit-learn's Barnes-Hut t-SNE from the PCA map. ``perplexity`` is
    capped at ``(n - 1) / 3`` for small inputs; ``steps`` gradient steps (at least 250, the
    early exaggeration phase). The same vectors give the same map. Fewer than 4 vectors:
    their PCA map. Vectors that all point the same way: every point at the origin (t-SNE's
    PCA start has no spread to scale then)."""
    x = np.asarray(vectors, dtype=np.float64)
    n = x.shape[0]
    if n < 4:
        return pca_2d(x)
    if steps < 250:
        raise ParameterError(f"steps={steps} must be >= 250 (the early exaggeration phase)")
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if not np.any(np.ptp(x, axis=0) > 1e-9):  # scikit-learn divides its start by a zero spread
        return np.zeros((n, 2))
    tsne = TSNE(
        n_components=2,
        perplexity=min(perplexity, (n - 1) / 3.0),
        max_iter=steps,
        init="pca",
        learning_rate="auto",
        random_state=0,  # the PCA start's randomized solver; nothing else is random
    )
    # One OpenMP thread: each of the gradient steps is a few short parallel loops, which stall
    # when another process holds a CPU; the map is the same with any number of threads.
    with threadpool_limits(limits=1, user_api="openmp"):
        return np.asarray(tsne.fit_transform(x), dtype=np.float64)


def embedding_map(vectors: np.ndarray, method: MapMethod = "auto") -> tuple[np.ndarray, str]:
    """2-D coordinates ``[n, 2]`` and the method used (``auto``: t-SNE up to
    :data:`TSNE_MAX_POINTS` points, else PCA)."""
    check_choice(method, "method", get_args(MapMethod))
    if method == "auto":
        method = "tsne" if vectors.shape[0] <= TSNE_MAX_POINTS else "pca"
    if method == "tsne":
        return tsne_2d(vectors), "t-SNE"
    return pca_2d(vectors), "PCA"


#: What a video without a label is drawn as (grey, and not counted as a label).
_NO_LABEL = {"sound": "no sound identified", "cluster": "no shared sound", "uploader": "unknown uploader"}


def _labels(columns: dict[str, list[object]], color_by: ColorBy, n: int) -> list[str]:
    def get(name: str) -> list[object]:
        return columns.get(name) or [None] * n

    if color_by == "sound":
        ids, clusters = get("sound_id"), get("sound_cluster")
        return [str(s or c or _NO_LABEL["sound"]) for s, c in zip(ids, clusters, strict=True)]
    if color_by == "cluster":
        return [str(c or _NO_LABEL["cluster"]) for c in get("sound_cluster")]
    check_choice(color_by, "color_by", get_args(ColorBy))
    return [str(u or _NO_LABEL["uploader"]) for u in get("uploader")]


def plot_embeddings(
    parquet_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    color_by: ColorBy = "sound",
    column: str = "embedding",
    method: MapMethod = "auto",
    title: str | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    """Draw the ``column`` vectors of a ``reelsense embed`` output as a 2-D map coloured by
    ``color_by`` and save it at ``output`` in the format its suffix names (:data:`PLOT_FORMATS`:
    ``.png``, ``.jpg``/``.jpeg``, ``.svg``, ``.pdf``; another suffix, or none, is a
    ParameterError). The 20 most frequent labels get a
    colour and a legend entry (with counts); the rest, and videos without a label, are grey.
    The same file gives the same map.

    Rows without a finite vector (failed rows, null or NaN vectors) are left out: ``points``
    counts the rows drawn, ``left_out`` the others.

    Returns ``{"points", "left_out", "method", "labels", "output"}`` (``labels``: how many
    distinct labels the drawn videos have, not counting "no label"). Raises OutputError for an
    unreadable file, a missing column or an ``output`` that is the input file, ParameterError
    for bad options (before anything is read). ``progress(stage, done, total)`` is called as
    each stage (``"read"``, ``"map"``, ``"draw"``) starts (done 0 of 1) and ends (1 of 1).
    """

    check_choice(color_by, "color_by", get_args(ColorBy))
    check_choice(method, "method", get_args(MapMethod))
    check_outputs_apart({"output": output}, (parquet_path,))  # the input named first, whatever its suffix
    image_format = _image_format(output)
    try:
        regular_file_size(parquet_path)  # a FIFO would block the open
        parquet = pq.ParquetFile(parquet_path)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {os.fspath(parquet_path)!r} as Parquet: {exc}") from exc
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = parquet.schema_arrow.names
    if column not in names:
        raise OutputError(
            f"{os.fspath(parquet_path)!r} has no {column!r} column (columns: {', '.join(names)})"
        )
    wanted = [c for c in ("video_id", column, "sound_id", "sound_cluster", "uploader") if c in names]
    with stage(progress, "read"):
        table = parquet.read(columns=wanted)
        vectors = vectors_from_arrow(table[column], f"column {column!r} of {os.fspath(parquet_path)!r}")
        keep = np.isfinite(vectors).all(axis=1)
        if keep.sum() < 2:
            raise OutputError(f"{os.fspath(parquet_path)!r} has fewer than 2 rows with a {column!r}")
        columns = {
            c: [v for v, k in zip(table[c].to_pylist(), keep, strict=True) if k]
            for c in wanted
            if c != column
        }
    with stage(progress, "map"):
        points, used = embedding_map(vectors[keep], method)
    with stage(progress, "draw"):
        labels = _labels(columns, color_by, int(keep.sum()))
        title = title or f"{int(keep.sum())} videos, {column}, {used}"
        _draw(plt, points, labels, color_by, title, output, image_format)
    return {
        "points": int(keep.sum()),
        "left_out": int(keep.size - keep.sum()),
        "method": used,
        "labels": len(set(labels).difference(_NO_LABEL.values())),
        "output": os.fspath(output),
    }


def _image_format(output: object) -> str:
    """The format (:data:`PLOT_FORMATS`) ``output``'s suffix names; ParameterError for another."""
    path = check_path(output, "output")
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_FORMATS:
        *first, last = PLOT_FORMATS
        raise ParameterError(
            f"output={os.fspath(path)!r} must end in {', '.join(first)} or {last}: the suffix says the format"
        )
    return PLOT_FORMATS[suffix]


def _draw(
    plt: object,
    points: np.ndarray,
    labels: Sequence[str],
    color_by: str,
    title: str,
    output: object,
    image_format: str,
) -> None:
    counts = Counter(labels)
    missing = set(_NO_LABEL.values())
    ranked = [label for label, _ in counts.most_common() if label not in missing]
    coloured = ranked[:_MAX_COLOURS]
    cmap = plt.get_cmap("tab20" if len(coloured) > 10 else "tab10")  # type: ignore[attr-defined]
    fig, ax = plt.subplots(figsize=(10, 7.5), dpi=110)  # type: ignore[attr-defined]
    lab = np.asarray(labels, dtype=object)
    none = np.isin(lab, list(missing))
    other = ~np.isin(lab, coloured) & ~none
    if other.any():
        ax.scatter(
            points[other, 0],
            points[other, 1],
            s=16,
            c="#b0b0b0",
            lw=0,
            label=f"{len(ranked) - len(coloured)} smaller groups: {int(other.sum())}",
        )
    if none.any():
        ax.scatter(
            points[none, 0],
            points[none, 1],
            s=14,
            c="#909090",
            marker="x",
            linewidths=0.8,
            label=f"{next(m for m in missing if m in counts)}: {int(none.sum())}",
        )
    for k, label in enumerate(coloured):
        sel = lab == label
        ax.scatter(
            points[sel, 0],
            points[sel, 1],
            s=30,
            color=cmap(k % cmap.N),
            label=f"{label} ({int(sel.sum())})",
            edgecolors="white",
            linewidths=0.4,
        )
    ax.set_title(f"{title}, coloured by {color_by}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, title=color_by)
    fig.tight_layout()
    path = Path(str(output))
    try:
        with replacing(path) as tmp:
            fig.savefig(tmp, format=image_format)
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {exc}") from exc
    finally:
        plt.close(fig)  # type: ignore[attr-defined]
