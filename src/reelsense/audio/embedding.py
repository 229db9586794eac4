"""Audio embeddings: log-mel spectrograms, their clip statistics, and audio encoders.

Pure functions take mono float ``samples [n]`` in [-1, 1] at any ``sample_rate`` and
resample (soxr) to :attr:`LogMelConfig.sample_rate` first.

**Log-mel** (:func:`logmel`): Hann-windowed (periodic) power STFT, ``center=True`` with
zero padding, Slaney mel scale with Slaney area-normalised triangles, ``10 log10(max(P,
1e-10))`` dB. This is exactly ``librosa.power_to_db(librosa.feature.melspectrogram(y, sr,
n_fft, hop_length, n_mels=, fmin=, fmax=), ref=1, amin=1e-10, top_db=None)`` (tested), in
float32 numpy / ``scipy.fft`` without importing librosa. Defaults (:class:`LogMelConfig`): 16 kHz, 32 ms
windows every 10 ms, 64 bands from 50 Hz to 8 kHz -- the front end of most audio
taggers (VGGish, PANNs, AST use 10 ms hops and 64-128 bands); 16 kHz keeps all of speech and
the body of music while the STFT stays cheap. Scaling the input by ``g`` adds ``20 log10 g``
dB to every bin above the floor.

**Statistics** (:func:`logmel_statistics`), ``3 * n_mels + 8`` values (200 by default),
float32, deterministic:

- ``[0 : M]`` per-band mean (dB), ``[M : 2M]`` per-band standard deviation over time (dB),
  ``[2M : 3M]`` per-band RMS of the frame-to-frame difference (dB per hop: how fast each
  band moves; high for speech and drums, low for pads and drones);
- ``[3M : 3M+8]`` temporal statistics of the frame level ``L(t)`` (mean dB over bands):
  10th, 50th and 90th percentile, RMS of ``dL/dt``, the share of the modulation energy of
  ``L`` in 0.5-2 Hz (phrases, bars), 2-8 Hz (syllables, beats) and 8-20 Hz (fast
  tremolo, rolls) out of 0.5-20 Hz, and the fraction of frames within 20 dB of the 90th
  percentile (activity).

**Encoders** (:func:`load_audio_encoder`): registry entries of modality ``audio``.
``logmel_stats`` (built in, no weights, the default) turns the statistics into a
gain-invariant, L2-normalised 200-d vector (see :func:`stats_embedding`);
``ast_audioset`` (``MIT/ast-finetuned-audioset-10-10-0.4593`` on the Hugging Face hub)
and any other AST directory or hub id give the transformer's pooled output (mean of the
CLS and distillation tokens, 768-d), averaged over 10.24 s windows of the clip, L2-normalised.
``tiny_ast`` is a random AST under ``models/`` for tests.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.fft

from reelsense._checks import check_finite, check_int, check_sample_rate
from reelsense.audio._signal import check_mono
from reelsense.errors import ModelNotFoundError, ParameterError

if TYPE_CHECKING:
    from reelsense.models import ModelEntry

__all__ = [
    "AudioEncoder",
    "LogMelConfig",
    "load_audio_encoder",
    "logmel",
    "logmel_statistics",
    "mel_filterbank",
    "resample",
    "statistics_dim",
    "statistics_from_logmel",
    "stats_embedding",
]

logger = logging.getLogger(__name__)

_AMIN = 1e-10
_CHUNK_FRAMES = 4096  # STFT frames per chunk: bounds memory on long inputs
_GLOBAL_STATS = 8
_MOD_BANDS_HZ = ((0.5, 2.0), (2.0, 8.0), (8.0, 20.0))


@dataclass(frozen=True)
class LogMelConfig:
    """Log-mel front end (see the module docstring for why these defaults).

    Attributes:
        sample_rate: analysis rate in Hz (an integer in 8000..384000, the rule of
            :func:`reelsense._checks.check_sample_rate`); input at another rate is resampled (soxr HQ).
        n_fft: STFT size and Hann window length in samples (512 = 32 ms at 16 kHz).
        hop_length: hop in samples (160 = 10 ms, 100 frames/s at 16 kHz).
        n_mels: mel bands.
        fmin, fmax: band edges in Hz (``fmax <= sample_rate / 2``).
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0

    def __post_init__(self) -> None:
        rate = check_sample_rate(self.sample_rate, "LogMelConfig.sample_rate")
        object.__setattr__(self, "sample_rate", rate)
        for name in ("n_fft", "hop_length", "n_mels"):  # integers (512.5, True, NaN refused), as ints
            object.__setattr__(self, name, check_int(getattr(self, name), f"LogMelConfig.{name}"))
        for name in ("fmin", "fmax"):
            object.__setattr__(self, name, check_finite(getattr(self, name), f"LogMelConfig.{name}"))
        if self.n_fft < 16 or self.n_fft & (self.n_fft - 1):
            raise ParameterError(f"LogMelConfig.n_fft must be a power of two >= 16, got {self.n_fft}")
        if not 1 <= self.hop_length <= self.n_fft:
            raise ParameterError(f"LogMelConfig.hop_length must be in 1..n_fft, got {self.hop_length}")
        if self.n_mels < 2:
            raise ParameterError(f"LogMelConfig.n_mels must be >= 2, got {self.n_mels}")
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ParameterError(
                f"LogMelConfig needs 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin} "
                f"fmax={self.fmax} sample_rate={self.sample_rate}"
            )

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length


