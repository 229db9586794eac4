"""CLIP/SigLIP image tower: normalised pixels -> image embeddings in the joint space."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reelsense.models._hf import features_tensor

__all__ = ["ClipImageTower"]


class ClipImageTower(nn.Module):
    """``forward(pixels [n, 3, S, S]) -> [n, d]`` with a (shared) CLIP/SigLIP model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model: Any = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return features_tensor(self.model.get_image_features(pixel_values=pixels))
