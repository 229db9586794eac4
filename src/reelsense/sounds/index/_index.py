"""The public sound index: reference sounds on disk, matched in memory.

``SoundIndex`` composes a :class:`~reelsense.sounds.index._store.FingerprintStore` (SQLite,
crash-safe, versioned, concurrent readers) holding each sound's peaks, with the search
structure the matcher needs (a triplet hash table and a peak table,
:mod:`reelsense.sounds._tables`). That structure is derived from the stored peaks; it is kept
in ``<index>-search`` (:mod:`reelsense.sounds.index._search_file`) and memory-mapped on open, so a
large index opens in milliseconds. When the store changes (this or another process adds or
removes sounds; its ``generation`` moves) the next match sees it: removed sounds are masked,
added ones are fingerprinted into a small in-memory table beside the mapped one, and when
those grow past a fraction of the index the file is rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelsense._checks import check_files, check_finite, check_int, check_path, check_paths
from reelsense._workers import map_surviving, process_pool, worker_died_message
from reelsense.audio._signal import check_mono
from reelsense.errors import (
    DecodeError,
    NoAudioError,
    ParameterError,
    ReelsenseError,
    SoundIndexError,
    SoundIndexFormatError,
)
from reelsense.io import read_audio
from reelsense.sounds import _warmup
from reelsense.sounds.dense import BITS_ARRAY, DenseReferences, dense_search, frame_bits
from reelsense.sounds.fingerprint import FingerprintParams, Peaks, log_spectrogram, pick_peaks
from reelsense.sounds.index._cache import SearchCache
from reelsense.sounds.index._records import SoundRecord, StoreItem
from reelsense.sounds.index._search_file import (
    FileVersion,
    search_file_path,
    trust_versions,
    verified_versions,
)
from reelsense.sounds.index._sql import remove_reader_files
from reelsense.sounds.index._store import FingerprintStore
from reelsense.sounds.match import (
    MatchConfig,
    SoundMatch,
    dense_grid,
    dense_match,
    dense_peak_score,
    match_query_candidates,
    prepare_query_from_peaks,
    reference_reach,
)

__all__ = ["IndexStats", "SoundIndex", "SoundInfo", "match_files", "prepare_kernels"]

logger = logging.getLogger(__name__)

# worker processes are started by a fork server: forking a process that holds threads
# (SQLite, BLAS, torch) can crash a child; spawning re-imports everything per worker.
_START_METHOD = "forkserver"

SCHEME = "logpeaks-triplets"
SCHEME_VERSION = 2
#: the scheme that stored the same peaks before triplet hashes (its stores are read as they are)
_PEAKS_COMPATIBLE = {("logpeaks-pairs", 1)}
#: parameters that define the stored peaks (the rest only shape derived structures)
_PEAK_FIELDS = (
    "sample_rate",
    "n_fft",
    "hop_length",
    "fmin_hz",
    "fmax_hz",
    "bins_per_octave",
    "whiten_frames",
    "whiten_bins",
    "peak_radius_frames",
    "peak_radius_bins",
    "min_prominence_db",
    "ref_peaks_per_second",
)


@dataclass(frozen=True)
class SoundInfo:
    """One indexed sound: id, length, number of peaks, where it came from, when it was added."""

    sound_id: str
    duration_seconds: float
    n_peaks: int
    source_path: str | None
    added_at: str


@dataclass(frozen=True)
class IndexStats:
    """Totals of an index. ``file_bytes``: the index file (peaks, crash-safe);
    ``search_file_bytes``: the search file beside it (a cache, 0 when not written yet);
    ``bytes_per_hour``: both per hour of reference audio."""

    path: str
    n_sounds: int
    total_duration_seconds: float
    total_peaks: int
    file_bytes: int
    bytes_per_hour: float | None
    format_version: int
    generation: int
    params: dict[str, object]
    search_file_bytes: int = 0


def _store_params(params: FingerprintParams) -> dict[str, object]:
    return {"scheme": SCHEME, "scheme_version": SCHEME_VERSION, **params.to_dict()}


def _params_from_store(stored: dict[str, object], path: str | os.PathLike[str]) -> FingerprintParams:
    scheme = (stored.get("scheme"), stored.get("scheme_version"))
    if scheme != (SCHEME, SCHEME_VERSION) and scheme not in _PEAKS_COMPATIBLE:
        raise SoundIndexFormatError(
            f"{os.fspath(path)} holds fingerprints of scheme {stored.get('scheme')!r} "
            f"v{stored.get('scheme_version')!r}; this reelsense reads {SCHEME!r} v{SCHEME_VERSION}"
        )
    fields = {k: v for k, v in stored.items() if k not in ("scheme", "scheme_version")}
    if scheme in _PEAKS_COMPATIBLE:  # same peaks, older hashes: keep the peaks' parameters only
        fields = {k: v for k, v in fields.items() if k in _PEAK_FIELDS}
    try:
        return FingerprintParams(**fields)  # type: ignore[arg-type]
    except TypeError as exc:
        raise SoundIndexFormatError(f"{os.fspath(path)}: unreadable fingerprint parameters: {exc}") from exc


def peak_arrays(samples: np.ndarray, sample_rate: int, params: FingerprintParams) -> dict[str, np.ndarray]:
    """The arrays stored for one reference sound: ``peak_times`` and ``peak_bins`` (float32 ``[n]``)
    and the dense test's ``frame_bits`` (uint32 ``[n_frames]``, :func:`reelsense.sounds.dense.frame_bits`)."""
    spec = log_spectrogram(samples, sample_rate, params)
    peaks = pick_peaks(spec, params, params.ref_peaks_per_second)
    return {"peak_times": peaks.times, "peak_bins": peaks.bins, BITS_ARRAY: frame_bits(spec)}


