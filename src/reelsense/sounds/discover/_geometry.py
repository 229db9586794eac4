"""Where each use sits relative to its sound: representative, relative speed, pitch and offset.

Within a cluster every accepted edge ``a -> b`` measures ``u_a - u_b = log s_ab`` (``u``:
log playback rate of a video relative to the underlying recording) and
``p_a - p_b = pitch_ab`` (semitones). The speeds and pitches of all members relative to the
representative are the weighted least-squares solution of these equations over *all* the
cluster's edges (weights: the capped scores), anchored at the representative: with cycles
in the graph every edge is checked against the others instead of errors adding up along a
chain. Offsets (where a member starts, in the representative's time) are composed along
the maximum-score spanning tree, since repeated sections of a song make offsets
multi-valued and averaging them would be meaningless.

The representative is the library sound when the cluster holds one, else the member with
the largest summed (capped) score of its accepted edges (the best-connected use), ties
broken by longer soundtrack, then by the caller's order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import spsolve

from reelsense.sounds.discover._graph import EdgeTable

__all__ = ["Placement", "place_members", "representatives"]

SCORE_CAP = 50.0


@dataclass(frozen=True, repr=False)
class Placement:
    """Per node (``[n]`` each): ``representative`` node of its cluster; ``speed`` = representative
    seconds per node second (1.25: this use is 25 % faster); ``pitch_semitones`` relative to the
    representative; ``offset_seconds``: where the node's start lies in representative time
    (NaN when unknown); ``strength``: summed capped score of the node's accepted edges."""

    representative: np.ndarray
    speed: np.ndarray
    pitch_semitones: np.ndarray
    offset_seconds: np.ndarray
    strength: np.ndarray

    def __repr__(self) -> str:
        return f"Placement({self.representative.size} nodes)"


def _strength(n: int, edges: EdgeTable) -> np.ndarray:
    w = np.minimum(edges.score, SCORE_CAP)
    return np.bincount(edges.query, w, minlength=n) + np.bincount(edges.ref, w, minlength=n)


def representatives(
    roots: np.ndarray, edges: EdgeTable, *, anchor: np.ndarray, duration: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Representative node of each node's cluster (int64 ``[n]``); ``edges``: accepted ones.

    ``anchor``: bool ``[n]`` library nodes; ``duration``: float ``[n]`` seconds; ``rank``:
    int ``[n]`` final tie-break (lower first).
    """
    n = roots.size
    strength = _strength(n, edges)
    # order: anchors first, then strength, duration, rank; the first node of each root wins
    order = np.lexsort((rank, -duration, -strength, ~anchor, roots))
    first = np.r_[True, roots[order][1:] != roots[order][:-1]]
    rep_of_root = dict(zip(roots[order][first].tolist(), order[first].tolist(), strict=True))
    return np.array([rep_of_root[r] for r in roots.tolist()], dtype=np.int64)


def _least_squares(n: int, edges: EdgeTable, values: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Solve ``x_q - x_r ~ values`` (weighted) with ``x = 0`` at ``fixed`` nodes; ``[n]``."""
    x = np.zeros(n, dtype=np.float64)
    if len(edges) == 0:
        return x
    w = np.minimum(edges.score, SCORE_CAP)
    q, r = edges.query, edges.ref
    lap = sparse.coo_matrix(
        (np.concatenate([w, w, -w, -w]), (np.concatenate([q, r, q, r]), np.concatenate([q, r, r, q]))),
        shape=(n, n),
    ).tocsr()
    rhs = np.bincount(q, w * values, minlength=n) - np.bincount(r, w * values, minlength=n)
    involved = np.zeros(n, dtype=bool)
    involved[q] = True
    involved[r] = True
    free = np.nonzero(involved & ~fixed)[0]
    if free.size == 0:
        return x
    sub = lap[free][:, free].tocsc()
    # a free node whose only neighbours are free and unconnected to a fixed node would make the
    # system singular; the caller passes one fixed node per connected cluster, so it is not
    x[free] = np.atleast_1d(spsolve(sub, rhs[free]))
    return x


def _offsets(n: int, edges: EdgeTable, reps: np.ndarray) -> np.ndarray:
    """Start of each node in its representative's time, composed along the max-score tree."""
    off = np.full(n, np.nan)
    scale = np.ones(n)
    is_rep = reps == np.arange(n)
    off[is_rep] = 0.0
    if len(edges) == 0:
        return off
    # best edge per unordered pair
    lo = np.minimum(edges.query, edges.ref)
    hi = np.maximum(edges.query, edges.ref)
    order = np.lexsort((-edges.score, hi, lo))
    keep = order[np.r_[True, (lo[order][1:] != lo[order][:-1]) | (hi[order][1:] != hi[order][:-1])]]
    best = {(int(lo[e]), int(hi[e])): int(e) for e in keep}
    weight = 1.0 / (1.0 + np.minimum(edges.score[keep], 1e6))
    graph = sparse.coo_matrix((weight, (lo[keep], hi[keep])), shape=(n, n)).tocsr()
    tree = csgraph.minimum_spanning_tree(graph)
    tree = tree + tree.T
    for rep in np.nonzero(is_rep)[0].tolist():
        nodes, pred = csgraph.breadth_first_order(tree, rep, directed=False, return_predecessors=True)
        for v in nodes[1:].tolist():
            k = int(pred[v])
            e = best[(min(k, v), max(k, v))]
            o, s = float(edges.offset_seconds[e]), float(np.exp(edges.log_scale[e]))
            if int(edges.query[e]) == v:  # v -> k: t_k = o + s t_v
                off[v] = off[k] + scale[k] * o
                scale[v] = scale[k] * s
            else:  # k -> v: t_v = o + s t_k
                off[v] = off[k] - scale[k] * o / s
                scale[v] = scale[k] / s
    return off


def place_members(
    roots: np.ndarray, edges: EdgeTable, *, anchor: np.ndarray, duration: np.ndarray, rank: np.ndarray
) -> Placement:
    """Representative, relative speed/pitch and offset of every node; ``edges``: accepted ones."""
    n = roots.size
    reps = representatives(roots, edges, anchor=anchor, duration=duration, rank=rank)
    fixed = reps == np.arange(n)
    u = _least_squares(n, edges, edges.log_scale, fixed)
    p = _least_squares(n, edges, edges.pitch_semitones, fixed)
    return Placement(
        representative=reps,
        speed=np.exp(u - u[reps]),
        pitch_semitones=p - p[reps],
        offset_seconds=_offsets(n, edges, reps),
        strength=_strength(n, edges),
    )
