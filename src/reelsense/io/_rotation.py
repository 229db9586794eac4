"""Display rotation read from container headers, without decoding a single frame.

PyAV exposes a stream's display matrix only on decoded frames. To report the upright
size of a video from headers alone (``probe``, audio-only ``decode``), this module reads
the matrix itself from the two container families that carry one:

- ISO-BMFF (mp4, mov, m4v): the ``tkhd`` transformation matrix of the first video track;
- Matroska/WebM: ``ProjectionPoseRoll`` of the first video track.

Only box/element headers are read (the ``moov``/``Tracks`` payload at most), seeking past
everything else, so the cost does not grow with the file. The result is the clockwise
turn, in degrees (0, 90, 180 or 270), that displays the coded picture upright; the same
convention as the legacy ``rotate`` tag. Anything unreadable gives ``None`` and the caller
falls back to the display matrix of decoded frames.
"""

from __future__ import annotations

import math
import struct
from typing import BinaryIO

__all__ = ["display_matrix_rotation", "header_rotation_degrees", "normalize_rotation"]

_MAX_HEADER_BYTES = 64 * 1024 * 1024  # a moov/Tracks payload larger than this is not read
_ISO_CONTAINER_BOXES = {b"moov", b"trak", b"mdia"}

# Matroska element ids (with their length marker bits, as written in the file)
_EBML = 0x1A45DFA3
_SEGMENT = 0x18538067
_TRACKS = 0x1654AE6B
_CLUSTER = 0x1F43B675
_TRACK_ENTRY = 0xAE
_TRACK_TYPE = 0x83
_VIDEO = 0xE0
_PROJECTION = 0x7670
_POSE_YAW = 0x7673
_POSE_PITCH = 0x7674
_POSE_ROLL = 0x7675


def normalize_rotation(degrees: float) -> int:
    """Nearest multiple of 90 in [0, 360). A tie (45, 135, ...) goes to the even quarter turn
    (0 or 180: the coded width and height are kept); the rest of a tilt is not applied."""
    return (round(degrees / 90.0) * 90) % 360


def display_matrix_rotation(matrix: bytes) -> int | None:
    """Clockwise quarter turn of an FFmpeg display matrix (nine native-endian int32, as in a
    frame's ``DISPLAYMATRIX`` side data), from its exact angle, as the headers are read (PyAV's
    ``frame.rotation`` is cut to whole degrees: 45.4 became 45, a tie, where the header gave 90);
    None for a matrix that is not one (too short, no rotation part)."""
    if len(matrix) < 36:
        return None
    return _matrix_rotation(struct.unpack_from("=9i", matrix))


def _matrix_rotation(m: tuple[int, ...]) -> int | None:
    """Clockwise quarter turn of a 3x3 display matrix, row by row (``a b u c d v x y w``, as
    an ISO ``tkhd`` and FFmpeg's side data lay it out), from its angle with each column's scale
    divided out, as FFmpeg's ``av_display_rotation_get``; None without a rotation part."""
    scale_0, scale_1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale_0 == 0 or scale_1 == 0:
        return None
    return normalize_rotation(math.degrees(math.atan2(m[1] / scale_1, m[0] / scale_0)))


def header_rotation_degrees(fh: BinaryIO) -> int | None:
    """Clockwise display rotation of the first video track, or None when unknown.

    ``fh`` is a binary file positioned anywhere; it is left at an arbitrary position.
    """
    fh.seek(0)
    head = fh.read(12)
    if len(head) < 8:
        return None
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return _iso_rotation(fh)
    if head[:4] == _EBML.to_bytes(4, "big"):
        return _matroska_rotation(fh)
    return None


# ---------------------------------------------------------------------------- ISO-BMFF


