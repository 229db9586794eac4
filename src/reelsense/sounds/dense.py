"""Dense per-frame test: sign bits of band energies and an exhaustive search over alignments.

The peak search needs three of the music's spectral peaks to survive in a query; under reverb
plus a voice-over plus noise most of them do not. This test uses every frame instead
(Haitsma and Kalker 2002): the log-frequency spectrogram is summed into ``n_bands`` bands and
each frame carries ``n_bands - 1`` sign bits,

    bit[t, m] = sign((E[t, m] - E[t, m+1]) - (E[t-1, m] - E[t-1, m+1]))

(``E`` in dB), 32 bits per frame for 33 bands: 4 bytes per frame, about 172 bytes per second of
reference. A reference stores its bits packed in one ``uint32`` per frame.

Search (:func:`dense_search`): the query's spectrogram is mapped into the reference's time and
frequency axes under each (time scale, frequency shift) hypothesis of a fine grid, its bits are
taken there, and the +-1 bit agreement with every reference at every offset is computed by FFT
correlation over overlapping blocks of the references laid end to end. Each hypothesis' correlations are
standardised by their mean and standard deviation over all offsets of all references (the
null: nearly every offset is a non-match); the best ``z`` over sounds, hypotheses and offsets
is the candidate. Its score is a false-match probability over the whole search like the peak
test's: ``-log10(P(N(0,1) >= z)) - log10(offsets x hypotheses) - 3`` (a margin for the null's
tail; see :data:`TRIALS_MARGIN_LOG10`).

Cost is linear in the total reference length (an FFT correlation per hypothesis); the
matcher runs it only as a second chance, when the peak search returns nothing or a weak match
(:meth:`reelsense.sounds.SoundIndex.match`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import special

from reelsense._checks import check_int, check_positive
from reelsense.errors import ParameterError

__all__ = [
    "BITS_ARRAY",
    "DenseConfig",
    "DenseHit",
    "DenseReferences",
    "combined_score",
    "dense_search",
    "dense_search_each",
    "fft_length",
    "frame_bits",
    "unpack_bits",
]

#: name of the stored per-frame bits array of a reference (``uint32 [n_frames]``).
BITS_ARRAY = "frame_bits"
N_BITS = 32


@dataclass(frozen=True)
class DenseConfig:
    """Parameters of the dense test.

    ``scale_step`` and ``shift_step_bins``: spacing of the hypothesis grid (the families and
    ranges are the peak matcher's); ``block_frames``: the longest FFT length of the blocks the
    references are correlated in (queries longer than half of it, in reference frames, are cut
    to that, so blocks overlap by at most half; each search picks the length with the least
    work for its query, :func:`fft_length`);
    ``min_query_frames``: shorter queries are not searched; ``batch_blocks``: reference blocks
    correlated at once (their spectra take about ``batch_blocks * n * 256`` bytes at FFT length
    ``n``, in two layouts; the query's spectra for one product about ``16 * 32 * n * 16``).
    """

    scale_step: float = 0.015
    shift_step_bins: float = 0.6
    block_frames: int = 16384
    min_query_frames: int = 40
    batch_blocks: int = 64

    def __post_init__(self) -> None:
        for name in ("scale_step", "shift_step_bins"):  # finite and > 0 (NaN passed a "<= 0" test)
            object.__setattr__(self, name, check_positive(getattr(self, name), name))
        for name, minimum in (("block_frames", 256), ("min_query_frames", 2), ("batch_blocks", 1)):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=minimum))
        if self.block_frames % 2:
            raise ParameterError(f"block_frames={self.block_frames} must be an even number >= 256")


@dataclass(frozen=True)
class DenseHit:
    """The best alignment of the dense search.

    ``sound``: index of the reference; ``offset_frames``: reference frame where the query starts;
    ``scale``/``shift_bins``: the hypothesis (as :class:`reelsense.sounds.match.MatchConfig`
    defines them); ``z``: the standardised bit agreement; ``log10_trials``: log10 of offsets x
    hypotheses searched; ``score``: ``-log10`` of the estimated false-match probability.
    """

    sound: int
    offset_frames: int
    scale: float
    shift_bins: float
    z: float
    log10_trials: float
    score: float


def _band_edges(n_bins: int, n_bands: int) -> np.ndarray:
    return np.round(np.linspace(0, n_bins, n_bands + 1)).astype(np.int64)


def _band_db(spectrogram_db: np.ndarray, n_bands: int) -> np.ndarray:
    """Mean power per band in dB, float32 ``[n_frames, n_bands]``."""
    bin_major = np.ascontiguousarray(np.asarray(spectrogram_db, dtype=np.float32).T)
    return np.ascontiguousarray(_band_db_bin_major(bin_major, n_bands).T)


def _band_db_bin_major(spectrogram_db: np.ndarray, n_bands: int) -> np.ndarray:
    """:func:`_band_db` of a bin-major spectrogram (``[n_bins, n_frames]`` float32), bin-major:
    ``[n_bands, n_frames]``. Every step runs over whole rows of frames."""
    m = spectrogram_db
    edges = _band_edges(m.shape[0], n_bands)
    power = np.power(np.float32(10.0), m / np.float32(10.0))
    cs = np.zeros((m.shape[0] + 1, m.shape[1]), dtype=np.float32)
    np.cumsum(power, axis=0, out=cs[1:])
    e = (cs[edges[1:]] - cs[edges[:-1]]) / np.diff(edges).astype(np.float32)[:, None]
    out: np.ndarray = np.float32(10.0) * np.log10(np.maximum(e, np.float32(1e-10)))
    return out


def _signs(band_db: np.ndarray) -> np.ndarray:
    """+-1 float32 ``[n_frames, n_bands - 1]`` (0 in the first frame and where the value is 0)."""
    f = band_db[:, :-1] - band_db[:, 1:]
    d = np.zeros_like(f)
    d[1:] = f[1:] - f[:-1]
    out: np.ndarray = np.sign(d).astype(np.float32)
    return out


def frame_bits(spectrogram_db: np.ndarray) -> np.ndarray:
    """Packed sign bits of a log-frequency spectrogram (dB, ``[n_frames, n_bins]``):
    ``uint32 [n_frames]``, bit ``m`` set where the band-difference of band ``m`` rose."""
    s = np.asarray(spectrogram_db)
    if s.ndim != 2 or s.shape[1] < N_BITS + 1:
        raise ParameterError(f"spectrogram must be [n_frames, >= {N_BITS + 1} bins], got shape {s.shape}")
    signs = _signs(_band_db(s, N_BITS + 1)) > 0
    weights = (np.uint64(1) << np.arange(N_BITS, dtype=np.uint64)).astype(np.uint64)
    out: np.ndarray = (signs.astype(np.uint64) @ weights).astype(np.uint32)
    return out


def unpack_bits(words: np.ndarray) -> np.ndarray:
    """+-1 float32 ``[n_frames, 32]`` from packed bits (the first frame, which has no
    predecessor, is all 0)."""
    w = np.asarray(words, dtype=np.uint32)
    b = ((w[:, None] >> np.arange(N_BITS, dtype=np.uint32)) & np.uint32(1)).astype(np.float32)
    out: np.ndarray = 2.0 * b - 1.0
    if out.shape[0]:
        out[0] = 0.0
    return out


def _time_mapped(spectrogram_db: np.ndarray, scale: float) -> np.ndarray:
    """The query's frames resampled by ``scale`` (reference frames per query frame; linear
    interpolation), bin-major: float32 ``[n_bins, k]``."""
    q = np.ascontiguousarray(np.asarray(spectrogram_db, dtype=np.float32).T)
    n = q.shape[1]
    k = int(np.floor((n - 1) * scale)) + 1
    j = np.arange(k, dtype=np.float64) / scale
    j0 = np.minimum(np.floor(j).astype(np.int64), n - 1)
    j1 = np.minimum(j0 + 1, n - 1)
    fj = (j - j0).astype(np.float32)
    out: np.ndarray = q[:, j0] * (1 - fj) + q[:, j1] * fj
    return out


def _shifted_signs(time_mapped: np.ndarray, shift_bins: float) -> np.ndarray:
    """Sign bits ``[k, 32]`` of bin-major time-mapped frames (:func:`_time_mapped`) with their
    bins moved by ``shift_bins`` (linear interpolation); bits of bands that fall outside the
    bins are 0."""
    qt = time_mapped
    n_bins = qt.shape[0]
    b = np.arange(n_bins, dtype=np.float64) - shift_bins
    valid = (b >= 0) & (b <= n_bins - 1)
    bc = np.clip(b, 0, n_bins - 1)
    b0 = np.floor(bc).astype(np.int64)
    b1 = np.minimum(b0 + 1, n_bins - 1)
    fb = (bc - b0).astype(np.float32)[:, None]
    m = qt[b0] * (1 - fb) + qt[b1] * fb if fb.any() else qt[b0]
    edges = _band_edges(n_bins, N_BITS + 1)
    signs = _signs(np.ascontiguousarray(_band_db_bin_major(m, N_BITS + 1).T))
    band_ok = np.array([bool(valid[edges[i] : edges[i + 1]].all()) for i in range(N_BITS + 1)])
    signs[:, ~(band_ok[:-1] & band_ok[1:])] = 0.0
    return signs


class DenseReferences:
    """The references' packed bits laid end to end, cut into overlapping blocks for FFT correlation.

    For a query of ``k`` frames, block ``i`` starts at frame ``i * hop`` of the concatenation with
    ``hop = block_frames - k`` and holds ``block_frames`` frames (zero-padded past the end), so the
    query lies whole in the block of each offset. An offset counts when it lies in a reference
    with at least half of the query inside that reference. Block spectra are computed per search,
    in batches of ``batch_blocks``; nothing but the packed bits is kept.
    """

    def __init__(self, words: list[np.ndarray], config: DenseConfig) -> None:
        parts = [np.asarray(w, dtype=np.uint32) for w in words]
        self.config = config
        sizes = np.array([w.size for w in parts], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.ends = self.starts + sizes
        self.words = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)
        self.owner = np.repeat(np.arange(len(parts)), sizes)
        self._n = len(parts)
        # the first frame of each reference has no predecessor: its bits carry nothing
        self._first = np.zeros(self.words.size, dtype=bool)
        self._first[self.starts[sizes > 0]] = True

    def __len__(self) -> int:
        return self._n

    def subset(self, which: list[int]) -> DenseReferences:
        """The references numbered ``which`` (in that order), laid end to end anew."""
        return DenseReferences([self.words[self.starts[i] : self.ends[i]] for i in which], self.config)

    @property
    def total_frames(self) -> int:
        return int(self.words.size)

    def spectra(self, starts: np.ndarray, n: int) -> np.ndarray:
        """Spectra of the ``n``-frame blocks at ``starts``: complex64 ``[len(starts), 32, n // 2 + 1]``."""
        out = np.zeros((len(starts), N_BITS, n // 2 + 1), dtype=np.complex64)
        for i, start in enumerate(starts):
            b = 2.0 * ((self.words[start : start + n, None] >> np.arange(N_BITS, dtype=np.uint32)) & 1) - 1.0
            b[self._first[start : start + n]] = 0.0
            out[i] = scipy.fft.rfft(b.astype(np.float32).T, n=n, axis=1)
        return out


def fft_length(k_query: int, total_frames: int, n_hypotheses: int, longest: int) -> int:
    """The block (FFT) length of a search: of the powers of two from ``2 * k_query`` up to
    ``longest``, and ``longest``, the one with the least work. Longer blocks waste less on the
    overlap (each block advances ``n - k_query`` offsets) but cost more per query spectrum;
    the model counts real
    operations: the query's spectra (``h x 32`` FFTs), the blocks' spectra (``32`` per block),
    the complex products (``f x h x 32`` per block) and the inverse FFTs (``h`` per block)."""
    best_n, best_cost = longest, math.inf
    for n in sorted({2**e for e in range(8, 31) if 2**e <= longest} | {longest}):
        if n >= 2 * k_query or n == longest:
            blocks = -(-total_frames // max(1, n - k_query))
            fft = 2.5 * n * math.log2(n)
            cost = (
                n_hypotheses * N_BITS * fft
                + blocks * N_BITS * fft
                + blocks * (n // 2 + 1) * n_hypotheses * N_BITS * 8
                + blocks * n_hypotheses * fft
            )
            if cost < best_cost:
                best_n, best_cost = n, cost
    return best_n


#: hypotheses whose query spectra are held and correlated at once (see :func:`dense_search`).
_HYPOTHESES_PER_PRODUCT = 16


def dense_log10p(z: float, log10_trials: float) -> float:
    """``log10`` of the estimated probability of a standardised agreement ``z`` or more anywhere
    in the search (one-sided normal tail times the trials), capped at 0."""
    tail = float(special.log_ndtr(-z)) / math.log(10.0)
    return min(0.0, tail + log10_trials)


#: log10 of a safety margin on the trials (1000x). The standardised agreement of the best of
#: ~3e7 alignments of music that is not in the index mostly sits where a normal null puts it
#: (z 5.2-5.9 for 27 of the hard set's 34 negatives against the dev library), but similar passages
#: of other music reach z 6.0-6.8: the peak score's margin of 10x would let the highest score 3;
#: 1000x keeps them at 1 or less. A true match then needs z >= 7.2 or so at the dev library's size.
TRIALS_MARGIN_LOG10 = 3.0


def combined_score(hit: DenseHit, peak_log10p: float, log10_trials_local: float) -> float:
    """Score of a dense alignment together with the peak coincidences at it.

    ``peak_log10p``: ``log10`` of the chance probability of the peak coincidences found in the
    local search around the alignment (``log10_trials_local`` alignments); the dense test's
    ``P(N(0,1) >= z)`` is the other. Their product ``x`` is combined by Fisher's rule for two
    independent tests, ``P(p1 p2 <= x) = x (1 - ln x)``, then taken over the whole search (the
    dense test's trials and margin, and the local ones). The score is the larger of that and the
    dense test's own.
    """
    ln_x = float(special.log_ndtr(-hit.z)) + peak_log10p * math.log(10.0)
    log10_fisher = (ln_x + math.log1p(-ln_x)) / math.log(10.0)
    combined = -min(0.0, log10_fisher + hit.log10_trials + log10_trials_local)
    return round(max(combined, hit.score), 3)


def dense_search(
    query_spectrogram_db: np.ndarray,
    refs: DenseReferences,
    scales: np.ndarray,
    shifts: np.ndarray,
    *,
    trials_frames: int | None = None,
) -> DenseHit | None:
    """Best alignment of a query (log-frequency spectrogram, dB ``[n_frames, n_bins]``) over every
    reference, hypothesis (``scales``, ``shifts``: float ``[h]``) and offset; None when the query
    is shorter than ``min_query_frames`` or no reference is long enough.

    ``trials_frames``: the reference frames the score's trial count is taken over (default: those
    of ``refs``). A search of some of an index's sounds passes the whole index's total, so that
    its scores mean what a search of every sound would mean (the offsets counted are scaled by
    ``trials_frames / refs.total_frames``)."""
    found = _search(query_spectrogram_db, refs, scales, shifts, trials_frames, each=False)
    return found[0] if found else None


def dense_search_each(
    query_spectrogram_db: np.ndarray,
    refs: DenseReferences,
    scales: np.ndarray,
    shifts: np.ndarray,
    *,
    trials_frames: int | None = None,
) -> list[DenseHit]:
    """:func:`dense_search`'s best alignment on each reference (one hit per reference that has an
    offset searched, in reference order). Every hit is standardised by the same null (each
    hypothesis' correlations over all offsets of all references) and scored over the whole
    search, so each means what :func:`dense_search`'s best does."""
    return _search(query_spectrogram_db, refs, scales, shifts, trials_frames, each=True)


def _search(
    query_spectrogram_db: np.ndarray,
    refs: DenseReferences,
    scales: np.ndarray,
    shifts: np.ndarray,
    trials_frames: int | None,
    *,
    each: bool,
) -> list[DenseHit]:
    """The search of :func:`dense_search` (``each`` False: the best hit alone) and
    :func:`dense_search_each` (``each`` True: the best hit of each reference)."""
    cfg = refs.config
    q = np.asarray(query_spectrogram_db, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] < N_BITS + 1:
        raise ParameterError(f"query spectrogram must be [n_frames, >= {N_BITS + 1} bins], got {q.shape}")
    if q.shape[0] < cfg.min_query_frames or not refs.total_frames:
        return []
    longest = cfg.block_frames // 2  # queries are cut to half the longest block (reference frames)
    n_h = len(scales)
    sums = np.zeros(n_h)
    sumsq = np.zeros(n_h)
    counts = np.zeros(n_h)
    best_val = np.full(n_h, -np.inf)
    best_at: list[tuple[int, int]] = [(-1, -1)] * n_h
    mapped: list[np.ndarray | None] = [None] * n_h
    scale_of = np.asarray(scales, dtype=np.float64)
    for s in np.unique(scale_of):  # one time mapping per scale, shared by its shifts
        # a frame's bits need it and the frame before: cutting first changes none of the kept bits
        qt = _time_mapped(q, float(s))[:, :longest]
        for at_scale in np.flatnonzero(scale_of == s).tolist():
            sg = _shifted_signs(qt, float(shifts[at_scale]))
            mapped[at_scale] = sg.astype(np.int8) if sg.shape[0] >= cfg.min_query_frames else None
    if not any(m is not None for m in mapped):
        return []
    total = refs.total_frames
    k_query = max(m.shape[0] for m in mapped if m is not None)
    n = fft_length(k_query, total, sum(m is not None for m in mapped), cfg.block_frames)
    hop = n - k_query
    starts = np.arange(0, total, hop, dtype=np.int64)
    pos = starts[:, None] + np.arange(hop)[None, :]  # the offset of each correlation value
    inside = pos < total
    owner = refs.owner[np.minimum(pos, total - 1)]  # the reference of each offset
    end = np.where(inside, refs.ends[owner], -1)
    # with each: the best value and its flat position (block x hop) per hypothesis and reference
    ref_val = np.full((n_h, len(refs)) if each else (0, 0), -np.inf)
    ref_at = np.zeros(ref_val.shape, dtype=np.int64)
    # the query's spectra are taken for a few hypotheses at a time (memory: about
    # _HYPOTHESES_PER_PRODUCT x 32 x n x 4 bytes at FFT length n), and each block batch is correlated
    # with them in one batched complex matrix product over frequency: [f, h, 32] @ [f, 32, b]
    live_h = [h for h, m in enumerate(mapped) if m is not None]
    for lo in range(0, len(starts), cfg.batch_blocks):
        hi = min(lo + cfg.batch_blocks, len(starts))
        ok_by_half: dict[int, np.ndarray] = {}  # hypotheses with queries of one length share it
        spec_t = np.ascontiguousarray(refs.spectra(starts[lo:hi], n).transpose(2, 1, 0))  # [f, 32, b]
        for c0 in range(0, len(live_h), _HYPOTHESES_PER_PRODUCT):
            chunk = live_h[c0 : c0 + _HYPOTHESES_PER_PRODUCT]
            # offsets whose query lies at least half inside the reference, per hypothesis
            oks = []
            for h in chunk:
                half = mapped[h].shape[0] // 2  # type: ignore[union-attr]
                if half not in ok_by_half:
                    ok_by_half[half] = (pos[lo:hi] + half) <= end[lo:hi]
                oks.append(ok_by_half[half])
            todo = [j for j, ok in enumerate(oks) if ok.any()]
            if not todo:
                continue
            k_max = max(mapped[chunk[j]].shape[0] for j in todo)  # type: ignore[union-attr]
            sg = np.zeros((len(todo), N_BITS, k_max), dtype=np.float32)
            for i, j in enumerate(todo):
                m = mapped[chunk[j]]
                assert m is not None
                sg[i, :, : m.shape[0]] = m.T
            qf = scipy.fft.rfft(sg, n=n, axis=2)  # [h, 32, f]
            qf_t = np.ascontiguousarray(np.conj(qf, out=qf).transpose(2, 0, 1))  # [f, h, 32]
            prod = np.ascontiguousarray(np.matmul(qf_t, spec_t).transpose(1, 2, 0))  # [h, b, f]
            corr = scipy.fft.irfft(prod, n=n, axis=2)[:, :, :hop]  # [h, b, hop]
            for i, j in enumerate(todo):
                h, ok = chunk[j], oks[j]
                c = corr[i]
                v = c[ok]
                sums[h] += float(v.sum(dtype=np.float64))
                sumsq[h] += float(np.square(v, dtype=np.float64).sum())
                counts[h] += v.size
                c = np.where(ok, c, -np.inf)
                at = int(np.argmax(c))
                if c.flat[at] > best_val[h]:
                    bi, o = divmod(at, hop)
                    best_val[h] = float(c.flat[at])
                    best_at[h] = (lo + bi, o)
                if each:
                    _best_per_reference(c.ravel(), owner[lo:hi].ravel(), lo * hop, ref_val[h], ref_at[h])
    live = counts > 1
    if not live.any():
        return []
    mean = np.where(live, sums / np.maximum(counts, 1), 0.0)
    var = np.where(live, sumsq / np.maximum(counts, 1) - mean**2, 0.0)
    sd = np.sqrt(np.maximum(var, 0.0))
    ok_sd = live & (sd > 0)
    widen = max(1.0, (trials_frames or total) / total)
    trials = math.log10(float(counts[live].mean()) * int(live.sum()) * widen) + TRIALS_MARGIN_LOG10

    def hit(h: int, z: float, offset: int) -> DenseHit:
        r = int(refs.owner[offset])
        return DenseHit(
            sound=r,
            offset_frames=offset - int(refs.starts[r]),
            scale=float(scales[h]),
            shift_bins=float(shifts[h]),
            z=z,
            log10_trials=trials,
            score=round(-dense_log10p(z, trials), 3),
        )

    if each:
        zr = np.where(ok_sd[:, None], (ref_val - mean[:, None]) / np.where(sd > 0, sd, 1.0)[:, None], -np.inf)
        out = []
        for r in range(len(refs)):
            h = int(np.argmax(zr[:, r]))
            if np.isfinite(zr[h, r]):
                bi, o = divmod(int(ref_at[h, r]), hop)
                out.append(hit(h, float(zr[h, r]), int(starts[bi] + o)))
        return out
    z = np.where(ok_sd, (best_val - mean) / np.where(sd > 0, sd, 1.0), -np.inf)
    h = int(np.argmax(z))
    if not np.isfinite(z[h]):
        return []
    block, o = best_at[h]
    return [hit(h, float(z[h]), int(starts[block] + o))]


def _best_per_reference(
    values: np.ndarray, owner: np.ndarray, base: int, best: np.ndarray, best_at: np.ndarray
) -> None:
    """Update ``best[r]`` / ``best_at[r]`` (flat position ``base + i``) with the largest of
    ``values`` (``-inf`` where no offset counts) over each reference's run of positions; ``owner``
    (the reference of each position) never decreases along ``values``."""
    cuts = np.flatnonzero(owner[1:] != owner[:-1]) + 1
    first = np.concatenate([[0], cuts])
    top = np.maximum.reduceat(values, first)
    which = owner[first]
    better = top > best[which]
    if not better.any():
        return
    size = np.diff(np.concatenate([first, [values.size]]))
    at_top = values == np.repeat(top, size)
    # the first position of each run where its maximum is reached
    pos = np.where(at_top, np.arange(values.size), values.size)
    arg = np.minimum.reduceat(pos, first)
    best[which[better]] = top[better]
    best_at[which[better]] = base + arg[better]
