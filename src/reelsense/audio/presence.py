"""Speech and music presence, and the voice-over flag, of a soundtrack.

:func:`analyse_presence` works on 32 ms frames of the signal resampled to 16 kHz (features
in :mod:`reelsense.audio._presence_features`):

**Speech.** The speech probability of each frame comes from the Silero VAD (the
``silero-vad`` package's own weights, loaded from its safetensors file into a torch port:
see :mod:`reelsense.audio._vad`; install with ``pip install silero-vad``). Without
it, a fallback heuristic scores each frame with a logistic function of four cues of
syllabic speech -- syllable gaps in the speech band (low-energy share), uneven spectral
change across bands, 2-8 Hz envelope modulation, and voiced peaks that glide rather than
hold -- fitted once to the Silero decisions on the development set
(``scripts/dev/fit_presence_fallback.py``). Frames at or above ``speech_threshold`` are
speech (for the heuristic, ``fallback_threshold_in_music`` in frames that already look like
music: its cues also fire on beats and chord changes); gaps under 100 ms are closed and
runs under 250 ms dropped (as Silero's own segmenter does).

**Music** is sustained pitch that changes: a frame's *music score* is the number of
spectral peaks on tonal tracks of >= 224 ms (held notes, chords, pads; averaged over
``music_window_seconds``) plus the rate of new tracks per second (new notes; averaged over
``births_window_seconds``) divided by ``births_per_point``. Noise and ambience make no
stable peaks and speech harmonics glide and break every syllable, so they score low; a
steady hum makes tracks but no new ones, so music also needs ``min_births_per_second``.
A frame is music when it is active (level above ``active_floor_dbfs`` and within
``active_range_db`` of the clip's loudest frames), has that many new tracks, and its
score reaches ``music_score``, or ``music_score_in_speech`` where speech is present
(speech adds a few short tracks of its own). A voice over music still shows the music's
tracks between and under the syllables.

**Clip decisions.** ``has_speech``: at least ``min_speech_seconds`` of speech.
``has_music``: at least ``min_music_seconds`` of music and ``min_music_fraction`` of the
clip. ``voice_over``: both, and music under at least ``min_overlap_share`` of the speech.
``silent``: the clip's 95th-percentile frame level is below ``silent_dbfs`` (then there is
no speech or music). Fractions are of the clip's duration.

The thresholds were chosen among round values on a plateau of equal accuracy, not per
file (``scripts/bench/eval_presence.py``; figures in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from reelsense._checks import check_finite, check_positive
from reelsense.audio._presence_features import (
    FRAME_SECONDS,
    RATE,
    PresenceFrames,
    presence_frames,
    window_mean,
)
from reelsense.audio.embedding import resample
from reelsense.errors import ModelNotFoundError, ParameterError

__all__ = ["AudioPresence", "PresenceConfig", "VadName", "analyse_presence", "speech_probabilities"]

logger = logging.getLogger(__name__)

VadName = Literal["auto", "silero", "energy"]
SILERO_NAME = "silero-vad"
FALLBACK_NAME = "energy-spectral"

# Fallback speech score: logistic weights on (low_energy, flux_spread, syllabic,
# unstable_peaks), fitted to Silero's frame decisions on the development set and rounded
# (scripts/dev/fit_presence_fallback.py reproduces them).
_FALLBACK_WEIGHTS = (3.9, 1.45, 3.0, 0.16)
_FALLBACK_BIAS = -12.2
_CLOSE_GAP_SECONDS = 0.1
_MIN_RUN_SECONDS = 0.25


@dataclass(frozen=True)
class PresenceConfig:
    """Thresholds of :func:`analyse_presence` (module docstring); defaults chosen on the development set.

    Each is a finite number, and within the range the analysis gives it a meaning:
    ``speech_threshold`` and ``fallback_threshold_in_music`` in (0, 1) (probabilities);
    ``music_window_seconds``, ``births_window_seconds``, ``births_per_point``,
    ``min_speech_seconds`` > 0 (at 0 s of speech, every clip that is not silent "has
    speech"); ``min_music_seconds`` and ``active_range_db`` >= 0 (music at 0 s: the share
    ``min_music_fraction`` alone decides; a level range below the loudest frames);
    ``min_music_fraction`` and ``min_overlap_share`` in [0, 1] (shares). The scores, rates
    and dBFS levels take any finite value.
    """

    speech_threshold: float = 0.5
    fallback_threshold_in_music: float = 0.7
    music_window_seconds: float = 1.5
    births_window_seconds: float = 3.0
    births_per_point: float = 8.0
    music_score: float = 3.0
    music_score_in_speech: float = 3.6
    min_births_per_second: float = 1.0
    active_floor_dbfs: float = -60.0
    active_range_db: float = 50.0
    silent_dbfs: float = -50.0
    min_speech_seconds: float = 0.5
    min_music_seconds: float = 1.0
    min_music_fraction: float = 0.2
    min_overlap_share: float = 0.25

    def __post_init__(self) -> None:
        for item in fields(self):  # each a finite number (True, "0.5", NaN refused), as a float
            object.__setattr__(self, item.name, check_finite(getattr(self, item.name), item.name))
        for name in ("speech_threshold", "fallback_threshold_in_music"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ParameterError(f"{name}={getattr(self, name)} must be in (0, 1)")
        for name in (
            "music_window_seconds",
            "births_window_seconds",
            "births_per_point",
            "min_speech_seconds",
        ):
            check_positive(getattr(self, name), name)
        for name in ("min_music_seconds", "active_range_db"):
            if getattr(self, name) < 0.0:
                raise ParameterError(f"{name}={getattr(self, name)} must be >= 0")
        for name in ("min_music_fraction", "min_overlap_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParameterError(f"{name}={getattr(self, name)} must be in [0, 1]")


@dataclass(frozen=True)
class AudioPresence:
    """What a soundtrack holds (definitions in the module docstring).

    Attributes:
        speech_fraction: share of the clip with speech (0..1).
        music_fraction: share with music (sustained, changing pitch) (0..1).
        speech_seconds, music_seconds: the same in seconds.
        voice_over: speech over music (both present, overlapping for a meaningful share).
        silent: near-silent clip.
        vad_model: which detector produced ``speech_fraction`` (``silero-vad`` or
            ``energy-spectral``).
        has_speech, has_music: the clip-level decisions.
        overlap_seconds: time with both speech and music.
        duration_seconds: length of the clip analysed.
    """

    speech_fraction: float
    music_fraction: float
    speech_seconds: float
    music_seconds: float
    voice_over: bool
    silent: bool
    vad_model: str
    has_speech: bool = False
    has_music: bool = False
    overlap_seconds: float = 0.0
    duration_seconds: float = 0.0


def _silero_available() -> bool:
    from reelsense.audio._vad import silero_weights_path

    return silero_weights_path() is not None


def _fallback_probabilities(frames: PresenceFrames) -> np.ndarray:
    a, b, c, d = _FALLBACK_WEIGHTS
    z = (
        a * frames.low_energy
        + b * frames.flux_spread
        + c * frames.syllabic
        + d * frames.unstable_peaks
        + _FALLBACK_BIAS
    )
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0))), dtype=np.float32)


def _resolve_vad(vad: str) -> str:
    if vad not in ("auto", "silero", "energy"):
        raise ParameterError(f"vad must be 'auto', 'silero' or 'energy', got {vad!r}")
    if vad == "energy":
        return FALLBACK_NAME
    if _silero_available():
        return SILERO_NAME
    if vad == "silero":
        raise ModelNotFoundError(
            "vad='silero' needs the silero-vad package (>= 6.2.1): pip install silero-vad"
        )
    logger.debug("silero-vad is not installed: using the energy-spectral speech heuristic")
    return FALLBACK_NAME


def _speech_probabilities(x16k: np.ndarray, frames: PresenceFrames, model: str) -> np.ndarray:
    if model == SILERO_NAME:
        from reelsense.audio._vad import silero_probabilities

        return np.asarray(silero_probabilities(x16k)[: frames.n_frames])
    return _fallback_probabilities(frames)


def speech_probabilities(
    samples: np.ndarray, sample_rate: int, *, vad: str = "auto"
) -> tuple[np.ndarray, str]:
    """Speech probability of each 32 ms frame, float32 ``[ceil(n16k / 512)]``, and the
    detector's name (``vad``: ``auto`` = Silero when installed, else the heuristic)."""
    model = _resolve_vad(vad)
    x = resample(samples, sample_rate, RATE)
    return _speech_probabilities(x, presence_frames(x), model), model


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _segments(mask: np.ndarray) -> np.ndarray:
    """``mask`` with gaps shorter than 100 ms closed and runs shorter than 250 ms removed."""
    out: np.ndarray = mask.copy()
    starts, ends = _runs(~out)
    short_gap = (ends - starts) < round(_CLOSE_GAP_SECONDS / FRAME_SECONDS)
    inner = (starts > 0) & (ends < out.shape[0])
    for start, end in zip(starts[short_gap & inner], ends[short_gap & inner], strict=True):
        out[start:end] = True
    starts, ends = _runs(out)
    for start, end in zip(starts, ends, strict=True):
        if end - start < round(_MIN_RUN_SECONDS / FRAME_SECONDS):
            out[start:end] = False
    return out


