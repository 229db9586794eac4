"""reelsense.rank's content features: k-means with restarts, maps of ensemble members."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_sim import simulate
from reelsense.errors import ParameterError
from reelsense.rank import FeatureConfig, _features, fit_features
from reelsense.rank._features import kmeans


def _inertia(x: np.ndarray, centres: np.ndarray) -> float:
    return float(((x[:, None, :] - centres[None]) ** 2).sum(axis=2).min(axis=1).sum())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(3, 60),
    k=st.integers(2, 8),
    restarts=st.integers(2, 6),
)
def test_restarts_keep_the_tightest_partition(seed: int, n: int, k: int, restarts: int) -> None:
    """The first restart is the single run, so restarts never loosen the partition; the
    result is deterministic and has min(k, n) centres."""
    x = np.random.default_rng(seed).normal(size=(n, 3))
    one = kmeans(x, k, seed=seed)
    many = kmeans(x, k, seed=seed, restarts=restarts)
    assert many.shape == one.shape == (min(k, n), 3)
    assert _inertia(x, many) <= _inertia(x, one) + 1e-9
    np.testing.assert_array_equal(many, kmeans(x, k, seed=seed, restarts=restarts))


def test_restarts_escape_a_poor_seeding() -> None:
    """Four well-separated blobs of very unequal sizes: some single seedings put two centres
    in one blob; ten restarts find one centre per blob."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    x = np.concatenate(
        [c + 0.3 * rng.normal(size=(m, 2)) for c, m in zip(centres, (200, 5, 5, 5), strict=True)]
    )
    best = _inertia(x, centres)
    singles = [_inertia(x, kmeans(x, 4, seed=s)) for s in range(20)]
    assert max(singles) > 2 * best  # the premise: a single run can go wrong here
    for s in range(20):
        assert _inertia(x, kmeans(x, 4, seed=s, restarts=10)) < 1.2 * best


def _lloyd_add_at(x: np.ndarray, sq: np.ndarray, c: np.ndarray, iterations: int) -> np.ndarray:
    """Lloyd iterations summing each cluster's rows with ``np.add.at`` (the earlier way)."""
    k = c.shape[0]
    for _ in range(iterations):
        label = np.argmin(sq[:, None] - 2 * x @ c.T + (c**2).sum(axis=1)[None, :], axis=1)
        counts = np.bincount(label, minlength=k)
        sums = np.zeros_like(c)
        np.add.at(sums, label, x)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], c)
        if np.allclose(moved, c):
            break
        c = moved
    return c


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 300), d=st.integers(1, 12), k=st.integers(2, 16))
def test_cluster_sums_by_bincount_are_those_of_add_at(seed: int, n: int, d: int, k: int) -> None:
    """The centroids are bit for bit those of summing the rows with ``np.add.at``."""
    x = np.random.default_rng(seed).normal(size=(n, d)) * 10.0 ** np.random.default_rng(seed).integers(-3, 4)
    ours = kmeans(x, k, seed=seed, restarts=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_features, "_lloyd", _lloyd_add_at)
        reference = kmeans(x, k, seed=seed, restarts=2)
    assert ours.tobytes() == reference.tobytes()


def test_a_member_map_fitted_like_another_is_the_map_fitted_anew() -> None:
    """``like=`` reuses the first member's projections and vocabularies: the map, its
    coordinates and its features are bit for bit those of fitting without it."""
    catalog = simulate(0, n_videos=120, n_users=5, shown=5).catalog
    config = FeatureConfig(cluster_sizes=(4, 8), max_vocabulary=16)
    first = fit_features(catalog, config)
    other = dataclasses.replace(config, seed=1)
    anew, like = fit_features(catalog, other), fit_features(catalog, other, like=first)
    assert like.arrays().keys() == anew.arrays().keys()
    for name, array in anew.arrays().items():
        assert like.arrays()[name].tobytes() == array.tobytes(), name
    assert like.vocabularies() == anew.vocabularies()
    assert like.same_projections(first) and anew.same_projections(first)
    assert not np.array_equal(like.centroids["visual"][0], first.centroids["visual"][0])
    shared = like.transform(catalog, coordinates=first.coordinates(catalog))
    assert shared.tobytes() == anew.transform(catalog).tobytes()


def test_like_of_another_config_is_refused() -> None:
    catalog = simulate(0, n_videos=40, n_users=5, shown=5).catalog
    first = fit_features(catalog, FeatureConfig(cluster_sizes=(4,)))
    with pytest.raises(ParameterError, match="more than the seed"):
        fit_features(catalog, FeatureConfig(cluster_sizes=(4,), components=8, seed=1), like=first)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"components": 2.5}, r"components=2\.5 must be an integer, got float"),
        ({"components": True}, r"components=True must be an integer, got bool"),
        ({"kmeans_restarts": float("nan")}, r"kmeans_restarts=nan must be an integer, got float"),
        ({"min_videos": 1.5}, r"min_videos=1\.5 must be an integer, got float"),
        ({"max_vocabulary": 12.5}, r"max_vocabulary=12\.5 must be an integer, got float"),
        ({"max_sounds": True}, r"max_sounds=True must be an integer, got bool"),
        ({"max_fit_videos": float("nan")}, r"max_fit_videos=nan must be an integer, got float"),
        ({"seed": 0.5}, r"seed=0\.5 must be an integer, got float"),
        ({"seed": -1}, r"seed=-1 must be >= 0"),
        ({"cluster_sizes": (4, 8.5)}, r"cluster_sizes\[1\]=8\.5 must be an integer, got float"),
        ({"cluster_sizes": (1,)}, r"cluster_sizes\[0\]=1 must be >= 2"),
        ({"cluster_sizes": "8"}, r"^cluster_sizes='8' must be a list of integers >= 2$"),  # not "e.g. ['8']"
        ({"cluster_sizes": 8}, r"^cluster_sizes=8 must be a list of integers >= 2$"),
        ({"max_fit_videos": 1}, r"max_fit_videos=1 must be >= 2"),
    ],
)
def test_config_integers_are_checked_by_type(options: dict[str, object], message: str) -> None:
    """components=2.5 or seed=0.5 passed the '< 1' comparisons and failed deep in PCA or the
    k-means seeding; NaN compared False to everything and passed too."""
    with pytest.raises(ParameterError, match=message):
        FeatureConfig(**options)  # type: ignore[arg-type]


def test_config_integers_are_python_ints() -> None:
    config = FeatureConfig(components=np.int64(8), cluster_sizes=(np.int32(4), 8))  # type: ignore[arg-type]
    assert type(config.components) is int and all(type(k) is int for k in config.cluster_sizes)
    assert FeatureConfig() == FeatureConfig(cluster_sizes=(4, 8, 16, 32))
