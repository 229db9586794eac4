"""Log-mel front end, clip statistics, and the audio encoders of the model registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelsense.audio import (
    AudioEncoder,
    LogMelConfig,
    load_audio_encoder,
    logmel,
    logmel_statistics,
    statistics_dim,
)
from reelsense.audio._ast import FbankSpec, ast_fbank, window_starts
from reelsense.audio.embedding import mel_filterbank, resample, stats_embedding
from reelsense.errors import ModelNotFoundError, ParameterError
from reelsense.models import get_model, get_preset, list_models, list_presets, models_dir, resolve_model
from reelsense.models._entries import BuiltinSource

SR = 16000
GOLDEN = __import__("pathlib").Path(__file__).parent / "golden" / "tiny_ast.npz"


def noise(seconds: float, seed: int = 0, sample_rate: int = SR, level: float = 0.1) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * sample_rate))).astype(
        np.float32
    )


def tone(freq_hz: float, seconds: float, sample_rate: int = SR, level: float = 0.3) -> np.ndarray:
    """A sine with a faint noise floor 60 dB down (as any recording has)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    floor = np.random.default_rng(int(freq_hz)).standard_normal(t.shape[0]) * 1e-3
    return (level * (np.sin(2 * np.pi * freq_hz * t) + floor)).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --------------------------------------------------------------------------- log-mel


@pytest.mark.parametrize(
    "config",
    [
        LogMelConfig(),
        LogMelConfig(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=40, fmin=0.0, fmax=11025.0),
    ],
)
def test_logmel_equals_librosa(config: LogMelConfig) -> None:
    import librosa

    x = noise(2.0, 1, config.sample_rate) + tone(440.0, 2.0, config.sample_rate)
    ours = logmel(x, config.sample_rate, config)
    mel = librosa.feature.melspectrogram(
        y=x,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    reference = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=2e-3)
    filters = librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
    )
    np.testing.assert_allclose(
        mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax),
        filters,
        rtol=1e-5,
        atol=1e-8,
    )


