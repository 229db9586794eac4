"""The compiled short-time power spectrum of :func:`reelsense.sounds.fingerprint.log_spectrogram`:
windowing, a real FFT and the filterbank's band sums in one kernel call per signal.

The FFT runs on 16 frames at once, one frame per SIMD lane. A real frame of ``n_fft`` samples
is read as ``n_fft / 2`` complex samples (even samples real, odd imaginary), transformed by a
Stockham FFT (radix-4 passes, one radix-2 pass first when ``log2(n_fft / 2)`` is odd), and split
into the spectrum of the real frame. The frames sit side by side in memory
(``[complex sample][lane]``), so every butterfly is a loop over 16 contiguous float32 values that
numba compiles to the vector instructions of the machine it runs on. Twiddle factors are
computed in float64 and rounded once to float32.

Single precision, like scipy's float32 FFT, but not bit for bit the same: the powers agree with
a float64 FFT to float32 rounding relative to each frame's energy, and the spectrogram with the
numpy path (``REELSENSE_NUMBA=0``: scipy's FFT and a sparse product) to 0.005 dB in the cells
within 60 dB of their frame's loudest (``tests/sounds``). ``n_fft`` must be a power of two (8 or
more); :func:`reelsense.sounds.fingerprint.log_spectrogram` takes the numpy path for any other size.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from reelsense.errors import ParameterError
from reelsense.sounds._kernels import njit

__all__ = ["LANES", "fft_plan", "stft_band_powers", "supported"]

LANES = 16  # frames transformed together: one 512-bit vector of float32


def supported(n_fft: int) -> bool:
    """Whether the compiled FFT handles ``n_fft`` (a power of two, 8 or more)."""
    return n_fft >= 8 and n_fft & (n_fft - 1) == 0


@functools.lru_cache(maxsize=8)
def fft_plan(n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The passes and twiddle factors of a real FFT of ``n_fft`` (:func:`supported`) samples.

    Returns ``passes`` (int64 ``[n_passes, 4]``: radix, length ``n``, stride ``s`` and the first
    twiddle row of each pass, in order), ``twiddles`` (float32 ``[rows, 6]``: ``w^p, w^2p, w^3p``
    as (re, im) pairs, ``w = exp(-2 pi i / n)``, for ``p < n / radix``) and ``split_cos`` /
    ``split_sin`` (float32 ``[n_fft / 2 + 1]``: ``exp(-2 pi i k / n_fft)``, the real split's
    factors). Read-only arrays, cached per size."""
    if not supported(n_fft):
        raise ParameterError(f"n_fft={n_fft} is not a power of two >= 8")
    n_complex = n_fft // 2
    passes: list[tuple[int, int, int, int]] = []
    rows: list[np.ndarray] = []
    n, s, first = n_complex, 1, 0
    if int(math.log2(n_complex)) % 2:  # an odd power of two: one radix-2 pass, then radix 4
        passes.append((2, n, s, first))
        rows.append(_twiddle_rows(n, 2))
        first += n // 2
        n, s = n // 2, s * 2
    while n >= 4:
        passes.append((4, n, s, first))
        rows.append(_twiddle_rows(n, 4))
        first += n // 4
        n, s = n // 4, s * 4
    k = np.arange(n_complex + 1)
    angle = -2.0 * np.pi * k / n_fft
    plan = (
        np.array(passes, dtype=np.int64).reshape(-1, 4),
        np.concatenate(rows).astype(np.float32),
        np.cos(angle).astype(np.float32),
        np.sin(angle).astype(np.float32),
    )
    for array in plan:
        array.flags.writeable = False
    return plan


