"""Matching a query against reference fingerprints, with a calibrated score.

Three steps (design notes and the numbers that decided them: README section ``sounds``;
verification lives in :mod:`reelsense.sounds.verify`):

1. **Probe** (:func:`probe`): the query's peak triplets, strongest first, are hashed under every
   (time-scale, frequency-shift) hypothesis of :func:`hypothesis_grid` and looked up in the
   index's triplet table; every hit votes for a (sound, hypothesis, offset) cell.
2. **Rank** (:func:`rank_candidates`): the best cell of each sound; the best ``n_candidates``
   sounds go on.
3. **Verify** (:func:`align`): the query's peaks are aligned on the candidate reference's peaks
   on a fine scale/shift grid around the candidate's hypothesis, near its offset; the
   coincidence count at the best alignment is compared with the chance level of that query and
   reference (the count at every other offset, at the best scale/shift), which gives the score.

Probing runs in rounds: the strongest ``first_triplets`` triplets first; when the best
candidate of that round already verifies with ``score >= exit_score`` the search stops
(an easy query costs a fraction of a hard one); otherwise the remaining triplets are probed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from reelsense._checks import check_bool, check_choice, check_finite, check_int, check_number, check_positive
from reelsense.errors import ParameterError
from reelsense.sounds import _kernels, _warmup
from reelsense.sounds._malloc import keep_freed_memory
from reelsense.sounds._tables import IndexTotals, SearchIndex
from reelsense.sounds.dense import DenseConfig, DenseHit, combined_score
from reelsense.sounds.fingerprint import (
    KEY_FRAMES,
    FingerprintParams,
    Peaks,
    peak_triplets,
    peaks_of,
    triplet_keys,
)
from reelsense.sounds.verify import (
    Alignment,
    ScoreBelow,
    align,
    chance_rate,
    false_match_log10p,
    log10_trials,
    matched_span,
)

_PAIRS_KEPT = 256
#: what the dense second chance searches (:attr:`MatchConfig.dense_scope`)
DenseScope = Literal["library", "candidates"]
DENSE_SCOPES: tuple[DenseScope, ...] = ("library", "candidates")
_DIRECT_PAIRS = 1 << 24

__all__ = [
    "DENSE_SCOPES",
    "Alignment",
    "Candidate",
    "DenseScope",
    "MatchConfig",
    "QueryPrint",
    "ReferenceReach",
    "SoundMatch",
    "align",
    "chance_rate",
    "false_match_log10p",
    "hypothesis_grid",
    "log10_trials",
    "match_query",
    "match_query_candidates",
    "prepare_query",
    "prepare_query_from_peaks",
    "probe",
    "rank_candidates",
    "reference_reach",
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
    ``offset_bin_frames``; the ``cells_per_sound`` best (hypothesis, offset) cells of each of
    the best ``n_candidates`` sounds are verified. Probing runs in stages (see
    :func:`match_query`): every triplet under the identity hypothesis, then the strongest
    ``first_triplets``, then up to ``second_triplets``, then the rest under every other
    hypothesis, leaving out keys whose bucket holds more than ``max_load`` times the mean number
    of postings per bucket (None: none; the commonest patterns: little evidence, most of the
    work; ``first_round_max_load`` for the first grid stage), which are read up to that bound
    when nothing else is found. When only the best match is wanted
    (``top_k`` 1) the search stops after a stage whose best candidate scores ``exit_score`` (or the
    threshold, when that is higher) or more, or matches and has another cell that does;
    verification then stops at the first such candidate too (``confirm_triplets``: see
    :func:`match_query`). ``top_k`` > 1 verifies every candidate.

    Verification aligns peaks on an ``align_scale_steps`` x ``align_shift_steps`` grid that
    spans one hypothesis step on either side of the candidate's, with tolerances
    ``align_tol_bins`` and ``align_step_frames * (align_tol_steps + 0.5)``, counting at most
    ``align_cap_per_bin`` coincidences per query frequency and ``align_cap_per_frame`` per
    query frame; the chance level is the larger of the mean count over the whole reference
    (per query peak over the reference, at the match's overlap) and within
    ``null_window_seconds`` of the match (see :func:`align`).
    ``threshold``: minimum :attr:`SoundMatch.score` reported (2.0: estimated false-match
    probability 1 %).

    ``dense_second_chance`` (off by default): when the peak search returns nothing or a best
    match under ``dense_below_score``, :meth:`reelsense.sounds.SoundIndex.match` also runs the
    dense per-frame test (:mod:`reelsense.sounds.dense`, parameters ``dense``) and keeps the
    better of the two. It finds reverb + voice-over + noise uses the peaks miss.
    ``dense_scope``: the sounds it searches. ``"library"``: every sound, at a cost linear in the
    index's total length for every query that reaches it. ``"candidates"``: only the sounds the
    peak search ranked (at most ``n_candidates``, whatever their votes), at a cost bounded
    independently of the index's size; it finds the use only when the peaks put its sound among
    them. Its score counts the trials of a search of every sound (the same false-match guard).

    ``composite`` (off by default): the candidate search also tries every combination of a
    time scale over ``tempo_range`` and a pitch shift over ``pitch_range_semitones`` (a plane of
    hypotheses, spaced as the families), for two copies that were edited differently from one
    original: a pitch-shifted use against a sped-up one differs by a time scale *and* a pitch
    shift that no single family covers. 640 hypotheses instead of 80 with the default ranges
    (about 4x the search's CPU), and the score counts them. The dense test keeps the families.
    """

    speed_range: tuple[float, float] = (0.7, 1.45)
    tempo_range: tuple[float, float] = (0.8, 1.25)
    pitch_range_semitones: tuple[float, float] = (-4.5, 4.5)
    scale_step: float = 0.025
    shift_step_bins: float = 1.0
    offset_bin_frames: int = 8
    n_candidates: int = 8
    cells_per_sound: int = 3
    first_triplets: int = 600
    second_triplets: int = 2000
    first_round_max_load: float = 8.0
    confirm_triplets: int = 150
    max_load: float | None = 8.0
    exit_score: float = 12.0
    align_tol_bins: float = 0.75
    align_step_frames: float = 0.5
    align_tol_steps: int = 1
    align_scale_steps: int = 9
    align_shift_steps: int = 5
    align_cap_per_bin: int = 3
    align_cap_per_frame: int = 3
    null_window_seconds: float = 10.0
    threshold: float = 2.0
    top_k: int = 1
    dense_second_chance: bool = False
    dense_scope: DenseScope = "library"
    composite: bool = False
    dense_below_score: float = 4.0
    dense: DenseConfig = field(default_factory=DenseConfig)

    def __post_init__(self) -> None:
        for name in ("speed_range", "tempo_range", "pitch_range_semitones"):
            value = getattr(self, name)
            if not isinstance(value, tuple | list) or len(value) != 2:
                raise ParameterError(f"{name}={value!r} must be a (low, high) pair")
            # a tuple of floats: the config keys cached search grids, a list cannot
            object.__setattr__(self, name, tuple(check_finite(v, name) for v in value))
        for name in ("speed_range", "tempo_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= 1.0 <= hi:
                raise ParameterError(f"{name}={(lo, hi)} must satisfy 0 < lo <= 1 <= hi")
        lo, hi = self.pitch_range_semitones
        if not lo <= 0.0 <= hi:
            raise ParameterError(f"pitch_range_semitones={(lo, hi)} must contain 0")
        # each field checked by itself and stored as a Python number (a numpy number from JSON
        # or array code equals, and hashes like, the plain one: the config keys cached grids)
        for name, minimum in (
            ("offset_bin_frames", 1),
            ("n_candidates", 1),
            ("cells_per_sound", 1),
            ("first_triplets", 1),
            ("second_triplets", 1),
            ("confirm_triplets", 1),
            ("align_tol_steps", 0),
            ("align_scale_steps", 1),
            ("align_shift_steps", 1),
            ("align_cap_per_bin", 1),
            ("align_cap_per_frame", 1),
            ("top_k", 1),
        ):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=minimum))
        for name in (  # NaN passed a "<= 0" test and matched nothing
            "scale_step",
            "shift_step_bins",
            "first_round_max_load",
            "align_tol_bins",
            "align_step_frames",
            "null_window_seconds",
        ):
            object.__setattr__(self, name, check_positive(getattr(self, name), name))
        if self.max_load is not None:
            try:
                object.__setattr__(self, "max_load", check_positive(self.max_load, "max_load"))
            except ParameterError as error:
                raise ParameterError(f"{error} (None: no limit)") from None
        for name in ("threshold", "dense_below_score"):
            object.__setattr__(self, name, check_finite(getattr(self, name), name))
        if self.threshold < 0.0:
            raise ParameterError(f"threshold={self.threshold} must be >= 0 (a score is -log10 p)")
        # a number (True, "12", NaN refused; inf: never stop early), as a float
        object.__setattr__(self, "exit_score", check_number(self.exit_score, "exit_score"))
        check_choice(self.dense_scope, "dense_scope", DENSE_SCOPES)
        for name in ("dense_second_chance", "composite"):  # a string such as "no" read as True
            object.__setattr__(self, name, check_bool(getattr(self, name), name))
        if not isinstance(self.dense, DenseConfig):
            raise ParameterError(f"dense={self.dense!r} must be a DenseConfig")


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
    """Query peaks and their triplets, ready to be hashed under any hypothesis.

    ``anchor_times``/``anchor_bins``: float32 ``[p]``; ``delta_bins``/``delta_frames``: float32
    ``[2, p]`` (the two targets); ``order``: int64 ``[p]``, strongest triplet first.
    """

    peaks: Peaks
    anchor_times: np.ndarray
    anchor_bins: np.ndarray
    delta_bins: np.ndarray
    delta_frames: np.ndarray
    order: np.ndarray
    duration_seconds: float

    def __repr__(self) -> str:
        return f"QueryPrint(peaks={len(self.peaks)}, triplets={self.anchor_times.size})"

    @property
    def n_triplets(self) -> int:
        return int(self.anchor_times.size)


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

    Three families: resampling (shift = ``-bins_per_octave * log2(scale)``), time-stretch
    (no shift) and pitch shift (scale 1), each in order (neighbours in the grid are neighbours in
    the family, except at the two family boundaries); with ``config.composite``, then the plane
    of time-stretch scales x pitch shifts not already there, scale-major. Returns float64
    ``([h], [h])``.
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
    if config.composite:
        plane_scales, plane_shifts = np.meshgrid(te, sh, indexing="ij")
        scales = np.concatenate([scales, plane_scales.ravel()])
        shifts = np.concatenate([shifts, plane_shifts.ravel()])
    pairs = np.round(np.stack([scales, shifts], axis=1), 6)
    _, first = np.unique(pairs, axis=0, return_index=True)  # drop repeats, keep the family order
    pairs = pairs[np.sort(first)]
    return pairs[:, 0], pairs[:, 1]


