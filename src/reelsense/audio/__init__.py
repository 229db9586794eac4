"""audio layer of reelsense."""

from reelsense.audio.descriptors import (
    AudioDescriptors,
    compute_audio_descriptors,
    estimate_tempo,
    integrated_loudness,
)

__all__ = [
    "AudioDescriptors",
    "compute_audio_descriptors",
    "estimate_tempo",
    "integrated_loudness",
]