def _fingerprint_file(path: str, params: FingerprintParams) -> tuple[dict[str, np.ndarray], float]:
    audio = read_audio(path, sample_rate=params.sample_rate)  # usable audio only (io.audio_problem)
    arrays = peak_arrays(audio.samples, audio.sample_rate, params)
    if arrays["peak_times"].shape[0] == 0:
        raise DecodeError(path, "its audio gives no fingerprint peaks (too quiet or too short to match)")
    return arrays, audio.duration_seconds


def _warn_if_unmatchable(
    sound_id: str,
    arrays: Mapping[str, np.ndarray],
    duration_seconds: float,
    params: FingerprintParams,
    config: MatchConfig,
) -> None:
    """Warn that a reference about to be added can never be matched by its peaks at
    ``config.threshold`` (:func:`reelsense.sounds.match.reference_reach`): too short, or its peaks
    on too few frequencies or instants. It is still added: the dense second chance, or a lower
    threshold, may find it."""
    times, bins = arrays["peak_times"], arrays["peak_bins"]
    reach = reference_reach(times, bins, duration_seconds, params, config)
    if reach.can_match:
        return
    counted = "" if reach.countable == times.shape[0] else f", at most {reach.countable} of them countable"
    logger.warning(
        "sound %r (%.2f s, %d fingerprint peaks%s) can never match at score %g: even its own audio "
        "needs a minimum of %d countable peaks (at most %d per frequency bin and %d per frame count); "
        "add a longer or busier excerpt of it",
        sound_id,
        duration_seconds,
        times.shape[0],
        counted,
        config.threshold,
        reach.needed,
        config.align_cap_per_bin,
        config.align_cap_per_frame,
    )


def _check_config(config: object) -> None:
    """Refuse a ``config`` that is not a MatchConfig (a dict was kept and failed at match time)."""
    if config is not None and not isinstance(config, MatchConfig):
        raise ParameterError(f"config={config!r} must be a MatchConfig, got {type(config).__name__}")


