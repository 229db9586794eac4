"""A "For You" recommender over the output of ``reelsense embed``.

Given a watch history (video ids, oldest first), rank the videos the user has not seen:

1. **Interest profile.** Each watched video gets a recency weight ``0.5 ** (age /
   half_life)`` (age 0 = the last one watched). A candidate's relevance blends the
   similarity to the weighted mean of the history (the user's overall taste) with its
   best recency-weighted similarity to a single watched video (so a niche interest is
   not averaged away): ``relevance = a * cos(v, profile) + (1 - a) * max_j w_j cos(v, h_j)``.
2. **Candidates.** The ``candidates`` nearest videos to the profile and to each of the
   last watched videos (exact inner product: faiss ``IndexFlatIP`` when faiss is
   installed, numpy otherwise), minus what was watched.
3. **Diversity.** Maximal Marginal Relevance picks the feed one item at a time:
   ``lambda * relevance - (1 - lambda) * max cos(v, already picked)``, so the feed does
   not fill up with ten uses of the same trending sound.

    python examples/ranker.py examples.parquet                 # a random 2-video history
    python examples/ranker.py out.parquet --history ID1,ID2,ID3 -k 10 --mmr-lambda 0.7

Embeddings are unit vectors, so inner products are cosines. Only ``numpy`` and ``pyarrow``
are required.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

try:  # optional accelerator for the candidate search
    import faiss  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    faiss = None


@dataclass(frozen=True)
class Recommendation:
    video_id: str
    relevance: float
    mmr: float


class ForYouRanker:
    """Rank unseen videos for a watch history (see the module docstring)."""

    def __init__(
        self, video_ids: Sequence[str], embeddings: np.ndarray, *, use_faiss: bool | None = None
    ) -> None:
        x = np.asarray(embeddings, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        self.video_ids = list(video_ids)
        self.position = {vid: i for i, vid in enumerate(self.video_ids)}
        self.embeddings = np.ascontiguousarray(x)
        self.use_faiss = (faiss is not None) if use_faiss is None else use_faiss
        self._index = None
        if self.use_faiss:
            if faiss is None:
                raise RuntimeError("faiss is not installed: pip install faiss-cpu")
            self._index = faiss.IndexFlatIP(x.shape[1])
            self._index.add(self.embeddings)

    @classmethod
    def from_parquet(cls, path: str, **kwargs: object) -> ForYouRanker:
        table = pq.read_table(path, columns=["video_id", "status", "embedding"])
        rows = [
            (v, e)
            for v, s, e in zip(*(table[c].to_pylist() for c in table.column_names), strict=True)
            if s == "ok" and e is not None
        ]
        if not rows:
            raise SystemExit(f"{path} has no rows with an embedding (was it written by `reelsense embed`?)")
        ids, vectors = zip(*rows, strict=True)
        return cls(ids, np.asarray(vectors, dtype=np.float32), **kwargs)  # type: ignore[arg-type]

    def _nearest(self, queries: np.ndarray, k: int) -> np.ndarray:
        k = min(k, len(self.video_ids))
        if self._index is not None:
            _, found = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
            return np.asarray(found)
        scores = queries @ self.embeddings.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)

    def recommend(
        self,
        history: Sequence[str],
        *,
        k: int = 10,
        half_life: float = 3.0,
        profile_share: float = 0.5,
        mmr_lambda: float = 0.7,
        candidates: int = 200,
    ) -> list[Recommendation]:
        known = [self.position[v] for v in history if v in self.position]
        if not known:
            raise ValueError("none of the history's video ids has an embedding")
        watched = self.embeddings[known]
        ages = np.arange(len(known))[::-1].astype(np.float64)
        weights = 0.5 ** (ages / half_life)
        profile = weights @ watched
        profile /= max(float(np.linalg.norm(profile)), 1e-12)
        recent = watched[-3:]
        pool = np.unique(self._nearest(np.vstack([profile[None, :], recent]), candidates))
        pool = np.array([i for i in pool if i not in set(known)], dtype=np.int64)
        if pool.size == 0:
            return []
        vectors = self.embeddings[pool]
        relevance = profile_share * (vectors @ profile) + (1 - profile_share) * (
            (vectors @ watched.T) * weights[None, :]
        ).max(axis=1)
        picked: list[int] = []
        out: list[Recommendation] = []
        redundancy = np.full(pool.size, -1.0)
        available = np.ones(pool.size, dtype=bool)
        for _ in range(min(k, pool.size)):
            mmr = mmr_lambda * relevance - (1 - mmr_lambda) * np.maximum(redundancy, 0.0)
            mmr[~available] = -np.inf
            best = int(np.argmax(mmr))
            available[best] = False
            picked.append(best)
            redundancy = np.maximum(redundancy, vectors @ vectors[best])
            out.append(Recommendation(self.video_ids[pool[best]], float(relevance[best]), float(mmr[best])))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Rank unseen videos for a watch history.")
    parser.add_argument("parquet", help="output of `reelsense embed`")
    parser.add_argument("--history", default="", help="comma-separated video ids, oldest first")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--half-life", type=float, default=3.0, help="recency half-life, in watched videos")
    parser.add_argument(
        "--mmr-lambda", type=float, default=0.7, help="1 = pure relevance, lower = more diverse"
    )
    parser.add_argument("--numpy", action="store_true", help="do not use faiss even when installed")
    args = parser.parse_args()
    ranker = ForYouRanker.from_parquet(args.parquet, use_faiss=False if args.numpy else None)
    history = [h for h in args.history.split(",") if h]
    if not history:
        rng = np.random.default_rng(0)
        history = [ranker.video_ids[i] for i in rng.choice(len(ranker.video_ids), size=2, replace=False)]
    info = {r["video_id"]: r for r in pq.read_table(args.parquet).to_pylist()}

    def describe(vid: str) -> str:
        row = info.get(vid, {})
        sound = row.get("sound_id") or row.get("sound_cluster") or "-"
        caption = " ".join(str(row.get("caption") or "").split())[:50]
        return f"{vid:<22} sound {sound:<28} {caption}"

    search = "faiss" if ranker.use_faiss else "numpy"
    print(f"search: {search}, {len(ranker.video_ids)} videos with an embedding")
    print("watched (oldest first):")
    for vid in history:
        print("  " + describe(vid))
    print(f"for you (MMR lambda {args.mmr_lambda}):")
    for rank, rec in enumerate(
        ranker.recommend(history, k=args.k, half_life=args.half_life, mmr_lambda=args.mmr_lambda), start=1
    ):
        print(f"  {rank:2d}. relevance {rec.relevance:+.3f}  {describe(rec.video_id)}")


if __name__ == "__main__":
    main()