def _twiddle_rows(n: int, radix: int) -> np.ndarray:
    """float64 ``[n / radix, 6]``: ``w^p, w^2p, w^3p`` (re, im) with ``w = exp(-2 pi i / n)``."""
    p = np.arange(n // radix)
    angle = -2.0 * np.pi * p / n
    return np.stack([f(m * angle) for m in (1, 2, 3) for f in (np.cos, np.sin)], axis=1)


# Indices in the loops below are unsigned: numba checks every signed index for a negative value
# (Python's wrap-around), and those checks keep the compiler from vectorising the lane loops.
_U4 = np.uint64(4)


@njit(cache=True, nogil=True)
def _radix2(n: int, s: int, xr: np.ndarray, xi: np.ndarray, yr: np.ndarray, yi: np.ndarray,
            tw: np.ndarray, first: int) -> None:  # fmt: skip
    """One radix-2 Stockham pass of length ``n`` and stride ``s`` from ``x`` into ``y``."""
    lanes = np.uint64(LANES)
    m = np.uint64(s) * lanes
    half = np.uint64(n) // np.uint64(2)
    step = half * m
    for p in range(half):
        t = np.uint64(first) + p
        wr = tw[t, 0]
        wi = tw[t, 1]
        for q in range(np.uint64(s)):
            a = p * m + q * lanes
            b = a + step
            o0 = np.uint64(2) * p * m + q * lanes
            o1 = o0 + m
            for j in range(lanes):
                ar = xr[a + j]
                ai = xi[a + j]
                br = xr[b + j]
                bi = xi[b + j]
                yr[o0 + j] = ar + br
                yi[o0 + j] = ai + bi
                dr = ar - br
                di = ai - bi
                yr[o1 + j] = wr * dr - wi * di
                yi[o1 + j] = wr * di + wi * dr


@njit(cache=True, nogil=True)
def _radix4(n: int, s: int, xr: np.ndarray, xi: np.ndarray, yr: np.ndarray, yi: np.ndarray,
            tw: np.ndarray, first: int) -> None:  # fmt: skip
    """One radix-4 Stockham pass of length ``n`` and stride ``s`` from ``x`` into ``y``."""
    lanes = np.uint64(LANES)
    m = np.uint64(s) * lanes
    quarter = np.uint64(n) // _U4
    step = quarter * m
    for p in range(quarter):
        t = np.uint64(first) + p
        w1r = tw[t, 0]
        w1i = tw[t, 1]
        w2r = tw[t, 2]
        w2i = tw[t, 3]
        w3r = tw[t, 4]
        w3i = tw[t, 5]
        for q in range(np.uint64(s)):
            a = p * m + q * lanes
            b = a + step
            c = b + step
            d = c + step
            o0 = _U4 * p * m + q * lanes
            o1 = o0 + m
            o2 = o1 + m
            o3 = o2 + m
            for j in range(lanes):
                ar = xr[a + j]
                ai = xi[a + j]
                br = xr[b + j]
                bi = xi[b + j]
                cr = xr[c + j]
                ci = xi[c + j]
                dr = xr[d + j]
                di = xi[d + j]
                sum_ac_r = ar + cr
                sum_ac_i = ai + ci
                dif_ac_r = ar - cr
                dif_ac_i = ai - ci
                sum_bd_r = br + dr
                sum_bd_i = bi + di
                rot_r = di - bi  # i (b - d)
                rot_i = br - dr
                yr[o0 + j] = sum_ac_r + sum_bd_r
                yi[o0 + j] = sum_ac_i + sum_bd_i
                t1r = dif_ac_r - rot_r
                t1i = dif_ac_i - rot_i
                yr[o1 + j] = w1r * t1r - w1i * t1i
                yi[o1 + j] = w1r * t1i + w1i * t1r
                t2r = sum_ac_r - sum_bd_r
                t2i = sum_ac_i - sum_bd_i
                yr[o2 + j] = w2r * t2r - w2i * t2i
                yi[o2 + j] = w2r * t2i + w2i * t2r
                t3r = dif_ac_r + rot_r
                t3i = dif_ac_i + rot_i
                yr[o3 + j] = w3r * t3r - w3i * t3i
                yi[o3 + j] = w3r * t3i + w3i * t3r


@njit(cache=True, nogil=True)
def _load_frames(x: np.ndarray, lead: int, hop: int, first: int, n_frames: int, window: np.ndarray,
                 re: np.ndarray, im: np.ndarray) -> None:  # fmt: skip
    """Lane ``l`` of ``re``/``im`` = frame ``first + l`` times the window, even samples in ``re``
    and odd in ``im``; the frame starts at ``(first + l) * hop - lead`` in ``x``, with zeros
    outside ``x``; lanes past the last frame are zeros."""
    half = window.size // 2
    lanes = np.uint64(LANES)
    start = first * hop - lead
    if first + LANES <= n_frames and start >= 0 and start + (LANES - 1) * hop + window.size <= x.size:
        u_start = np.uint64(start)
        u_hop = np.uint64(hop)
        for m in range(np.uint64(half)):  # every frame inside x: most batches
            even = window[np.uint64(2) * m]
            odd = window[np.uint64(2) * m + np.uint64(1)]
            at = u_start + np.uint64(2) * m
            for lane in range(lanes):
                i = at + lane * u_hop
                re[m * lanes + lane] = x[i] * even
                im[m * lanes + lane] = x[i + np.uint64(1)] * odd
        return
    for lane in range(LANES):  # the first and last batches
        f = first + lane
        base = f * hop - lead
        for m in range(half):
            i = base + 2 * m
            inside = f < n_frames and 0 <= i < x.size
            re[m * LANES + lane] = x[i] * window[2 * m] if inside else np.float32(0.0)
            inside = f < n_frames and 0 <= i + 1 < x.size
            im[m * LANES + lane] = x[i + 1] * window[2 * m + 1] if inside else np.float32(0.0)


@njit(cache=True, nogil=True)
def _split_power(zr: np.ndarray, zi: np.ndarray, n_complex: int, n_rows: int, split_cos: np.ndarray,
                 split_sin: np.ndarray, power: np.ndarray) -> None:  # fmt: skip
    """``power[k * LANES + l] = |X_l[k]|^2`` for ``k < n_rows``: the spectrum of lane ``l``'s real
    frame from the FFT ``Z`` of its even/odd samples,
    ``X[k] = (Z[k] + conj Z[N-k]) / 2 - i exp(-2 pi i k / n_fft) (Z[k] - conj Z[N-k]) / 2``."""
    lanes = np.uint64(LANES)
    quarter = np.float32(0.25)  # the two halves, squared
    for k in range(n_rows):
        a = np.uint64(k % n_complex) * lanes
        b = np.uint64((n_complex - k) % n_complex) * lanes
        out = np.uint64(k) * lanes
        c = split_cos[k]
        s = split_sin[k]
        for lane in range(lanes):
            ar = zr[a + lane]
            ai = zi[a + lane]
            br = zr[b + lane]
            bi = -zi[b + lane]
            er = ar + br
            ei = ai + bi
            dr = ar - br
            di = ai - bi
            re = er + (c * di + s * dr)
            im = ei - (c * dr - s * di)
            power[out + lane] = (re * re + im * im) * quarter


@njit(cache=True, nogil=True)
def _band_sums(power: np.ndarray, col_starts: np.ndarray, col_rows: np.ndarray, col_weights: np.ndarray,
               row: np.ndarray, first: int, out: np.ndarray) -> None:  # fmt: skip
    """``out[first + l, b] = sum_j w[j, b] * power[j * LANES + l]`` for the lanes that are frames,
    summed in ascending ``j``. The 16 running sums are 16 variables, not an array: the compiler
    keeps them in one vector register (an array's sums would be stored and reloaded for every
    term, after a test that ``power`` does not overlap them). ``row``: float32 scratch ``[LANES]``."""
    lanes = np.uint64(LANES)
    n_lanes = min(LANES, out.shape[0] - first)
    for band in range(out.shape[1]):
        t0 = np.float32(0.0)
        t1 = np.float32(0.0)
        t2 = np.float32(0.0)
        t3 = np.float32(0.0)
        t4 = np.float32(0.0)
        t5 = np.float32(0.0)
        t6 = np.float32(0.0)
        t7 = np.float32(0.0)
        t8 = np.float32(0.0)
        t9 = np.float32(0.0)
        t10 = np.float32(0.0)
        t11 = np.float32(0.0)
        t12 = np.float32(0.0)
        t13 = np.float32(0.0)
        t14 = np.float32(0.0)
        t15 = np.float32(0.0)
        for q in range(np.uint64(col_starts[band]), np.uint64(col_starts[band + 1])):
            w = col_weights[q]
            r = np.uint64(col_rows[q]) * lanes
            t0 += w * power[r + np.uint64(0)]
            t1 += w * power[r + np.uint64(1)]
            t2 += w * power[r + np.uint64(2)]
            t3 += w * power[r + np.uint64(3)]
            t4 += w * power[r + np.uint64(4)]
            t5 += w * power[r + np.uint64(5)]
            t6 += w * power[r + np.uint64(6)]
            t7 += w * power[r + np.uint64(7)]
            t8 += w * power[r + np.uint64(8)]
            t9 += w * power[r + np.uint64(9)]
            t10 += w * power[r + np.uint64(10)]
            t11 += w * power[r + np.uint64(11)]
            t12 += w * power[r + np.uint64(12)]
            t13 += w * power[r + np.uint64(13)]
            t14 += w * power[r + np.uint64(14)]
            t15 += w * power[r + np.uint64(15)]
        row[0] = t0
        row[1] = t1
        row[2] = t2
        row[3] = t3
        row[4] = t4
        row[5] = t5
        row[6] = t6
        row[7] = t7
        row[8] = t8
        row[9] = t9
        row[10] = t10
        row[11] = t11
        row[12] = t12
        row[13] = t13
        row[14] = t14
        row[15] = t15
        for lane in range(n_lanes):
            out[first + lane, band] = row[lane]


@njit(cache=True, nogil=True)
def stft_band_powers(
    x: np.ndarray,
    lead: int,
    hop: int,
    window: np.ndarray,
    passes: np.ndarray,
    twiddles: np.ndarray,
    split_cos: np.ndarray,
    split_sin: np.ndarray,
    col_starts: np.ndarray,
    col_rows: np.ndarray,
    col_weights: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[f, b] = sum_j w[j, b] * |X_f[j]|^2`` (float32): ``X_f`` the real FFT of frame ``f``
    (``window.size`` samples of ``x`` from ``f * hop - lead``, zeros outside ``x``, times
    ``window``), ``w`` the filterbank in CSC form (``col_starts`` ``[n_bands + 1]``, rows
    ascending within a band, the largest row at most ``window.size / 2``), summed in ascending
    row. ``passes``, ``twiddles``, ``split_*``: :func:`fft_plan` of ``window.size``."""
    n_frames = out.shape[0]
    n_complex = window.size // 2
    size = n_complex * LANES
    re0 = np.empty(size, dtype=np.float32)  # four arrays, not rows of one: the compiler then
    im0 = np.empty(size, dtype=np.float32)  # knows a pass's input and output do not overlap
    re1 = np.empty(size, dtype=np.float32)
    im1 = np.empty(size, dtype=np.float32)
    n_rows = 0
    for q in range(col_rows.size):
        n_rows = max(n_rows, col_rows[q] + 1)
    power = np.empty(n_rows * LANES, dtype=np.float32)
    total = np.empty(LANES, dtype=np.float32)
    for first in range(0, n_frames, LANES):
        _load_frames(x, lead, hop, first, n_frames, window, re0, im0)
        in_0 = True
        if n_complex == 1024:  # n_fft 2048, the default: constant lengths and strides compile
            _radix4(1024, 1, re0, im0, re1, im1, twiddles, passes[0, 3])  # to twice as fast a transform
            _radix4(256, 4, re1, im1, re0, im0, twiddles, passes[1, 3])
            _radix4(64, 16, re0, im0, re1, im1, twiddles, passes[2, 3])
            _radix4(16, 64, re1, im1, re0, im0, twiddles, passes[3, 3])
            _radix4(4, 256, re0, im0, re1, im1, twiddles, passes[4, 3])
            in_0 = False  # five passes: the spectrum is in the second pair
        else:
            for k in range(passes.shape[0]):
                radix, n, s, row = passes[k, 0], passes[k, 1], passes[k, 2], passes[k, 3]
                if radix == 4 and in_0:
                    _radix4(n, s, re0, im0, re1, im1, twiddles, row)
                elif radix == 4:
                    _radix4(n, s, re1, im1, re0, im0, twiddles, row)
                elif in_0:
                    _radix2(n, s, re0, im0, re1, im1, twiddles, row)
                else:
                    _radix2(n, s, re1, im1, re0, im0, twiddles, row)
                in_0 = not in_0
        if in_0:
            _split_power(re0, im0, n_complex, n_rows, split_cos, split_sin, power)
        else:
            _split_power(re1, im1, n_complex, n_rows, split_cos, split_sin, power)
        _band_sums(power, col_starts, col_rows, col_weights, total, first, out)
