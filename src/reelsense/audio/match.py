"""Matching a query against reference fingerprints, with a calibrated score.

(Design notes and the numbers that decided them: see the README section ``sounds``.)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from reelsense.audio._search import HashIndex, PeakTable
from reelsense.audio.fingerprint import FingerprintParams, Peaks, hash_keys, peak_pairs, peaks_of
from reelsense.errors import ParameterError

_DIRECT_CELLS = 1 << 23
_PAIRS_KEPT = 256

__all__ = [
    "Alignment",
    "Candidate",
    "MatchConfig",
    "QueryPrint",
    "SoundMatch",
    "align",
    "find_candidates",
    "hypothesis_grid",
    "match_query",
    "prepare_query",
]


@dataclass(frozen=True)
class MatchConfig:
    """Search ranges, tolerances and the decision threshold of the matcher.

    A *time scale* ``s`` is how many reference seconds pass per query second
    (``speed * tempo``); a *shift* ``k`` is what must be added to the query's log bins to
    reach the reference's (``-3`` bins = query one semitone higher at 36 bins per octave).

    Candidate search: hypotheses of three families (resampling over ``speed_range``,
    time-stretch over ``tempo_range``, pitch shift over ``pitch_range_semitones``) spaced
    ``scale_step`` / ``shift_step_bins``; hash hits vote in offset bins of
    ``offset_bin_frames``; the best ``n_candidates`` sounds are aligned peak by peak with
    tolerances ``align_tol_bins`` and ``align_step_frames * (align_tol_steps + 0.5)``.
    ``threshold``: minimum :attr:`SoundMatch.score` reported (2.0: estimated false-match
    probability 1 %).
    """

    speed_range: tuple[float, float] = (0.7, 1.45)
    tempo_range: tuple[float, float] = (0.8, 1.25)
    pitch_range_semitones: tuple[float, float] = (-4.5, 4.5)
    scale_step: float = 0.025
    shift_step_bins: float = 1.0
    offset_bin_frames: int = 8
    max_postings: int = 20000
    n_candidates: int = 8
    align_tol_bins: float = 0.75
    align_step_frames: float = 0.5
    align_tol_steps: int = 1
    threshold: float = 2.0
    top_k: int = 5

    def __post_init__(self) -> None:
        for name in ("speed_range", "tempo_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= 1.0 <= hi:
                raise ParameterError(f"{name}={(lo, hi)} must satisfy 0 < lo <= 1 <= hi")
        lo, hi = self.pitch_range_semitones
        if not lo <= 0.0 <= hi:
            raise ParameterError(f"pitch_range_semitones={(lo, hi)} must contain 0")
        if self.scale_step <= 0 or self.shift_step_bins <= 0 or self.align_step_frames <= 0:
            raise ParameterError(
                f"scale_step={self.scale_step}, shift_step_bins={self.shift_step_bins}, "
                f"align_step_frames={self.align_step_frames} must be > 0"
            )
        if self.top_k < 1 or self.n_candidates < 1:
            raise ParameterError(f"top_k={self.top_k}, n_candidates={self.n_candidates} must be >= 1")
        if not math.isfinite(self.threshold):
            raise ParameterError(f"threshold={self.threshold} must be finite")


@dataclass(frozen=True)
class SoundMatch:
    """One reference sound heard in a query.

    ``score`` is ``-log10`` of the estimated probability that a match this strong
    arises by chance anywhere in the index (see :func:`false_match_log10p`); the
    default threshold 2.0 means "less than 1 % chance of a false match".
    ``offset_seconds``: where in the reference the query starts (reference time).
    ``speed``: time-scale factor (reference seconds per query second; 1.25 = sped up
    25 %). ``pitch_semitones``: frequency shift of the query relative to the reference.
    ``tempo``: the part of ``speed`` not explained by the frequency shift
    (``speed / 2 ** (pitch_semitones / 12)``; 1.0 for a plain resampled "sped up" edit).
    ``query_start_seconds``/``query_end_seconds``: span of the query where matching peaks lie.
    """

    sound_id: str
    score: float
    offset_seconds: float
    speed: float
    tempo: float
    pitch_semitones: float
    query_start_seconds: float
    query_end_seconds: float
    n_matched_hashes: int
    n_matched_peaks: int
    n_query_peaks: int
    false_match_probability: float = field(default=1.0)


@dataclass(frozen=True, repr=False)
class QueryPrint:
    """Query peaks and their pairs, ready to be hashed under any hypothesis.

    ``anchor_times``/``anchor_bins``/``delta_bins``/``delta_frames``: float32 ``[p]``.
    """

    peaks: Peaks
    anchor_times: np.ndarray
    anchor_bins: np.ndarray
    delta_bins: np.ndarray
    delta_frames: np.ndarray
    duration_seconds: float

    def __repr__(self) -> str:
        return f"QueryPrint(peaks={len(self.peaks)}, pairs={self.anchor_times.size})"


@dataclass(frozen=True)
class Candidate:
    """A (sound, hypothesis, offset) cell that collected ``votes`` consistent hash hits."""

    sound: int
    scale: float
    shift_bins: float
    offset_frames: float
    votes: int


def hypothesis_grid(config: MatchConfig, params: FingerprintParams) -> tuple[np.ndarray, np.ndarray]:
    """The (time scale, frequency shift in bins) hypotheses searched for candidates.

    Three families: resampling (shift = ``bins_per_octave * log2(scale)``), time-stretch
    (no shift) and pitch shift (scale 1). Returns float64 ``([h], [h])``.
    """
    bpo = params.bins_per_octave

    def geom(lo: float, hi: float) -> np.ndarray:
        n_lo = int(np.floor(np.log(lo) / np.log1p(config.scale_step)))
        n_hi = int(np.ceil(np.log(hi) / np.log1p(config.scale_step)))
        return (1.0 + config.scale_step) ** np.arange(n_lo, n_hi + 1)

    sp = geom(*config.speed_range)
    te = geom(*config.tempo_range)
    lo, hi = config.pitch_range_semitones
    step = config.shift_step_bins
    sh = np.arange(np.floor(lo * bpo / 12 / step), np.ceil(hi * bpo / 12 / step) + 1) * step
    scales = np.concatenate([sp, te, np.ones(sh.size)])
    shifts = np.concatenate([-bpo * np.log2(sp), np.zeros(te.size), sh])
    pairs = np.unique(np.round(np.stack([scales, shifts], axis=1), 6), axis=0)
    return pairs[:, 0], pairs[:, 1]


def prepare_query(
    samples: np.ndarray, sample_rate: int, params: FingerprintParams, config: MatchConfig
) -> QueryPrint:
    """Peaks and pairs of a query signal (``samples`` float ``[n]``)."""
    x = np.asarray(samples)
    peaks = peaks_of(x, sample_rate, params, params.query_peaks_per_second)
    # the query's target zone covers the reference zone under every searched time scale
    s_min = min(config.speed_range[0], config.tempo_range[0])
    s_max = max(config.speed_range[1], config.tempo_range[1])
    zone = dataclasses.replace(
        params,
        pair_min_frames=max(1, int(np.floor(params.pair_min_frames / s_max))),
        pair_max_frames=min(63, int(np.ceil(params.pair_max_frames / s_min))),
    )
    a, t = peak_pairs(peaks, zone, params.query_fan_out)
    return QueryPrint(
        peaks=peaks,
        anchor_times=peaks.times[a],
        anchor_bins=peaks.bins[a],
        delta_bins=peaks.bins[t] - peaks.bins[a],
        delta_frames=peaks.times[t] - peaks.times[a],
        duration_seconds=float(x.shape[0]) / float(sample_rate),
    )


def find_candidates(
    query: QueryPrint,
    index: HashIndex,
    n_sounds: int,
    params: FingerprintParams,
    config: MatchConfig,
    scales: np.ndarray,
    shifts: np.ndarray,
) -> list[Candidate]:
    """Vote hash hits into (sound, hypothesis, offset) cells; best cell per sound, best sounds first."""
    p = query.anchor_times.size
    h = scales.size
    if p == 0 or n_sounds == 0:
        return []
    keys, valid = hash_keys(
        query.anchor_bins[None, :] + shifts[:, None],
        np.broadcast_to(query.delta_bins[None, :], (h, p)),
        query.delta_frames[None, :] * scales[:, None],
        params,
    )
    flat = np.nonzero(valid.ravel())[0]
    hits = index.lookup(keys.ravel()[flat], config.max_postings)
    if len(hits) == 0:
        return []
    src = flat[hits.query_pos]
    hyp = src // p
    anchor = query.anchor_times[src % p]
    offset = hits.times - scales[hyp] * anchor
    width = config.offset_bin_frames
    off_min = float(np.floor(offset.min() / width))
    obin = (np.floor(offset / width) - off_min).astype(np.int64)
    n_ob = int(obin.max()) + 2
    pair = hits.sounds.astype(np.int64) * h + hyp
    n_pairs = n_sounds * h
    if n_pairs * n_ob > _DIRECT_CELLS:
        # large index: keep the (sound, hypothesis) pairs with the most hits, then count cells
        totals = np.bincount(pair, minlength=n_pairs)
        keep_n = min(n_pairs, _PAIRS_KEPT)
        top = np.argpartition(-totals, keep_n - 1)[:keep_n]
        remap = np.full(n_pairs, -1, dtype=np.int64)
        remap[top] = np.arange(keep_n)
        compact = remap[pair]
        sel = compact >= 0
        pair_ids = top
        cells = np.bincount(compact[sel] * n_ob + obin[sel], minlength=keep_n * n_ob).reshape(keep_n, n_ob)
    else:
        pair_ids = np.arange(n_pairs)
        cells = np.bincount(pair * n_ob + obin, minlength=n_pairs * n_ob).reshape(n_pairs, n_ob)
    # windows of two offset bins (no loss at bin boundaries); window j covers bins j-1 and j
    win = cells.copy()
    win[:, 1:] += cells[:, :-1]
    best_bin = np.argmax(win, axis=1)
    best_val = win[np.arange(win.shape[0]), best_bin]
    pair_sound = pair_ids // h
    order = np.lexsort((-best_val, pair_sound))  # by sound, then best first
    first = order[np.r_[True, pair_sound[order][1:] != pair_sound[order][:-1]]]
    first = first[np.argsort(-best_val[first], kind="stable")][: config.n_candidates]
    out: list[Candidate] = []
    for i in first:
        if best_val[i] <= 0:
            break
        hh = int(pair_ids[i] % h)
        out.append(
            Candidate(
                sound=int(pair_sound[i]),
                scale=float(scales[hh]),
                shift_bins=float(shifts[hh]),
                offset_frames=(float(best_bin[i]) + off_min) * width,
                votes=int(best_val[i]),
            )
        )
    return out


@dataclass(frozen=True)
class Alignment:
    """Peak coincidences of a query with one reference.

    ``matched``: best count (max over the local scale/shift grid and every offset);
    ``null_rate``: mean of that max at offsets away from the best one, where the query
    still half-overlaps the reference (the empirical chance level of this pair);
    ``query_start_frames``/``query_end_frames``: span of the coinciding query peaks.
    """

    matched: int
    null_rate: float
    scale: float
    shift_bins: float
    offset_frames: float
    query_start_frames: float
    query_end_frames: float


def align(
    query: Peaks,
    ref_times: np.ndarray,
    ref_bins: np.ndarray,
    cand: Candidate,
    config: MatchConfig,
    n_scale: int = 5,
    n_shift: int = 5,
) -> Alignment:
    """Align the query's peaks on one reference's peaks (float ``[r]`` frames and bins).

    For a ``n_scale`` x ``n_shift`` grid around the candidate's hypothesis, every query
    peak is paired with the reference peaks within ``align_tol_bins`` of its shifted
    frequency and the implied offsets are histogrammed: one pass gives the coincidence
    count at *every* offset, hence both the best alignment and its empirical null.
    """
    nq = len(query)
    none = Alignment(0, 0.0, cand.scale, cand.shift_bins, cand.offset_frames, 0.0, 0.0)
    if nq == 0 or ref_times.size == 0:
        return none
    half_s = 0.5 * config.scale_step
    s_grid = cand.scale * np.exp(np.linspace(-half_s, half_s, n_scale))
    k_half = 0.5 * config.shift_step_bins + 0.5
    k_grid = cand.shift_bins + np.linspace(-k_half, k_half, n_shift)
    order = np.argsort(ref_bins, kind="stable")
    rb_s = ref_bins[order]
    rt_s = ref_times[order].astype(np.float64)
    qb = query.bins[None, :] + k_grid[:, None]  # [K, Q]
    lo = np.searchsorted(rb_s, (qb - config.align_tol_bins).ravel(), side="left")
    hi = np.searchsorted(rb_s, (qb + config.align_tol_bins).ravel(), side="right")
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return none
    t_ref_max = float(ref_times.max())
    q_len = float(query.times.max())
    res = config.align_step_frames
    o_min = int(np.floor(-s_grid[-1] * q_len / res)) - 2
    n_o = int(np.ceil(t_ref_max / res)) - o_min + 3
    kq = np.repeat(np.arange(lens.size), lens)
    ends = np.cumsum(lens)
    ridx = np.arange(total) + np.repeat(lo - (ends - lens), lens)
    kk = kq // nq
    qi = kq % nq
    tq = query.times[qi].astype(np.float64)
    tr = rt_s[ridx]
    n_sk = n_scale * n_shift
    hist = np.zeros(n_sk * n_o, dtype=np.int64)
    for si in range(n_scale):  # n_scale (5) vectorised passes
        ob = np.rint((tr - s_grid[si] * tq) / res).astype(np.int64) - o_min
        hist += np.bincount((si * n_shift + kk) * n_o + ob, minlength=n_sk * n_o)
    h2 = hist.reshape(n_sk, n_o)
    h3 = h2.copy()
    for d in range(1, config.align_tol_steps + 1):
        h3[:, d:] += h2[:, :-d]
        h3[:, :-d] += h2[:, d:]
    best_sk = h3.max(axis=0)
    bo = int(np.argmax(best_sk))
    ski = int(np.argmax(h3[:, bo]))
    si, ki = divmod(ski, n_shift)
    o_axis = (np.arange(n_o) + o_min) * res
    scale = float(s_grid[si])
    overlap = (o_axis >= -0.5 * scale * q_len) & (o_axis <= t_ref_max - 0.5 * scale * q_len)
    far = np.abs(o_axis - o_axis[bo]) > max(43.0, 0.5 * scale * q_len)
    null = best_sk[overlap & far]
    # the query peaks that coincide at the best alignment
    sel = kk == ki
    diff = np.abs(tr[sel] - scale * tq[sel] - o_axis[bo])
    hit_t = tq[sel][diff <= res * (config.align_tol_steps + 0.5)]
    return Alignment(
        matched=int(best_sk[bo]),
        null_rate=float(null.mean()) if null.size >= 20 else math.nan,
        scale=scale,
        shift_bins=float(k_grid[ki]),
        offset_frames=float(o_axis[bo]),
        query_start_frames=float(hit_t.min()) if hit_t.size else 0.0,
        query_end_frames=float(hit_t.max()) if hit_t.size else 0.0,
    )


def chance_rate(
    query: Peaks, n_ref_peaks: int, ref_frames: float, params: FingerprintParams, config: MatchConfig
) -> float:
    """Expected chance coincidences of ``query`` with a reference of ``n_ref_peaks`` peaks over
    ``ref_frames`` frames if its peaks were spread uniformly (used when the reference is too
    short for an empirical null)."""
    cell = (2 * config.align_tol_bins) * (config.align_step_frames * (2 * config.align_tol_steps + 1))
    density = n_ref_peaks / max(ref_frames * params.n_bins, 1.0)
    return float(len(query) * density * cell * 25)  # 25: max over the local 5 x 5 grid


def false_match_log10p(matched: int, null_rate: float, log10_trials: float) -> float:
    """``log10`` of the estimated probability that chance alone gives ``matched`` coincidences
    somewhere in the index: ``log10(P(Poisson(null_rate) >= matched)) + log10_trials``, capped at 0."""
    if matched <= 0:
        return 0.0
    lam = max(null_rate, 0.5)
    lp = float(stats.poisson.logsf(matched - 1, lam)) / math.log(10.0)
    return min(0.0, lp + log10_trials)


# log10 of (effective independent trials / nominal trials): offsets a few steps apart and
# neighbouring (scale, shift) cells are strongly correlated. Fitted on synthetic negatives so
# that P(score >= x) ~ 10**-x (see scripts/eval_sounds.py --calibrate).
TRIALS_CALIBRATION_LOG10 = 0.0


def log10_trials(total_ref_frames: float, n_hypotheses: int, config: MatchConfig) -> float:
    """``log10`` of the effective number of alignments searched in an index whose references
    total ``total_ref_frames`` frames."""
    nominal = max(total_ref_frames / config.align_step_frames, 1.0) * max(n_hypotheses, 1) * 25
    return math.log10(nominal) + TRIALS_CALIBRATION_LOG10


def match_query(
    query: QueryPrint,
    index: HashIndex,
    peaks: PeakTable,
    sound_ids: list[str],
    params: FingerprintParams,
    config: MatchConfig,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
) -> list[SoundMatch]:
    """Ranked matches of a prepared query (best first), keeping ``score >= threshold``."""
    threshold = config.threshold if threshold is None else threshold
    top_k = config.top_k if top_k is None else top_k
    scales, shifts = hypothesis_grid(config, params)
    cands = find_candidates(query, index, len(sound_ids), params, config, scales, shifts)
    if not cands:
        return []
    trials = log10_trials(peaks.total_frames, scales.size, config)
    fps = params.frames_per_second
    out: list[SoundMatch] = []
    for cand in cands:
        rt, rb = peaks.peaks(cand.sound)
        a = align(query.peaks, rt, rb, cand, config)
        lam = a.null_rate
        if not math.isfinite(lam):
            lam = chance_rate(query.peaks, rt.size, float(rt.max()) if rt.size else 1.0, params, config)
        log10p = false_match_log10p(a.matched, lam, trials)
        score = -log10p
        if score < threshold:
            continue
        pitch = -a.shift_bins * 12.0 / params.bins_per_octave
        out.append(
            SoundMatch(
                sound_id=sound_ids[cand.sound],
                score=round(score, 3),
                offset_seconds=a.offset_frames / fps,
                speed=a.scale,
                tempo=a.scale / 2.0 ** (pitch / 12.0),
                pitch_semitones=pitch,
                query_start_seconds=a.query_start_frames / fps,
                query_end_seconds=a.query_end_frames / fps,
                n_matched_hashes=cand.votes,
                n_matched_peaks=a.matched,
                n_query_peaks=len(query.peaks),
                false_match_probability=10.0**log10p,
            )
        )
    out.sort(key=lambda m: (-m.score, m.sound_id))
    return out[:top_k]
