"""One logical sound index kept as several shards: splitting an index, and searching the shards as one.

A shard is an ordinary :class:`~reelsense.sounds.index.SoundIndex` (a store and its search file)
holding part of the sounds. A query is prepared once (spectrogram, peaks, triplets), matched in
every shard, and the matches merged. Each shard scores its matches against the trial count of
*all* shards together (``match_query(..., totals=...)``), so a score means what it would
mean for one index holding every sound: the false-match probability over the whole library.

Each shard verifies ``ceil(n_candidates / n_shards)`` candidates (at least 2), so that the
shards together verify about as many alignments as one index would: every verified alignment is
one more chance of a false match, and at 10,000 synthetic sounds verifying twice as many found
a false match at score 6.4 that one index did not reach (``docs/scaling.md``).

- :func:`split_index`: copy an index's sounds into ``n`` shard indexes (by a hash of the sound id,
  so a sound's shard does not depend on the order sounds were added).
- :class:`ShardedIndex`: the shards opened in this process, searched one after another.
- :class:`RayShardedIndex`: one Ray actor per shard (each maps its own search file), searched in
  parallel; Ray is optional and imported only here. See ``docs/scaling.md`` for the design at
  a million sounds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reelsense._signals import restore_signal_handlers, signal_handlers
from reelsense.errors import ParameterError
from reelsense.sounds._tables import IndexTotals
from reelsense.sounds.fingerprint import FingerprintParams
from reelsense.sounds.index._index import SoundIndex, no_sounds_message
from reelsense.sounds.index._records import StoreItem
from reelsense.sounds.match import MatchConfig, QueryPrint, SoundMatch, match_query, prepare_query

__all__ = ["RayShardedIndex", "ShardedIndex", "merge_matches", "shard_config", "shard_of", "split_index"]


def shard_of(sound_id: str, n_shards: int) -> int:
    """The shard a sound id belongs to (CRC-32 of its UTF-8 bytes, modulo ``n_shards``)."""
    return zlib.crc32(sound_id.encode("utf-8")) % n_shards


def split_index(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    n_shards: int,
    *,
    prefix: str = "shard",
    commit_every: int = 256,
) -> list[Path]:
    """Copy every sound of the index at ``source`` into ``n_shards`` new indexes
    ``out_dir/<prefix>-<i>.rsidx`` (stored peaks are copied, nothing is fingerprinted again) and
    write their search files. Returns the shard paths, shard 0 first."""
    if n_shards < 1:
        raise ParameterError(f"n_shards={n_shards} must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{prefix}-{i:03d}.rsidx" for i in range(n_shards)]
    with SoundIndex.open(source, readonly=True) as src:
        params = src.params
        records = {r.key: r for r in src._store.records()}
        shards = [SoundIndex.create(p, params=params) for p in paths]
        try:
            pending: list[list[StoreItem]] = [[] for _ in paths]
            with src._store.iter_arrays() as stream:
                for key, sound_id, arrays in stream:
                    rec = records.get(key)
                    i = shard_of(sound_id, n_shards)
                    pending[i].append(
                        StoreItem(
                            sound_id,
                            dict(arrays),
                            rec.duration_seconds if rec else 0.0,
                            rec.source_path if rec else None,
                            dict(rec.meta) if rec else None,
                        )
                    )
                    if len(pending[i]) >= commit_every:
                        shards[i]._store.add_many(pending[i])
                        pending[i] = []
            for shard, items in zip(shards, pending, strict=True):
                if items:
                    shard._store.add_many(items)
                shard.prepare_search()
        finally:
            for shard in shards:
                shard.close()
    return paths


def merge_matches(
    per_shard: Iterable[Sequence[SoundMatch]], *, threshold: float, top_k: int
) -> list[SoundMatch]:
    """The best ``top_k`` matches over all shards with ``score >= threshold`` (one per sound id)."""
    best: dict[str, SoundMatch] = {}
    for matches in per_shard:
        for m in matches:
            if m.score >= threshold and (m.sound_id not in best or m.score > best[m.sound_id].score):
                best[m.sound_id] = m
    out = sorted(best.values(), key=lambda m: (-m.score, m.sound_id))
    return out[:top_k]


logger = logging.getLogger(__name__)


def _warn_if_empty(totals: IndexTotals, paths: Sequence[str | os.PathLike[str]]) -> None:
    """Warn when no shard holds a sound (an empty shard among others is normal)."""
    if not totals.sounds:
        logger.warning("%s", no_sounds_message(*paths))


def shard_config(config: MatchConfig, n_shards: int) -> MatchConfig:
    """The configuration each of ``n_shards`` shards searches with: its share of the candidates."""
    share = max(2, -(-config.n_candidates // n_shards))
    return dataclasses.replace(config, n_candidates=min(config.n_candidates, share))


class ShardedIndex:
    """Shard indexes searched one after another in this process, scored as one index.

    All shards must share their fingerprint parameters. Use as a context manager.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], config: MatchConfig | None = None) -> None:
        if not paths:
            raise ParameterError("a sharded index needs at least one shard")
        self.config = config or MatchConfig()
        per_shard = shard_config(self.config, len(paths))
        self.shards = [SoundIndex.open(p, readonly=True, config=per_shard) for p in paths]
        self.params: FingerprintParams = self.shards[0].params
        for s in self.shards[1:]:
            if s.params != self.params:
                self.close()
                raise ParameterError(f"{s.path} was built with other fingerprint parameters than {paths[0]}")
        self.totals = sum((s._search.get().totals for s in self.shards), IndexTotals(0.0, 0))
        _warn_if_empty(self.totals, paths)

    def close(self) -> None:
        for s in self.shards:
            s.close()

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def match(
        self,
        samples: np.ndarray,
        sample_rate: int,
        *,
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> list[SoundMatch]:
        """:meth:`SoundIndex.match` over every shard."""
        query = prepare_query(samples, sample_rate, self.params, self.config)
        return self.match_prepared(query, top_k=top_k, threshold=threshold)

    def match_prepared(
        self, query: QueryPrint, *, top_k: int | None = None, threshold: float | None = None
    ) -> list[SoundMatch]:
        threshold = self.config.threshold if threshold is None else threshold
        top_k = self.config.top_k if top_k is None else top_k
        per_shard = [
            match_query(
                query,
                s._search.get(),
                self.params,
                s.config,
                threshold=threshold,
                top_k=top_k,
                totals=self.totals,
            )
            for s in self.shards
        ]
        return merge_matches(per_shard, threshold=threshold, top_k=top_k)


class _ShardActor:
    """One shard in a Ray actor: opens the index read-only and maps its search file."""

    def __init__(self, path: str, config: MatchConfig) -> None:
        self.index = SoundIndex.open(path, readonly=True, config=config)
        self.search = self.index._search.get()

    def totals(self) -> IndexTotals:
        return self.search.totals

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the actor's process (for benchmarks)."""
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def max_rss_mb(self) -> float:
        """Peak resident memory of the actor's process in MB (for benchmarks)."""
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    def match(self, query: QueryPrint, threshold: float, top_k: int, totals: IndexTotals) -> list[SoundMatch]:
        return match_query(
            query,
            self.search,
            self.index.params,
            self.index.config,
            threshold=threshold,
            top_k=top_k,
            totals=totals,
        )


class RayShardedIndex:
    """Shards held by Ray actors (one per shard, ``num_cpus`` each), searched in parallel.

    The query is prepared here and sent once (``ray.put``); every actor matches it against its
    shard with the trial count of all shards, and the matches are merged here. Ray must be
    initialised by the caller (``ray.init()``) or is started here with its defaults, keeping
    the caller's SIGINT and SIGTERM handlers (:mod:`reelsense._signals`).
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        config: MatchConfig | None = None,
        *,
        num_cpus: float = 1.0,
    ) -> None:
        import ray  # optional dependency

        if not paths:
            raise ParameterError("a sharded index needs at least one shard")
        self._ray = ray
        if not ray.is_initialized():
            handlers = signal_handlers()
            try:
                ray.init()
            finally:
                restore_signal_handlers(handlers, default_too=False)
        self.config = config or MatchConfig()
        with SoundIndex.open(paths[0], readonly=True) as first:
            self.params = first.params
        actor = ray.remote(num_cpus=num_cpus)(_ShardActor)
        per_shard = shard_config(self.config, len(paths))
        self.actors: list[Any] = [actor.remote(os.fspath(p), per_shard) for p in paths]
        self.totals = sum(ray.get([a.totals.remote() for a in self.actors]), IndexTotals(0.0, 0))
        _warn_if_empty(self.totals, paths)

    def match(
        self,
        samples: np.ndarray,
        sample_rate: int,
        *,
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> list[SoundMatch]:
        query = prepare_query(samples, sample_rate, self.params, self.config)
        return self.match_prepared(query, top_k=top_k, threshold=threshold)

    def match_prepared(
        self, query: QueryPrint, *, top_k: int | None = None, threshold: float | None = None
    ) -> list[SoundMatch]:
        threshold = self.config.threshold if threshold is None else threshold
        top_k = self.config.top_k if top_k is None else top_k
        ref = self._ray.put(query)
        futures = [a.match.remote(ref, threshold, top_k, self.totals) for a in self.actors]
        return merge_matches(self._ray.get(futures), threshold=threshold, top_k=top_k)

    def close(self) -> None:
        for a in self.actors:
            self._ray.kill(a)
        self.actors = []
