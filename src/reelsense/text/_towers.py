"""Text towers: token ids -> one vector per text.

- :class:`PooledTransformer`: a sentence-transformers style encoder (BERT, MiniLM...) with
  mean pooling over the attention mask (sentence-transformers' ``Pooling`` with
  ``pooling_mode_mean_tokens``) or the CLS token.
- :class:`ClipTextTower`: the text side of a CLIP/SigLIP model (its projected embedding).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reelsense.errors import ParameterError
from reelsense.models._entries import TextPooling
from reelsense.models._hf import features_tensor

__all__ = ["ClipTextTower", "PooledTransformer", "mean_pool"]


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``token_embeddings [n, t, d]`` over positions where ``attention_mask [n, t]`` is 1."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    summed = (token_embeddings * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


class PooledTransformer(nn.Module):
    """``forward(input_ids, attention_mask) -> [n, hidden]`` pooled last hidden states."""

    def __init__(self, model: nn.Module, pooling: TextPooling = "mean"):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ParameterError(f"PooledTransformer pooling must be 'mean' or 'cls', got {pooling!r}")
        self.model = model
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden: torch.Tensor = self.model(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        pooled: torch.Tensor = mean_pool(hidden, attention_mask)
        return pooled


class ClipTextTower(nn.Module):
    """``forward(input_ids, attention_mask) -> [n, d]`` text embeddings of a CLIP/SigLIP model.

    ``use_attention_mask=False`` for models trained without one (SigLIP: padded to its full
    context, the padding is part of the input it was trained on).
    """

    def __init__(self, model: nn.Module, *, use_attention_mask: bool = True):
        super().__init__()
        self.model: Any = model
        self.use_attention_mask = use_attention_mask

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.use_attention_mask:
            return features_tensor(
                self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            )
        return features_tensor(self.model.get_text_features(input_ids=input_ids))
