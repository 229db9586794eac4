"""Content features of videos: what a ranker learns user tastes over.

For each video, the concatenation of:

- per modality (visual and caption by default): multi-scale cluster one-hots, k-means at
  several ``k`` of the L2-normalised vectors projected on their first principal
  components (a coarse and a fine notion of "what the picture / caption is"), and
  optionally those projected coordinates themselves (scaled to a mean norm of 1);
- sound identity: a one-hot of the sound key (index match or discovered cluster) over the
  keys used by at least two videos;
- uploader and hashtag one-hots over those used by at least two videos (capped);
- presence: speech and music fractions, silent, voice-over, has audio;
- a constant 1 (a user's overall level).

Missing parts are zeros. The fitted state is plain arrays plus vocabularies, saved with a
trained model, so the same map applies to videos added later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from reelsense._checks import check_bool, check_int
from reelsense.errors import ParameterError
from reelsense.rank._catalog import Catalog

__all__ = ["FeatureConfig", "FeatureMap", "fit_features", "kmeans"]

#: rows per chunk when projecting a catalog's vectors
_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class FeatureConfig:
    """How content features are built (see the module docstring).

    Attributes:
        modalities: the vector columns used (of visual, caption, audio).
        components: principal components per modality (k-means runs on them).
        coordinates: also use the projected coordinates as features (the cluster one-hots
            alone generalise better with a few dozen events per user).
        cluster_sizes: the ``k`` of each k-means scale.
        kmeans_restarts: k-means runs per scale from different seedings; the one with the
            lowest within-cluster sum of squares is kept (a single run's partition depends
            much on its seeding, and so does the ranking).
        min_videos: a sound, uploader or hashtag gets a feature when at least this many
            videos have it.
        max_vocabulary: at most this many uploaders and this many hashtags (the most used).
        max_sounds: at most this many sounds (the most used).
        max_fit_videos: PCA and k-means are fitted on at most this many videos (an evenly
            spaced sample); the map then applies to all.
        seed: seeds k-means.
    """

    modalities: tuple[str, ...] = ("visual", "caption")
    components: int = 32
    coordinates: bool = False
    cluster_sizes: tuple[int, ...] = (4, 8, 16, 32)
    kmeans_restarts: int = 10
    min_videos: int = 2
    max_vocabulary: int = 128
    max_sounds: int = 256
    max_fit_videos: int = 20000
    seed: int = 0

    def __post_init__(self) -> None:
        if not set(self.modalities) <= {"visual", "caption", "audio"}:
            raise ParameterError(f"modalities={self.modalities} must be among visual, caption, audio")
        # integers (a float, a bool or NaN refused), kept as Python ints
        for name, minimum in (
            ("components", 1),
            ("kmeans_restarts", 1),
            ("min_videos", 1),
            ("max_vocabulary", 0),
            ("max_sounds", 0),
            ("max_fit_videos", 2),
            ("seed", 0),
        ):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=minimum))
        if isinstance(self.cluster_sizes, str | bytes) or not isinstance(self.cluster_sizes, Iterable):
            raise ParameterError(f"cluster_sizes={self.cluster_sizes!r} must be a list of integers >= 2")
        sizes = tuple(
            check_int(k, f"cluster_sizes[{i}]", minimum=2) for i, k in enumerate(self.cluster_sizes)
        )
        object.__setattr__(self, "cluster_sizes", sizes)
        # a flag (the string "no" was read as True)
        object.__setattr__(self, "coordinates", check_bool(self.coordinates, "coordinates"))


def kmeans(x: np.ndarray, k: int, *, seed: int, iterations: int = 25, restarts: int = 1) -> np.ndarray:
    """Centroids float64 ``[min(k, n), d]`` of ``x`` (``[n, d]``): k-means++ seeding with a
    seeded generator, then Lloyd iterations; of ``restarts`` such runs (one generator, drawn
    in turn), the one with the lowest within-cluster sum of squares (the first on a tie).
    Deterministic for a seed."""
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    sq = (x**2).sum(axis=1)
    best, best_inertia = None, np.inf
    for _ in range(restarts):
        c = _lloyd(x, sq, _plus_plus(x, min(k, x.shape[0]), rng), iterations)
        inertia = float(
            np.maximum(sq[:, None] - 2 * x @ c.T + (c**2).sum(axis=1)[None, :], 0.0).min(axis=1).sum()
        )
        if best is None or inertia < best_inertia:
            best, best_inertia = c, inertia
    assert best is not None
    return best


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next centre drawn with probability proportional to the squared
    distance to the nearest centre so far."""
    n = x.shape[0]
    centres = [x[int(rng.integers(n))]]
    dist = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = dist.sum()
        pick = int(rng.choice(n, p=dist / total)) if total > 0 else int(rng.integers(n))
        centres.append(x[pick])
        dist = np.minimum(dist, ((x - x[pick]) ** 2).sum(axis=1))
    return np.stack(centres)


