"""The fusion itself: per-modality normalisation, fixed projections, weights, renormalisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reelsense._checks import check_paths
from reelsense.errors import ParameterError
from reelsense.fusion._config import FUSION_VERSION, MODALITIES, FusionConfig
from reelsense.fusion._random import projection_float64, random_fourier_features, unit_gaussian

__all__ = [
    "FusedEmbeddings",
    "center_rows",
    "fuse",
    "match_confidence",
    "normalize_rows",
    "picture_features",
    "project_modality",
    "sound_identity_vector",
    "sound_identity_vectors",
]


@dataclass(frozen=True, repr=False)
class FusedEmbeddings:
    """Fused video embeddings with the mask of what went into each.

    Attributes:
        vectors: float32 ``[n, dim]``, unit norm; NaN rows where no component was present
            (never a vector posing as data).
        mask: bool ``[n, 4]``, column ``j`` = component :data:`MODALITIES` ``[j]`` was used.
    """

    vectors: np.ndarray
    mask: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """bool ``[n]``: rows that have an embedding."""
        return np.asarray(self.mask.any(axis=1))

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __repr__(self) -> str:
        return f"FusedEmbeddings(vectors=<float32 {self.vectors.shape}>, present={int(self.present.sum())})"


def normalize_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalise the rows of ``vectors`` (float ``[n, d]``).

    Returns ``(unit float32 [n, d], ok bool [n])``; rows that hold a NaN/inf or have zero
    norm are not ``ok`` and come back as NaN.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ParameterError(f"vectors must be [n, d], got shape {x.shape}")
    finite = np.asarray(np.isfinite(x).all(axis=1), dtype=bool)
    norms = np.linalg.norm(np.where(finite[:, None], x, 0.0), axis=1)
    ok = finite & (norms > 0.0)
    out = np.full(x.shape, np.nan, dtype=np.float32)
    out[ok] = (x[ok] / norms[ok, None]).astype(np.float32)
    return out, ok


def center_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row (float ``[n, d]``) minus its own mean over the ``d`` channels, float64; NaN
    rows stay NaN. A function of the row alone (no corpus statistics)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ParameterError(f"vectors must be [n, d], got shape {x.shape}")
    centred: np.ndarray = x - x.mean(axis=1, keepdims=True)
    return centred


def picture_features(vectors: np.ndarray, config: FusionConfig) -> tuple[np.ndarray, np.ndarray]:
    """The picture part of the visual component: ``[n, d] -> ([n, dim] unit, present [n])``.

    Random Fourier features of the unit (centred, with ``config.center_visual``) visual
    vector ``u``: ``cos(u @ W / sqrt(s) + b)`` with fixed hash-drawn ``W`` and ``b``,
    normalised. The inner product of two rows is about ``exp(-(1 - cos(u, u')) / s)``
    (``s = config.picture_bandwidth``) up to a random error of about ``1/sqrt(2 dim)``.
    Missing rows stay missing.
    """
    x = center_rows(vectors) if config.center_visual else np.asarray(vectors, dtype=np.float64)
    unit, ok = normalize_rows(x)
    frequencies, phases = random_fourier_features(
        f"reelsense-fusion/v{FUSION_VERSION}/seed{config.seed}/picture", unit.shape[1], config.dim
    )
    out = np.full((unit.shape[0], config.dim), np.nan, dtype=np.float32)
    if ok.any():
        # the variance of the frequencies sets the kernel: ||u - u'||^2 / (2 s) = (1 - cos) / s
        arguments = np.einsum("ij,jk->ik", unit[ok].astype(np.float64), frequencies, optimize=False)
        features = np.cos(arguments / np.sqrt(config.picture_bandwidth) + phases[None, :])
        unit_features, _ = normalize_rows(features)
        out[ok] = unit_features
    return out, ok


def project_modality(
    vectors: np.ndarray, modality: str, config: FusionConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Step 1-2 of the fusion for one modality: ``[n, d] -> ([n, dim] unit, present [n])``.

    Missing rows (NaN, or all zeros) stay missing (NaN, ``present`` False).
    """
    unit, ok = normalize_rows(vectors)
    projection = projection_float64(
        f"reelsense-fusion/v{FUSION_VERSION}/seed{config.seed}/{modality}", unit.shape[1], config.dim
    )
    out = np.full((unit.shape[0], config.dim), np.nan, dtype=np.float32)
    if ok.any():
        # einsum's own loops (not BLAS, whose kernels depend on the batch shape): each row's
        # result is bit-identical whatever else is in the batch
        rows = np.einsum("ij,jk->ik", unit[ok].astype(np.float64), projection, optimize=False)
        projected, _ = normalize_rows(rows)
        out[ok] = projected
    return out, ok


def sound_identity_vector(sound_key: str, config: FusionConfig) -> np.ndarray:
    """The fixed unit direction ``g(k)`` (float32 ``[dim]``) of a sound id or cluster key.

    A function of the key, ``config.seed`` and ``config.dim`` only: two videos that use the
    same sound get exactly the same direction, whatever their speed, offset or mix.
    """
    if not sound_key:
        raise ParameterError("sound_key must be a non-empty string")
    return unit_gaussian(
        f"reelsense-fusion/v{FUSION_VERSION}/seed{config.seed}/sound/{sound_key}", config.dim
    )


def match_confidence(score: float | None) -> float:
    """Weight factor of an index match from its calibrated score (``-log10`` of the
    false-match probability): ``1 - 10**-score``, in [0, 1] (score 2 -> 0.99)."""
    if score is None or not np.isfinite(score) or score <= 0.0:
        return 0.0
    return float(1.0 - 10.0 ** (-float(score)))


def sound_identity_vectors(
    sound_keys: Sequence[str | None], confidences: Sequence[float] | np.ndarray, config: FusionConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Sound components of ``n`` videos: ``(vectors float32 [n, dim], confidence float64 [n])``.

    ``None`` keys (no sound identified) or zero confidence give NaN rows and 0.
    """
    conf = np.asarray(confidences, dtype=np.float64)
    if conf.shape != (len(sound_keys),):
        raise ParameterError(f"{len(sound_keys)} sound keys but confidences of shape {conf.shape}")
    conf = np.where(np.isfinite(conf), np.clip(conf, 0.0, 1.0), 0.0)
    vectors = np.full((len(sound_keys), config.dim), np.nan, dtype=np.float32)
    cache: dict[str, np.ndarray] = {}
    for i, key in enumerate(sound_keys):
        if key is None or conf[i] <= 0.0:
            conf[i] = 0.0
            continue
        if key not in cache:
            cache[key] = sound_identity_vector(key, config)
        vectors[i] = cache[key]
    return vectors, conf


def _matrix(vectors: object, name: str) -> np.ndarray | None:
    """``vectors`` (an array or nested lists) as a float array; None stays None."""
    if vectors is None:
        return None
    if isinstance(vectors, str | bytes):
        raise ParameterError(f"{name} vectors must be a float array [n, d], got {type(vectors).__name__}")
    try:
        array = np.asarray(vectors)
    except ValueError as exc:  # ragged lists
        raise ParameterError(f"{name} vectors must be a float array [n, d]: {exc}") from None
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ParameterError(f"{name} vectors must be a float array [n, d], got dtype {array.dtype}")
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def _flags(music: object, name: str) -> np.ndarray | None:
    """``music`` as a bool array: only bools (numpy's too) count, not truthy strings or numbers."""
    if music is None:
        return None
    check_paths(music, name, "flag")
    flags = list(music)  # type: ignore[call-overload]
    for flag in flags:
        if not isinstance(flag, bool | np.bool_):
            raise ParameterError(f"{name} must be bools, got {flag!r} ({type(flag).__name__})")
    return np.asarray(flags, dtype=bool)


def _rows(vectors: np.ndarray | None, n: int | None, name: str) -> int | None:
    if vectors is None:
        return n
    if vectors.ndim != 2:
        raise ParameterError(f"{name} vectors must be [n, d], got shape {vectors.shape}")
    if n is not None and vectors.shape[0] != n:
        raise ParameterError(f"{name} has {vectors.shape[0]} rows, expected {n}")
    return int(vectors.shape[0])


def fuse(
    config: FusionConfig,
    *,
    visual: np.ndarray | None = None,
    caption: np.ndarray | None = None,
    audio: np.ndarray | None = None,
    sound_keys: Sequence[str | None] | None = None,
    sound_confidence: Sequence[float] | np.ndarray | None = None,
    music: Sequence[bool] | np.ndarray | None = None,
) -> FusedEmbeddings:
    """Fuse the modality vectors of ``n`` videos into unit ``[n, config.dim]`` embeddings.

    Args:
        visual, caption, audio: float ``[n, d_m]`` (any ``d_m``), NaN rows for videos that
            lack the modality; ``None`` = nobody has it. A row holding any NaN or infinite
            value, or only zeros, counts as missing.
        sound_keys: the identified sound of each video (index sound id or discovered cluster
            key), ``None`` where none; ``sound_confidence`` its weight factor in [0, 1]
            (default 1; see :func:`match_confidence`; finite values outside are clipped to
            it, NaN and infinities count as 0).
        music: bool ``[n]``, the soundtrack holds music (presence analysis); ``None`` =
            unknown. With ``config.audio_stand_in``, a music video with no sound component
            weighs its audio vector as much as the sound component would weigh.

    Each row depends only on that row's inputs (never on the other rows). See the maths
    in :mod:`reelsense.fusion`.
    """
    if not isinstance(config, FusionConfig):
        raise ParameterError(f"config={config!r} must be a FusionConfig, got {type(config).__name__}")
    visual, caption, audio = (
        _matrix(visual, "visual"),
        _matrix(caption, "caption"),
        _matrix(audio, "audio"),
    )
    music = _flags(music, "music")
    if sound_keys is not None:
        check_paths(sound_keys, "sound_keys", "sound key")
        sound_keys = list(sound_keys)
        for key in sound_keys:
            if key is not None and not isinstance(key, str):
                raise ParameterError(f"sound_keys must be str or None, got {key!r} ({type(key).__name__})")
    n = None
    for name, vectors in (("visual", visual), ("caption", caption), ("audio", audio)):
        n = _rows(vectors, n, name)
    if sound_keys is not None:
        if n is not None and len(sound_keys) != n:
            raise ParameterError(f"{len(sound_keys)} sound keys, expected {n}")
        n = len(sound_keys)
    if n is None:
        raise ParameterError("fuse() needs at least one modality")
    if music is not None and len(music) != n:
        raise ParameterError(f"{len(music)} music flags, expected {n}")
    total = np.zeros((n, config.dim), dtype=np.float64)
    mask = np.zeros((n, len(MODALITIES)), dtype=bool)
    has_sound = np.zeros(n, dtype=bool)
    if sound_keys is not None and config.sound_weight > 0.0:
        conf = np.ones(n) if sound_confidence is None else sound_confidence
        vectors_s, weights_s = sound_identity_vectors(sound_keys, conf, config)
        has_sound = weights_s > 0.0
        total[has_sound] += (config.sound_weight * weights_s[has_sound])[:, None] * vectors_s[has_sound]
        mask[:, MODALITIES.index("sound")] = has_sound
    centred = center_rows(visual) if visual is not None and config.center_visual else visual
    for j, (name, vectors) in enumerate((("visual", centred), ("caption", caption), ("audio", audio))):
        weight = config.weight(name)
        if vectors is None or weight <= 0.0:
            continue
        projected, ok = project_modality(vectors, name, config)
        weights = np.full(n, weight)
        if name == "audio" and config.audio_stand_in and music is not None:
            stand_in = np.asarray(music, dtype=bool) & ~has_sound
            weights[stand_in] = float(np.hypot(weight, config.sound_weight))
        total[ok] += weights[ok, None] * projected[ok]
        mask[:, j] = ok
    if visual is not None and config.picture_weight > 0.0:
        picture, ok = picture_features(visual, config)
        total[ok] += config.picture_weight * picture[ok]
        mask[:, MODALITIES.index("visual")] |= ok
    fused, ok = normalize_rows(total)
    fused[~mask.any(axis=1)] = np.nan
    mask[~ok] = False
    return FusedEmbeddings(vectors=fused, mask=mask)
