"""``reelsense plot`` and the 2-D map functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from blocking import raised_without_blocking
from reelsense.cli import main
from reelsense.errors import ParameterError
from reelsense.featurize._plot import embedding_map, pca_2d, tsne_2d


def _clusters(rng: np.random.Generator, n_per: int = 12, dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(3, dim)) * 4
    labels = np.repeat(np.arange(3), n_per)
    return centres[labels] + rng.normal(size=(labels.size, dim)), labels


def _separation(points: np.ndarray, labels: np.ndarray) -> float:
    """Mean distance between cluster centres over the mean spread within clusters."""
    centres = np.stack([points[labels == k].mean(axis=0) for k in np.unique(labels)])
    spread = np.mean(
        [np.linalg.norm(points[labels == k] - centres[k], axis=1).mean() for k in np.unique(labels)]
    )
    between = np.mean([np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1 :]])
    return float(between / spread)


def test_maps_keep_clusters_apart_and_are_deterministic(rng: np.random.Generator) -> None:
    x, labels = _clusters(rng)
    tsne = tsne_2d(x, perplexity=8, steps=400)
    assert tsne.shape == (36, 2) and tsne.dtype == np.float64 and np.isfinite(tsne).all()
    assert _separation(tsne, labels) > 3.0
    np.testing.assert_array_equal(tsne, tsne_2d(x, perplexity=8, steps=400))  # same seed, same map
    pca = pca_2d(x)
    assert _separation(pca, labels) > 3.0
    points, method = embedding_map(x[:3])
    assert points.shape == (3, 2) and method == "t-SNE"
    with pytest.raises(ParameterError, match="steps=100"):
        tsne_2d(x, steps=100)


@pytest.mark.parametrize(("n", "dim"), [(2, 5), (3, 1), (40, 6), (300, 24)])
def test_pca_in_blocks_equals_the_svd_of_the_centred_matrix(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, n: int, dim: int
) -> None:
    """The covariance is summed over blocks of rows (7 here); the map is the SVD's, with the
    largest loading of each axis positive."""
    from reelsense.featurize import _plot

    monkeypatch.setattr(_plot, "_PCA_BLOCK_ROWS", 7)
    x = (rng.normal(size=(n, dim)) * np.linspace(3.0, 1.0, dim)).astype(np.float32)
    centred = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][: min(2, n - 1, dim)]
    axes *= np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])[:, None]
    expected = np.zeros((n, 2))
    expected[:, : len(axes)] = centred @ axes.T
    np.testing.assert_allclose(pca_2d(x), expected, atol=1e-9)


def test_tsne_uses_cosine_geometry_and_caps_the_perplexity(rng: np.random.Generator) -> None:
    """Rows are L2-normalised first (a video's scale does not move it), and a perplexity
    above what a few points allow is lowered instead of refused."""
    x, _ = _clusters(rng, n_per=3)  # 9 points: perplexity 30 is capped at 8 / 3
    scaled = x * 2.0 ** rng.integers(-3, 4, size=(x.shape[0], 1))  # powers of 2: exact in floats
    tsne = tsne_2d(x)
    assert tsne.shape == (9, 2) and np.isfinite(tsne).all()
    np.testing.assert_array_equal(tsne_2d(scaled), tsne)


def test_vectors_that_point_one_way_map_to_one_point() -> None:
    """Scaled copies of one vector (one picture in every video) map to the origin. scikit-learn's
    t-SNE crashes the process on them (SIGSEGV), so the map is drawn in a child process."""
    code = (
        "import numpy as np; from reelsense.featurize._plot import tsne_2d; "
        "print(np.abs(tsne_2d(np.outer([1.0, 2.0, 3.0, 4.0, 5.0], np.ones(8)))).max())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "0.0", (done.returncode, done.stderr[-500:])


def test_auto_switches_to_pca_above_the_tsne_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import reelsense.featurize._plot as plot

    monkeypatch.setattr(plot, "TSNE_MAX_POINTS", 10)
    x = np.random.default_rng(0).normal(size=(11, 8))
    points, method = plot.embedding_map(x)
    assert method == "PCA" and np.array_equal(points, pca_2d(x))
    assert plot.embedding_map(x[:10])[1] == "t-SNE"


def _write_embeddings(path: Path, rng: np.random.Generator) -> None:
    x, labels = _clusters(rng, dim=16)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sounds = [["trend", "calm", None][k] for k in labels]
    clusters = [None if s else f"discovered:v{k}" for s, k in zip(sounds, labels, strict=True)]
    table = pa.table(
        {
            "video_id": [f"v{i}" for i in range(len(labels))] + ["bad"],
            "status": ["ok"] * len(labels) + ["error"],
            "embedding": pa.array([*list(x.astype(np.float32)), None], pa.list_(pa.float32(), 16)),
            "sound_id": [*sounds, None],
            "sound_cluster": [*clusters, None],
            "uploader": [f"u{i % 4}" for i in range(len(labels))] + [None],
        }
    )
    pq.write_table(table, path)


def test_plot_cli_writes_a_png(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "e.parquet"
    _write_embeddings(data, rng)
    out = tmp_path / "map.png"
    result = CliRunner().invoke(main, ["plot", str(data), "-o", str(out), "--color-by", "sound"])
    assert result.exit_code == 0, result.output
    assert "36 videos, t-SNE, 3 sound labels" in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    again = tmp_path / "again.png"
    result = CliRunner().invoke(main, ["plot", str(data), "-o", str(again), "--color-by", "sound"])
    assert result.exit_code == 0 and again.read_bytes() == out.read_bytes()  # the same map, pixel for pixel
    out2 = tmp_path / "u.png"
    result = CliRunner().invoke(
        main, ["plot", str(data), "-o", str(out2), "--color-by", "uploader", "--method", "pca", "--progress"]
    )
    assert result.exit_code == 0 and "PCA, 4 uploader labels" in result.output
    assert all(stage in result.stderr for stage in ("read", "map", "draw"))  # the progress bars


def test_plot_says_how_many_rows_it_left_out(tmp_path: Path, rng: np.random.Generator) -> None:
    # rows without a finite vector (a failed row, a NaN vector) were dropped silently: a file of
    # 240 rows, 235 with NaN vectors, gave "wrote map.png: 5 videos, t-SNE, ..." and nothing else
    x = rng.normal(size=(6, 4)).astype(np.float32)
    x[2, 1] = np.nan
    data = tmp_path / "e.parquet"
    vectors = pa.array([*list(x), None], pa.list_(pa.float32(), 4))
    pq.write_table(pa.table({"video_id": list("abcdefg"), "visual_vector": vectors}), data)
    out = tmp_path / "m.png"
    args = ["plot", str(data), "-o", str(out), "--column", "visual_vector", "--method", "pca"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "5 videos, PCA, 0 sound labels; 2 of 7 rows left out" in result.output  # no sound_id column
    assert "without a finite 'visual_vector'" in result.output


@pytest.mark.parametrize(
    ("sounds", "color_by", "summary", "count"),
    [
        (["a", "a", "b", "b", None, None], "sound", "6 videos, PCA, 2 sound labels", 2),
        (["a", "a", "a", None, None, None], "sound", "6 videos, PCA, 1 sound label\n", 1),
        ([None] * 6, "sound", "6 videos, PCA, 0 sound labels", 0),
        ([None] * 6, "cluster", "6 videos, PCA, 0 cluster labels", 0),
    ],
)
def test_plot_counts_labels_without_the_no_label_placeholder(
    tmp_path: Path,
    rng: np.random.Generator,
    sounds: list[str | None],
    color_by: str,
    summary: str,
    count: int,
) -> None:
    # the README quick start's output (2 sounds, unmatched videos) said "3 sound labels", and a
    # file where no video had a sound "1 sound labels": "no sound identified" was counted as one
    from reelsense.featurize import plot_embeddings

    data = tmp_path / "e.parquet"
    vectors = pa.array(list(rng.normal(size=(6, 4)).astype(np.float32)), pa.list_(pa.float32(), 4))
    pq.write_table(pa.table({"video_id": list("abcdef"), "embedding": vectors, "sound_id": sounds}), data)
    args = ["plot", str(data), "-o", str(tmp_path / "m.png"), "--method", "pca", "--color-by", color_by]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert summary in result.output
    info = plot_embeddings(data, tmp_path / "m2.png", color_by=color_by, method="pca")  # type: ignore[arg-type]
    assert info["labels"] == count


def test_plot_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    # `reelsense plot pipe.parquet` blocked in open() until a writer came, and the CLI's
    # SIGTERM handler kept `timeout` from stopping it
    from reelsense.errors import OutputError
    from reelsense.featurize import plot_embeddings

    fifo = tmp_path / "pipe.parquet"
    os.mkfifo(fifo)
    error = raised_without_blocking(lambda: plot_embeddings(fifo, tmp_path / "m.png"), OutputError)
    assert "is a FIFO (named pipe), not a regular file" in str(error)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"color_by": "mood"}, "color_by='mood' must be one of sound, cluster, uploader"),
     ({"method": "umap"}, "method='umap' must be one of auto, tsne, pca")],
)  # fmt: skip
def test_plot_embeddings_refuses_bad_options_before_any_work(
    tmp_path: Path, rng: np.random.Generator, kwargs: dict[str, str], message: str
) -> None:
    # color_by was checked when the map was drawn: after the file was read and its t-SNE map
    # made (minutes for 4000 videos); method after the read
    from reelsense.featurize import plot_embeddings

    data = tmp_path / "e.parquet"
    _write_embeddings(data, rng)
    calls: list[str] = []
    with pytest.raises(ParameterError, match=message):
        plot_embeddings(data, tmp_path / "m.png", progress=lambda stage, *_: calls.append(stage), **kwargs)  # type: ignore[arg-type]
    assert calls == [] and not (tmp_path / "m.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--column", "nope"], "no 'nope' column"), (["--color-by", "mood"], "Invalid value")],
)
def test_plot_cli_errors(tmp_path: Path, rng: np.random.Generator, args: list[str], message: str) -> None:
    data = tmp_path / "e.parquet"
    _write_embeddings(data, rng)
    result = CliRunner().invoke(main, ["plot", str(data), "-o", str(tmp_path / "m.png"), *args])
    assert result.exit_code != 0 and message in result.output
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    result = CliRunner().invoke(main, ["plot", str(not_parquet), "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 1 and "cannot read" in result.output


def test_progress_reports_each_stage_as_it_starts_and_ends(tmp_path: Path, rng: np.random.Generator) -> None:
    """The calls 57b8822 made (its own step helper), in the same order; a stage that fails
    reports its start only."""
    from reelsense.errors import OutputError
    from reelsense.featurize import plot_embeddings

    data = tmp_path / "e.parquet"
    _write_embeddings(data, rng)
    calls: list[tuple[str, int, int]] = []

    def progress(stage: str, done: int, total: int) -> None:
        calls.append((stage, done, total))

    plot_embeddings(data, tmp_path / "m.png", method="pca", progress=progress)
    assert calls == [(stage, done, 1) for stage in ("read", "map", "draw") for done in (0, 1)]
    calls.clear()
    one = tmp_path / "one.parquet"
    pq.write_table(pa.table({"embedding": pa.array([[1.0, 0.0]], pa.list_(pa.float32(), 2))}), one)
    with pytest.raises(OutputError, match="fewer than 2 rows"):
        plot_embeddings(one, tmp_path / "m.png", progress=progress)
    assert calls == [("read", 0, 1)]


@pytest.mark.parametrize(
    ("name", "magic"),
    [
        ("map.jpg", b"\xff\xd8\xff"),
        ("map.JPEG", b"\xff\xd8\xff"),
        ("map.svg", b"<?xml"),
        ("map.pdf", b"%PDF"),
    ],
)
def test_plot_writes_the_format_its_suffix_names(
    tmp_path: Path, rng: np.random.Generator, name: str, magic: bytes
) -> None:
    """plot_embeddings(..., "map.jpg") wrote PNG bytes under a .jpg name."""
    from reelsense.featurize import plot_embeddings

    data = tmp_path / "e.parquet"
    _write_embeddings(data, rng)
    out = tmp_path / name
    plot_embeddings(data, out, method="pca")
    assert out.read_bytes().startswith(magic)
    cli_out = tmp_path / f"cli-{name}"
    result = CliRunner().invoke(main, ["plot", str(data), "-o", str(cli_out), "--method", "pca"])
    assert result.exit_code == 0, result.output
    assert cli_out.read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["map.gif", "map", "map.png.txt"])
def test_plot_refuses_a_suffix_of_no_format_it_writes(
    tmp_path: Path, rng: np.random.Generator, name: str
) -> None:
    from reelsense.featurize import plot_embeddings

    data = tmp_path / "e.parquet"
    _write_embeddings(data, rng)
    out = tmp_path / name
    calls: list[str] = []
    expected = r"must end in \.png, \.jpg, \.jpeg, \.svg or \.pdf"
    with pytest.raises(ParameterError, match=rf"output='.*{name}' {expected}"):
        plot_embeddings(data, out, progress=lambda stage, *_: calls.append(stage))
    assert calls == [] and not out.exists()
    result = CliRunner().invoke(main, ["plot", str(data), "-o", str(out)])
    assert result.exit_code == 2 and "give a path ending in .png or .jpg" in result.output, result.output
    assert not out.exists()
