"""The fusion stage's column handling: music presence reaches the fusion."""

from __future__ import annotations

import numpy as np

from reelsense.featurize._fusion_stage import MIN_MUSIC_FRACTION, fuse_columns, music_flags
from reelsense.fusion import FusionConfig, fuse


def test_music_fraction_decides_the_audio_stand_in() -> None:
    rng = np.random.default_rng(0)
    columns = {
        "visual_vector": rng.normal(size=(3, 16)).astype(np.float32),
        "audio_vector": rng.normal(size=(3, 8)).astype(np.float32),
        "sound_id": [None, "s1", None],
        "sound_score": [None, 9.0, None],
        "music_fraction": [0.8, 0.9, MIN_MUSIC_FRACTION / 2],
    }
    config = FusionConfig(dim=64)
    got = fuse_columns(columns, 3, config)
    flags = music_flags(columns["music_fraction"])
    assert flags is not None and flags.tolist() == [True, True, False]
    keys = [None, "s1", None]
    conf = [0.0, 1.0 - 1e-9, 0.0]
    expected = fuse(
        config, visual=columns["visual_vector"], audio=columns["audio_vector"], sound_keys=keys,
        sound_confidence=conf, music=flags,
    )  # fmt: skip
    np.testing.assert_allclose(got.vectors, expected.vectors, atol=1e-6)
    without = fuse_columns({k: v for k, v in columns.items() if k != "music_fraction"}, 3, config)
    assert not np.allclose(without.vectors[0], got.vectors[0])  # row 0: music, no sound key
    np.testing.assert_allclose(without.vectors[1:], got.vectors[1:], atol=1e-6)  # named sound; no music
    assert music_flags(None) is None and music_flags([None]).tolist() == [False]  # type: ignore[union-attr]
