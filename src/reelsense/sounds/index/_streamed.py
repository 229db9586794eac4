"""Building the search file from a stream of sounds in bounded memory.

:func:`reelsense.sounds._tables.build_part` holds every peak, a bucket-count array and the whole
table at once: about 4 GB of resident memory for 10,000 sounds of 3 minutes. Here the sounds are
read once, in order, and nothing proportional to the index stays in memory:

1. each sound's peaks are appended to two spill files (times, bins), and every group of sounds
   holding about ``chunk_peaks`` peaks is turned into reference triplet keys whose postings are
   appended to one of ``2 ** PARTITION_BITS`` spill files, chosen by the top bits of the key's hash
   (the same hash that picks its bucket, so a partition is a contiguous range of buckets);
2. once the totals are known (table size, posting width), each partition is loaded on its own,
   ordered by bucket (a stable sort: postings keep the order the in-memory build gives them) and
   written to its place in the search file with ``pwrite``; the peak spill files are copied
   into place in blocks.

The arrays are equal, element for element, to those :func:`reelsense.sounds._tables.build_part`
builds (only their order in the file differs). Spill files live in a temporary
folder beside the output (same file system) and are removed however the build ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from reelsense.errors import ParameterError
from reelsense.sounds._tables import _CHECK_SHIFT, PeakTable, _hash, reference_chunks, table_bits
from reelsense.sounds.fingerprint import FingerprintParams

__all__ = ["PARTITION_BITS", "StreamedBuild", "build_streamed"]

#: postings are spilled into 2**PARTITION_BITS files by the top bits of their hash
PARTITION_BITS = 6
_SPILL = np.dtype([("h", "<u4"), ("check", "u1"), ("sound", "<u4"), ("frame", "<u4")])
_COPY_BLOCK = 1 << 22  # elements per block when copying spilled peaks into place


@dataclass
class StreamedBuild:
    """What :func:`build_streamed` wrote: the array layout (name -> dtype, shape, offset) and the
    triplet table's ``table_bits`` / ``time_bits``, for the search file's header."""

    layout: dict[str, dict[str, Any]] = field(default_factory=dict)
    bits: int = 0
    time_bits: int = 0
    end: int = 0


class _Out:
    """Arrays placed at 4096-byte aligned offsets of an open file, written with ``pwrite``."""

    def __init__(self, fd: int, align: int) -> None:
        self.fd = fd
        self.align = align
        self.end = 0
        self.layout: dict[str, dict[str, Any]] = {}

    def reserve(self, name: str, shape: tuple[int, ...], dtype: str) -> None:
        offset = -(-self.end // self.align) * self.align
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        self.layout[name] = {"dtype": dtype, "shape": list(shape), "offset": offset}
        self.end = offset + nbytes
        os.ftruncate(self.fd, self.end)

    def write(self, name: str, start: int, values: np.ndarray) -> None:
        spec = self.layout[name]
        data = np.ascontiguousarray(values, dtype=spec["dtype"])
        pos = spec["offset"] + start * np.dtype(spec["dtype"]).itemsize
        view = data.data.cast("B")
        while view:
            n = os.pwrite(self.fd, view, pos)
            view, pos = view[n:], pos + n


def build_streamed(
    sounds: Iterable[tuple[np.ndarray, np.ndarray]],
    params: FingerprintParams,
    fd: int,
    *,
    align: int,
    spill_dir: str | os.PathLike[str],
    chunk_peaks: int = 50_000,
) -> StreamedBuild:
    """Write the peak table and triplet table of ``sounds`` (``(times, bins)`` float per sound, in
    index order) into the open file ``fd`` from offset 0, in bounded memory (see the module
    docstring). Returns the layout for the header."""
    tmp = Path(tempfile.mkdtemp(prefix=".reelsense-build-", dir=spill_dir))
    try:
        return _build(sounds, params, fd, align, tmp, chunk_peaks)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _groups(
    sounds: Iterable[tuple[np.ndarray, np.ndarray]], chunk_peaks: int
) -> Iterator[list[tuple[np.ndarray, np.ndarray]]]:
    group: list[tuple[np.ndarray, np.ndarray]] = []
    size = 0
    for times, bins in sounds:
        t = np.asarray(times, dtype=np.float32)
        b = np.asarray(bins, dtype=np.float32)
        if t.shape != b.shape or t.ndim != 1:
            raise ParameterError(f"peak times and bins of one sound differ in shape: {t.shape}, {b.shape}")
        if t.size > 1 and np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, b = t[order], b[order]
        if group and size + t.size > chunk_peaks:  # the grouping of reference_chunks over all sounds
            yield group
            group, size = [], 0
        group.append((t, b))
        size += t.size
    if group:
        yield group


def _build(
    sounds: Iterable[tuple[np.ndarray, np.ndarray]],
    params: FingerprintParams,
    fd: int,
    align: int,
    tmp: Path,
    chunk_peaks: int,
) -> StreamedBuild:
    n_parts = 1 << PARTITION_BITS
    parts: list[IO[bytes]] = [(tmp / f"p{i:03d}").open("wb") for i in range(n_parts)]
    times_f = (tmp / "times").open("wb")
    bins_f = (tmp / "bins").open("wb")
    lengths: list[int] = []
    max_frame = 0.0
    n_postings = 0
    try:
        n_sounds = 0
        for group in _groups(sounds, chunk_peaks):
            table = PeakTable.build(group)
            for t, b in group:
                t.tofile(times_f)
                b.tofile(bins_f)
                lengths.append(int(t.size))
                if t.size:
                    max_frame = max(max_frame, float(t[-1]))
            chunks = reference_chunks(table, params, sound_offset=n_sounds, chunk_peaks=1 << 62)
            for keys, snd, frames in chunks():
                if keys.size == 0:
                    continue
                h = _hash(keys)
                rec = np.empty(keys.size, dtype=_SPILL)
                rec["h"] = (h >> np.uint64(32)).astype(np.uint32)
                rec["check"] = ((h >> _CHECK_SHIFT) & np.uint64(0xFF)).astype(np.uint8)
                rec["sound"] = snd
                rec["frame"] = frames
                which = (rec["h"] >> np.uint32(32 - PARTITION_BITS)).astype(np.int64)
                order = np.argsort(which, kind="stable")
                starts = np.searchsorted(which[order], np.arange(n_parts + 1))
                for part in np.flatnonzero(np.diff(starts)).tolist():
                    rec[order[starts[part] : starts[part + 1]]].tofile(parts[part])
                n_postings += int(keys.size)
            n_sounds += len(group)
    finally:
        for f in (*parts, times_f, bins_f):
            f.close()
    n_peaks = int(sum(lengths))
    fan = params.ref_fan_out
    bits = table_bits(n_peaks * fan * (fan - 1) // 2)
    if bits < PARTITION_BITS:
        raise ParameterError(f"table of 2**{bits} buckets is smaller than {n_parts} partitions")
    time_bits = max(1, int(int(np.ceil(max_frame)) + 1).bit_length())
    sound_bits = max(1, int(max(n_sounds, 1)).bit_length())
    if time_bits + sound_bits > 64:
        raise ParameterError(f"{n_sounds} sounds of up to {max_frame:.0f} frames do not fit a 64-bit posting")
    post_dtype = "<u4" if time_bits + sound_bits <= 32 else "<u8"
    off_dtype = "<u4" if n_postings < (1 << 32) else "<u8"
    out = _Out(fd, align)
    out.reserve("offsets", ((1 << bits) + 1,), off_dtype)
    out.reserve("check", (n_postings,), "|u1")
    out.reserve("postings", (n_postings,), post_dtype)
    out.reserve("peak_offsets", (len(lengths) + 1,), "<i8")
    out.reserve("peak_times", (n_peaks,), "<f4")
    out.reserve("peak_bins", (n_peaks,), "<f4")
    # the triplet table, one partition (a range of buckets) at a time
    local_bits = bits - PARTITION_BITS
    filled: int = 0
    out.write("offsets", 0, np.zeros(1, dtype=np.int64))
    for p in range(n_parts):
        rec = np.fromfile(tmp / f"p{p:03d}", dtype=_SPILL)
        (tmp / f"p{p:03d}").unlink()
        local = ((rec["h"] >> np.uint32(32 - bits)) & np.uint32((1 << local_bits) - 1)).astype(np.int64)
        counts = np.bincount(local, minlength=1 << local_bits)
        out.write("offsets", 1 + (p << local_bits), filled + np.cumsum(counts))
        del counts
        order = np.argsort(local, kind="stable")
        del local
        rec = rec[order]
        del order
        out.write("check", filled, rec["check"])
        packed = (rec["sound"].astype(np.uint64) << np.uint64(time_bits)) | rec["frame"].astype(np.uint64)
        out.write("postings", filled, packed)
        filled = filled + int(rec.size)
        del rec, packed
    if filled != n_postings:
        raise ParameterError(f"spilled {n_postings} postings, read back {filled}")
    # the peak table: offsets, then the spilled peaks copied into place
    out.write("peak_offsets", 0, np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))
    for name, spill in (("peak_times", tmp / "times"), ("peak_bins", tmp / "bins")):
        with spill.open("rb") as f:
            start = 0
            while True:
                block = np.fromfile(f, dtype="<f4", count=_COPY_BLOCK)
                if block.size == 0:
                    break
                out.write(name, start, block)
                start += block.size
        spill.unlink()
    return StreamedBuild(out.layout, bits, time_bits, out.end)