class SoundIndex:
    """A persistent index of reference sounds that short clips are matched against.

    Create with :meth:`create`, open with :meth:`open`; use as a context manager.
    Several processes may read (match) while one adds.
    """

    def __init__(
        self,
        store: FingerprintStore,
        params: FingerprintParams,
        config: MatchConfig | None = None,
        warn_empty: bool = True,
    ) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self._store = store
        self._warn_empty = warn_empty  # still to warn that the index holds no sounds
        self.params = params
        self.config = config or MatchConfig()
        self._search = SearchCache(store, params, {"scheme": SCHEME, "scheme_version": SCHEME_VERSION})
        self._dense: tuple[int, DenseReferences, list[str], dict[str, int]] | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        params: FingerprintParams | None = None,
        config: MatchConfig | None = None,
    ) -> SoundIndex:
        """Create an index at ``path`` (or open the one there, if its parameters are the same;
        an index of the older pair-hash scheme is opened when its peaks were made the same way)."""
        check_path(path, "path")
        if params is not None and not isinstance(params, FingerprintParams):
            raise ParameterError(
                f"params={params!r} must be a FingerprintParams, got {type(params).__name__}"
            )
        _check_config(config)
        params = params or FingerprintParams()
        try:
            store = FingerprintStore.open(path, create=True, params=_store_params(params))
        except SoundIndexFormatError as exc:
            store = FingerprintStore.open(path)
            stored = dict(store.params)
            scheme = (stored.get("scheme"), stored.get("scheme_version"))
            if scheme not in _PEAKS_COMPATIBLE or any(
                stored.get(k) != getattr(params, k) for k in _PEAK_FIELDS
            ):
                store.close()
                raise exc
        return cls(store, params, config)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        config: MatchConfig | None = None,
        trusted: Iterable[FileVersion] = (),
        warn_empty: bool = True,
    ) -> SoundIndex:
        """Open an existing index (``SoundIndexError`` if there is none).

        ``trusted``: search file versions another process has checked (what its
        :meth:`prepare_search` returned); this process then reads only their headers when it
        maps them. A search file changed since is checked in full.

        ``warn_empty``: whether :meth:`match` and :meth:`prepare_search` warn (once) when the
        index holds no sounds; False in a batch's worker processes, whose parent warned once.
        """
        check_path(path, "path")
        _check_config(config)
        trust_versions(trusted)
        store = FingerprintStore.open(path, readonly=readonly)
        try:
            params = _params_from_store(dict(store.params), path)
        except BaseException:
            store.close()
            raise
        return cls(store, params, config, warn_empty)

    @property
    def path(self) -> Path:
        return Path(self._store.path)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> SoundIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SoundIndex({os.fspath(self.path)!r}, {len(self)} sounds)"

    # ------------------------------------------------------------------ adding / removing
    def add_array(
        self,
        sound_id: str,
        samples: np.ndarray,
        sample_rate: int,
        *,
        source_path: str | None = None,
        replace: bool = False,
    ) -> SoundRecord:
        """Fingerprint mono ``samples`` (float ``[n]`` at ``sample_rate``, an integer in
        8000..384000) and add them as ``sound_id``.

        Raises:
            ParameterError: samples not mono floating point, with NaN/inf values, a bad rate, or
                audio that gives no fingerprint peaks (empty, silent, too quiet or too short), as
                :meth:`add_file` refuses such a file.
        """
        if not isinstance(sound_id, str):
            raise ParameterError(f"sound_id={sound_id!r} must be a str, got {type(sound_id).__name__}")
        x = check_mono(samples, sample_rate)
        arrays = peak_arrays(x, sample_rate, self.params)
        if arrays["peak_times"].shape[0] == 0:
            raise ParameterError(
                f"sound {sound_id!r}: its {x.shape[0]} samples give no fingerprint peaks "
                "(empty, silent, too quiet or too short to match)"
            )
        duration = float(x.shape[0]) / float(sample_rate)
        _warn_if_unmatchable(sound_id, arrays, duration, self.params, self.config)
        return self._store.add(
            sound_id, arrays, duration_seconds=duration, source_path=source_path, replace=replace
        )

    def add_file(
        self, path: str | os.PathLike[str], sound_id: str | None = None, *, replace: bool = False
    ) -> SoundRecord:
        """Decode an audio or video file and add it (id: ``sound_id`` or the file's stem)."""
        check_path(path, "path")
        arrays, duration = _fingerprint_file(os.fspath(path), self.params)
        sound_id = sound_id or Path(path).stem
        _warn_if_unmatchable(sound_id, arrays, duration, self.params, self.config)
        return self._store.add(
            sound_id,
            arrays,
            duration_seconds=duration,
            source_path=os.fspath(path),
            replace=replace,
        )

    def add_many(
        self,
        paths: Sequence[str | os.PathLike[str]],
        sound_ids: Sequence[str] | None = None,
        *,
        workers: int = 1,
        replace: bool = False,
        commit_every: int = 64,
        commit_seconds: float = 30.0,
        on_done: Callable[[str, Exception | None], None] | None = None,
    ) -> list[SoundRecord]:
        """Add many files, fingerprinting them in ``workers`` processes.

        ``paths`` is a list of files (a single path is refused, not read as its characters, and so
        is a folder, whose files would not be looked at).
        Files that fail to decode are skipped: ``on_done(path, error)`` is called for every
        file once fingerprinted (``error`` None on success, else the error as raised:
        :class:`~reelsense.errors.DecodeError`, :class:`~reelsense.errors.NoAudioError`...);
        without ``on_done`` a skipped file is logged as a warning. Every ``commit_every``
        sounds, or the sounds fingerprinted within ``commit_seconds``, are committed together
        (a kill loses at most that much work). Returns the added sounds' records.
        """
        check_paths(paths, "paths")
        paths = list(paths)
        check_files(paths, "paths")
        if sound_ids is not None:
            check_paths(sound_ids, "sound_ids", "sound id")
            sound_ids = list(sound_ids)
        workers = check_int(workers, "workers", minimum=1)
        if sound_ids is not None and len(sound_ids) != len(paths):
            raise ParameterError(f"{len(sound_ids)} sound_ids for {len(paths)} paths")
        ids = list(sound_ids) if sound_ids is not None else [Path(p).stem for p in paths]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ParameterError(f"duplicate sound ids among the inputs: {sorted(dup)[:5]}")
        str_paths = [os.fspath(p) for p in paths]
        jobs = [(p, self.params) for p in str_paths]
        results: Generator[tuple[dict[str, np.ndarray], float] | Exception, None, None]
        if workers > 1 and len(paths) > 1:
            results = map_surviving(
                _fingerprint_job,
                jobs,
                lambda: process_pool(workers, _START_METHOD),
                _lost_job,
                window=4 * workers,
            )
        else:
            results = (_fingerprint_job(job) for job in jobs)
        with closing(results):
            items = self._items(str_paths, ids, results, on_done)
            return self._store.add_many(
                items, replace=replace, commit_every=commit_every, commit_seconds=commit_seconds
            )

    def _items(
        self,
        paths: list[str],
        ids: list[str],
        results: Iterable[tuple[dict[str, np.ndarray], float] | Exception],
        on_done: Callable[[str, Exception | None], None] | None,
    ) -> Iterable[StoreItem]:
        same_audio = _SameAudio(self._store)
        for path, sid, res in zip(paths, ids, results, strict=True):
            if isinstance(res, Exception):
                if on_done is not None:  # the caller reports it (sounds add prints "not added: ...")
                    on_done(path, res)
                else:
                    logger.warning("%s is left out of the index: %s", path, res)
                continue
            arrays, duration = res
            if on_done is not None:
                on_done(path, None)
            same_audio.check(sid, path, arrays, duration)
            _warn_if_unmatchable(sid, arrays, duration, self.params, self.config)
            yield StoreItem(sid, arrays, duration, source_path=path)

    def add_peaks(
        self,
        entries: Iterable[tuple[str, Peaks, float]],
        *,
        replace: bool = False,
        commit_every: int = 64,
    ) -> list[SoundRecord]:
        """Add sounds whose reference peaks were computed elsewhere: ``(sound_id, peaks,
        duration_seconds)`` each, ``peaks`` as :func:`~reelsense.sounds.fingerprint.peaks_of` makes
        them at ``params.ref_peaks_per_second`` (e.g. synthetic benchmark sounds)."""
        items = (
            StoreItem(
                sid,
                {
                    "peak_times": np.asarray(p.times, dtype=np.float32),
                    "peak_bins": np.asarray(p.bins, dtype=np.float32),
                },
                float(duration),
            )
            for sid, p, duration in entries
        )
        return self._store.add_many(items, replace=replace, commit_every=commit_every)

    def remove(self, sound_id: str) -> None:
        """Remove a sound (``SoundIndexError`` for an unknown id)."""
        self._store.remove(sound_id)

    # ------------------------------------------------------------------ listing
    def ids(self) -> list[str]:
        return self._store.ids()

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, sound_id: object) -> bool:
        return sound_id in self._store

    def sounds(self) -> list[SoundInfo]:
        """Every sound with its statistics, in insertion order."""
        return [
            SoundInfo(r.sound_id, r.duration_seconds, r.n_items, r.source_path, r.added_at)
            for r in self._store.records()
        ]

    def stats(self) -> IndexStats:
        s = self._store.stats()
        try:
            search_bytes = self.search_path.stat().st_size
        except OSError:
            search_bytes = 0
        hours = s.total_duration_seconds / 3600.0
        return IndexStats(
            path=s.path,
            n_sounds=s.n_sounds,
            total_duration_seconds=s.total_duration_seconds,
            total_peaks=s.total_items,
            file_bytes=s.file_bytes,
            search_file_bytes=search_bytes,
            bytes_per_hour=(s.file_bytes + search_bytes) / hours if hours > 0 else None,
            format_version=s.format_version,
            generation=s.generation,
            params=dict(s.params),
        )

    # ------------------------------------------------------------------ matching
    def prepare_search(self, *, persist: bool = True, rebuild: bool = False) -> frozenset[FileVersion]:
        """Make the search structure ready now rather than at the first match: map the search
        file beside the index, or (re)build it from the stored peaks when it is missing, stale by
        many sounds, or ``rebuild`` is set; with ``persist`` a rebuild is written to
        ``<index>-search`` so that later opens (other processes included) map it.

        Returns the search file versions this process has checked in full, for worker
        processes to pass to :meth:`open` (``trusted=``) so that each does not read the whole
        file again. On a handle opened read-only (to search, not to build) an index that holds
        no sounds gives a warning (once per handle: :func:`no_sounds_message`); building one
        (``sounds add`` whose files all failed, an empty shard of :func:`split_index`) does not."""
        if rebuild:
            search = self._search.rebuild(persist=persist)
        else:
            self._search.persist = persist
            search = self._search.get()
        if self._store.readonly:
            self._check_not_empty(search.n_alive)
        return verified_versions()

    def _check_not_empty(self, n_sounds: int) -> None:
        """Warn, the first time on this handle, when the index holds no sounds: every match
        then comes back empty, as if the queries held none of its sounds."""
        if not n_sounds and self._warn_empty:
            self._warn_empty = False
            logger.warning("%s", no_sounds_message(self.path))

    @property
    def search_path(self) -> Path:
        """The search file beside the index (a cache; it may not exist yet)."""
        return search_file_path(self._store.path)

    def match(
        self,
        samples: np.ndarray,
        sample_rate: int,
        *,
        top_k: int | None = None,
        threshold: float | None = None,
    ) -> list[SoundMatch]:
        """Sounds heard in a query (mono float ``[n]`` at ``sample_rate``), best first.

        Only matches with ``score >= threshold`` (default ``config.threshold`` = 2.0, an
        estimated false-match probability of 1 %) are returned; at most ``top_k`` (an integer
        >= 1; default ``config.top_k``). An index that holds no sounds returns none, with a
        warning the first time on this handle (:func:`no_sounds_message`).

        Raises:
            ParameterError: samples not mono floating point, with NaN/inf values, a sample rate
                outside 8000..384000 Hz, or a bad ``top_k`` or ``threshold``.
        """
        x = check_mono(samples, sample_rate)
        top_k, threshold = _check_match_options(top_k, threshold)
        search = self._search.get()
        self._check_not_empty(search.n_alive)
        if not len(search):
            return []
        threshold = self.config.threshold if threshold is None else threshold
        duration = float(x.shape[0]) / float(sample_rate)
        spec = log_spectrogram(x, sample_rate, self.params)
        peaks = pick_peaks(spec, self.params, self.params.query_peaks_per_second)
        query = prepare_query_from_peaks(peaks, duration, self.params, self.config)
        found, cands = match_query_candidates(
            query, search, self.params, self.config, threshold=threshold, top_k=top_k
        )
        if not self.config.dense_second_chance or (found and found[0].score >= self.config.dense_below_score):
            return found
        every, ids, number = self._dense_references()
        refs = every
        if self.config.dense_scope == "candidates":  # the peak search's candidate sounds only
            which = [number[s] for s in dict.fromkeys(search.ids[c.sound] for c in cands) if s in number]
            refs, ids = every.subset(which), [ids[i] for i in which]
        if not len(refs):
            return found
        hit = dense_search(
            spec, refs, *dense_grid(self.config, self.params), trials_frames=every.total_frames
        )
        if hit is not None and ids[hit.sound] in search.ids:  # the peaks at the dense alignment
            k = search.ids.index(ids[hit.sound])
            hit = dataclasses.replace(
                hit, score=dense_peak_score(hit, k, query, search, self.params, self.config)
            )
        extra = dense_match(hit, ids, len(peaks), duration, self.params, threshold)
        if extra is None or any(m.sound_id == extra.sound_id and m.score >= extra.score for m in found):
            return found
        out = [extra, *(m for m in found if m.sound_id != extra.sound_id)]
        out.sort(key=lambda m: (-m.score, m.sound_id))
        return out[: self.config.top_k if top_k is None else top_k]

    def _dense_references(self) -> tuple[DenseReferences, list[str], dict[str, int]]:
        """The stored frame bits of every sound, their ids, and each id's number among them
        (cached per index generation). Sounds added by a reelsense that stored none are left out
        of the dense test, with a warning."""
        if self._dense is None or self._dense[0] != self._store.generation:
            words: list[np.ndarray] = []
            ids: list[str] = []
            missing = 0
            with self._store.iter_arrays() as stream:
                generation = int(stream.generation)
                for _key, sound_id, arrays in stream:
                    if BITS_ARRAY in arrays:
                        words.append(np.asarray(arrays[BITS_ARRAY], dtype=np.uint32))
                        ids.append(sound_id)
                    else:
                        missing += 1
            if missing:
                logger.warning(
                    "%s: %d of %d sounds have no frame bits (added by an older reelsense); the dense "
                    "second chance skips them: rebuild the index to include them",
                    self._store.path,
                    missing,
                    missing + len(ids),
                )
            number = {sound_id: i for i, sound_id in enumerate(ids)}
            self._dense = (generation, DenseReferences(words, self.config.dense), ids, number)
        return self._dense[1], self._dense[2], self._dense[3]

    def match_file(
        self, path: str | os.PathLike[str], *, top_k: int | None = None, threshold: float | None = None
    ) -> list[SoundMatch]:
        """Decode a file's soundtrack and :meth:`match` it."""
        audio = read_audio(path, sample_rate=self.params.sample_rate)
        return self.match(audio.samples, audio.sample_rate, top_k=top_k, threshold=threshold)


