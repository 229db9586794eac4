"""The one place where discovery touches the matcher: an in-memory index of video soundtracks.

:class:`~reelsense.audio.SoundIndex` keeps reference sounds in an SQLite file and takes
samples; discovery needs a throw-away index of *every* video, built from fingerprints that
the worker processes already computed (each soundtrack is decoded and fingerprinted once).
This adapter builds the same search structures that ``SoundIndex`` builds when it loads
(inverted hash index over peak pairs + per-sound peak table) directly from peaks, and runs
the same matcher with its calibrated score, so a discovery edge means exactly what a
``sounds match`` result means. Everything it needs from the matcher's modules is imported
here and nowhere else in :mod:`reelsense.audio.discover`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reelsense.audio._search import HashIndex, PeakTable
from reelsense.audio.fingerprint import FingerprintParams, Peaks, hash_keys, peak_pairs, peaks_of
from reelsense.audio.match import MatchConfig, QueryPrint, SoundMatch, match_query, prepare_query

__all__ = ["QueryPrint", "VideoMatcher", "query_print", "reference_peaks"]


def reference_peaks(samples: np.ndarray, sample_rate: int, params: FingerprintParams) -> Peaks:
    """Peaks of a soundtrack at the reference density (what an index stores)."""
    return peaks_of(samples, sample_rate, params, params.ref_peaks_per_second)


def query_print(
    samples: np.ndarray, sample_rate: int, params: FingerprintParams, config: MatchConfig
) -> QueryPrint:
    """Peaks and peak pairs of a soundtrack at the query density, ready to be matched."""
    return prepare_query(samples, sample_rate, params, config)


@dataclass(frozen=True)
class _Postings:
    keys: np.ndarray
    sounds: np.ndarray
    times: np.ndarray


def _postings(number: int, peaks: Peaks, params: FingerprintParams) -> _Postings:
    a, t = peak_pairs(peaks, params, params.ref_fan_out)
    keys, ok = hash_keys(
        peaks.bins[a], peaks.bins[t] - peaks.bins[a], peaks.times[t] - peaks.times[a], params
    )
    n = int(ok.sum())
    return _Postings(
        keys[ok], np.full(n, number, dtype=np.int32), np.rint(peaks.times[a][ok]).astype(np.int32)
    )


class VideoMatcher:
    """In-memory index of many soundtracks (reference peaks), matched with the standard matcher.

    ``peaks[i]`` is the reference :class:`~reelsense.audio.Peaks` of soundtrack ``i``;
    :meth:`match` returns :class:`~reelsense.audio.SoundMatch` whose ``sound_id`` is the
    decimal number ``i`` of the matched soundtrack. Picklable (worker processes get a copy).
    """

    def __init__(self, peaks: Sequence[Peaks], params: FingerprintParams, config: MatchConfig) -> None:
        self.params = params
        self.config = config
        parts = [_postings(i, p, params) for i, p in enumerate(peaks)]
        cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dtype=dt)  # noqa: E731
        self._hashes = HashIndex.build(
            params.n_keys,
            cat([p.keys for p in parts], np.uint32),
            cat([p.sounds for p in parts], np.int32),
            cat([p.times for p in parts], np.int32),
        )
        self._peaks = PeakTable.build([(p.times, p.bins) for p in peaks])
        self._ids = [str(i) for i in range(len(peaks))]

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """Memory held by the search structures."""
        return self._hashes.nbytes + self._peaks.nbytes

    def match(self, query: QueryPrint, *, threshold: float, top_k: int) -> list[SoundMatch]:
        """Soundtracks heard in ``query`` with ``score >= threshold``, best first, at most ``top_k``."""
        if not self._ids:
            return []
        return match_query(
            query, self._hashes, self._peaks, self._ids, self.params, self.config,
            threshold=threshold, top_k=top_k,
        )  # fmt: skip
