"""Grouping videos into sounds from pairwise matches: consistent, support-checked merges.

Nodes are videos (and, with a library, one *anchor* node per library sound); an edge says
"query ``a`` contains reference ``b``'s sound" with a calibrated score and the time scale
``s`` (``b`` seconds per ``a`` second) of the alignment.

Connected components of the thresholded graph are fragile: one false edge (a video that
holds two sounds, a shared voice-over, a chance match) fuses two sounds. Here edges are
taken strongest first into a union-find that also tracks each node's *log time scale*
relative to its cluster root (``u_a - u_b = log s`` for an edge ``a -> b``), and:

* two single videos pair up on one edge; a single video joins a group on one edge of
  score ``>= join_score`` or of positive ``priority`` (its library match), or on
  ``min_support`` consistent edges to distinct members;
* two clusters of several nodes merge on one edge of score ``>= merge_score``, or when at
  least ``min_support`` edges between
  them, touching ``min_support`` *distinct* nodes on each side, agree on the clusters'
  relative time scale within ``scale_tolerance`` (so one bridging video, which may simply
  hold two sounds, never merges two sounds; nor do edges that contradict each other);
* two clusters that each hold a library anchor never merge (different library sounds).

Cost: ``O(E log E)`` for the sort plus near-linear union-find; support lists move
small-to-large.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelsense.errors import ParameterError

__all__ = ["EdgeTable", "GraphClusters", "cluster_graph"]


@dataclass(frozen=True, repr=False)
class EdgeTable:
    """Directed match edges as parallel arrays (``[e]`` each).

    ``query``/``ref``: int64 node numbers; ``score``: float64 calibrated score;
    ``log_scale``: float64 ``log`` of reference seconds per query second;
    ``pitch_semitones``: float64 query pitch minus reference pitch;
    ``offset_seconds``: float64 where the query starts in reference time;
    ``priority``: int64, higher first (library edges before video edges), then by score;
    ``alone``: bool, whether the edge may merge two groups of several videos on its own score
    (``merge_score``); an edge that may not (a dense second-chance edge) still joins a lone
    video and supports merges.
    """

    query: np.ndarray
    ref: np.ndarray
    score: np.ndarray
    log_scale: np.ndarray
    pitch_semitones: np.ndarray
    offset_seconds: np.ndarray
    priority: np.ndarray
    alone: np.ndarray

    def __len__(self) -> int:
        return int(self.query.shape[0])

    def __repr__(self) -> str:
        return f"EdgeTable({len(self)} edges)"

    @classmethod
    def build(
        cls,
        query: np.ndarray | list[int],
        ref: np.ndarray | list[int],
        score: np.ndarray | list[float],
        log_scale: np.ndarray | list[float],
        pitch_semitones: np.ndarray | list[float] | None = None,
        offset_seconds: np.ndarray | list[float] | None = None,
        priority: np.ndarray | list[int] | None = None,
        alone: np.ndarray | list[bool] | None = None,
    ) -> EdgeTable:
        q = np.asarray(query, dtype=np.int64)
        n = q.shape[0]

        def col(v: np.ndarray | list[float] | list[int] | None, dt: type) -> np.ndarray:
            return np.zeros(n, dtype=dt) if v is None else np.asarray(v, dtype=dt)

        table = cls(
            q,
            np.asarray(ref, dtype=np.int64),
            np.asarray(score, dtype=np.float64),
            np.asarray(log_scale, dtype=np.float64),
            col(pitch_semitones, np.float64),
            col(offset_seconds, np.float64),
            col(priority, np.int64),
            np.ones(n, dtype=bool) if alone is None else np.asarray(alone, dtype=bool),
        )
        for name in _FIELDS[1:]:
            if getattr(table, name).shape != (n,):
                raise ParameterError(
                    f"edge column {name} has shape {getattr(table, name).shape}, want ({n},)"
                )
        return table

    @classmethod
    def concat(cls, tables: list[EdgeTable]) -> EdgeTable:
        if not tables:
            return cls.build([], [], [], [])
        return cls(*(np.concatenate([getattr(t, f) for t in tables]) for f in _FIELDS))

    def select(self, mask: np.ndarray) -> EdgeTable:
        return EdgeTable(*(getattr(self, f)[mask] for f in _FIELDS))


_FIELDS = ("query", "ref", "score", "log_scale", "pitch_semitones", "offset_seconds", "priority", "alone")


@dataclass(frozen=True, repr=False)
class GraphClusters:
    """Result of :func:`cluster_graph`.

    ``root``: int64 ``[n]`` cluster of each node (the number of one member);
    ``log_scale``: float64 ``[n]`` each node's log time scale relative to its root
    (``exp`` of it = root seconds per node second); ``accepted``: bool ``[e]`` edges that
    lie inside a cluster and agree with its time scales (the evidence of the grouping).
    """

    root: np.ndarray
    log_scale: np.ndarray
    accepted: np.ndarray

    def __repr__(self) -> str:
        return f"GraphClusters({np.unique(self.root).size} clusters of {self.root.size} nodes)"


class _Forest:
    """Union-find with potentials (``pot[x] = u_x - u_parent``) and inter-cluster support."""

    def __init__(self, n: int, anchor: np.ndarray) -> None:
        self.parent = list(range(n))
        self.pot = [0.0] * n
        self.size = [1] * n
        self.anchored = [bool(a) for a in anchor]
        # support[r][o]: list of (u_r - u_o implied, node in r, node in o)
        self.support: list[dict[int, list[tuple[float, int, int]]]] = [{} for _ in range(n)]

    def find(self, x: int) -> int:
        path = []
        while self.parent[x] != x:
            path.append(x)
            x = self.parent[x]
        root = x
        # compress from the node nearest the root outwards, accumulating potentials
        for y in reversed(path):
            p = self.parent[y]
            if p != root:
                self.pot[y] += self.pot[p]
                self.parent[y] = root
        return root

    def union(self, ra: int, rb: int, k: float) -> None:
        """Merge root ``rb`` into ``ra`` given ``k = u_ra - u_rb`` (the larger stays root)."""
        if self.size[ra] < self.size[rb]:
            ra, rb, k = rb, ra, -k
        self.parent[rb] = ra
        self.pot[rb] = -k
        self.size[ra] += self.size[rb]
        self.anchored[ra] = self.anchored[ra] or self.anchored[rb]
        moved = self.support[rb]
        self.support[rb] = {}
        self.support[ra].pop(rb, None)
        for o, entries in moved.items():
            if o == ra:
                continue
            # entries: u_rb - u_o  ->  u_ra - u_o = (u_rb - u_o) + k
            self.support[ra].setdefault(o, []).extend((v + k, x, y) for v, x, y in entries)
            back = self.support[o].pop(rb, [])
            self.support[o].setdefault(ra, []).extend((v - k, x, y) for v, x, y in back)


def cluster_graph(
    n_nodes: int,
    edges: EdgeTable,
    *,
    anchor: np.ndarray | None = None,
    min_score: float = 0.0,
    min_support: int = 2,
    join_score: float = 10.0,
    merge_score: float = math.inf,
    scale_tolerance: float = 0.03,
) -> GraphClusters:
    """Cluster ``n_nodes`` nodes from directed match ``edges`` (see the module docstring).

    ``anchor``: bool ``[n_nodes]``, nodes that must stay in different clusters (library
    sounds). Edges below ``min_score`` are ignored. ``join_score``: score of a single edge
    that lets a lone video join a group by itself; ``merge_score``: the same for two groups
    (``inf``: never on one edge). ``scale_tolerance``: largest
    disagreement in log time scale (0.03 ~ 3 %) between edges that support one merge.
    """
    if min_support < 1:
        raise ParameterError(f"min_support={min_support} must be >= 1")
    if scale_tolerance <= 0:
        raise ParameterError(f"scale_tolerance={scale_tolerance} must be > 0")
    anchor = np.zeros(n_nodes, dtype=bool) if anchor is None else np.asarray(anchor, dtype=bool)
    if anchor.shape != (n_nodes,):
        raise ParameterError(f"anchor has shape {anchor.shape}, want ({n_nodes},)")
    if len(edges) and (
        edges.query.min() < 0 or edges.ref.min() < 0 or max(edges.query.max(), edges.ref.max()) >= n_nodes
    ):
        raise ParameterError(f"edge endpoints must lie in [0, {n_nodes})")
    forest = _Forest(n_nodes, anchor)
    usable = (edges.score >= min_score) & (edges.query != edges.ref) & np.isfinite(edges.log_scale)
    order = np.lexsort((-edges.score, -edges.priority))
    order = order[usable[order]]
    qa, rb_, ls = edges.query.tolist(), edges.ref.tolist(), edges.log_scale.tolist()
    sc, pr, al = edges.score.tolist(), edges.priority.tolist(), edges.alone.tolist()
    for e in order.tolist():
        a, b, d = qa[e], rb_[e], ls[e]
        ra, rb = forest.find(a), forest.find(b)
        if ra == rb:
            continue
        if forest.anchored[ra] and forest.anchored[rb]:
            continue
        k = d - forest.pot[a] + forest.pot[b]  # implied u_ra - u_rb
        sa, sb = forest.size[ra], forest.size[rb]
        lone = sa == 1 or sb == 1
        strong = sc[e] >= join_score if lone else (sc[e] >= merge_score and al[e])
        if (sa == 1 and sb == 1) or strong or (lone and pr[e] > 0):
            forest.union(ra, rb, k)
            continue
        entries = forest.support[ra].setdefault(rb, [])
        entries.append((k, a, b))
        forest.support[rb].setdefault(ra, []).append((-k, b, a))
        agree = [(x, y) for v, x, y in entries if abs(v - k) <= scale_tolerance]
        n_a, n_b = len({x for x, _ in agree}), len({y for _, y in agree})
        # a lone video needs min_support links into the group (or one link >= join_score)
        need_a, need_b = (1 if sa == 1 else min_support), (1 if sb == 1 else min_support)
        if n_a >= need_a and n_b >= need_b:
            forest.union(ra, rb, k)
    roots = np.array([forest.find(i) for i in range(n_nodes)], dtype=np.int64)
    pots = np.array(forest.pot, dtype=np.float64)
    # after find() every node points at its root, so pot is relative to the root
    pots[roots == np.arange(n_nodes)] = 0.0
    if len(edges):
        same = roots[edges.query] == roots[edges.ref]
        resid = pots[edges.query] - pots[edges.ref] - edges.log_scale
        accepted = same & (edges.score >= min_score) & (np.abs(resid) <= scale_tolerance) & usable
    else:
        accepted = np.zeros(0, dtype=bool)
    return GraphClusters(roots, pots, accepted)


def log_scale_of(speed: float) -> float:
    """``log`` of a positive time-scale factor (ParameterError otherwise)."""
    if not speed > 0 or not math.isfinite(speed):
        raise ParameterError(f"time scale {speed} must be finite and > 0")
    return math.log(speed)
