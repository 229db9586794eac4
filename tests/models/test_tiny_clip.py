"""The tiny random CLIP: loaded from its directory through the hub-model code path; goldens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelsense.models import models_dir
from reelsense.text import load_text_encoder
from reelsense.vision import load_image_encoder

GOLDEN = Path(__file__).parent / "golden" / "tiny_clip.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_image_and_text_share_one_model_and_space(golden: dict[str, np.ndarray]) -> None:
    image = load_image_encoder("tiny_clip", device="cpu", precision="fp32")
    text = load_text_encoder("tiny_clip", device="cpu", precision="fp32")
    assert image.dim == text.dim == 16
    assert image.backbone.model is text.tower.model  # one CLIP in memory for both towers
    image_vectors = image.encode(golden["frames"])
    text_vectors = text.encode([str(t) for t in golden["texts"]])
    np.testing.assert_allclose(np.linalg.norm(image_vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(text_vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(image_vectors, golden["image"], rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(text_vectors, golden["text"], rtol=1e-4, atol=2e-5)


def test_directory_path_gives_the_same_vectors(golden: dict[str, np.ndarray]) -> None:
    by_path = load_text_encoder(str(models_dir() / "tiny_clip"), device="cpu", precision="fp32")
    assert by_path.entry.name.startswith("dir:")
    np.testing.assert_allclose(
        by_path.encode([str(t) for t in golden["texts"]]), golden["text"], rtol=1e-4, atol=2e-5
    )


def test_text_is_truncated_to_the_context() -> None:
    text = load_text_encoder("tiny_clip", device="cpu")
    tokens = text.tokenize(["the quick brown fox " * 50, "a cat"])
    assert tokens["input_ids"].shape[1] == text.spec.max_tokens == 16
    eos = text.tokenizer.eos_token_id
    assert int(tokens["input_ids"][0, -1]) == eos  # the end token survives truncation (CLIP pools there)
    long_vectors = text.encode(["the quick brown fox " * 50, "the quick brown fox " * 80])
    np.testing.assert_allclose(long_vectors[0], long_vectors[1], atol=1e-6)