def no_sounds_message(*paths: str | os.PathLike[str]) -> str:
    """What is said of an index that holds no sounds (created empty, or every sound removed), or
    of the shards of one that all hold none: nothing can match it, which would otherwise look
    like queries without its sounds."""
    names = ", ".join(repr(os.fspath(p)) for p in paths)
    what = f"sound index {names} holds" if len(paths) == 1 else f"sound index shards {names} hold"
    return (
        f"{what} no sounds (a new index, or every sound removed): nothing can match it; is it "
        "the index meant? Add sounds with `reelsense sounds add`"
    )


class _SameAudio:
    """Finds the sounds whose audio a sound being added repeats exactly (``song.wav`` and
    ``copy of song.wav``): they hold the same peaks, and every match would go to one of them
    only. Sounds are compared by length and peak count first (the store's records), then by
    a digest of their peaks (read only for the sounds of the same length and count)."""

    def __init__(self, store: FingerprintStore) -> None:
        self._store = store
        self._by_shape: dict[tuple[float, int], list[str]] = {}
        for r in store.records():
            self._by_shape.setdefault((r.duration_seconds, r.n_items), []).append(r.sound_id)
        self._digests: dict[str, bytes] = {}  # sound id -> digest of its peaks, once read or added

    def _digest(self, sound_id: str) -> bytes:
        if sound_id not in self._digests:
            try:
                self._digests[sound_id] = _peaks_digest(self._store.get_arrays(sound_id))
            except SoundIndexError:  # damaged or removed meanwhile: no longer a sound to repeat
                self._digests[sound_id] = b""
        return self._digests[sound_id]

    def check(self, sound_id: str, path: str, arrays: dict[str, np.ndarray], duration_seconds: float) -> None:
        """Warn naming ``sound_id`` and the sounds, indexed or added before it, with its audio."""
        shape = (float(duration_seconds), int(arrays["peak_times"].shape[0]))
        digest = _peaks_digest(arrays)
        same = [s for s in self._by_shape.get(shape, []) if s != sound_id and self._digest(s) == digest]
        same = list(dict.fromkeys(same))  # a sound re-added (replace) in this run is listed once
        if same:
            logger.warning(
                "sound %r (%s) has the same audio as %s, already in the index: a match goes to one "
                "of them only; keep one (remove the other, or leave its file out)",
                sound_id,
                path,
                ", ".join(repr(s) for s in same),
            )
        self._by_shape.setdefault(shape, []).append(sound_id)
        self._digests[sound_id] = digest


