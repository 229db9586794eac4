"""Every frozen config checks its fields by type, with the shared helpers of ``reelsense._checks``:
an integer field takes no float (``n_fft=512.5``) or bool, a number field no bool, string or
NaN (no inf where the number must be finite), a choice only its options, a flag only True or
False (the string ``"no"`` is true). Each refusal is a :class:`~reelsense.errors.ParameterError`
naming the field and the value it got; numpy numbers (what JSON, safetensors metadata and
array code hand over) keep working and are stored as Python numbers."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from reelsense.audio import LogMelConfig
from reelsense.audio.presence import PresenceConfig
from reelsense.errors import ParameterError
from reelsense.featurize import FeaturizerConfig
from reelsense.io import DecodeLimits, FrameSampling
from reelsense.pipeline import RunConfig
from reelsense.rank import EventWeights, FeatureConfig, RankConfig
from reelsense.sounds.dense import DenseConfig
from reelsense.sounds.discover import ContentParams, DiscoveryParams
from reelsense.sounds.match import MatchConfig
from reelsense.trends import HashtagLinkParams

NAN = float("nan")
INF = float("inf")
INT = (1.5, True, NAN, "8")  # where an integer goes
FINITE = (True, NAN, INF, "1")  # where a finite number goes
NUMBER = (True, NAN, "1")  # where a number goes (inf meaning "never")
FLAG = ("no", 1, None)  # where True or False goes


MATCH_INTS = (
    "offset_bin_frames",
    "n_candidates",
    "cells_per_sound",
    "first_triplets",
    "second_triplets",
    "confirm_triplets",
    "align_tol_steps",
    "align_scale_steps",
    "align_shift_steps",
    "align_cap_per_bin",
    "align_cap_per_frame",
    "top_k",
)


def _efficientnet(**options: Any) -> object:
    from reelsense.vision._efficientnet import EfficientNetLiteConfig

    return EfficientNetLiteConfig(**options)


# (the config, its fields, the bad values each field is given)
FIELDS: list[tuple[Callable[..., object], tuple[str, ...], tuple[object, ...]]] = [
    (LogMelConfig, ("n_fft", "hop_length", "n_mels"), INT),
    (LogMelConfig, ("fmin", "fmax"), FINITE),
    (PresenceConfig, tuple(f for f in PresenceConfig.__dataclass_fields__), FINITE),
    (
        RankConfig,
        (
            "members",
            "em_iterations",
            "max_em_iterations",
            "holdout_patience",
            "holdout_min_comparisons",
            "prior_rank",
            "max_train_users",
            "max_per_sound",
            "seed",
        ),
        INT,
    ),
    (RankConfig, ("holdout_fraction", "prior_shrinkage", "near_duplicate_cosine"), FINITE),
    (RankConfig, ("negative_feedback",), FLAG),
    (FeatureConfig, ("coordinates",), FLAG),
    (EventWeights, tuple(EventWeights.__dataclass_fields__), FINITE),
    (DenseConfig, ("block_frames", "min_query_frames", "batch_blocks"), INT),
    (DenseConfig, ("scale_step", "shift_step_bins"), FINITE),
    (ContentParams, ("n_fft", "hop_length"), INT),
    (ContentParams, tuple(ContentParams.__dataclass_fields__)[3:], FINITE),  # after the STFT's integers
    (DiscoveryParams, ("neighbours", "min_support"), INT),
    (DiscoveryParams, ("join_score", "merge_score"), NUMBER),
    (
        DiscoveryParams,
        ("scale_tolerance", "min_notes_per_second", "min_loudness_lufs", "min_cluster_notes_per_second"),
        FINITE,
    ),
    (DiscoveryParams, ("music_filter", "second_chance", "composite_edits"), FLAG),
    (MatchConfig, ("exit_score",), NUMBER),
    (MatchConfig, MATCH_INTS, INT),
    (
        MatchConfig,
        (
            "scale_step",
            "shift_step_bins",
            "first_round_max_load",
            "max_load",
            "align_tol_bins",
            "align_step_frames",
            "null_window_seconds",
            "threshold",
            "dense_below_score",
        ),
        FINITE,
    ),
    (MatchConfig, ("dense_second_chance", "composite"), FLAG),
    (HashtagLinkParams, ("min_share", "max_p_value"), FINITE),
    (HashtagLinkParams, ("require_music",), FLAG),
    (_efficientnet, ("stem_channels", "head_channels", "num_classes"), INT),
    (_efficientnet, ("bn_eps",), FINITE),
    (FrameSampling, ("count", "max_side", "max_frames", "max_scene_frames"), INT),
    (FeaturizerConfig, ("frame_vectors", "second_chance", "discover_sounds", "presence"), FLAG),
    (FeaturizerConfig, ("offline",), ("no", 1)),  # None: HF_HUB_OFFLINE
    (RunConfig, ("include_hidden", "overwrite", "retry_errors", "strict"), FLAG),
]

CASES = [
    pytest.param(make, name, bad, id=f"{getattr(make, '__name__', make)}.{name}={bad!r}")
    for make, names, bads in FIELDS
    for name in names
    for bad in bads
]


@pytest.mark.parametrize(("make", "name", "bad"), CASES)
def test_a_field_of_the_wrong_type_is_refused_by_name(
    make: Callable[..., object], name: str, bad: object
) -> None:
    with pytest.raises(ParameterError) as caught:
        make(**{name: bad})
    assert f"{name}={bad!r}" in str(caught.value)


CHOICES: list[tuple[Callable[..., object], str]] = [
    (FrameSampling, "strategy"),
    (DiscoveryParams, "clustering"),
    (DiscoveryParams, "library"),
    (MatchConfig, "dense_scope"),
    (FeaturizerConfig, "pooling"),
]


@pytest.mark.parametrize(("make", "name"), CHOICES)
def test_a_wrong_choice_names_the_value_and_the_options(make: Callable[..., object], name: str) -> None:
    with pytest.raises(ParameterError, match=rf"{name}='bogus' must be one of \w+, \w+"):
        make(**{name: "bogus"})


@pytest.mark.parametrize(
    ("name", "options"), [("thread_type", "AUTO, FRAME"), ("resample_quality", "QQ, LQ")]
)
def test_the_decoders_choices_use_the_shared_wording(name: str, options: str) -> None:
    from reelsense.io._decode import _check_parameters

    arguments: dict[str, object] = {
        "audio_sample_rate": 16000,
        "frames": None,
        "start_seconds": 0.0,
        "duration_seconds": None,
        "limits": DecodeLimits(),
        "threads": 0,
        "thread_type": "AUTO",
        "resample_quality": "HQ",
        name: "bogus",
    }
    with pytest.raises(ParameterError, match=rf"^{name}='bogus' must be one of {options}"):
        _check_parameters(**arguments)


def test_nested_configs_must_be_configs() -> None:
    for make, name in (
        (RankConfig, "weights"),
        (RankConfig, "features"),
        (DiscoveryParams, "content"),
        (MatchConfig, "dense"),
    ):
        with pytest.raises(ParameterError, match=rf"{name}=\{{\}} must be a \w+"):
            make(**{name: {}})


def test_numpy_numbers_still_load_as_python_numbers() -> None:
    """What JSON, safetensors metadata and array code pass keeps working, stored as plain Python
    numbers (a saved model's JSON holds plain numbers)."""
    mel = LogMelConfig(n_fft=np.int64(1024), hop_length=np.int32(256), fmin=np.float32(20.0))  # type: ignore[arg-type]
    assert (type(mel.n_fft), type(mel.hop_length), mel.n_fft, mel.hop_length) == (int, int, 1024, 256)
    rank = RankConfig(members=np.int64(2), holdout_fraction=np.float64(0.1))  # type: ignore[arg-type]
    assert type(rank.members) is int and rank.holdout_fraction == 0.1
    dense = DenseConfig(block_frames=np.int64(512))  # type: ignore[arg-type]
    assert type(dense.block_frames) is int
    assert type(ContentParams(n_fft=np.int64(2048)).n_fft) is int  # type: ignore[arg-type]
    assert type(DiscoveryParams(neighbours=np.int64(4)).neighbours) is int  # type: ignore[arg-type]
    assert type(_efficientnet(num_classes=np.int64(0)).num_classes) is int  # type: ignore[attr-defined]
    assert RankConfig.from_json(RankConfig().to_json()) == RankConfig()
    # inf keeps its meaning where a score is a bound: never stop early, never merge on one edge
    assert math.isinf(MatchConfig(exit_score=INF).exit_score)
    assert math.isinf(DiscoveryParams(merge_score=INF, join_score=INF).merge_score)
    # a numpy bool (a DataFrame's cell) is a flag, stored as a bool
    flags = FeaturizerConfig(presence=np.bool_(False), offline=np.bool_(True))  # type: ignore[arg-type]
    assert (type(flags.presence), flags.presence, type(flags.offline)) == (bool, False, bool)
    assert type(MatchConfig(composite=np.bool_(True)).composite) is bool  # type: ignore[arg-type]


def test_defaults_are_unchanged() -> None:
    assert LogMelConfig() == LogMelConfig(16000, 512, 160, 64, 50.0, 8000.0)
    assert EventWeights() == EventWeights(5.0, 0.5, 1.0, 1.5, 1.5, -1.0, -2.0)


@pytest.mark.parametrize("name", MATCH_INTS)
def test_match_config_names_only_the_field_below_its_minimum(name: str) -> None:
    """One message per field: ``n_candidates=0`` used to be reported as
    ``top_k=1, n_candidates=0, first_triplets=600 must be >= 1``."""
    minimum = 0 if name == "align_tol_steps" else 1
    with pytest.raises(ParameterError) as caught:
        MatchConfig(**{name: minimum - 1})
    assert str(caught.value) == f"{name}={minimum - 1} must be >= {minimum}"


def test_match_config_stores_python_numbers() -> None:
    """numpy numbers are stored as Python ints and floats, as in the other configs (a config
    given numpy values is equal to, and hashes like, the one given Python values)."""
    given: dict[str, Any] = {name: np.int64(getattr(MatchConfig(), name)) for name in MATCH_INTS}
    given |= {"scale_step": np.float64(0.025), "threshold": np.float64(2.0), "max_load": np.float64(8.0)}
    config = MatchConfig(**given)
    assert config == MatchConfig() and hash(config) == hash(MatchConfig())
    for name in (*MATCH_INTS, "scale_step", "threshold", "max_load"):
        assert type(getattr(config, name)) is (int if name in MATCH_INTS else float), name
    assert MatchConfig(max_load=None).max_load is None


# (the config, a value outside the range its code implies, what the message says)
RANGES: list[tuple[Callable[..., object], dict[str, object], str]] = [
    # "has speech": at least this much; at 0 s every clip that is not silent had speech
    (PresenceConfig, {"min_speech_seconds": 0.0}, "min_speech_seconds=0.0 must be > 0"),
    (PresenceConfig, {"min_speech_seconds": -1.0}, "min_speech_seconds=-1.0 must be > 0"),
    (PresenceConfig, {"min_music_seconds": -0.5}, "min_music_seconds=-0.5 must be >= 0"),
    # "within active_range_db of the loudest frames": below 0 no frame but the loudest is active
    (PresenceConfig, {"active_range_db": -10.0}, "active_range_db=-10.0 must be >= 0"),
    (ContentParams, {"n_fft": 32}, "n_fft=32 must be >= 64"),
    (ContentParams, {"hop_length": 0}, "hop_length=0 must be >= 1"),
    (ContentParams, {"hop_length": 2048}, "hop_length=2048 must be <= n_fft=1024"),
    # a peak is counted when louder than the loudest cell less floor_db: at 0 dB, none is
    (ContentParams, {"floor_db": 0.0}, "floor_db=0.0 must be > 0"),
    (ContentParams, {"contrast_half_width_hz": -170.0}, "contrast_half_width_hz=-170.0 must be > 0"),
    # sustained power over raw power is 0..1: above 1 no note is ever counted
    (ContentParams, {"steady_ratio": 1.5}, r"steady_ratio=1.5 must be in \[0, 1\]"),
    (ContentParams, {"steady_ratio": -0.1}, r"steady_ratio=-0.1 must be in \[0, 1\]"),
    # the band is looked for among the STFT's bins, 0..sample_rate / 2: above, no note is counted
    (ContentParams, {"fmin_hz": 6000.0, "fmax_hz": 8000.0}, r"fmin_hz=6000.0 must be below 5512.5 Hz"),
]


@pytest.mark.parametrize(
    ("make", "options", "message"),
    [pytest.param(make, options, text, id=f"{make.__name__}.{options}") for make, options, text in RANGES],
)
def test_a_value_outside_the_range_its_code_implies_is_refused_by_name(
    make: Callable[..., object], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ParameterError, match=message):
        make(**options)


def test_the_range_bounds_that_still_mean_something_are_accepted() -> None:
    assert PresenceConfig(active_range_db=0.0, min_speech_seconds=0.01, min_music_seconds=0.0)
    assert ContentParams(steady_ratio=0.0).steady_ratio == 0.0
    assert ContentParams(steady_ratio=1.0, hop_length=64, n_fft=64).n_fft == 64
    assert ContentParams(sample_rate=8000, fmin_hz=3999.0).fmin_hz == 3999.0


def test_rank_config_json_keeps_integers_integers() -> None:
    """RankConfig's integer fields are written as JSON integers (given a numpy integer too);
    only the event weights, float fields, are written as floats (``like=5`` as ``5.0``), and a
    saved model's JSON holding ``5`` for a weight loads as the same config."""
    config = RankConfig(members=np.int64(2), weights=EventWeights(like=5))  # type: ignore[arg-type]
    data = config.to_json()
    for owner, values in (
        (RankConfig, data),
        (FeatureConfig, data["features"]),
        (EventWeights, data["weights"]),
    ):
        for item in dataclasses.fields(owner):
            if item.type in ("int", "float", "bool"):
                assert type(values[item.name]).__name__ == item.type, (owner.__name__, item.name)
    assert data["weights"]["like"] == 5.0 and data["members"] == 2
    old = json.loads(json.dumps(data).replace('"like": 5.0', '"like": 5'))
    assert RankConfig.from_json(old) == config
