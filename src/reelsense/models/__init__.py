"""Model registry: named presets and model entries, resolution to local weights, devices.

>>> from reelsense.models import get_preset, list_models, resolve_model
>>> get_preset("default").image
'efficientnet_lite0'
>>> list_models("tiny_*")
['tiny_ast', 'tiny_clip', 'tiny_image', 'tiny_text']

Entries are frozen dataclasses (:class:`ModelEntry`) carrying their preprocessing
(:class:`ImageSpec`, :class:`TextSpec`) and their source (an installed package, a local
directory or a Hugging Face hub id). :func:`resolve_model` finds the weights on this
machine or raises :class:`~reelsense.errors.ModelNotFoundError` saying how to get them.
Encoders that use these entries live in :mod:`reelsense.vision` and :mod:`reelsense.text`.
"""

from reelsense.models._catalog import BUILTIN_ENTRIES
from reelsense.models._complete import read_json
from reelsense.models._device import Precision, autocast_context, select_device, select_precision
from reelsense.models._entries import (
    CLIP_MEAN,
    CLIP_STD,
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    Architecture,
    AudioSpec,
    BuiltinSource,
    CropPolicy,
    DirectorySource,
    HubSource,
    ImageSpec,
    Interpolation,
    Modality,
    ModelEntry,
    ModelSource,
    PackageSource,
    PortraitPolicy,
    TextPadding,
    TextPooling,
    TextSpec,
)
from reelsense.models._hf import features_tensor, load_dual_encoder, load_tokenizer, load_transformer
from reelsense.models._presets import BUILTIN_PRESETS, Preset
from reelsense.models._registry import (
    get_model,
    get_preset,
    list_models,
    list_presets,
    register_model,
    register_preset,
)
from reelsense.models._resolve import ResolvedModel, hub_offline, models_dir, resolve_model
from reelsense.models._weights import load_state_dict

__all__ = [
    "BUILTIN_ENTRIES",
    "BUILTIN_PRESETS",
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
    "Precision",
    "Preset",
    "ResolvedModel",
    "TextPadding",
    "TextPooling",
    "TextSpec",
    "autocast_context",
    "features_tensor",
    "get_model",
    "get_preset",
    "hub_offline",
    "list_models",
    "list_presets",
    "load_dual_encoder",
    "load_state_dict",
    "load_tokenizer",
    "load_transformer",
    "models_dir",
    "read_json",
    "register_model",
    "register_preset",
    "resolve_model",
    "select_device",
    "select_precision",
]