def _peaks_digest(arrays: Mapping[str, np.ndarray]) -> bytes:
    """SHA-256 of a sound's peak times and bins (as float32): equal for the same audio."""
    h = hashlib.sha256()
    for name in ("peak_times", "peak_bins"):
        h.update(np.ascontiguousarray(arrays[name], dtype=np.float32).tobytes())
    return h.digest()


def _check_match_options(top_k: object, threshold: object) -> tuple[int | None, float | None]:
    """``top_k`` (None or an integer >= 1) and ``threshold`` (None or a finite number >= 0) checked."""
    k = None if top_k is None else check_int(top_k, "top_k", minimum=1)
    if threshold is None:
        return k, None
    value = check_finite(threshold, "threshold")
    if value < 0.0:
        raise ParameterError(f"threshold={threshold!r} must be >= 0 (a score is -log10 of a probability)")
    return k, value


def _call(
    fn: Callable[[str, FingerprintParams], tuple[dict[str, np.ndarray], float]],
    path: str,
    params: FingerprintParams,
) -> tuple[dict[str, np.ndarray], float] | Exception:
    try:
        return fn(path, params)
    except ReelsenseError as exc:  # batch boundary: the error is recorded per file, with its type
        return exc if _survives_pickling(exc) else ReelsenseError(str(exc))
    except Exception as exc:  # batch boundary: the error is recorded per file
        return ReelsenseError(str(exc))  # plain message: crosses process boundaries


