"""Image encoder on the tiny model: goldens, batching, determinism, normalisation, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelsense.errors import ModelNotFoundError, ParameterError
from reelsense.models import models_dir
from reelsense.vision import ImageEncoder, load_image_encoder

GOLDEN = Path(__file__).parent / "golden" / "tiny_image.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return load_image_encoder("tiny_image", device="cpu", precision="fp32")


@pytest.mark.parametrize("policy", ["pad_blur", "tiles", "center_crop"])
def test_tiny_image_golden(encoder: ImageEncoder, golden: dict[str, np.ndarray], policy: str) -> None:
    encoder.portrait_policy = policy  # type: ignore[assignment]
    try:
        vectors = encoder.encode(golden["frames"])
    finally:
        encoder.portrait_policy = "tiles"
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, golden[policy], rtol=1e-4, atol=1e-5)


def test_goldens_are_sensitive_to_the_policy(golden: dict[str, np.ndarray]) -> None:
    """The goldens pin the preprocessing too: the policies see different content."""

    def relative(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    assert relative(golden["pad_blur"], golden["center_crop"]) > 0.1
    assert relative(golden["tiles"], golden["center_crop"]) > 0.1
    assert relative(golden["tiles"], golden["pad_blur"]) > 0.1


def test_batching_and_determinism(encoder: ImageEncoder, golden: dict[str, np.ndarray]) -> None:
    frames = golden["frames"]
    once = encoder.encode(frames, batch_size=3)
    assert np.array_equal(once, encoder.encode(frames, batch_size=3))  # bit-identical on CPU
    np.testing.assert_allclose(encoder.encode(frames, batch_size=1), once, rtol=1e-5, atol=1e-6)


def test_tiles_average_the_tile_features(encoder: ImageEncoder, golden: dict[str, np.ndarray]) -> None:
    frames = golden["frames"][:1]
    encoder.portrait_policy = "tiles"
    try:
        prepared = encoder.preprocess(frames)
        pooled = encoder.encode(frames)
    finally:
        encoder.portrait_policy = "tiles"
    per_tile = encoder.backbone(prepared.pixels).detach().numpy()
    np.testing.assert_allclose(pooled[0], per_tile.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_normalize_and_empty_input(encoder: ImageEncoder, golden: dict[str, np.ndarray]) -> None:
    unit = encoder.encode(golden["frames"], normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    assert not encoder.entry.normalize
    assert encoder.encode(np.zeros((0, 20, 10, 3), dtype=np.uint8)).shape == (0, 64)


def test_bf16_autocast_on_cpu_stays_close(golden: dict[str, np.ndarray]) -> None:
    half = load_image_encoder("tiny_image", device="cpu", precision="bf16")
    assert half.precision == "bf16"
    vectors = half.encode(golden["frames"])
    assert vectors.dtype == np.float32
    cosine = (vectors * golden["tiles"]).sum(1) / (
        np.linalg.norm(vectors, axis=1) * np.linalg.norm(golden["tiles"], axis=1)
    )
    assert cosine.min() > 0.98


def test_same_model_by_path(golden: dict[str, np.ndarray]) -> None:
    by_path = load_image_encoder(str(models_dir() / "tiny_image"), device="cpu", precision="fp32")
    assert by_path.portrait_policy == "tiles"  # the documented default
    np.testing.assert_allclose(by_path.encode(golden["frames"]), golden["tiles"], rtol=1e-4, atol=1e-5)


def test_errors(encoder: ImageEncoder) -> None:
    with pytest.raises(ModelNotFoundError, match="does not embed images"):
        load_image_encoder("tiny_text", device="cpu")
    with pytest.raises(ParameterError, match="uint8"):
        encoder.encode(np.zeros((1, 8, 8, 3), dtype=np.float64))
    with pytest.raises(ParameterError, match="batch_size"):
        encoder.encode(np.zeros((1, 8, 8, 3), dtype=np.uint8), batch_size=0)
    for bad in (1.5, True, "2"):  # an integer, not whatever slices (1.5 ran before)
        with pytest.raises(ParameterError, match=r"batch_size=.* must be an integer"):
            encoder.encode(np.zeros((1, 8, 8, 3), dtype=np.uint8), batch_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="fp16"):
        load_image_encoder("tiny_image", device="cpu", precision="fp16")


def test_default_batch_size_on_cpu(encoder: ImageEncoder, golden: dict[str, np.ndarray]) -> None:
    assert encoder.default_batch_size == 8
    np.testing.assert_allclose(encoder.encode(golden["frames"]), golden["tiles"], rtol=1e-4, atol=1e-5)