@pytest.mark.parametrize(("sample_rate", "seconds"), [(16000, 1.0), (22050, 2.5), (44100, 0.3), (8000, 0.01)])
def test_logmel_shape_after_resampling(sample_rate: int, seconds: float) -> None:
    x = noise(seconds, 2, sample_rate)
    n_16k = round(x.shape[0] * SR / sample_rate)
    spectrogram = logmel(x, sample_rate)
    assert spectrogram.shape == (64, 1 + n_16k // 160)
    assert np.isfinite(spectrogram).all() and spectrogram.min() >= -100.0


def test_logmel_is_deterministic_and_floored() -> None:
    x = noise(1.5, 3)
    np.testing.assert_array_equal(logmel(x, SR), logmel(x.copy(), SR))
    silent = logmel(np.zeros(SR, np.float32), SR)
    np.testing.assert_allclose(silent, -100.0, atol=1e-3)
    assert logmel(np.zeros(0, np.float32), SR).shape == (64, 1)


@settings(max_examples=20, deadline=None)
@given(gain_db=st.floats(-30.0, 6.0), seed=st.integers(0, 1000))
def test_gain_shifts_logmel_and_leaves_the_embedding(gain_db: float, seed: int) -> None:
    x = noise(1.0, seed, level=0.05) + tone(300.0 + seed, 1.0, level=0.1)
    gain = 10 ** (gain_db / 20)
    base, scaled = logmel(x, SR), logmel(gain * x, SR)
    above_floor = base > -80.0
    np.testing.assert_allclose((scaled - base)[above_floor], gain_db, atol=2e-3)
    a, b = logmel_statistics(x, SR), logmel_statistics(gain * x, SR)
    np.testing.assert_allclose(b[:64] - a[:64], gain_db, atol=2e-3)  # band means move
    np.testing.assert_allclose(b[64:192], a[64:192], atol=2e-3)  # std and delta do not
    np.testing.assert_allclose(b[192:195] - a[192:195], gain_db, atol=2e-3)  # level percentiles
    np.testing.assert_allclose(stats_embedding(b), stats_embedding(a), atol=1e-4)


def test_statistics_layout_and_dim() -> None:
    assert statistics_dim() == 200
    config = LogMelConfig(n_mels=32)
    stats = logmel_statistics(noise(2.0, 4), SR, config)
    assert stats.shape == (statistics_dim(config),) == (104,) and stats.dtype == np.float32
    np.testing.assert_array_equal(stats, logmel_statistics(noise(2.0, 4), SR, config))
    p10, p50, p90 = stats[96:99]
    assert p10 <= p50 <= p90
    shares = stats[100:103]
    assert np.all(shares >= 0) and shares.sum() <= 1.0 + 1e-6
    assert 0.0 < stats[103] <= 1.0


def test_modulation_shares_follow_the_envelope() -> None:
    t = np.arange(4 * SR) / SR
    carrier = noise(4.0, 5)
    syllabic = logmel_statistics(carrier * (1 + np.sin(2 * np.pi * 4.0 * t)).astype(np.float32), SR)
    slow = logmel_statistics(carrier * (1 + np.sin(2 * np.pi * 1.0 * t)).astype(np.float32), SR)
    assert syllabic[197] > 0.6 and syllabic[197] > syllabic[196]  # 2-8 Hz band
    assert slow[196] > 0.6 and slow[196] > slow[197]  # 0.5-2 Hz band


def test_tone_and_noise_differ() -> None:
    encoder = load_audio_encoder("logmel_stats")
    noise_a, noise_b = encoder.encode(noise(3.0, 6), SR), encoder.encode(noise(3.0, 7), SR)
    tone_a = encoder.encode(tone(440.0, 3.0), SR)
    tone_b = encoder.encode(tone(440.0, 3.0, level=0.03), SR)
    assert cosine(noise_a, noise_b) > 0.99
    assert cosine(tone_a, tone_b) > 0.99
    assert cosine(tone_a, noise_a) < 0.5
    assert cosine(encoder.encode(tone(1760.0, 3.0), SR), tone_a) < 0.9


def test_bad_inputs() -> None:
    with pytest.raises(ParameterError, match="mono"):
        logmel(np.zeros((2, 100), np.float32), SR)
    with pytest.raises(ParameterError, match="floating"):
        logmel(np.zeros(100, np.int16), SR)
    with pytest.raises(ParameterError, match="NaN"):
        logmel(np.array([0.0, np.inf], np.float32), SR)
    with pytest.raises(ParameterError, match="sample_rate"):
        logmel(np.zeros(100, np.float32), 0)
    with pytest.raises(ParameterError, match="fmax"):
        LogMelConfig(fmax=9000.0)
    with pytest.raises(ParameterError, match="power of two"):
        LogMelConfig(n_fft=500)
    with pytest.raises(ParameterError, match="empty"):
        load_audio_encoder().encode(np.zeros(0, np.float32), SR)
    with pytest.raises(ParameterError):
        stats_embedding(np.zeros(10))


def test_resample_keeps_a_tone() -> None:
    x = tone(1000.0, 1.0, 44100)
    y = resample(x, 44100, SR)
    assert y.shape == (SR,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * SR / y.shape[0] - 1000.0) < 2.0
    assert resample(y, SR, SR) is y


# --------------------------------------------------------------------------- registry and encoders


def test_registry_entries_and_presets() -> None:
    assert list_models(modality="audio") == ["ast_audioset", "logmel_stats", "tiny_ast"]
    entry = get_model("logmel_stats")
    assert entry.modalities == ("audio",) and entry.architecture == "logmel_stats"
    assert isinstance(entry.source, BuiltinSource) and entry.is_complete
    assert entry.output_dim == statistics_dim() and entry.audio is not None and entry.audio.sample_rate == SR
    resolved = resolve_model("logmel_stats")
    assert resolved.path.name == "embedding.py" and resolved.entry == entry
    ast = get_model("ast_audioset")
    assert ast.output_dim == 768 and ast.audio is not None and ast.audio.window_seconds == 10.24
    assert get_preset("default").audio == "logmel_stats" == get_preset("tiny").audio
    assert get_preset("clip").audio == "logmel_stats" and get_preset("clip_ast").audio == "ast_audioset"
    for name in list_presets():
        audio = get_preset(name).audio
        assert audio is None or get_model(audio).supports("audio")


def test_logmel_stats_encoder() -> None:
    encoder = load_audio_encoder()
    assert isinstance(encoder, AudioEncoder)
    assert encoder.dim == 200 and encoder.sample_rate == SR and encoder.entry.name == "logmel_stats"
    clips = [(noise(1.0, 8), SR), (tone(220.0, 2.0, 22050), 22050), (noise(0.05, 9, 44100), 44100)]
    vectors = encoder.encode_many(clips)
    assert vectors.shape == (3, 200) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[1], encoder.encode(*clips[1]), atol=1e-6)
    assert encoder.encode_many([]).shape == (0, 200)
    silence = encoder.encode(np.zeros(SR, np.float32), SR)
    assert np.isfinite(silence).all() and np.linalg.norm(silence) == pytest.approx(1.0)


def test_non_audio_models_are_refused() -> None:
    with pytest.raises(ModelNotFoundError, match="not an audio model"):
        load_audio_encoder("tiny_text", device="cpu")
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        load_audio_encoder("logmel_stat")