def _survives_pickling(exc: Exception) -> bool:
    """Whether ``exc`` comes back from a worker process as itself (the library's errors with
    extra arguments define ``__reduce__``; one that does not would break the pool)."""
    try:
        return type(pickle.loads(pickle.dumps(exc))) is type(exc)
    except Exception:  # any failure to pickle means: send the message only
        return False


def _fingerprint_job(job: tuple[str, FingerprintParams]) -> tuple[dict[str, np.ndarray], float] | Exception:
    return _call(_fingerprint_file, *job)


def _lost_job(job: tuple[str, FingerprintParams]) -> Exception:
    """The error of a file whose worker process died on it (twice: alone the second time)."""
    return ReelsenseError(worker_died_message(job[0]))


_WORKER_INDEX: SoundIndex | None = None


def _worker_open(
    path: str, config: MatchConfig | None, verified: frozenset[FileVersion] = frozenset()
) -> None:
    global _WORKER_INDEX
    _WORKER_INDEX = SoundIndex.open(path, readonly=True, config=config, trusted=verified, warn_empty=False)


def _lost_match(job: tuple[str, int | None, float | None]) -> tuple[str, list[SoundMatch] | Exception]:
    """The error of a file whose worker process died matching it (alone the second time)."""
    return job[0], ReelsenseError(worker_died_message(job[0]))