def _iso_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload_start, payload_end) of the boxes in ``data[start:end]``."""
    boxes = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        boxes.append((kind, pos + header, pos + size))
        pos += size
    return boxes


def _find_top_level_box(fh: BinaryIO, wanted: bytes) -> bytes | None:
    fh.seek(0, 2)
    file_end = fh.tell()
    pos = 0
    while pos + 8 <= file_end:
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            return None
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1 and len(head) == 16:
            size = struct.unpack_from(">Q", head, 8)[0]
            header = 16
        elif size == 0:
            size = file_end - pos
        if size < header:
            return None
        if kind == wanted:
            if size - header > _MAX_HEADER_BYTES:
                return None
            fh.seek(pos + header)
            payload = fh.read(size - header)
            return payload if len(payload) == size - header else None
        pos += size
    return None


def _tkhd_rotation(data: bytes, start: int, end: int) -> int | None:
    version = data[start]
    offset = start + 4 + (32 if version == 1 else 20) + 16  # times/ids, then reserved..volume
    if offset + 36 > end:
        return None
    m = struct.unpack_from(">9i", data, offset)
    if m[0] == 0 and m[1] == 0:
        return None
    return _matrix_rotation(m)


def _iso_rotation(fh: BinaryIO) -> int | None:
    moov = _find_top_level_box(fh, b"moov")
    if moov is None:
        return None
    for kind, start, end in _iso_boxes(moov, 0, len(moov)):
        if kind != b"trak":
            continue
        rotation = None
        is_video = False
        for sub, s_start, s_end in _iso_boxes(moov, start, end):
            if sub == b"tkhd":
                rotation = _tkhd_rotation(moov, s_start, s_end)
            elif sub == b"mdia":
                for leaf, l_start, l_end in _iso_boxes(moov, s_start, s_end):
                    if leaf == b"hdlr" and l_end - l_start >= 12:
                        is_video = moov[l_start + 8 : l_start + 12] == b"vide"
        if is_video:
            return rotation if rotation is not None else 0
    return None


# ---------------------------------------------------------------------------- Matroska


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """(value, next position) of the EBML variable-length integer at ``pos``."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first == 0:
        return None
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big")
    if not keep_marker:
        value &= (1 << (7 * length)) - 1
        if value == (1 << (7 * length)) - 1:
            value = -1  # unknown size
    return value, pos + length


def _ebml_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end:
        ident = _vint(data, pos, keep_marker=True)
        if ident is None:
            break
        size = _vint(data, ident[1], keep_marker=False)
        if size is None or size[0] < 0 or size[1] + size[0] > end:
            break
        out.append((ident[0], size[1], size[1] + size[0]))
        pos = size[1] + size[0]
    return out


def _ebml_float(data: bytes, start: int, end: int) -> float:
    if end - start == 4:
        return float(struct.unpack_from(">f", data, start)[0])
    if end - start == 8:
        return float(struct.unpack_from(">d", data, start)[0])
    return 0.0


def _read_element_header(fh: BinaryIO) -> tuple[int, int, int] | None:
    """(id, size or -1, payload position) of the element at the file position."""
    pos = fh.tell()
    head = fh.read(12)
    ident = _vint(head, 0, keep_marker=True)
    if ident is None:
        return None
    size = _vint(head, ident[1], keep_marker=False)
    if size is None:
        return None
    return ident[0], size[0], pos + size[1]


def _matroska_tracks(fh: BinaryIO) -> bytes | None:
    fh.seek(0)
    ebml = _read_element_header(fh)
    if ebml is None or ebml[0] != _EBML or ebml[1] < 0:
        return None
    fh.seek(ebml[2] + ebml[1])
    segment = _read_element_header(fh)
    if segment is None or segment[0] != _SEGMENT:
        return None
    pos = segment[2]
    while True:
        fh.seek(pos)
        element = _read_element_header(fh)
        if element is None or element[0] == _CLUSTER or element[1] < 0:
            return None
        ident, size, payload = element
        if ident == _TRACKS:
            if size > _MAX_HEADER_BYTES:
                return None
            fh.seek(payload)
            data = fh.read(size)
            return data if len(data) == size else None
        pos = payload + size


def _matroska_rotation(fh: BinaryIO) -> int | None:
    tracks = _matroska_tracks(fh)
    if tracks is None:
        return None
    for ident, start, end in _ebml_children(tracks, 0, len(tracks)):
        if ident != _TRACK_ENTRY:
            continue
        children = _ebml_children(tracks, start, end)
        track_type = next(
            (int.from_bytes(tracks[s:e], "big") for i, s, e in children if i == _TRACK_TYPE), None
        )
        if track_type != 1:
            continue
        pose = {_POSE_YAW: 0.0, _POSE_PITCH: 0.0, _POSE_ROLL: 0.0}
        for video_id, v_start, v_end in children:
            if video_id != _VIDEO:
                continue
            for proj_id, p_start, p_end in _ebml_children(tracks, v_start, v_end):
                if proj_id != _PROJECTION:
                    continue
                for pose_id, q_start, q_end in _ebml_children(tracks, p_start, p_end):
                    if pose_id in pose:
                        pose[pose_id] = _ebml_float(tracks, q_start, q_end)
        if pose[_POSE_YAW] != 0.0 or pose[_POSE_PITCH] != 0.0:
            return None  # a flip or 3-D pose: leave it to the decoded frames
        return normalize_rotation(-pose[_POSE_ROLL])  # roll is counter-clockwise
    return None
