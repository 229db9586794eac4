"""Fusion configuration and version."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from reelsense.errors import ParameterError

__all__ = ["FUSION_VERSION", "MODALITIES", "FusionConfig"]

#: Bump when the fusion maths change (a stored embedding of another version is not comparable).
FUSION_VERSION = 1

#: The fused components, in the order of the ``modality_mask`` struct.
MODALITIES: tuple[str, ...] = ("visual", "caption", "audio", "sound")


@dataclass(frozen=True)
class FusionConfig:
    """How modality vectors become one video embedding (the maths: :mod:`reelsense.fusion`).

    Attributes:
        dim: size of the fused embedding (default 512).
        seed: selects the fixed random projections and sound-identity directions; two
            outputs are comparable only with the same seed (and dim and version).
        visual_weight, caption_weight, audio_weight, sound_weight: the weight ``w_m`` of
            each component (``>= 0``; 0 drops it). The fused cosine of two videos is about
            ``sum_m a_m a'_m cos_m`` with ``a_m = w_m / sqrt(sum of w^2 over the present
            components)``.
        min_sound_score: index matches below this score give no sound component (the
            matcher's own threshold applies first).
    """

    dim: int = 512
    seed: int = 0
    visual_weight: float = 1.0
    caption_weight: float = 0.5
    audio_weight: float = 0.5
    sound_weight: float = 1.0
    min_sound_score: float = 0.0

    def __post_init__(self) -> None:
        if not 8 <= self.dim <= 65536:
            raise ParameterError(f"fusion dim={self.dim} must be in 8..65536")
        if self.seed < 0:
            raise ParameterError(f"fusion seed={self.seed} must be >= 0")
        for name in MODALITIES:
            weight = self.weight(name)
            if not (math.isfinite(weight) and weight >= 0.0):
                raise ParameterError(f"{name}_weight={weight} must be finite and >= 0")
        if sum(self.weight(name) for name in MODALITIES) <= 0.0:
            raise ParameterError("at least one fusion weight must be > 0")
        if not math.isfinite(self.min_sound_score):
            raise ParameterError(f"min_sound_score={self.min_sound_score} must be finite")

    def weight(self, modality: str) -> float:
        """``w_m`` of a modality name in :data:`MODALITIES`."""
        if modality not in MODALITIES:
            raise ParameterError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
        return float(getattr(self, f"{modality}_weight"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (written into the output with :data:`FUSION_VERSION`)."""
        return {"version": FUSION_VERSION, **asdict(self)}