def _worker_match(
    job: tuple[str, int | None, float | None],
) -> tuple[str, list[SoundMatch] | Exception]:
    path, top_k, threshold = job
    assert _WORKER_INDEX is not None
    try:
        return path, _WORKER_INDEX.match_file(path, top_k=top_k, threshold=threshold)
    except NoAudioError as exc:  # no sound to match: kept as such (it pickles with its type)
        return path, exc
    except Exception as exc:  # batch boundary: the error is recorded per file
        return path, ReelsenseError(str(exc))  # plain message: crosses process boundaries


def prepare_kernels(processes: int | None = None) -> None:
    """Make sure numba's cache holds the compiled kernels of a fingerprint and a search. Where it
    does not yet (a machine's first run), they are compiled in ``processes`` processes at once
    (None: one per CPU, at most 8; :mod:`reelsense.sounds._warmup`): what a process's first
    search does itself, done before worker processes start so that all are compiled in one
    round, or in an image's build step. Quick once done. Nothing is compiled ahead with
    ``REELSENSE_NUMBA=0`` or numba's ``NUMBA_DISABLE_JIT=1`` (no compiled kernels), nor with one
    CPU unless ``processes`` is given (an integer >= 1; ParameterError otherwise)."""
    if processes is not None and (type(processes) is not int or processes < 1):
        raise ParameterError(f"processes={processes!r} must be an integer >= 1 or None")
    _warmup.ensure_compiled("match", processes)


