"""Verification of a candidate: peak alignment, its chance level, and the calibrated score.

:func:`align` aligns a query's peaks on one reference's near a candidate's offset and hypothesis
and measures the chance level of that pair; :func:`false_match_log10p` turns the coincidence
count into the probability of a false match anywhere in the index (:func:`log10_trials`).
Used by :func:`reelsense.sounds.match.match_query`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from reelsense.sounds import _kernels

if TYPE_CHECKING:
    from reelsense.sounds.fingerprint import FingerprintParams, Peaks
    from reelsense.sounds.match import Candidate, MatchConfig

__all__ = [
    "BINNED_CHANCE_SECONDS",
    "TRIALS_CALIBRATION_LOG10",
    "Alignment",
    "ScoreBelow",
    "align",
    "chance_rate",
    "false_match_log10p",
    "log10_trials",
    "matched_span",
]


@dataclass(frozen=True)
class Alignment:
    """Peak coincidences of a query with one reference.

    ``matched``: best coincidence count over the local scale/shift grid and the offsets near
    the candidate's; ``null_rate``: the count at the best scale/shift at offsets away from the
    best one (the empirical chance level of this pair, see :func:`_chance_level`; NaN when there
    is no room to measure it);
    ``hit_times``: the query times of the coinciding peaks (float64, sorted, one per coinciding
    pair, uncapped, chance coincidences included), for :func:`matched_span`.
    """

    matched: int
    null_rate: float
    scale: float
    shift_bins: float
    offset_frames: float
    hit_times: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False, repr=False)


def _coincidences(
    q_times: np.ndarray,
    q_bins: np.ndarray,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    shifts: np.ndarray,
    tol_bins: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (query peak, reference peak) pair within ``tol_bins`` after each shift:
    ``(shift index int64, query peak index int64, query time float64, reference time float64)``."""
    order = np.argsort(ref_bins, kind="stable")
    rb = ref_bins[order]
    rt = ref_times[order].astype(np.float64)
    qb = q_bins[None, :] + shifts[:, None]  # [K, Q]
    lo = np.searchsorted(rb, (qb - tol_bins).ravel(), side="left")
    hi = np.searchsorted(rb, (qb + tol_bins).ravel(), side="right")
    lens = hi - lo
    total = int(lens.sum())
    kq = np.repeat(np.arange(lens.size), lens)
    ends = np.cumsum(lens)
    ridx = np.arange(total) + np.repeat(lo - (ends - lens), lens)
    nq = q_times.size
    qi = kq % nq
    return kq // nq, qi, q_times[qi].astype(np.float64), rt[ridx]


def _capped_counts(
    groups: np.ndarray, n_groups: int, cells: tuple[np.ndarray, np.ndarray], caps: tuple[int, int]
) -> np.ndarray:
    """Coincidences per group (``groups``: int ``[c]`` in ``[0, n_groups)``, one per pair), counting
    at most ``caps[0]`` per query frequency and at most ``caps[1]`` per query frame (``cells``:
    int ``[c]`` each, >= 0); the smaller of the two totals. Returns int64 ``[n_groups]``.

    Coincidences are evidence only when they are independent. A repeated note (one frequency, a
    steady rate) matches any other repeated note at a scale that aligns the two rates, and a
    drum hit (one instant, many frequencies) lines up with any other hit; capping what one
    frequency or one instant can add keeps either from passing for a melody.
    """
    out = np.zeros(n_groups, dtype=np.int64)
    if groups.size == 0:
        return out
    for i, (cell, cap) in enumerate(zip(cells, caps, strict=True)):
        width = int(cell.max()) + 1
        counts = np.bincount(groups * width + cell, minlength=n_groups * width)
        capped = np.minimum(counts, cap).reshape(n_groups, width).sum(axis=1)
        out = capped if i == 0 else np.minimum(out, capped)
    return out


def _smooth(hist: np.ndarray, steps: int) -> np.ndarray:
    """Sum over +-``steps`` neighbours along the last axis."""
    out: np.ndarray = hist.copy()
    for d in range(1, steps + 1):
        out[..., d:] += hist[..., :-d]
        out[..., :-d] += hist[..., d:]
    return out


