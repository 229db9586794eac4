"""The one place where discovery touches the matcher: an in-memory index of video soundtracks.

:class:`~reelsense.audio.SoundIndex` keeps reference sounds in an SQLite file and takes
samples; discovery needs a throw-away index of *every* video, built from fingerprints that
the worker processes already computed (each soundtrack is decoded and fingerprinted once).
This adapter builds the same search structure that ``SoundIndex`` builds from stored peaks
(:class:`~reelsense.sounds._tables.SearchIndex`) directly from peaks, and runs
the same matcher with its calibrated score, so a discovery edge means exactly what a
``sounds match`` result means. Everything it needs from the matcher's modules is imported
here and nowhere else in :mod:`reelsense.sounds.discover`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reelsense.sounds._tables import SearchIndex
from reelsense.sounds.fingerprint import FingerprintParams, Peaks, log_spectrogram, pick_peaks
from reelsense.sounds.match import MatchConfig, QueryPrint, SoundMatch, match_query, prepare_query_from_peaks

__all__ = ["QueryPrint", "VideoMatcher", "soundtrack_prints"]


def soundtrack_prints(
    samples: np.ndarray, sample_rate: int, params: FingerprintParams, config: MatchConfig
) -> tuple[Peaks, QueryPrint]:
    """:func:`reference_peaks` and :func:`query_print` of one soundtrack from one
    spectrogram (the two differ only in peak density)."""
    spectrogram = log_spectrogram(samples, sample_rate, params)
    duration = float(np.asarray(samples).shape[0]) / float(sample_rate) if sample_rate > 0 else 0.0
    reference = pick_peaks(spectrogram, params, params.ref_peaks_per_second)
    query = pick_peaks(spectrogram, params, params.query_peaks_per_second)
    return reference, prepare_query_from_peaks(query, duration, params, config)


class VideoMatcher:
    """In-memory index of many soundtracks (reference peaks), matched with the standard matcher.

    ``peaks[i]`` is the reference :class:`~reelsense.audio.Peaks` of soundtrack ``i``;
    :meth:`match` returns :class:`~reelsense.audio.SoundMatch` whose ``sound_id`` is the
    decimal number ``i`` of the matched soundtrack. Picklable (worker processes get a copy).
    """

    def __init__(self, peaks: Sequence[Peaks], params: FingerprintParams, config: MatchConfig) -> None:
        self.params = params
        self.config = config
        self._ids = [str(i) for i in range(len(peaks))]
        self._search = SearchIndex.from_peaks(peaks, self._ids, params)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """Memory held by the search structures."""
        return self._search.nbytes

    def match(self, query: QueryPrint, *, threshold: float, top_k: int) -> list[SoundMatch]:
        """Soundtracks heard in ``query`` with ``score >= threshold``, best first, at most ``top_k``."""
        if not self._ids:
            return []
        return match_query(query, self._search, self.params, self.config, threshold=threshold, top_k=top_k)
