"""A ranker learned across users: a population prior over content features, then a
Bayesian ridge regression per user shrunk towards it.

The model
---------
Each video ``v`` has content features ``x_v`` (:mod:`reelsense.rank._features`). Each
(user, video shown) pair has a feedback value ``y`` (the sum of its event weights,
:class:`~reelsense.rank.EventWeights`). For user ``u``::

    y_uv = x_v . w_u + noise,   noise ~ N(0, s2),   w_u ~ N(mu, Sigma)

``mu`` (what everyone likes), ``Sigma`` (which directions of the content users disagree
on, and how much: e.g. how much the sound weighs against the picture) and ``s2`` are
learned from every user's feedback by expectation-maximisation (the hierarchical linear
model). A user's taste is the posterior mean of ``w_u`` given that user's own feedback:
with no feedback it is ``mu`` (popular content); each event moves it along the directions
``Sigma`` says matter. A new upload nobody has seen is scored by its content alone:
``x_v . w_u``.

EM on this model keeps fitting each user's own events more closely (``s2`` falls towards
0) long after the prior stops generalising, so the number of iterations is chosen on the
data: a first run fits every user's earlier pairs and measures the error on each user's
later pairs (``holdout_fraction``): the share of them, among two pairs the user valued
differently, that the user's posterior taste orders wrongly. The iteration with the
lowest held-out error is kept, and a second run on all pairs stops there. With too few
held-out comparisons to tell (little feedback per user), a fixed number is run.

The cluster one-hots of the content features depend on k-means' random seeding, and so
does the ranking. The model is therefore an ensemble of ``members`` such models, each on
the features of another k-means seed (the same EM iteration count, chosen with the first);
a video's score is the mean of the members' predicted feedback values.

Everything trained runs in torch float64 and is deterministic for a seed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from reelsense._checks import check_bool, check_finite, check_int
from reelsense._progress import ProgressCallback
from reelsense._version import __version__
from reelsense.errors import ParameterError
from reelsense.io._files import replacing
from reelsense.rank._catalog import Catalog
from reelsense.rank._events import EVENTS, EventLog, EventWeights
from reelsense.rank._features import FeatureConfig, FeatureMap, fit_features

__all__ = [
    "RANK_MODEL_VERSION",
    "RankConfig",
    "RankMember",
    "RankModel",
    "load_model",
    "pair_feedback",
    "train_ranker",
]

logger = logging.getLogger(__name__)

#: Bump when the saved model's meaning changes (a model of another version is refused).
RANK_MODEL_VERSION = 2
_CONFIG_FILE = "config.json"
_TENSORS_FILE = "model.safetensors"


@dataclass(frozen=True)
class RankConfig:
    """How the ranker learns and ranks.

    Attributes:
        weights: the value of each event (:class:`EventWeights`).
        negative_feedback: False = the positive-only variant: negative event values are
            dropped, only pairs with positive feedback are observed, and "not interested"
            filters nothing.
        features: the content features (:class:`FeatureConfig`); member ``i`` of the
            ensemble uses the k-means seed ``features.seed + seed * members + i``.
        members: models in the ensemble (see the module), each on another k-means seed.
        em_iterations: EM iterations of the population prior when the held-out pairs
            do not choose the number (``holdout_fraction`` 0, or too few comparisons).
        max_em_iterations: the most EM iterations the held-out pairs may choose.
        holdout_fraction: share of each user's latest pairs held out to choose the number
            of EM iterations (see the module; 0: always ``em_iterations``). Users keep all
            their pairs when that share is under 2 pairs; at most 64 are held out.
        holdout_patience: stop the held-out run after this many iterations without a
            lower held-out error.
        holdout_min_comparisons: below this many held-out comparisons (two held-out pairs
            of one user with unequal values) the held-out error is too noisy to choose, and
            ``em_iterations`` are run.
        prior_shrinkage: share of ``Sigma``'s off-diagonal removed at each step (0..1): a
            guard against directions that only a few users define.
        prior_rank: keep only ``Sigma``'s top directions plus a diagonal (0: all).
        max_train_users: the prior is learned from at most this many users (an evenly
            spaced sample); every user is still ranked with it.
        max_per_sound: at most this many videos of one sound in a feed (0: no cap).
        near_duplicate_cosine: a video whose fused ``embedding`` has at least this cosine
            with a video the user marked "not interested" is left out of that user's feed.
        seed: seeds everything random (the members' k-means), an integer >= 0.
    """

    weights: EventWeights = field(default_factory=EventWeights)
    negative_feedback: bool = True
    features: FeatureConfig = field(default_factory=FeatureConfig)
    members: int = 3
    em_iterations: int = 20
    max_em_iterations: int = 200
    holdout_fraction: float = 0.2
    holdout_patience: int = 10
    holdout_min_comparisons: int = 500
    prior_shrinkage: float = 0.5
    prior_rank: int = 0
    max_train_users: int = 2000
    max_per_sound: int = 3
    near_duplicate_cosine: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in (("weights", EventWeights), ("features", FeatureConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ParameterError(f"{name}={getattr(self, name)!r} must be a {kind.__name__}")
        object.__setattr__(self, "negative_feedback", check_bool(self.negative_feedback, "negative_feedback"))
        # integers (1.5, True, NaN refused), kept as Python ints for the saved model's JSON
        for name, minimum in (
            ("members", 1),
            ("em_iterations", 1),
            ("max_em_iterations", 1),
            ("holdout_patience", 1),
            ("holdout_min_comparisons", 1),
            ("prior_rank", 0),
            ("max_train_users", 1),
            ("max_per_sound", 0),  # 0: no cap
            ("seed", 0),
        ):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=minimum))
        for name in ("holdout_fraction", "prior_shrinkage", "near_duplicate_cosine"):
            object.__setattr__(self, name, check_finite(getattr(self, name), name))
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ParameterError(f"holdout_fraction={self.holdout_fraction} must be in [0, 1)")
        if not 0.0 <= self.prior_shrinkage <= 1.0:
            raise ParameterError(f"prior_shrinkage={self.prior_shrinkage} must be in [0, 1]")
        if not -1.0 <= self.near_duplicate_cosine <= 1.0 + 1e-9:
            raise ParameterError(f"near_duplicate_cosine={self.near_duplicate_cosine} must be in [-1, 1]")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"]["cluster_sizes"] = list(self.features.cluster_sizes)
        out["features"]["modalities"] = list(self.features.modalities)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RankConfig:
        data = dict(data)
        features = dict(data.pop("features", {}))
        for name in ("cluster_sizes", "modalities"):
            if name in features:
                features[name] = tuple(features[name])
        return cls(
            weights=EventWeights(**data.pop("weights", {})), features=FeatureConfig(**features), **data
        )

    def member_features(self, member: int) -> FeatureConfig:
        """The feature config of ensemble member ``member`` (its k-means seed)."""
        # seeds of one run do not overlap another's: seed s takes features.seed + s * members + 0..members-1
        return replace(self.features, seed=self.features.seed + self.seed * self.members + member)


@dataclass(frozen=True)
class PairFeedback:
    """One row per (user, video shown): ``user``, ``video`` codes and the feedback ``value``,
    sorted by user then first event time; ``disliked`` = the user marked it "not interested"."""

    user: np.ndarray
    video: np.ndarray
    value: np.ndarray
    disliked: np.ndarray


def pair_feedback(log: EventLog, config: RankConfig) -> PairFeedback:
    """Sum the event values of each (user, video) pair of ``log`` (see :class:`RankConfig`
    for the positive-only variant)."""
    if len(log) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PairFeedback(empty, empty, np.zeros(0), np.zeros(0, dtype=bool))
    values = config.weights.values(log.event, log.watch_fraction)
    n_videos = int(log.video.max()) + 1
    key = log.user * n_videos + log.video
    unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    total = np.zeros(unique.size)
    negative = np.zeros(unique.size)
    np.add.at(total, inverse, np.maximum(values, 0.0))
    np.add.at(negative, inverse, np.minimum(values, 0.0))
    disliked = np.zeros(unique.size, dtype=bool)
    np.logical_or.at(disliked, inverse, log.event == EVENTS.index("not_interested"))
    if config.negative_feedback:
        total = total + negative
        keep = np.ones(unique.size, dtype=bool)
    else:
        keep = total > 0
        disliked[:] = False
    order = np.lexsort((log.timestamp[first], unique // n_videos))
    order = order[keep[order]]
    return PairFeedback(
        user=(unique // n_videos)[order],
        video=(unique % n_videos)[order],
        value=total[order],
        disliked=disliked[order],
    )


@dataclass(frozen=True, repr=False)
class RankMember:
    """One model of the ensemble: its content feature map and population prior.

    Attributes:
        features: the fitted content feature map.
        prior_mean: float64 ``[d]`` (``mu``); prior_cov: float64 ``[d, d]`` (``Sigma``);
        noise_var: ``s2``.
    """

    features: FeatureMap
    prior_mean: np.ndarray
    prior_cov: np.ndarray
    noise_var: float


@dataclass(frozen=True, repr=False)
class RankModel:
    """A trained ranker: an ensemble of :class:`RankMember` (see the module).

    Attributes:
        config: how it was trained and how it ranks.
        members: the ensemble's models (``config.members`` of them).
        info: training summary (users, pairs, videos, EM iterations, fusion metadata of the
            embeddings).
    """

    config: RankConfig
    members: tuple[RankMember, ...]
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        users = self.info.get("users")
        dim = self.members[0].prior_mean.size if self.members else 0
        return f"RankModel(members={len(self.members)}, dim={dim}, users={users})"

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/model.safetensors`` (arrays) and ``folder/config.json`` (config,
        vocabularies, version). No pickle."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for i, member in enumerate(self.members):
            arrays[f"member.{i}.prior.mean"] = member.prior_mean
            arrays[f"member.{i}.prior.cov"] = member.prior_cov
            arrays.update({f"member.{i}.{k}": v for k, v in member.features.arrays().items()})
        with replacing(folder / _TENSORS_FILE) as tmp:
            save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}, str(tmp))
        meta = {
            "format": "reelsense.rank",
            "version": RANK_MODEL_VERSION,
            "reelsense": __version__,
            "config": self.config.to_json(),
            "members": [
                {"noise_var": m.noise_var, "vocabularies": m.features.vocabularies()} for m in self.members
            ],
            "info": self.info,
        }
        with replacing(folder / _CONFIG_FILE) as tmp:  # last: a folder without it holds no model
            tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        return folder


def load_model(folder: str | Path) -> RankModel:
    """Read a model written by :meth:`RankModel.save`.

    Raises:
        ParameterError: the folder lacks the files, or they are of another format/version.
    """
    from safetensors.numpy import load_file

    folder = Path(folder)
    config_path, tensors_path = folder / _CONFIG_FILE, folder / _TENSORS_FILE
    if not config_path.is_file() or not tensors_path.is_file():
        raise ParameterError(
            f"{str(folder)!r} is not a rank model (needs {_CONFIG_FILE} and {_TENSORS_FILE})"
        )
    try:
        meta = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ParameterError(f"{str(config_path)!r} is not readable JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ParameterError(f"{str(config_path)!r} is not a JSON object")
    if meta.get("format") != "reelsense.rank" or meta.get("version") != RANK_MODEL_VERSION:
        raise ParameterError(
            f"{str(config_path)!r} is format {meta.get('format')!r} version {meta.get('version')!r}, "
            f"expected 'reelsense.rank' version {RANK_MODEL_VERSION}: train it again with this reelsense"
        )
    try:
        arrays = load_file(str(tensors_path))
        config = RankConfig.from_json(meta["config"])
        members = []
        for i, member in enumerate(meta["members"]):
            prefix = f"member.{i}."
            own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            members.append(
                RankMember(
                    features=FeatureMap.from_arrays(config.member_features(i), own, member["vocabularies"]),
                    prior_mean=own["prior.mean"],
                    prior_cov=own["prior.cov"],
                    noise_var=float(member["noise_var"]),
                )
            )
    except ParameterError:
        raise
    except Exception as exc:  # a damaged folder: safetensors' own error, a missing key or array
        raise ParameterError(
            f"{str(folder)!r} is a damaged rank model ({type(exc).__name__}: {exc}); train it again"
        ) from exc
    if not members:
        raise ParameterError(f"{str(config_path)!r} holds no ensemble member: train the model again")
    if len(members) != config.members:
        raise ParameterError(
            f"{str(config_path)!r} holds {len(members)} ensemble members but its config says "
            f"members={config.members}: a damaged model; train it again"
        )
    return RankModel(config=config, members=tuple(members), info=meta.get("info", {}))


#: the most users solved together
_BATCH_USERS = 64
#: the most float64 entries of a batch's largest tensor, ``users x n x min(n, d)`` (256 MiB)
_BATCH_ENTRIES = 2**25


def _user_batches(pairs: PairFeedback, users: np.ndarray, dim: int) -> list[np.ndarray]:
    """Groups of users with similar numbers of pairs (padding costs little): at most
    ``_BATCH_USERS``, fewer when the posterior's largest tensor (``[users, n, min(n, dim)]``
    for the group's longest history ``n`` and ``dim`` features) would hold more than
    ``_BATCH_ENTRIES``."""
    counts = np.bincount(pairs.user, minlength=int(users.max()) + 1 if users.size else 0)[users]
    rank = np.argsort(counts, kind="stable")
    order, counts = users[rank], counts[rank]
    groups: list[np.ndarray] = []
    at = 0
    while at < order.size:
        end = min(at + _BATCH_USERS, order.size)
        n = max(1, int(counts[end - 1]))
        fit = max(1, _BATCH_ENTRIES // (n * min(n, dim)))
        if fit < end - at:  # the longest history of the group sets its size
            end = at + fit
        groups.append(order[at:end])
        at = end
    return groups


def _padded(
    pairs: PairFeedback, starts: np.ndarray, ends: np.ndarray, users: np.ndarray, x: Any
) -> tuple[Any, Any]:
    """Zero-padded features ``[b, n, d]`` and values ``[b, n]`` of the users (zero rows add
    nothing to the posterior)."""
    import torch

    n = int(max(1, (ends[users] - starts[users]).max()))
    rows = np.zeros((users.size, n), dtype=np.int64)
    mask = np.zeros((users.size, n), dtype=bool)
    values = np.zeros((users.size, n))
    for i, u in enumerate(users):
        s, e = starts[u], ends[u]
        rows[i, : e - s] = pairs.video[s:e]
        mask[i, : e - s] = True
        values[i, : e - s] = pairs.value[s:e]
    feats = x[torch.from_numpy(rows)].to(torch.float64) * torch.from_numpy(mask)[..., None]
    return feats, torch.from_numpy(values)


def posterior(
    x_pairs: Any, y: Any, mean: Any, cov: Any, noise_var: float, *, with_cov: bool = False
) -> tuple[Any, Any | None, Any]:
    """Posterior of ``w`` for a batch of users (torch float64): ``x_pairs [b, n, d]``, ``y
    [b, n]`` -> ``(mean [b, d], stats, fitted x.w [b, n])``. With ``with_cov``, ``stats`` is
    ``(sum over the batch of the posterior covariances [d, d], sum of x S x^T over the
    observations)``. Zero rows of ``x_pairs`` (padding) add nothing.

    Solved in the observations' space (``n x n``, the Woodbury identity) when ``n <= d`` and in
    the features' space (``d x d``) when the histories are longer: the same posterior, at a
    cost cubic in the smaller of the two."""
    if x_pairs.shape[1] > x_pairs.shape[2]:
        return _posterior_primal(x_pairs, y, mean, cov, noise_var, with_cov=with_cov)
    import torch

    a = x_pairs @ cov  # [b, n, d]
    c = a @ x_pairs.transpose(1, 2)  # x Sigma x^T [b, n, n]
    k = c + noise_var * torch.eye(c.shape[-1], dtype=c.dtype)
    chol = torch.linalg.cholesky(k)
    r = (y - x_pairs @ mean)[..., None]
    m = mean + (a.transpose(1, 2) @ torch.cholesky_solve(r, chol))[..., 0]
    stats = None
    if with_cov:
        # S = Sigma - a^T K^-1 a = Sigma - b^T b with b = L^-1 a
        b = torch.linalg.solve_triangular(chol, a, upper=False)
        flat = b.reshape(-1, b.shape[-1])
        cov_sum = x_pairs.shape[0] * cov - flat.T @ flat
        # x S x^T = C - C K^-1 C, its trace tr(C) - ||L^-1 C||^2
        lc = torch.linalg.solve_triangular(chol, c, upper=False)
        trace = torch.diagonal(c, dim1=1, dim2=2).sum() - (lc**2).sum()
        stats = (cov_sum, trace)
    return m, stats, (x_pairs @ m[..., None])[..., 0]


def _posterior_primal(
    x_pairs: Any, y: Any, mean: Any, cov: Any, noise_var: float, *, with_cov: bool = False
) -> tuple[Any, Any | None, Any]:
    """:func:`posterior` in the features' space. With ``Sigma = L L^T``, ``z = x L`` and ``M =
    z^T z + s2 I`` (``[b, d, d]``, ``M = C C^T``): the mean is ``mu + L M^-1 z^T (y - x mu)``
    and the covariance ``S = s2 L M^-1 L^T``, so ``x S x^T`` sums to ``s2 ||C^-1 z^T||^2``."""
    import torch

    lower = torch.linalg.cholesky(cov)
    z = x_pairs @ lower  # [b, n, d]
    zt = z.transpose(1, 2)
    gram = zt @ z + noise_var * torch.eye(z.shape[-1], dtype=z.dtype)
    chol = torch.linalg.cholesky(gram)
    r = (y - x_pairs @ mean)[..., None]
    m = mean + (lower @ torch.cholesky_solve(zt @ r, chol))[..., 0]
    stats = None
    if with_cov:
        e = torch.linalg.solve_triangular(chol, lower.T.expand_as(chol), upper=False)  # C^-1 L^T
        flat = e.reshape(-1, e.shape[-1])
        cov_sum = noise_var * (flat.T @ flat)
        trace = noise_var * (torch.linalg.solve_triangular(chol, zt, upper=False) ** 2).sum()
        stats = (cov_sum, trace)
    return m, stats, (x_pairs @ m[..., None])[..., 0]


def _regularise(cov: Any, config: RankConfig) -> Any:
    """The M-step's ``Sigma`` made robust: its top ``prior_rank`` directions plus a diagonal
    (0: all directions), then ``prior_shrinkage`` of the off-diagonal removed."""
    import torch

    if 0 < config.prior_rank < cov.shape[0]:
        values, vectors = torch.linalg.eigh(cov)
        top = vectors[:, -config.prior_rank :] * values[-config.prior_rank :].clamp(min=0.0)
        low = top @ vectors[:, -config.prior_rank :].T
        cov = low + torch.diag(torch.diagonal(cov - low).clamp(min=0.0))
    shrink = config.prior_shrinkage
    return (1 - shrink) * cov + shrink * torch.diag(torch.diagonal(cov))


def _spans(pairs: PairFeedback, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.searchsorted(pairs.user, np.arange(n_users), side="left")
    ends = np.searchsorted(pairs.user, np.arange(n_users), side="right")
    return starts, ends


@dataclass(frozen=True)
class _EmResult:
    mean: np.ndarray
    cov: np.ndarray
    noise_var: float
    pairs: int
    best_iterations: int
    held_out_error: float | None


def _holdout_split(
    pairs: PairFeedback, starts: np.ndarray, ends: np.ndarray, users: np.ndarray, fraction: float
) -> tuple[PairFeedback, np.ndarray]:
    """Each user's latest ``floor(fraction * n)`` pairs (at most 64; none when that is under 2,
    as one held-out pair compares with nothing) held out: ``(the rest, the held-out row
    numbers of pairs)``."""
    n = ends[users] - starts[users]
    n_held = np.minimum(np.floor(fraction * n), 64).astype(np.int64)
    n_held[n_held < 2] = 0
    keep = np.ones(pairs.user.size, dtype=bool)
    held = np.concatenate(
        [np.arange(ends[u] - h, ends[u]) for u, h in zip(users, n_held, strict=True) if h > 0]
        or [np.zeros(0, dtype=np.int64)]
    )
    keep[held] = False
    fit = PairFeedback(pairs.user[keep], pairs.video[keep], pairs.value[keep], pairs.disliked[keep])
    return fit, held


@dataclass(frozen=True)
class _HeldOut:
    """Held-out pairs laid out per user: ``rows`` (row numbers of all pairs, grouped by user),
    ``grid`` ``[users with held pairs, most held pairs]`` (positions in ``rows``, padding 0)
    and ``better`` ``[users, i, j]``: the user valued pair ``i`` more than pair ``j``."""

    pairs: PairFeedback
    rows: np.ndarray
    grid: Any
    better: Any

    @property
    def comparisons(self) -> int:
        return int(self.better.sum())


def _held_out(pairs: PairFeedback, rows: np.ndarray) -> _HeldOut:
    import torch

    user_of = pairs.user[rows]
    first = np.r_[0, np.flatnonzero(np.diff(user_of)) + 1] if rows.size else np.zeros(0, np.int64)
    n_block = np.diff(np.r_[first, rows.size])
    block = np.repeat(np.arange(first.size), n_block)
    where = np.full((first.size, int(n_block.max()) if rows.size else 0), -1, dtype=np.int64)
    where[block, np.arange(rows.size) - np.repeat(first, n_block)] = np.arange(rows.size)
    valid = torch.from_numpy(where >= 0)
    grid = torch.from_numpy(np.maximum(where, 0))
    values = torch.from_numpy(pairs.value[rows])[grid]
    better = (values[:, :, None] > values[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    return _HeldOut(pairs, rows, grid, better)


def _em(
    pairs: PairFeedback,
    starts: np.ndarray,
    ends: np.ndarray,
    active: np.ndarray,
    x: Any,
    config: RankConfig,
    iterations: int,
    *,
    held: _HeldOut | None = None,
    progress: ProgressCallback | None = None,
    stage: str = "",
) -> _EmResult:
    """EM of the population prior on ``pairs`` of the ``active`` users, for ``iterations``.
    With ``held``: after each E-step, the held-out error is the share of the users' held-out
    comparisons (two pairs of unequal value) that their posterior means order wrongly (a tie
    counts as wrong); the run stops after ``config.holdout_patience`` iterations without a new
    lowest error, and ``best_iterations`` is the number of M-steps before the lowest.
    ``progress(stage, steps done, iterations)`` is called after each E-step."""
    import torch

    d = x.shape[1]
    used = np.concatenate([np.arange(starts[u], ends[u]) for u in active])
    y_all = pairs.value[used]
    # start: mu fitted by ridge on everyone, Sigma a scaled identity, s2 the value variance
    xs = x.numpy()[pairs.video[used]]
    mean = torch.from_numpy(np.linalg.solve(xs.T @ xs + np.eye(d), xs.T @ y_all))
    noise_var = float(max(np.var(y_all), 1e-6))
    cov = torch.eye(d, dtype=torch.float64) * (noise_var / max(1.0, float((xs**2).sum(axis=1).mean())))
    groups = _user_batches(pairs, active, d)
    if held is not None:
        order = np.concatenate(groups)
        slot = np.full(int(order.max()) + 1, -1, dtype=np.int64)
        slot[order] = np.arange(order.size)
        held_slot = torch.from_numpy(slot[held.pairs.user[held.rows]])
        held_x = x[torch.from_numpy(held.pairs.video[held.rows])]
        n_comparisons = max(held.comparisons, 1)
    best, best_error = iterations, None
    n_obs = used.size
    for step in range(iterations + 1):
        if held is None and step == iterations:
            break
        means, covs, sq = [], torch.zeros((d, d), dtype=torch.float64), 0.0
        for group in groups:
            feats, y = _padded(pairs, starts, ends, group, x)
            m, stats, fitted = posterior(feats, y, mean, cov, noise_var, with_cov=True)
            assert stats is not None
            means.append(m)
            covs = covs + stats[0]
            # E[(y - x.w)^2] = (y - x.m)^2 + x S x^T (padded rows add 0 to both)
            sq += float(((y - fitted) ** 2).sum() + stats[1])
        m_all = torch.cat(means)
        if progress is not None:
            progress(stage, min(step + 1, iterations), iterations)
        if held is not None:
            scores = (held_x * m_all[held_slot]).sum(dim=1)[held.grid]
            wrong = (scores[:, :, None] <= scores[:, None, :]) & held.better
            error = float(wrong.sum()) / n_comparisons
            logger.debug("EM step %d: held-out error %.5f, s2 %.4f", step, error, noise_var)
            if best_error is None or error < best_error:
                best, best_error = step, error
            elif step - best >= config.holdout_patience:
                break
        if step == iterations:
            break
        mean = m_all.mean(dim=0)
        centred = m_all - mean
        cov = (centred.T @ centred + covs) / m_all.shape[0]
        cov = _regularise(cov, config)
        cov = cov + 1e-6 * torch.eye(d, dtype=torch.float64) * float(torch.diagonal(cov).mean())
        noise_var = max(sq / n_obs, 1e-6)
    return _EmResult(mean.numpy(), cov.numpy(), float(noise_var), int(n_obs), best, best_error)


def train_ranker(
    catalog: Catalog,
    log: EventLog,
    config: RankConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> RankModel:
    """Learn the content features and the population prior of each ensemble member from
    every user's feedback in ``log`` (filter it with :meth:`EventLog.before` first to respect
    request times). ``progress(stage, done, total)`` follows the EM steps: the held-out run
    that chooses their number ("choosing EM steps"), then each member's.

    Raises:
        ParameterError: no user has feedback to learn from.
    """
    import torch

    config = config or RankConfig()
    pairs = pair_feedback(log, config)
    n_users = len(log.users)
    starts, ends = _spans(pairs, n_users)
    active = np.flatnonzero(ends > starts)
    if active.size == 0:
        raise ParameterError(
            "no user has feedback to learn from (is the log empty before the request times?)"
        )
    if active.size > config.max_train_users:
        active = active[
            np.unique(np.linspace(0, active.size - 1, config.max_train_users).round().astype(np.int64))
        ]
    iterations, held_error = config.em_iterations, None
    members: list[RankMember] = []
    n_pairs, dim = 0, 0
    coordinates: dict[str, np.ndarray] = {}
    for i in range(config.members):
        # the members differ only in k-means seeds: the first's projections serve them all
        first = members[0].features if members else None
        features = fit_features(catalog, config.member_features(i), like=first)
        if first is None:
            coordinates = features.coordinates(catalog)
        x_np = features.transform(catalog, coordinates=coordinates).astype(np.float64)
        x = torch.from_numpy(x_np)
        if i == 0 and config.holdout_fraction > 0:
            fit, rows = _holdout_split(pairs, starts, ends, active, config.holdout_fraction)
            held = _held_out(pairs, rows)
            if held.comparisons >= config.holdout_min_comparisons:
                fit_starts, fit_ends = _spans(fit, n_users)
                probe = _em(
                    fit,
                    fit_starts,
                    fit_ends,
                    active,
                    x,
                    config,
                    config.max_em_iterations,
                    held=held,
                    progress=progress,
                    stage="choosing EM steps",
                )
                iterations, held_error = probe.best_iterations, probe.held_out_error
            else:
                logger.info(
                    "%d held-out comparisons (< holdout_min_comparisons=%d): %d EM iterations",
                    held.comparisons,
                    config.holdout_min_comparisons,
                    iterations,
                )
        em = _em(
            pairs,
            starts,
            ends,
            active,
            x,
            config,
            iterations,
            progress=progress,
            stage=f"training member {i + 1}/{config.members}",
        )
        members.append(RankMember(features, em.mean, em.cov, em.noise_var))
        n_pairs, dim = em.pairs, int(x_np.shape[1])
        del x, x_np
    info = {
        "users": int(active.size),
        "pairs": n_pairs,
        "members": len(members),
        "em_iterations": int(iterations),
        "held_out_error": held_error,
        "videos": len(catalog),
        "feature_dim": dim,
        "fusion": catalog.fusion_metadata,
    }
    logger.info(
        "rank prior of %d members learned from %d users, %d pairs, %d features, %d EM iterations",
        len(members),
        active.size,
        n_pairs,
        dim,
        iterations,
    )
    return RankModel(config=config, members=tuple(members), info=info)
