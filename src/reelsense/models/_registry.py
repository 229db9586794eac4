"""Name lookup: model entries and presets by name, glob listing, close-match suggestions.

Besides registered names, three spellings build an entry on the fly:

- ``hf:org/name`` or ``hf:org/name@revision``: a Hugging Face hub model (CLIP, SigLIP or a
  sentence-transformers model; the kind is read from its config when it is resolved);
- a bare ``org/name`` that is not an existing path: the same as ``hf:org/name``;
- ``dir:/some/path`` or an existing local path: a model directory (or EfficientNet
  weights file) on disk.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from pathlib import Path

from reelsense.errors import ModelNotFoundError, ParameterError
from reelsense.models._catalog import BUILTIN_ENTRIES
from reelsense.models._entries import DirectorySource, HubSource, Modality, ModelEntry
from reelsense.models._presets import BUILTIN_PRESETS, NO_MODELS_PRESET, Preset

__all__ = [
    "get_model",
    "get_preset",
    "list_models",
    "list_presets",
    "register_model",
    "register_preset",
]

_ENTRIES: dict[str, ModelEntry] = {entry.name: entry for entry in BUILTIN_ENTRIES}
_PRESETS: dict[str, Preset] = {preset.name: preset for preset in BUILTIN_PRESETS}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+(@[\w.\-/]+)?$")


def register_model(entry: ModelEntry, *, replace: bool = False) -> None:
    """Add ``entry`` to the registry (``replace=True`` to overwrite a name)."""
    if entry.name in _ENTRIES and not replace:
        raise ParameterError(f"model {entry.name!r} is already registered (pass replace=True)")
    _ENTRIES[entry.name] = entry


def _names_a_model(name: str) -> bool:
    """Whether :func:`get_preset` reads ``name`` as a hub id or a path of a model."""
    return name.startswith(("hf:", "dir:")) or "/" in name


def register_preset(preset: Preset, *, replace: bool = False) -> None:
    """Add ``preset`` to the registry (``replace=True`` to overwrite a name).

    Reserved names are refused: ``none`` (no models: FeaturizerConfig and ``--preset`` never
    look it up, so a preset of that name would never be used) and a hub id or path
    (``hf:...``, ``dir:...``, any name with a ``/``: :func:`get_preset` makes a preset of that
    model, which the registered one would hide).
    """
    if preset.name == NO_MODELS_PRESET or _names_a_model(preset.name):
        raise ParameterError(
            f"preset name {preset.name!r} is reserved ('{NO_MODELS_PRESET}' means no models; "
            "hf:..., dir:... and names with a '/' name a model): choose another name"
        )
    if preset.name in _PRESETS and not replace:
        raise ParameterError(f"preset {preset.name!r} is already registered (pass replace=True)")
    _PRESETS[preset.name] = preset


def list_models(pattern: str | None = None, *, modality: Modality | None = None) -> list[str]:
    """Registered model names, sorted, optionally filtered by a glob and a modality.

    ``list_models("tiny_*")`` -> ``["tiny_clip", "tiny_image", "tiny_text"]``.
    """
    names = sorted(_ENTRIES)
    if pattern is not None:
        names = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
    if modality is not None:
        names = [name for name in names if _ENTRIES[name].supports(modality)]
    return names


def list_presets(pattern: str | None = None) -> list[str]:
    """Registered preset names, sorted, optionally filtered by a glob."""
    names = sorted(_PRESETS)
    if pattern is not None:
        names = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
    return names


def _hub_entry(spec: str) -> ModelEntry:
    repo_id, _, revision = spec.partition("@")
    return ModelEntry(
        name=f"hf:{spec}",
        modalities=(),
        architecture="auto",
        source=HubSource(repo_id=repo_id, revision=revision or None),
        normalize=True,
        description=f"Hugging Face hub model {spec}",
    )


def _directory_entry(path: str) -> ModelEntry:
    resolved = str(Path(path).expanduser().resolve())
    return ModelEntry(
        name=f"dir:{resolved}",
        modalities=(),
        architecture="auto",
        source=DirectorySource(resolved),
        description=f"local model at {resolved}",
    )


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=4, cutoff=0.5)
    if not close:
        close = [candidate for candidate in candidates if name.lower() in candidate.lower()][:4]
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def get_model(name: str | ModelEntry) -> ModelEntry:
    """The entry for ``name`` (a registered name, ``hf:org/model``, ``org/model``, ``dir:PATH``
    or an existing path). An entry passes through unchanged.

    Raises:
        ModelNotFoundError: the name is none of those; the message lists close matches.
    """
    if isinstance(name, ModelEntry):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ModelNotFoundError(f"model name must be a non-empty string, got {name!r}")
    name = name.strip()
    if name in _ENTRIES:
        return _ENTRIES[name]
    if name.startswith("hf:"):
        spec = name[3:]
        if not _HUB_ID.match(spec):
            raise ModelNotFoundError(f"{name!r} is not a hub id of the form hf:org/name[@revision]")
        return _hub_entry(spec)
    if name.startswith("dir:"):
        return _directory_entry(name[4:])
    if Path(name).expanduser().exists():
        return _directory_entry(name)
    if _HUB_ID.match(name):
        return _hub_entry(name)
    raise ModelNotFoundError(
        f"unknown model {name!r}{_suggest(name, sorted(_ENTRIES))} "
        f"(known: {', '.join(sorted(_ENTRIES))}; a hub id hf:org/name or a local directory also works)"
    )


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name``; a hub id or path of a dual encoder (CLIP, SigLIP) makes a
    preset that uses it for both frames and captions. A preset passes through unchanged.

    Raises:
        ModelNotFoundError: unknown name (the message lists close matches), or a name that is
            not a non-empty string.
    """
    if isinstance(name, Preset):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ModelNotFoundError(f"preset name must be a non-empty string, got {name!r}")
    if name in _PRESETS:
        return _PRESETS[name]
    if name == NO_MODELS_PRESET:
        raise ModelNotFoundError(
            f"preset {name!r} embeds nothing, so it has no models to look up: pass it to "
            "FeaturizerConfig(preset='none') or --preset none (metadata and audio descriptors only)"
        )
    if _names_a_model(name):
        entry = get_model(name)
        return Preset(name=entry.name, image=entry.name, text=entry.name, description=entry.description)
    if name in _ENTRIES and set(_ENTRIES[name].modalities) >= {"image", "text"}:
        return Preset(name=name, image=name, text=name, description=_ENTRIES[name].description)
    presets = sorted({*_PRESETS, NO_MODELS_PRESET})
    dual = sorted(key for key, entry in _ENTRIES.items() if set(entry.modalities) >= {"image", "text"})
    raise ModelNotFoundError(
        f"unknown preset {name!r}{_suggest(name, sorted({*presets, *dual}))} (known: {', '.join(presets)} "
        f"('{NO_MODELS_PRESET}': no models); a dual-encoder model: {', '.join(dual)}; "
        "or a hub id hf:org/name or a local directory of one)"
    )
