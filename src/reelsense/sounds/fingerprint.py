"""Audio fingerprints: log-frequency spectral peaks and peak-pair hashes.

DESIGN (measured on the real-audio dev set, see ``scripts/bench/eval_sounds.py``)
--------------------------------------------------------------------------
Trending sounds are re-used "sped up" (resampled: time AND pitch scale together),
time-stretched (tempo only), pitch-shifted (pitch only), and buried under a louder
voice-over or noise. The design makes every one of these edits a *shift* or a
*scale* of simple quantities so that the matcher can search them explicitly:

* **Log-frequency spectrogram** (``bins_per_octave`` = 36, 150 Hz - 5 kHz at
  11025 Hz): a pitch shift of ``p`` semitones, or a resampling by ``speed``, moves
  every spectral peak by the same number of bins (``3 p`` or ``36 log2(speed)``).
  The log bins are read off an ``n_fft`` = 2048 STFT by triangular weights whose
  width is the wider of one log bin and one FFT bin, so the low bins interpolate
  instead of leaving holes.
* **Spectral whitening before peak picking**: the log-power spectrogram minus its
  local mean over ~1 s and ~half an octave. Stationary noise, EQ and gain drop
  out, and a voice-over's harmonics compete with the music on prominence, not
  loudness.
* **Peaks**: local maxima over +-``peak_radius_frames`` x +-``peak_radius_bins``,
  then the most prominent ``peaks_per_second`` per one-second block (density
  control, so that loud passages do not starve quiet ones). Frequencies are
  refined by parabolic interpolation (sub-bin), which keeps pitch and speed
  estimates precise.
* **Peak triplets** hashed as (anchor band, two frequency differences, two time
  differences): an anchor and two of its ``ref_fan_out`` nearest later peaks inside the
  target zone. In log frequency the frequency differences are *invariant* to pitch shift
  and resampling; the anchor band moves by the frequency shift and the time differences
  scale by the time-scale factor, so the matcher applies each (time-scale,
  frequency-shift) hypothesis to the *query's* triplets and looks up exact keys: the
  reference side is stored once. Peak *pairs* (Wang 2003) were the first design; their
  ~18-bit keys return ~680 postings per lookup in a 500-hour index (10,000 sounds of
  3 min), so a 10 s query under ~80 hypotheses pulled hundreds of millions of postings.
  A triplet key carries ~11 more bits: the same query pulls ~1 M postings at that size
  (``scripts/bench/bench_sounds.py``), at the price of needing three surviving peaks instead
  of two (the query's denser peaks and larger fan-out make up for it on the dev set).

The numbers that decided the parameters are in the module docstring of
:mod:`reelsense.sounds.match` and in the README section ``sounds``.

All functions are pure: they take arrays and a sample rate, never paths.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import soxr

from reelsense._checks import check_finite, check_int, check_positive, check_sample_rate
from reelsense._windows import window_extreme
from reelsense.audio._signal import check_mono
from reelsense.errors import ParameterError
from reelsense.sounds import _kernels, _stft, _warmup

if TYPE_CHECKING:
    from scipy import sparse

__all__ = [
    "Fingerprint",
    "FingerprintParams",
    "Peaks",
    "fingerprint",
    "log_spectrogram",
    "peak_pairs",
    "peak_triplets",
    "peaks_of",
    "pick_peaks",
    "reference_keys",
    "reference_triplet_keys",
    "triplet_keys",
]

#: time differences in a key are whole frames in ``[0, KEY_FRAMES)``.
KEY_FRAMES = 64
# STFT frames transformed per call: 32 frames of 2048 samples and their spectra (256 KiB each)
# stay in a core's L2 cache together; 128 frames (1 MiB each) did not and were slower
_STFT_CHUNK_FRAMES = 32


#: the integer fields of :class:`FingerprintParams` (frames, bins, counts)
_COUNTS = (
    "n_fft",
    "hop_length",
    "bins_per_octave",
    "whiten_frames",
    "whiten_bins",
    "peak_radius_frames",
    "peak_radius_bins",
    "ref_fan_out",
    "query_fan_out",
    "pair_min_frames",
    "pair_max_frames",
    "pair_max_bins",
)


@dataclass(frozen=True)
class FingerprintParams:
    """Every constant of the fingerprint; stored with an index (changing one needs a new index).

    Times are in STFT frames (``hop_length / sample_rate`` seconds), frequencies in
    log-frequency bins (``1 / bins_per_octave`` octave).
    """

    sample_rate: int = 11025
    n_fft: int = 2048
    hop_length: int = 256
    fmin_hz: float = 150.0
    fmax_hz: float = 5000.0
    bins_per_octave: int = 36
    whiten_frames: int = 43
    whiten_bins: int = 19
    peak_radius_frames: int = 5
    peak_radius_bins: int = 4
    min_prominence_db: float = 3.0
    ref_peaks_per_second: float = 30.0
    query_peaks_per_second: float = 48.0
    ref_fan_out: int = 4
    query_fan_out: int = 6
    pair_min_frames: int = 2
    pair_max_frames: int = 40
    pair_max_bins: int = 30
    hash_band_bins: float = 2.0

    def __post_init__(self) -> None:
        rate = check_sample_rate(self.sample_rate, "FingerprintParams.sample_rate")
        object.__setattr__(self, "sample_rate", rate)
        for name in _COUNTS:  # a zero, a fraction or a NaN here gave no peaks or a raw error later
            check_int(
                getattr(self, name),
                f"FingerprintParams.{name}",
                minimum=0 if name == "pair_min_frames" else 1,
            )
        for name in (
            "fmin_hz",
            "fmax_hz",
            "ref_peaks_per_second",
            "query_peaks_per_second",
            "hash_band_bins",
        ):
            check_positive(getattr(self, name), f"FingerprintParams.{name}")
        if check_finite(self.min_prominence_db, "FingerprintParams.min_prominence_db") < 0.0:
            raise ParameterError(f"FingerprintParams.min_prominence_db={self.min_prominence_db} must be >= 0")
        if not 0 < self.fmin_hz < self.fmax_hz <= self.sample_rate / 2:
            raise ParameterError(
                f"fingerprint band fmin_hz={self.fmin_hz}, fmax_hz={self.fmax_hz} must satisfy "
                f"0 < fmin < fmax <= sample_rate/2 = {self.sample_rate / 2}"
            )
        if self.hop_length <= 0 or self.n_fft < self.hop_length:
            raise ParameterError(f"need 0 < hop_length <= n_fft, got {self.hop_length}, {self.n_fft}")
        if not self.pair_min_frames < self.pair_max_frames < 64:
            raise ParameterError(
                f"need pair_min_frames < pair_max_frames < 64, got {self.pair_min_frames}, "
                f"{self.pair_max_frames}"
            )
        if not 0 < self.pair_max_bins < 64:
            raise ParameterError(f"pair_max_bins={self.pair_max_bins} must be in (0, 64)")
        if self.ref_fan_out < 2 or self.query_fan_out < 2:
            raise ParameterError(
                f"ref_fan_out={self.ref_fan_out}, query_fan_out={self.query_fan_out} must be >= 2 (triplets)"
            )
        if self.n_keys >= 1 << 32:
            raise ParameterError(
                f"{self.n_keys} triplet keys do not fit in 32 bits: raise hash_band_bins or narrow the band"
            )

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def n_bins(self) -> int:
        return int(np.floor(self.bins_per_octave * np.log2(self.fmax_hz / self.fmin_hz))) + 1

    @property
    def n_bands(self) -> int:
        return int(np.ceil(self.n_bins / self.hash_band_bins))

    @property
    def n_keys(self) -> int:
        """Size of the triplet key space (keys are in ``[0, n_keys)``)."""
        return self.n_bands * (2 * self.pair_max_bins + 1) ** 2 * KEY_FRAMES**2

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, repr=False)
class Peaks:
    """Spectral peaks, sorted by time.

    ``times``: float32 ``[n]`` frame positions; ``bins``: float32 ``[n]`` log-frequency
    bins (sub-bin precision); ``strength``: float32 ``[n]`` prominence in dB.
    """

    times: np.ndarray
    bins: np.ndarray
    strength: np.ndarray

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def __repr__(self) -> str:
        return f"Peaks(n={len(self)})"


@dataclass(frozen=True, repr=False)
class Fingerprint:
    """A reference fingerprint: peaks plus peak-triplet hashes.

    ``keys``: uint32 ``[m]`` hash keys; ``key_times``: int32 ``[m]`` anchor frame of each key.
    """

    peaks: Peaks
    keys: np.ndarray
    key_times: np.ndarray
    duration_seconds: float

    def __repr__(self) -> str:
        return (
            f"Fingerprint(peaks={len(self.peaks)}, keys={self.keys.shape[0]}, {self.duration_seconds:.1f} s)"
        )


@lru_cache(maxsize=8)
def _filterbank_columns(params: FingerprintParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weights from linear FFT bins to log-frequency bins, by log bin: ``(starts int64
    [n_bins + 1], FFT bins int64 ascending within each log bin, float32 weights)``; log bin ``b``
    reads FFT bins ``rows[starts[b]:starts[b+1]]`` (triangles of one log bin, or one FFT bin
    where FFT bins are wider, normalised to sum 1; read-only arrays)."""
    n_lin = params.n_fft // 2 + 1
    lin_hz = np.arange(n_lin) * params.sample_rate / params.n_fft
    bpo = params.bins_per_octave
    with np.errstate(divide="ignore"):
        pos = bpo * np.log2(np.maximum(lin_hz, 1e-6) / params.fmin_hz)  # linear bin -> log position
    centers = np.arange(params.n_bins, dtype=np.float64)
    center_hz = params.fmin_hz * 2.0 ** (centers / bpo)
    # half-width: one log bin, or one FFT bin expressed in log bins where FFT bins are wider
    fft_step_log = bpo * np.log2(1.0 + (params.sample_rate / params.n_fft) / center_hz)
    half = np.maximum(1.0, fft_step_log)
    rows, vals = [], []
    for b in range(params.n_bins):  # build once per parameter set (n_bins ~ 180)
        w = 1.0 - np.abs(pos - centers[b]) / half[b]
        idx = np.nonzero(w > 0)[0]
        if idx.size == 0:
            idx = np.array([int(np.argmin(np.abs(pos - centers[b])))])
            w = np.ones(n_lin)
        rows.append(idx.astype(np.int64))
        vals.append((w[idx] / w[idx].sum()).astype(np.float32))
    starts = np.zeros(params.n_bins + 1, dtype=np.int64)
    np.cumsum([r.size for r in rows], out=starts[1:])
    out = (starts, np.concatenate(rows), np.concatenate(vals))
    for a in out:
        a.flags.writeable = False
    return out


