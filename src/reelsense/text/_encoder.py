"""Text encoder: strings in, one float32 vector per string out; missing captions masked."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reelsense._checks import check_int
from reelsense.errors import ModelNotFoundError, ParameterError
from reelsense.models import (
    ModelEntry,
    Precision,
    ResolvedModel,
    resolve_model,
    select_device,
    select_precision,
)
from reelsense.models._device import autocast_context, autocast_weights
from reelsense.models._hf import load_dual_encoder, load_tokenizer, load_transformer
from reelsense.text._towers import ClipTextTower, PooledTransformer

__all__ = ["CaptionEmbeddings", "TextEncoder", "build_text_tower", "load_text_encoder"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class CaptionEmbeddings:
    """Caption vectors with an explicit presence mask.

    Attributes:
        vectors: float32 ``[n, dim]``; rows of missing captions are NaN (never a vector
            posing as data: use ``present``).
        present: bool ``[n]``, False where the caption was missing (None, empty, no letters).
    """

    vectors: np.ndarray
    present: np.ndarray

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.present.shape != (self.vectors.shape[0],):
            raise ParameterError(
                f"CaptionEmbeddings: vectors {self.vectors.shape} and present {self.present.shape} disagree"
            )

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __repr__(self) -> str:
        return (
            f"CaptionEmbeddings(vectors=<float32 {self.vectors.shape}>, "
            f"present={int(self.present.sum())}/{len(self)})"
        )


def _is_blank(text: str | None) -> bool:
    return text is None or not any(char.isalnum() for char in text)


class TextEncoder:
    """A loaded text model with its tokenizer.

    Use :func:`load_text_encoder` to build one. ``encode(texts)`` embeds non-empty strings;
    ``encode_captions(captions)`` accepts ``None``/empty captions and returns them masked.
    Texts are truncated to ``entry.text.max_tokens`` tokens, sorted by length into batches
    (less padding) and returned in input order.

    Attributes:
        entry: the complete registry entry. spec: ``entry.text``. device, precision, dim.
        tokenizer: the ``transformers`` tokenizer. tower: ``(input_ids, attention_mask) -> [n, dim]``.
    """

    def __init__(
        self,
        entry: ModelEntry,
        tower: nn.Module,
        tokenizer: Any,
        *,
        device: torch.device,
        precision: str = "fp32",
    ) -> None:
        if entry.text is None or entry.output_dim is None:
            raise ParameterError(f"model entry {entry.name!r} has no text preprocessing (resolve it first)")
        self.entry = entry
        self.spec = entry.text
        self.tower = tower
        self.tokenizer = tokenizer
        self.device = device
        self.precision = select_precision(precision, device)
        self.dim = int(entry.output_dim)

    def __repr__(self) -> str:
        return (
            f"TextEncoder(model={self.entry.name!r}, dim={self.dim}, max_tokens={self.spec.max_tokens}, "
            f"device={self.device}, precision={self.precision!r})"
        )

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` ``[n, t]`` on the device, truncated to the context."""
        batch = self.tokenizer(
            list(texts),
            padding="max_length" if self.spec.padding == "max_length" else True,
            truncation=True,
            max_length=self.spec.max_tokens,
            return_tensors="pt",
        )
        input_ids = batch["input_ids"]
        attention_mask = batch.get("attention_mask")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}

    def _embed(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenize(texts)
        with torch.inference_mode(), autocast_context(self.device, self.precision):
            features = self.tower(tokens["input_ids"], tokens["attention_mask"])
        features = torch.as_tensor(features).float()
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ParameterError(
                f"model {self.entry.name!r} gave features of shape {tuple(features.shape)}, "
                f"expected [*, {self.dim}]"
            )
        return features

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, normalize: bool | None = None
    ) -> np.ndarray:
        """Embed non-empty texts -> float32 ``[n, dim]`` (L2-normalised if the entry says so).

        Raises:
            ParameterError: a text is None, empty or has no letters/digits (a missing caption
                is not a text: use :meth:`encode_captions`), or ``batch_size < 1``.
        """
        if isinstance(texts, str):
            raise ParameterError("texts must be a sequence of strings, got a single string")
        check_int(batch_size, "batch_size", minimum=1)
        blank = [index for index, text in enumerate(texts) if _is_blank(text)]
        if blank:
            raise ParameterError(
                f"texts {blank[:5]} are empty or have no letters or digits ({texts[blank[0]]!r}); "
                "a missing caption is a missing modality: use encode_captions()"
            )
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        unit = self.entry.normalize if normalize is None else normalize
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            features = self._embed([texts[index] for index in chunk])
            if unit:
                features = F.normalize(features, dim=1)
            out[chunk] = features.cpu().numpy()
        return out

    def encode_captions(
        self, captions: Sequence[str | None], *, batch_size: int = 64, normalize: bool | None = None
    ) -> CaptionEmbeddings:
        """Embed captions where some may be missing (``None``, empty, no letters or digits).

        Returns:
            :class:`CaptionEmbeddings`: vectors ``[n, dim]`` (NaN rows where missing) and ``present``.
        """
        check_int(batch_size, "batch_size", minimum=1)
        present = np.array([not _is_blank(caption) for caption in captions], dtype=bool)
        vectors = np.full((len(captions), self.dim), np.nan, dtype=np.float32)
        kept = [caption for caption in captions if not _is_blank(caption)]
        if kept:
            vectors[present] = self.encode(
                [str(caption) for caption in kept], batch_size=batch_size, normalize=normalize
            )
        return CaptionEmbeddings(vectors=vectors, present=present)