def match_files(
    index_path: str | os.PathLike[str],
    paths: Sequence[str | os.PathLike[str]],
    *,
    workers: int = 1,
    top_k: int | None = None,
    threshold: float | None = None,
    config: MatchConfig | None = None,
) -> Generator[tuple[str, list[SoundMatch] | Exception], None, None]:
    """Match many files against the index at ``index_path`` in ``workers`` processes.

    ``paths`` is a list of files (a single path or a folder is refused with ParameterError, when
    the first result is asked for). Yields ``(path, matches)`` in input order; a file that fails
    yields ``(path, error)``. An index that holds no sounds gives one warning (and no file a
    match).
    Each worker opens the index read-only once (so a writer may add meanwhile) and maps its
    search file, which is made ready and checked here first (so workers share it instead of
    each rebuilding it or reading it all to check it again).
    """
    workers = check_int(workers, "workers", minimum=1)
    check_paths(paths, "paths")
    paths = list(paths)
    check_files(paths, "paths")
    top_k, threshold = _check_match_options(top_k, threshold)
    jobs = [(os.fspath(p), top_k, threshold) for p in paths]
    global _WORKER_INDEX
    index = SoundIndex.open(index_path, readonly=True, config=config)  # fail early on a bad index
    try:
        prepare_kernels()  # all the kernels in one round, before the search file and the workers
        checked = index.prepare_search()
        if workers == 1 or len(jobs) <= 1:
            _WORKER_INDEX = index
            yield from map(_worker_match, jobs)
            return
    finally:
        _WORKER_INDEX = None
        index.close()

    def new_pool() -> ProcessPoolExecutor:
        return process_pool(
            workers,
            _START_METHOD,
            initializer=_worker_open,
            initargs=(os.fspath(index_path), config, checked),
        )

    results = map_surviving(_worker_match, jobs, new_pool, _lost_match, chunksize=2, window=4 * workers)
    try:
        with closing(results):
            yield from results
    finally:  # the workers are gone: their read-only connections left the index's -wal/-shm
        remove_reader_files(index_path)
