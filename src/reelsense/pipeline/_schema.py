"""The row schema of ``reelsense embed`` output (one row per video) and its file metadata.

Base columns (every output has them, in this order):

========================  ====================  ===================================================
column                    type                  meaning
========================  ====================  ===================================================
video_id                  string, not null      stable id (sidecar id, else path relative to its root)
path                      string                absolute path of the file when it was processed
status                    string                ``ok`` or ``error``
error                     string                why the row is an error (null when ok)
warnings                  list<string>          decoding and sidecar notes (a malformed sidecar...)
file_size_bytes           int64
duration_seconds          double                media duration (container or streams)
container                 string                container format (``mp4``, ``webm``, ``flac``...)
video_codec, audio_codec  string
width, height             int32                 displayed size (after rotation)
fps                       double
rotation_degrees          int32                 clockwise rotation applied for display
has_audio, has_video      bool
audio_sample_rate         int32                 the file's native audio rate (Hz)
audio_channels            int32
bit_rate                  int64                 container bit rate (bit/s)
caption, title            string                from the sidecar
hashtags, mentions, tags  list<string>          hashtags/mentions parsed from the caption; platform tags
timestamp                 timestamp[ms, UTC]    upload time (Parquet has no seconds unit)
uploader, track           string
artists                   list<string>
sidecar_source            string                ``info.json``, ``txt``, ``manifest`` or null
========================  ====================  ===================================================

Stages append their own columns after these (the audio descriptors stage adds
``audio_*``). Error rows keep the sidecar columns (the caption is still known) and have
nulls where decoding would have filled in.

File metadata (Parquet key-value metadata, all strings): ``reelsense.version`` (package
version that wrote it), ``reelsense.schema_version``, ``reelsense.config`` (JSON of
everything that shapes the rows: decoding options, manifest digest, stage versions and
options; a resume must match it), ``reelsense.run`` (JSON of the rest: inputs, workers;
informational).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from reelsense._version import __version__
from reelsense.errors import ParameterError
from reelsense.io import MediaInfo, Sidecar, clean_text, has_surrogates

__all__ = [
    "BASE_FIELDS",
    "CONFIG_KEY",
    "RUN_KEY",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_KEY",
    "VERSION_KEY",
    "build_schema",
    "media_columns",
    "rows_to_table",
    "sidecar_columns",
]

SCHEMA_VERSION = 1
VERSION_KEY = "reelsense.version"
SCHEMA_VERSION_KEY = "reelsense.schema_version"
CONFIG_KEY = "reelsense.config"
RUN_KEY = "reelsense.run"

_strings = pa.list_(pa.string())

BASE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("video_id", pa.string(), nullable=False),
    pa.field("path", pa.string()),
    pa.field("status", pa.string()),
    pa.field("error", pa.string()),
    pa.field("warnings", _strings),
    pa.field("file_size_bytes", pa.int64()),
    pa.field("duration_seconds", pa.float64()),
    pa.field("container", pa.string()),
    pa.field("video_codec", pa.string()),
    pa.field("audio_codec", pa.string()),
    pa.field("width", pa.int32()),
    pa.field("height", pa.int32()),
    pa.field("fps", pa.float64()),
    pa.field("rotation_degrees", pa.int32()),
    pa.field("has_audio", pa.bool_()),
    pa.field("has_video", pa.bool_()),
    pa.field("audio_sample_rate", pa.int32()),
    pa.field("audio_channels", pa.int32()),
    pa.field("bit_rate", pa.int64()),
    pa.field("caption", pa.string()),
    pa.field("title", pa.string()),
    pa.field("hashtags", _strings),
    pa.field("mentions", _strings),
    pa.field("tags", _strings),
    pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
    pa.field("uploader", pa.string()),
    pa.field("track", pa.string()),
    pa.field("artists", _strings),
    pa.field("sidecar_source", pa.string()),
)


def build_schema(
    extra_fields: Iterable[pa.Field],
    *,
    config: Mapping[str, Any],
    run: Mapping[str, Any],
    extra_metadata: Mapping[str, str] | None = None,
) -> pa.Schema:
    """Base columns plus ``extra_fields`` (stage columns), with the file metadata attached
    (``extra_metadata``: more string keys, e.g. ``reelsense.fusion``; informational, not
    compared on resume).

    Raises ParameterError when a stage column repeats an existing name or an extra key
    would replace a reserved one.
    """
    fields = list(BASE_FIELDS)
    names = {f.name for f in fields}
    for extra in extra_fields:
        if extra.name in names:
            raise ParameterError(f"column {extra.name!r} is defined twice (a stage reuses a column name)")
        names.add(extra.name)
        fields.append(extra)
    metadata = {
        VERSION_KEY: __version__,
        SCHEMA_VERSION_KEY: str(SCHEMA_VERSION),
        CONFIG_KEY: json.dumps(config, sort_keys=True, default=str),
        RUN_KEY: json.dumps(run, sort_keys=True, default=str),
    }
    for key, value in (extra_metadata or {}).items():
        if key in metadata:
            raise ParameterError(f"metadata key {key!r} is reserved")
        metadata[key] = value
    return pa.schema(fields, metadata=metadata)


def rows_to_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts keyed by column name; missing keys are null) as a table of ``schema``.

    Raises ParameterError naming the first key that is not a column.
    """
    names = set(schema.names)
    for row in rows:
        unknown = set(row) - names
        if unknown:
            raise ParameterError(
                f"row {row.get('video_id')!r} has keys that are not columns: {sorted(unknown)}"
            )
    return pa.Table.from_pylist([_encodable(row) for row in rows], schema=schema)


def _encodable(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """``row`` with every text value UTF-8-encodable (lone surrogates spelled out, see
    :func:`reelsense.io.clean_text`); paths and ids are already escaped upstream."""
    fixed: dict[str, Any] | None = None
    for key, value in row.items():
        if isinstance(value, str) and has_surrogates(value):
            new: Any = clean_text(value)
        elif isinstance(value, list) and any(isinstance(v, str) and has_surrogates(v) for v in value):
            new = [clean_text(v) if isinstance(v, str) else v for v in value]
        else:
            continue
        if fixed is None:
            fixed = dict(row)
        fixed[key] = new
    return row if fixed is None else fixed


def media_columns(info: MediaInfo, file_size_bytes: int | None) -> dict[str, Any]:
    """The media metadata columns of a decoded file."""
    return {
        "file_size_bytes": file_size_bytes,
        "duration_seconds": info.duration_seconds,
        "container": info.container,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "rotation_degrees": info.rotation_degrees,
        "has_audio": info.has_audio,
        "has_video": info.has_video,
        "audio_sample_rate": info.audio_sample_rate,
        "audio_channels": info.audio_channels,
        "bit_rate": info.bit_rate,
    }


def sidecar_columns(sidecar: Sidecar | None) -> dict[str, Any]:
    """The caption/metadata columns from a sidecar (all null/empty without one)."""
    if sidecar is None:
        return {"hashtags": [], "mentions": [], "tags": [], "artists": []}
    return {
        "caption": sidecar.caption,
        "title": sidecar.title,
        "hashtags": list(sidecar.hashtags),
        "mentions": list(sidecar.mentions),
        "tags": list(sidecar.tags),
        "timestamp": None if sidecar.timestamp_seconds is None else sidecar.timestamp_seconds * 1000,
        "uploader": sidecar.uploader,
        "track": sidecar.track,
        "artists": list(sidecar.artists),
        "sidecar_source": sidecar.source,
    }
