"""Vectorised preprocessing and the portrait policies (whole-frame content is kept)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.errors import ParameterError
from reelsense.models import ImageSpec
from reelsense.models._entries import CLIP_MEAN, CLIP_STD, EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD
from reelsense.vision import preprocess_frames
from reelsense.vision._preprocess import MAX_TILES, frames_to_tensor, inputs_per_frame, tile_count

LITE = ImageSpec(image_size=32, mean=EFFICIENTNET_LITE_MEAN, std=EFFICIENTNET_LITE_STD, crop_fraction=0.875)
CLIP = ImageSpec(image_size=32, mean=CLIP_MEAN, std=CLIP_STD)
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def banded_portrait(n: int = 2, height: int = 160, width: int = 90) -> np.ndarray:
    """9:16 frames: red top 15 %, green middle, blue bottom 15 % (what a centre crop drops)."""
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    frames[:] = GREEN
    band = int(height * 0.15)
    frames[:, :band] = RED
    frames[:, -band:] = BLUE
    return frames


def to_rgb(pixels: torch.Tensor, spec: ImageSpec) -> np.ndarray:
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return ((pixels * std + mean) * 255).round().clamp(0, 255).permute(0, 2, 3, 1).numpy()


def has_colour(images: np.ndarray, colour: tuple[int, int, int], tolerance: float = 40.0) -> np.ndarray:
    """Per image: is some pixel within ``tolerance`` of ``colour``?"""
    distance = np.linalg.norm(images - np.array(colour), axis=-1)
    return (distance < tolerance).reshape(images.shape[0], -1).any(axis=1)


def test_efficientnet_lite_scaling() -> None:
    frames = np.full((1, 40, 40, 3), 200, dtype=np.uint8)
    pixels = preprocess_frames(frames, LITE).pixels
    assert pixels.shape == (1, 3, 32, 32)
    torch.testing.assert_close(pixels, torch.full_like(pixels, (200 - 127) / 128), atol=1e-5, rtol=0)


@pytest.mark.parametrize("policy", ["pad_blur", "pad_mean", "resize"])
def test_portrait_policies_keep_top_and_bottom(policy: str) -> None:
    out = preprocess_frames(banded_portrait(), CLIP, policy=policy)  # type: ignore[arg-type]
    assert out.tiles_per_frame == 1 and out.pixels.shape == (2, 3, 32, 32)
    rgb = to_rgb(out.pixels, CLIP)
    assert has_colour(rgb, RED).all() and has_colour(rgb, BLUE).all() and has_colour(rgb, GREEN).all()


def test_tiles_cover_the_whole_frame() -> None:
    out = preprocess_frames(banded_portrait(), CLIP, policy="tiles")
    assert out.tiles_per_frame == 2 and out.frame_count == 2 and out.pixels.shape == (4, 3, 32, 32)
    rgb = to_rgb(out.pixels, CLIP)
    assert has_colour(rgb[0::2], RED).all() and not has_colour(rgb[0::2], BLUE).any()  # top tiles
    assert has_colour(rgb[1::2], BLUE).all() and not has_colour(rgb[1::2], RED).any()  # bottom tiles


def test_blind_center_crop_drops_top_and_bottom() -> None:
    rgb = to_rgb(preprocess_frames(banded_portrait(), CLIP, policy="center_crop").pixels, CLIP)
    assert not has_colour(rgb, RED).any() and not has_colour(rgb, BLUE).any()


def test_letterbox_content_is_the_whole_frame_resized() -> None:
    frames = np.random.default_rng(1).integers(0, 256, size=(1, 64, 36, 3), dtype=np.uint8)
    spec = ImageSpec(image_size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), interpolation="bilinear")
    pixels = preprocess_frames(frames, spec, policy="pad_mean").pixels
    content = torch.nn.functional.interpolate(
        frames_to_tensor(frames), size=(32, 18), mode="bilinear", align_corners=False, antialias=True
    )
    torch.testing.assert_close(pixels[:, :, :, 7:25], content.clamp(0, 1), atol=1e-5, rtol=0)
    mean_colour = frames_to_tensor(frames).mean(dim=(2, 3))
    torch.testing.assert_close(pixels[:, :, 5, 2], mean_colour, atol=1e-5, rtol=0)


def test_landscape_frames_get_bars_top_and_bottom() -> None:
    frames = np.zeros((1, 90, 160, 3), dtype=np.uint8)
    frames[:, :, :24] = RED  # left edge, kept by a letterbox
    rgb = to_rgb(preprocess_frames(frames, CLIP, policy="pad_mean").pixels, CLIP)
    assert has_colour(rgb[:, 10:22, :3], RED).all()  # red at the left of the content rows
    assert not has_colour(rgb[:, :5], RED).any()  # top bar is the (dark) mean colour


def test_square_frames_use_the_native_crop_whatever_the_policy() -> None:
    frames = np.random.default_rng(2).integers(0, 256, size=(2, 48, 48, 3), dtype=np.uint8)
    reference = preprocess_frames(frames, LITE, policy="center_crop").pixels
    for policy in ("pad_blur", "pad_mean", "tiles", "resize"):
        out = preprocess_frames(frames, LITE, policy=policy)  # type: ignore[arg-type]
        assert out.tiles_per_frame == 1
        torch.testing.assert_close(out.pixels, reference)


def test_tile_count() -> None:
    assert tile_count(640, 360) == 2
    assert tile_count(360, 640) == 2
    assert tile_count(100, 100) == 1
    assert tile_count(105, 100) == 1
    assert tile_count(1000, 250) == 4


def test_bad_frames_are_rejected() -> None:
    with pytest.raises(ParameterError, match="uint8"):
        preprocess_frames(np.zeros((1, 8, 8, 3), dtype=np.float32), CLIP)
    with pytest.raises(ParameterError, match=r"\[n, h, w, 3\]"):
        preprocess_frames(np.zeros((8, 8, 3), dtype=np.uint8), CLIP)
    with pytest.raises(ParameterError, match="numpy"):
        preprocess_frames([[0]], CLIP)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="portrait policy"):
        preprocess_frames(np.zeros((1, 16, 8, 3), dtype=np.uint8), CLIP, policy="stretch")  # type: ignore[arg-type]


def test_empty_batch() -> None:
    out = preprocess_frames(np.zeros((0, 16, 9, 3), dtype=np.uint8), CLIP, policy="tiles")
    assert out.pixels.shape == (0, 3, 32, 32)


@settings(max_examples=30, deadline=None)
@given(
    height=st.integers(4, 120),
    width=st.integers(4, 120),
    policy=st.sampled_from(["pad_blur", "pad_mean", "tiles", "center_crop", "resize"]),
)
def test_any_frame_size_gives_finite_model_input(height: int, width: int, policy: str) -> None:
    frames = np.random.default_rng(height * 1000 + width).integers(
        0, 256, (2, height, width, 3), dtype=np.uint8
    )
    out = preprocess_frames(frames, LITE, policy=policy)  # type: ignore[arg-type]
    assert out.pixels.shape == (2 * out.tiles_per_frame, 3, 32, 32)
    square = max(height, width) / min(height, width) <= 1.02
    tiled = policy == "tiles" and not square and tile_count(height, width) <= MAX_TILES
    assert out.tiles_per_frame == (tile_count(height, width) if tiled else 1)
    assert out.tiles_per_frame == inputs_per_frame(height, width, policy) <= MAX_TILES
    assert torch.isfinite(out.pixels).all()
    low, high = (0 - 127) / 128, (255 - 127) / 128
    assert float(out.pixels.min()) >= low - 1e-5 and float(out.pixels.max()) <= high + 1e-5


@pytest.mark.parametrize(("height", "width"), [(2, 8192), (8192, 2), (1, 4096), (64, 1000)])
def test_extreme_aspect_ratios_are_letterboxed_not_tiled(height: int, width: int) -> None:
    """A strip would need hundreds of tiles; past MAX_TILES:1 it is one letterboxed input."""
    frames = np.full((3, height, width, 3), 200, dtype=np.uint8)
    out = preprocess_frames(frames, LITE, policy="tiles")
    assert out.tiles_per_frame == 1 and out.pixels.shape == (3, 3, 32, 32)
    assert torch.isfinite(out.pixels).all()


def test_normalisation_constants_are_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass builds no tensor from Python numbers (on a GPU that is a blocking copy, which
    would stall every pass), and the cached constants normalise as before."""
    frames = banded_portrait()
    expected = preprocess_frames(frames, CLIP).pixels  # the first call makes the constants
    made: list[object] = []
    real_tensor = torch.tensor

    def counting_tensor(*args: object, **kwargs: object) -> torch.Tensor:
        made.append(args[0] if args else None)
        return real_tensor(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "tensor", counting_tensor)
    with torch.inference_mode():
        again = preprocess_frames(frames, CLIP).pixels
    assert made == []
    assert torch.equal(again, expected)
