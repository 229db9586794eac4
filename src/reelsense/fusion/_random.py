"""Portable seeded randomness for fusion: Gaussian arrays from a hash, orthogonal maps.

Everything here is a pure function of its string key. The bytes come from SHAKE-256 (not
from numpy's generators, whose streams numpy does not promise to keep across versions),
so a projection or a sound vector is the same on every machine and every release; only
the floating-point rounding of the QR factorisation can differ (~1e-7 in float32).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from reelsense.errors import ParameterError

__all__ = ["hashed_gaussian", "orthogonal_projection", "random_fourier_features", "unit_gaussian"]

_TWO_PI = 2.0 * np.pi


def hashed_gaussian(key: str, size: int) -> np.ndarray:
    """``size`` standard-normal float64 values derived from ``key`` (Box-Muller on SHAKE-256 bytes)."""
    if size < 1:
        raise ParameterError(f"size={size} must be >= 1")
    pairs = (size + 1) // 2
    raw = hashlib.shake_256(key.encode("utf-8")).digest(16 * pairs)
    words = np.frombuffer(raw, dtype="<u8").reshape(pairs, 2)
    # 53-bit uniforms in (0, 1]: never log(0)
    uniform = ((words >> np.uint64(11)).astype(np.float64) + 1.0) / float(1 << 53)
    radius = np.sqrt(-2.0 * np.log(uniform[:, 0]))
    angle = _TWO_PI * uniform[:, 1]
    out = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).reshape(-1)
    return np.asarray(out[:size], dtype=np.float64)


def unit_gaussian(key: str, dim: int) -> np.ndarray:
    """A random direction in ``R^dim`` derived from ``key``: float32 ``[dim]``, unit norm."""
    vector = hashed_gaussian(key, dim)
    return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)


@lru_cache(maxsize=32)
def _projection(key: str, in_dim: int, out_dim: int) -> np.ndarray:
    tall, wide = max(in_dim, out_dim), min(in_dim, out_dim)
    gaussian = hashed_gaussian(f"{key}|{in_dim}x{out_dim}", tall * wide).reshape(tall, wide)
    q, r = np.linalg.qr(gaussian)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)[None, :]  # unique (Haar-distributed) factor
    matrix = q if in_dim <= out_dim else q.T  # [out_dim, in_dim]
    matrix = np.ascontiguousarray(matrix.T, dtype=np.float32)  # stored as [in_dim, out_dim]
    matrix.setflags(write=False)
    return matrix


def orthogonal_projection(key: str, in_dim: int, out_dim: int) -> np.ndarray:
    """A fixed random linear map ``R^in_dim -> R^out_dim`` as float32 ``[in_dim, out_dim]``
    (apply as ``x @ P``), derived from ``key``.

    ``in_dim <= out_dim``: an isometry (orthonormal rows of ``P``): norms and inner
    products are kept exactly. ``in_dim > out_dim``: an orthogonal projection onto a random
    ``out_dim``-dimensional subspace (orthonormal columns): inner products are kept up to
    a random error of about ``sqrt(2 / out_dim)`` (Johnson-Lindenstrauss). Read-only, cached.
    """
    if in_dim < 1 or out_dim < 1:
        raise ParameterError(f"projection dims must be >= 1, got {in_dim} -> {out_dim}")
    return _projection(key, in_dim, out_dim)


@lru_cache(maxsize=32)
def projection_float64(key: str, in_dim: int, out_dim: int) -> np.ndarray:
    """:func:`orthogonal_projection` as a read-only float64 array (for bit-stable einsum),
    cached under the same key as the float32 matrix it is made from."""
    matrix = orthogonal_projection(key, in_dim, out_dim).astype(np.float64)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=8)
def random_fourier_features(key: str, in_dim: int, out_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed random Fourier features ``R^in_dim -> R^out_dim`` derived from ``key``:
    ``(frequencies float64 [in_dim, out_dim], phases float64 [out_dim])``, standard-normal
    frequencies and phases uniform in ``(-pi, pi]`` (the angle of a hashed Gaussian pair).

    ``sqrt(2 / out_dim) * cos(x @ frequencies / s + phases)`` has, in expectation over the
    draw, the inner product ``exp(-||x - y||^2 / (2 s^2))`` with the same map of ``y``
    (Rahimi and Recht, 2007). Read-only, cached.
    """
    if in_dim < 1 or out_dim < 1:
        raise ParameterError(f"feature dims must be >= 1, got {in_dim} -> {out_dim}")
    frequencies = hashed_gaussian(f"{key}|rff|{in_dim}x{out_dim}", in_dim * out_dim).reshape(in_dim, out_dim)
    pairs = hashed_gaussian(f"{key}|rff-phase|{out_dim}", 2 * out_dim).reshape(out_dim, 2)
    phases = np.arctan2(pairs[:, 0], pairs[:, 1])
    frequencies.setflags(write=False)
    phases.setflags(write=False)
    return frequencies, phases