def _music_frames(frames: PresenceFrames, speech: np.ndarray, config: PresenceConfig) -> np.ndarray:
    level = frames.level_db
    loud = float(np.percentile(level, 95)) if level.size else -120.0
    active = (level > config.active_floor_dbfs) & (level > loud - config.active_range_db)
    births = window_mean(frames.track_births, config.births_window_seconds) / FRAME_SECONDS
    score = window_mean(frames.tracks, config.music_window_seconds) + births / config.births_per_point
    speech_nearby = window_mean(speech, config.music_window_seconds) > 0.5
    threshold = np.where(speech_nearby, config.music_score_in_speech, config.music_score)
    return active & (score >= threshold) & (births >= config.min_births_per_second)


def analyse_presence(
    samples: np.ndarray,
    sample_rate: int,
    *,
    vad: str = "auto",
    config: PresenceConfig | None = None,
) -> AudioPresence:
    """Speech, music and voice-over presence of mono ``samples [n]`` at ``sample_rate`` Hz.

    Args:
        vad: ``auto`` (Silero when silero-vad is installed, else the heuristic), ``silero``
            (required), or ``energy`` (the heuristic).
        config: thresholds (defaults chosen on the development set).

    Raises:
        ParameterError: not mono float, NaN/inf, bad rate or bad ``vad``.
        ModelNotFoundError: ``vad="silero"`` without the silero-vad package.
    """
    config = config or PresenceConfig()
    model = _resolve_vad(vad)
    x = resample(samples, sample_rate, RATE)
    duration = x.shape[0] / RATE
    if x.shape[0] == 0:
        return AudioPresence(0.0, 0.0, 0.0, 0.0, False, True, model)
    frames = presence_frames(x)
    silent = bool(np.percentile(frames.level_db, 95) < config.silent_dbfs)
    if silent:
        return AudioPresence(0.0, 0.0, 0.0, 0.0, False, True, model, duration_seconds=duration)
    probability = _speech_probabilities(x, frames, model)
    threshold: float | np.ndarray = config.speech_threshold
    if model == FALLBACK_NAME:
        # the heuristic's cues also fire on beats and chord changes: ask more where music is
        musical = _music_frames(frames, np.zeros(frames.n_frames, dtype=bool), config)
        threshold = np.where(musical, config.fallback_threshold_in_music, config.speech_threshold)
    speech = _segments(probability >= threshold)
    music = _music_frames(frames, speech, config)
    speech_seconds = float(np.count_nonzero(speech)) * FRAME_SECONDS
    music_seconds = float(np.count_nonzero(music)) * FRAME_SECONDS
    overlap = float(np.count_nonzero(speech & music)) * FRAME_SECONDS
    n = frames.n_frames
    has_speech = speech_seconds >= config.min_speech_seconds
    has_music = music_seconds >= config.min_music_seconds and music_seconds >= config.min_music_fraction * (
        n * FRAME_SECONDS
    )
    voice_over = has_speech and has_music and overlap >= config.min_overlap_share * speech_seconds
    return AudioPresence(
        speech_fraction=min(1.0, speech_seconds / max(duration, 1e-9)),
        music_fraction=min(1.0, music_seconds / max(duration, 1e-9)),
        speech_seconds=min(speech_seconds, duration),
        music_seconds=min(music_seconds, duration),
        voice_over=bool(voice_over),
        silent=False,
        vad_model=model,
        has_speech=bool(has_speech),
        has_music=bool(has_music),
        overlap_seconds=min(overlap, duration),
        duration_seconds=duration,
    )
