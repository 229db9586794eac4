"""Running maximum / minimum over a window along one axis, exact, in a few NumPy passes.

Shared by the fingerprint's peak picking (:mod:`reelsense.sounds.fingerprint`) and the
presence features (:mod:`reelsense.audio._presence_features`). Along a non-contiguous axis
these cost a fraction of ndimage's filters, which copy every line.
"""

from __future__ import annotations

import numpy as np

__all__ = ["window_all", "window_extreme"]


def _outside(dtype: np.dtype, largest: bool) -> bool | float | int:
    """The value that never wins: the smallest of ``dtype`` for a maximum, the largest for a minimum."""
    if dtype == np.bool_:
        return not largest
    if np.issubdtype(dtype, np.floating):
        return -np.inf if largest else np.inf
    info = np.iinfo(dtype)
    return int(info.min if largest else info.max)


def window_extreme(a: np.ndarray, size: int, axis: int, largest: bool) -> np.ndarray:
    """Maximum (``largest``) or minimum over the elements ``i - size // 2 .. i + (size - 1) // 2``
    along ``axis`` that lie in the array: what ndimage's ``maximum_filter1d`` /
    ``minimum_filter1d`` give with mode ``"nearest"`` or ``"reflect"`` (their outside values
    repeat inside ones of the window). About ``log2(size) + 1`` passes, by doubling the window."""
    pick = np.maximum if largest else np.minimum
    half = size // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (half, size - 1 - half)
    m = np.pad(a, pad, constant_values=_outside(a.dtype, largest))
    length, w = m.shape[axis], 1

    def part(x: np.ndarray, start: int, n: int) -> np.ndarray:
        return x[(slice(None),) * axis + (slice(start, start + n),)]

    while 2 * w <= size:  # m[i] = extreme of x[i : i + w]
        length -= w
        m = pick(part(m, 0, length), part(m, w, length))
        w *= 2
    if w < size:
        length -= size - w
        m = pick(part(m, 0, length), part(m, size - w, length))
    return m


def window_all(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Whether the whole window of ``size`` along ``axis`` holds True, outside the array counting
    as False (ndimage's ``minimum_filter1d`` with mode ``"constant"``, ``cval=False``)."""
    out = window_extreme(a, size, axis, largest=False)
    n = a.shape[axis]
    index: list[slice] = [slice(None)] * a.ndim
    index[axis] = slice(0, min(size // 2, n))
    out[tuple(index)] = False
    index[axis] = slice(max(n - (size - 1) // 2, 0), n)
    out[tuple(index)] = False
    return out
