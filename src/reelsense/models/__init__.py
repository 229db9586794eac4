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

from reelsense.models._device import Precision, select_device, select_precision
from reelsense.models._entries import (
    AudioSpec,
    BuiltinSource,
    CropPolicy,
    DirectorySource,
    HubSource,
    ImageSpec,
    Modality,
    ModelEntry,
    PackageSource,
    PortraitPolicy,
    TextSpec,
)
from reelsense.models._presets import Preset
from reelsense.models._registry import (
    get_model,
    get_preset,
    list_models,
    list_presets,
    register_model,
    register_preset,
)
from reelsense.models._resolve import ResolvedModel, models_dir, resolve_model

__all__ = [
    "AudioSpec",
    "BuiltinSource",
    "CropPolicy",
    "DirectorySource",
    "HubSource",
    "ImageSpec",
    "Modality",
    "ModelEntry",
    "PackageSource",
    "PortraitPolicy",
    "Precision",
    "Preset",
    "ResolvedModel",
    "TextSpec",
    "get_model",
    "get_preset",
    "list_models",
    "list_presets",
    "models_dir",
    "register_model",
    "register_preset",
    "resolve_model",
    "select_device",
    "select_precision",
]