_TOP_CELLS = 12
_NULL_FAR_OFFSETS = 300  # offsets sampled away from the null window


@functools.lru_cache(maxsize=16)
def _grid_steps(
    scale_step: float, scale_steps: int, shift_step: float, shift_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """The scale factors and shift offsets of the local grid (float64, read-only)."""
    scales = np.exp(np.linspace(-scale_step, scale_step, scale_steps))
    half = shift_step + 0.5
    shifts = np.linspace(-half, half, shift_steps)
    scales.flags.writeable = False
    shifts.flags.writeable = False
    return scales, shifts


def _local_grid(cand: Candidate, config: MatchConfig) -> tuple[np.ndarray, np.ndarray]:
    """The verification's grid around a candidate: ``align_scale_steps`` scales spanning one
    ``scale_step`` on either side of its scale, ``align_shift_steps`` shifts spanning
    ``shift_step_bins + 0.5`` bins on either side of its shift (float64 each)."""
    scales, shifts = _grid_steps(
        config.scale_step, config.align_scale_steps, config.shift_step_bins, config.align_shift_steps
    )
    return cand.scale * scales, cand.shift_bins + shifts


def align(
    query: Peaks,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    cand: Candidate,
    config: MatchConfig,
    frames_per_second: float,
    reject: Callable[[int, float], bool] | None = None,
) -> Alignment:
    """Align the query's peaks on one reference's peaks (float ``[r]`` frames, sorted, and bins).

    A coincidence is a query peak and a reference peak within ``align_tol_bins`` in frequency
    (after the shift) and ``align_step_frames * (align_tol_steps + 0.5)`` in time (after the
    scale and offset); each query frequency (whole log bin) adds at most ``align_cap_per_bin``
    and each query frame at most ``align_cap_per_frame`` (see :func:`_capped_counts`).
    Search: on a grid of ``align_scale_steps`` scales x ``align_shift_steps`` shifts that spans
    one hypothesis step on either side of the candidate's, the pairs near the candidate's
    offset are histogrammed by implied offset (``align_step_frames`` resolution); the best
    cells are counted exactly. Null: the count at the best scale/shift at offsets away from
    the best one, all within ``null_window_seconds`` and a spread of the rest of the
    reference (per query peak over the reference, at the match's overlap: see
    :func:`_chance_level`); the larger of the two (a dense passage raises the chance level
    locally).

    ``reject(matched, rate)``, when given (it must say True for every higher rate once it says
    True for one), is asked with lower bounds of the chance level within ``null_window_seconds``
    as it is counted (:func:`_local_rate`): 0, the count at a third of those offsets over all of
    them, then their mean. When it says True the rest is not counted and the alignment comes
    back with that rate (a lower bound of the full chance level, so any score computed from it
    is an upper bound).
    """
    nq = len(query)
    none = Alignment(0, math.nan, cand.scale, cand.shift_bins, cand.offset_frames)
    if nq == 0 or ref_times.size == 0:
        return none
    if _kernels.AVAILABLE:
        return _align_compiled(query, ref_times, ref_bins, cand, config, frames_per_second, none, reject)
    res = config.align_step_frames
    tol = config.align_tol_steps
    half = res * (tol + 0.5)
    cap = (config.align_cap_per_bin, config.align_cap_per_frame)
    s_grid, k_grid = _local_grid(cand, config)
    q_len = float(query.times.max())
    q_bin = np.maximum(np.rint(query.bins), 0).astype(np.int64)
    q_frame = np.maximum(np.rint(query.times), 0).astype(np.int64)
    # the candidate's offset is known to a vote bin and its scale to one step
    reach = 2.0 * config.offset_bin_frames + config.scale_step * cand.scale * q_len + 2.0
    o_lo, o_hi = cand.offset_frames - reach, cand.offset_frames + reach
    lo = int(np.searchsorted(ref_times, o_lo - 1.0, side="left"))
    hi = int(np.searchsorted(ref_times, o_hi + s_grid[-1] * q_len + 1.0, side="right"))
    kk, qi, tq, tr = _coincidences(
        query.times, query.bins, ref_times[lo:hi], ref_bins[lo:hi], k_grid, config.align_tol_bins
    )
    if tq.size == 0:
        return none
    o_min = int(np.floor(o_lo / res)) - tol
    n_o = int(np.ceil((o_hi - o_lo) / res)) + 2 * tol + 2
    n_k = k_grid.size
    hist = np.zeros((s_grid.size * n_k, n_o), dtype=np.int64)
    flat = hist.reshape(-1)
    for si, s in enumerate(s_grid):  # align_scale_steps vectorised passes
        ob = np.rint((tr - s * tq) / res).astype(np.int64) - o_min
        ok = (ob >= 0) & (ob < n_o)
        flat += np.bincount(((si * n_k + kk[ok]) * n_o + ob[ok]), minlength=flat.size)
    sm = _smooth(hist, tol).reshape(-1)
    # the best cells, ties to the lower index (as the compiled kernel breaks them)
    top = np.argsort(-sm, kind="stable")[:_TOP_CELLS]
    # exact capped counts of the best cells, in one pass
    top_grid, top_o = np.divmod(top, n_o)
    top_s, top_shift = np.divmod(top_grid, n_k)
    cell_s, cell_k, cell_o = s_grid[top_s], k_grid[top_shift], (top_o + o_min) * res
    near = (kk[None, :] == top_shift[:, None]) & (
        np.abs(tr[None, :] - cell_s[:, None] * tq[None, :] - cell_o[:, None]) <= half
    )
    g, pair = np.nonzero(near)
    capped = _capped_counts(g, top.size, (q_bin[qi[pair]], q_frame[qi[pair]]), cap)
    # most capped coincidences, then most in all, then the fewest grid steps from the candidate's
    # own scale and shift (an unedited copy matches as well one shift step away, within tolerance)
    steps = np.abs(top_s - s_grid.size // 2) + np.abs(top_shift - n_k // 2)
    b = int(np.lexsort((steps, -sm[top], -capped))[0])
    best = (int(capped[b]), int(sm[top[b]]), float(cell_s[b]), float(cell_k[b]), float(cell_o[b]))
    matched, _, scale, shift, offset = best
    sel = kk == int(np.argmin(np.abs(k_grid - shift)))
    diff = np.abs(tr[sel] - scale * tq[sel] - offset)
    hit_t = tq[sel][diff <= half]
    # the chance level: the same count at offsets all over the reference (best scale/shift)
    null = _NullCounter(query, q_bin, q_frame, ref_times, ref_bins, shift, config.align_tol_bins, cap)
    rate = _chance_level(
        (float(ref_times[-1]), q_len, scale, offset, half), query.times, matched, config, frames_per_second,
        reject, lambda offsets, grid, lo, hi: null.counts(offsets, grid, (lo, hi)),
    )  # fmt: skip
    hit_t = np.sort(hit_t.astype(np.float64))
    return Alignment(matched, rate, scale, shift, offset, hit_t)


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a`` contiguous, as a read-only view when it is writable: a search reads the reference
    peaks from the index's read-only maps, and discovery from arrays of its own; numba compiles
    its kernels once per argument type, so both then use the same compiled code."""
    out = np.ascontiguousarray(a)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def _align_compiled(
    query: Peaks,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    cand: Candidate,
    config: MatchConfig,
    frames_per_second: float,
    none: Alignment,
    reject: Callable[[int, float], bool] | None,
) -> Alignment:
    """:func:`align` with the compiled kernels of :mod:`reelsense.sounds._kernels` (the same
    computation; the kernels read the peaks as they are stored). With no ``reject`` or a
    :class:`ScoreBelow`, the chance level is counted in one kernel call
    (:func:`_kernels.chance_level`); another ``reject`` is asked from Python."""
    res = config.align_step_frames
    tol = config.align_tol_steps
    half = res * (tol + 0.5)
    s_grid, k_grid = _local_grid(cand, config)
    qt, qb = np.ascontiguousarray(query.times), np.ascontiguousarray(query.bins)
    rt, rb = _read_only(ref_times), _read_only(ref_bins)  # one compiled variant for every caller
    cap_bin, cap_frame = config.align_cap_per_bin, config.align_cap_per_frame
    near = (
        float(cand.offset_frames),
        float(config.offset_bin_frames),
        float(config.scale_step),
        float(cand.scale),
    )
    lo, hi, o_min, n_o, q_len = _kernels.near_span(qt, rt, float(s_grid[-1]), near, res, tol)
    matched, scale, shift, offset, hit_t, found = _kernels.local_search(
        qt, qb, rt[lo:hi], rb[lo:hi], s_grid, k_grid, config.align_tol_bins, res, tol, o_min, n_o,
        cap_bin, cap_frame, _TOP_CELLS,
    )  # fmt: skip
    if not found:
        return none
    hit_t = np.sort(hit_t)
    if reject is None or isinstance(reject, ScoreBelow):
        max_rate = math.inf if reject is None else reject.max_rate(int(matched))
        window = config.null_window_seconds * frames_per_second
        null = (float(res), float(frames_per_second), float(window), _NULL_FAR_OFFSETS)
        rate, _ = _kernels.chance_level(
            qt, qb, rt, rb, (scale, shift, offset, half, q_len), config.align_tol_bins, null, int(matched),
            max_rate, cap_bin, cap_frame,
        )  # fmt: skip
        return Alignment(int(matched), rate, float(scale), float(shift), float(offset), hit_t)

    def counts(
        offsets: np.ndarray, grid: tuple[float, float, float, float], t_lo: float, t_hi: float
    ) -> np.ndarray:
        first, step, half, scale = grid
        return _kernels.null_counts(
            qt, qb, rt, rb, t_lo, t_hi, shift, config.align_tol_bins, scale, first, step, half, offsets,
            cap_bin, cap_frame,
        )  # fmt: skip

    where = (float(rt[-1]), q_len, float(scale), float(offset), half)
    rate = _chance_level(where, qt, int(matched), config, frames_per_second, reject, counts)
    return Alignment(int(matched), rate, float(scale), float(shift), float(offset), hit_t)


def _null_offsets(
    n_c: int, first: float, step: float, offset: float, away: float, window: float
) -> tuple[np.ndarray, np.ndarray]:
    """The offsets ``first + j * step`` (``j < n_c``) more than ``away`` from ``offset``: those
    within ``window`` of it and the rest (int64 indices each, increasing)."""
    if _kernels.AVAILABLE:
        return _kernels.null_offsets(n_c, first, step, offset, away, window)
    dist = np.abs(first + step * np.arange(n_c) - offset)
    is_away = dist > away
    near = is_away & (dist <= window)
    return np.flatnonzero(near), np.flatnonzero(is_away & ~near)


def _peaks_over(
    q_times: np.ndarray, offsets: np.ndarray, scale: float, half: float, t_ref_max: float
) -> np.ndarray:
    """int64: how many query peaks (times sorted) lie over the reference at each of ``offsets``
    (frames): those whose time ``offset + scale * t`` falls within ``half`` of ``[0, t_ref_max]``."""
    lo = np.searchsorted(q_times, (-half - offsets) / scale, side="left")
    hi = np.searchsorted(q_times, (t_ref_max + half - offsets) / scale, side="right")
    over: np.ndarray = np.maximum(hi - lo, 0).astype(np.int64)
    return over


def _chance_level(
    where: tuple[float, float, float, float, float],
    q_times: np.ndarray,
    matched: int,
    config: MatchConfig,
    frames_per_second: float,
    reject: Callable[[int, float], bool] | None,
    counts: Callable[[np.ndarray, tuple[float, float, float, float], float, float], np.ndarray],
) -> float:
    """The chance level of :func:`align`'s best cell (``where``: the reference's last peak time, the
    query's length in frames, the cell's scale and offset, half the width of a coincidence in
    frames): the capped count at offsets ``first + j * step`` away from the match (over the
    reference, or for a query over twice as long, every placement of the reference inside the
    query: :func:`reelsense.sounds._kernels.null_grid`; ``counts(offsets, (first, step, half,
    scale), lo, hi)`` counts at the offsets ``j`` of ``offsets``, int increasing, from the
    reference peaks within ``[lo, hi]`` frames); the larger of the mean within
    ``null_window_seconds`` (:func:`_local_rate`) and the level over a spread of the others, NaN
    when there are too few of either. Where the spread lies, less of the query may lie over the
    reference (or another part of a long query, denser or sparser): its level is counted per query
    peak over the reference (``q_times``, sorted) and taken at the match's own overlap. When
    ``reject`` rejects the candidate on the way, the rate is the lower bound it was rejected at and
    the far offsets are not counted."""
    t_ref_max, q_len, scale, offset, half = where
    step = 2.0 * half + 2.0 * config.align_step_frames
    first, n_c, away = _kernels.null_grid(t_ref_max, scale * q_len, step, frames_per_second)
    grid = (first, step, half, scale)
    window = config.null_window_seconds * frames_per_second
    near, far = _null_offsets(n_c, first, step, offset, away, window)
    local, rejected = _local_rate(
        near,
        (first, step, half, scale * q_len),
        matched,
        reject,
        lambda offsets, lo, hi: counts(offsets, grid, lo, hi),
    )
    if rejected:
        return local
    spread = far[:: max(1, far.size // _NULL_FAR_OFFSETS)]
    null = counts(spread, grid, -np.inf, np.inf)
    rate = math.nan
    if null.size >= _kernels.MIN_NULL_OFFSETS:
        over = int(_peaks_over(q_times, first + spread * step, scale, half, t_ref_max).sum())
        at = int(_peaks_over(q_times, np.array([offset]), scale, half, t_ref_max)[0])
        rate = int(null.sum()) / over * at if over > 0 else math.nan
    if math.isfinite(local):
        rate = max(rate, local) if math.isfinite(rate) else local
    return rate


def _near_split(near: np.ndarray) -> int:
    """Where :func:`_local_rate` splits the near offsets (int, increasing): at the first gap, which
    parts those before the match from those after it, so that neither piece's count scans the
    match's own stretch of the reference; in halves when there is no gap (one side only)."""
    gaps = np.flatnonzero(np.diff(near) > 1)
    return int(gaps[0]) + 1 if gaps.size else near.size // 2


def _local_rate(
    near: np.ndarray,
    grid: tuple[float, float, float, float],
    matched: int,
    reject: Callable[[int, float], bool] | None,
    counts: Callable[[np.ndarray, float, float], np.ndarray],
) -> tuple[float, bool]:
    """The chance level where the match is claimed: the mean count at the offsets ``near`` (int
    indices ``j``, increasing) of the grid ``first + j * step`` (``grid = (first, step, half,
    reach)``, ``reach`` the query's length in reference frames), or NaN when there are fewer than
    20 of them. ``counts(offsets, lo, hi)`` counts at ``offsets`` from the reference peaks in
    ``[lo, hi]``.

    With ``reject``, returns ``(rate, True)`` as soon as the candidate is certain to be rejected,
    ``rate`` then a lower bound of the local mean (its score an upper bound): counts are not
    negative, so the partial sum over the offsets counted so far divided by all of them is one.
    It is tested before any counting (a count too small for any rate), after the offsets on one
    side of the match (:func:`_near_split`), and on the full mean."""
    if near.size < _kernels.MIN_NULL_OFFSETS:
        return math.nan, False
    if reject is not None and reject(matched, 0.0):
        return 0.0, True
    first, step, half, reach = grid
    total = 0
    split = _near_split(near)
    for n_piece, piece in enumerate((near[:split], near[split:])):
        # the reference peaks these offsets reach (query times lie in [0, reach / scale])
        lo = first + float(piece[0]) * step - half - 1.0
        hi = first + float(piece[-1]) * step + half + reach + 1.0
        total += int(counts(piece, lo, hi).sum())
        if n_piece == 0 and reject is not None and reject(matched, total / near.size):
            return total / near.size, True
    local = total / near.size  # the mean: an integer sum, divided once
    return local, reject is not None and reject(matched, local)


#: how many times denser than chance an alignment's coincidences must be, in a stretch at either end
#: of the query, for :func:`matched_span` to count that stretch as matched
SPAN_DENSITY_OVER_CHANCE = 2.0


def matched_span(hit_times: np.ndarray, chance: float, over_frames: float) -> tuple[float, float]:
    """The matched part of the query: the run of an alignment's coincidences that is denser than
    chance, not the first to the last of them (a chance coincidence in audio before or after the
    sound stretched the span to it). ``hit_times``: the coincidences' query times (sorted, frames);
    ``chance``: the alignment's chance level, the coincidences expected by chance over
    ``over_frames`` query frames. Returns ``(start, end)`` in frames (0, 0 when there are none).

    The run maximises ``coincidences - c * length`` (Kadane's maximum segment), ``c``
    :data:`SPAN_DENSITY_OVER_CHANCE` times the chance density ``max(chance, 0.5) /
    over_frames``: a stretch at either end is left out when its coincidences are sparser than
    ``c``, and a gap inside is bridged when the coincidences beyond it outweigh ``c`` times its
    length. The query times count once each (several reference peaks that one query peak meets
    are one piece of evidence)."""
    t = np.unique(hit_times.astype(np.float64))
    if t.size < 3 or not over_frames > 0.0:
        return _first(t), _last(t)
    c = SPAN_DENSITY_OVER_CHANCE * max(chance, 0.5) / over_frames
    idx = np.arange(t.size)
    # coincidences i..j less c times their stretch: gain[j] - gain[i] + 1, gain = index - c * time
    gain = idx - c * t
    low = np.minimum.accumulate(gain)
    new_low = np.empty(t.size, dtype=bool)
    new_low[0] = True
    new_low[1:] = gain[1:] < low[:-1]
    start = np.maximum.accumulate(np.where(new_low, idx, 0))  # where the best run ending at j begins
    end = int(np.argmax(gain - low))
    return float(t[start[end]]), float(t[end])


def _first(t: np.ndarray) -> float:
    return float(t.min()) if t.size else 0.0


def _last(t: np.ndarray) -> float:
    return float(t.max()) if t.size else 0.0


class _NullCounter:
    """Capped coincidence counts of a query with one reference at one shift, for chosen offsets of
    a regular grid (the chance level of :func:`align`)."""

    def __init__(
        self,
        query: Peaks,
        q_bin: np.ndarray,
        q_frame: np.ndarray,
        ref_times: np.ndarray,
        ref_bins: np.ndarray,
        shift: float,
        tol_bins: float,
        cap: tuple[int, int],
    ) -> None:
        self._q = query
        self._q_bin, self._q_frame = q_bin, q_frame
        self._rt, self._rb = ref_times, ref_bins
        self._shift = np.array([shift])
        self._tol, self._cap = tol_bins, cap

    def counts(
        self, offsets: np.ndarray, grid: tuple[float, float, float, float], span: tuple[float, float]
    ) -> np.ndarray:
        """int64 ``[offsets.size]``: the count at each offset ``first + j * step`` for ``j`` in
        ``offsets`` (int, increasing; ``grid = (first, step, half, scale)``), from the reference
        peaks inside ``span`` (frames, infinite for all of them), which must hold every peak those
        offsets can reach."""
        first, step, half, scale = grid
        rt, rb = self._rt, self._rb
        lo = int(np.searchsorted(rt, span[0], side="left"))
        hi = int(np.searchsorted(rt, span[1], side="right"))
        rt, rb = rt[lo:hi], rb[lo:hi]
        n_use = offsets.size
        if n_use == 0 or rt.size == 0:
            return np.zeros(n_use, dtype=np.int64)
        use = np.zeros(int(offsets[-1]) + 1, dtype=bool)
        use[offsets] = True
        _, qi, tq, tr = _coincidences(self._q.times, self._q.bins, rt, rb, self._shift, self._tol)
        u = tr - scale * tq
        j = np.rint((u - first) / step).astype(np.int64)
        ok = (j >= 0) & (j < use.size)
        ok[ok] = use[j[ok]] & (np.abs(u[ok] - first - j[ok] * step) <= half)
        compact = np.cumsum(use) - 1
        return _capped_counts(compact[j[ok]], n_use, (self._q_bin[qi[ok]], self._q_frame[qi[ok]]), self._cap)


#: a reference at least this long (seconds) gets the chance level from its own bins when there is
#: no room for a measured one (:func:`chance_rate`)
BINNED_CHANCE_SECONDS = 60.0


def chance_rate(
    query: Peaks,
    n_ref_peaks: int,
    ref_frames: float,
    params: FingerprintParams,
    config: MatchConfig,
    scale: float = 1.0,
    ref_bins: np.ndarray | None = None,
    shift_bins: float = 0.0,
) -> float:
    """Expected chance coincidences of ``query`` with a reference of ``n_ref_peaks`` peaks over
    ``ref_frames`` frames if its peaks were spread uniformly in time (used when there is no room
    for an empirical null: a reference short beside the query), at time scale ``scale``
    (reference frames per query frame).

    In frequency the reference's peaks are spread uniformly too, or, given ``ref_bins`` (its peaks'
    bins) and the alignment's ``shift_bins``, for a reference of :data:`BINNED_CHANCE_SECONDS` or
    more or a query over twice as long as the reference (a short sound in a long video: the
    queries :func:`reelsense.sounds._kernels.null_grid` measures at every placement of the
    reference, when there is room), as they lie: each query peak then expects the reference peaks
    within ``align_tol_bins`` of its shifted bin, and each query bin at most ``align_cap_per_bin``
    of them. Music holds its notes on few bins (a key, a scale) and two pieces in one key meet
    there far more often than a uniform spread says, which over minutes of query made unrelated
    music match. Over seconds, and for a query at most twice as long as a short reference, the
    uniform level keeps its calibration (the binned one also counts a true match's own notes, and
    made discovery link fewer videos).

    Only the query peaks that lie over the reference can coincide: at one offset, those within
    ``ref_frames / scale`` query frames. The level is that of the stretch of the query expecting
    the most (every peak when the query fits in the reference), not of all of them: the rest of a
    query longer than the reference (other music before or after the sound) adds no chance
    coincidences at any one offset."""
    width = config.align_step_frames * (2 * config.align_tol_steps + 1)
    span = ref_frames / max(scale, 1e-9)
    longer = query.times.size > 0 and float(query.times[-1]) > 2.0 * span  # null_grid's long queries
    if ref_bins is None or (ref_frames < BINNED_CHANCE_SECONDS * params.frames_per_second and not longer):
        density = n_ref_peaks / max(ref_frames * params.n_bins, 1.0)
        return float(_most_within(query.times, span) * density * (2 * config.align_tol_bins) * width)
    rb = np.sort(np.asarray(ref_bins, dtype=np.float64))
    target = np.asarray(query.bins, dtype=np.float64) + shift_bins
    tol = config.align_tol_bins
    near = np.searchsorted(rb, target + tol, side="right") - np.searchsorted(rb, target - tol, side="left")
    expected = near * (width / max(ref_frames, 1.0))  # each query peak's chance coincidences
    times = np.asarray(query.times, dtype=np.float64)
    lo, hi = _most_expected_within(times, expected, span)
    # a query bin counts at most align_cap_per_bin coincidences: the expected capped count of each
    q_bin = np.maximum(np.rint(query.bins[lo:hi]), 0).astype(np.int64)
    per_bin = np.bincount(q_bin, weights=expected[lo:hi])
    per_bin = per_bin[per_bin > 0]
    capped = sum(special.pdtrc(k, per_bin) for k in range(config.align_cap_per_bin))
    return float(np.sum(capped))


def _most_expected_within(times: np.ndarray, expected: np.ndarray, width: float) -> tuple[int, int]:
    """The stretch ``[t, t + width]`` of ``times`` (sorted) that expects the most (the sum of
    ``expected`` over the times it holds), as the rows ``lo:hi`` it holds."""
    if times.size == 0 or float(times[-1]) - float(times[0]) <= width:
        return 0, int(times.size)
    total = np.r_[0.0, np.cumsum(expected)]
    ends = np.searchsorted(times, times + width, side="right")
    best = int(np.argmax(total[ends] - total[: times.size]))
    return best, int(ends[best])


def _most_within(times: np.ndarray, width: float) -> int:
    """The most of ``times`` (sorted) that any stretch ``[t, t + width]`` holds."""
    if times.size == 0 or float(times[-1]) - float(times[0]) <= width:
        return int(times.size)
    t = times.astype(np.float64)
    return int((np.searchsorted(t, t + width, side="right") - np.arange(t.size)).max())


def false_match_log10p(matched: int, null_rate: float, log10_trials: float) -> float:
    """``log10`` of the estimated probability that chance alone gives ``matched`` coincidences
    somewhere in the index: ``log10(P(Poisson(null_rate) >= matched)) + log10_trials``, capped at 0."""
    if matched <= 0:
        return 0.0
    lam = max(null_rate, 0.5)
    tail = float(special.gammainc(matched, lam))  # P(Poisson(lam) >= matched)
    if tail > 0.0:
        lp = math.log10(tail)
    else:  # beyond double precision: the first term of the tail (a lower bound, so conservative)
        lp = (matched * math.log(lam) - lam - math.lgamma(matched + 1)) / math.log(10.0)
    return min(0.0, lp + log10_trials)


@dataclass(frozen=True)
class ScoreBelow:
    """The ``reject`` of :func:`align` for a score that must reach ``level`` (None: nothing is
    rejected): called with ``(matched, rate)``, whether ``-false_match_log10p(matched, rate,
    log10_trials)`` lies under ``level``. :meth:`max_rate` gives the same test as a rate, for the
    compiled chance level."""

    level: float | None
    log10_trials: float

    def __call__(self, matched: int, rate: float) -> bool:
        return self.level is not None and -false_match_log10p(matched, rate, self.log10_trials) < self.level

    def max_rate(self, matched: int) -> float:
        """A rate such that a chance level ``max(rate, 0.5)`` above it certainly gives a score under
        ``level`` (``inf``: none is certain to, ``-inf``: every one does). The Poisson tail grows
        with the rate, so the rate where it reaches ``10 ** -(level + log10_trials)`` (scipy's
        ``gammaincinv``) divides the two; the bound lies a relative 1e-9 above it, so that
        rounding never makes it reject what :meth:`__call__` keeps (what lies between is counted
        on, as if kept). Where that tail is over ``10 ** -0.5`` (a level and trial count near
        0), the tail's rounding is too coarse for a bound, and none is given."""
        if self.level is None or self.level <= 0.0:
            return math.inf  # scores are never negative
        if matched <= 0:
            return -math.inf  # score 0
        exponent = -self.level - self.log10_trials
        if exponent > -0.5 or exponent < -300.0:  # a tail near 1 (ill-conditioned), or too small
            return math.inf
        rate = float(special.gammaincinv(matched, 10.0**exponent))
        return rate * (1.0 + 1e-9) + 1e-12 if math.isfinite(rate) else math.inf


# log10 of (effective trials / nominal trials): a margin for what the Poisson model underrates
# (coincidences of repeated patterns that the caps do not fully decorrelate; gridded synthetic
# music). Measured with it (scripts/bench/eval_sounds.py --calibrate, and 485 dev and hard-set queries
# against 10,000 synthetic sounds that do not hold their music): library excerpts matched against
# the other tracks and the 485 queries all stay under 0.5; of 24 synthetic noise, babble and
# near-silence clips one babble scores 6.5. 346 of the 350 true matches found at 10,000 sounds
# score over 4, so the margin costs next to nothing.
TRIALS_CALIBRATION_LOG10 = 1.0


def log10_trials(
    total_ref_frames: float, n_refs: int, query_frames: float, n_hypotheses: int, config: MatchConfig
) -> float:
    """``log10`` of the effective number of alignments searched for a query of ``query_frames``
    frames in an index of ``n_refs`` references totalling ``total_ref_frames`` frames: offsets x
    hypotheses x the local verification grid. A query meets a reference at every offset where
    the two overlap, from its end at the reference's start to its start at the reference's end,
    so each reference offers its own length plus the query's: a long query against short
    references (a whole video against a library of 30 s sounds) is tried at many more
    alignments than the references' frames alone."""
    grid = config.align_scale_steps * config.align_shift_steps
    offsets = total_ref_frames + max(n_refs, 0) * max(query_frames, 0.0)
    nominal = max(offsets / config.align_step_frames, 1.0) * max(n_hypotheses, 1) * grid
    return math.log10(nominal) + TRIALS_CALIBRATION_LOG10