def build_text_tower(
    resolved: ResolvedModel, device: torch.device, precision: str = "fp32"
) -> tuple[nn.Module, Any]:
    """The text tower and tokenizer of a resolved entry, on ``device``, to run under
    :func:`~reelsense.models._device.autocast_context` in ``precision`` (its linear and
    convolution weights are stored in that dtype)."""
    entry = resolved.entry
    if not entry.supports("text") or entry.text is None:
        raise ModelNotFoundError(f"model {entry.name!r} does not embed text (modalities {entry.modalities})")
    tokenizer = load_tokenizer(resolved.path)
    if entry.architecture == "sentence_transformer":
        model = autocast_weights(load_transformer(resolved.path, device), precision)
        return PooledTransformer(model, entry.text.pooling).eval(), tokenizer
    if entry.architecture == "hf_dual_encoder":
        use_mask = "attention_mask" in getattr(tokenizer, "model_input_names", ["attention_mask"])
        model = load_dual_encoder(resolved.path, device, precision)
        tower = ClipTextTower(model, use_attention_mask=use_mask)
        return tower.eval(), tokenizer
    raise ModelNotFoundError(f"model {entry.name!r} ({entry.architecture}) has no text tower")


def load_text_encoder(
    model: str | ModelEntry = "minilm_l6",
    *,
    device: str | torch.device | None = None,
    precision: Precision = "auto",
    offline: bool | None = None,
) -> TextEncoder:
    """Resolve ``model`` (registry name, hub id, path or entry) and load its text encoder.

    Args:
        device: ``None``/``"auto"`` = cuda > mps > cpu.
        precision: ``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32``, ``fp16`` or ``bf16``.
        offline: hub models only: read only the local cache (``None`` follows ``HF_HUB_OFFLINE``).

    Raises:
        ModelNotFoundError: unknown model or weights not available (the message says how to get them).
        ParameterError: bad device or precision.
    """
    chosen = select_device(device)
    concrete = select_precision(precision, chosen)
    resolved = resolve_model(model, offline=offline)
    tower, tokenizer = build_text_tower(resolved, chosen, concrete)
    encoder = TextEncoder(resolved.entry, tower, tokenizer, device=chosen, precision=concrete)
    logger.info("loaded text encoder %r", encoder)
    return encoder
