"""Embedding jobs beyond one process: the same rows as ``reelsense embed``, on Ray.

- :func:`embed_with_ray`: Ray Data pipeline (decoding tasks on CPUs, model actors on
  GPUs) into a folder of Parquet shards with the local output's schema and metadata;
  resumable, one broken file never stops it. Needs the ``ray`` extra
  (``pip install 'reelsense[ray]'``); ``import reelsense.jobs`` does not import Ray.
- :class:`ShardFolder`: the folder of shards (atomic shards, lock, resume, newest row wins).
- :func:`cluster_shards`: the corpus sound-discovery pass over a folder of shards.

The local GPU job is ``reelsense embed --device cuda`` (:func:`reelsense.featurize.embed_corpus`).
"""

from reelsense.jobs._ray_job import RayEmbedSummary, cluster_shards, embed_with_ray
from reelsense.jobs._shards import SHARD_PATTERN, ShardFolder

__all__ = ["SHARD_PATTERN", "RayEmbedSummary", "ShardFolder", "cluster_shards", "embed_with_ray"]
