"""Fill in an entry's missing fields from the model's own config files.

Built-in entries state their preprocessing; entries made from a hub id or a directory do
not, and take it from ``config.json``, ``preprocessor_config.json`` (CLIP/SigLIP image
processors), ``sentence_bert_config.json``, ``1_Pooling/config.json`` and ``modules.json``
(sentence-transformers layout). Fields already set on the entry are kept.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from reelsense.errors import ModelNotFoundError
from reelsense.models._entries import (
    CLIP_MEAN,
    CLIP_STD,
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    Architecture,
    AudioSpec,
    ImageSpec,
    Interpolation,
    Modality,
    ModelEntry,
    TextPooling,
    TextSpec,
)

__all__ = ["AUDIO_ENCODER_TYPES", "DUAL_ENCODER_TYPES", "complete_entry", "detect_architecture", "read_json"]

DUAL_ENCODER_TYPES: frozenset[str] = frozenset({"clip", "siglip"})
AUDIO_ENCODER_TYPES: frozenset[str] = frozenset({"audio-spectrogram-transformer"})
_WEIGHT_FILE_SUFFIXES: frozenset[str] = frozenset({".pth", ".pt", ".safetensors"})
# PIL resample codes used by Hugging Face image processors.
_PIL_RESAMPLE: dict[int, Interpolation] = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "area"}


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, ``{}`` when the file is absent."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot read model config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelNotFoundError(f"model config {path} is not a JSON object")
    return data


def detect_architecture(path: Path) -> Architecture:
    """Which loader builds the model at ``path`` (a weights file or a model directory)."""
    if path.is_file():
        if path.suffix in _WEIGHT_FILE_SUFFIXES:
            return "efficientnet_lite"
        raise ModelNotFoundError(f"{path} is a file but not a .pth/.safetensors weights file")
    config = read_json(path / "config.json")
    if not config:
        if (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path}: its config.json is empty: not a model reelsense can load")
        raise ModelNotFoundError(f"{path} has no config.json: not a model directory reelsense can load")
    declared = config.get("reelsense_architecture")
    if declared == "efficientnet_lite":
        return "efficientnet_lite"
    model_type = str(config.get("model_type", ""))
    if model_type in DUAL_ENCODER_TYPES:
        return "hf_dual_encoder"
    if model_type in AUDIO_ENCODER_TYPES:
        return "hf_audio"
    if (path / "modules.json").is_file() or model_type in {
        "bert",
        "roberta",
        "xlm-roberta",
        "mpnet",
        "distilbert",
    }:
        return "sentence_transformer"
    raise ModelNotFoundError(
        f"{path}: model_type {model_type!r} is not supported (CLIP/SigLIP dual encoders, "
        "sentence-transformers text models and EfficientNet-Lite are)"
    )


def _size(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        for key in ("height", "shortest_edge", "width"):
            if isinstance(value.get(key), int):
                return int(value[key])
    return None


def _triple(value: Any, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if isinstance(value, list | tuple) and len(value) == 3:
        return (float(value[0]), float(value[1]), float(value[2]))
    if isinstance(value, int | float):
        return (float(value),) * 3
    return default


def _dual_encoder_fields(path: Path) -> dict[str, Any]:
    config = read_json(path / "config.json")
    model_type = str(config.get("model_type"))
    vision = config.get("vision_config") or {}
    text = config.get("text_config") or {}
    processor = read_json(path / "preprocessor_config.json")
    siglip = model_type == "siglip"
    default_mean, default_std = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) if siglip else (CLIP_MEAN, CLIP_STD)
    center_crop = bool(processor.get("do_center_crop", not siglip))
    image_size = _size(processor.get("crop_size")) if center_crop else None
    image_size = image_size or _size(processor.get("size")) or int(vision.get("image_size", 224))
    image = ImageSpec(
        image_size=image_size,
        mean=_triple(processor.get("image_mean"), default_mean),
        std=_triple(processor.get("image_std"), default_std),
        interpolation=_PIL_RESAMPLE.get(int(processor.get("resample", 3)), "bicubic"),
        crop_policy="center_crop" if center_crop else "resize",
    )
    max_tokens = int(text.get("max_position_embeddings", 64 if siglip else 77))
    text_spec = TextSpec(
        max_tokens=max_tokens, pooling="model", padding="max_length" if siglip else "longest"
    )
    output_dim = int(vision.get("hidden_size", 768)) if siglip else int(config.get("projection_dim", 512))
    return {
        "image": image,
        "text": text_spec,
        "output_dim": output_dim,
        "modalities": ("image", "text"),
        "normalize": True,
    }


def _sentence_transformer_fields(path: Path) -> dict[str, Any]:
    config = read_json(path / "config.json")
    st_config = read_json(path / "sentence_bert_config.json")
    pooling_config = read_json(path / "1_Pooling" / "config.json")
    max_tokens = int(
        st_config.get("max_seq_length", min(512, int(config.get("max_position_embeddings", 512))))
    )
    pooling: TextPooling = "cls" if pooling_config.get("pooling_mode_cls_token") else "mean"
    modules = (path / "modules.json").read_text(encoding="utf-8") if (path / "modules.json").is_file() else ""
    return {
        "text": TextSpec(max_tokens=max_tokens, pooling=pooling),
        "output_dim": int(config.get("hidden_size", 0)) or None,
        "modalities": ("text",),
        "normalize": "Normalize" in modules,
    }


def _efficientnet_fields(path: Path) -> dict[str, Any]:
    config = read_json(path / "config.json") if path.is_dir() else {}
    interpolation = str(config.get("interpolation", "bicubic"))
    return {
        "image": ImageSpec(
            image_size=int(config.get("image_size", 224)),
            mean=EFFICIENTNET_LITE_MEAN,
            std=EFFICIENTNET_LITE_STD,
            interpolation=interpolation,  # type: ignore[arg-type]  # validated by ImageSpec
            crop_fraction=float(config.get("crop_fraction", 0.875)),
        ),
        "output_dim": int(config.get("head_channels", 1280)),
        "modalities": ("image",),
        "normalize": False,
    }


def _audio_fields(path: Path) -> dict[str, Any]:
    """AST: 16 kHz fbank frames every 10 ms, ``max_length`` frames per window."""
    config = read_json(path / "config.json")
    processor = read_json(path / "preprocessor_config.json")
    frames = int(processor.get("max_length", config.get("max_length", 1024)))
    return {
        "audio": AudioSpec(
            sample_rate=int(processor.get("sampling_rate", 16000)), window_seconds=frames * 0.01
        ),
        "output_dim": int(config.get("hidden_size", 768)),
        "modalities": ("audio",),
        "normalize": True,
    }


def complete_entry(entry: ModelEntry, path: Path) -> ModelEntry:
    """``entry`` with architecture, modalities, output size and preprocessing filled in from ``path``."""
    if entry.is_complete:
        return entry
    architecture = entry.architecture if entry.architecture != "auto" else detect_architecture(path)
    if architecture == "hf_dual_encoder":
        found = _dual_encoder_fields(path)
    elif architecture == "sentence_transformer":
        found = _sentence_transformer_fields(path)
    elif architecture == "hf_audio":
        found = _audio_fields(path)
    else:
        found = _efficientnet_fields(path)
    explicit = entry.architecture != "auto"
    modalities: tuple[Modality, ...] = entry.modalities if entry.modalities else found["modalities"]
    return dataclasses.replace(
        entry,
        architecture=architecture,
        modalities=modalities,
        output_dim=entry.output_dim or found["output_dim"],
        image=(entry.image or found.get("image")) if "image" in modalities else None,
        text=(entry.text or found.get("text")) if "text" in modalities else None,
        audio=(entry.audio or found.get("audio")) if "audio" in modalities else None,
        normalize=entry.normalize if explicit else bool(found.get("normalize", entry.normalize)),
    )
