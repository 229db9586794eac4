"""The search structure of a sound index, persisted beside it so that opening is a memory map.

A :class:`~reelsense.sounds.SoundIndex` stores peaks (SQLite, crash-safe); what the matcher
searches (a triplet hash table and a peak table, :mod:`reelsense.sounds._tables`) is derived
from them. Deriving it for 10,000 sounds takes tens of seconds, so it is written once to
``<index>-search`` and memory-mapped by every later open (milliseconds; pages are read on
demand and shared between processes). The file is a cache: deleting it costs one rebuild.

Layout (format 2, all little-endian)::

    [array 0][array 1]...      each at an offset that is a multiple of 4096
    [header: UTF-8 JSON]
    [header length: uint64][header CRC-32: uint32][4 zero bytes][magic: b"RSSRCH02"]

The JSON header holds ``format_version``, ``kind`` (``"reelsense-search"``), the fingerprint
``scheme``/``scheme_version``/``params`` and the store's ``created_at`` it was built for, the
store ``generation`` it reflects, ``sound_ids`` and ``sound_keys`` (stable store keys) in
table order, ``table_bits``/``time_bits`` of the triplet table, and ``arrays``: name ->
``{dtype, shape, offset, crc32}`` for ``offsets``, ``check``, ``postings``, ``peak_offsets``,
``peak_times``, ``peak_bins``. Files are written to a temporary name and renamed into place, so
a reader never sees a partial file; nothing is pickled.

Checksums: the header carries its own CRC-32 in the trailer and every array's CRC-32 in
its layout entry; :func:`read_search_file` checks them all (one sequential read of the
file) and raises SoundIndexFormatError on any flipped byte, so the cache is rebuilt (or kept
in memory) instead of answering wrongly. A process records the file versions it has
checked (:func:`verified_versions`; a version is the file's device, inode, size, modification
time and header CRC) and hands them to its worker processes (:func:`trust_versions`), which
then map the file without reading all of it again; a file rewritten since is a new version
and is checked in full. Only a regular file is opened.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reelsense.errors import SoundIndexFormatError
from reelsense.io._files import regular_file_size
from reelsense.sounds._tables import PeakTable, TripletTable
from reelsense.sounds.fingerprint import FingerprintParams
from reelsense.sounds.index._streamed import build_streamed

__all__ = [
    "FORMAT_VERSION",
    "FileVersion",
    "SearchFile",
    "read_search_file",
    "search_file_path",
    "trust_versions",
    "verified_versions",
    "write_search_file",
    "write_search_file_streamed",
]

logger = logging.getLogger(__name__)

MAGIC = b"RSSRCH02"
FORMAT_VERSION = 2
_KIND = "reelsense-search"
_ALIGN = 4096
_TRAILER = struct.Struct("<QI4x8s")
_DTYPES = frozenset({"|u1", "<u4", "<u8", "<i8", "<f4"})
_ARRAYS = ("offsets", "check", "postings", "peak_offsets", "peak_times", "peak_bins")

#: a file version: (device, inode, size, mtime in ns, header CRC-32)
FileVersion = tuple[int, int, int, int, int]
_VERIFIED: set[FileVersion] = set()  # checked in full by this process
_TRUSTED: set[FileVersion] = set()  # checked by the parent process: arrays not read again
_VERSIONS_LOCK = threading.Lock()


def verified_versions() -> frozenset[FileVersion]:
    """The search file versions whose arrays this process has checked in full."""
    with _VERSIONS_LOCK:
        return frozenset(_VERIFIED)


def trust_versions(versions: Iterable[FileVersion]) -> None:
    """In a worker process: treat ``versions`` (the parent's :func:`verified_versions`) as
    checked, so that :func:`read_search_file` checks only their headers."""
    with _VERSIONS_LOCK:
        _TRUSTED.update(versions)


def search_file_path(index_path: str | os.PathLike[str]) -> Path:
    """Where the search structure of the index at ``index_path`` lives."""
    return Path(f"{os.fspath(index_path)}-search")


@dataclass(frozen=True, repr=False)
class SearchFile:
    """A loaded search file: its header fields and the (memory-mapped) tables."""

    header: Mapping[str, Any]
    table: TripletTable
    peaks: PeakTable

    @property
    def generation(self) -> int:
        return int(self.header["generation"])

    @property
    def sound_ids(self) -> list[str]:
        return list(self.header["sound_ids"])

    @property
    def sound_keys(self) -> list[int]:
        return [int(k) for k in self.header["sound_keys"]]


class _ArrayWriter:
    """Hands out zero-filled arrays that live in an open file (memory maps), recording where."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.end = 0
        self.layout: dict[str, dict[str, Any]] = {}
        self._maps: list[np.memmap] = []

    def __call__(self, name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        offset = -(-self.end // _ALIGN) * _ALIGN
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        self.layout[name] = {"dtype": dtype, "shape": list(shape), "offset": offset}
        self.end = offset + nbytes
        if nbytes == 0:
            return np.zeros(shape, dtype=dtype)
        self._f.truncate(self.end)
        arr = np.memmap(self._f, dtype=dtype, mode="r+", offset=offset, shape=shape)
        self._maps.append(arr)
        return arr

    def flush(self) -> None:
        for m in self._maps:
            m.flush()
        self._maps.clear()


def _region_crc(f: Any, offset: int, nbytes: int) -> int:
    crc = 0
    f.seek(offset)
    left = nbytes
    while left > 0:
        chunk = f.read(min(left, 1 << 22))
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        left -= len(chunk)
    return crc


def _finish(f: Any, meta: dict[str, Any], end: int) -> None:
    """Add the arrays' checksums to ``meta``, then write the header and trailer at ``end``."""
    f.flush()
    for spec in meta["arrays"].values():
        nbytes = int(np.prod(spec["shape"], dtype=np.int64)) * np.dtype(spec["dtype"]).itemsize
        spec["crc32"] = _region_crc(f, int(spec["offset"]), nbytes)
    blob = json.dumps(meta, sort_keys=True, allow_nan=False).encode("utf-8")
    f.seek(end)
    f.truncate(end)
    f.write(blob)
    f.write(_TRAILER.pack(len(blob), zlib.crc32(blob), MAGIC))
    f.flush()
    os.fsync(f.fileno())


def write_search_file(
    path: Path,
    header: Mapping[str, Any],
    build: Callable[[Callable[[str, tuple[int, ...], str], np.ndarray]], tuple[TripletTable, PeakTable]],
) -> None:
    """Build the tables with ``build(allocate)`` straight into a new file and rename it to ``path``.

    ``header``: JSON-serialisable fields (``generation``, ``sound_ids``, ... see the module
    docstring); the table's ``table_bits``/``time_bits`` and the array layout are added here.
    """
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for the index
    try:
        with os.fdopen(fd, "w+b") as f:
            writer = _ArrayWriter(f)
            table, peaks = build(writer)
            writer.flush()
            meta = {
                **header,
                "table_bits": table.bits,
                "time_bits": table.time_bits,
                "kind": _KIND,
                "format_version": FORMAT_VERSION,
                "arrays": writer.layout,
            }
            del table, peaks
            _finish(f, meta, writer.end)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_search_file_streamed(
    path: Path,
    header: Callable[[], Mapping[str, Any]],
    sounds: Iterable[tuple[np.ndarray, np.ndarray]],
    params: FingerprintParams,
) -> bool:
    """:func:`write_search_file` for the peaks of ``sounds`` (``(times, bins)`` per sound, in index
    order), built in bounded memory (:mod:`reelsense.sounds.index._streamed`); ``header()`` is called
    once the sounds have been read. Writes nothing and returns False when there were no sounds."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for the index
    try:
        with os.fdopen(fd, "w+b") as f:
            built = build_streamed(sounds, params, f.fileno(), align=_ALIGN, spill_dir=path.parent)
            if built.layout["peak_offsets"]["shape"][0] <= 1:
                tmp.unlink()
                return False
            meta = {
                **header(),
                "table_bits": built.bits,
                "time_bits": built.time_bits,
                "kind": _KIND,
                "format_version": FORMAT_VERSION,
                "arrays": dict(built.layout),
            }
            _finish(f, meta, built.end)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def read_search_file(path: Path) -> SearchFile:
    """Memory-map a search file (read-only). SoundIndexFormatError if it is not one or is damaged."""
    try:
        size = regular_file_size(path)
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            size = st.st_size  # of the file opened, should it have been replaced since
            if size < _TRAILER.size:
                raise SoundIndexFormatError(f"{path} is too short to be a reelsense search file")
            f.seek(size - _TRAILER.size)
            length, header_crc, magic = _TRAILER.unpack(f.read(_TRAILER.size))
            if magic != MAGIC or length > size - _TRAILER.size:
                raise SoundIndexFormatError(
                    f"{path} is not a reelsense search file of format {FORMAT_VERSION}"
                )
            start = size - _TRAILER.size - length
            f.seek(start)
            blob = f.read(length)
            if zlib.crc32(blob) != header_crc:
                raise SoundIndexFormatError(f"{path} is damaged: its header fails its checksum")
            header = json.loads(blob.decode("utf-8"))
            if not isinstance(header, dict):
                raise SoundIndexFormatError(f"{path} is damaged: its header is not a JSON object")
            version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, header_crc)
            with _VERSIONS_LOCK:
                checked = version in _TRUSTED
            for name, spec in header.get("arrays", {}).items():
                nbytes = int(np.prod(spec["shape"], dtype=np.int64)) * np.dtype(spec["dtype"]).itemsize
                if int(spec["offset"]) < 0 or int(spec["offset"]) + nbytes > start:
                    raise SoundIndexFormatError(f"{path}: array {name!r} lies outside the file")
                if not checked and _region_crc(f, int(spec["offset"]), nbytes) != spec.get("crc32"):
                    raise SoundIndexFormatError(f"{path} is damaged: array {name!r} fails its checksum")
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SoundIndexFormatError(f"cannot read the search file {path}: {exc}") from exc
    if header.get("kind") != _KIND or header.get("format_version") != FORMAT_VERSION:
        raise SoundIndexFormatError(
            f"{path} is a search file of format {header.get('format_version')!r}; this reelsense reads "
            f"{FORMAT_VERSION} (it is rebuilt from the index)"
        )
    arrays: dict[str, np.ndarray] = {}
    layout = header.get("arrays", {})
    for name in _ARRAYS:
        spec = layout.get(name)
        if spec is None or spec.get("dtype") not in _DTYPES:
            raise SoundIndexFormatError(f"{path}: array {name!r} missing or of an unknown type")
        shape = tuple(int(d) for d in spec["shape"])
        offset = int(spec["offset"])
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(spec["dtype"]).itemsize
        if offset < 0 or offset + nbytes > start:
            raise SoundIndexFormatError(f"{path}: array {name!r} lies outside the file")
        # a plain ndarray view of the mapping (which it keeps open): numpy's memmap subclass adds
        # a microsecond or two to every operation, and the search makes thousands per query
        arrays[name] = (
            np.asarray(np.memmap(path, dtype=spec["dtype"], mode="r", offset=offset, shape=shape))
            if nbytes
            else np.zeros(shape, dtype=spec["dtype"])
        )
    n_ids = len(header.get("sound_ids", []))
    if n_ids != len(header.get("sound_keys", [])) or n_ids != arrays["peak_offsets"].shape[0] - 1:
        raise SoundIndexFormatError(f"{path}: sound lists and peak table disagree")
    try:
        table = TripletTable(
            int(header["table_bits"]),
            int(header["time_bits"]),
            arrays["offsets"],
            arrays["check"],
            arrays["postings"],
        )
        peaks = PeakTable(arrays["peak_offsets"], arrays["peak_times"], arrays["peak_bins"])
    except (KeyError, ValueError) as exc:
        raise SoundIndexFormatError(f"{path}: inconsistent search file ({exc})") from exc
    if not checked:
        with _VERSIONS_LOCK:
            _VERIFIED.add(version)
    return SearchFile(header, table, peaks)
