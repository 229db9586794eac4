"""The sound index: reference sounds on disk (a crash-safe SQLite store of their peaks) and the
search structure the matcher uses, kept in a memory-mapped file beside it.

- :class:`SoundIndex` (``create``, ``open``, ``add``/``add_many``, ``match``, ``remove``, ``stats``).
- :func:`match_files`: match many files against an index in worker processes.
- :func:`prepare_kernels`: compile the matcher's numba kernels ahead, in parallel (a machine's
  first run; an image's build step).

Modules: ``_index`` (the public class), ``_store`` / ``_sql`` / ``_codec`` / ``_records`` (the
on-disk store), ``_search_file`` (the search structure persisted beside the store) and
``_cache`` (keeping that structure in step with the store), ``_streamed`` (building that file in
bounded memory), ``_library`` (an index file for a folder of reference sounds, built on the fly:
:func:`sound_index_file`) and ``_shards`` (one logical index kept as several: :func:`split_index`,
:class:`ShardedIndex`, :class:`RayShardedIndex`).
"""

from reelsense.sounds.index._index import IndexStats, SoundIndex, SoundInfo, match_files, prepare_kernels
from reelsense.sounds.index._library import build_sound_index, needs_indexing, sound_index_file
from reelsense.sounds.index._search_file import FileVersion
from reelsense.sounds.index._shards import RayShardedIndex, ShardedIndex, merge_matches, shard_of, split_index

__all__ = [
    "FileVersion",
    "IndexStats",
    "RayShardedIndex",
    "ShardedIndex",
    "SoundIndex",
    "SoundInfo",
    "build_sound_index",
    "match_files",
    "merge_matches",
    "needs_indexing",
    "prepare_kernels",
    "shard_of",
    "sound_index_file",
    "split_index",
]