@functools.lru_cache(maxsize=16)
def _cached_grid(config: MatchConfig, params: FingerprintParams) -> tuple[np.ndarray, np.ndarray]:
    return hypothesis_grid(config, params)


def _search_grid(config: MatchConfig, params: FingerprintParams) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hypothesis_grid`, computed once per configuration (copies: the caller may write)."""
    scales, shifts = _cached_grid(config, params)
    return scales.copy(), shifts.copy()


@dataclass(frozen=True)
class ReferenceReach:
    """What the matcher's acceptance rule allows a reference (:func:`reference_reach`).

    ``countable``: the most peak coincidences verification can count when the query is the
    reference's own audio: its peaks, at most ``align_cap_per_bin`` per frequency bin and
    ``align_cap_per_frame`` per frame. ``needed``: the fewest coincidences that can score
    ``threshold`` against this reference alone, at the lowest chance level the score allows.
    ``countable < needed``: no query, however clean, matches it.
    """

    countable: int
    needed: int

    @property
    def can_match(self) -> bool:
        return self.countable >= self.needed


def reference_reach(
    peak_times: np.ndarray,
    peak_bins: np.ndarray,
    duration_seconds: float,
    params: FingerprintParams,
    config: MatchConfig,
) -> ReferenceReach:
    """Whether a reference of these peaks (frames and bins, ``[n]`` each) and duration can ever be
    matched at ``config.threshold`` by its peaks (the dense second chance aside).

    The bound is the score's own formula at its most favourable: every countable peak coincides,
    the chance level is :func:`false_match_log10p`'s floor, and the trials are the fewest any search
    counts (an index of this sound alone, a query of no length, :func:`log10_trials`). A larger
    index or a real chance level only raise ``needed``; so below it the reference is never matched,
    at or above it it may be."""
    times = np.rint(np.asarray(peak_times, dtype=np.float64))
    bins = np.rint(np.asarray(peak_bins, dtype=np.float64))
    countable = min(
        int(times.size),
        config.align_cap_per_bin * int(np.unique(bins).size),
        config.align_cap_per_frame * int(np.unique(times).size),
    )
    n_hypotheses = int(_cached_grid(config, params)[0].size)
    frames = max(float(duration_seconds), 0.0) * params.frames_per_second
    trials = log10_trials(frames, 1, 0.0, n_hypotheses, config)
    needed = 1
    # the score is rounded as _verify rounds it; the tail falls with every coincidence, so this ends
    while round(-false_match_log10p(needed, 0.0, trials), 3) < config.threshold:
        needed += 1
    return ReferenceReach(countable, needed)


def query_zone(params: FingerprintParams, config: MatchConfig) -> FingerprintParams:
    """The query's target zone: it covers the reference zone under every searched time scale."""
    s_min = min(config.speed_range[0], config.tempo_range[0])
    s_max = max(config.speed_range[1], config.tempo_range[1])
    return dataclasses.replace(
        params,
        pair_min_frames=max(1, int(np.floor(params.pair_min_frames / s_max))),
        pair_max_frames=min(63, int(np.ceil(params.pair_max_frames / s_min))),
        pair_max_bins=params.pair_max_bins + 1,
    )


def prepare_query(
    samples: np.ndarray, sample_rate: int, params: FingerprintParams, config: MatchConfig
) -> QueryPrint:
    """Peaks and triplets of a query signal (``samples`` float ``[n]``)."""
    x = np.asarray(samples)
    peaks = peaks_of(x, sample_rate, params, params.query_peaks_per_second)
    duration = float(x.shape[0]) / float(sample_rate) if sample_rate > 0 else 0.0
    return prepare_query_from_peaks(peaks, duration, params, config)


def _stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` (int64): for float32 values without NaN, a compiled
    radix sort of the value's bits turned to sort as unsigned integers do
    (:func:`_kernels.stable_order`), or without numba one numpy sort of unique 64-bit integers
    (those bits, then the position), several times faster than a stable sort of the floats."""
    if _kernels.AVAILABLE and values.dtype == np.float32:  # a radix sort of the same integers
        radix, ordered = _kernels.stable_order(values)
        if ordered:
            return radix
    if values.dtype != np.float32 or np.isnan(values).any():
        return np.argsort(values, kind="stable").astype(np.int64)
    bits = (values + np.float32(0.0)).view(np.uint32).astype(np.uint64)  # -0.0 becomes 0.0
    bits = np.where(bits >= 1 << 31, bits ^ np.uint64(0xFFFFFFFF), bits | np.uint64(1 << 31))
    keys: np.ndarray = (bits << np.uint64(32)) | np.arange(values.size, dtype=np.uint64)
    keys.sort()
    order: np.ndarray = (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return order


def prepare_query_from_peaks(
    peaks: Peaks, duration_seconds: float, params: FingerprintParams, config: MatchConfig
) -> QueryPrint:
    """:func:`prepare_query` from peaks already picked at ``params.query_peaks_per_second``
    (for a caller that also needs other peaks of the same spectrogram). The first call in a
    process makes sure numba's cache holds the search's kernels, as
    :func:`match_query_candidates` does (a query is prepared to be searched)."""
    _warmup.ensure_compiled("match")
    a, b, c = peak_triplets(peaks, query_zone(params, config), params.query_fan_out)
    t, f, w = peaks.times, peaks.bins, peaks.strength
    order = _stable_order(-(w[a] + w[b] + w[c]))
    return QueryPrint(
        peaks=peaks,
        anchor_times=t[a],
        anchor_bins=f[a],
        delta_bins=np.stack([f[b] - f[a], f[c] - f[a]]),
        delta_frames=np.stack([t[b] - t[a], t[c] - t[a]]),
        order=order,
        duration_seconds=duration_seconds,
    )


@dataclass(frozen=True, repr=False)
class Votes:
    """Hash hits as votes: integer ``[v]`` sound number and hypothesis number, and float64 offset
    in frames (reference frame of the query's frame 0 under that hypothesis)."""

    sounds: np.ndarray
    hypotheses: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return int(self.sounds.size)


def probe(
    query: QueryPrint,
    selected: np.ndarray,
    index: SearchIndex,
    params: FingerprintParams,
    scales: np.ndarray,
    shifts: np.ndarray,
    load: tuple[float | None, float | None] = (None, None),
    numbers: np.ndarray | None = None,
    read: float | None = None,
) -> Votes:
    """Look up the ``selected`` triplets (int ``[p]``) under every hypothesis; one vote per hit
    (``load``: only keys whose bucket fill lies in that range; ``read``: each bucket read up to
    that fill; see :meth:`SearchIndex.lookup`). Votes name hypothesis ``j`` ``numbers[j]`` (int;
    default ``j``)."""
    numbers = np.arange(scales.size) if numbers is None else np.asarray(numbers, dtype=np.int64)
    p, h = selected.size, scales.size
    if p == 0:
        z = np.zeros(0, dtype=np.int64)
        return Votes(z, z, z.astype(np.float64))
    # neighbouring hypotheses often give a triplet the same key (short time differences round
    # alike): the look-up takes the keys in the [p, h] layout, looks each run of equal keys along
    # the hypothesis axis up once, and the run's hits vote for every hypothesis of the run
    if _kernels.AVAILABLE:  # the same keys, hits and votes compiled (the kernels read ``selected``)
        rows = np.asarray(selected, dtype=np.int64)
        if rows.min() < 0 or rows.max() >= query.n_triplets:  # the kernels do not check
            raise ParameterError(f"selected triplets must lie in [0, {query.n_triplets})")
        scales = np.asarray(scales, dtype=np.float64)
        kt = _kernels.grid_triplet_keys(
            query.anchor_bins, query.delta_bins, query.delta_frames, rows,
            np.asarray(shifts, dtype=np.float64), scales,
            float(params.hash_band_bins), params.pair_max_bins, params.n_bands, KEY_FRAMES,
        )  # fmt: skip
        hits = index.lookup(kt, load, read)
        votes = _kernels.run_votes(
            hits.query_pos, hits.sounds, hits.times, kt, query.anchor_times, rows, scales, numbers
        )
        return Votes(*votes)
    db = query.delta_bins[:, selected]
    df = query.delta_frames[:, selected]
    keys, valid = triplet_keys(
        query.anchor_bins[selected][None, :] + shifts[:, None],
        (np.broadcast_to(db[0], (h, p)), np.broadcast_to(db[1], (h, p))),
        (df[0][None, :] * scales[:, None], df[1][None, :] * scales[:, None]),
        params,
    )
    kt = np.ascontiguousarray(np.where(valid, keys, _kernels.NO_KEY).T)
    hits = index.lookup(kt, load, read)
    # each hit's run: equal keys from its first one on along the hypothesis axis
    flat = kt.ravel()
    goes_on = np.zeros(flat.size, dtype=bool)  # cell c's run goes on to cell c + 1
    goes_on[:-1] = (flat[1:] == flat[:-1]) & (np.arange(1, flat.size) % h != 0)
    ends = np.flatnonzero(~goes_on)
    n = ends[np.searchsorted(ends, hits.query_pos)] - hits.query_pos + 1
    src = np.repeat(hits.query_pos, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    hyp = src % h
    anchor = query.anchor_times[selected][src // h]
    times = np.repeat(hits.times, n)
    return Votes(np.repeat(hits.sounds, n), numbers[hyp], times - scales[hyp] * anchor)


def _pair_cells(
    votes: Votes, n_sounds: int, n_hypotheses: int, width: float
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, float]:
    """The vote cells of :func:`rank_candidates` in numpy: the hypotheses with votes, their
    number, the (sound, hypothesis) pairs with the most votes, their votes by offset bin of
    ``width`` frames, and the first bin."""
    # hypotheses numbered among those that got hits (one, after the identity stage)
    present = np.flatnonzero(np.bincount(votes.hypotheses, minlength=n_hypotheses))
    h = present.size
    sounds = votes.sounds.astype(np.int64, copy=False)
    if h < n_hypotheses:
        hmap = np.zeros(n_hypotheses, dtype=np.int64)
        hmap[present] = np.arange(h)
        pair = sounds * h + hmap[votes.hypotheses]
    else:
        pair = sounds * h + votes.hypotheses
    # the (sound, hypothesis) pairs with the most hits; then offset cells among their hits only
    # (few passes over all the hits: at 10,000 sounds a query that matches nothing has millions)
    if n_sounds * h <= _DIRECT_PAIRS:
        totals = np.bincount(pair, minlength=n_sounds * h)
        nonzero = np.flatnonzero(totals)
        keep_n = min(nonzero.size, _PAIRS_KEPT)
        top = nonzero[np.argpartition(-totals[nonzero], keep_n - 1)[:keep_n]]
        remap = np.full(n_sounds * h, -1, dtype=np.int32)
        remap[top] = np.arange(top.size, dtype=np.int32)
        compact = remap[pair]
        pair_ids = top
    else:
        uniq, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
        keep_n = min(uniq.size, _PAIRS_KEPT)
        top = np.argpartition(-counts, keep_n - 1)[:keep_n]
        remap = np.full(uniq.size, -1, dtype=np.int32)
        remap[top] = np.arange(top.size, dtype=np.int32)
        compact = remap[inverse]
        pair_ids = uniq[top]
    sel = np.flatnonzero(compact >= 0)
    offsets = votes.offsets[sel]
    off_min = float(np.floor(offsets.min() / width))
    obin = (np.floor(offsets / width) - off_min).astype(np.int64)
    n_ob = int(obin.max()) + 2
    cells = np.bincount(compact[sel].astype(np.int64) * n_ob + obin, minlength=top.size * n_ob)
    return present, h, pair_ids, cells.reshape(top.size, n_ob), off_min


class _PairTally:
    """The votes of chunks by (sound, hypothesis) pair, as :func:`_pair_cells_compiled` numbers
    the pairs (``sound * h + hmap[hypothesis]`` over the ``h`` hypotheses with votes), kept
    between rankings of a growing list of chunks: a search ranks its votes after each stage, and
    a ranking then counts only the chunks added since the last one (all of them again when a new
    hypothesis gets votes, which renumbers the pairs: after the identity stage)."""

    def __init__(self, n_sounds: int, n_hypotheses: int) -> None:
        self.n_sounds, self.n_hypotheses = n_sounds, n_hypotheses
        self.counted: list[Votes] = []  # the chunks counted in ``seen`` and ``totals``
        self.seen = np.zeros(n_hypotheses, dtype=bool)
        self.hmap = np.full(n_hypotheses, -1, dtype=np.int64)
        self.h = 0
        self.totals = np.zeros(0, dtype=np.int32)
        self.n_nonzero = 0

    def fits(self, n_sounds: int, n_hypotheses: int) -> bool:
        return (self.n_sounds, self.n_hypotheses) == (n_sounds, n_hypotheses)

    def update(self, chunks: Sequence[Votes]) -> np.ndarray:
        """Count ``chunks`` (those counted before must come first, the same objects; otherwise
        everything is counted again); returns the hypotheses with votes (int64, ascending)."""
        again = not _starts_with(chunks, self.counted)
        if again:
            self.seen[:] = False
        new = chunks if again else chunks[len(self.counted) :]
        for v in new:
            _kernels.mark_hypotheses(v.hypotheses, self.seen)
        present = np.flatnonzero(self.seen)
        if again or present.size != self.h:  # the pairs are numbered anew
            self.h = present.size
            self.hmap[:] = -1
            self.hmap[present] = np.arange(self.h)
            self.totals = np.zeros(self.n_sounds * self.h, dtype=np.int32)
            self.n_nonzero = 0
            new = chunks
        for v in new:
            self.n_nonzero += _kernels.add_pair_totals(v.sounds, v.hypotheses, self.hmap, self.h, self.totals)
        self.counted = list(chunks)
        return present


def _starts_with(chunks: Sequence[Votes], first: Sequence[Votes]) -> bool:
    """Whether ``chunks`` begins with the very objects ``first``."""
    return len(first) <= len(chunks) and all(a is b for a, b in zip(first, chunks, strict=False))


class VoteList(list[Votes]):
    """A search's votes, chunk by chunk in the order they were found (a plain list of
    :class:`Votes`), which :func:`rank_candidates` ranks with the counts it kept from its last
    ranking of the same list: appending a stage's votes and ranking again counts only those."""

    def __init__(self, chunks: Sequence[Votes] = ()) -> None:
        super().__init__(chunks)
        self.tally: _PairTally | None = None


def _pair_cells_compiled(
    chunks: Sequence[Votes], n_sounds: int, n_hypotheses: int, width: float
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, float]:
    """:func:`_pair_cells` with the compiled kernels, over votes in chunks (never concatenated:
    a search's votes reach millions), down to each pair's best window: the hypotheses with
    votes, their number, the pairs, the best window's bin and votes (int64 ``[k]`` each, as
    :func:`_kernels.best_windows` of the cells), and the first bin. The cells stay sparse:
    the pairs' votes are a few thousand among hundreds of thousands of cells. A
    :class:`VoteList` keeps its pairs' counts for the next ranking of it."""
    tally = chunks.tally if isinstance(chunks, VoteList) else None
    if tally is None or not tally.fits(n_sounds, n_hypotheses):
        tally = _PairTally(n_sounds, n_hypotheses)
        if isinstance(chunks, VoteList):
            chunks.tally = tally
    present = tally.update(chunks)
    h, hmap, totals = tally.h, tally.hmap, tally.totals
    nonzero = _kernels.nonzero_of(totals, tally.n_nonzero)
    keep_n = min(nonzero.size, _PAIRS_KEPT)
    pair_ids = nonzero[np.argpartition(-totals[nonzero], keep_n - 1)[:keep_n]]
    found = [_kernels.top_rows(v.sounds, v.hypotheses, v.offsets, hmap, h, pair_ids) for v in chunks]
    off_min = float(np.floor(min(lo for _, lo, _ in found) / width))
    n_ob = int(np.floor(max(hi for _, _, hi in found) / width) - off_min) + 2
    keys = np.empty(int(totals[pair_ids].sum()), dtype=np.int64)  # every vote of those pairs
    at = 0
    for v, (rows, _, _) in zip(chunks, found, strict=True):
        at = _kernels.cell_keys(rows, v.offsets, off_min, float(width), n_ob, keys, at)
    best_bin, best_val = _kernels.sparse_best_windows(keys, pair_ids.size, n_ob)
    return present, h, pair_ids, best_bin, best_val, off_min


def _ranked_rows(
    pair_sound: np.ndarray, best_val: np.ndarray, n_sounds: int, config: MatchConfig
) -> np.ndarray:
    """The rows of the pairs that :func:`rank_candidates` makes candidates, in numpy: the best cell
    of each of the ``n_candidates`` sounds with the most votes (most first), then their next
    ``cells_per_sound - 1`` cells (most votes first), without cells of no vote; ties in pair order."""
    order = np.lexsort((-best_val, pair_sound))  # by sound, then best first
    ps = pair_sound[order]
    rank = np.arange(ps.size) - np.searchsorted(ps, ps, side="left")
    first = order[rank == 0]
    first = first[np.argsort(-best_val[first], kind="stable")][: config.n_candidates]
    chosen = np.zeros(n_sounds, dtype=bool)
    chosen[pair_sound[first]] = True
    extra = order[(rank > 0) & (rank < config.cells_per_sound) & chosen[ps]]
    rows = np.concatenate([first, extra[np.argsort(-best_val[extra], kind="stable")]])
    kept: np.ndarray = rows[best_val[rows] > 0]
    return kept


def rank_candidates(
    votes: Votes | Sequence[Votes],
    n_sounds: int,
    scales: np.ndarray,
    shifts: np.ndarray,
    config: MatchConfig,
) -> list[Candidate]:
    """Best (hypothesis, offset) cell of each sound (offset windows of two bins, so that a
    bin boundary loses nothing); the ``n_candidates`` best sounds, best first. ``votes`` may
    come in chunks (a search's stages), counted as one; a :class:`VoteList` that was ranked
    before is counted from where that ranking left it."""
    chunks: Sequence[Votes]
    if isinstance(votes, VoteList):  # kept whole: its counts so far belong to these chunks
        chunks = votes if any(len(v) for v in votes) else []
    else:
        chunks = [v for v in ([votes] if isinstance(votes, Votes) else votes) if len(v)]
    if not chunks or n_sounds == 0:
        return []
    width = config.offset_bin_frames
    if _kernels.AVAILABLE and n_sounds * scales.size <= _DIRECT_PAIRS:  # the same windows, compiled
        present, h, pair_ids, best_bin, best_val, off_min = _pair_cells_compiled(
            chunks, n_sounds, scales.size, width
        )
    else:
        one = chunks[0]
        if len(chunks) > 1:
            one = Votes(
                *(
                    np.concatenate([getattr(v, f) for v in chunks])
                    for f in ("sounds", "hypotheses", "offsets")
                )
            )
        present, h, pair_ids, cells, off_min = _pair_cells(one, n_sounds, scales.size, width)
        if _kernels.AVAILABLE:
            best_bin, best_val = _kernels.best_windows(cells)
        else:
            win = cells.copy()
            win[:, 1:] += cells[:, :-1]  # window j covers bins j-1 and j
            best_bin = np.argmax(win, axis=1)
            best_val = win[np.arange(win.shape[0]), best_bin]
    pair_sound = pair_ids // h
    if _kernels.AVAILABLE:  # the same rows, compiled
        n_cand, per_sound = config.n_candidates, config.cells_per_sound
        rows = _kernels.ranked_rows(pair_sound, best_val, n_sounds, n_cand, per_sound)
    else:
        rows = _ranked_rows(pair_sound, best_val, n_sounds, config)
    hyp = present[pair_ids[rows] % h]
    return [
        Candidate(sound=sound, scale=scale, shift_bins=shift, offset_frames=(at + off_min) * width, votes=n)
        for sound, scale, shift, at, n in zip(
            pair_sound[rows].tolist(),
            scales[hyp].tolist(),
            shifts[hyp].tolist(),
            best_bin[rows].astype(np.float64).tolist(),
            best_val[rows].tolist(),
            strict=True,
        )
    ]


def _chance_of(
    a: Alignment,
    query: QueryPrint,
    ref: tuple[np.ndarray, np.ndarray],
    params: FingerprintParams,
    config: MatchConfig,
) -> float:
    """The chance level of alignment ``a`` of ``query`` on a reference (``ref``: its peaks' times
    and bins): the measured one, or where there was no room for it, :func:`chance_rate`'s."""
    if math.isfinite(a.null_rate):
        return a.null_rate
    rt, rb = ref
    last = float(rt[-1]) if rt.size else 1.0
    return chance_rate(query.peaks, rt.size, last, params, config, a.scale, rb, a.shift_bins)


def _verify(
    query: QueryPrint,
    index: SearchIndex,
    cand: Candidate,
    params: FingerprintParams,
    config: MatchConfig,
    trials: float,
    reject_below: float | None = None,
) -> tuple[SoundMatch, bool]:
    """The candidate's alignment and score, and whether the score is exact. With ``reject_below``,
    a candidate whose score cannot reach it is rejected as soon as that is certain (its score is
    then an upper bound, under ``reject_below``); any score under ``reject_below`` counts as
    such a bound, and such a match's query span is left empty (0 to 0 s)."""
    rt, rb = index.peaks(cand.sound)

    reject = ScoreBelow(reject_below, trials)
    a = align(query.peaks, rt, rb, cand, config, params.frames_per_second, reject)
    lam = _chance_of(a, query, (rt, rb), params, config)
    log10p = false_match_log10p(a.matched, lam, trials)
    pitch = -a.shift_bins * 12.0 / params.bins_per_octave + 0.0  # + 0.0: no -0.0 for no shift
    fps = params.frames_per_second
    exact = reject_below is None or -log10p >= reject_below
    start = end = 0.0  # a rejected candidate is never reported: its span is not looked for
    if exact:
        # the chance level counts over the query frames that lie over the reference at once
        over = min(float(query.peaks.times.max()), (float(rt[-1]) if rt.size else 0.0) / max(a.scale, 1e-9))
        start, end = matched_span(a.hit_times, lam, over)
    match = SoundMatch(
        sound_id=index.ids[cand.sound],
        score=round(-log10p, 3),
        offset_seconds=a.offset_frames / fps,
        speed=a.scale,
        tempo=a.scale / 2.0 ** (pitch / 12.0),
        pitch_semitones=pitch,
        query_start_seconds=start / fps,
        query_end_seconds=end / fps,
        n_matched_hashes=cand.votes,
        n_matched_peaks=a.matched,
        n_query_peaks=len(query.peaks),
        false_match_probability=10.0**log10p,
    )
    return match, exact


def _identity(scales: np.ndarray, shifts: np.ndarray) -> int:
    """Index of the hypothesis (scale 1, shift 0) in the grid."""
    return int(np.argmin(np.abs(scales - 1.0) + np.abs(shifts)))


def _probe_some(
    query: QueryPrint,
    selected: np.ndarray,
    index: SearchIndex,
    params: FingerprintParams,
    grid: tuple[np.ndarray, np.ndarray],
    hyps: np.ndarray,
    load: tuple[float | None, float | None],
    read: float | None = None,
) -> Votes:
    """:func:`probe` under the hypotheses ``hyps`` (int ``[k]``) of the grid, numbered in the grid."""
    return probe(query, selected, index, params, grid[0][hyps], grid[1][hyps], load, hyps, read)


def _loads_overlap(load: tuple[float | None, float | None]) -> bool:
    """Whether a bucket-load range ``(low, high]`` can hold any bucket."""
    low, high = load
    return low is None or high is None or high > low


def _confirm_identity(
    query: QueryPrint,
    cands: list[Candidate],
    index: SearchIndex,
    params: FingerprintParams,
    config: MatchConfig,
    grid: tuple[np.ndarray, np.ndarray],
    verify: Callable[[Candidate, float | None], SoundMatch],
) -> list[Candidate]:
    """A match certain under the identity hypothesis can still be a partial view of an edited
    query (a pitch shift by a musical interval keeps some partials in place). The strongest
    ``confirm_triplets`` are probed under every hypothesis; when their best cell is another
    hypothesis and verifies better, it goes first."""
    scales, shifts = grid
    strong = query.order[: config.confirm_triplets]
    votes = probe(query, strong, index, params, scales, shifts, (None, config.max_load))
    other = rank_candidates(votes, len(index), scales, shifts, config)
    if not other:
        return cands
    alt, best = other[0], cands[0]
    near = abs(math.log(alt.scale)) <= config.scale_step and abs(alt.shift_bins) <= config.shift_step_bins
    if near:
        return cands
    certain = verify(best, None).score  # verified already, exactly
    if verify(alt, certain).score > certain:  # rejected as soon as it cannot beat the certain match
        return [alt, *cands]
    return cands


def match_query(
    query: QueryPrint,
    index: SearchIndex,
    params: FingerprintParams,
    config: MatchConfig,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    totals: IndexTotals | None = None,
) -> list[SoundMatch]:
    """Ranked matches of a prepared query (best first), keeping ``score >= threshold``
    (:func:`match_query_candidates` without the candidates)."""
    found, _ = match_query_candidates(
        query, index, params, config, threshold=threshold, top_k=top_k, totals=totals
    )
    return found


def match_query_candidates(
    query: QueryPrint,
    index: SearchIndex,
    params: FingerprintParams,
    config: MatchConfig,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    totals: IndexTotals | None = None,
    n_ranked: int | None = None,
) -> tuple[list[SoundMatch], list[Candidate]]:
    """Ranked matches of a prepared query (best first), keeping ``score >= threshold``, and the
    candidate cells the search ranked last (best first; sound numbers of ``index``).

    ``n_ranked``: rank this many candidate sounds by votes (default ``config.n_candidates``) and
    return all their cells, but verify only the first ``config.n_candidates`` of them (the
    matches are those of the default); the rest are leads for another test.

    ``totals``: the references that the score's trial count is taken over (default: those of
    ``index``, :attr:`SearchIndex.totals`). A shard of a larger index passes the whole index's
    totals, so that its scores mean what one search of the whole index would mean.

    The search runs in stages, each adding its votes to the earlier ones; when only the best
    match is wanted (``top_k`` 1) it ranks the votes after each stage and stops after the first
    stage whose best candidate verifies with ``score >= exit_score``, or verifies as a match and
    another cell of its sound verifies with ``score >= exit_score`` (the votes of one use can split
    between neighbouring cells); otherwise every stage runs and the votes of all of them are
    ranked once:

    1. every triplet under the identity hypothesis alone (no speed, tempo or pitch edit: most
       uploads; one lookup per triplet);
    2. the strongest ``first_triplets`` under every other hypothesis, the commonest patterns left
       out (``first_round_max_load``);
    3. the next ones, up to ``second_triplets``, under every other hypothesis (at 10,000 sounds a
       weak or edited query often shows first here, at a third of the cost of the last stage);
    4. the rest of the triplets, and the patterns left out before, under every other hypothesis;
    5. only when nothing is found: the buckets past ``max_load`` (a recording indexed many times
       over fills every bucket of its keys), read up to the cap, for every triplet under the
       identity and the strongest ``confirm_triplets`` under every other hypothesis (see
       :meth:`SearchIndex.lookup`'s ``read``); its votes are ranked on their own.

    When the identity stage is certain, the strongest ``confirm_triplets`` are also probed under
    every hypothesis: a pitch shift by a musical interval can leave enough partials in place for a
    weaker identity match (:func:`_confirm_identity`).

    Whatever stage it stops at, scores are computed against the whole search (every hypothesis),
    so they mean the same thing as an exhaustive search's.

    The first call in a process sets glibc malloc's thresholds so that the search's large
    temporary arrays reuse freed memory (:func:`reelsense.sounds._malloc.keep_freed_memory`), and
    makes sure numba's cache holds the search's kernels, compiling them in parallel processes on
    a machine that has not yet (:mod:`reelsense.sounds._warmup`).
    """
    keep_freed_memory()
    _warmup.ensure_compiled("match")
    threshold = config.threshold if threshold is None else threshold
    if not math.isfinite(threshold):
        raise ParameterError(f"threshold={threshold} must be a finite number")
    top_k = config.top_k if top_k is None else top_k
    if query.n_triplets == 0 or index.n_alive == 0:
        return [], []
    scales, shifts = _search_grid(config, params)
    grid = (scales, shifts)
    whole = index.totals if totals is None else totals
    q_frames = query.duration_seconds * params.frames_per_second
    trials = log10_trials(whole.frames, whole.sounds, q_frames, scales.size, config)
    ranking = config
    if n_ranked is not None and n_ranked > config.n_candidates:
        ranking = dataclasses.replace(config, n_candidates=n_ranked)
    first = min(config.first_triplets, query.n_triplets)
    second = max(first, min(config.second_triplets, query.n_triplets))
    strong, more, rest = query.order[:first], query.order[first:second], query.order[second:]
    ident = _identity(scales, shifts)
    identity = np.array([ident])
    others = np.delete(np.arange(scales.size), ident)
    cap = config.max_load
    first_load = min(config.first_round_max_load, cap or config.first_round_max_load)
    exhaustive = top_k > 1  # every candidate is verified; the best match alone may stop early
    # a candidate under the threshold was rejected early and carries an upper bound of its score
    exit_score = max(config.exit_score, threshold)
    stages: list[list[tuple[np.ndarray, np.ndarray, tuple[float | None, float | None]]]] = [
        [(query.order, identity, (None, cap))],
        [(strong, others, (None, first_load))],
        [(more, others, (None, cap))],
        [(rest, others, (None, cap)), (strong, others, (first_load, cap))],
    ]
    # each verified candidate with the level it was verified against and whether its score is
    # exact (a score under that level is an upper bound: the candidate was rejected on the way)
    done: dict[Candidate, tuple[SoundMatch, float, bool]] = {}

    def verify(c: Candidate, level: float | None = None) -> SoundMatch:
        """``c``'s match, exact when its score reaches ``level`` (None: ``threshold``; when the
        best match alone is wanted, a higher level lets a candidate that cannot beat a certain
        match be rejected before its chance level is counted)."""
        level = threshold if level is None else level
        if c in done:
            m, at, exact = done[c]
            if exact or at <= level:
                return m
        m, exact = _verify(query, index, c, params, config, trials, level)
        done[c] = (m, level, exact)
        return m

    def known_score(c: Candidate) -> float:
        """The score verification gave ``c`` at the threshold (0 when none did)."""
        m, at, exact = done.get(c, (None, math.inf, False))
        return m.score if m is not None and (exact or at <= threshold) else 0.0

    def certain_now(cands: list[Candidate]) -> bool:
        """Whether the best sound of a stage's ranking is certain: its best cell verifies with
        ``score >= exit_score``, or it matches (``score >= threshold``) and one of its other cells
        does (votes split between neighbouring hypotheses: the cell with the most votes need not
        be the best alignment, and the next stage would only add to both)."""
        if not cands:
            return False
        score = verify(cands[0]).score
        if score >= exit_score:
            return True
        if score < threshold:
            return False
        return any(verify(c, exit_score).score >= exit_score for c in cands[1:] if c.sound == cands[0].sound)

    def pick(cands: list[Candidate]) -> list[SoundMatch]:
        """The matches among the ranked candidates ``cands``, best first, ``score >= threshold``."""
        firsts: list[Candidate] = []
        extra: list[Candidate] = []
        # with n_ranked, only the best n_candidates sounds (their first cells lead the ranking)
        verified = None if ranking is config else {c.sound for c in cands[: config.n_candidates]}
        for c in cands:
            if verified is None or c.sound in verified:
                (extra if any(f.sound == c.sound for f in firsts) else firsts).append(c)
        best: dict[str, SoundMatch] = {}
        certain: Candidate | None = None
        for c in sorted(firsts, key=lambda c: (-known_score(c), -c.votes)):
            m = verify(c)
            best[m.sound_id] = m
            if m.score >= exit_score and not exhaustive:
                certain = c
                break
        # the other cells of the candidate sounds: when one sound is certain, its own (a looped
        # section can match at several offsets: the best alignment wins), otherwise all
        for c in extra:
            if certain is None or c.sound == certain.sound:
                # a cell that cannot beat its sound's certain match need not be verified exactly
                m = verify(c, None if certain is None else best[index.ids[c.sound]].score)
                if m.score > best[m.sound_id].score:
                    best[m.sound_id] = m
        out = [m for m in best.values() if m.score >= threshold]
        out.sort(key=lambda m: (-m.score, m.sound_id))
        return out

    votes = VoteList()  # by stage and probe, in order
    cands: list[Candidate] = []
    for n_stage, stage in enumerate(stages):
        stage = [(sel, hyps, load) for sel, hyps, load in stage if sel.size and _loads_overlap(load)]
        if not stage:
            continue
        for selected, hyps, load in stage:
            votes.append(_probe_some(query, selected, index, params, grid, hyps, load))
        if exhaustive:
            continue  # every stage runs: its votes are ranked once, after the last
        cands = rank_candidates(votes, len(index), scales, shifts, ranking)
        if certain_now(cands):
            if n_stage == 0:  # certain at the identity: is an edited alignment better still?
                cands = _confirm_identity(query, cands, index, params, config, grid, verify)
            break  # a certain match: the later stages cannot change the answer
    if exhaustive:
        cands = rank_candidates(votes, len(index), scales, shifts, ranking)
    out = pick(cands)
    if not out and cap is not None:
        # many copies of one recording (more than the cap allows) fill every bucket of its keys past
        # the cap, and no stage read them: the overfull buckets are read up to the cap, in sound
        # order (the same first copies for every key), under the identity and for the strongest
        # ``confirm_triplets`` under every other hypothesis; their votes are ranked alone (the
        # stages' found nothing, and ranking them all again costs as much as the pass)
        over = (cap, None)
        strongest = query.order[: config.confirm_triplets]
        overfull = [
            _probe_some(query, query.order, index, params, grid, identity, over, cap),
            _probe_some(query, strongest, index, params, grid, others, over, cap),
        ]
        if any(len(v.sounds) for v in overfull):
            leads = rank_candidates(overfull, len(index), scales, shifts, ranking)
            found = pick(leads)
            if found:
                out, cands = found, leads
    return out[:top_k], cands


def dense_grid(config: MatchConfig, params: FingerprintParams) -> tuple[np.ndarray, np.ndarray]:
    """The dense test's hypotheses: the families and ranges of :func:`hypothesis_grid`, spaced
    ``config.dense.scale_step`` / ``config.dense.shift_step_bins``."""
    fine = dataclasses.replace(
        config,
        scale_step=config.dense.scale_step,
        shift_step_bins=config.dense.shift_step_bins,
        composite=False,
    )
    return hypothesis_grid(fine, params)


def dense_peak_check(
    hit: DenseHit,
    sound: int,
    query: QueryPrint,
    index: SearchIndex,
    params: FingerprintParams,
    config: MatchConfig,
) -> tuple[float, float]:
    """The peak coincidences at a dense alignment: the query's peaks are aligned on sound
    ``sound`` of ``index`` near the dense test's offset and hypothesis, searching the
    verification's local grid and offsets within ``offset_bin_frames`` either side. Returns
    ``(log10 p, log10 local trials)``: the chance probability of the best count found (0 when
    there are no peaks) and the alignments that local search tried."""
    local = math.log10(
        config.align_scale_steps
        * config.align_shift_steps
        * 2
        * config.offset_bin_frames
        / config.align_step_frames
    )
    rt, rb = index.peaks(sound)
    if not rt.size or not len(query.peaks):
        return 0.0, local
    cand = Candidate(sound, hit.scale, hit.shift_bins, float(hit.offset_frames), 0)
    a = align(query.peaks, rt, rb, cand, config, params.frames_per_second)
    return false_match_log10p(a.matched, _chance_of(a, query, (rt, rb), params, config), 0.0), local


def dense_peak_score(
    hit: DenseHit,
    sound: int,
    query: QueryPrint,
    index: SearchIndex,
    params: FingerprintParams,
    config: MatchConfig,
) -> float:
    """The dense alignment's score with the peak coincidences at it (:func:`dense_peak_check`),
    combined by :func:`combined_score` (the dense score alone where there are no peaks)."""
    peak_log10p, local = dense_peak_check(hit, sound, query, index, params, config)
    return combined_score(hit, peak_log10p, local)


def dense_match(
    hit: DenseHit | None,
    ids: list[str],
    n_query_peaks: int,
    duration_seconds: float,
    params: FingerprintParams,
    threshold: float,
) -> SoundMatch | None:
    """The :class:`SoundMatch` of a dense-test alignment scoring ``threshold`` or more (None
    otherwise). It counts no hashes or peaks; the query span is the whole query."""
    if hit is None or hit.score < threshold:
        return None
    pitch = -hit.shift_bins * 12.0 / params.bins_per_octave + 0.0  # + 0.0: no -0.0 for no shift
    return SoundMatch(
        sound_id=ids[hit.sound],
        score=hit.score,
        offset_seconds=hit.offset_frames / params.frames_per_second,
        speed=hit.scale,
        tempo=hit.scale / 2.0 ** (pitch / 12.0),
        pitch_semitones=pitch,
        query_start_seconds=0.0,
        query_end_seconds=duration_seconds,
        n_matched_hashes=0,
        n_matched_peaks=0,
        n_query_peaks=n_query_peaks,
        false_match_probability=10.0 ** (-hit.score),
    )