def _resample(samples: np.ndarray, sample_rate: int, params: FingerprintParams) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ParameterError(f"samples must be 1-D mono, got shape {x.shape}")
    sample_rate = check_sample_rate(sample_rate)  # NaN hangs soxr, a tiny rate asks for huge output
    if sample_rate != params.sample_rate and x.size:
        x = soxr.resample(x, sample_rate, params.sample_rate, quality="MQ").astype(np.float32, copy=False)
    return x


@lru_cache(maxsize=8)
def _filterbank_matrix(params: FingerprintParams) -> sparse.csr_matrix:
    """:func:`_filterbank_columns` as a float32 CSR ``[n_used, n_bins]`` over the FFT bins that
    feed some log bin (the numpy path's product)."""
    from scipy import sparse  # only the numpy path: an import of a few tenths of a second

    starts, rows, weights = _filterbank_columns(params)
    used = int(rows.max()) + 1
    return sparse.csc_matrix((weights, rows, starts), shape=(used, params.n_bins)).tocsr()


@lru_cache(maxsize=8)
def _window(params: FingerprintParams) -> np.ndarray:
    """The analysis window, float32 ``[n_fft]`` (periodic Hann; read-only)."""
    window = np.hanning(params.n_fft + 1)[:-1].astype(np.float32)
    window.flags.writeable = False
    return window


