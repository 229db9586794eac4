"""The one place where discovery touches the matcher: an in-memory index of video soundtracks.

:class:`~reelsense.sounds.SoundIndex` keeps reference sounds in an SQLite file and takes
samples; discovery needs a throw-away index of *every* video, built from fingerprints that
the worker processes already computed (each soundtrack is decoded and fingerprinted once).
This adapter builds the same search structure that ``SoundIndex`` builds from stored peaks
(:class:`~reelsense.sounds._tables.SearchIndex`) directly from peaks, and runs
the same matcher with its calibrated score, so a discovery edge means exactly what a
``sounds match`` result means. Everything it needs from the matcher's modules is imported
here and nowhere else in :mod:`reelsense.sounds.discover`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reelsense.sounds._tables import SearchIndex
from reelsense.sounds.dense import DenseReferences, combined_score, dense_search_each, frame_bits
from reelsense.sounds.fingerprint import FingerprintParams, Peaks, log_spectrogram, pick_peaks
from reelsense.sounds.match import (
    MatchConfig,
    QueryPrint,
    SoundMatch,
    dense_grid,
    dense_match,
    dense_peak_check,
    match_query,
    match_query_candidates,
    prepare_query_from_peaks,
)

__all__ = ["DENSE_CANDIDATES", "QueryPeaks", "QueryPrint", "VideoMatcher", "soundtrack_prints"]

#: candidate soundtracks (by peak-search votes) that the dense second chance searches per video
DENSE_CANDIDATES = 32


@dataclass(frozen=True, repr=False)
class QueryPeaks:
    """A soundtrack's peaks at the query density and its duration: what its
    :class:`QueryPrint` is made from (:meth:`prepare`).

    Discovery holds one per video between its two stages and sends it to the process that
    matches it. The print's triplet arrays are some forty times larger than the peaks (about
    200 KiB for 10 s of music against 5 KiB), so they are made where the video is matched
    and dropped after.
    """

    peaks: Peaks
    duration_seconds: float

    def __repr__(self) -> str:
        return f"QueryPeaks(peaks={len(self.peaks)}, {self.duration_seconds:.1f} s)"

    def prepare(self, params: FingerprintParams, config: MatchConfig) -> QueryPrint:
        """The query print (:func:`reelsense.sounds.match.prepare_query_from_peaks`)."""
        return prepare_query_from_peaks(self.peaks, self.duration_seconds, params, config)


def soundtrack_prints(
    samples: np.ndarray,
    sample_rate: int,
    params: FingerprintParams,
    *,
    dense: bool = False,
) -> tuple[Peaks, QueryPeaks, np.ndarray | None]:
    """The reference peaks and the :class:`QueryPeaks` of one soundtrack from one
    spectrogram (the two differ only in peak density), and with ``dense`` its per-frame bits
    (:func:`reelsense.sounds.dense.frame_bits`, else None)."""
    spectrogram = log_spectrogram(samples, sample_rate, params)
    duration = float(np.asarray(samples).shape[0]) / float(sample_rate) if sample_rate > 0 else 0.0
    reference = pick_peaks(spectrogram, params, params.ref_peaks_per_second)
    query = pick_peaks(spectrogram, params, params.query_peaks_per_second)
    bits = frame_bits(spectrogram) if dense else None
    return reference, QueryPeaks(query, duration), bits


class VideoMatcher:
    """In-memory index of many soundtracks (reference peaks), matched with the standard matcher.

    ``peaks[i]`` is the reference :class:`~reelsense.audio.Peaks` of soundtrack ``i``;
    :meth:`match` returns :class:`~reelsense.audio.SoundMatch` whose ``sound_id`` is the
    decimal number ``i`` of the matched soundtrack. Picklable (worker processes get a copy).

    ``bits``: the soundtracks' per-frame bits (one ``uint32 [n_frames]`` each), for the dense
    second chance of :meth:`match` (None: peaks only). ``composite``: :meth:`match` also searches
    the plane of combined time-scale and pitch edits (:attr:`MatchConfig.composite`) and keeps,
    for each soundtrack, the better of the two searches.
    """

    def __init__(
        self,
        peaks: Sequence[Peaks],
        params: FingerprintParams,
        config: MatchConfig,
        bits: Sequence[np.ndarray] | None = None,
        composite: bool = False,
    ) -> None:
        self.params = params
        self.config = config
        self._plane = dataclasses.replace(config, composite=True) if composite else None
        self._ids = [str(i) for i in range(len(peaks))]
        self._search = SearchIndex.from_peaks(peaks, self._ids, params)
        self._dense = None if bits is None else DenseReferences(list(bits), config.dense)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        """Memory held by the search structures."""
        return self._search.nbytes

    @property
    def dense(self) -> bool:
        """Whether :meth:`match` can run the dense second chance (the matcher holds bits)."""
        return self._dense is not None

    def match(
        self,
        query: QueryPrint,
        *,
        threshold: float,
        top_k: int,
        spectrogram: np.ndarray | None = None,
        itself: int | None = None,
    ) -> list[SoundMatch]:
        """Soundtracks heard in ``query`` with ``score >= threshold``, best first, at most ``top_k``.

        With ``spectrogram`` (the query's log-frequency spectrogram, of the same audio as its
        peaks) and a matcher that holds bits, the dense second chance also runs: the query is
        searched densely (:func:`reelsense.sounds.dense.dense_search_each`) over the
        :data:`DENSE_CANDIDATES` soundtracks with the most peak-search votes (``itself``, the
        query's own number, left out), its trial count taken over every soundtrack. A
        soundtrack's best dense alignment counts when it scores ``threshold`` and the query's
        peaks at it are a match on their own (a chance probability under ``10**-threshold``
        over the local search and every alignment tested); its score combines both tests
        (:func:`reelsense.sounds.dense.combined_score`). Where the peak search also found a
        soundtrack, the higher score wins.
        """
        if not self._ids:
            return []
        dense = spectrogram is not None and self._dense is not None
        found, cands = match_query_candidates(
            query,
            self._search,
            self.params,
            self.config,
            threshold=threshold,
            top_k=top_k,
            n_ranked=DENSE_CANDIDATES + 1 if dense else None,
        )
        if self._plane is not None:  # combined edits: the better score of the two searches
            best = {m.sound_id: m for m in found}
            plane = match_query(
                query, self._search, self.params, self._plane, threshold=threshold, top_k=top_k
            )
            for pm in plane:
                if pm.sound_id not in best or best[pm.sound_id].score < pm.score:
                    best[pm.sound_id] = pm
            found = sorted(best.values(), key=lambda b: (-b.score, b.sound_id))[:top_k]
        if not dense:
            return found
        assert spectrogram is not None and self._dense is not None
        which = [s for s in dict.fromkeys(c.sound for c in cands) if s != itself][:DENSE_CANDIDATES]
        if not which:
            return found
        hits = dense_search_each(
            spectrogram,
            self._dense.subset(which),
            *dense_grid(self.config, self.params),
            trials_frames=self._dense.total_frames,
        )
        hits = [h for h in hits if h.score >= threshold]
        best = {m.sound_id: m for m in found}
        duration = float(query.duration_seconds)
        for h in hits:
            sound = which[h.sound]
            hit = dataclasses.replace(h, sound=sound)
            peak_log10p, local = dense_peak_check(hit, sound, query, self._search, self.params, self.config)
            if peak_log10p + local + math.log10(len(hits)) > -threshold:
                continue  # the peaks do not confirm this alignment
            hit = dataclasses.replace(hit, score=combined_score(hit, peak_log10p, local))
            m = dense_match(hit, self._ids, len(query.peaks), duration, self.params, threshold)
            if m is not None and (m.sound_id not in best or best[m.sound_id].score < m.score):
                best[m.sound_id] = m
        out = sorted(best.values(), key=lambda m: (-m.score, m.sound_id))
        return out[:top_k]
