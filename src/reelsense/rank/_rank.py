"""Ranking: each user's posterior taste, filters and the per-sound cap."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reelsense._checks import check_int
from reelsense._progress import ProgressCallback
from reelsense.errors import ParameterError
from reelsense.rank._catalog import Catalog
from reelsense.rank._events import EventLog
from reelsense.rank._model import (
    RankModel,
    _padded,
    _spans,
    _user_batches,
    pair_feedback,
    posterior,
)

__all__ = ["Feed", "RankReport", "check_embedding_models", "rank_users", "select_diverse"]

logger = logging.getLogger(__name__)

#: users scored together (one matrix product per chunk)
_CHUNK = 256


@dataclass(frozen=True)
class Feed:
    """One user's feed: ``video_ids`` best first with their ``scores`` (the predicted
    feedback value)."""

    user_id: str
    video_ids: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class RankReport:
    """What ranking did besides ranking.

    Attributes:
        cold_users: users with no event before their request time (they got the
            population's feed: popular content, one video per sound at most ``max_per_sound``).
        negative_only_users: users whose feedback was all negative.
        filtered: videos left out as near-duplicates of a "not interested" video (among
            the best-scored candidates), summed over users.
    """

    cold_users: tuple[str, ...]
    negative_only_users: tuple[str, ...]
    filtered: int


#: the entry of the embeddings' ``models`` metadata that names the model of each vector column
_MODEL_KEY = {"visual": "image", "caption": "text", "audio": "audio"}


def _models(fusion_metadata: str) -> dict[str, str] | None:
    """The ``models`` record of an embeddings file's ``reelsense.fusion`` metadata (None: absent)."""
    if not fusion_metadata:
        return None
    try:
        record = json.loads(fusion_metadata)
    except ValueError:
        return None
    models = record.get("models") if isinstance(record, dict) else None
    return {str(k): str(v) for k, v in models.items()} if isinstance(models, dict) else None


def check_embedding_models(model: RankModel, catalog: Catalog) -> None:
    """Refuse a catalog whose vectors came from other models than those the ranker was trained on.

    A ranker's features are fitted on the vector columns it read at training (projections and
    clusters of the visual and caption vectors): vectors of another model, even of the same
    size, land on meaningless clusters. Both sides' models are in the embeddings' metadata (the
    trained model keeps its catalog's, :attr:`RankModel.info`); when only one side records them a
    warning says so, and when neither does (vectors written by another tool) nothing is checked.

    Raises:
        ParameterError: a modality the ranker reads was embedded by another model.
    """
    trained = _models(str(model.info.get("fusion", "") or ""))
    now = _models(catalog.fusion_metadata)
    if trained is None and now is None:
        return
    if trained is None or now is None:
        logger.warning(
            "the %s records no embedding models: cannot check that the ranker and the embeddings "
            "use the same ones",
            "ranker" if trained is None else "embeddings file",
        )
        return
    read = sorted({name for member in model.members for name in member.features.projections})
    for modality in read:
        key = _MODEL_KEY.get(modality, modality)
        if trained.get(key) != now.get(key):
            raise ParameterError(
                f"the ranker was trained on {modality} vectors of model {trained.get(key)!r} and these "
                f"embeddings' are of {now.get(key)!r}: embed with the same models, or train the "
                "ranker on these embeddings"
            )


def select_diverse(
    order: np.ndarray, sound_keys: Sequence[str | None], k: int, max_per_sound: int
) -> list[int]:
    """The first ``k`` of ``order`` (video rows, best first) with at most ``max_per_sound``
    per sound key (0: no cap); videos without a sound are not capped. If the cap leaves
    fewer than ``k``, the best capped ones fill the rest. Raises ParameterError for ``k < 1``
    or ``max_per_sound < 0``."""
    k = check_int(k, "k", minimum=1)
    max_per_sound = check_int(max_per_sound, "max_per_sound", minimum=0)
    picked: list[int] = []
    skipped: list[int] = []
    used: dict[str, int] = {}
    for i in order:
        key = sound_keys[int(i)]
        if max_per_sound and key is not None and used.get(key, 0) >= max_per_sound:
            skipped.append(int(i))
            continue
        picked.append(int(i))
        if key is not None:
            used[key] = used.get(key, 0) + 1
        if len(picked) == k:
            return picked
    return picked + skipped[: k - len(picked)]


def _no_history(cold: Sequence[str], absent: Sequence[str]) -> str:
    """Why ``require_history`` refuses: the users with no event before their request time
    (``cold``), those of them not in the events at all (``absent``), each example named once."""
    if len(cold) == 1:
        said = f"1 user has no event before their request time: {cold[0]!r}"
        return said + (" (not in the events at all)" if absent else "")
    said = f"{len(cold)} users have no event before their request time, e.g. {cold[0]!r}"
    if not absent:
        return said
    if len(absent) == len(cold):
        return f"{said} (none of them in the events at all)"
    if absent[0] != cold[0]:
        return f"{said} ({len(absent)} of them not in the events at all, e.g. {absent[0]!r})"
    if len(absent) == 1:
        return f"{said} (the only one of them not in the events at all)"
    return f"{said} ({len(absent)} of them not in the events at all, this one included)"


def rank_users(
    model: RankModel,
    catalog: Catalog,
    log: EventLog,
    request_times: dict[str, float],
    *,
    k: int = 10,
    require_history: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[list[Feed], RankReport]:
    """Rank ``k`` unseen videos for each user of ``request_times`` (in its order), from the
    user's events before the request time and the model's prior.

    Seen videos (any event before the request time) are never listed; videos that are
    near-duplicates of one the user marked "not interested" are left out (unless the model
    is the positive-only variant); at most ``max_per_sound`` videos share a sound.
    ``progress(stage, done, total)`` follows the posteriors of the users with history (stage
    "user tastes") and their feeds ("ranking users").

    Raises:
        ParameterError: ``k < 1``, the catalog's vectors come from other models than those the
            model was trained on (:func:`check_embedding_models`), or ``require_history`` and a
            user has no events.
    """
    import torch

    k = check_int(k, "k", minimum=1)
    check_embedding_models(model, catalog)
    config = model.config
    # the members' features, float32 [videos, d]; a score is the mean of their predictions.
    # Members with the first's projections (all of a model trained here) share its coordinates.
    first = model.members[0].features
    coordinates = first.coordinates(catalog)
    xs = [
        member.features.transform(
            catalog, coordinates=coordinates if member.features.same_projections(first) else None
        )
        for member in model.members
    ]
    for x_m, member in zip(xs, model.members, strict=True):
        if x_m.shape[1] != member.prior_mean.size:
            raise ParameterError(f"features have {x_m.shape[1]} dims, the model {member.prior_mean.size}")
    log = log.before(request_times)
    pairs = pair_feedback(log, config)
    n_users = len(log.users)
    starts, ends = _spans(pairs, n_users)
    code = {u: i for i, u in enumerate(log.users)}
    wanted = [code[u] for u in request_times if u in code and ends[code[u]] > starts[code[u]]]
    cold = tuple(u for u in request_times if u not in code or ends[code[u]] <= starts[code[u]])
    absent = [u for u in cold if u not in code]  # an id the log spells otherwise ("7" and "7.0")
    absent_note = f" ({len(absent)} of them none in the events at all, e.g. {absent[0]!r})" if absent else ""
    if require_history and cold:
        raise ParameterError(_no_history(cold, absent))
    if cold:
        logger.warning(
            "%d users have no events before their request time%s: popular + diverse feed",
            len(cold),
            absent_note,
        )
    tastes: list[dict[int, np.ndarray]] = [{} for _ in model.members]
    done = 0
    if wanted:
        for users in _user_batches(pairs, np.asarray(wanted, dtype=np.int64), max(x.shape[1] for x in xs)):
            for x_m, member, taste in zip(xs, model.members, tastes, strict=True):
                feats, y = _padded(pairs, starts, ends, users, torch.from_numpy(x_m))
                m, _, _ = posterior(
                    feats,
                    y,
                    torch.from_numpy(member.prior_mean),
                    torch.from_numpy(member.prior_cov),
                    member.noise_var,
                )
                for u, w in zip(users, m.numpy(), strict=True):
                    taste[int(u)] = w
            done += users.size
            if progress is not None:
                progress("user tastes", done, len(wanted))
    all_seen = _rows_by_user(log)
    unit = catalog.unit_embedding()
    sounds = catalog.sound_key_list()
    feeds: list[Feed] = []
    filtered = 0
    negative_only = []
    names = list(request_times)
    pool_size = min(len(catalog), max(500, 50 * k))
    no_rows = np.zeros(0, dtype=np.int64)
    for chunk in range(0, len(names), _CHUNK):
        group = names[chunk : chunk + _CHUNK]
        score_block = np.zeros((len(catalog), len(group)), dtype=np.float32)  # [videos, users]
        for x_m, member, taste in zip(xs, model.members, tastes, strict=True):
            weights = np.stack([taste.get(code.get(user, -1), member.prior_mean) for user in group])
            score_block += x_m @ weights.T.astype(np.float32)
        score_block /= len(model.members)
        seen, disliked = [], []
        for user in group:
            u = code.get(user)
            if u is None:
                seen.append(no_rows)
                disliked.append(no_rows)
                continue
            seen.append(all_seen.get(u, no_rows))
            s, e = starts[u], ends[u]
            if e > s and (pairs.value[s:e] <= 0).all():
                negative_only.append(user)
            disliked.append(pairs.video[s:e][pairs.disliked[s:e]])
        scores = np.ascontiguousarray(score_block.T)  # [users, videos]
        for user, (picked, dropped), row in zip(
            group,
            _pick_feeds(
                scores,
                seen,
                disliked,
                unit,
                sounds,
                k=k,
                pool_size=pool_size,
                max_per_sound=config.max_per_sound,
                near_duplicate_cosine=config.near_duplicate_cosine,
            ),
            scores,
            strict=True,
        ):
            filtered += dropped
            feeds.append(
                Feed(user, tuple(catalog.video_ids[i] for i in picked), tuple(float(row[i]) for i in picked))
            )
        if progress is not None:
            progress("ranking users", len(feeds), len(names))
    return feeds, RankReport(cold_users=cold, negative_only_users=tuple(negative_only), filtered=filtered)


def _pick_feeds(
    scores: np.ndarray,
    seen: Sequence[np.ndarray],
    disliked: Sequence[np.ndarray],
    unit: np.ndarray,
    sound_keys: Sequence[str | None],
    *,
    k: int,
    pool_size: int,
    max_per_sound: int,
    near_duplicate_cosine: float,
) -> list[tuple[list[int], int]]:
    """The feed of each user of a chunk: ``(picked video rows, best first; videos dropped as
    near-duplicates)`` per row of ``scores`` (float32 ``[users, videos]``).

    A user's candidates are the ``pool_size`` best-scored videos not in ``seen[user]`` (one
    ``argpartition`` over the chunk), less those whose cosine (rows of ``unit``) with a video of
    ``disliked[user]`` is at least ``near_duplicate_cosine``; they are ordered by score, then
    row, and :func:`select_diverse` takes ``k`` of them. When the pool leaves fewer than ``k``,
    the user's whole unseen catalogue is the pool.
    """
    from threadpoolctl import threadpool_limits

    n_users, n_videos = scores.shape
    allowed = np.ones((n_users, n_videos), dtype=bool)
    lengths = np.array([rows.size for rows in seen], dtype=np.int64)
    if lengths.sum():
        allowed[np.repeat(np.arange(n_users), lengths), np.concatenate(list(seen))] = False
    pools = None
    if pool_size < n_videos:
        # the best first: partition the negated scores, seen videos at +inf
        pools = np.argpartition(np.where(allowed, -scores, np.inf), pool_size - 1, axis=1)[:, :pool_size]
    out: list[tuple[list[int], int]] = []
    # the products below are small: BLAS threads cost more than they save
    with threadpool_limits(limits=1, user_api="blas"):
        for user in range(n_users):
            for size in (pool_size, n_videos):
                pool = pools[user] if pools is not None and size < n_videos else np.arange(n_videos)
                pool = pool[allowed[user, pool]]
                dropped = 0
                if disliked[user].size and pool.size:
                    # near-duplicates of a "not interested" video, among the candidates
                    near = (unit[pool] @ unit[disliked[user]].T).max(axis=1) >= near_duplicate_cosine
                    dropped = int(near.sum())
                    pool = pool[~near]
                row = scores[user]
                order = pool[np.lexsort((pool, -row[pool]))]
                picked = select_diverse(order, sound_keys, k, max_per_sound)
                if len(picked) == k or size == n_videos:
                    break
            out.append((picked, dropped))
    return out


def _rows_by_user(log: EventLog) -> dict[int, np.ndarray]:
    if len(log) == 0:
        return {}
    starts = np.r_[0, np.flatnonzero(np.diff(log.user)) + 1]
    ends = np.r_[starts[1:], len(log)]
    return {int(log.user[s]): np.unique(log.video[s:e]) for s, e in zip(starts, ends, strict=True)}
