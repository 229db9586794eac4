"""Fusion configuration and version."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from reelsense._checks import check_bool, check_finite, check_int
from reelsense.errors import ParameterError

__all__ = ["FUSION_VERSION", "MODALITIES", "VECTOR_COLUMNS", "FusionConfig"]

#: Bump when the fusion maths change (a stored embedding of another version is not comparable).
FUSION_VERSION = 2

#: The fused components, in the order of the ``modality_mask`` struct.
MODALITIES: tuple[str, ...] = ("visual", "caption", "audio", "sound")

#: modality -> the ``reelsense embed`` output column holding its vector (the sound has none:
#: it enters through ``sound_id``/``sound_cluster``). The one mapping every reader uses.
VECTOR_COLUMNS: dict[str, str] = {m: f"{m}_vector" for m in MODALITIES if m != "sound"}


@dataclass(frozen=True)
class FusionConfig:
    """How modality vectors become one video embedding (the maths: :mod:`reelsense.fusion`).

    Attributes:
        dim: size of the fused embedding (default 1024: with five parts summed in one space,
            the random cross terms at 512 moved same-sound hit@5 by +-0.01 between seeds).
        seed: selects the fixed random projections and sound-identity directions; two
            outputs are comparable only with the same seed (and dim and version).
        visual_weight, caption_weight, audio_weight, sound_weight: the weight ``w_m`` of
            each component (``>= 0``; 0 drops it). The fused cosine of two videos is about
            ``sum_m a_m a'_m cos_m`` with ``a_m = w_m / sqrt(sum of w^2 over the present
            components)``.
        min_sound_score: index matches below this score give no sound component (the
            matcher's own threshold applies first).
        center_visual: subtract each visual vector's own channel mean before normalising
            it (data-free: a function of the row alone). Pooled CNN features are
            non-negative, so unrelated pictures share a large common direction; centring
            lowers their cosine (about 0.31 -> 0.10 on the dev pictures) while near-duplicate
            pictures stay near 1.
        picture_weight: weight of the *picture part* of the visual component: random
            Fourier features of the centred visual vector whose inner product is about
            ``exp(-(1 - cos_visual) / picture_bandwidth)`` (a Gaussian kernel on the unit
            sphere). Near 1 for the same picture (a repost, mirrored or re-captioned), near 0
            for different pictures, so a re-upload with another sound keeps its original
            close however many videos share that sound. 0 drops it.
        picture_bandwidth: the kernel's width ``s`` (``> 0``): visual cosine 0.98 -> 0.87,
            0.8 -> 0.26, 0.3 -> 0.01 with the default 0.15.
        audio_stand_in: for a video whose soundtrack holds music (``music`` in
            :func:`~reelsense.fusion.fuse`) but that has no sound component (no index match,
            no discovered group), the audio vector takes the sound's place: its weight
            becomes ``sqrt(audio_weight^2 + sound_weight^2)``, so two uses of an unnamed
            sound are compared on their audio as much as two named uses on their identity.
    """

    dim: int = 1024
    seed: int = 0
    visual_weight: float = 1.0
    caption_weight: float = 0.5
    audio_weight: float = 0.5
    sound_weight: float = 1.0
    min_sound_score: float = 0.0
    center_visual: bool = True
    picture_weight: float = 1.0
    picture_bandwidth: float = 0.15
    audio_stand_in: bool = True

    def __post_init__(self) -> None:
        if not 8 <= check_int(self.dim, "fusion dim") <= 65536:
            raise ParameterError(f"fusion dim={self.dim} must be in 8..65536")
        check_int(self.seed, "fusion seed", minimum=0)
        for name in ("center_visual", "audio_stand_in"):  # a string such as "no" read as True
            object.__setattr__(self, name, check_bool(getattr(self, name), name))
        for name in (  # each a finite number; the signs below
            *(f"{m}_weight" for m in MODALITIES),
            "picture_weight",
            "picture_bandwidth",
            "min_sound_score",
        ):
            check_finite(getattr(self, name), name)
        for name in MODALITIES:
            if self.weight(name) < 0.0:
                raise ParameterError(f"{name}_weight={self.weight(name)} must be finite and >= 0")
        if self.picture_weight < 0.0:
            raise ParameterError(f"picture_weight={self.picture_weight} must be finite and >= 0")
        if self.picture_bandwidth <= 0.0:
            raise ParameterError(f"picture_bandwidth={self.picture_bandwidth} must be finite and > 0")
        if sum(self.weight(name) for name in MODALITIES) + self.picture_weight <= 0.0:
            raise ParameterError("at least one fusion weight must be > 0")

    def weight(self, modality: str) -> float:
        """``w_m`` of a modality name in :data:`MODALITIES`."""
        if modality not in MODALITIES:
            raise ParameterError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
        return float(getattr(self, f"{modality}_weight"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (written into the output with :data:`FUSION_VERSION`)."""
        return {"version": FUSION_VERSION, **asdict(self)}
