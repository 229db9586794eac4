"""Array <-> blob codec of the fingerprint store (no pickle, self-describing columns).

An array is stored as one row of the ``arrays`` table (see
:mod:`reelsense.sounds.index._store`) with the columns
``dtype`` (a numpy dtype string, always little-endian, e.g. ``'<u4'``), ``shape`` (a JSON list of ints,
C order), ``codec``, ``nbytes`` (length of the decoded bytes), ``crc32`` (``zlib.crc32`` of the decoded
bytes) and ``data`` (the blob). Two codecs exist:

- ``'raw'``: ``data`` is the C-order little-endian bytes of the array
  (``np.frombuffer(data, dtype).reshape(shape)`` reads it).
- ``'shuffle-zlib'``: the bytes are first byte-shuffled (byte 0 of every element, then byte 1 of every
  element, ...: an ``(n_elements, itemsize)`` byte matrix transposed to ``(itemsize, n_elements)``) and then
  compressed with zlib level 1. Decode with ``np.frombuffer(zlib.decompress(data), np.uint8)
  .reshape(itemsize, -1).T`` and view the result as ``dtype``.

The writer picks ``'shuffle-zlib'`` only for arrays whose compressed form is at most
:data:`COMPRESS_KEEP_RATIO` of the raw size; fingerprint hashes are close to random and stay ``'raw'``,
while time/frame columns (small integers in wide types) typically shrink to ~25 %.

Only fixed-size integer and float dtypes are accepted (:data:`ALLOWED_DTYPES`); every decoded array is
validated (dtype in the whitelist, shape consistent with ``nbytes``, blob length, CRC) and a mismatch raises
:class:`~reelsense.errors.SoundIndexFormatError` naming the sound and the array.
"""

from __future__ import annotations

import json
import math
import shlex
import zlib
from dataclasses import dataclass

import numpy as np

from reelsense.errors import ParameterError, SoundIndexFormatError

__all__ = [
    "ALLOWED_DTYPES",
    "CODECS",
    "COMPRESS_KEEP_RATIO",
    "MAX_ARRAY_BYTES",
    "EncodedArray",
    "decode_array",
    "encode_array",
    "readd_hint",
]

#: dtype strings (little-endian, as stored) that may appear in a store.
ALLOWED_DTYPES: frozenset[str] = frozenset(
    {"|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"}
)
#: codec names a store may use for new arrays ("auto" resolves per array).
CODECS: tuple[str, ...] = ("raw", "shuffle-zlib")
#: a compressed blob is kept only when it is at most this fraction of the raw bytes.
COMPRESS_KEEP_RATIO = 0.9
#: largest array (decoded bytes) one row may hold; SQLite's default blob limit is 1e9 bytes.
MAX_ARRAY_BYTES = 900_000_000
_ZLIB_LEVEL = 1
_PROBE_BYTES = 8192
_PROBE_KEEP_RATIO = 0.97


@dataclass(frozen=True)
class EncodedArray:
    """One array ready for an ``arrays`` row.

    Attributes:
        name: array name within its sound.
        dtype: little-endian dtype string (one of :data:`ALLOWED_DTYPES`).
        shape_json: the shape as a JSON list of ints.
        codec: ``'raw'`` or ``'shuffle-zlib'``.
        nbytes: length of the decoded bytes (``prod(shape) * itemsize``).
        crc32: ``zlib.crc32`` of the decoded bytes.
        data: the blob (bytes or a contiguous memoryview).
        n_items: ``shape[0]`` (1 for a 0-d array).
    """

    name: str
    dtype: str
    shape_json: str
    codec: str
    nbytes: int
    crc32: int
    data: bytes | memoryview
    n_items: int


def _shuffle(raw_u8: np.ndarray, itemsize: int) -> np.ndarray:
    """Byte planes of a flat uint8 view: (n * itemsize,) -> contiguous (itemsize, n)."""
    return np.ascontiguousarray(raw_u8.reshape(-1, itemsize).T)


def _worth_compressing(raw_u8: np.ndarray, itemsize: int) -> bool:
    """Cheap pre-check on a prefix: False when even the first :data:`_PROBE_BYTES` do not shrink.

    Saves compressing whole arrays of near-random hashes only to throw the result away.
    """
    if raw_u8.size <= 2 * _PROBE_BYTES:
        return True
    probe = raw_u8[: _PROBE_BYTES - _PROBE_BYTES % itemsize]
    return len(zlib.compress(_shuffle(probe, itemsize).data, _ZLIB_LEVEL)) <= _PROBE_KEEP_RATIO * probe.size


