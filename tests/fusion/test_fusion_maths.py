"""Fusion maths: properties (hypothesis), masking, determinism, portability goldens."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.errors import ParameterError
from reelsense.fusion import (
    MODALITIES,
    FusionConfig,
    fuse,
    match_confidence,
    pool_frames,
    sound_identity_vector,
)
from reelsense.fusion._pool import frame_durations
from reelsense.fusion._random import hashed_gaussian, orthogonal_projection

DIMS = {"visual": 40, "caption": 24, "audio": 12}


def _inputs(seed: int, n: int, missing: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for j, (name, d) in enumerate(DIMS.items()):
        x = rng.normal(size=(n, d)).astype(np.float32)
        x[missing[:, j]] = np.nan
        out[name] = x
    return out


masks = st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(missing_rows=masks, seed=st.integers(0, 2**16), dim=st.sampled_from([8, 32, 64]))
def test_unit_norm_fixed_size_and_mask(missing_rows: list[list[bool]], seed: int, dim: int) -> None:
    missing = np.array(missing_rows, dtype=bool)
    n = missing.shape[0]
    config = FusionConfig(dim=dim)
    inputs = _inputs(seed, n, missing)
    keys = [None if missing[i, 3] else f"s{i % 2}" for i in range(n)]
    fused = fuse(config, **inputs, sound_keys=keys)
    assert fused.vectors.shape == (n, dim) and fused.vectors.dtype == np.float32
    np.testing.assert_array_equal(fused.mask, ~missing)
    for i in range(n):
        if missing[i].all():
            assert np.isnan(fused.vectors[i]).all()  # nothing present: no vector posing as data
        else:
            assert np.isfinite(fused.vectors[i]).all()
            assert abs(float(np.linalg.norm(fused.vectors[i])) - 1.0) < 1e-5


@settings(max_examples=30, deadline=None)
@given(missing_rows=masks, seed=st.integers(0, 2**16))
def test_rows_do_not_depend_on_the_batch(missing_rows: list[list[bool]], seed: int) -> None:
    missing = np.array(missing_rows, dtype=bool)
    config = FusionConfig(dim=32)
    inputs = _inputs(seed, missing.shape[0], missing)
    keys = [None if m else "x" for m in missing[:, 3]]
    whole = fuse(config, **inputs, sound_keys=keys)
    for i in range(missing.shape[0]):
        alone = fuse(config, **{k: v[i : i + 1] for k, v in inputs.items()}, sound_keys=keys[i : i + 1])
        np.testing.assert_array_equal(alone.vectors[0], whole.vectors[i])
        again = fuse(config, **{k: v[i : i + 1] for k, v in inputs.items()}, sound_keys=keys[i : i + 1])
        np.testing.assert_array_equal(again.vectors, alone.vectors)  # deterministic


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), dropped=st.sampled_from(["visual", "caption", "audio"]))
def test_missing_modality_is_masked_and_renormalised(seed: int, dropped: str) -> None:
    config = FusionConfig(dim=64)
    inputs = _inputs(seed, 1, np.zeros((1, 4), dtype=bool))
    with_nan = dict(inputs)
    with_nan[dropped] = np.full_like(inputs[dropped], np.nan)
    with_zeros = dict(inputs)
    with_zeros[dropped] = np.zeros_like(inputs[dropped])  # zeros are not data either
    without = {k: v for k, v in inputs.items() if k != dropped}
    a = fuse(config, **with_nan, sound_keys=["s"])
    b = fuse(config, **with_zeros, sound_keys=["s"])
    c = fuse(config, **without, sound_keys=["s"])
    np.testing.assert_allclose(a.vectors, c.vectors, atol=1e-6)
    np.testing.assert_allclose(b.vectors, c.vectors, atol=1e-6)
    assert not a.mask[0, MODALITIES.index(dropped)] and a.mask[0].sum() == 3
    assert abs(float(np.linalg.norm(a.vectors[0])) - 1.0) < 1e-5


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), speeds=st.lists(st.floats(0.7, 1.4), min_size=6, max_size=6))
def test_same_sound_is_close_whatever_the_speed(seed: int, speeds: list[float]) -> None:
    """The sound component depends on the sound id and confidence only: six uses of one
    sound at different speeds (so different match scores) share its direction; six videos
    with other sounds do not. Pictures, captions and audio statistics are unrelated."""
    config = FusionConfig(dim=512)
    rng = np.random.default_rng(seed)
    inputs = {name: rng.normal(size=(12, 1000)) for name in DIMS}
    keys = ["trend"] * 6 + [f"other{i}" for i in range(6)]
    confidences = [match_confidence(4.0 + 4 * abs(s - 1.0)) for s in speeds] + [0.99] * 6
    fused = fuse(config, **inputs, sound_keys=keys, sound_confidence=confidences)
    sims = fused.vectors @ fused.vectors.T
    same = sims[:6, :6][~np.eye(6, dtype=bool)]
    other = sims[:6, 6:]
    # the sound component holds w_s^2 / sum(w^2) = 1 / 3.5 of the similarity (visual and
    # picture 1, caption and audio 0.5, sound 1); the rest is O(1/sqrt(dim)) noise from the
    # unrelated modalities and the cross terms
    assert abs(float(same.mean()) - 1 / 3.5) < 0.1 and abs(float(other.mean())) < 0.1
    assert same.mean() > other.mean() + 0.2
    # sound only: every use is exactly the sound's direction, whatever its match score
    alone = fuse(config, sound_keys=["trend"] * 6, sound_confidence=confidences[:6])
    np.testing.assert_allclose(alone.vectors @ alone.vectors.T, np.ones((6, 6)), atol=1e-6)


def test_weights_shape_the_similarity() -> None:
    rng = np.random.default_rng(3)
    visual = rng.normal(size=(2, 40))
    caption = rng.normal(size=(2, 24))
    caption[1] = caption[0]  # same caption, different pictures
    sims = []
    for caption_weight in (0.1, 1.0, 3.0):
        fused = fuse(FusionConfig(dim=256, caption_weight=caption_weight), visual=visual, caption=caption)
        sims.append(float(fused.vectors[0] @ fused.vectors[1]))
    assert sims[0] < sims[1] < sims[2]
    zero = fuse(FusionConfig(dim=256, caption_weight=0.0), visual=visual, caption=caption)
    assert not zero.mask[:, 1].any()  # weight 0 drops the component


def test_picture_part_keeps_a_repost_close_against_many_uses_of_a_sound() -> None:
    """A repost (the same picture, mirrored: a slightly different visual vector) with a
    trending sound: its original, with another sound, ranks above the twelve other uses of
    the trending sound; without the picture part it is drowned by them."""
    rng = np.random.default_rng(5)
    pictures = np.abs(rng.normal(size=(14, 64)))  # non-negative, like pooled CNN features
    visual = pictures.copy()
    visual[1] = pictures[0] + 0.15 * np.abs(rng.normal(size=64))  # the repost of video 0
    inputs = {
        "visual": visual,
        "caption": rng.normal(size=(14, 24)),
        "audio": rng.normal(size=(14, 12)),
        "sound_keys": ["other", "trend"] + ["trend"] * 12,
    }
    for config, original_first in ((FusionConfig(), True), (FusionConfig(picture_weight=0.0), False)):
        sims = fuse(config, **inputs).vectors @ fuse(config, **inputs).vectors[1]
        assert (sims[0] > sims[2:].max()) == original_first


def test_picture_kernel_and_centring() -> None:
    """The picture part's inner product follows exp(-(1 - cos) / bandwidth) of the centred
    visual vectors; centring removes a common offset (row by row, no corpus statistics)."""
    from reelsense.fusion._fuse import center_rows, picture_features

    rng = np.random.default_rng(2)
    base = rng.normal(size=200)
    config = FusionConfig(dim=4096, center_visual=False)
    for mix in (0.0, 0.3, 0.6):
        other = np.sqrt(1 - mix**2) * base + mix * rng.normal(size=200)
        x = np.stack([base, other])
        cos = float(x[0] @ x[1] / np.linalg.norm(x[0]) / np.linalg.norm(x[1]))
        feats, ok = picture_features(x, config)
        assert ok.all()
        expected = np.exp(-(1 - cos) / config.picture_bandwidth)
        assert abs(float(feats[0] @ feats[1]) - expected) < 0.05
    shifted = np.stack([base, base + 7.0])
    np.testing.assert_allclose(center_rows(shifted)[0], center_rows(shifted)[1], atol=1e-9)
    assert np.isnan(center_rows(np.full((1, 3), np.nan))).all()


def test_audio_stands_in_for_a_missing_sound() -> None:
    """Two music videos whose sound no key names are compared on their audio as much as two
    named uses on their sound identity; speech-only videos (no music) are not."""
    rng = np.random.default_rng(4)
    audio = rng.normal(size=(2, 12))
    audio[1] = audio[0]
    visual = rng.normal(size=(2, 40))
    sims = {}
    for music in ([True, True], [False, False]):
        fused = fuse(FusionConfig(dim=256), visual=visual, audio=audio, sound_keys=[None, None], music=music)
        sims[music[0]] = float(fused.vectors[0] @ fused.vectors[1])
    off = fuse(FusionConfig(dim=256, audio_stand_in=False), visual=visual, audio=audio, music=[True, True])
    assert sims[True] > sims[False] + 0.2
    np.testing.assert_allclose(float(off.vectors[0] @ off.vectors[1]), sims[False], atol=1e-6)
    named = fuse(FusionConfig(dim=256), visual=visual, audio=audio, sound_keys=["s", "s"], music=[True, True])
    assert named.mask[:, MODALITIES.index("sound")].all()


def test_projection_is_an_isometry_up_to_dim_and_a_projection_above() -> None:
    up = orthogonal_projection("k", 24, 64)
    np.testing.assert_allclose(up @ up.T, np.eye(24), atol=1e-5)
    down = orthogonal_projection("k", 100, 32)
    np.testing.assert_allclose(down.T @ down, np.eye(32), atol=1e-5)
    assert not up.flags.writeable
    with pytest.raises(ParameterError):
        orthogonal_projection("k", 0, 4)


def test_golden_values_are_portable() -> None:
    """Hash-derived randomness, so these numbers are the same on every machine/release."""
    np.testing.assert_allclose(
        hashed_gaussian("reelsense", 4), [-2.24625634, 0.12317988, 0.47883798, 1.07893407], atol=1e-7
    )
    vector = sound_identity_vector("s004_hr3-desert", FusionConfig(dim=16))
    assert vector.dtype == np.float32 and abs(float(np.linalg.norm(vector)) - 1) < 1e-6
    np.testing.assert_allclose(vector[:3], [-0.401835, 0.326791, 0.266014], atol=1e-5)


def test_golden_fused_embedding() -> None:
    visual = np.linspace(-1.0, 1.0, 40, dtype=np.float32)[None, :]
    caption = np.cos(np.arange(24, dtype=np.float32))[None, :]
    audio = np.sin(np.arange(12, dtype=np.float32))[None, :]
    fused = fuse(FusionConfig(dim=16), visual=visual, caption=caption, audio=audio, sound_keys=["s1"])
    golden = [0.31564, -0.10693, 0.32793, 0.38882, -0.01757, -0.09449]
    np.testing.assert_allclose(fused.vectors[0, :6], golden, atol=1e-4)


def test_errors_and_config() -> None:
    with pytest.raises(ParameterError, match="dim"):
        FusionConfig(dim=4)
    with pytest.raises(ParameterError, match="visual_weight"):
        FusionConfig(visual_weight=-1.0)
    with pytest.raises(ParameterError, match="at least one"):
        FusionConfig(visual_weight=0, caption_weight=0, audio_weight=0, sound_weight=0, picture_weight=0)
    with pytest.raises(ParameterError, match="picture_bandwidth=0"):
        FusionConfig(picture_bandwidth=0.0)
    with pytest.raises(ParameterError, match="picture_weight"):
        FusionConfig(picture_weight=float("nan"))
    with pytest.raises(ParameterError, match="music flags"):
        fuse(FusionConfig(), audio=np.ones((2, 3)), music=[True])
    with pytest.raises(ParameterError, match="at least one modality"):
        fuse(FusionConfig())
    with pytest.raises(ParameterError, match="rows"):
        fuse(FusionConfig(), visual=np.ones((2, 3)), caption=np.ones((3, 3)))
    record = FusionConfig(seed=7).to_dict()
    assert record["seed"] == 7 and record["version"] >= 1 and record["dim"] == 1024
    assert match_confidence(None) == 0.0 and match_confidence(-1) == 0.0
    assert abs(match_confidence(2.0) - 0.99) < 1e-12


def test_pooling() -> None:
    vectors = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    np.testing.assert_allclose(pool_frames(vectors), [1 / 3, 2 / 3], atol=1e-6)  # unit frames first
    durations = frame_durations(np.array([0.0, 1.0, 2.0]), 8.0)
    np.testing.assert_allclose(durations, [1.0, 1.0, 6.0])
    np.testing.assert_allclose(
        pool_frames(vectors, np.array([0.0, 1.0, 2.0]), 8.0, "duration"), [1 / 8, 7 / 8], atol=1e-6
    )
    with pytest.raises(ParameterError):
        pool_frames(vectors, method="duration")
    with pytest.raises(ParameterError):
        pool_frames(np.zeros((0, 2)))


def test_projection_caches_never_mix_seeds() -> None:
    """The float64 projection is cached by its key, not by the identity of a float32 array
    that the float32 cache may drop (a recycled ``id`` once returned another seed's matrix)."""
    from reelsense.fusion._fuse import project_modality
    from reelsense.fusion._random import _projection

    x = np.random.default_rng(3).standard_normal((4, 24)).astype(np.float32)
    expected = {seed: project_modality(x, "visual", FusionConfig(dim=32, seed=seed))[0] for seed in range(8)}
    for seed in range(8):
        _projection.cache_clear()
        got = project_modality(x, "visual", FusionConfig(dim=32, seed=seed))[0]
        np.testing.assert_array_equal(got, expected[seed])


def test_fuse_takes_lists_as_arrays() -> None:
    rng = np.random.default_rng(0)
    visual = rng.normal(size=(3, 4))
    config = FusionConfig(dim=16)
    from_list = fuse(config, visual=visual.tolist())  # an AttributeError
    np.testing.assert_array_equal(from_list.vectors, fuse(config, visual=visual).vectors)


@pytest.mark.parametrize(
    ("config", "kwargs", "match"),
    [
        (None, {"visual": np.ones((2, 4))}, "config=None must be a FusionConfig"),
        ({"dim": 8}, {"visual": np.ones((2, 4))}, "config=.* must be a FusionConfig"),
        (FusionConfig(), {"sound_keys": "abc"}, "sound_keys='abc' is a single sound key"),  # made 3 videos
        (FusionConfig(), {"sound_keys": ["a", 3]}, "sound_keys must be str or None, got 3"),
        (FusionConfig(), {"sound_keys": ["a", "b"], "music": ["no", "yes"]}, "music must be bools, got 'no'"),
        (FusionConfig(), {"visual": [["a", "b"]]}, "visual vectors must be a float array"),
        (FusionConfig(), {"visual": [[1.0, 2.0], [1.0]]}, "visual vectors must be a float array"),
    ],
)
def test_fuse_refuses(config: object, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        fuse(config, **kwargs)  # type: ignore[arg-type]


def test_fuse_takes_numpy_bools() -> None:
    out = fuse(FusionConfig(dim=16), sound_keys=["a", None], music=np.array([True, False]))
    assert out.vectors.shape == (2, 16)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"center_visual": "no"}, "center_visual='no' must be True or False"),
        ({"audio_stand_in": 0}, "audio_stand_in=0 must be True or False"),
        ({"dim": 8.5}, "fusion dim=8.5 must be an integer"),
        ({"dim": "64"}, "fusion dim='64' must be an integer"),
        ({"seed": 1.5}, "fusion seed=1.5 must be an integer"),
        ({"visual_weight": "1"}, "visual_weight='1' must be a number"),
    ],
)
def test_config_refuses_values_of_the_wrong_kind(kwargs: dict[str, object], match: str) -> None:
    """A string flag read as True, a fractional size failed inside fuse, a string weight in a
    comparison: each is named when the config is made."""
    with pytest.raises(ParameterError, match=match):
        FusionConfig(**kwargs)  # type: ignore[arg-type]
