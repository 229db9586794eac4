"""Records, items and statistics of the fingerprint store, and validation of what goes into it."""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from reelsense.errors import ParameterError
from reelsense.io._text import has_surrogates, path_text
from reelsense.sounds.index._codec import EncodedArray, encode_array

__all__ = [
    "RECORD_COLUMNS",
    "EncodedItem",
    "SoundRecord",
    "StoreItem",
    "StoreStats",
    "encode_item",
    "record_from_row",
    "to_json",
    "utc_now",
]

RECORD_COLUMNS = "key, sound_id, duration_seconds, n_items, source_path, added_at, meta"


@dataclass(frozen=True)
class SoundRecord:
    """What the store knows about one sound (besides its arrays).

    Attributes:
        sound_id: the user-facing id (e.g. a file stem).
        key: integer key, stable for the life of the sound and never reused after removal or replacement
            (a replaced sound gets a new key).
        duration_seconds: length of the reference audio.
        n_items: ``len`` of the first stored array (the index stores ``peak_times`` first:
            the number of peaks).
        source_path: the file the sound came from, when known.
        added_at: UTC ISO-8601 time the sound was committed.
        meta: free-form JSON-compatible metadata (read-only mapping).
    """

    sound_id: str
    key: int
    duration_seconds: float
    n_items: int
    source_path: str | None
    added_at: str
    meta: Mapping[str, object] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class StoreItem:
    """One sound for :meth:`FingerprintStore.add_many`; fields as in :meth:`FingerprintStore.add`."""

    sound_id: str
    arrays: Mapping[str, np.ndarray]
    duration_seconds: float
    source_path: str | None = None
    meta: Mapping[str, object] | None = None


@dataclass(frozen=True)
class StoreStats:
    """Totals of a store.

    Attributes:
        path: the database file.
        n_sounds: number of sounds.
        total_duration_seconds: summed reference duration.
        total_items: summed ``n_items``.
        array_bytes: decoded bytes of every stored array.
        stored_bytes: blob bytes on disk (after compression).
        file_bytes: database size (pages in use or free, including commits still in the ``-wal`` file).
        free_bytes: bytes of free pages inside the file (reclaimed by :meth:`FingerprintStore.vacuum`).
        bytes_per_hour: ``file_bytes`` per hour of reference audio (None while empty).
        format_version, params, compression, created_at, package_version, generation: from ``meta``.
    """

    path: str
    n_sounds: int
    total_duration_seconds: float
    total_items: int
    array_bytes: int
    stored_bytes: int
    file_bytes: int
    free_bytes: int
    bytes_per_hour: float | None
    format_version: int
    params: Mapping[str, object] = field(hash=False)
    compression: str
    created_at: str
    package_version: str
    generation: int


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def record_from_row(row: tuple[Any, ...]) -> SoundRecord:
    key, sound_id, duration, n_items, source, added_at, meta = row
    return SoundRecord(
        sound_id=str(sound_id),
        key=int(key),
        duration_seconds=float(duration),
        n_items=int(n_items),
        source_path=None if source is None else str(source),
        added_at=str(added_at),
        meta=MappingProxyType(json.loads(str(meta))),
    )


@dataclass(frozen=True)
class EncodedItem:
    sound_id: str
    arrays: tuple[EncodedArray, ...]
    duration_seconds: float
    n_items: int
    source_path: str | None
    meta_json: str


def encode_item(item: StoreItem, compression: str) -> EncodedItem:
    """Validate one sound's fields and encode its arrays (outside any transaction)."""
    if (
        not isinstance(item.sound_id, str)
        or not item.sound_id
        or "\x00" in item.sound_id
        or has_surrogates(item.sound_id)
    ):
        raise ParameterError(
            f"sound_id must be a non-empty UTF-8 string without NUL, got {item.sound_id!r} "
            "(escape file names with reelsense.io.path_text)"
        )
    duration = float(item.duration_seconds)
    if not (math.isfinite(duration) and duration >= 0):
        raise ParameterError(
            f"duration_seconds of {item.sound_id!r} must be finite and >= 0, got {duration!r}"
        )
    if not isinstance(item.arrays, Mapping) or not item.arrays:
        raise ParameterError(
            f"sound {item.sound_id!r} needs a non-empty mapping of arrays, got {item.arrays!r}"
        )
    encoded = tuple(encode_array(name, a, compression) for name, a in item.arrays.items())
    source = None if item.source_path is None else path_text(item.source_path)
    meta_json = to_json(item.meta or {}, f"meta of {item.sound_id!r}")
    n_items = encoded[0].n_items  # the first array's length: the index's peak count
    return EncodedItem(item.sound_id, encoded, duration, n_items, source, meta_json)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Mapping[str, object], what: str) -> str:
    """Canonical JSON (sorted keys, no NaN) of a mapping; ParameterError naming ``what`` otherwise."""
    if not isinstance(value, Mapping):
        raise ParameterError(f"{what} must be a mapping, got {type(value).__name__}")
    try:
        return json.dumps(dict(value), sort_keys=True, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what} must be JSON-serialisable: {exc}") from None
