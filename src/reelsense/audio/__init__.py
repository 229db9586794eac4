"""audio layer of reelsense."""

from reelsense.audio.descriptors import (
    AudioDescriptors,
    compute_audio_descriptors,
    estimate_tempo,
    integrated_loudness,
)
from reelsense.audio.embedding import (
    AudioEncoder,
    LogMelConfig,
    load_audio_encoder,
    logmel,
    logmel_statistics,
    statistics_dim,
)
from reelsense.audio.fingerprint import Fingerprint, FingerprintParams, Peaks, fingerprint
from reelsense.audio.index import IndexStats, SoundIndex, SoundInfo
from reelsense.audio.match import MatchConfig, SoundMatch
from reelsense.audio.presence import AudioPresence, PresenceConfig, analyse_presence

__all__ = [
    "AudioDescriptors",
    "AudioEncoder",
    "AudioPresence",
    "Fingerprint",
    "FingerprintParams",
    "IndexStats",
    "LogMelConfig",
    "MatchConfig",
    "Peaks",
    "PresenceConfig",
    "SoundIndex",
    "SoundInfo",
    "SoundMatch",
    "analyse_presence",
    "compute_audio_descriptors",
    "estimate_tempo",
    "fingerprint",
    "integrated_loudness",
    "load_audio_encoder",
    "logmel",
    "logmel_statistics",
    "statistics_dim",
]
