"""Rank videos for users from what they did: ``reelsense rank``.

Reads a ``reelsense embed`` output (:func:`read_catalog`) and an interaction log
(:func:`read_events`: ``user_id,video_id,timestamp,event,watch_fraction``), learns across
users which directions of the content matter (:func:`train_ranker`, the model in
:mod:`reelsense.rank._model`) and ranks unseen videos per user (:func:`rank_users`).
Positive events (long views, likes, shares, saves) and negative ones (short views, skips,
"not interested") both count, with the weights of :class:`EventWeights`. Trained models
are saved as safetensors plus JSON (:meth:`RankModel.save`, :func:`load_model`).
"""

from reelsense.rank._catalog import Catalog, read_catalog
from reelsense.rank._events import EVENTS, EventLog, EventWeights, LogReport, read_events, read_users
from reelsense.rank._features import FeatureConfig, FeatureMap, fit_features
from reelsense.rank._fusion_files import apply_fusion_file, co_engagement_pairs, train_fusion_file
from reelsense.rank._model import (
    RANK_MODEL_VERSION,
    RankConfig,
    RankMember,
    RankModel,
    load_model,
    train_ranker,
)
from reelsense.rank._rank import Feed, RankReport, rank_users, select_diverse
from reelsense.rank._run import FeedSummary, rank_files, train_files

__all__ = [
    "EVENTS",
    "RANK_MODEL_VERSION",
    "Catalog",
    "EventLog",
    "EventWeights",
    "FeatureConfig",
    "FeatureMap",
    "Feed",
    "FeedSummary",
    "LogReport",
    "RankConfig",
    "RankMember",
    "RankModel",
    "RankReport",
    "apply_fusion_file",
    "co_engagement_pairs",
    "fit_features",
    "load_model",
    "rank_files",
    "rank_users",
    "read_catalog",
    "read_events",
    "read_users",
    "select_diverse",
    "train_files",
    "train_fusion_file",
    "train_ranker",
]
