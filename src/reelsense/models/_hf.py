"""Loading ``transformers`` models and tokenizers from a resolved local directory.

Everything goes through ``from_pretrained(path, local_files_only=True, use_safetensors=True)``:
the hub, if any, was already handled by :func:`reelsense.models.resolve_model`, and pickled
``*.bin`` checkpoints are refused.

A dual encoder (CLIP, SigLIP) is shared: the image and the text encoder made from the same
directory on the same device in the same precision hold one model (a weak cache, so it is
freed with them).
"""

from __future__ import annotations

import logging
import threading
import weakref
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reelsense.errors import ModelNotFoundError
from reelsense.models._device import autocast_weights

__all__ = ["features_tensor", "load_dual_encoder", "load_tokenizer", "load_transformer"]

logger = logging.getLogger(__name__)

_DUAL_CACHE: weakref.WeakValueDictionary[tuple[str, str, str], nn.Module] = weakref.WeakValueDictionary()
_DUAL_LOCK = threading.Lock()


def _pretrained(cls: Any, path: Path, **kwargs: Any) -> Any:
    """``cls.from_pretrained`` from a local directory, without transformers' progress bars
    (the library never draws on the terminal; only the CLI does)."""
    from safetensors import SafetensorError
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return cls.from_pretrained(str(path), local_files_only=True, **kwargs)
    except SafetensorError as exc:
        raise ModelNotFoundError(
            f"cannot load {cls.__name__} from {path}: its safetensors weights are damaged or cut "
            f"short ({exc}); copy or download the model again"
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModelNotFoundError(f"cannot load {cls.__name__} from {path}: {exc}") from exc
    except RuntimeError as exc:
        if "mismatch" not in str(exc):  # only transformers' size mismatch of config and checkpoint
            raise
        raise ModelNotFoundError(
            f"cannot load {cls.__name__} from {path}: its weights do not fit the architecture its "
            f"config.json describes ({exc!s:.200}); copy or download the model again"
        ) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _model(cls: Any, path: Path) -> nn.Module:
    """A model from safetensors weights; a weight the checkpoint lacks (left randomly
    initialised) is an error, except the unused BERT pooler."""
    model, info = _pretrained(cls, path, use_safetensors=True, output_loading_info=True)
    missing = sorted(key for key in info.get("missing_keys", ()) if not key.startswith("pooler."))
    if missing:
        raise ModelNotFoundError(
            f"{path}: the checkpoint lacks {len(missing)} weight(s) of {type(model).__name__} "
            f"(e.g. {missing[:3]}); it is not the model its config describes"
        )
    return model  # type: ignore[no-any-return]


def load_tokenizer(path: Path) -> Any:
    """The fast tokenizer saved in ``path``.

    Raises:
        ModelNotFoundError: it cannot be loaded, or it knows its special tokens only (a folder
            without its vocabulary files, from which transformers builds such a tokenizer: every
            text would become unknown tokens).
    """
    from transformers import AutoTokenizer

    tokenizer = _pretrained(AutoTokenizer, path)
    if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
        raise ModelNotFoundError(
            f"the tokenizer in {path} has no vocabulary ({len(tokenizer)} special tokens only): the "
            "folder lacks its tokenizer files (tokenizer.json, vocab.txt, vocab.json, spiece.model...); "
            "copy or download the model again with them"
        )
    return tokenizer


def load_transformer(path: Path, device: torch.device) -> nn.Module:
    """A ``transformers`` encoder (e.g. BERT) from ``path``, in eval mode on ``device``."""
    from transformers import AutoModel

    return _model(AutoModel, path).eval().to(device)


def load_dual_encoder(path: Path, device: torch.device, precision: str = "fp32") -> nn.Module:
    """A CLIP/SigLIP model from ``path`` on ``device``, shared while anyone holds it, with
    its linear and convolution weights in ``precision``'s dtype (:func:`autocast_weights`).

    Raises:
        ModelNotFoundError: the directory does not hold a dual encoder ``transformers`` can build.
    """
    from transformers import AutoModel

    key = (str(path.resolve()), str(device), precision)
    with _DUAL_LOCK:
        cached = _DUAL_CACHE.get(key)
        if cached is not None:
            return cached
        model = _model(AutoModel, path)
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise ModelNotFoundError(
                f"{path} holds a {type(model).__name__}, not an image-text dual encoder (CLIP/SigLIP)"
            )
        model = autocast_weights(model.eval().to(device), precision)
        _DUAL_CACHE[key] = model
        logger.debug("loaded %s from %s on %s", type(model).__name__, path, device)
        return model


def features_tensor(output: object) -> torch.Tensor:
    """The embedding tensor from ``get_image_features``/``get_text_features``.

    transformers 4.x returns the tensor; 5.x returns a ``BaseModelOutputWithPooling`` whose
    ``pooler_output`` is the projected embedding.
    """
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    raise TypeError(f"unexpected feature output {type(output).__name__}")
