"""``FeaturizerConfig``: what to compute for each video (the models, frames, sound index, fusion).

The one config of the featurizer, used alike by the CLI (``reelsense embed``), the library
(:func:`reelsense.embed_corpus`, :class:`reelsense.VideoFeaturizer`) and the Ray engine's
model actors (which rebuild their stages from it). How the job runs is a
:class:`reelsense.pipeline.RunConfig`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

from reelsense._checks import (
    check_bool,
    check_choice,
    check_finite,
    check_int,
    check_positive,
    check_sample_rate,
)
from reelsense.errors import ParameterError
from reelsense.fusion import FusionConfig
from reelsense.io import FrameSampling

if TYPE_CHECKING:
    from reelsense.io import FrameStrategy
    from reelsense.sounds.match import DenseScope

__all__ = ["DEFAULT_FRAME_STRATEGY", "DEFAULT_MAX_FRAMES", "FEATURIZER_KEY", "FeaturizerConfig"]

#: Parquet metadata key of :meth:`FeaturizerConfig.record`.
FEATURIZER_KEY = "reelsense.featurizer"

#: The default frame sampling strategy and cap (key frames, at most 16 per video).
DEFAULT_FRAME_STRATEGY: FrameStrategy = "keyframes"
DEFAULT_MAX_FRAMES = 16
#: The sound match's default lowest score: ``MatchConfig().threshold`` (not imported here, so
#: that a config does not load the matcher; a test checks they agree).
DEFAULT_MIN_SCORE = 2.0

_PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_POOLINGS = ("mean", "duration")


@dataclass(frozen=True)
class FeaturizerConfig:
    """What to compute for each video.

    Attributes:
        preset: the models (:func:`reelsense.models.list_presets`: ``default``, ``clip``,
            ``siglip``, ``tiny``...); ``"none"``: no models and no embedding (metadata and
            audio descriptors only).
        device: ``auto`` (cuda > mps > cpu), ``cpu``, ``cuda``, ``cuda:N``, ``mps``. With
            ``engine="ray"``: ``auto``, ``cpu`` or ``cuda``, which decide the model actors'
            GPUs (:func:`~reelsense.pipeline._ray.actor_gpus`); the others are refused.
        precision: ``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32``, ``fp16``, ``bf16``.
        frames: None = the default sampling for the image model (key frames, at most 16,
            decoded at a size whose short side covers the model's input for 9:16 frames);
            a strategy name (``keyframes``, ``scenes``, ``uniform``, ``count``) = that
            strategy at the default size and cap; or a :class:`~reelsense.io.FrameSampling`.
        pooling: ``mean`` of the L2-normalised frame vectors, or ``duration``-weighted.
        frame_vectors: also keep the per-frame vectors (``frame_vectors`` column).
        batch_size: frames per image-model pass, an integer >= 1 (None: 8 on the CPU, 64 on CUDA).
        sound_index: a sound index file (``reelsense sounds add``), or a folder of reference
            sounds indexed on the fly; adds the sound match columns and the sound-identity
            component of the embedding.
        second_chance: with ``sound_index``, also run the dense second chance of the sound
            match (:attr:`~reelsense.sounds.MatchConfig.dense_second_chance`) on videos the
            peak search leaves unmatched or weak, in the per-video match and in the discovery's
            library look-up: finds reverberant uses under a voice-over and noise, at a CPU cost
            per such video linear in the index's length.
        min_score: with ``sound_index``, the lowest score of a sound match (``-log10`` of its
            estimated false-match probability; the matcher's default 2.0 is a 1 % chance),
            as ``reelsense sounds match --min-score``. The discovery keeps its own.
        second_chance_scope: the sounds the second chance searches
            (:attr:`~reelsense.sounds.MatchConfig.dense_scope`): ``"library"`` (every sound) or
            ``"candidates"`` (the peak search's candidate sounds: bounded CPU).
        discover_sounds: after the per-video pass, group the videos that share a sound (no
            library needed) into ``sound_cluster`` and fuse it into the embeddings.
        presence: speech/music presence columns.
        fusion: :class:`~reelsense.fusion.FusionConfig` (size, seed, weights).
        audio_sample_rate: rate (Hz, an integer in 8000..384000) of the audio the stages analyse.
        limit_duration_seconds: analyse at most the first so many seconds of each file (a
            finite number > 0; None: the whole file).
        offline: never ask the Hugging Face hub for weights (None: ``HF_HUB_OFFLINE``).
    """

    preset: str = "default"
    device: str = "auto"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    frames: FrameSampling | FrameStrategy | None = None
    pooling: Literal["mean", "duration"] = "mean"
    frame_vectors: bool = False
    batch_size: int | None = None
    sound_index: str | None = None
    second_chance: bool = False
    second_chance_scope: DenseScope = "library"
    min_score: float = DEFAULT_MIN_SCORE
    discover_sounds: bool = False
    presence: bool = True
    fusion: FusionConfig = field(default_factory=FusionConfig)
    audio_sample_rate: int = 22050
    limit_duration_seconds: float | None = None
    offline: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fusion, FusionConfig):
            raise ParameterError(f"fusion={self.fusion!r} must be a FusionConfig (e.g. FusionConfig(dim=8))")
        if not isinstance(self.preset, str):
            raise ParameterError(f"preset={self.preset!r} must be a preset name (str)")
        if self.frames is not None and not isinstance(self.frames, FrameSampling | str):
            raise ParameterError(f"frames={self.frames!r} must be a FrameSampling or a strategy name (str)")
        if self.sound_index is not None and not isinstance(self.sound_index, str | os.PathLike):
            raise ParameterError(f"sound_index={self.sound_index!r} must be a path (str or os.PathLike)")
        if self.sound_index is not None and not isinstance(self.sound_index, str):
            object.__setattr__(self, "sound_index", os.fspath(self.sound_index))
        # flags: True or False (a string such as "no" was read as True); offline may be None (HF_HUB_OFFLINE)
        for name in ("frame_vectors", "second_chance", "discover_sounds", "presence"):
            object.__setattr__(self, name, check_bool(getattr(self, name), name))
        if self.offline is not None:
            object.__setattr__(self, "offline", check_bool(self.offline, "offline"))
        if self.second_chance and self.sound_index is None:
            raise ParameterError("second_chance=True needs a sound_index (it is part of the sound match)")
        if check_finite(self.min_score, "min_score") < 0.0:  # a score is -log10 of a probability
            raise ParameterError(f"min_score={self.min_score} must be >= 0")
        if self.min_score != DEFAULT_MIN_SCORE and self.sound_index is None:
            raise ParameterError(f"min_score={self.min_score} needs a sound_index (it is the sound match's)")
        if self.second_chance_scope != "library":  # the sounds package only when another is asked for
            from reelsense.sounds.match import DENSE_SCOPES

            check_choice(self.second_chance_scope, "second_chance_scope", DENSE_SCOPES)
        check_choice(self.precision, "precision", _PRECISIONS)
        check_choice(self.pooling, "pooling", _POOLINGS)
        if isinstance(self.frames, str):
            FrameSampling(strategy=self.frames)  # raises on an unknown strategy
        if self.batch_size is not None:  # an integer (1.5, True and NaN refused), as a Python int
            object.__setattr__(self, "batch_size", check_int(self.batch_size, "batch_size", minimum=1))
        # the one accepted range, 8000..384000 Hz (below 8000 the loudness filter's shelf nears Nyquist)
        rate = check_sample_rate(self.audio_sample_rate, "audio_sample_rate")
        object.__setattr__(self, "audio_sample_rate", rate)
        if self.limit_duration_seconds is not None:  # finite and > 0 (a bool, a string, NaN refused)
            seconds = check_positive(self.limit_duration_seconds, "limit_duration_seconds")
            object.__setattr__(self, "limit_duration_seconds", seconds)
        if self.preset == "none":
            used = [
                name
                for name, value in (
                    ("sound_index", self.sound_index),
                    ("discover_sounds", self.discover_sounds),
                    ("frame_vectors", self.frame_vectors),
                    ("frames", self.frames),
                )
                if value
            ]
            if used:
                raise ParameterError(
                    f"preset 'none' computes no embedding: {', '.join(used)} cannot be used with it"
                )

    def record(self) -> dict[str, object]:
        """The fields that shape the rows, JSON-able (written into the output as
        ``reelsense.featurizer`` and compared before a resume loads any model). The sound
        index is recorded as used or not: its content is compared by digest later;
        ``second_chance`` only when set, its scope only when not ``library``, ``min_score``
        only when not the default (outputs made before they existed still resume)."""
        frames = asdict(self.frames) if isinstance(self.frames, FrameSampling) else self.frames
        if frames == DEFAULT_FRAME_STRATEGY:  # the default named: the same sampling as None
            frames = None
        extra: dict[str, object] = {"second_chance": True} if self.second_chance else {}
        if self.second_chance and self.second_chance_scope != "library":
            extra["second_chance_scope"] = self.second_chance_scope
        if self.min_score != DEFAULT_MIN_SCORE:
            extra["min_score"] = self.min_score
        return {
            "preset": self.preset,
            "frames": frames,
            "pooling": self.pooling,
            "frame_vectors": self.frame_vectors,
            "sound_index": self.sound_index is not None,
            "discover_sounds": self.discover_sounds,
            "presence": self.presence,
            "fusion": self.fusion.to_dict(),
            "audio_sample_rate": self.audio_sample_rate,
            "limit_duration_seconds": self.limit_duration_seconds,
            **extra,
        }

    @property
    def has_models(self) -> bool:
        """False for the ``none`` preset (metadata and descriptors only)."""
        return self.preset != "none"

    def frame_sampling(self, image_size: int) -> FrameSampling:
        """The frame sampling for an image model of input size ``image_size`` (``frames``
        resolved: the default size is ``ceil(image_size * 16 / 9)`` on the long side)."""
        if isinstance(self.frames, FrameSampling):
            return self.frames
        max_side = -(-image_size * 16 // 9)
        return FrameSampling(
            strategy=self.frames or DEFAULT_FRAME_STRATEGY, max_side=max_side, max_frames=DEFAULT_MAX_FRAMES
        )
