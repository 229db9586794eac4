"""Corpus sound discovery for the embedding's corpus pass.

:func:`default_discoverer` returns a :class:`Discoverer`, a callable ``(paths, video_ids)
-> label per video``. The default is :func:`self_join_labels`: every soundtrack is indexed as a
reference in a temporary :class:`~reelsense.audio.SoundIndex`, every soundtrack is
matched against that index (so speed, pitch and tempo edits, voice-overs and noise are
handled exactly as in library matching), each match above the calibrated threshold
between two different videos is an edge, and the connected components of two or more
videos are the groups. Two excerpts of a track link when they overlap in the track;
chains of overlapping excerpts link the rest. It runs over the videos the sound index did
not identify (a shared voice-over links videos whose music differs; the library already
names the rest). :mod:`reelsense.sounds.discover` is the alternative (``method="discover"``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from reelsense._workers import available_cpus
from reelsense.errors import ParameterError

__all__ = ["Discoverer", "default_discoverer", "discover_sounds_labels", "self_join_labels"]

log = logging.getLogger(__name__)


def _components(n: int, edges: Sequence[tuple[int, int]]) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes under undirected ``edges``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not edges:
        return np.arange(n)
    ends = np.asarray(edges, dtype=np.int64).T
    graph = coo_matrix((np.ones(ends.shape[1], dtype=np.int8), (ends[0], ends[1])), shape=(n, n))
    labels: np.ndarray = connected_components(graph, directed=False)[1]
    return labels


def self_join_labels(
    paths: Sequence[str], video_ids: Sequence[str], *, workers: int | None = None, top_k: int = 10
) -> list[str | None]:
    """Group videos by shared sound with no library (see the module docstring).

    Returns one label per video (the smallest member id of its group), None for videos
    that share their sound with nobody (or whose audio could not be read).
    """
    from reelsense.sounds.index import SoundIndex, match_files

    if len(paths) < 2:
        return [None] * len(paths)
    workers = workers or max(1, min(8, available_cpus()))
    keys = [f"v{i}" for i in range(len(paths))]  # index ids: any video id is accepted this way
    with tempfile.TemporaryDirectory(prefix="reelsense-discover-") as tmp:
        index_path = Path(tmp) / "corpus.rsidx"
        with SoundIndex.create(index_path) as index:
            index.add_many(list(paths), keys, workers=workers)
        edges: list[tuple[int, int]] = []
        for i, (_, result) in enumerate(match_files(index_path, list(paths), workers=workers, top_k=top_k)):
            if isinstance(result, Exception):
                log.warning("sound discovery: %s: %s", paths[i], result)
                continue
            edges.extend((i, int(m.sound_id[1:])) for m in result if m.sound_id != keys[i])
    roots = _components(len(paths), edges)
    sizes = np.bincount(roots, minlength=len(paths))
    labels: list[str | None] = [None] * len(paths)
    for i, r in enumerate(roots):
        if sizes[r] >= 2:
            labels[i] = min(video_ids[int(j)] for j in np.flatnonzero(roots == r))
    return labels


class Discoverer:
    """A corpus sound discovery: ``discoverer(paths, video_ids) -> label per video``.

    ``name`` is recorded in the output; ``residual_only``: give it only the videos the
    sound index did not identify (see :mod:`reelsense.featurize._corpus`).
    """

    def __init__(
        self,
        name: str,
        run: Callable[[Sequence[str], Sequence[str]], Sequence[str | None]],
        *,
        residual_only: bool,
    ) -> None:
        self.name = name
        self.residual_only = residual_only
        self._run = run

    def __call__(self, paths: Sequence[str], video_ids: Sequence[str]) -> Sequence[str | None]:
        return self._run(paths, video_ids)


def discover_sounds_labels(
    paths: Sequence[str], video_ids: Sequence[str], *, index: str | None, workers: int | None = None
) -> list[str | None]:
    """Labels from :func:`reelsense.sounds.discover.discover_sounds` (library anchors from
    ``index``; shared voice and ambience groups dissolved)."""
    from reelsense.sounds.discover import discover_sounds

    if not paths:
        return []
    workers = workers or max(1, min(8, available_cpus()))
    result = discover_sounds(list(paths), ids=list(video_ids), index=index, workers=workers)
    labels = result.labels()
    return [labels.get(vid) for vid in video_ids]


def default_discoverer(index: str | None = None, *, method: str = "auto") -> Discoverer:
    """The discovery used by ``embed_corpus(discover_sounds=True)``.

    ``method``: ``self_join`` (:func:`self_join_labels` over the videos the index did not
    identify; the default, ``auto``) or ``discover`` (:mod:`reelsense.sounds.discover`,
    given every video and the index as anchors). Measured on the development set
    (``scripts/bench_embed.py --compare-discovery``): sound-identity recall@5 0.939 vs 0.886,
    fused combined mAP 0.910 vs 0.897, 19.6 s vs 55.6 s for 240 videos: ``discover``
    dissolves more groups (it is built to reject shared voice and ambience recordings),
    and misses more uses of the unknown tracks.
    """
    if method == "auto":
        method = "self_join"
    if method == "discover":
        return Discoverer(
            "reelsense.sounds.discover",
            lambda paths, ids: discover_sounds_labels(paths, ids, index=index),
            residual_only=False,
        )
    if method == "self_join":
        return Discoverer(
            "index_self_join", lambda paths, ids: self_join_labels(paths, ids), residual_only=True
        )
    raise ParameterError(f"discovery method must be auto, discover or self_join, got {method!r}")