def log_spectrogram(samples: np.ndarray, sample_rate: int, params: FingerprintParams) -> np.ndarray:
    """Log-power log-frequency spectrogram, float32 ``[n_frames, n_bins]`` in dB.

    Frame ``i`` is centred at sample ``i * hop_length`` (at ``params.sample_rate``). The FFT runs in
    single precision. Where numba is available and ``n_fft`` is a power of two, one compiled kernel
    windows, transforms 16 frames at once and sums the bands (:mod:`reelsense.sounds._stft`);
    otherwise :mod:`scipy.fft` transforms chunks of frames that stay in cache and a sparse product
    sums the bands. The two agree to float32 rounding.

    The first call in a process makes sure numba's cache holds the fingerprint's kernels, compiling
    them in parallel processes on a machine that has not yet (:mod:`reelsense.sounds._warmup`).
    """
    _warmup.ensure_compiled("fingerprint")
    x = _resample(samples, sample_rate, params)
    n_fft, hop = params.n_fft, params.hop_length
    pad = n_fft // 2  # frames are centred: the signal is read with pad zeros on either side
    padded = x.size + 2 * pad
    n_frames = 1 + max(0, (padded - n_fft) // hop)
    if padded < n_fft:
        return np.zeros((0, params.n_bins), dtype=np.float32)
    window = _window(params)
    col_starts, col_rows, col_weights = _filterbank_columns(params)
    out = np.empty((n_frames, params.n_bins), dtype=np.float32)
    if _kernels.AVAILABLE and _stft.supported(n_fft):
        plan = _stft.fft_plan(n_fft)
        _stft.stft_band_powers(
            np.ascontiguousarray(x), pad, hop, window, *plan, col_starts, col_rows, col_weights, out
        )
    else:
        import scipy.fft  # only this path: scipy.fft imports in about 0.15 s

        fb = _filterbank_matrix(params)
        used = fb.shape[0]  # the FFT bins that feed some log bin (the rest are not read)
        x = np.pad(x, (pad, pad))
        frames = np.lib.stride_tricks.as_strided(
            x, shape=(n_frames, n_fft), strides=(x.strides[0] * hop, x.strides[0]), writeable=False
        )
        chunk = _STFT_CHUNK_FRAMES
        for s in range(0, n_frames, chunk):  # chunks bound memory and stay in cache; vectorised inside
            spec = scipy.fft.rfft(frames[s : s + chunk] * window, axis=1)[:, :used]
            power = spec.real * spec.real
            power += spec.imag * spec.imag
            out[s : s + chunk] = power @ fb
    np.maximum(out, 1e-10, out=out)
    np.log10(out, out=out)
    out *= 10.0
    return out


def pick_peaks(spectrogram_db: np.ndarray, params: FingerprintParams, peaks_per_second: float) -> Peaks:
    """Prominent local maxima of a log-frequency spectrogram ``[n_frames, n_bins]`` (dB).

    The spectrogram is whitened (minus its local mean over ``whiten_frames`` x
    ``whiten_bins``); peaks are local maxima of the whitened map that exceed
    ``min_prominence_db``; at most ``peaks_per_second`` (the most prominent) are kept
    per one-second block. Near-silent frames (60 dB below the loudest) give no peaks.
    """
    if peaks_per_second <= 0:
        raise ParameterError(f"peaks_per_second={peaks_per_second} must be > 0")
    spec = spectrogram_db
    n_frames = spec.shape[0]
    empty = np.zeros(0, dtype=np.float32)
    if n_frames < 3:
        return Peaks(empty, empty, empty)
    top = float(spec.max())
    floor_db = top - 60.0
    finite = math.isfinite(top) and math.isfinite(float(spec.min()))
    compiled = _kernels.AVAILABLE and spec.dtype == np.float32 and finite
    size = (params.whiten_frames, params.whiten_bins)
    # the local mean: scipy's box filter, or the kernel's bit-identical one (a finite float32 map)
    if compiled:
        bg = _kernels.box_mean(spec, *size)
    else:
        from scipy import ndimage  # only this path: an import of a few tenths of a second

        bg = ndimage.uniform_filter(spec, size=size, mode="nearest")
    white = spec - bg
    if compiled:
        # the same cells in one compiled pass (a finite map: no NaN to spread), the thresholds in
        # float32 as numpy compares a float32 array with a Python float
        t, b = _kernels.local_peaks(
            white, spec, params.peak_radius_frames, params.peak_radius_bins,
            np.float32(params.min_prominence_db), np.float32(floor_db),
        )  # fmt: skip
    else:
        local_max = window_extreme(
            window_extreme(white, 2 * params.peak_radius_frames + 1, 0, largest=True),
            2 * params.peak_radius_bins + 1,
            1,
            largest=True,
        )
        mask = (white == local_max) & (white > params.min_prominence_db) & (spec > floor_db)
        mask[:, 0] = False
        mask[:, -1] = False
        t, b = np.nonzero(mask)
    if t.size == 0:
        return Peaks(empty, empty, empty)
    # density control: most prominent peaks per one-second block
    block_len = max(1, round(params.frames_per_second))
    per_block = max(1, round(peaks_per_second * block_len / params.frames_per_second))
    if compiled:  # the same selection and refinement in one pass
        return Peaks(*_kernels.refine_peaks(white, spec, t, b, block_len, per_block))
    v = white[t, b]
    block = t // block_len
    order = np.lexsort((-v, block))
    sb = block[order]
    first = np.searchsorted(sb, sb, side="left")
    rank = np.arange(sb.size) - first
    keep = np.sort(order[rank < per_block])
    t, b, v = t[keep], b[keep], v[keep]
    # parabolic interpolation of the frequency on the (unwhitened) spectrum
    a, c, m = spec[t, b - 1], spec[t, b + 1], spec[t, b]
    den = a - 2.0 * m + c
    delta = np.where(den < -1e-6, 0.5 * (a - c) / np.where(den < -1e-6, den, -1.0), 0.0)
    fb = b.astype(np.float32) + np.clip(delta, -0.5, 0.5).astype(np.float32)
    # and of the time, on the whitened map (sub-frame times sharpen the alignment)
    tp, tn = np.maximum(t - 1, 0), np.minimum(t + 1, n_frames - 1)
    a, c, m = white[tp, b], white[tn, b], white[t, b]
    den = a - 2.0 * m + c
    delta = np.where(den < -1e-6, 0.5 * (a - c) / np.where(den < -1e-6, den, -1.0), 0.0)
    ft = t.astype(np.float32) + np.clip(delta, -0.5, 0.5).astype(np.float32)
    ft = np.clip(ft, 0.0, n_frames - 1.0)  # a peak in the first or last frame stays in the signal
    order = np.argsort(ft, kind="stable")  # sub-frame times can swap neighbours of one frame
    return Peaks(ft[order], fb[order], v[order].astype(np.float32))


def _look(n_peaks: int, fan_out: int) -> int:
    """How many later peaks an anchor looks at for its targets."""
    return min(n_peaks - 1, max(4 * fan_out, 48))


def peak_pairs(peaks: Peaks, params: FingerprintParams, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor/target index pairs ``([p], [p])``: each anchor pairs with its ``fan_out``
    nearest later peaks inside the target zone (``pair_min_frames..pair_max_frames``
    later, within ``pair_max_bins``)."""
    n = len(peaks)
    if n < 2 or fan_out < 1:
        z = np.zeros(0, dtype=np.int64)
        return z, z
    look = _look(n, fan_out)
    i = np.arange(n)[:, None]
    j = i + np.arange(1, look + 1)[None, :]
    inside = j < n
    jj = np.minimum(j, n - 1)
    dt = peaks.times[jj] - peaks.times[i]
    df = peaks.bins[jj] - peaks.bins[i]
    ok = (
        inside
        & (dt >= params.pair_min_frames)
        & (dt <= params.pair_max_frames)
        & (np.abs(df) <= params.pair_max_bins)
    )
    ok &= np.cumsum(ok, axis=1) <= fan_out
    ai, ti = np.nonzero(ok)
    return ai.astype(np.int64), jj[ai, ti].astype(np.int64)


def peak_triplets(
    peaks: Peaks, params: FingerprintParams, fan_out: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anchor/target/target index triples ``([m], [m], [m])``: every two of the ``fan_out``
    targets of each anchor (see :func:`peak_pairs`), the earlier target first
    (``fan_out * (fan_out - 1) / 2`` triplets per anchor at most)."""
    n = len(peaks)
    if _kernels.AVAILABLE and n >= 2 and fan_out >= 2:  # the same triplets in one compiled pass
        return _kernels.peak_triplets(
            peaks.times, peaks.bins, float(params.pair_min_frames), float(params.pair_max_frames),
            float(params.pair_max_bins), fan_out, _look(n, fan_out),
        )  # fmt: skip
    a, t = peak_pairs(peaks, params, fan_out)  # grouped by anchor, targets in time order
    idx = np.arange(a.size)
    first, second = [], []
    for d in range(1, min(fan_out, a.size)):  # fan_out - 1 vectorised passes (fewer pairs: fewer)
        same = idx[: a.size - d][a[d:] == a[: a.size - d]]
        first.append(same)
        second.append(same + d)
    i = np.concatenate(first) if first else np.zeros(0, dtype=np.int64)
    j = np.concatenate(second) if second else np.zeros(0, dtype=np.int64)
    return a[i], t[i], t[j]


def triplet_keys(
    anchor_bins: np.ndarray,
    delta_bins: tuple[np.ndarray, np.ndarray],
    delta_frames: tuple[np.ndarray, np.ndarray],
    params: FingerprintParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Hash keys of peak triplets and a validity mask.

    ``anchor_bins``: float ``[...]`` log bin of the anchor; ``delta_bins``/``delta_frames``:
    the two targets' frequency and time differences to the anchor (float, same shape).
    Differences are rounded to whole bins/frames; the two targets are put in a canonical
    order (by rounded time difference, then frequency difference) so that a key does not
    depend on how near-simultaneous peaks were ordered. Keys whose quantised values fall
    outside the key space are invalid. Returns ``(keys uint32, valid bool)``.
    """
    band = np.floor(anchor_bins / params.hash_band_bins).astype(np.int64)
    mb = params.pair_max_bins
    f2 = np.rint(delta_bins[0]).astype(np.int64) + mb
    f3 = np.rint(delta_bins[1]).astype(np.int64) + mb
    t2 = np.rint(delta_frames[0]).astype(np.int64)
    t3 = np.rint(delta_frames[1]).astype(np.int64)
    swap = (t2 > t3) | ((t2 == t3) & (f2 > f3))
    f2, f3 = np.where(swap, f3, f2), np.where(swap, f2, f3)
    t2, t3 = np.where(swap, t3, t2), np.where(swap, t2, t3)
    n_df = 2 * mb + 1
    valid = (
        (band >= 0)
        & (band < params.n_bands)
        & (f2 >= 0)
        & (f3 >= 0)
        & (f2 < n_df)
        & (f3 < n_df)
        & (t2 >= 0)
        & (t3 < KEY_FRAMES)
    )
    keys = (((band * n_df + f2) * n_df + f3) * KEY_FRAMES + t2) * KEY_FRAMES + t3
    return np.where(valid, keys, 0).astype(np.uint32), valid


def reference_triplet_keys(peaks: Peaks, params: FingerprintParams) -> tuple[np.ndarray, np.ndarray]:
    """Triplet keys of reference peaks and the index of each key's anchor peak:
    ``(uint32 [m], int64 [m])``. Makes sure numba's cache holds the fingerprint's kernels, as
    :func:`log_spectrogram` does (an index builds its search file from stored peaks)."""
    _warmup.ensure_compiled("fingerprint")
    a, b, c = peak_triplets(peaks, params, params.ref_fan_out)
    tb, fb = peaks.times, peaks.bins
    keys, valid = triplet_keys(fb[a], (fb[b] - fb[a], fb[c] - fb[a]), (tb[b] - tb[a], tb[c] - tb[a]), params)
    return keys[valid], a[valid]


def reference_keys(peaks: Peaks, params: FingerprintParams) -> tuple[np.ndarray, np.ndarray]:
    """Triplet keys of reference peaks and the anchor frame of each: ``(uint32 [m], int32 [m])``
    (frames rounded, at least 0)."""
    keys, anchor = reference_triplet_keys(peaks, params)
    return keys, np.maximum(np.rint(peaks.times[anchor]), 0).astype(np.int32)


def peaks_of(
    samples: np.ndarray, sample_rate: int, params: FingerprintParams, peaks_per_second: float
) -> Peaks:
    """Peaks of a signal (``samples`` float ``[n]`` at ``sample_rate``)."""
    return pick_peaks(log_spectrogram(samples, sample_rate, params), params, peaks_per_second)


def fingerprint(
    samples: np.ndarray, sample_rate: int, params: FingerprintParams | None = None
) -> Fingerprint:
    """Reference fingerprint of a mono signal ``samples`` float ``[n]`` at ``sample_rate`` Hz
    (an integer in 8000..384000).

    Raises:
        ParameterError: samples not mono floating point, with NaN/inf values, or a bad rate.
    """
    if params is None:
        params = FingerprintParams()
    elif not isinstance(params, FingerprintParams):
        raise ParameterError(f"params={params!r} must be a FingerprintParams, got {type(params).__name__}")
    x = check_mono(samples, sample_rate)
    duration = float(x.shape[0]) / float(sample_rate)
    peaks = peaks_of(x, sample_rate, params, params.ref_peaks_per_second)
    keys, times = reference_keys(peaks, params)
    return Fingerprint(peaks=peaks, keys=keys, key_times=times, duration_seconds=duration)
