"""Image encoder: RGB uint8 frames in, one float32 vector per frame out."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reelsense._checks import check_int
from reelsense.errors import ParameterError
from reelsense.models import (
    ModelEntry,
    PortraitPolicy,
    Precision,
    resolve_model,
    select_device,
    select_precision,
)
from reelsense.models._device import autocast_context
from reelsense.vision._loading import build_image_backbone
from reelsense.vision._preprocess import PreprocessedFrames, inputs_per_frame, preprocess_frames

__all__ = ["ImageEncoder", "load_image_encoder"]

logger = logging.getLogger(__name__)


class ImageEncoder:
    """A loaded image model with its preprocessing.

    Use :func:`load_image_encoder` to build one. ``encode(frames)`` maps RGB uint8 frames
    ``[n, h, w, 3]`` to float32 ``[n, dim]``: preprocessing (``portrait_policy``) and the
    model run in batches of ``batch_size`` frames on ``device`` under ``torch.inference_mode``
    (and autocast for fp16/bf16). On the CPU in fp32 the output is deterministic.

    Attributes:
        entry: the complete registry entry (preprocessing, output size, source).
        spec: ``entry.image``, the preprocessing.
        device: where the model runs.
        precision: ``fp32``, ``fp16`` or ``bf16``.
        portrait_policy: how non-square frames are fitted (see :mod:`reelsense.vision`).
        dim: output size.
    """

    def __init__(
        self,
        entry: ModelEntry,
        backbone: nn.Module,
        *,
        device: torch.device,
        precision: str = "fp32",
        portrait_policy: PortraitPolicy | None = None,
    ) -> None:
        if entry.image is None or entry.output_dim is None:
            raise ParameterError(f"model entry {entry.name!r} has no image preprocessing (resolve it first)")
        self.entry = entry
        self.spec = entry.image
        self.backbone = backbone
        self.device = device
        self.precision = select_precision(precision, device)
        self.portrait_policy: PortraitPolicy = portrait_policy or entry.image.portrait_policy
        self.dim = int(entry.output_dim)

    def __repr__(self) -> str:
        return (
            f"ImageEncoder(model={self.entry.name!r}, dim={self.dim}, device={self.device}, "
            f"precision={self.precision!r}, portrait_policy={self.portrait_policy!r})"
        )

    @property
    def default_batch_size(self) -> int:
        """Model inputs per forward pass when ``encode`` is not told: 64 on CUDA, 8 elsewhere."""
        return 64 if self.device.type == "cuda" else 8

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> PreprocessedFrames:
        """Model input for ``frames`` on this encoder's device (see :func:`preprocess_frames`)."""
        return preprocess_frames(frames, self.spec, policy=self.portrait_policy, device=self.device)

    def encode_pixels(self, prepared: PreprocessedFrames) -> torch.Tensor:
        """Features ``[n, dim]`` (float32, on device, not normalised) of preprocessed frames;
        the tiles of one frame are averaged."""
        with torch.inference_mode(), autocast_context(self.device, self.precision):
            features = self.backbone(prepared.pixels)
        features = torch.as_tensor(features).float()
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ParameterError(
                f"model {self.entry.name!r} gave features of shape {tuple(features.shape)}, "
                f"expected [*, {self.dim}]"
            )
        if prepared.tiles_per_frame > 1:
            features = features.view(-1, prepared.tiles_per_frame, self.dim).mean(dim=1)
        return features

    def _pass_size(self, batch_size: int | None, frame_shape: tuple[int, ...] | None = None) -> int:
        """Frames per forward pass: ``batch_size`` model inputs, divided by the inputs one
        frame of ``frame_shape`` (``[.., h, w, 3]``) becomes (tiles), at least one frame."""
        size = (
            self.default_batch_size if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
        )
        if frame_shape is not None and len(frame_shape) >= 3:
            size = max(1, size // inputs_per_frame(frame_shape[-3], frame_shape[-2], self.portrait_policy))
        return size

    def encode_on_device(self, frames: np.ndarray, batch_size: int | None = None) -> torch.Tensor:
        """Unnormalised features float32 ``[n, dim]`` of same-size uint8 frames ``[n, h, w,
        3]``, left on the device (no synchronisation: a caller batching several videos
        copies once). The upload is pinned on CUDA; passes of ``batch_size`` frames as in
        :meth:`encode`."""
        step = self._pass_size(batch_size, frames.shape)
        pixels = torch.from_numpy(np.ascontiguousarray(frames))
        if self.device.type == "cuda":
            pixels = pixels.pin_memory()
        return torch.cat(
            [
                self.encode_pixels(self.preprocess(pixels[start : start + step]))
                for start in range(0, pixels.shape[0], step)
            ]
        )

    def encode(
        self, frames: np.ndarray, *, batch_size: int | None = None, normalize: bool | None = None
    ) -> np.ndarray:
        """Embed RGB uint8 frames ``[n, h, w, 3]`` -> float32 ``[n, dim]``.

        Args:
            frames: one batch of same-size frames (e.g. the sampled frames of one video).
            batch_size: model inputs per forward pass (a frame cut into k tiles counts k;
                at least one frame per pass); ``None`` =
                :attr:`default_batch_size` (8 on the CPU, where larger batches fall out of
                cache and run slower, 64 on CUDA; see ``scripts/bench/bench_encoders.py``).
            normalize: L2-normalise each vector; ``None`` = the entry's default
                (True for CLIP/SigLIP, False for EfficientNet features).
        """
        if not isinstance(frames, np.ndarray):
            raise ParameterError(
                f"frames must be a numpy uint8 array [n, h, w, 3], got {type(frames).__name__}"
            )
        if frames.ndim != 4 or frames.dtype != np.uint8 or frames.shape[-1] != 3:
            raise ParameterError(f"frames must be uint8 RGB [n, h, w, 3], got {frames.dtype} {frames.shape}")
        batch_size = self._pass_size(batch_size, frames.shape)
        out = np.empty((frames.shape[0], self.dim), dtype=np.float32)
        unit = self.entry.normalize if normalize is None else normalize
        for start in range(0, frames.shape[0], batch_size):
            features = self.encode_pixels(self.preprocess(frames[start : start + batch_size]))
            if unit:
                features = F.normalize(features, dim=1)
            out[start : start + features.shape[0]] = features.cpu().numpy()
        return out


def load_image_encoder(
    model: str | ModelEntry = "efficientnet_lite0",
    *,
    device: str | torch.device | None = None,
    precision: Precision = "auto",
    portrait_policy: PortraitPolicy | None = None,
    offline: bool | None = None,
) -> ImageEncoder:
    """Resolve ``model`` (registry name, hub id, path or entry) and load its image encoder.

    Args:
        device: ``None``/``"auto"`` = cuda > mps > cpu.
        precision: ``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32``, ``fp16`` or ``bf16``.
        portrait_policy: override the entry's policy for non-square frames.
        offline: hub models only: read only the local cache (``None`` follows ``HF_HUB_OFFLINE``).

    Raises:
        ModelNotFoundError: unknown model or weights not available (the message says how to get them).
        ParameterError: bad device or precision.
    """
    chosen = select_device(device)
    concrete = select_precision(precision, chosen)
    resolved = resolve_model(model, offline=offline)
    backbone = build_image_backbone(resolved, chosen, concrete)
    encoder = ImageEncoder(
        resolved.entry, backbone, device=chosen, precision=concrete, portrait_policy=portrait_policy
    )
    logger.info("loaded image encoder %r", encoder)
    return encoder
