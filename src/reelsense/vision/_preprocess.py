"""Vectorised image preprocessing: uint8 RGB frames -> normalised model input, in torch.

A whole batch (frames of one video share their size) is converted, fitted and resized in
a few tensor operations on the encoder's device. How a non-square frame is fitted is the
*portrait policy*:

``tiles`` (default)
    ``k = ceil(long / short)`` overlapping square crops spanning the long side (two for
    9:16: top and bottom, overlapping by 22 %); the encoder averages their features.
    Full resolution, nothing cut, ``k`` times the model compute. ``k`` is at most
    :data:`MAX_TILES`: a frame longer than ``MAX_TILES:1`` (a 8192x2 strip would need 399
    tiles and gigabytes) is letterboxed as with ``pad_mean`` instead, so the model input
    per frame, and with it a worker's memory, is bounded whatever the picture's shape.
``pad_blur``
    Letterbox: scale the whole frame to fit the square, fill the bars with a blurred
    copy of the frame's centre (what short-video apps do themselves). Nothing is cut,
    but a 9:16 frame's content shrinks to 56 % of the input width.
``pad_mean``
    Letterbox with the frame's mean colour (the cheapest policy that keeps everything).
``center_crop``
    The model's native eval crop (centre square of ``crop_fraction`` x the short side).
    Drops the top and bottom 22 % of a 9:16 frame each: kept for comparison.
``resize``
    Squash to the square (distorts shapes; SigLIP's native policy for square inputs).

Square frames always get the model's native ``crop_policy``. Why ``tiles``: a portrait
frame's subject is often tall (a person, a rocket) and reaches the top and bottom, which a
centre crop cuts, while letterboxing shrinks everything to 56 % and an ImageNet model
loses small subjects; ``tiles`` retrieved same-category pictures best of the five
(``scripts/bench/bench_portrait_policy.py``; figures in ``docs/benchmarks.md``). Tiles costs two
model passes per 9:16 frame: use ``pad_mean`` where throughput matters more.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from reelsense.errors import ParameterError
from reelsense.models import ImageSpec, PortraitPolicy

__all__ = [
    "MAX_TILES",
    "PreprocessedFrames",
    "frames_to_tensor",
    "inputs_per_frame",
    "preprocess_frames",
    "tile_count",
]

_SQUARE_TOLERANCE = 1.02
#: Most tiles one frame is cut into; longer frames are letterboxed (one input each).
MAX_TILES = 4
_BLUR_GRID = 12


@dataclass(frozen=True, repr=False)
class PreprocessedFrames:
    """Model input ``pixels [n * tiles_per_frame, 3, S, S]`` (frame-major) for ``n`` frames."""

    pixels: torch.Tensor
    tiles_per_frame: int

    @property
    def frame_count(self) -> int:
        return int(self.pixels.shape[0]) // self.tiles_per_frame

    def __repr__(self) -> str:
        return (
            f"PreprocessedFrames(pixels=<{tuple(self.pixels.shape)}>, tiles_per_frame={self.tiles_per_frame})"
        )


def frames_to_tensor(frames: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """RGB uint8 ``[n, h, w, 3]`` -> float32 ``[n, 3, h, w]`` in [0, 1] on ``device``.

    Raises:
        ParameterError: not a uint8 array of that shape.
    """
    if isinstance(frames, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(frames))
    elif isinstance(frames, torch.Tensor):
        tensor = frames
    else:
        raise ParameterError(f"frames must be a numpy array or tensor, got {type(frames).__name__}")
    if tensor.dtype != torch.uint8 or tensor.ndim != 4 or tensor.shape[-1] != 3:
        raise ParameterError(
            f"frames must be uint8 RGB [n, h, w, 3], got {str(tensor.dtype).replace('torch.', '')} "
            f"{tuple(tensor.shape)}"
        )
    if device is not None:
        tensor = tensor.to(device, non_blocking=True)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


def tile_count(height: int, width: int) -> int:
    """How many overlapping square tiles the ``tiles`` policy uses for a ``height x width`` frame."""
    ratio = max(height, width) / min(height, width)
    return max(1, math.ceil(ratio - 0.1))


def _fitting(height: int, width: int, policy: str) -> str:
    """How a ``height x width`` frame is fitted under ``policy``: ``native`` (square), the
    policy itself, or ``pad_mean`` for a frame too long to tile."""
    ratio = max(height, width) / max(1, min(height, width))
    if ratio <= _SQUARE_TOLERANCE or policy == "center_crop":
        return "native"
    if policy == "tiles" and tile_count(height, width) > MAX_TILES:
        return "pad_mean"
    return policy


def inputs_per_frame(height: int, width: int, policy: str) -> int:
    """Model inputs one ``height x width`` frame becomes under ``policy`` (1 to :data:`MAX_TILES`)."""
    return tile_count(height, width) if _fitting(height, width, policy) == "tiles" else 1


def _resize(x: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    if x.shape[-2:] == (height, width):
        return x
    if mode in ("bicubic", "bilinear"):
        return F.interpolate(x, size=(height, width), mode=mode, align_corners=False, antialias=True)
    return F.interpolate(x, size=(height, width), mode=mode)


def _center_square(x: torch.Tensor, fraction: float) -> torch.Tensor:
    height, width = x.shape[-2:]
    side = max(1, round(min(height, width) * fraction))
    top = (height - side) // 2
    left = (width - side) // 2
    return x[..., top : top + side, left : left + side]


def _native(x: torch.Tensor, spec: ImageSpec) -> torch.Tensor:
    size = spec.image_size
    if spec.crop_policy == "resize":
        return _resize(x, size, size, spec.interpolation)
    return _resize(_center_square(x, spec.crop_fraction), size, size, spec.interpolation)


def _letterbox(x: torch.Tensor, spec: ImageSpec, fill: str) -> torch.Tensor:
    size = spec.image_size
    height, width = x.shape[-2:]
    scale = size / max(height, width)
    content_h = max(1, min(size, round(height * scale)))
    content_w = max(1, min(size, round(width * scale)))
    content = _resize(x, content_h, content_w, spec.interpolation)
    if fill == "mean":
        canvas = x.mean(dim=(2, 3), keepdim=True).expand(-1, -1, size, size).clone()
    else:
        small = F.interpolate(_center_square(x, 1.0), size=(_BLUR_GRID, _BLUR_GRID), mode="area")
        canvas = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    top = (size - content_h) // 2
    left = (size - content_w) // 2
    canvas[:, :, top : top + content_h, left : left + content_w] = content
    return canvas


def _tiles(x: torch.Tensor, spec: ImageSpec) -> tuple[torch.Tensor, int]:
    height, width = x.shape[-2:]
    count = tile_count(height, width)
    side = min(height, width)
    long_side = max(height, width)
    starts = [round(i * (long_side - side) / (count - 1)) for i in range(count)] if count > 1 else [0]
    if height >= width:
        crops = [x[:, :, start : start + side, :] for start in starts]
    else:
        crops = [x[:, :, :, start : start + side] for start in starts]
    stacked = torch.stack(crops, dim=1).flatten(0, 1)  # [n * count, 3, side, side], frame-major
    size = spec.image_size
    return _resize(stacked, size, size, spec.interpolation), count


def preprocess_frames(
    frames: np.ndarray | torch.Tensor,
    spec: ImageSpec,
    *,
    policy: PortraitPolicy | None = None,
    device: torch.device | None = None,
) -> PreprocessedFrames:
    """Fit, resize and normalise RGB uint8 frames ``[n, h, w, 3]`` for a model with ``spec``.

    Args:
        frames: RGB uint8 ``[n, h, w, 3]`` (one size for the whole batch).
        spec: the model's preprocessing.
        policy: portrait policy for non-square frames; ``None`` = ``spec.portrait_policy``.
        device: where to run (the frames are uploaded as uint8).

    Returns:
        :class:`PreprocessedFrames` with ``pixels [n * k, 3, S, S]`` float32, ``k`` = tiles per frame.
    """
    chosen = policy or spec.portrait_policy
    x = frames_to_tensor(frames, device)
    height, width = x.shape[-2:]
    if height == 0 or width == 0:
        raise ParameterError(f"frames must have a non-empty picture, got {height}x{width}")
    fitting = _fitting(height, width, chosen)
    count = 1
    if chosen not in ("pad_blur", "pad_mean", "tiles", "center_crop", "resize"):
        raise ParameterError(
            f"portrait policy must be pad_blur, pad_mean, tiles, center_crop or resize, got {chosen!r}"
        )
    if x.shape[0] == 0:
        out = x.new_zeros((0, 3, spec.image_size, spec.image_size))
    elif fitting == "native":
        out = _native(x, spec)
    elif fitting == "resize":
        out = _resize(x, spec.image_size, spec.image_size, spec.interpolation)
    elif fitting in ("pad_blur", "pad_mean"):
        out = _letterbox(x, spec, "mean" if fitting == "pad_mean" else "blur")
    else:
        out, count = _tiles(x, spec)
    out = out.clamp_(0.0, 1.0)
    mean, std = _channel_constants(tuple(spec.mean), tuple(spec.std), out.dtype, out.device)
    return PreprocessedFrames(pixels=(out - mean) / std, tiles_per_frame=count)


@functools.lru_cache(maxsize=32)
def _channel_constants(
    mean: tuple[float, ...], std: tuple[float, ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean`` and ``std`` as ``[1, 3, 1, 1]`` tensors on ``device``, made once: building a
    tensor from Python numbers on a GPU is a blocking copy, which would make every pass wait
    for the device to finish the work queued before it. Ordinary tensors (not inference
    tensors), whichever mode the first call runs in."""
    with torch.inference_mode(False):
        values = torch.tensor([mean, std], dtype=dtype).view(2, 1, 3, 1, 1).to(device)
    return values[0], values[1]
