"""Build the image backbone of a resolved model entry (one function per architecture)."""

from __future__ import annotations

import torch
from torch import nn

from reelsense.errors import ModelNotFoundError
from reelsense.models import ResolvedModel
from reelsense.models._complete import read_json
from reelsense.models._device import autocast_weights
from reelsense.models._hf import load_dual_encoder
from reelsense.models._weights import load_state_dict
from reelsense.vision._clip import ClipImageTower
from reelsense.vision._efficientnet import EfficientNetLite, EfficientNetLiteConfig

__all__ = ["EfficientNetFeatures", "build_image_backbone", "load_efficientnet_lite"]


class EfficientNetFeatures(nn.Module):
    """``forward(pixels) -> pooled features [n, head_channels]`` of an :class:`EfficientNetLite`.

    For inference speed the network runs with its BatchNorms folded into the convolutions
    (:meth:`EfficientNetLite.fold_batchnorm`) and in channels-last memory format, which
    oneDNN and cuDNN run faster for depthwise convolutions (``scripts/bench/bench_encoders.py``).
    """

    def __init__(self, model: EfficientNetLite):
        super().__init__()
        self.model = model.fold_batchnorm().to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.model.forward_features(
            pixels.contiguous(memory_format=torch.channels_last)
        )
        return features


def load_efficientnet_lite(resolved: ResolvedModel) -> EfficientNetLite:
    """An :class:`EfficientNetLite` with the entry's weights, loaded with ``strict=True``.

    ``resolved.path`` is a state-dict file (Lite0 layout with its ImageNet head) or a directory
    with ``config.json`` (an :class:`EfficientNetLiteConfig`) and ``model.safetensors``.

    Raises:
        ModelNotFoundError: the weights do not match the architecture exactly.
    """
    path = resolved.path
    if path.is_dir():
        config = EfficientNetLiteConfig.from_json_dict(read_json(path / "config.json"))
        weights = path / "model.safetensors"
    else:
        config = EfficientNetLiteConfig()
        weights = path
    model = EfficientNetLite(config)
    try:
        model.load_state_dict(load_state_dict(weights), strict=True)
    except RuntimeError as exc:
        raise ModelNotFoundError(
            f"{weights} does not match the EfficientNet-Lite architecture: {exc}"
        ) from exc
    return model.eval()


def build_image_backbone(resolved: ResolvedModel, device: torch.device, precision: str = "fp32") -> nn.Module:
    """``nn.Module`` mapping normalised pixels ``[n, 3, S, S]`` to features ``[n, d]``, on
    ``device``, to run under :func:`~reelsense.models._device.autocast_context` in
    ``precision`` (its linear and convolution weights are stored in that dtype)."""
    entry = resolved.entry
    if not entry.supports("image"):
        raise ModelNotFoundError(
            f"model {entry.name!r} does not embed images (modalities {entry.modalities})"
        )
    if entry.architecture == "efficientnet_lite":
        backbone = EfficientNetFeatures(load_efficientnet_lite(resolved)).to(device).eval()
        return autocast_weights(backbone, precision)
    if entry.architecture == "hf_dual_encoder":
        return ClipImageTower(load_dual_encoder(resolved.path, device, precision)).eval()
    raise ModelNotFoundError(f"model {entry.name!r} ({entry.architecture}) has no image tower")
