"""Model entries: what a model is, where its weights come from and how to feed it.

A :class:`ModelEntry` is pure data (a frozen dataclass). It carries everything the
encoders need to prepare inputs the way the model was trained (image size, mean/std,
crop policy, resize interpolation, token budget, pooling) and where its weights live
(an installed package, a local directory or a Hugging Face hub id). Loading code in
``reelsense.vision`` and ``reelsense.text`` reads only these fields, so a new model
is a new entry, not new code.

Entries whose preprocessing is not known up front (a hub id or a directory given by
name) have ``image``/``text`` left ``None``; :func:`reelsense.models.resolve_model`
fills them in from the model's own ``config.json`` / ``preprocessor_config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from reelsense._checks import check_choice, check_sample_rate, check_str
from reelsense.errors import ParameterError

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "EFFICIENTNET_LITE_MEAN",
    "EFFICIENTNET_LITE_STD",
    "Architecture",
    "AudioSpec",
    "BuiltinSource",
    "CropPolicy",
    "DirectorySource",
    "HubSource",
    "ImageSpec",
    "Interpolation",
    "Modality",
    "ModelEntry",
    "ModelSource",
    "PackageSource",
    "PortraitPolicy",
    "TextPadding",
    "TextPooling",
    "TextSpec",
]

Modality = Literal["image", "text", "audio"]
Architecture = Literal[
    "efficientnet_lite", "sentence_transformer", "hf_dual_encoder", "logmel_stats", "hf_audio", "auto"
]
"""``auto``: not known until the weights are found (a hub id or a directory given by name).
``logmel_stats``: the built-in log-mel statistics audio embedding (no weights); ``hf_audio``:
a ``transformers`` audio encoder (AST), see :mod:`reelsense.audio.embedding`."""
Interpolation = Literal["bicubic", "bilinear", "area", "nearest"]
CropPolicy = Literal["center_crop", "resize"]
"""How the model was trained to see a square input: ``center_crop`` (resize the short side,
cut the centre square, as CLIP and EfficientNet do) or ``resize`` (squash to the square,
as SigLIP does)."""
PortraitPolicy = Literal["pad_blur", "pad_mean", "tiles", "center_crop", "resize"]
"""What to do with a frame that is not square (9:16 portrait, 16:9 landscape): see
:mod:`reelsense.vision` for the definitions and the measurement behind the default."""
TextPooling = Literal["mean", "cls", "model"]
TextPadding = Literal["longest", "max_length"]

EFFICIENTNET_LITE_MEAN: tuple[float, float, float] = (127.0 / 255.0,) * 3
"""``(x - mean) / std`` with these values on x in [0, 1] is exactly ``(x*255 - 127) / 128``."""
EFFICIENTNET_LITE_STD: tuple[float, float, float] = (128.0 / 255.0,) * 3
CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ImageSpec:
    """How to turn RGB uint8 frames into the model's input tensor ``[n, 3, S, S]``.

    Attributes:
        image_size: side ``S`` of the square input, pixels.
        mean, std: per-channel normalisation applied to RGB in [0, 1].
        interpolation: resize filter (antialiased when downscaling).
        crop_policy: how the model was trained on near-square images.
        crop_fraction: fraction of the short side kept by ``center_crop`` (0.875 for the
            TF EfficientNet eval pipeline, 1.0 for CLIP).
        portrait_policy: how non-square frames are fitted (see ``PortraitPolicy``).
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: Interpolation = "bicubic"
    crop_policy: CropPolicy = "center_crop"
    crop_fraction: float = 1.0
    portrait_policy: PortraitPolicy = "tiles"

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ParameterError(f"ImageSpec.image_size must be >= 8, got {self.image_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ParameterError(
                f"ImageSpec mean/std must be 3 values with std > 0, got {self.mean}/{self.std}"
            )
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ParameterError(f"ImageSpec.crop_fraction must be in (0, 1], got {self.crop_fraction}")
        check_choice(self.portrait_policy, "ImageSpec.portrait_policy", get_args(PortraitPolicy))
        check_choice(self.interpolation, "ImageSpec.interpolation", get_args(Interpolation))
        check_choice(self.crop_policy, "ImageSpec.crop_policy", get_args(CropPolicy))


@dataclass(frozen=True)
class TextSpec:
    """How to tokenise and pool text.

    Attributes:
        max_tokens: context length including special tokens; longer texts are truncated.
        pooling: ``mean`` over the attention mask, ``cls`` token, or ``model`` (the
            model's own pooled/projected output, as CLIP and SigLIP give).
        padding: ``longest`` in the batch, or ``max_length`` (SigLIP was trained padded
            to its full context and gives different vectors otherwise).
    """

    max_tokens: int
    pooling: TextPooling = "mean"
    padding: TextPadding = "longest"

    def __post_init__(self) -> None:
        if self.max_tokens < 2:
            raise ParameterError(f"TextSpec.max_tokens must be >= 2, got {self.max_tokens}")
        check_choice(self.pooling, "TextSpec.pooling", get_args(TextPooling))
        check_choice(self.padding, "TextSpec.padding", get_args(TextPadding))


