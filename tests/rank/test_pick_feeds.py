"""reelsense.rank._rank._pick_feeds: a chunk's feeds equal the per-user rule, ties included."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.rank._rank import _pick_feeds, select_diverse


def _reference(
    scores: np.ndarray,
    seen: np.ndarray,
    disliked: np.ndarray,
    unit: np.ndarray,
    sounds: Sequence[str | None],
    k: int,
    pool_size: int,
    max_per_sound: int,
    cosine: float,
) -> tuple[list[int], int]:
    """One user's feed as rank_users picked it one user at a time, over the whole catalogue."""
    n = scores.size
    allowed = np.ones(n, dtype=bool)
    allowed[seen] = False
    masked = np.where(allowed, scores, -np.inf)
    for size in (pool_size, n):
        pool = np.argpartition(-masked, size - 1)[:size] if size < n else np.arange(size)
        pool = pool[allowed[pool]]
        if disliked.size and pool.size:
            near = (unit[pool] @ unit[disliked].T).max(axis=1) >= cosine
            dropped = int(near.sum())
            pool = pool[~near]
        else:
            dropped = 0
        order = pool[np.lexsort((pool, -scores[pool]))]
        picked = select_diverse(order, sounds, k, max_per_sound)
        if len(picked) == k or size == n:
            break
    return picked, dropped


@st.composite
def _chunks(draw: st.DrawFn) -> dict[str, object]:
    n_videos = draw(st.integers(1, 80))
    n_users = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.integers(1, 5))  # few score levels: many ties, at the pool's edge too
    scores = (rng.integers(0, levels, (n_users, n_videos)) / 4).astype(np.float32)
    seen = [
        np.unique(rng.integers(0, n_videos, rng.integers(0, n_videos + 1))).astype(np.int64)
        for _ in range(n_users)
    ]
    disliked = [
        np.unique(rng.integers(0, n_videos, rng.integers(0, 3))).astype(np.int64) for _ in range(n_users)
    ]
    unit = rng.integers(-1, 2, (n_videos, 3)).astype(np.float32)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-9)
    keys: list[str | None] = [None, "a", "b", "c"]
    sounds = [keys[i] for i in rng.integers(0, 4, n_videos)]
    return {
        "scores": scores,
        "seen": seen,
        "disliked": disliked,
        "unit": unit,
        "sounds": sounds,
        "k": draw(st.integers(1, n_videos + 2)),
        "pool_size": draw(st.integers(1, n_videos)),
        "max_per_sound": draw(st.integers(0, 2)),
        "cosine": draw(st.sampled_from([0.5, 0.9, 1.0])),
    }


@settings(max_examples=300, deadline=None)
@given(_chunks())
def test_chunk_feeds_equal_the_per_user_rule(case: dict[str, object]) -> None:
    scores = case["scores"]
    assert isinstance(scores, np.ndarray)
    seen, disliked = case["seen"], case["disliked"]
    assert isinstance(seen, list) and isinstance(disliked, list)
    got = _pick_feeds(
        scores,
        seen,
        disliked,
        case["unit"],  # type: ignore[arg-type]
        case["sounds"],  # type: ignore[arg-type]
        k=case["k"],  # type: ignore[arg-type]
        pool_size=case["pool_size"],  # type: ignore[arg-type]
        max_per_sound=case["max_per_sound"],  # type: ignore[arg-type]
        near_duplicate_cosine=case["cosine"],  # type: ignore[arg-type]
    )
    expected = [
        _reference(
            scores[u],
            seen[u],
            disliked[u],
            case["unit"],  # type: ignore[arg-type]
            case["sounds"],  # type: ignore[arg-type]
            case["k"],  # type: ignore[arg-type]
            case["pool_size"],  # type: ignore[arg-type]
            case["max_per_sound"],  # type: ignore[arg-type]
            case["cosine"],  # type: ignore[arg-type]
        )
        for u in range(scores.shape[0])
    ]
    assert got == expected


def test_chunk_feeds_of_a_larger_catalogue_with_ties() -> None:
    """600 videos of 3 score levels, a pool of 500 (rank_users' smallest): the pool's edge
    falls inside a tie."""
    rng = np.random.default_rng(7)
    scores = (rng.integers(0, 3, (40, 600)) / 2).astype(np.float32)
    seen = [np.unique(rng.integers(0, 600, rng.integers(0, 200))).astype(np.int64) for _ in range(40)]
    disliked = [np.unique(rng.integers(0, 600, rng.integers(0, 4))).astype(np.int64) for _ in range(40)]
    unit = rng.normal(size=(600, 4)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    sounds: list[str | None] = [None if i % 5 == 0 else f"s{i % 7}" for i in range(600)]
    for k, cap in ((10, 3), (480, 0), (590, 2)):
        options = {"k": k, "pool_size": 500, "max_per_sound": cap, "near_duplicate_cosine": 0.8}
        got = _pick_feeds(scores, seen, disliked, unit, sounds, **options)  # type: ignore[arg-type]
        assert got == [
            _reference(scores[u], seen[u], disliked[u], unit, sounds, k, 500, cap, 0.8) for u in range(40)
        ]