_DEFAULT = LogMelConfig()


def resample(samples: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 ``samples [n]`` at ``target_rate`` (soxr HQ); unchanged if the rates match."""
    x = check_mono(samples, sample_rate).astype(np.float32, copy=False)
    if int(sample_rate) == int(target_rate) or x.shape[0] == 0:
        return x
    import soxr

    return np.asarray(soxr.resample(x, int(sample_rate), int(target_rate), quality="HQ"), dtype=np.float32)


# --------------------------------------------------------------------------- mel scale


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3.0)
    log = 1000.0 * np.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters, float32 ``[n_mels, n_fft // 2 + 1]``
    (the same matrix as ``librosa.filters.mel`` with its defaults). Read-only, cached."""
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out = weights.astype(np.float32)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    window.flags.writeable = False
    return window


# --------------------------------------------------------------------------- log-mel


def logmel(samples: np.ndarray, sample_rate: int, config: LogMelConfig = _DEFAULT) -> np.ndarray:
    """Log-mel power spectrogram in dB, float32 ``[n_mels, 1 + n // hop_length]`` (``n``
    counted at ``config.sample_rate``), floored at -100 dB. See the module docstring.

    Raises:
        ParameterError: not mono float, NaN/inf, or a bad sample rate.
    """
    x = resample(samples, sample_rate, config.sample_rate)
    n_fft, hop = config.n_fft, config.hop_length
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    n_frames = 1 + (padded.shape[0] - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    window = _hann(n_fft)
    filters = mel_filterbank(config.sample_rate, n_fft, config.n_mels, float(config.fmin), float(config.fmax))
    out = np.empty((config.n_mels, n_frames), dtype=np.float32)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        spectrum = scipy.fft.rfft(frames[start : start + _CHUNK_FRAMES] * window, axis=1)
        power = spectrum.real**2 + spectrum.imag**2  # float32 [f, bins]
        mel = power @ filters.T  # [f, n_mels]
        out[:, start : start + _CHUNK_FRAMES] = (10.0 * np.log10(np.maximum(mel, np.float32(_AMIN)))).T
    return out


def statistics_dim(config: LogMelConfig = _DEFAULT) -> int:
    """Length of :func:`logmel_statistics`: ``3 * n_mels + 8`` (200 by default)."""
    return 3 * config.n_mels + _GLOBAL_STATS


def _modulation_shares(level: np.ndarray, frame_rate: float) -> np.ndarray:
    """Shares of the modulation energy of ``level [T]`` in the ``_MOD_BANDS_HZ`` bands."""
    shares = np.zeros(len(_MOD_BANDS_HZ), dtype=np.float64)
    if level.shape[0] < 4:
        return shares
    centred = (level - level.mean()) * np.hanning(level.shape[0])
    power = np.abs(np.fft.rfft(centred.astype(np.float64))) ** 2
    hz = np.fft.rfftfreq(level.shape[0], 1.0 / frame_rate)
    in_range = (hz >= _MOD_BANDS_HZ[0][0]) & (hz < _MOD_BANDS_HZ[-1][1])
    total = float(power[in_range].sum())
    if total <= 1e-12:
        return shares
    for i, (lo, hi) in enumerate(_MOD_BANDS_HZ):
        shares[i] = float(power[(hz >= lo) & (hz < hi)].sum()) / total
    return shares


def statistics_from_logmel(spectrogram: np.ndarray, frame_rate: float) -> np.ndarray:
    """:func:`logmel_statistics` of a log-mel spectrogram ``[n_mels, T]`` at ``frame_rate`` Hz."""
    s = np.asarray(spectrogram, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] == 0:
        raise ParameterError(f"spectrogram must be [n_mels, T>0], got shape {s.shape}")
    mean = s.mean(axis=1)
    std = s.std(axis=1)
    delta = np.diff(s, axis=1)
    delta_rms = np.sqrt(np.mean(delta * delta, axis=1)) if delta.shape[1] else np.zeros_like(mean)
    level = s.mean(axis=0)
    p10, p50, p90 = np.percentile(level, [10.0, 50.0, 90.0])
    level_delta = np.diff(level)
    level_delta_rms = float(np.sqrt(np.mean(level_delta**2))) if level_delta.size else 0.0
    shares = _modulation_shares(level, frame_rate)
    active = float(np.mean(level >= p90 - 20.0))
    globals_ = np.array([p10, p50, p90, level_delta_rms, *shares, active])
    return np.concatenate([mean, std, delta_rms, globals_]).astype(np.float32)


def logmel_statistics(samples: np.ndarray, sample_rate: int, config: LogMelConfig = _DEFAULT) -> np.ndarray:
    """Clip statistics of :func:`logmel`, float32 ``[3 * n_mels + 8]`` (layout in the module
    docstring). Deterministic; only the band means and the three level percentiles move
    with the input gain."""
    return statistics_from_logmel(logmel(samples, sample_rate, config), config.frame_rate)


def stats_embedding(statistics: np.ndarray, n_mels: int = _DEFAULT.n_mels) -> np.ndarray:
    """The ``logmel_stats`` embedding of a :func:`logmel_statistics` vector: float32, same
    length, L2-normalised, unchanged by the input gain (while the spectrum stays above the
    -100 dB floor).

    Each group is made relative and scaled to a comparable spread (the dB scales are design
    constants, typical spreads on music, speech and ambience):

    - band means minus their average over bands (spectral shape), / 10 dB;
    - band standard deviations and band delta RMS, each / 10 dB;
    - level percentiles as p10 - p90 and p50 - p90, / 20 dB; the power-weighted centroid of
      the band means in bands / ``n_mels`` (brightness, 0..1); level delta RMS / 5 dB;
      modulation shares and activity as they are (0..1).
    """
    v = np.asarray(statistics, dtype=np.float64)
    m = n_mels
    if v.shape != (3 * m + _GLOBAL_STATS,):
        raise ParameterError(f"statistics must have shape ({3 * m + _GLOBAL_STATS},), got {v.shape}")
    mean, std, delta = v[:m], v[m : 2 * m], v[2 * m : 3 * m]
    p10, p50, p90, level_delta, *rest = v[3 * m :]
    power = 10.0 ** ((mean - mean.max()) / 10.0)
    centroid = float(np.arange(m) @ power / power.sum()) / m
    out = np.concatenate(
        [
            (mean - mean.mean()) / 10.0,
            std / 10.0,
            delta / 10.0,
            [(p10 - p90) / 20.0, (p50 - p90) / 20.0, centroid, level_delta / 5.0],
            rest,
        ]
    )
    return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------- encoders


class _Backend(Protocol):
    """Embeds clips already at the entry's sample rate: ``[n] -> [n, dim]`` float32."""

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray: ...


class _LogMelStatsBackend:
    def __init__(self, config: LogMelConfig) -> None:
        self.config = config

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        rows = [
            stats_embedding(logmel_statistics(clip, self.config.sample_rate, self.config), self.config.n_mels)
            for clip in clips
        ]
        return np.stack(rows) if rows else np.zeros((0, statistics_dim(self.config)), np.float32)


class AudioEncoder:
    """An audio model from the registry: clips in, one float32 vector per clip out.

    Attributes:
        entry: the resolved registry entry (``entry.audio`` gives rate and windowing).
        dim: output size.
        sample_rate: the rate the model runs at; inputs are resampled to it.
        normalize: whether outputs are L2-normalised (True for every built-in entry).
    """

    def __init__(self, entry: ModelEntry, backend: _Backend) -> None:
        if entry.audio is None or entry.output_dim is None:
            raise ModelNotFoundError(f"model {entry.name!r} is not a complete audio model entry")
        self.entry = entry
        self.dim = int(entry.output_dim)
        self.sample_rate = int(entry.audio.sample_rate)
        self.normalize = bool(entry.normalize)
        self._backend = backend

    def __repr__(self) -> str:
        return f"AudioEncoder({self.entry.name!r}, dim={self.dim}, sample_rate={self.sample_rate})"

    def encode(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """float32 ``[dim]`` of mono ``samples [n]`` at ``sample_rate`` Hz.

        Raises:
            ParameterError: not mono float, NaN/inf, bad rate, or empty.
        """
        vector: np.ndarray = self.encode_many([(samples, sample_rate)])[0]
        return vector

    def encode_many(self, clips: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
        """float32 ``[n, dim]`` for ``(samples, sample_rate)`` pairs; model encoders batch
        the clips' windows together."""
        prepared: list[np.ndarray] = []
        for i, (samples, rate) in enumerate(clips):
            x = resample(samples, rate, self.sample_rate)
            if x.shape[0] == 0:
                raise ParameterError(f"clip {i} is empty: an empty soundtrack is a missing modality")
            prepared.append(x)
        if not prepared:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.asarray(self._backend.embed(prepared), dtype=np.float32)
        if vectors.shape != (len(prepared), self.dim):
            raise ModelNotFoundError(
                f"model {self.entry.name!r} gave vectors of shape {vectors.shape}, expected "
                f"({len(prepared)}, {self.dim}): its entry does not describe it"
            )
        if self.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return np.asarray(vectors, dtype=np.float32)


def load_audio_encoder(
    model: str | ModelEntry = "logmel_stats",
    *,
    device: Any = None,
    precision: str = "auto",
    offline: bool | None = None,
    batch_size: int = 16,
) -> AudioEncoder:
    """Resolve ``model`` (registry name such as ``logmel_stats``, ``ast_audioset`` or
    ``tiny_ast``, a hub id ``hf:org/name``, a directory, or an entry) and load its encoder.

    Args:
        device: model encoders only: ``None``/``"auto"`` = cuda > mps > cpu.
        precision: model encoders only: ``auto`` (fp16 on CUDA), ``fp32``, ``fp16``, ``bf16``.
        offline: hub models only: read only the local cache (``None`` follows ``HF_HUB_OFFLINE``).
        batch_size: model encoders only: windows per forward pass.

    Raises:
        ModelNotFoundError: unknown model, not an audio model, or weights not available.
        ParameterError: bad device or precision.
    """
    from reelsense.models import get_model

    entry = get_model(model)
    if entry.architecture == "logmel_stats":
        if entry.audio is None:
            raise ModelNotFoundError(f"model {entry.name!r} has no audio spec")
        config = LogMelConfig(sample_rate=entry.audio.sample_rate)
        return AudioEncoder(entry, _LogMelStatsBackend(config))
    from reelsense.audio._ast import load_ast_backend
    from reelsense.models import resolve_model, select_device, select_precision

    chosen = select_device(device)
    resolved = resolve_model(entry, offline=offline)
    if resolved.entry.architecture != "hf_audio" or not resolved.entry.supports("audio"):
        raise ModelNotFoundError(
            f"model {resolved.entry.name!r} ({resolved.entry.architecture}, modalities "
            f"{resolved.entry.modalities}) is not an audio model; audio models: logmel_stats, "
            "ast_audioset, or an Audio Spectrogram Transformer hub id / directory"
        )
    backend = load_ast_backend(resolved, chosen, select_precision(precision, chosen), batch_size=batch_size)
    encoder = AudioEncoder(resolved.entry, backend)
    logger.info("loaded audio encoder %r on %s", encoder, chosen)
    return encoder