@dataclass(frozen=True)
class AudioSpec:
    """How to feed audio to an audio model.

    Attributes:
        sample_rate: rate (Hz) the model expects, an integer in 8000..384000 (the rule of
            :func:`reelsense._checks.check_sample_rate`); input is resampled to it.
        window_seconds: longest excerpt the model sees at once (``None`` = any length);
            longer clips are cut into windows whose outputs are averaged.
        hop_seconds: hop between windows (``None`` = ``window_seconds``, no overlap).
    """

    sample_rate: int
    window_seconds: float | None = None
    hop_seconds: float | None = None

    def __post_init__(self) -> None:
        rate = check_sample_rate(self.sample_rate, "AudioSpec.sample_rate")
        object.__setattr__(self, "sample_rate", rate)
        for label, value in (("window_seconds", self.window_seconds), ("hop_seconds", self.hop_seconds)):
            if value is not None and not value > 0:
                raise ParameterError(f"AudioSpec.{label} must be > 0, got {value}")


@dataclass(frozen=True)
class BuiltinSource:
    """A model computed by reelsense itself (no weights): ``module`` implements it."""

    module: str

    def describe(self) -> str:
        return f"built into reelsense ({self.module}, no weights)"


@dataclass(frozen=True)
class PackageSource:
    """Weights shipped inside an installed Python package.

    ``getter`` is a dotted attribute path inside ``module`` that is either a callable
    returning the path or a path value (e.g. ``EfficientnetLite0ModelFile.get_model_file_path``).
    """

    distribution: str
    module: str
    getter: str

    def describe(self) -> str:
        return f"package {self.distribution} ({self.module}.{self.getter})"


@dataclass(frozen=True)
class DirectorySource:
    """Weights in a local directory (or file). Relative paths with ``in_models_dir`` are
    looked up under the project's ``models/`` folder (or ``$REELSENSE_MODELS_DIR``)."""

    path: str
    in_models_dir: bool = False
    how_to_get: str = ""

    def describe(self) -> str:
        return f"directory {self.path}" + (" (under the models dir)" if self.in_models_dir else "")


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face hub repository, downloaded to (or read from) the local HF cache."""

    repo_id: str
    revision: str | None = None

    def describe(self) -> str:
        return f"hub {self.repo_id}" + (f"@{self.revision}" if self.revision else "")


ModelSource = PackageSource | DirectorySource | HubSource | BuiltinSource


@dataclass(frozen=True)
class ModelEntry:
    """One model the registry knows, with its preprocessing and its source.

    Attributes:
        name: registry name (``efficientnet_lite0``, ``minilm_l6``, ``hf:org/model``...).
        modalities: what it embeds; a CLIP-like dual encoder has ``("image", "text")``.
        architecture: which loader builds it.
        source: where the weights come from.
        output_dim: embedding size, ``None`` until resolved for auto entries.
        image: image preprocessing, for image models.
        text: tokenisation and pooling, for text models.
        audio: sample rate and windowing, for audio models.
        normalize: whether encoders L2-normalise the output vectors by default.
        license: licence of the weights as far as verified (see the README models section).
        description: one line for ``list_models`` output.
    """

    name: str
    modalities: tuple[Modality, ...]
    architecture: Architecture
    source: ModelSource
    output_dim: int | None = None
    image: ImageSpec | None = None
    text: TextSpec | None = None
    audio: AudioSpec | None = None
    normalize: bool = False
    license: str = "unknown"
    description: str = ""

    def __post_init__(self) -> None:
        if not check_str(self.name, "ModelEntry.name").strip():  # get_model could never find it
            raise ParameterError(f"ModelEntry.name={self.name!r} must be a non-empty name")
        if not self.modalities and self.architecture != "auto":
            raise ParameterError(f"ModelEntry {self.name!r} must have at least one modality")
        if self.output_dim is not None and self.output_dim <= 0:
            raise ParameterError(f"ModelEntry {self.name!r}: output_dim must be > 0, got {self.output_dim}")

    @property
    def is_complete(self) -> bool:
        """True when every modality has its preprocessing and the output size is known."""
        if self.output_dim is None or self.architecture == "auto":
            return False
        if "image" in self.modalities and self.image is None:
            return False
        if "audio" in self.modalities and self.audio is None:
            return False
        return not ("text" in self.modalities and self.text is None)

    def supports(self, modality: Modality) -> bool:
        return modality in self.modalities
