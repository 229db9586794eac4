"""audio layer of reelsense."""

from reelsense.audio.descriptors import (
    AudioDescriptors,
    compute_audio_descriptors,
    estimate_tempo,
    integrated_loudness,
)
from reelsense.audio.fingerprint import Fingerprint, FingerprintParams, Peaks, fingerprint
from reelsense.audio.index import IndexStats, SoundIndex, SoundInfo
from reelsense.audio.match import MatchConfig, SoundMatch

__all__ = [
    "AudioDescriptors",
    "Fingerprint",
    "FingerprintParams",
    "IndexStats",
    "MatchConfig",
    "Peaks",
    "SoundIndex",
    "SoundInfo",
    "SoundMatch",
    "compute_audio_descriptors",
    "estimate_tempo",
    "fingerprint",
    "integrated_loudness",
]
