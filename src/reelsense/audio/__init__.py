"""Audio features of a soundtrack (sound identity is :mod:`reelsense.sounds`).

- :func:`compute_audio_descriptors`: loudness, tempo, spectral shape (:class:`AudioDescriptors`).
- :func:`analyse_presence`: speech and music presence, the voice-over flag (:class:`AudioPresence`).
- :func:`load_audio_encoder` / :class:`AudioEncoder`: the audio embedding (log-mel statistics, or
  an AST-style model from the registry).
"""

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
from reelsense.audio.presence import AudioPresence, PresenceConfig, analyse_presence

__all__ = [
    "AudioDescriptors",
    "AudioEncoder",
    "AudioPresence",
    "LogMelConfig",
    "PresenceConfig",
    "analyse_presence",
    "compute_audio_descriptors",
    "estimate_tempo",
    "integrated_loudness",
    "load_audio_encoder",
    "logmel",
    "logmel_statistics",
    "statistics_dim",
]