def encode_array(name: str, value: object, compression: str) -> EncodedArray:
    """Validate one array and encode it for storage.

    Args:
        name: array name (non-empty str).
        value: an ``np.ndarray`` (any shape, any byte order, any strides) of a fixed-size int/uint/float
            dtype; array-likes are converted with ``np.asarray`` but must end up with such a dtype.
        compression: ``'raw'`` (store bytes as they are) or ``'shuffle-zlib'`` (try byte-shuffle + zlib and
            keep it when it saves at least 10 %).

    Raises:
        ParameterError: a bad name, a dtype outside :data:`ALLOWED_DTYPES`, or an unknown compression.
    """
    if not isinstance(name, str) or not name:
        raise ParameterError(f"array names must be non-empty strings, got {name!r}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise ParameterError(
            f"array {name!r} has dtype {arr.dtype} which a sound index cannot store; "
            "use a fixed-size integer or float dtype (int8..int64, uint8..uint64, float16..float64)"
        )
    le = arr.dtype.newbyteorder("<")
    if le.str not in ALLOWED_DTYPES:
        raise ParameterError(
            f"array {name!r} has unsupported dtype {arr.dtype} (allowed: {sorted(ALLOWED_DTYPES)})"
        )
    if arr.nbytes > MAX_ARRAY_BYTES:
        raise ParameterError(
            f"array {name!r} holds {arr.nbytes} bytes; one stored array may hold at most {MAX_ARRAY_BYTES}"
        )
    flat = np.ascontiguousarray(arr, dtype=le).reshape(-1).view(np.uint8)
    crc = zlib.crc32(flat.data)
    nbytes = int(flat.size)
    shape_json = json.dumps([int(s) for s in arr.shape])
    n_items = int(arr.shape[0]) if arr.ndim else 1
    if compression == "shuffle-zlib" and nbytes and _worth_compressing(flat, le.itemsize):
        packed = zlib.compress(_shuffle(flat, le.itemsize).data, _ZLIB_LEVEL)
        if len(packed) <= COMPRESS_KEEP_RATIO * nbytes:
            return EncodedArray(name, le.str, shape_json, "shuffle-zlib", nbytes, crc, packed, n_items)
    elif compression not in CODECS:
        raise ParameterError(f"unknown compression {compression!r}; expected one of {CODECS}")
    return EncodedArray(name, le.str, shape_json, "raw", nbytes, crc, flat.data, n_items)


def readd_hint(sound_id: str, index: str) -> str:
    """How a user replaces a damaged sound: the command (the index path quoted for a shell),
    and the library call."""
    return (
        f"add it again: `reelsense sounds add FILE --sound-index {shlex.quote(index)} --replace` "
        f"with the file of {sound_id!r} "
        f"(SoundIndex.add_file(FILE, {sound_id!r}, replace=True) in the library)"
    )


def _corrupt(sound_id: str, name: str, why: str, index: str) -> SoundIndexFormatError:
    return SoundIndexFormatError(
        f"array {name!r} of sound {sound_id!r} in {index} is corrupt ({why}); {readd_hint(sound_id, index)}"
    )


def _parse_shape(sound_id: str, name: str, shape_json: object, index: str) -> tuple[int, ...]:
    try:
        shape = json.loads(shape_json) if isinstance(shape_json, str) else None
    except json.JSONDecodeError:
        shape = None
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise _corrupt(sound_id, name, f"shape {shape_json!r} is not a JSON list of non-negative ints", index)
    return tuple(shape)


def decode_array(
    sound_id: str,
    name: str,
    dtype: object,
    shape_json: object,
    codec: object,
    nbytes: object,
    crc32: object,
    data: object,
    *,
    verify: bool = True,
    index: str = "the sound index",
) -> np.ndarray:
    """Decode and validate one stored array (the columns of one ``arrays`` row); ``index``:
    the index file, for the error message.

    Returns:
        a read-only array of the stored shape in native byte order (zero-copy for ``'raw'`` blobs on
        little-endian machines).

    Raises:
        SoundIndexFormatError: naming ``sound_id`` and ``name``, when any column is inconsistent, the blob
            does not decompress, or (with ``verify``) its CRC-32 differs.
    """
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise _corrupt(sound_id, name, f"dtype {dtype!r} is not one of {sorted(ALLOWED_DTYPES)}", index)
    dt = np.dtype(dtype)
    shape = _parse_shape(sound_id, name, shape_json, index)
    expected = math.prod(shape) * dt.itemsize
    if not isinstance(data, bytes):
        raise _corrupt(sound_id, name, f"data is {type(data).__name__}, not a blob", index)
    if nbytes != expected:
        raise _corrupt(sound_id, name, f"nbytes {nbytes!r} != {expected} for shape {shape} of {dtype}", index)
    if codec == "raw":
        if len(data) != expected:
            raise _corrupt(
                sound_id,
                name,
                f"blob holds {len(data)} bytes, shape {shape} of {dtype} needs {expected}",
                index,
            )
        u8 = np.frombuffer(data, dtype=np.uint8)
    elif codec == "shuffle-zlib":
        try:
            planes = zlib.decompress(data, bufsize=max(expected, 1))
        except zlib.error as exc:
            raise _corrupt(sound_id, name, f"zlib: {exc}", index) from None
        if len(planes) != expected:
            raise _corrupt(sound_id, name, f"decompresses to {len(planes)} bytes, expected {expected}", index)
        u8 = np.frombuffer(planes, dtype=np.uint8).reshape(dt.itemsize, -1).T.copy().reshape(-1)
    else:
        raise _corrupt(sound_id, name, f"unknown codec {codec!r} (expected one of {CODECS})", index)
    if verify and zlib.crc32(u8.data) != crc32:
        raise _corrupt(sound_id, name, "CRC-32 mismatch", index)
    arr = u8.view(dt).reshape(shape)
    if not dt.isnative:
        arr = arr.astype(dt.newbyteorder("="))
    arr.flags.writeable = False
    return arr