def _lloyd(x: np.ndarray, sq: np.ndarray, c: np.ndarray, iterations: int) -> np.ndarray:
    k = c.shape[0]
    columns = np.ascontiguousarray(x.T)
    for _ in range(iterations):
        label = np.argmin(sq[:, None] - 2 * x @ c.T + (c**2).sum(axis=1)[None, :], axis=1)
        counts = np.bincount(label, minlength=k)
        # each cluster's sum of its rows, column by column: bincount adds in row order, as a
        # sequential loop over the rows does (np.add.at gives the same sums, ~7x slower)
        sums = np.zeros_like(c)
        for j, column in enumerate(columns):
            sums[:, j] = np.bincount(label, weights=column, minlength=k)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], c)
        if np.allclose(moved, c):
            break
        c = moved
    return c


@dataclass(frozen=True, repr=False)
class FeatureMap:
    """A fitted content feature map (build one with :func:`fit_features`)."""

    config: FeatureConfig
    #: modality -> (mean [d], components [d, p], scale)
    projections: dict[str, tuple[np.ndarray, np.ndarray, float]] = field(default_factory=dict)
    #: modality -> centroids of each scale, in projected coordinates
    centroids: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)
    sounds: tuple[str, ...] = ()
    uploaders: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()

    @property
    def dim(self) -> int:
        size = 1 + 5 + len(self.sounds) + len(self.uploaders) + len(self.hashtags)
        for name, (_, comp, _) in self.projections.items():
            size += comp.shape[1] * self.config.coordinates + sum(c.shape[0] for c in self.centroids[name])
        return size

    def __repr__(self) -> str:
        return f"FeatureMap(dim={self.dim}, modalities={sorted(self.projections)}, sounds={len(self.sounds)})"

    def same_projections(self, other: FeatureMap) -> bool:
        """Whether ``other`` projects every modality as this map does (the same arrays, bit
        for bit): then :meth:`coordinates` of either serve both."""
        if sorted(self.projections) != sorted(other.projections):
            return False
        for name, (mean, comp, scale) in self.projections.items():
            other_mean, other_comp, other_scale = other.projections[name]
            if scale != other_scale or not (
                np.array_equal(mean, other_mean) and np.array_equal(comp, other_comp)
            ):
                return False
        return True

    def coordinates(self, catalog: Catalog) -> dict[str, np.ndarray]:
        """float64 ``[n, components]`` projected coordinates of the catalog's videos per
        modality (zeros for a video without a usable vector).

        Raises:
            ParameterError: the catalog's vectors of a modality have another size than those
                the map was fitted on (vectors of another model).
        """
        n = len(catalog)
        out = {}
        for name, (mean, comp, scale) in sorted(self.projections.items()):
            vectors = catalog.modalities.get(name)
            if vectors is not None and vectors.shape[1] != mean.shape[0]:
                raise ParameterError(
                    f"the embeddings' {name} vectors have {vectors.shape[1]} dimensions, the ranker was "
                    f"trained on {mean.shape[0]}: embed with the models it was trained on, or train again"
                )
            coords = np.zeros((n, comp.shape[1]))
            if vectors is not None:
                for start in range(0, n, _CHUNK_ROWS):  # bounded float64 copies
                    unit, ok = _unit_rows(vectors[start : start + _CHUNK_ROWS])
                    rows = np.flatnonzero(ok) + start
                    coords[rows] = (unit[ok] - mean) @ comp / scale
            out[name] = coords
        return out

    def transform(self, catalog: Catalog, *, coordinates: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """float32 ``[n, dim]`` features of the catalog's videos. ``coordinates``: the
        catalog's :meth:`coordinates` under this map's projections (of a map for which
        :meth:`same_projections` holds, as the members of one model), not computed again."""
        n = len(catalog)
        if coordinates is None:
            coordinates = self.coordinates(catalog)
        blocks: list[np.ndarray] = [np.ones((n, 1))]
        for name in sorted(self.projections):
            coords = coordinates[name]
            present = np.abs(coords).sum(axis=1) > 0
            if self.config.coordinates:
                blocks.append(coords)
            for centres in self.centroids[name]:
                onehot = np.zeros((n, centres.shape[0]))
                if present.any():
                    label = _nearest(coords[present], centres)
                    onehot[np.flatnonzero(present), label] = 1.0
                blocks.append(onehot)
        blocks.append(_onehot(catalog.sound_key_list(), self.sounds))
        uploaders: list[str | None] = list(catalog.uploaders) if catalog.uploaders else [None] * n
        blocks.append(_onehot(uploaders, self.uploaders))
        tags = np.zeros((n, len(self.hashtags)))
        position = {t: j for j, t in enumerate(self.hashtags)}
        for i, row in enumerate(catalog.hashtags or ()):
            cols = [position[t] for t in row if t in position]
            if cols:
                tags[i, cols] = 1.0 / np.sqrt(len(cols))
        blocks.append(tags)
        presence = catalog.presence if catalog.presence is not None else np.zeros((n, 5))
        blocks.append(np.asarray(presence, dtype=np.float64))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays by name (for safetensors)."""
        out: dict[str, np.ndarray] = {}
        for name, (mean, comp, scale) in self.projections.items():
            out[f"features.{name}.mean"] = mean
            out[f"features.{name}.components"] = comp
            out[f"features.{name}.scale"] = np.array([scale])
            for j, centres in enumerate(self.centroids[name]):
                out[f"features.{name}.centroids.{j}"] = centres
        return out

    def vocabularies(self) -> dict[str, list[str]]:
        return {
            "sounds": list(self.sounds),
            "uploaders": list(self.uploaders),
            "hashtags": list(self.hashtags),
        }

    @classmethod
    def from_arrays(
        cls, config: FeatureConfig, arrays: dict[str, np.ndarray], vocabularies: dict[str, list[str]]
    ) -> FeatureMap:
        names = sorted({k.split(".")[1] for k in arrays if k.startswith("features.")})
        projections = {}
        centroids = {}
        for name in names:
            prefix = f"features.{name}"
            projections[name] = (
                np.asarray(arrays[f"{prefix}.mean"], dtype=np.float64),
                np.asarray(arrays[f"{prefix}.components"], dtype=np.float64),
                float(arrays[f"{prefix}.scale"][0]),
            )
            scales = sorted(int(k.rsplit(".", 1)[1]) for k in arrays if k.startswith(f"{prefix}.centroids."))
            centroids[name] = tuple(
                np.asarray(arrays[f"{prefix}.centroids.{j}"], dtype=np.float64) for j in scales
            )
        return cls(
            config=config,
            projections=projections,
            centroids=centroids,
            sounds=tuple(vocabularies.get("sounds", ())),
            uploaders=tuple(vocabularies.get("uploaders", ())),
            hashtags=tuple(vocabularies.get("hashtags", ())),
        )


def _unit_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(vectors, dtype=np.float64)
    finite = np.asarray(np.isfinite(x).all(axis=1), dtype=bool)
    norms = np.linalg.norm(np.where(finite[:, None], x, 0.0), axis=1)
    ok = finite & (norms > 0)
    out = np.zeros_like(x)
    out[ok] = x[ok] / norms[ok, None]
    return out, ok


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    dist = (x**2).sum(axis=1)[:, None] - 2 * x @ centres.T + (centres**2).sum(axis=1)[None, :]
    return np.asarray(np.argmin(dist, axis=1), dtype=np.int64)


def _onehot(values: list[str | None], vocabulary: tuple[str, ...]) -> np.ndarray:
    out = np.zeros((len(values), len(vocabulary)))
    position = {v: j for j, v in enumerate(vocabulary)}
    for i, v in enumerate(values):
        if v is not None and v in position:
            out[i, position[v]] = 1.0
    return out


def _vocabulary(values: list[str], config: FeatureConfig, cap: int | None) -> tuple[str, ...]:
    counts = Counter(values)
    kept = sorted((v for v, c in counts.items() if c >= config.min_videos), key=lambda v: (-counts[v], v))
    return tuple(sorted(kept[:cap] if cap is not None else kept))


def fit_features(
    catalog: Catalog, config: FeatureConfig | None = None, *, like: FeatureMap | None = None
) -> FeatureMap:
    """Fit the content feature map on a catalog's videos (deterministic for a config).

    ``like``: a map fitted on this catalog with a config that differs from ``config`` at most
    in ``seed`` (another member of an ensemble). Its principal components and vocabularies,
    which do not depend on the seed, are taken as they are and only k-means runs again: the
    same map as fitted anew, without the SVDs.

    Raises:
        ParameterError: ``like``'s config differs from ``config`` in more than the seed.
    """
    config = config or FeatureConfig()
    if like is not None and replace(like.config, seed=config.seed) != config:
        raise ParameterError(
            f"like= was fitted with {like.config}, which differs from {config} in more than the seed"
        )
    n = len(catalog)
    sample = np.unique(np.linspace(0, n - 1, min(n, config.max_fit_videos)).round().astype(np.int64))
    projections: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    centroids: dict[str, tuple[np.ndarray, ...]] = {}
    for j, (name, vectors) in enumerate(sorted(catalog.modalities.items())):
        if name not in config.modalities:
            continue
        unit, ok = _unit_rows(vectors[sample])
        rows = unit[ok]
        if rows.shape[0] < 2:
            continue
        if like is not None:
            mean, comp, scale = like.projections[name]
            coords = (rows - mean) @ comp
        else:
            mean = rows.mean(axis=0)
            _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
            comp = vt[: config.components].T
            # a deterministic sign: the largest loading of each component is positive
            signs = np.sign(comp[np.argmax(np.abs(comp), axis=0), np.arange(comp.shape[1])])
            comp = comp * np.where(signs == 0, 1.0, signs)
            coords = (rows - mean) @ comp
            scale = float(np.sqrt((coords**2).sum(axis=1).mean())) or 1.0
        coords = coords / scale
        projections[name] = (mean, comp, scale)
        centroids[name] = tuple(
            kmeans(coords, k, seed=config.seed * 1000 + 17 * j + i, restarts=config.kmeans_restarts)
            for i, k in enumerate(config.cluster_sizes)
        )
    if like is not None:
        sounds, uploaders, hashtags = like.sounds, like.uploaders, like.hashtags
    else:
        sounds = _vocabulary([s for s in catalog.sound_key_list() if s], config, config.max_sounds)
        uploaders = _vocabulary([u for u in catalog.uploaders if u], config, config.max_vocabulary)
        hashtags = _vocabulary([t for row in catalog.hashtags for t in row], config, config.max_vocabulary)
    return FeatureMap(
        config=config,
        projections=projections,
        centroids=centroids,
        sounds=sounds,
        uploaders=uploaders,
        hashtags=hashtags,
    )
