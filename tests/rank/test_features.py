"""reelsense.rank's content features: k-means with restarts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
