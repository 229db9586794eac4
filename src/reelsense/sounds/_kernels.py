"""Compiled inner loops of the verification (:func:`reelsense.sounds.verify.align`), of the
query's triplet keys, hash look-ups and votes (:func:`reelsense.sounds.match.probe`), of the
spectrogram's whitening and local maxima in peak picking
(:func:`reelsense.sounds.fingerprint.pick_peaks`) and of the peak
triplets (:func:`reelsense.sounds.fingerprint.peak_triplets`), with numba.

Verifying a candidate is many small steps over a few thousand peak pairs; in numpy each step is a
call whose overhead outweighs its work (about 2.5 ms per candidate, 25 candidates for a query that
matches nothing). These kernels do the same computation in one compiled pass each. They are the
default when numba imports (a dependency of librosa, so it is installed with reelsense); setting
``REELSENSE_NUMBA=0`` selects the numpy implementation, which the tests compare them against.

Compiled code is cached beside this file (or in numba's user cache directory when that is not
writable), so only the first process on a machine pays the compilation (a few seconds).

Both kernels index reference peaks by whole log bin (a counting sort, :func:`bin_buckets`) and
find, for each query peak, the reference peaks within ``tol_bins`` of its shifted bin.

The hash look-up asks the processor for buckets ahead of the one it reads (``_prefetch``, an
LLVM ``prefetch`` intrinsic): a hint that changes no result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, cast

import numpy as np

__all__ = [
    "AVAILABLE",
    "MIN_NULL_OFFSETS",
    "NO_KEY",
    "add_pair_totals",
    "best_windows",
    "bin_buckets",
    "box_mean",
    "bucket_peaks",
    "cell_keys",
    "chance_level",
    "counting_order",
    "grid_triplet_keys",
    "local_peaks",
    "local_search",
    "mark_hypotheses",
    "near_span",
    "near_split",
    "nonzero_of",
    "null_counts",
    "null_grid",
    "null_offsets",
    "peak_triplets",
    "peaks_over",
    "presence_filter",
    "ranked_rows",
    "refine_peaks",
    "run_votes",
    "sparse_best_windows",
    "stable_order",
    "table_lookup",
    "top_rows",
]

try:
    if os.environ.get("REELSENSE_NUMBA", "1") == "0":
        raise ImportError("disabled by REELSENSE_NUMBA=0")
    from llvmlite import ir
    from numba import config as numba_config
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised with REELSENSE_NUMBA=0
    AVAILABLE = False

    def njit(*args, **kwargs):  # type: ignore[no-untyped-def,no-redef]
        def wrap(fn):  # type: ignore[no-untyped-def]
            return fn

        return wrap


def _no_prefetch(array: np.ndarray, index: Any) -> None:
    """Nothing: the kernels run as Python (numba's ``NUMBA_DISABLE_JIT=1``) or not at all."""


_prefetch: Callable[[np.ndarray, Any], None] = _no_prefetch
if AVAILABLE and not getattr(numba_config, "DISABLE_JIT", False):  # an intrinsic cannot run as Python

    @intrinsic
    def _prefetch_hint(typingctx, array, index):  # type: ignore[no-untyped-def]
        """A hint that ``array[index]`` (1-D, contiguous) will be read soon: the processor starts
        loading its cache line and goes on (LLVM's ``prefetch``, read, high locality)."""
        sig = types.void(array, index)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            array_type = signature.args[0]
            data = context.make_array(array_type)(context, builder, args[0])
            pointer = cgutils.get_item_pointer(
                context, builder, array_type, data, [args[1]], wraparound=False
            )
            byte_pointer = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn_type = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.prefetch.p0i8")
            read, high_locality, data_cache = (ir.Constant(i32, v) for v in (0, 3, 1))
            builder.call(fn, [builder.bitcast(pointer, byte_pointer), read, high_locality, data_cache])
            return context.get_dummy_value()

        return sig, codegen

    _prefetch = cast("Callable[[np.ndarray, Any], None]", _prefetch_hint)


@njit(cache=True, nogil=True)
def counting_order(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """A stable counting sort of ``keys`` (integers in ``[0, n_keys)``): ``(order int64 [n],
    starts int64 [n_keys + 1])``; the positions holding key ``k`` are ``order[starts[k]:starts[k+1]]``,
    in increasing order."""
    starts = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(keys.size):
        starts[keys[i] + 1] += 1
    for k in range(n_keys):
        starts[k + 1] += starts[k]
    fill = starts[:-1].copy()
    order = np.empty(keys.size, dtype=np.int64)
    for i in range(keys.size):
        order[fill[keys[i]]] = i
        fill[keys[i]] += 1
    return order, starts


@njit(cache=True, nogil=True)
def bin_buckets(ref_bins: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference peak indices grouped by whole bin: ``(order int64 [r], starts int64 [n_bins + 1])``;
    peaks of bin ``b`` (``floor``, clipped to ``[0, n_bins)``) are ``order[starts[b]:starts[b+1]]``."""
    which = np.empty(ref_bins.size, dtype=np.int64)
    for i in range(ref_bins.size):
        which[i] = min(max(int(np.floor(ref_bins[i])), 0), n_bins - 1)
    return counting_order(which, n_bins)


@njit(cache=True, nogil=True)
def bucket_peaks(
    ref_times: np.ndarray, ref_bins: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """:func:`bin_buckets` with the peaks' times and bins copied in bucket order (float64 ``[r]``
    each: the pair search reads them in sequence) and whether the times are sorted (each
    bucket's then are): ``(order, starts, times, bins, in_time_order)``."""
    order, starts = bin_buckets(ref_bins, n_bins)
    times = np.empty(order.size)
    bins = np.empty(order.size)
    for p in range(order.size):
        times[p] = ref_times[order[p]]
        bins[p] = ref_bins[order[p]]
    in_time_order = True
    for j in range(1, ref_times.size):
        if not ref_times[j] >= ref_times[j - 1]:
            in_time_order = False
    return order, starts, times, bins, in_time_order


@njit(cache=True, nogil=True)
def _inverse_step(step: float, half: float) -> tuple[bool, float]:
    """Whether ``rint(u * (1 / step))`` may stand for ``rint(u / step)`` when only offsets ``u``
    within ``half`` of a multiple of ``step`` count, and ``1 / step``. The two differ only where
    ``u / step`` lies within a few units in the last place of a half-integer, about ``step / 2`` from
    both multiples; with ``half`` below that by a relative 1e-6 (far more than the rounding error
    wherever ``|u / step| < 1e9``), such an ``u`` counts under neither, so the counts are the same."""
    return half < 0.5 * step * (1.0 - 1e-6), 1.0 / step


@njit(cache=True, nogil=True)
def _pairs_into(
    q_bins: np.ndarray,
    buckets: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool],
    shifts: np.ndarray,
    tol_bins: float,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    kept: tuple[np.ndarray, float, float, float, float, np.ndarray],
    kk: np.ndarray,
    qq: np.ndarray,
    rr: np.ndarray,
) -> int:
    """The pairs of :func:`_pairs`, by query peak, then bucket, then reference peak, then shift:
    their number, the first ones written into ``kk``, ``qq``, ``rr`` (as many as they hold).

    Each query peak visits the buckets its shifts reach once: a reference peak found in its
    time window is tested against every shift whose buckets hold it (the shifts of the local
    search are closer together than the tolerance, so most buckets serve several)."""
    order, starts, ref_times, ref_bins, in_time_order = buckets
    q_times, scale, first, step, half, compact = kept
    n_c = compact.size
    n_bins = starts.size - 1
    by_inverse, inv_step = _inverse_step(step, half)
    n_k = shifts.size
    # a sweep when the windows move forward and the reference is in time order (a bucket then is
    # too): each bucket keeps a cursor past the peaks before every later window, and a window's
    # scan stops at its first later peak. The same pairs as a full scan.
    sweep = in_time_order
    for i in range(1, t_lo.size):
        if not t_lo[i] >= t_lo[i - 1]:
            sweep = False
    cursor = starts[:-1].copy()
    target = np.empty(n_k)
    k_lo = np.empty(n_k, dtype=np.int64)
    k_hi = np.empty(n_k, dtype=np.int64)
    n = 0
    for i in range(q_bins.size):
        u_lo = n_bins  # the buckets of every shift: [u_lo, u_hi]
        u_hi = -1
        for k in range(n_k):
            target[k] = q_bins[i] + shifts[k]
            k_lo[k] = max(int(np.floor(target[k] - tol_bins)), 0)
            k_hi[k] = min(int(np.floor(target[k] + tol_bins)), n_bins - 1)
            if k_lo[k] <= k_hi[k]:
                u_lo = min(u_lo, k_lo[k])
                u_hi = max(u_hi, k_hi[k])
        sq = scale * q_times[i] if n_c else 0.0
        for b in range(u_lo, u_hi + 1):
            first_p = starts[b]
            if sweep:
                first_p = cursor[b]
                while first_p < starts[b + 1] and ref_times[first_p] < t_lo[i]:
                    first_p += 1
                cursor[b] = first_p
            for p in range(first_p, starts[b + 1]):
                if sweep and ref_times[p] > t_hi[i]:
                    break
                if not t_lo[i] <= ref_times[p] <= t_hi[i]:
                    continue
                if n_c:  # only pairs at the offsets asked for
                    u = ref_times[p] - sq
                    v = u - first
                    c = int(np.rint(v * inv_step if by_inverse else v / step))
                    if c < 0 or c >= n_c or compact[c] < 0 or abs(u - first - c * step) > half:
                        continue
                for k in range(n_k):
                    if k_lo[k] <= b <= k_hi[k] and abs(ref_bins[p] - target[k]) <= tol_bins:
                        if n < kk.size:
                            kk[n] = k
                            qq[n] = i
                            rr[n] = order[p]
                        n += 1
    return n


@njit(cache=True, nogil=True)
def _pairs_into_one(
    q_bins: np.ndarray,
    buckets: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool],
    shift: float,
    tol_bins: float,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    kept: tuple[np.ndarray, float, float, float, float, np.ndarray],
    kk: np.ndarray,
    qq: np.ndarray,
    rr: np.ndarray,
) -> int:
    """:func:`_pairs_into` with a single shift (the chance level's counts): the same pairs in the
    same order, the shift's target and buckets held in scalars instead of per-shift arrays, which
    makes the per-query-peak loop, most of a count's cost near the match, about a fifth cheaper.
    Written out again on purpose: the two loops sharing helper functions (the sweep's cursor, the
    asked-offset test) ran 25-40 % slower, numba calling them instead of folding them in.

    Without branches in the scan: every reference peak scanned is written at the next free slot
    and kept by counting it only when it passes every test (which pass is close to chance, so a
    branch on it is often mispredicted); the last slot of ``kk``, ``qq``, ``rr`` takes the writes
    once the others are full, so they hold ``kk.size - 1`` pairs."""
    order, starts, ref_times, ref_bins, in_time_order = buckets
    q_times, scale, first, step, half, compact = kept
    n_c = compact.size
    n_bins = starts.size - 1
    by_inverse, inv_step = _inverse_step(step, half)
    sweep = in_time_order  # as in _pairs_into
    for i in range(1, t_lo.size):
        if not t_lo[i] >= t_lo[i - 1]:
            sweep = False
    cursor = starts[:-1].copy()
    last = kk.size - 1  # the slot of the tests that fail once the others are full
    n = 0
    for i in range(q_bins.size):
        target = q_bins[i] + shift
        lo, hi = t_lo[i], t_hi[i]
        sq = scale * q_times[i] if n_c else 0.0
        b_lo = max(int(np.floor(target - tol_bins)), 0)
        b_hi = min(int(np.floor(target + tol_bins)), n_bins - 1)
        for b in range(b_lo, b_hi + 1):
            first_p = starts[b]
            if sweep:
                first_p = cursor[b]
                while first_p < starts[b + 1] and ref_times[first_p] < lo:
                    first_p += 1
                cursor[b] = first_p
            for p in range(first_p, starts[b + 1]):
                t = ref_times[p]
                if sweep and t > hi:
                    break
                ok = (lo <= t) & (t <= hi) & (abs(ref_bins[p] - target) <= tol_bins)
                if n_c:  # only pairs at the offsets asked for
                    u = t - sq
                    v = u - first
                    c = int(np.rint(v * inv_step if by_inverse else v / step))
                    at = min(max(c, 0), n_c - 1)
                    ok = ok & (c >= 0) & (c < n_c) & (compact[at] >= 0) & (abs(u - first - c * step) <= half)
                w = min(n, last)
                kk[w] = 0
                qq[w] = i
                rr[w] = order[p]
                n += np.int64(ok)
    return n


@njit(cache=True, nogil=True)
def _pairs(
    q_bins: np.ndarray,
    buckets: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool],
    shifts: np.ndarray,
    tol_bins: float,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    kept: tuple[np.ndarray, float, float, float, float, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (shift index, query peak ``i``, reference peak) with ``|ref_bin - (q_bin + shift)| <= tol``
    (the reference peak's bucket within the shifted tolerance's) and the reference time in
    ``[t_lo[i], t_hi[i]]`` (the reference peaks as :func:`bucket_peaks` gives them; pairs name them
    by their index in the reference), shift by shift, then by query peak, bucket and reference
    peak. With ``kept = (q_times, scale, first, step, half, compact)`` and a non-empty
    ``compact``, only the pairs whose offset ``ref_time - scale * q_time`` lies within ``half`` of
    some ``first + c * step`` with ``compact[c] >= 0`` (an empty ``compact``: every pair).

    Written into arrays of a likely size and, when they were too small, again into arrays of the
    exact size: growing arrays inside the loop makes numba count references on every access,
    several times slower. The likely size is 2 pairs per query peak and shift, and 16 when only
    some offsets are kept (the chance level's counts; on the dev set a median of 6.5 pairs per
    query peak over a whole reference, 12 at the 99th percentile, and 1 to 5 near the match), so
    that a second pass is rare. Found by query peak, they are put in shift order at the end."""
    size = (16 if kept[5].size else 2) * q_bins.size * shifts.size
    while True:  # one slot more: :func:`_pairs_into_one` writes the tests that fail there when full
        kk = np.empty(size + 1, dtype=np.int64)
        qq = np.empty(size + 1, dtype=np.int64)
        rr = np.empty(size + 1, dtype=np.int64)
        if shifts.size == 1:
            n = _pairs_into_one(q_bins, buckets, shifts[0], tol_bins, t_lo, t_hi, kept, kk, qq, rr)
        else:
            n = _pairs_into(q_bins, buckets, shifts, tol_bins, t_lo, t_hi, kept, kk, qq, rr)
        if n <= size:
            break
        size = n
    if shifts.size == 1:
        return kk[:n], qq[:n], rr[:n]
    by_shift, _ = counting_order(kk[:n], shifts.size)
    return kk[by_shift], qq[by_shift], rr[by_shift]


@njit(cache=True, nogil=True)
def _capped_rows(
    rows: np.ndarray,
    lo: int,
    hi: int,
    cells: tuple[np.ndarray, np.ndarray],
    counts: tuple[np.ndarray, np.ndarray],
    cap_bin: int,
    cap_frame: int,
) -> int:
    """The capped count of the coincidences ``rows[lo:hi]``: the smaller of (at most ``cap_bin`` per
    query bin) and (at most ``cap_frame`` per query frame), ``cells = (bin, frame)`` of each
    coincidence. ``counts``: zeroed scratch per bin and per frame, zeroed again on return."""
    cells_bin, cells_frame = cells
    cb, cf = counts
    tb = 0
    tf = 0
    for r in range(lo, hi):
        b = cells_bin[rows[r]]
        f = cells_frame[rows[r]]
        if cb[b] < cap_bin:
            tb += 1
        cb[b] += 1
        if cf[f] < cap_frame:
            tf += 1
        cf[f] += 1
    for r in range(lo, hi):  # reset what these touched
        cb[cells_bin[rows[r]]] = 0
        cf[cells_frame[rows[r]]] = 0
    return min(tb, tf)


@njit(cache=True, nogil=True)
def _capped(
    groups: np.ndarray,
    n_groups: int,
    cells_bin: np.ndarray,
    cells_frame: np.ndarray,
    width_bin: int,
    width_frame: int,
    cap_bin: int,
    cap_frame: int,
) -> np.ndarray:
    """Per group, the smaller of (coincidences counted at most ``cap_bin`` per query bin) and (at most
    ``cap_frame`` per query frame), ``groups`` in ``[0, n_groups)``; as
    :func:`reelsense.sounds.verify._capped_counts`."""
    out = np.zeros(n_groups, dtype=np.int64)
    if groups.size == 0:
        return out
    order, starts = counting_order(groups, n_groups)  # the pairs by group, in order within a group
    counts = (np.zeros(width_bin, dtype=np.int64), np.zeros(width_frame, dtype=np.int64))
    for g in range(n_groups):
        out[g] = _capped_rows(
            order, starts[g], starts[g + 1], (cells_bin, cells_frame), counts, cap_bin, cap_frame
        )
    return out


@njit(cache=True, nogil=True)
def _top_indices(values: np.ndarray, n_top: int) -> np.ndarray:
    """Indices of the ``n_top`` largest values, largest first (ties: lower index first)."""
    top = np.full(n_top, -1, dtype=np.int64)
    vals = np.empty(n_top, dtype=values.dtype)
    n = 0
    for i in range(values.size):
        v = values[i]
        if n == n_top and v <= vals[n - 1]:
            continue
        pos = n if n < n_top else n_top - 1
        while pos > 0 and vals[pos - 1] < v:
            if pos < n_top:
                vals[pos] = vals[pos - 1]
                top[pos] = top[pos - 1]
            pos -= 1
        vals[pos] = v
        top[pos] = i
        if n < n_top:
            n += 1
    return top[:n]


@njit(cache=True, nogil=True)
def local_search(
    q_times: np.ndarray,
    q_bins: np.ndarray,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    s_grid: np.ndarray,
    k_grid: np.ndarray,
    tol_bins: float,
    res: float,
    tol: int,
    o_min: int,
    n_o: int,
    cap_bin: int,
    cap_frame: int,
    top_cells: int,
) -> tuple[int, float, float, float, np.ndarray, bool]:
    """The best cell of the local scale x shift x offset grid (see ``align``'s docstring):
    ``(matched, scale, shift, offset, hit times, found)``, the hit times the query times (float64,
    unsorted) of the coinciding pairs at the best cell, uncapped. Query and reference
    peaks as :class:`~reelsense.sounds.fingerprint.Peaks` holds them (float32 or float64; the
    arithmetic is float64 either way)."""
    q_bin, q_frame = _query_cells(q_times, q_bins)
    n_bins = _n_buckets(q_bin, ref_bins)
    buckets = bucket_peaks(ref_times, ref_bins, n_bins)
    # a pair counts only if its implied offset can land in the histogram at some scale
    o_first = (o_min - 1) * res
    o_last = (o_min + n_o + 1) * res
    t_lo = np.empty(q_times.size)
    t_hi = np.empty(q_times.size)
    s_min = s_grid[0]
    s_max = s_grid[0]
    for si in range(1, s_grid.size):
        s_min = min(s_min, s_grid[si])
        s_max = max(s_max, s_grid[si])
    for i in range(q_times.size):
        t_lo[i] = o_first + s_min * q_times[i]
        t_hi[i] = o_last + s_max * q_times[i]
    every = (q_times, 1.0, 0.0, 1.0, 0.0, np.empty(0, dtype=np.int64))
    kk, qi, ri = _pairs(q_bins, buckets, k_grid, tol_bins, t_lo, t_hi, every)
    if kk.size == 0:
        return 0, s_grid[s_grid.size // 2], k_grid[k_grid.size // 2], 0.0, np.empty(0), False
    n_k = k_grid.size
    n_s = s_grid.size
    n_cells = n_s * n_k
    hist = np.zeros((n_cells, n_o), dtype=np.int32)
    tq = np.empty(kk.size)
    tr = np.empty(kk.size)
    for p in range(kk.size):
        tq[p] = q_times[qi[p]]
        tr[p] = ref_times[ri[p]]
    by_inverse = math.frexp(res)[0] == 0.5  # a power of two: times 1 / res is exact
    inv_res = 1.0 / res
    for p in range(kk.size):  # a pair's offsets at every scale while its times are at hand
        t_ref = tr[p]
        t_query = tq[p]
        row = kk[p]
        for si in range(n_s):
            d = t_ref - s_grid[si] * t_query
            ob = int(np.rint(d * inv_res if by_inverse else d / res)) - o_min
            if ob >= 0 and ob < n_o:
                hist[si * n_k + row, ob] += 1
    sm = hist.copy()
    for d in range(1, tol + 1):  # each neighbour in a loop of its own: they vectorise
        for c in range(n_cells):
            for o in range(d, n_o):
                sm[c, o] += hist[c, o - d]
            for o in range(n_o - d):
                sm[c, o] += hist[c, o + d]
    flat = sm.ravel()
    n_top = min(top_cells, flat.size)
    top = _top_indices(flat, n_top)
    half = res * (tol + 0.5)
    k_start = np.zeros(n_k + 1, dtype=np.int64)
    for p in range(kk.size):
        k_start[kk[p] + 1] += 1
    for k in range(n_k):
        k_start[k + 1] += k_start[k]
    best_i = -1
    best_capped = -1
    best_sm = -1
    best_steps = n_s + n_k
    cb = np.zeros(max(n_bins, 1) + 1, dtype=np.int64)
    max_frame = 0
    for i in range(q_frame.size):
        max_frame = max(max_frame, q_frame[i])
    cf = np.zeros(max_frame + 1, dtype=np.int64)
    pair_bin = np.empty(kk.size, dtype=np.int64)  # each pair's query cells, read once
    pair_frame = np.empty(kk.size, dtype=np.int64)
    for p in range(kk.size):
        pair_bin[p] = q_bin[qi[p]]
        pair_frame[p] = q_frame[qi[p]]
    hits = np.empty(kk.size, dtype=np.int64)
    for t in range(n_top):
        cell = top[t]
        grid_i = cell // n_o
        o_i = cell % n_o
        s = s_grid[grid_i // n_k]
        k = grid_i % n_k
        off = (o_i + o_min) * res
        n_hits = 0
        for p in range(k_start[k], k_start[k + 1]):  # _pairs gives them shift by shift
            hits[n_hits] = p
            n_hits += np.int64(abs(tr[p] - s * tq[p] - off) <= half)
        capped = _capped_rows(hits, 0, n_hits, (pair_bin, pair_frame), (cb, cf), cap_bin, cap_frame)
        steps = abs(grid_i // n_k - n_s // 2) + abs(k - n_k // 2)  # from the candidate's own cell
        if (
            capped > best_capped
            or (capped == best_capped and flat[cell] > best_sm)
            or (capped == best_capped and flat[cell] == best_sm and steps < best_steps)
        ):
            best_capped = capped
            best_sm = flat[cell]
            best_steps = steps
            best_i = t
    cell = top[best_i]
    grid_i = cell // n_o
    scale = s_grid[grid_i // n_k]
    k = grid_i % n_k
    offset = (cell % n_o + o_min) * res
    n_hit = 0
    for p in range(k_start[k], k_start[k + 1]):  # the best cell's pairs: their query times
        if abs(tr[p] - scale * tq[p] - offset) <= half:
            hits[n_hit] = p
            n_hit += 1
    hit_times = np.empty(n_hit)
    for h in range(n_hit):
        hit_times[h] = tq[hits[h]]
    return best_capped, scale, k_grid[k], offset, hit_times, True


@njit(cache=True, nogil=True)
def _query_cells(q_times: np.ndarray, q_bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whole bin and frame of each query peak (int64 ``[q]`` each, rounded, at least 0): the
    cells that :func:`_capped` caps."""
    q_bin = np.empty(q_bins.size, dtype=np.int64)
    q_frame = np.empty(q_times.size, dtype=np.int64)
    for i in range(q_bins.size):
        q_bin[i] = max(np.int64(np.rint(np.float64(q_bins[i]))), 0)
        q_frame[i] = max(np.int64(np.rint(np.float64(q_times[i]))), 0)
    return q_bin, q_frame


@njit(cache=True, nogil=True)
def _n_buckets(q_bin: np.ndarray, ref_bins: np.ndarray) -> int:
    """A number of whole-bin buckets that holds every query cell and reference bin (with one to
    spare). Any number that does gives the same pairs: buckets past the last peak are empty."""
    top = 0.0
    for i in range(q_bin.size):
        top = max(top, np.float64(q_bin[i]))
    for p in range(ref_bins.size):
        top = max(top, np.float64(ref_bins[p]))
    return int(top) + 2


@njit(cache=True, nogil=True)
def null_offsets(
    n_c: int, first: float, step: float, offset: float, away: float, window: float
) -> tuple[np.ndarray, np.ndarray]:
    """The offsets ``first + j * step`` (``j < n_c``) more than ``away`` from ``offset``: those
    within ``window`` of it and the rest (int64 indices each, increasing)."""
    near = np.empty(n_c, dtype=np.int64)
    far = np.empty(n_c, dtype=np.int64)
    n_near = 0
    n_far = 0
    for j in range(n_c):
        dist = abs(first + step * np.float64(j) - offset)
        if dist > away:
            if dist <= window:
                near[n_near] = j
                n_near += 1
            else:
                far[n_far] = j
                n_far += 1
    return near[:n_near], far[:n_far]


@njit(cache=True, nogil=True)
def _search_sorted(values: np.ndarray, v: float, right: bool) -> int:
    """``np.searchsorted(values, v, side="right" if right else "left")`` for sorted ``values``
    without NaN, written out: numba's ``searchsorted`` compiles string operations for its
    ``side`` (about a second of every first run)."""
    lo = 0
    hi = values.size
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < v or (right and values[mid] == v):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _offset_period(offsets: np.ndarray, step: float, half: float) -> tuple[int, np.ndarray]:
    """Whether :func:`_phase_pairs` pays for the offsets ``offsets`` (int, increasing) of a grid of
    ``step``: ``(period, residues)``, the distance ``d`` of the first two and the remainders modulo
    ``d`` that the offsets take (int64), when there are at most a quarter of ``d`` of them and a
    period of ``d * step`` frames holds at least three phase cells of ``2 * half``; ``(0, [])`` when
    not (every offset, or most, is asked for)."""
    none = (0, np.empty(0, dtype=np.int64))
    if offsets.size < 2:
        return none
    d = offsets[1] - offsets[0]
    if d < 4 or d * step < 3.0 * (2.0 * half + 2.0 * _PHASE_MARGIN):
        return none
    seen = np.zeros(d, dtype=np.bool_)
    for m in range(offsets.size):
        seen[offsets[m] % d] = True
    residues = np.flatnonzero(seen)
    if residues.size * 4 > d:
        return none
    return d, residues


#: frames by which :func:`_phase_pairs` widens each phase window: far more than the rounding of a
#: phase (about 1e-12 frames for a reference of hours) and far less than a window
_PHASE_MARGIN = 1e-6
#: at most this many phase cells a period in :func:`_phase_pairs` (more read fewer peaks, but cost a
#: key each in every whole bin)
_PHASE_CELLS = 64


@njit(cache=True, nogil=True)
def _phase_pairs(
    q_bins: np.ndarray,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    n_bins: int,
    shift: float,
    tol_bins: float,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    kept: tuple[np.ndarray, float, float, float, float, np.ndarray],
    comb: tuple[int, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of :func:`_pairs` at one shift (``(query peak, reference peak)`` int64 each; not in
    its order) when the offsets asked for (``compact >= 0``) all have one of the remainders
    ``residues`` modulo ``period`` (``comb = (period, residues)``, :func:`_offset_period`).

    A pair counts at offset ``c`` when ``v = ref_time - scale * q_time - first`` lies within ``half``
    of ``c * step``; with ``c`` among the residues, ``ref_time - first`` then lies within ``half`` of
    ``scale * q_time + r * step`` modulo ``P = period * step`` for some residue ``r``. So the reference
    peaks are put in cells by whole bin and by that phase (cells of at least ``2 * half``), and each
    query peak reads only the cells its windows (widened by ``_PHASE_MARGIN``) reach, a residue's
    window at most two cells, instead of whole bins: about ``2 * residues / cells`` of the peaks. Each
    peak read still passes :func:`_pairs_into_one`'s tests, so the pairs are the same."""
    q_times, scale, first, step, half, compact = kept
    period, residues = comb
    n_c = compact.size
    by_inverse, inv_step = _inverse_step(step, half)
    span = period * step
    n_cells = min(int(span // (2.0 * half + 2.0 * _PHASE_MARGIN)), _PHASE_CELLS)
    width = span / n_cells
    inv_span = 1.0 / span
    inv_width = 1.0 / width
    keys = np.empty(ref_times.size, dtype=np.int64)
    for p in range(ref_times.size):
        b = min(max(int(np.floor(ref_bins[p])), 0), n_bins - 1)
        x = np.float64(ref_times[p]) - first
        phase = x - span * np.floor(x * inv_span)
        if phase < 0.0:
            phase += span
        elif phase >= span:
            phase -= span
        keys[p] = b * n_cells + min(max(int(phase * inv_width), 0), n_cells - 1)
    order, starts = counting_order(keys, n_bins * n_cells)
    times = np.empty(order.size)
    bins = np.empty(order.size)
    for p in range(order.size):
        times[p] = ref_times[order[p]]
        bins[p] = ref_bins[order[p]]
    cells = np.empty(3 * residues.size, dtype=np.int64)
    size = 16 * q_bins.size
    while True:  # as _pairs: a likely size, then the exact one
        qq = np.empty(size + 1, dtype=np.int64)
        rr = np.empty(size + 1, dtype=np.int64)
        n = 0
        for i in range(q_bins.size):
            target = q_bins[i] + shift
            lo, hi = t_lo[i], t_hi[i]
            sq = scale * q_times[i]
            at_phase = sq - span * np.floor(sq * inv_span)
            n_cells_read = 0  # the cells of every residue's window, each once
            for r in residues:
                centre = at_phase + r * step
                c_lo = int(np.floor((centre - half - _PHASE_MARGIN) * inv_width))
                c_hi = int(np.floor((centre + half + _PHASE_MARGIN) * inv_width))
                for c in range(c_lo, c_hi + 1):
                    cell = c % n_cells
                    new = True
                    for m in range(n_cells_read):
                        new = new and cells[m] != cell
                    if new:
                        cells[n_cells_read] = cell
                        n_cells_read += 1
            b_lo = max(int(np.floor(target - tol_bins)), 0)
            b_hi = min(int(np.floor(target + tol_bins)), n_bins - 1)
            for b in range(b_lo, b_hi + 1):
                for m in range(n_cells_read):
                    key = b * n_cells + cells[m]
                    for p in range(starts[key], starts[key + 1]):  # _pairs_into_one's tests, branch-free
                        t = times[p]
                        u = t - sq
                        v = u - first
                        c = int(np.rint(v * inv_step if by_inverse else v / step))
                        at = min(max(c, 0), n_c - 1)
                        ok = (lo <= t) & (t <= hi) & (abs(bins[p] - target) <= tol_bins)
                        ok = ok & (c >= 0) & (c < n_c) & (compact[at] >= 0)
                        ok = ok & (abs(u - first - c * step) <= half)
                        w = min(n, size)
                        qq[w] = i
                        rr[w] = order[p]
                        n += np.int64(ok)
        if n <= size:
            return qq[:n], rr[:n]
        size = n


@njit(cache=True, nogil=True)
def null_counts(
    q_times: np.ndarray,
    q_bins: np.ndarray,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    t_lo: float,
    t_hi: float,
    shift: float,
    tol_bins: float,
    scale: float,
    first: float,
    step: float,
    half: float,
    offsets: np.ndarray,
    cap_bin: int,
    cap_frame: int,
) -> np.ndarray:
    """Capped coincidence counts at the offsets ``first + j * step`` for each ``j`` of ``offsets``
    (int, >= 0, increasing: not checked; the counts int64 ``[offsets.size]``), at one scale and
    shift, from the reference peaks (sorted by time) within ``[t_lo, t_hi]`` frames, which must
    hold every peak those offsets can reach. Peaks as :func:`local_search` takes them.

    The pairs are those of :func:`_pairs`; when the offsets form a sparse comb (the far offsets of
    the chance level, every few of the grid), :func:`_phase_pairs` finds them from fewer reference
    peaks, in another order (the counts do not depend on it)."""
    n_use = offsets.size
    a = _search_sorted(ref_times, t_lo, False)
    b = _search_sorted(ref_times, t_hi, True)
    if n_use == 0 or b <= a:
        return np.zeros(n_use, dtype=np.int64)
    ref_times = ref_times[a:b]
    ref_bins = ref_bins[a:b]
    n_c = offsets[n_use - 1] + 1
    compact = np.full(n_c, -1, dtype=np.int64)
    for m in range(n_use):
        compact[offsets[m]] = m
    q_bin, q_frame = _query_cells(q_times, q_bins)
    n_bins = _n_buckets(q_bin, ref_bins)
    j0 = offsets[0]
    last = offsets[n_use - 1]
    lo = np.empty(q_times.size)
    hi = np.empty(q_times.size)
    for i in range(q_times.size):  # offsets first + j * step, j in [j0, last]
        lo[i] = first + j0 * step - half + scale * q_times[i]
        hi[i] = first + last * step + half + scale * q_times[i]
    # only the pairs at the offsets asked for: most are not (a few hundred offsets of thousands)
    period, residues = _offset_period(offsets, step, half)
    if period:  # a sparse comb of offsets (the far ones): scan only the reference peaks in phase
        kept = (q_times, scale, first, step, half, compact)
        comb = (period, residues)
        qi, ri = _phase_pairs(q_bins, ref_times, ref_bins, n_bins, shift, tol_bins, lo, hi, kept, comb)
    else:
        buckets = bucket_peaks(ref_times, ref_bins, n_bins)
        kept = (q_times, scale, first, step, half, compact)
        _, qi, ri = _pairs(q_bins, buckets, np.array([shift]), tol_bins, lo, hi, kept)
    by_inverse, inv_step = _inverse_step(step, half)
    n = qi.size
    groups = np.empty(n, dtype=np.int64)
    cbin = np.empty(n, dtype=np.int64)
    cfr = np.empty(n, dtype=np.int64)
    for p in range(n):
        u = ref_times[ri[p]] - scale * q_times[qi[p]] - first
        groups[p] = compact[int(np.rint(u * inv_step if by_inverse else u / step))]
        cbin[p] = q_bin[qi[p]]
        cfr[p] = q_frame[qi[p]]
    max_frame = 0
    for p in range(n):
        max_frame = max(max_frame, cfr[p])
    return _capped(groups, n_use, cbin, cfr, n_bins + 1, max_frame + 1, cap_bin, cap_frame)


@njit(cache=True, nogil=True)
def near_span(
    q_times: np.ndarray,
    ref_times: np.ndarray,
    last_scale: float,
    near: tuple[float, float, float, float],
    res: float,
    tol: int,
) -> tuple[int, int, int, int, float]:
    """Where :func:`local_search` looks around a candidate, as :func:`reelsense.sounds.verify.align`
    computes it without the kernels: ``(lo, hi, o_min, n_o, q_len)``, the reference peaks it can
    reach (``ref_times[lo:hi]``, one reference's, sorted), its offset bins and the query's last
    peak time (the query non-empty). ``near = (offset, offset_bin, scale_step, scale)``: the
    candidate's offset in frames, the vote bin's width, the hypothesis step and the candidate's
    scale; the offsets searched lie within ``2 * offset_bin + scale_step * scale * q_len + 2``
    frames of the candidate's, at scales up to ``last_scale``. (A kernel of its own: compiled
    around :func:`local_search`, it made numba optimise the search's body twice on a first run.)"""
    offset, offset_bin, scale_step, scale = near
    q_len = np.float64(q_times[0])
    for i in range(1, q_times.size):
        q_len = max(q_len, np.float64(q_times[i]))
    reach = 2.0 * offset_bin + scale_step * scale * q_len + 2.0
    o_lo = offset - reach
    o_hi = offset + reach
    lo = _search_sorted(ref_times, o_lo - 1.0, False)
    hi = _search_sorted(ref_times, o_hi + last_scale * q_len + 1.0, True)
    o_min = int(np.floor(o_lo / res)) - tol
    n_o = int(np.ceil((o_hi - o_lo) / res)) + 2 * tol + 2
    return lo, hi, o_min, n_o, q_len


@njit(cache=True, nogil=True)
def near_split(near: np.ndarray) -> int:
    """:func:`reelsense.sounds.verify._near_split`: the index of the first gap in ``near`` (int,
    increasing), or half its size when it has none."""
    for k in range(1, near.size):
        if near[k] > near[k - 1] + 1:
            return k
    return near.size // 2


@njit(cache=True, nogil=True)
def null_grid(t_ref_max: float, reach: float, step: float, fps: float) -> tuple[float, int, float]:
    """The offsets the chance level counts at, ``first + j * step`` for ``j < n_c``, and how far
    from the match they must lie (``away``), for a reference whose last peak is at ``t_ref_max``
    and a query that spans ``reach`` reference frames: returns ``(first, n_c, away)``.

    Up to twice the reference's length, the query's middle over every point of the reference,
    half the query away from the match. Longer, every placement of the reference inside the
    query, a reference's length away from the match: the query's own music around the sound
    is what an unrelated use would meet (over the reference's own few offsets, a query that
    holds a short sound several times over had no room, and the level assumed for it was far
    under what unrelated music reaches)."""
    if reach > 2.0 * t_ref_max:
        first = t_ref_max - reach
        return first, max(0, int(-first / step)), max(fps, t_ref_max)
    first = -0.5 * reach
    return first, max(0, int((t_ref_max - 0.5 * reach - first) / step)), max(fps, 0.5 * reach)


#: the fewest offsets a mean count of the chance level is taken over (fewer: no level)
MIN_NULL_OFFSETS = 20


@njit(cache=True, nogil=True)
def peaks_over(q_times: np.ndarray, offset: float, scale: float, half: float, t_ref_max: float) -> int:
    """How many query peaks (times sorted) lie over the reference at ``offset``: those whose time
    ``offset + scale * t`` falls within ``half`` of ``[0, t_ref_max]`` (any other cannot coincide)."""
    lo = np.searchsorted(q_times, (-half - offset) / scale, side="left")
    hi = np.searchsorted(q_times, (t_ref_max + half - offset) / scale, side="right")
    return int(max(0, hi - lo))


@njit(cache=True, nogil=True)
def chance_level(
    q_times: np.ndarray,
    q_bins: np.ndarray,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    cell: tuple[float, float, float, float, float],
    tol_bins: float,
    null: tuple[float, float, float, int],
    matched: int,
    max_rate: float,
    cap_bin: int,
    cap_frame: int,
) -> tuple[float, bool]:
    """The chance level of an alignment's best cell, as :func:`reelsense.sounds.verify._chance_level`
    computes it from :func:`null_counts` (the same offsets, counts, means and overlap), with its rejection
    given as a rate: ``max(rate, 0.5) > max_rate`` rejects (``inf``: none). ``cell = (scale, shift,
    offset, half, q_len)``; ``null = (align_step_frames, frames_per_second, window_frames,
    far_offsets)``; one reference's peaks sorted by time (non-empty). Returns
    ``(rate, rejected)``: a rejected rate is the lower bound it was rejected at."""
    scale, shift, offset, half, q_len = cell
    align_step, fps, window, n_far = null
    step = 2.0 * half + 2.0 * align_step
    t_ref_max = np.float64(ref_times[ref_times.size - 1])
    first, n_c, away = null_grid(t_ref_max, scale * q_len, step, fps)
    near, far = null_offsets(n_c, first, step, offset, away, window)
    # the local level as verify._local_rate counts it (the near offsets one side of the match at a
    # time), then the spread over the rest; one call site of null_counts, so that it is compiled
    # into this kernel once
    counting_near = near.size >= MIN_NULL_OFFSETS
    if counting_near and max_rate < 0.5:
        return 0.0, True
    split = near_split(near) if counting_near else 0
    reach = scale * q_len
    local = np.nan
    rate = np.nan
    total = 0
    for part in range(0 if counting_near else 2, 3):
        if part < 2:
            offsets = near[:split] if part == 0 else near[split:]
            lo = first + np.float64(offsets[0]) * step - half - 1.0
            hi = first + np.float64(offsets[offsets.size - 1]) * step + half + reach + 1.0
        else:
            if counting_near:
                local = total / near.size
                if max(local, 0.5) > max_rate:
                    return local, True
            stride = max(1, far.size // n_far)
            offsets = np.empty((far.size + stride - 1) // stride, dtype=np.int64)  # far[::stride]
            for m in range(offsets.size):
                offsets[m] = far[m * stride]
            lo = -np.inf
            hi = np.inf
        counted = null_counts(
            q_times, q_bins, ref_times, ref_bins, lo, hi, shift, tol_bins, scale, first, step, half,
            offsets, cap_bin, cap_frame,
        )  # fmt: skip
        summed = 0
        for c in range(counted.size):
            summed += counted[c]
        if part < 2:
            total += summed
            if part == 0 and max(total / near.size, 0.5) > max_rate:
                return total / near.size, True
        elif counted.size >= MIN_NULL_OFFSETS:
            # per query peak over the reference, at the match's own overlap
            over = 0
            for m in range(offsets.size):
                over += peaks_over(q_times, first + np.float64(offsets[m]) * step, scale, half, t_ref_max)
            if over > 0:
                rate = summed / over * peaks_over(q_times, offset, scale, half, t_ref_max)
    if not np.isnan(local):
        rate = local if np.isnan(rate) else max(rate, local)
    return rate, False


#: the key of a (triplet, hypothesis) cell that has none: triplet keys lie in
#: ``[0, FingerprintParams.n_keys)`` and ``n_keys <= 2 ** 32 - 1``, so no key equals it
NO_KEY = np.uint32(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def grid_triplet_keys(
    anchor_bins: np.ndarray,
    delta_bins: np.ndarray,
    delta_frames: np.ndarray,
    selected: np.ndarray,
    shifts: np.ndarray,
    scales: np.ndarray,
    band_bins: float,
    max_bins: int,
    n_bands: int,
    key_frames: int,
) -> np.ndarray:
    """:func:`reelsense.sounds.fingerprint.triplet_keys` of the query triplets ``selected`` (int
    ``[p]``, positions in ``anchor_bins`` ``[n]`` and ``delta_bins``/``delta_frames`` ``[2, n]``)
    under ``h`` hypotheses (hypothesis ``j`` adds ``shifts[j]`` to the anchor's bin and
    multiplies the time differences by ``scales[j]``), in one pass: keys uint32 ``[p, h]``,
    triplet-major, :data:`NO_KEY` where a triplet has no key under a hypothesis."""
    p = selected.size
    h = shifts.size
    keys = np.empty((p, h), dtype=np.uint32)
    n_df = 2 * max_bins + 1
    for i in range(p):
        x = selected[i]
        a = np.float64(anchor_bins[x])
        g2 = np.int64(np.rint(delta_bins[0, x])) + max_bins
        g3 = np.int64(np.rint(delta_bins[1, x])) + max_bins
        d2 = np.float64(delta_frames[0, x])
        d3 = np.float64(delta_frames[1, x])
        for j in range(h):
            band = np.int64(np.floor((a + shifts[j]) / band_bins))
            t2 = np.int64(np.rint(d2 * scales[j]))
            t3 = np.int64(np.rint(d3 * scales[j]))
            f2 = g2
            f3 = g3
            if t2 > t3 or (t2 == t3 and f2 > f3):
                f2, f3 = f3, f2
                t2, t3 = t3, t2
            if (
                band >= 0
                and band < n_bands
                and f2 >= 0
                and f3 >= 0
                and f2 < n_df
                and f3 < n_df
                and t2 >= 0
                and t3 < key_frames
            ):
                keys[i, j] = (((band * n_df + f2) * n_df + f3) * key_frames + t2) * key_frames + t3
            else:
                keys[i, j] = NO_KEY
    return keys


@njit(cache=True, nogil=True)
def presence_filter(offsets: np.ndarray, check: np.ndarray, sub_bits: int) -> np.ndarray:
    """A bit per (bucket, low ``sub_bits`` bits of a check byte) of a triplet table (``offsets``
    ``[2**bits + 1]``, ``check`` ``[n]``), set where some posting of the bucket has that check
    byte: bit ``(b << sub_bits) | (check & (2**sub_bits - 1))`` of the uint64 words returned
    (``2**(bits + sub_bits) / 64`` of them, at least one), least significant bit first."""
    n_buckets = offsets.size - 1
    words = np.zeros(max(1, (n_buckets << sub_bits) >> 6), dtype=np.uint64)
    low = (1 << sub_bits) - 1
    for b in range(n_buckets):
        for j in range(np.int64(offsets[b]), np.int64(offsets[b + 1])):
            bit = (b << sub_bits) | (np.int64(check[j]) & low)
            words[bit >> 6] |= np.uint64(1) << np.uint64(bit & 63)
    return words


@njit(cache=True, nogil=True)
def table_lookup(
    keys: np.ndarray,
    offsets: np.ndarray,
    check: np.ndarray,
    postings: np.ndarray,
    bits: int,
    time_bits: int,
    golden: np.uint64,
    check_shift: int,
    low_len: float,
    high_len: float,
    read_len: float,
    ahead: int,
    check_first: bool,
    presence: np.ndarray,
    sub_bits: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`reelsense.sounds._tables.TripletTable.lookup` compiled: for each run of one key along
    the last axis of ``keys`` (uint32 ``[p, h]``; :data:`NO_KEY` cells are skipped), in order, the
    postings of its bucket in order whose check byte matches, from buckets holding more than
    ``low_len`` and at most ``high_len`` postings, of which the first ``read_len`` are read (inf:
    all). Returns ``(query_pos, sounds, times)``, int64 each, ``query_pos`` the flat position of
    the run's first key.

    A branch-free pass lists the runs' first cells (so that the next loop, which waits on memory,
    keeps many reads in flight); a second reads each run's bucket bounds and lists the runs to
    scan; a third scans their buckets. ``check_first``: the second pass also tests a bucket's
    check bytes, up to 8 at once as one 64-bit word (a zero byte of ``word ^ (check * 0x0101...)``
    marks a match, and the test finds whether there is one exactly), and lists only the runs whose
    bucket may hold their key (about one in ten): worth it for a table that stays in cache, where
    the third pass's read of each key costs little; in a larger one it waits on memory again.

    ``presence`` (uint64 words, :func:`presence_filter` of the table with ``sub_bits``; empty: no
    filter): before any bucket is read, the runs whose key's bit is clear are dropped (no posting
    of their bucket has their check byte's low ``sub_bits`` bits, so none can match). One read of
    a bit array several times smaller than the buckets and check bytes instead of two reads.

    ``ahead`` > 0: the processor is asked to fetch the buckets (and with ``check_first`` the check
    bytes, with ``presence`` its words) of the run ``ahead`` runs on, so that waits on memory
    overlap. The same hits either way, with or without ``check_first`` and ``presence``."""
    p, h = keys.shape
    flat = keys.ravel()
    runs = np.empty(flat.size, dtype=np.int64)  # the first cell of each run, in order
    q = 0
    for i in range(p):
        for j in range(h):
            c = i * h + j
            runs[q] = c
            # a key that is not the one before it in its row starts a run
            q += np.int64(flat[c] != NO_KEY and (j == 0 or flat[c - 1] != flat[c]))
    shift = np.uint64(64 - bits)
    if presence.size > 0:  # keep the runs whose bit is set, in order
        sub = np.uint64(sub_bits)
        low = np.uint64((1 << sub_bits) - 1)
        at = np.uint64(check_shift)
        six = np.uint64(6)
        kept = 0
        for r in range(q):
            if ahead > 0 and r + ahead < q:
                hk = np.uint64(flat[runs[r + ahead]]) * golden
                _prefetch(presence, (((hk >> shift) << sub) | ((hk >> at) & low)) >> six)
            c = runs[r]
            hk = np.uint64(flat[c]) * golden
            bit = ((hk >> shift) << sub) | ((hk >> at) & low)
            runs[kept] = c
            kept += np.int64((presence[bit >> six] >> (bit & np.uint64(63))) & np.uint64(1))
        q = kept
    ones = np.uint64(0x0101010101010101)
    highs = np.uint64(0x8080808080808080)
    n_check = check.size
    listed = np.empty(q, dtype=np.int64)  # the runs to scan (first cell), their bucket's start and length
    listed_start = np.empty(q, dtype=np.int64)
    listed_len = np.empty(q, dtype=np.int64)
    m = 0
    total = 0
    for r in range(q):
        if ahead > 0 and r + ahead < q:
            _prefetch(offsets, (np.uint64(flat[runs[r + ahead]]) * golden) >> shift)
            if check_first and r + ahead // 2 < q:  # its bounds were fetched half as far ahead
                _prefetch(check, np.int64(offsets[(np.uint64(flat[runs[r + ahead // 2]]) * golden) >> shift]))
        c = runs[r]
        hk = np.uint64(flat[c]) * golden
        b = hk >> shift
        start = np.int64(offsets[b])
        n = np.int64(offsets[b + np.uint64(1)]) - start
        if n == 0 or n <= low_len or n > high_len:
            continue
        if n > read_len:  # an overfull bucket read up to a bound
            n = np.int64(read_len)
        if check_first and n <= 8 and start + 8 <= n_check:
            word = np.uint64(0)
            for t in range(8):
                word |= np.uint64(check[start + t]) << np.uint64(8 * t)
            x = word ^ (((hk >> np.uint64(check_shift)) & np.uint64(0xFF)) * ones)
            if n < 8:  # the bytes past the bucket cannot match
                x |= ~((np.uint64(1) << np.uint64(8 * n)) - np.uint64(1))
            if ((x - ones) & ~x & highs) == 0:
                continue
        listed[m] = c
        listed_start[m] = start
        listed_len[m] = n
        m += 1
        total += n
    qpos = np.empty(total, dtype=np.int64)
    sounds = np.empty(total, dtype=np.int64)
    times = np.empty(total, dtype=np.int64)
    mask = (np.int64(1) << time_bits) - 1
    k = 0
    for c in range(m):
        if ahead > 0 and c + ahead < m:
            _prefetch(check, listed_start[c + ahead])
            _prefetch(postings, listed_start[c + ahead])
        i = listed[c]
        want = np.uint8(((np.uint64(flat[i]) * golden) >> np.uint64(check_shift)) & np.uint64(0xFF))
        start = listed_start[c]
        for j in range(start, start + listed_len[c]):
            if check[j] == want:
                p = np.int64(postings[j])
                qpos[k] = i
                sounds[k] = p >> time_bits
                times[k] = p & mask
                k += 1
    return qpos[:k], sounds[:k], times[:k]


@njit(cache=True, nogil=True)
def run_votes(
    query_pos: np.ndarray,
    sounds: np.ndarray,
    times: np.ndarray,
    keys: np.ndarray,
    anchor_times: np.ndarray,
    selected: np.ndarray,
    scales: np.ndarray,
    numbers: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The votes of :func:`reelsense.sounds.match.probe`: hit ``i`` (of the run of equal keys
    along the hypothesis axis of ``keys`` uint32 ``[p, h]`` that starts at flat position
    ``query_pos[i]``, as :func:`table_lookup` names it; row ``r`` is the triplet ``selected[r]``,
    whose anchor lies at ``anchor_times[selected[r]]``) votes once per hypothesis ``j`` of its run,
    under the number ``numbers[j]``. Returns ``(sounds int32, hypotheses int32, offsets
    float64)`` (narrow integers: these arrays reach millions of votes and every later pass reads
    them)."""
    h = keys.shape[1]
    flat = keys.ravel()
    lengths = np.empty(query_pos.size, dtype=np.int64)
    total = 0
    last = -1  # a run's hits come together: its length is found once
    length = 0
    for i in range(query_pos.size):
        c = query_pos[i]
        if c != last:
            j = c % h
            length = 1
            while j + length < h and flat[c + length] == flat[c]:
                length += 1
            last = c
        lengths[i] = length
        total += length
    v_sounds = np.empty(total, dtype=np.int32)
    v_hyp = np.empty(total, dtype=np.int32)
    v_off = np.empty(total, dtype=np.float64)
    k = 0
    for i in range(query_pos.size):
        start = query_pos[i]
        t = np.float64(times[i])
        first = start % h  # a run stays within its row: one triplet, consecutive hypotheses
        anchor = np.float64(anchor_times[selected[start // h]])
        for hyp in range(first, first + lengths[i]):
            v_sounds[k] = sounds[i]
            v_hyp[k] = numbers[hyp]
            v_off[k] = t - scales[hyp] * anchor
            k += 1
    return v_sounds, v_hyp, v_off


@njit(cache=True, nogil=True)
def mark_hypotheses(hypotheses: np.ndarray, seen: np.ndarray) -> None:
    """Set ``seen[j]`` (bool) for every hypothesis number ``j`` in ``hypotheses``."""
    for i in range(hypotheses.size):
        seen[hypotheses[i]] = True


@njit(cache=True, nogil=True)
def add_pair_totals(
    sounds: np.ndarray, hypotheses: np.ndarray, hmap: np.ndarray, h: int, totals: np.ndarray
) -> int:
    """Count votes into ``totals`` (int32, in place) by pair ``sound * h + hmap[hypothesis]``, as
    :func:`reelsense.sounds.match.rank_candidates` numbers the (sound, hypothesis) pairs; returns
    how many pairs got their first vote. Random increments: int32 halves int64's traffic."""
    fresh = 0
    for i in range(sounds.size):
        p = sounds[i] * h + hmap[hypotheses[i]]
        fresh += np.int64(totals[p] == 0)  # branch-free: hard to predict
        totals[p] += 1
    return fresh


@njit(cache=True, nogil=True)
def nonzero_of(totals: np.ndarray, n_nonzero: int) -> np.ndarray:
    """``np.flatnonzero(totals)`` when ``n_nonzero`` entries are known to be nonzero (one pass)."""
    out = np.empty(n_nonzero + 1, dtype=np.int64)
    k = 0
    for p in range(totals.size):  # branch-free: pairs with votes are often about half
        out[k] = p
        k += np.int64(totals[p] != 0)
    return out[:n_nonzero]


@njit(cache=True, nogil=True)
def top_rows(
    sounds: np.ndarray,
    hypotheses: np.ndarray,
    offsets: np.ndarray,
    hmap: np.ndarray,
    h: int,
    top: np.ndarray,
) -> tuple[np.ndarray, float, float]:
    """For each vote, its row in ``top`` (int64 ``[k]`` pair numbers as in :func:`add_pair_totals`;
    -1 when its pair is not there), and the least and greatest offset of those votes (inf, -inf
    when none). Membership is tested on a bit per pair (small enough to stay in cache) and a
    member's row found in a small hash table of ``top``."""
    k = top.size
    n_words = 1
    for i in range(k):
        n_words = max(n_words, (top[i] >> 6) + 1)
    bits = np.zeros(n_words, dtype=np.uint64)
    n_slots = 16
    while n_slots < 4 * k:
        n_slots *= 2
    mask = n_slots - 1
    slot_pair = np.full(n_slots, -1, dtype=np.int64)  # open addressing, linear probing
    slot_row = np.zeros(n_slots, dtype=np.int32)
    for i in range(k):
        bits[top[i] >> 6] |= np.uint64(1) << np.uint64(top[i] & 63)
        j = (top[i] * 0x9E3779B1) & mask
        while slot_pair[j] >= 0:
            j = (j + 1) & mask
        slot_pair[j] = top[i]
        slot_row[j] = i
    rows = np.full(sounds.size, -1, dtype=np.int32)
    lo = np.inf
    hi = -np.inf
    for i in range(sounds.size):
        p = sounds[i] * h + hmap[hypotheses[i]]
        w = p >> 6
        if w < n_words and (bits[w] >> np.uint64(p & 63)) & np.uint64(1):
            j = (p * 0x9E3779B1) & mask
            while slot_pair[j] != p:
                j = (j + 1) & mask
            rows[i] = slot_row[j]
            o = offsets[i]
            if o < lo:
                lo = o
            if o > hi:
                hi = o
    return rows, lo, hi


@njit(cache=True, nogil=True)
def cell_keys(
    rows: np.ndarray, offsets: np.ndarray, first: float, width: float, n_bins: int, out: np.ndarray, at: int
) -> int:
    """Write the cell ``row * n_bins + floor(offset / width) - first`` of each vote with a row
    (``rows >= 0``, from :func:`top_rows`) into ``out`` (int64) from position ``at``; returns
    the position after the last one written."""
    for i in range(rows.size):
        if rows[i] >= 0:
            out[at] = np.int64(rows[i]) * n_bins + np.int64(np.floor(offsets[i] / width) - first)
            at += 1
    return at


@njit(cache=True, nogil=True)
def _most_first(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``rows`` (int64) ordered by ``values[row]``, largest first, ties in the order of ``rows``: a
    bottom-up merge sort (numba's ``np.argsort`` adds seconds to a first run's compiling)."""
    n = rows.size
    a: np.ndarray = rows.copy()
    b: np.ndarray = np.empty(n, dtype=np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if values[a[j]] > values[a[i]]:  # the right run's first only when strictly larger
                    b[k] = a[j]
                    j += 1
                else:
                    b[k] = a[i]
                    i += 1
                k += 1
            while i < mid:
                b[k] = a[i]
                i += 1
                k += 1
            while j < hi:
                b[k] = a[j]
                j += 1
                k += 1
        a, b = b, a
        width *= 2
    return a


@njit(cache=True, nogil=True)
def ranked_rows(
    pair_sound: np.ndarray, best_val: np.ndarray, n_sounds: int, n_candidates: int, cells_per_sound: int
) -> np.ndarray:
    """The candidate cells of :func:`reelsense.sounds.match.rank_candidates`, as rows of its pairs
    (int64): the best cell of each of the ``n_candidates`` sounds with the most votes (most first),
    then their next ``cells_per_sound - 1`` cells (most votes first), without cells of no vote. Ties
    keep the pairs' order, as numpy's stable sorts do."""
    n = pair_sound.size
    by_votes = _most_first(np.arange(n), best_val)  # ties in pair order
    order, starts = counting_order(pair_sound[by_votes], n_sounds)  # then by sound, stably
    order = by_votes[order]
    firsts = np.empty(n_sounds, dtype=np.int64)
    n_first = 0
    for s in range(n_sounds):
        if starts[s + 1] > starts[s]:
            firsts[n_first] = order[starts[s]]
            n_first += 1
    firsts = _most_first(firsts[:n_first], best_val)[: max(n_candidates, 0)]
    chosen = np.zeros(n_sounds, dtype=np.bool_)
    for r in firsts:
        chosen[pair_sound[r]] = True
    extra = np.empty(n, dtype=np.int64)
    n_extra = 0
    for s in range(n_sounds):
        if chosen[s]:
            for at in range(starts[s] + 1, min(starts[s + 1], starts[s] + cells_per_sound)):
                extra[n_extra] = order[at]
                n_extra += 1
    extra = _most_first(extra[:n_extra], best_val)
    rows = np.empty(firsts.size + extra.size, dtype=np.int64)
    m = 0
    for part in (firsts, extra):
        for r in part:
            if best_val[r] > 0:
                rows[m] = r
                m += 1
    return rows[:m]


@njit(cache=True, nogil=True)
def sparse_best_windows(keys: np.ndarray, k: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_windows` of the ``[k, n_bins]`` cells that ``keys`` (int64 cell numbers
    ``row * n_bins + bin``, one per vote) count, without the dense cells. Only a window that
    ends on an occupied bin can be the first best one (a window ending on an empty bin holds
    at most what the one before it holds), so each row's votes are grouped (a counting sort
    by row) and counted in one row of scratch, reset after the row."""
    rows = np.empty(keys.size, dtype=np.int64)
    for i in range(keys.size):
        rows[i] = keys[i] // n_bins
    order, starts = counting_order(rows, k)
    bins = np.empty(keys.size, dtype=np.int64)
    for i in range(keys.size):
        bins[i] = keys[order[i]] - rows[order[i]] * n_bins
    scratch = np.zeros(n_bins, dtype=np.int64)
    best_bin = np.zeros(k, dtype=np.int64)
    best_val = np.zeros(k, dtype=np.int64)
    for r in range(k):
        lo, hi = starts[r], starts[r + 1]
        for i in range(lo, hi):
            scratch[bins[i]] += 1
        top = np.int64(0)
        at = np.int64(0)
        for i in range(lo, hi):
            b = bins[i]
            v = scratch[b] + (scratch[b - 1] if b > 0 else 0)
            if v > top or (v == top and b < at):
                top = v
                at = b
        for i in range(lo, hi):
            scratch[bins[i]] = 0
        best_bin[r] = at
        best_val[r] = top
    return best_bin, best_val


@njit(cache=True, nogil=True)
def best_windows(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``cells`` (int64 ``[k, n]``), the window of two bins ``j - 1`` and ``j``
    with the most votes: ``(best j, its votes)``, the first such ``j`` on ties (as ``np.argmax``)."""
    k, n = cells.shape
    best_bin = np.zeros(k, dtype=np.int64)
    best_val = np.zeros(k, dtype=np.int64)
    for i in range(k):
        top = cells[i, 0] if n else 0
        at = 0
        for j in range(1, n):
            v = cells[i, j] + cells[i, j - 1]
            if v > top:
                top = v
                at = j
        best_bin[i] = at
        best_val[i] = top
    return best_bin, best_val


@njit(cache=True, nogil=True)
def box_mean(x: np.ndarray, size0: int, size1: int) -> np.ndarray:
    """``scipy.ndimage.uniform_filter(x, size=(size0, size1), mode="nearest")`` of a float32
    ``[n0, n1]`` map, bit for bit: scipy's running sums in float64 (the first window summed in
    order, then the entering value minus the leaving one added, each output the sum divided by
    the size), along axis 0 and then along axis 1, the pass between them rounded to float32.
    Axis 0 runs all columns at once (independent sums that vectorise)."""
    n0, n1 = x.shape
    mid = np.empty((n0, n1), dtype=np.float32)
    half0 = size0 // 2
    acc = np.zeros(n1)
    for k in range(size0):
        r = min(max(k - half0, 0), n0 - 1)
        for j in range(n1):
            acc[j] += np.float64(x[r, j])
    for j in range(n1):
        mid[0, j] = np.float32(acc[j] / size0)
    for i in range(1, n0):
        enter = min(max(i + size0 - 1 - half0, 0), n0 - 1)
        leave = min(max(i - 1 - half0, 0), n0 - 1)
        for j in range(n1):
            acc[j] += np.float64(x[enter, j]) - np.float64(x[leave, j])
            mid[i, j] = np.float32(acc[j] / size0)
    out = np.empty((n0, n1), dtype=np.float32)
    half1 = size1 // 2
    for i in range(n0):
        total = 0.0
        for k in range(size1):
            total += np.float64(mid[i, min(max(k - half1, 0), n1 - 1)])
        out[i, 0] = np.float32(total / size1)
        for j in range(1, n1):
            enter = min(max(j + size1 - 1 - half1, 0), n1 - 1)
            leave = min(max(j - 1 - half1, 0), n1 - 1)
            total += np.float64(mid[i, enter]) - np.float64(mid[i, leave])
            out[i, j] = np.float32(total / size1)
    return out


@njit(cache=True, nogil=True)
def refine_peaks(
    white: np.ndarray,
    spec: np.ndarray,
    t: np.ndarray,
    b: np.ndarray,
    block_len: int,
    per_block: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`reelsense.sounds.fingerprint.pick_peaks` after the local maxima, on the peaks ``(t, b)``
    of :func:`local_peaks` (row-major order; ``white``, ``spec`` float32): the ``per_block`` most
    prominent of each block of ``block_len`` frames (ties to the earlier), their bins and frames
    refined by a parabola through the neighbours (in float32, as numpy computes it on float32
    maps), sorted by time (stable). Returns ``(times, bins, prominence)``, float32 each."""
    n = t.size
    n_frames = white.shape[0]
    keep = np.empty(n, dtype=np.int64)
    k = 0
    start = 0
    while start < n:  # a block's peaks are a run: t does not decrease
        block = t[start] // block_len
        end = start
        while end < n and t[end] // block_len == block:
            end += 1
        if end - start <= per_block:
            for i in range(start, end):
                keep[k] = i
                k += 1
        else:
            prominent = np.empty(end - start, dtype=np.float32)
            for i in range(start, end):
                prominent[i - start] = white[t[i], b[i]]
            chosen = np.zeros(end - start, dtype=np.bool_)
            for i in _top_indices(prominent, per_block):
                chosen[i] = True
            for i in range(end - start):  # in their order
                if chosen[i]:
                    keep[k] = start + i
                    k += 1
        start = end
    two = np.float32(2.0)
    half = np.float32(0.5)
    flat = np.float32(-1e-6)  # a parabola flatter than this gives no shift
    times = np.empty(k, dtype=np.float32)
    bins = np.empty(k, dtype=np.float32)
    prominence = np.empty(k, dtype=np.float32)
    last = np.float32(n_frames - 1)
    for j in range(k):
        ti = t[keep[j]]
        bi = b[keep[j]]
        prominence[j] = white[ti, bi]
        a = spec[ti, bi - 1]
        c = spec[ti, bi + 1]
        den = a - two * spec[ti, bi] + c
        delta = half * (a - c) / den if den < flat else np.float32(0.0)
        bins[j] = np.float32(bi) + min(max(delta, -half), half)
        a = white[max(ti - 1, 0), bi]
        c = white[min(ti + 1, n_frames - 1), bi]
        den = a - two * white[ti, bi] + c
        delta = half * (a - c) / den if den < flat else np.float32(0.0)
        times[j] = min(max(np.float32(ti) + min(max(delta, -half), half), np.float32(0.0)), last)
    # a stable sort by time: the peaks come in frame order, and sub-frame times only swap
    # neighbours within a frame or two, so an insertion sort moves each a step or two at most
    order = np.arange(k)
    for j in range(1, k):
        x = order[j]
        i = j
        while i > 0 and times[x] < times[order[i - 1]]:
            order[i] = order[i - 1]
            i -= 1
        order[i] = x
    return times[order], bins[order], prominence[order]


@njit(cache=True, nogil=True)
def stable_order(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """``np.argsort(values, kind="stable")`` of float32 ``values`` (int64 ``[n]``) by a radix sort:
    each value's bits turned into an unsigned integer that sorts as the value does (-0.0 as 0.0),
    then three stable counting passes of 11, 11 and 10 bits. ``(order, True)``, or an empty
    order and False when a value is NaN (the caller sorts those another way)."""
    n = values.size
    plain = np.empty(n, dtype=np.float32)
    for i in range(n):
        if np.isnan(values[i]):
            return np.empty(0, dtype=np.int64), False
        plain[i] = values[i] + np.float32(0.0)  # -0.0 + 0.0 is 0.0
    bits = plain.view(np.uint32)
    keys = np.empty(n, dtype=np.uint32)
    for i in range(n):
        b = bits[i]
        keys[i] = b ^ np.uint32(0xFFFFFFFF) if b >= np.uint32(0x80000000) else b | np.uint32(0x80000000)
    order = np.arange(n)
    spare_order = np.empty(n, dtype=np.int64)
    spare_keys = np.empty(n, dtype=np.uint32)
    count = np.empty(2049, dtype=np.int64)
    for shift in (0, 11, 22):
        for d in range(2049):
            count[d] = 0
        for i in range(n):
            count[((keys[i] >> np.uint32(shift)) & np.uint32(0x7FF)) + 1] += 1
        for d in range(2048):
            count[d + 1] += count[d]
        for i in range(n):
            d = (keys[i] >> np.uint32(shift)) & np.uint32(0x7FF)
            at = count[d]
            count[d] = at + 1
            spare_order[at] = order[i]
            spare_keys[at] = keys[i]
        order, spare_order = spare_order, order
        keys, spare_keys = spare_keys, keys
    return order, True


@njit(cache=True, nogil=True)
def local_peaks(
    white: np.ndarray,
    spec: np.ndarray,
    radius_frames: int,
    radius_bins: int,
    min_prominence: np.float32,
    floor: np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """The cells ``(t, b)`` of ``white`` (float32 ``[n_frames, n_bins]``, finite) equal to the
    maximum of the cells within ``radius_frames`` frames and ``radius_bins`` bins (inside the map),
    with ``white[t, b] > min_prominence`` and ``spec[t, b] > floor``, first and last bins left out:
    ``(t int64 [k], b int64 [k])`` in row-major order, what ``np.nonzero`` of the peak mask of
    :func:`reelsense.sounds.fingerprint.pick_peaks` gives. The maximum runs over frames, then over
    bins, one frame at a time, along rows of bins (loops that vectorise: their indices are
    unsigned, so numba adds no test for a negative index)."""
    n_t, n_b = white.shape
    out_t = np.empty(n_t * n_b, dtype=np.int64)
    out_b = np.empty(n_t * n_b, dtype=np.int64)
    over_t = np.empty(n_b, dtype=white.dtype)
    over_tb = np.empty(n_b, dtype=white.dtype)
    width = np.uint64(n_b)
    k = 0
    for t in range(n_t):
        t0 = max(0, t - radius_frames)
        t1 = min(n_t - 1, t + radius_frames)
        first_row = white[t0]
        for b in range(width):  # element by element: an array copy compiles shape checks and messages
            over_t[b] = first_row[b]
        for tt in range(t0 + 1, t1 + 1):
            row = white[tt]
            for b in range(width):
                over_t[b] = max(over_t[b], row[b])
        for b in range(width):
            over_tb[b] = over_t[b]
        for d in range(1, min(radius_bins, n_b - 1) + 1):
            step = np.uint64(d)
            for b in range(width - step):  # the bins above, then the bins below
                over_tb[b] = max(over_tb[b], over_t[b + step])
            for b in range(step, width):
                over_tb[b] = max(over_tb[b], over_t[b - step])
        row = white[t]
        srow = spec[t]
        for b in range(1, n_b - 1):
            v = row[b]
            if v == over_tb[b] and v > min_prominence and srow[b] > floor:
                out_t[k] = t
                out_b[k] = b
                k += 1
    return out_t[:k].copy(), out_b[:k].copy()


@njit(cache=True, nogil=True)
def peak_triplets(
    times: np.ndarray,
    bins: np.ndarray,
    min_frames: float,
    max_frames: float,
    max_bins: float,
    fan_out: int,
    look: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The triplets of :func:`reelsense.sounds.fingerprint.peak_triplets` in its order: each
    anchor ``i`` takes the first ``fan_out`` of peaks ``i + 1 .. i + look`` whose time difference
    lies in ``[min_frames, max_frames]`` and frequency difference within ``max_bins``; triplets
    pair its ``m``-th and ``(m + d)``-th targets, ``d = 1 .. fan_out - 1`` outermost, then anchors,
    then ``m``. Returns ``(anchors, first targets, second targets)``, int64 each."""
    n = times.size
    targets = np.empty((n, fan_out), dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    total = 0
    for i in range(n):
        c = 0
        for j in range(i + 1, min(n, i + look + 1)):
            dt = times[j] - times[i]
            df = bins[j] - bins[i]
            if dt >= min_frames and dt <= max_frames and abs(df) <= max_bins:
                targets[i, c] = j
                c += 1
                if c == fan_out:
                    break
        count[i] = c
        total += c * (c - 1) // 2
    a = np.empty(total, dtype=np.int64)
    b = np.empty(total, dtype=np.int64)
    t = np.empty(total, dtype=np.int64)
    k = 0
    for d in range(1, fan_out):
        for i in range(n):
            for m in range(count[i] - d):
                a[k] = i
                b[k] = targets[i, m]
                t[k] = targets[i, m + d]
                k += 1
    return a, b, t
