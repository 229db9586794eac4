"""Per-video work of discovery, run in worker processes: decode once, fingerprint, match.

Stage 1 (:func:`print_source`): decode the soundtrack once at the fingerprint rate, read
the sidecar, match it against the library (when one is given), and, with the music filter,
measure its note rate and fingerprint its sustained partials (without it, the soundtrack
itself) at the reference density (for the video index) and at the query density (to be
matched; only the peaks are kept). Stage 2 (:func:`match_print`): make one video's query
print from those peaks and match it against the index of all videos.

Worker state (the library index, the video matcher) lives in module globals set by the
pool initialisers, so it is opened or unpickled once per worker, not once per video.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from reelsense._workers import worker_died_message
from reelsense.audio.descriptors import integrated_loudness
from reelsense.errors import NoAudioError, ReelsenseError, SidecarError
from reelsense.io import read_audio
from reelsense.io._sidecar import read_sidecar_fields
from reelsense.sounds.discover._content import sustained_filter
from reelsense.sounds.discover._matcher import QueryPeaks, VideoMatcher, soundtrack_prints
from reelsense.sounds.discover._types import AudioClip, DiscoveryParams
from reelsense.sounds.fingerprint import FingerprintParams, Peaks, log_spectrogram
from reelsense.sounds.index import FileVersion, SoundIndex
from reelsense.sounds.match import MatchConfig, SoundMatch

__all__ = [
    "Job",
    "MatchJob",
    "VideoPrint",
    "close_worker",
    "init_matcher",
    "init_worker",
    "match_print",
    "matched_spectrogram",
    "print_source",
    "source_name",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """What a worker needs for one source: its number and a path or an :class:`AudioClip`."""

    number: int
    source: str | AudioClip


@dataclass(frozen=True, repr=False)
class VideoPrint:
    """Stage-1 result for one video (``ref_peaks``/``query`` None when it is not music or failed;
    ``query``: the peaks its query print is made from in stage 2; ``dense_bits``: the
    per-frame bits of the same audio, with ``second_chance`` only)."""

    number: int
    duration_seconds: float
    notes_per_second: float
    ref_peaks: Peaks | None
    query: QueryPeaks | None
    library: SoundMatch | None
    timestamp_seconds: int | None
    caption: str | None
    error: str | None = None
    dense_bits: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"VideoPrint(#{self.number}, {self.duration_seconds:.1f} s, {self.notes_per_second:.1f} notes/s)"
        )


@dataclass
class _State:
    params: DiscoveryParams
    fp_params: FingerprintParams
    config: MatchConfig
    index: SoundIndex | None


_STATE: _State | None = None
_MATCHER: VideoMatcher | None = None


def init_worker(
    params: DiscoveryParams,
    fp_params: FingerprintParams,
    config: MatchConfig,
    index_path: str | None,
    trusted: frozenset[FileVersion] = frozenset(),
) -> None:
    """Pool initialiser of stage 1 (also called in-process when there are no workers).

    ``trusted``: the search file versions the parent checked (:meth:`SoundIndex.prepare_search`)."""
    global _STATE
    # the library look-up is a pre-pass: the clustering handles what it leaves, so the dense
    # second chance (CPU per video that no library sound matches) runs only when asked for
    lookup = MatchConfig(dense_second_chance=params.second_chance, dense_scope=params.second_chance_scope)
    index = None
    if index_path is not None:
        index = SoundIndex.open(index_path, readonly=True, config=lookup, trusted=trusted, warn_empty=False)
    _STATE = _State(params, fp_params, config, index)


def close_worker() -> None:
    global _STATE, _MATCHER
    if _STATE is not None and _STATE.index is not None:
        _STATE.index.close()
    _STATE = None
    _MATCHER = None


def _decode(
    source: str | AudioClip, sample_rate: int, *, sidecar: bool = True
) -> tuple[np.ndarray, int, int | None, str | None]:
    if isinstance(source, AudioClip):
        return np.asarray(source.samples), source.sample_rate, source.timestamp_seconds, source.caption
    audio = read_audio(source, sample_rate=sample_rate)
    timestamp: int | None = None
    caption: str | None = None
    if not sidecar:
        return audio.samples, audio.sample_rate, timestamp, caption

    def warn(exc: SidecarError) -> None:
        logger.warning("%s", exc)

    side = read_sidecar_fields(source, on_error=warn)  # the ids are given: its id is not told of
    if side is not None:
        timestamp = side.timestamp_seconds
        caption = side.caption or side.title
    return audio.samples, audio.sample_rate, timestamp, caption


def print_source(job: Job) -> VideoPrint:
    """Stage 1 for one source; a failure is recorded in ``error`` (batch boundary)."""
    assert _STATE is not None, "init_worker() first"
    st = _STATE
    try:
        samples, rate, timestamp, caption = _decode(job.source, st.fp_params.sample_rate)
        duration = float(samples.shape[0]) / float(rate)
        library = None
        if st.index is not None:
            found = st.index.match(samples, rate, top_k=1, threshold=st.params.library_threshold)
            library = found[0] if found else None
        if library is not None and st.params.library == "residual":  # named by the library
            return VideoPrint(job.number, duration, math.nan, None, None, library, timestamp, caption)
        dense = st.params.second_chance
        if not st.params.music_filter:  # every audible soundtrack, as it is
            loudness = integrated_loudness(samples, rate)
            if loudness is None or loudness < st.params.min_loudness_lufs:
                return VideoPrint(job.number, duration, math.nan, None, None, library, timestamp, caption)
            reference, query, bits = soundtrack_prints(samples, rate, st.fp_params, dense=dense)
            return VideoPrint(
                job.number, duration, math.nan, reference, query, library, timestamp, caption, None, bits
            )
        content = sustained_filter(samples, rate, st.params.content)
        loudness = integrated_loudness(samples, rate)
        silent = loudness is None or loudness < st.params.min_loudness_lufs
        if silent or content.notes_per_second < st.params.min_notes_per_second:
            return VideoPrint(
                job.number, duration, content.notes_per_second, None, None, library, timestamp, caption
            )
        reference, query, bits = soundtrack_prints(
            content.samples, content.sample_rate, st.fp_params, dense=dense
        )
        return VideoPrint(
            job.number,
            duration,
            content.notes_per_second,
            reference,
            query,
            library,
            timestamp,
            caption,
            None,
            bits,
        )
    except NoAudioError as exc:  # a picture-only or silent video: no music, not an error
        logger.info("discovery: %s", exc)
        return VideoPrint(job.number, 0.0, 0.0, None, None, None, None, None)
    except Exception as exc:  # batch boundary: the error is recorded per video (and logged by
        # the parent, which knows whether the video is skipped or stops a strict run)
        msg = str(exc) if isinstance(exc, ReelsenseError) else f"{type(exc).__name__}: {exc}"
        return VideoPrint(job.number, 0.0, 0.0, None, None, None, None, None, error=msg)


def lost_print(job: Job) -> VideoPrint:
    """Stage 1's row for a video whose worker process died on it (twice: alone the second time);
    logged by the parent as any failed video."""
    msg = worker_died_message(source_name(job.source))
    return VideoPrint(job.number, 0.0, 0.0, None, None, None, None, None, error=msg)


def source_name(source: str | AudioClip) -> str:
    """How a log line names a source: its clip id or its path."""
    return source.clip_id if isinstance(source, AudioClip) else os.fspath(source)


def lost_matches(job: MatchJob) -> tuple[int, list[SoundMatch]]:
    """Stage 2's result for a video whose worker process died searching it: no match."""
    logger.warning("discovery: the worker process died searching video %d; it is left alone", job.node)
    return job.node, []