@pytest.mark.parametrize(
    ("n", "window", "hop", "starts", "lengths"),
    [
        (50, 100, 100, [0], [50]),
        (100, 100, 100, [0], [100]),
        (260, 100, 100, [0, 100, 200], [100, 100, 60]),
        (210, 100, 100, [0, 100], [100, 100]),  # a 10-sample tail is dropped
        (250, 100, 50, [0, 50, 100, 150], [100, 100, 100, 100]),
    ],
)
def test_window_starts(n: int, window: int, hop: int, starts: list[int], lengths: list[int]) -> None:
    got_starts, got_lengths = window_starts(n, window, hop)
    assert got_starts.tolist() == starts and got_lengths.tolist() == lengths


@pytest.mark.filterwarnings("ignore:At least one mel filter:UserWarning")
@pytest.mark.parametrize("settings", [{}, {"num_mel_bins": 32, "max_length": 100}])
def test_batched_fbank_equals_the_feature_extractor(settings: dict[str, int]) -> None:
    """Our torch fbank is what transformers' ASTFeatureExtractor gives, window by window:
    full, partial, longer than max_length, and shorter than one 25 ms frame."""
    import torch
    from transformers import ASTFeatureExtractor

    extractor = ASTFeatureExtractor(**settings)
    spec = FbankSpec.of(extractor)
    assert spec is not None and FbankSpec.of(object()) is None
    rng = np.random.default_rng(12)
    windows = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (163840, 50000, 200000, 16000)]
    windows.append(tone(440.0, 1.0))
    expected = extractor(windows, sampling_rate=SR, return_tensors="np")["input_values"]
    filters = torch.from_numpy(spec.mel_filters())
    ours = ast_fbank(windows, spec, filters).numpy()
    assert ours.shape == expected.shape == (5, spec.max_length, spec.num_mel_bins)
    np.testing.assert_allclose(ours, expected, atol=2e-4)
    # under one frame (the extractor's torchaudio path refuses it): nothing but padding
    short = ast_fbank([windows[0][:300]], spec, filters).numpy()
    np.testing.assert_allclose(short, -spec.mean / (2 * spec.std), atol=1e-6)


@pytest.fixture(scope="module")
def tiny_ast() -> AudioEncoder:
    if not (models_dir() / "tiny_ast").is_dir():
        pytest.skip("models/tiny_ast is missing: run scripts/dev/make_tiny_models.py --only tiny_ast")
    return load_audio_encoder("tiny_ast", device="cpu", precision="fp32")


def _golden_clips() -> tuple[list[tuple[np.ndarray, int]], np.ndarray]:
    golden = np.load(GOLDEN)
    clips = [(golden[f"clip{i}"].astype(np.float32), int(golden[f"rate{i}"])) for i in range(3)]
    return clips, golden["vectors"]


def test_tiny_ast_golden(tiny_ast: AudioEncoder) -> None:
    """The hub-model path (resolve, complete the entry from the directory's configs,
    transformers feature extractor, batched windows, pooled output) pinned by a golden."""
    assert tiny_ast.dim == 32 and tiny_ast.sample_rate == SR
    assert tiny_ast.entry.architecture == "hf_audio" and tiny_ast.entry.audio is not None
    assert tiny_ast.entry.audio.window_seconds == pytest.approx(1.0)
    clips, expected = _golden_clips()
    vectors = tiny_ast.encode_many(clips)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tiny_ast.encode(*clips[0]), expected[0], atol=1e-5)


def test_tiny_ast_by_directory_like_a_hub_model(tiny_ast: AudioEncoder) -> None:
    """A directory given by path is detected as an AST from its config.json, as a hub id is."""
    encoder = load_audio_encoder(str(models_dir() / "tiny_ast"), device="cpu", precision="fp32")
    assert encoder.entry.architecture == "hf_audio" and encoder.dim == 32
    clips, expected = _golden_clips()
    np.testing.assert_allclose(encoder.encode_many(clips), expected, atol=1e-5)


def test_tiny_ast_batches_like_single_clips(tiny_ast: AudioEncoder) -> None:
    clips = [(noise(2.3, 10), SR), (tone(330.0, 0.7), SR), (noise(1.1, 11, 22050), 22050)]
    together = tiny_ast.encode_many(clips)
    alone = np.stack([tiny_ast.encode(*clip) for clip in clips])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert not math.isclose(cosine(together[0], together[1]), 1.0, abs_tol=1e-6)


def test_tiny_ast_bf16_on_cpu_is_close(tiny_ast: AudioEncoder) -> None:
    encoder = load_audio_encoder("tiny_ast", device="cpu", precision="bf16")
    clips, expected = _golden_clips()
    assert np.min(np.sum(encoder.encode_many(clips) * expected, axis=1)) > 0.98
