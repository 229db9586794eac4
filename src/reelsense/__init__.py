"""reelsense: understand short-form video with its sound.

The public API (about 30 names; everything else lives in its subpackage):

- batch embedding: :func:`embed_corpus` (what ``reelsense embed`` runs) with
  :class:`FeaturizerConfig` (what to compute) and :class:`RunConfig` (how to run),
  returning an :class:`EmbedSummary`; :class:`VideoFeaturizer` / :class:`VideoFeatures`
  for videos in memory; :func:`plot_embeddings`;
- sounds: :class:`SoundIndex`, :class:`SoundMatch`, :class:`MatchConfig`, :func:`fingerprint`,
  :func:`discover_sounds` / :class:`DiscoveryParams` / :class:`Discovery`;
- trends: :func:`trend_report`, :class:`TrendParams`;
- media: :func:`decode`, :func:`probe`, :func:`read_audio`, :func:`read_frames`,
  :func:`read_sidecar`, :class:`Sidecar`, :class:`Manifest`;
- audio features: :func:`compute_audio_descriptors`, :func:`analyse_presence`;
- fusion: :class:`FusionConfig`, :func:`fuse`;
- errors: :class:`ReelsenseError` and its subclasses.

Names are imported on first use, so ``import reelsense`` is fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reelsense._version import __version__
from reelsense.errors import (
    DecodeError,
    ItemFailedError,
    MediaLimitError,
    ModelNotFoundError,
    NoAudioError,
    NoMediaError,
    OutputError,
    ParameterError,
    ReelsenseError,
    ResumeMismatchError,
    SidecarError,
    SoundIndexError,
    SoundIndexFormatError,
)

if TYPE_CHECKING:
    from reelsense.audio import analyse_presence, compute_audio_descriptors
    from reelsense.featurize import (
        FeaturizerConfig,
        VideoFeatures,
        VideoFeaturizer,
        embed_corpus,
        plot_embeddings,
    )
    from reelsense.fusion import FusionConfig, fuse
    from reelsense.io import Manifest, Sidecar, decode, probe, read_audio, read_frames, read_sidecar
    from reelsense.pipeline import EmbedSummary, RunConfig
    from reelsense.sounds import (
        Discovery,
        DiscoveryParams,
        MatchConfig,
        SoundIndex,
        SoundMatch,
        discover_sounds,
        fingerprint,
    )
    from reelsense.trends import TrendParams, trend_report

_LAZY = {
    "embed_corpus": "reelsense.featurize",
    "FeaturizerConfig": "reelsense.featurize",
    "VideoFeaturizer": "reelsense.featurize",
    "VideoFeatures": "reelsense.featurize",
    "plot_embeddings": "reelsense.featurize",
    "RunConfig": "reelsense.pipeline",
    "EmbedSummary": "reelsense.pipeline",
    "SoundIndex": "reelsense.sounds",
    "SoundMatch": "reelsense.sounds",
    "MatchConfig": "reelsense.sounds",
    "fingerprint": "reelsense.sounds",
    "discover_sounds": "reelsense.sounds",
    "DiscoveryParams": "reelsense.sounds",
    "Discovery": "reelsense.sounds",
    "trend_report": "reelsense.trends",
    "TrendParams": "reelsense.trends",
    "decode": "reelsense.io",
    "probe": "reelsense.io",
    "read_audio": "reelsense.io",
    "read_frames": "reelsense.io",
    "read_sidecar": "reelsense.io",
    "Sidecar": "reelsense.io",
    "Manifest": "reelsense.io",
    "compute_audio_descriptors": "reelsense.audio",
    "analyse_presence": "reelsense.audio",
    "FusionConfig": "reelsense.fusion",
    "fuse": "reelsense.fusion",
}

__all__ = [
    "DecodeError",
    "Discovery",
    "DiscoveryParams",
    "EmbedSummary",
    "FeaturizerConfig",
    "FusionConfig",
    "ItemFailedError",
    "Manifest",
    "MatchConfig",
    "MediaLimitError",
    "ModelNotFoundError",
    "NoAudioError",
    "NoMediaError",
    "OutputError",
    "ParameterError",
    "ReelsenseError",
    "ResumeMismatchError",
    "RunConfig",
    "Sidecar",
    "SidecarError",
    "SoundIndex",
    "SoundIndexError",
    "SoundIndexFormatError",
    "SoundMatch",
    "TrendParams",
    "VideoFeatures",
    "VideoFeaturizer",
    "__version__",
    "analyse_presence",
    "compute_audio_descriptors",
    "decode",
    "discover_sounds",
    "embed_corpus",
    "fingerprint",
    "fuse",
    "plot_embeddings",
    "probe",
    "read_audio",
    "read_frames",
    "read_sidecar",
    "trend_report",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reelsense' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