def init_matcher(matcher: VideoMatcher, params: DiscoveryParams, fp_params: FingerprintParams) -> None:
    """Pool initialiser of stage 2."""
    global _MATCHER, _STATE
    _MATCHER = matcher
    _STATE = _State(params, fp_params, matcher.config, None)


def matched_spectrogram(
    source: str | AudioClip, params: DiscoveryParams, fp_params: FingerprintParams
) -> np.ndarray:
    """The log-frequency spectrogram of the audio that stage 1 fingerprinted for ``source``
    (its sustained partials, or with ``music_filter`` off the soundtrack itself)."""
    samples, rate, _, _ = _decode(source, fp_params.sample_rate, sidecar=False)
    if params.music_filter:
        content = sustained_filter(samples, rate, params.content)
        samples, rate = content.samples, content.sample_rate
    return log_spectrogram(samples, rate, fp_params)


@dataclass(frozen=True)
class MatchJob:
    """Stage 2 for one video: its matcher number, query peaks (the print is made where it is
    matched), the score and number of matches wanted, and with the dense second chance its
    source (decoded again: stage 1 keeps no audio)."""

    node: int
    query: QueryPeaks
    threshold: float
    top_k: int
    source: str | AudioClip | None = None


def match_print(job: MatchJob) -> tuple[int, list[SoundMatch]]:
    """Stage 2: ``job`` -> ``(node, matches)``."""
    assert _MATCHER is not None and _STATE is not None, "init_matcher() first"
    try:  # first: a video without a print is not decoded again for the dense second chance
        query = job.query.prepare(_STATE.fp_params, _MATCHER.config)
    except Exception as exc:  # batch boundary, as when stage 1 made the print: no matches
        logger.warning("discovery skips matching video #%d: %s", job.node, exc)
        return job.node, []
    spectrogram = None
    if job.source is not None and _MATCHER.dense:
        try:
            spectrogram = matched_spectrogram(job.source, _STATE.params, _STATE.fp_params)
        except Exception as exc:  # batch boundary: the peak matches stand without it
            logger.warning("discovery's dense second chance skips %s: %s", source_name(job.source), exc)
    found = _MATCHER.match(
        query, threshold=job.threshold, top_k=job.top_k, spectrogram=spectrogram, itself=job.node
    )
    return job.node, found
