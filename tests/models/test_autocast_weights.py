"""Linear and convolution weights stored in the autocast dtype at load: the outputs of
autocast over float32 weights, bit for bit, without a cast per weight per forward pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from reelsense.audio.embedding import load_audio_encoder
from reelsense.models import models_dir
from reelsense.models._device import autocast_context, autocast_weights
from reelsense.text import load_text_encoder
from reelsense.vision import load_image_encoder

CPU = torch.device("cpu")


class CastCount(TorchDispatchMode):
    """Counts the dtype conversions that copy (a ``to`` that returns its input is free)."""

    def __init__(self) -> None:
        super().__init__()
        self.casts = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket.__name__ in ("to", "_to_copy") and out is not args[0]:
            self.casts += 1
        return out


def tiny(name: str) -> None:
    if not (models_dir() / name).is_dir():
        pytest.skip(f"models/{name} is missing: run scripts/dev/make_tiny_models.py --only {name}")


def reduced_weights(module: nn.Module) -> set[torch.dtype]:
    return {
        p.dtype
        for layer in module.modules()
        if type(layer) in (nn.Linear, nn.Conv1d, nn.Conv2d)
        for p in layer.parameters(recurse=False)
    }


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 16)
        self.norm = nn.LayerNorm(16)
        self.conv = nn.Conv1d(16, 16, 3, padding=1)
        self.linear = nn.Linear(16, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(ids))
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        out: torch.Tensor = self.linear(x)
        return out


def test_same_outputs_without_the_weight_casts() -> None:
    torch.manual_seed(0)
    reference = Block().eval()
    stored = autocast_weights(Block().eval(), "bf16")
    stored.load_state_dict(reference.state_dict())  # the float32 values, cast on the copy
    ids = torch.randint(0, 10, (4, 7))
    counts = []
    outputs = []
    for model in (reference, stored):
        with CastCount() as count, torch.inference_mode(), autocast_context(CPU, "bf16"):
            for _ in range(3):
                out = model(ids)
        counts.append(count.casts)
        outputs.append(out)
    assert torch.equal(outputs[0], outputs[1])
    # per call: the conv and linear weights and biases (4 casts) are gone
    assert counts[0] - counts[1] == 3 * 4
    assert stored.linear.weight.dtype == stored.conv.bias.dtype == torch.bfloat16
    assert stored.norm.weight.dtype == stored.embed.weight.dtype == torch.float32


def test_fp32_changes_nothing_and_tied_weights_stay_float32() -> None:
    model = Block()
    weights = {name: p for name, p in model.named_parameters()}
    assert autocast_weights(model, "fp32") is model
    assert all(p is weights[name] for name, p in model.named_parameters())
    head = nn.Linear(16, 10, bias=False)
    head.weight = model.embed.weight  # tied: the embedding keeps its float32 table
    tied = nn.ModuleDict({"embed": model.embed, "head": head})
    autocast_weights(tied, "fp16")
    assert head.weight.dtype == torch.float16
    assert model.embed.weight.dtype == torch.float32


def test_a_model_whose_dtype_would_change_is_left_alone() -> None:
    class FirstIsLinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Linear(4, 4)

        @property
        def dtype(self) -> torch.dtype:  # as transformers' models: the first parameter's
            return next(self.parameters()).dtype

    model = FirstIsLinear()
    weight = model.first.weight
    autocast_weights(model, "bf16")
    assert model.first.weight is weight and model.dtype == torch.float32


def _same_as_autocast_over_float32(
    load: Callable[[str], Any], run: Callable[[Any], np.ndarray], set_precision: Callable[[Any], None]
) -> None:
    """``load(precision)`` in bf16 gives what the float32 load gives under bf16 autocast."""
    stored = load("bf16")
    reference = load("fp32")
    set_precision(reference)  # autocast over float32 weights: the casts on every call
    np.testing.assert_array_equal(run(stored), run(reference))


@pytest.mark.parametrize("name", ["tiny_image", "tiny_clip"])
def test_image_encoders(name: str) -> None:
    tiny(name)
    frames = np.random.default_rng(0).integers(0, 256, (3, 96, 54, 3), dtype=np.uint8)

    def load(precision: str) -> Any:
        return load_image_encoder(name, device="cpu", precision=precision)  # type: ignore[arg-type]

    def fp32_under_bf16(encoder: Any) -> None:
        assert reduced_weights(encoder.backbone) == {torch.float32}
        encoder.precision = "bf16"

    assert reduced_weights(load("bf16").backbone) == {torch.bfloat16}
    _same_as_autocast_over_float32(load, lambda encoder: encoder.encode(frames), fp32_under_bf16)


@pytest.mark.parametrize("name", ["tiny_text", "tiny_clip"])
def test_text_encoders(name: str) -> None:
    tiny(name)
    texts = ["a cat dances to the sped up sound", "#fyp #viral duet", "slowed + reverb"]

    def load(precision: str) -> Any:
        return load_text_encoder(name, device="cpu", precision=precision)  # type: ignore[arg-type]

    def fp32_under_bf16(encoder: Any) -> None:
        encoder.precision = "bf16"

    assert reduced_weights(load("bf16").tower) == {torch.bfloat16}
    _same_as_autocast_over_float32(load, lambda encoder: encoder.encode(texts), fp32_under_bf16)


def test_audio_encoder() -> None:
    tiny("tiny_ast")
    clip = (np.random.default_rng(1).standard_normal(16000 * 3) * 0.1).astype(np.float32)

    def load(precision: str) -> Any:
        return load_audio_encoder("tiny_ast", device="cpu", precision=precision)  # type: ignore[arg-type]

    def fp32_under_bf16(encoder: Any) -> None:
        encoder._backend.precision = "bf16"

    assert reduced_weights(load("bf16")._backend.model) == {torch.bfloat16}
    _same_as_autocast_over_float32(load, lambda encoder: encoder.encode(clip, 16000), fp32_under_bf16)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_dual_encoders_in_memory(family: str) -> None:
    """Random tiny CLIP and SigLIP models (SigLIP's pooling head is a MultiheadAttention,
    whose projections are used as plain tensors): both towers bitwise unchanged."""
    import copy

    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    size = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    text = {**size, "vocab_size": 100, "max_position_embeddings": 16, "bos_token_id": 1, "eos_token_id": 2}
    vision = {**size, "image_size": 32, "patch_size": 8}
    torch.manual_seed(0)
    if family == "clip":
        reference: Any = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    else:
        reference = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
    reference.eval()
    stored = autocast_weights(copy.deepcopy(reference), "bf16")
    assert stored.dtype == torch.float32 and reduced_weights(stored) == {torch.bfloat16}
    pixels, ids = torch.randn(3, 3, 32, 32), torch.randint(3, 100, (3, 16))

    def features(output: Any) -> torch.Tensor:
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    outputs = []
    for model in (reference, stored):
        with torch.inference_mode(), autocast_context(CPU, "bf16"):
            image = features(model.get_image_features(pixel_values=pixels))
            text_features = features(model.get_text_features(input_ids=ids))
        outputs.append((image, text_features))
    assert torch.equal(outputs[0][0], outputs[1][0])
    assert torch.equal(outputs[0][1], outputs[1][1])


def test_only_on_the_cpu_and_cuda() -> None:
    model = Block().to("meta")  # any device autocast may not cover (MPS on older torch)
    weight = model.linear.weight
    autocast_weights(model, "fp16")
    assert model.linear.weight is weight
