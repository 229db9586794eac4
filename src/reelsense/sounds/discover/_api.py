"""``discover_sounds``: find the sounds that videos share, without (or beside) a library.

1. Every soundtrack is decoded and fingerprinted once, in ``workers`` processes
   (:mod:`._work`): note rate, library match, reference and query-density peaks of its
   sustained partials.
2. The reference prints of all music videos form one in-memory index; every video is
   matched against it (its own entry excluded) with the standard calibrated matcher, so
   the candidate search is an inverted-index lookup, not a comparison of all pairs.
3. Edges (score, time scale, pitch, offset) and library matches (as edges to one anchor
   node per library sound) are grouped by :func:`cluster_graph`; discovered groups without
   one clearly musical use are dissolved (shared ambience or voice recordings).
4. Each sound gets a representative, and each use its speed, pitch and offset relative to
   it (:func:`place_members`); ids are library sound ids or ``d0001``, ``d0002``... by size,
   then first use, then representative (deterministic).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, closing
from pathlib import Path
from typing import TypeVar

import numpy as np

from reelsense._checks import check_files, check_int, check_paths
from reelsense._progress import ProgressCallback
from reelsense._workers import map_surviving, process_pool
from reelsense.errors import ItemFailedError, ParameterError
from reelsense.io import check_inputs
from reelsense.sounds.discover._geometry import place_members
from reelsense.sounds.discover._graph import EdgeTable, GraphClusters, cluster_graph
from reelsense.sounds.discover._matcher import VideoMatcher
from reelsense.sounds.discover._result import Discovery, assemble
from reelsense.sounds.discover._types import (
    JOIN_CHANCE_LOG10,
    AudioClip,
    DiscoveryParams,
    DiscoveryStats,
    VideoSound,
)
from reelsense.sounds.discover._work import (
    Job,
    MatchJob,
    VideoPrint,
    close_worker,
    init_matcher,
    init_worker,
    lost_matches,
    lost_print,
    match_print,
    print_source,
    source_name,
)
from reelsense.sounds.fingerprint import FingerprintParams
from reelsense.sounds.index import FileVersion, SoundIndex, prepare_kernels, sound_index_file
from reelsense.sounds.index._sql import remove_reader_files
from reelsense.sounds.match import MatchConfig

__all__ = ["discover_sounds"]

logger = logging.getLogger(__name__)

_START_METHOD = "forkserver"

T = TypeVar("T")
R = TypeVar("R")


def _source_ids(
    sources: Sequence[str | os.PathLike[str] | AudioClip], ids: Sequence[str] | None
) -> list[str]:
    for source in sources:
        if not isinstance(source, AudioClip | str | os.PathLike):
            raise ParameterError(
                f"source {source!r} must be a path or an AudioClip, got {type(source).__name__}"
            )
    if ids is not None:
        check_paths(ids, "ids", "id")
        ids = list(ids)
        if len(ids) != len(sources):
            raise ParameterError(f"{len(ids)} ids for {len(sources)} sources")
        for k, i in enumerate(ids):
            if i is None or not str(i).strip():  # None became the id 'None'; '' an empty row id
                raise ParameterError(f"ids[{k}]={i!r} must be a non-empty id")
        out = [str(i) for i in ids]
    else:
        out = [s.clip_id if isinstance(s, AudioClip) else Path(s).stem for s in sources]
    seen: set[str] = set()
    dup = sorted({i for i in out if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    if dup:
        raise ParameterError(f"duplicate video ids {dup[:5]}: pass unique ids")
    return out


def _run(
    fn: Callable[[T], R],
    jobs: list[T],
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[object, ...],
    on_each: Callable[[int], None],
    lost: Callable[[T], R],
) -> Generator[R, None, None]:
    """``map(fn, jobs)`` in order, in ``workers`` processes (in-process when 1); a job whose
    worker process dies (alone) gives ``lost(job)`` (:func:`reelsense._workers.map_surviving`)."""
    if workers <= 1 or len(jobs) <= 1:
        initializer(*initargs)
        try:
            for k, job in enumerate(jobs, start=1):
                yield fn(job)
                on_each(k)
        finally:
            close_worker()
        return
    chunk = max(1, min(16, len(jobs) // (4 * workers)))

    def new_pool() -> ProcessPoolExecutor:
        return process_pool(workers, _START_METHOD, initializer=initializer, initargs=initargs)

    results = map_surviving(fn, jobs, new_pool, lost, chunksize=chunk, window=2 * workers)
    with closing(results):
        for k, res in enumerate(results, start=1):
            yield res
            on_each(k)


def _library_edges(prints: list[VideoPrint], n_videos: int) -> tuple[EdgeTable, list[str]]:
    lib_ids = sorted({p.library.sound_id for p in prints if p.library is not None})
    node = {sid: n_videos + k for k, sid in enumerate(lib_ids)}
    rows = [(p.number, node[p.library.sound_id], p.library) for p in prints if p.library is not None]
    table = EdgeTable.build(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [m.score for _, _, m in rows],
        [math.log(m.speed) for _, _, m in rows],
        [m.pitch_semitones for _, _, m in rows],
        [m.offset_seconds for _, _, m in rows],
        [1] * len(rows),
    )
    return table, lib_ids


def _video_edges(
    prints: list[VideoPrint],
    sources: list[str | AudioClip],
    params: DiscoveryParams,
    fp_params: FingerprintParams,
    config: MatchConfig,
    workers: int,
    progress: ProgressCallback | None,
) -> tuple[EdgeTable, int]:
    music = [p for p in prints if p.ref_peaks is not None and p.query is not None]
    bits = None
    if params.second_chance:  # the dense second chance between videos: every music video has bits
        bits = [p.dense_bits if p.dense_bits is not None else np.zeros(0, np.uint32) for p in music]
    matcher = VideoMatcher(
        [p.ref_peaks for p in music if p.ref_peaks is not None],
        fp_params,
        config,
        bits,
        composite=params.composite_edits,
    )
    jobs = [
        MatchJob(
            k,
            p.query,
            params.min_score,
            params.neighbours + 1,
            sources[p.number] if params.second_chance else None,
        )
        for k, p in enumerate(music)
        if p.query is not None
    ]
    total = len(jobs)
    q, r, s, ls, pi, off, alone = [], [], [], [], [], [], []

    def tick(done: int) -> None:
        if progress is not None:
            progress("match", done, total)

    initargs = (matcher, params, fp_params)
    for k, matches in _run(match_print, jobs, workers, init_matcher, initargs, tick, lost_matches):
        for m in matches:
            j = int(m.sound_id)
            if j == k:
                continue
            q.append(music[k].number)
            r.append(music[j].number)
            s.append(m.score)
            ls.append(math.log(m.speed))
            pi.append(m.pitch_semitones)
            off.append(m.offset_seconds)
            alone.append(m.n_matched_hashes > 0)  # a dense edge (no hashes) never merges groups alone
    return EdgeTable.build(q, r, s, ls, pi, off, alone=alone), matcher.nbytes


def _join_score(params: DiscoveryParams, prints: list[VideoPrint]) -> float:
    """The one-edge join score of :func:`cluster_graph`: ``params.join_score``, or with ``"auto"``
    ``log10`` of the videos searched minus :data:`JOIN_CHANCE_LOG10`."""
    if params.join_score != "auto":
        return float(params.join_score)
    searched = sum(p.query is not None and p.ref_peaks is not None for p in prints)
    return math.log10(max(searched, 1)) - JOIN_CHANCE_LOG10


def _dissolve(
    clusters: GraphClusters, anchor: np.ndarray, notes: np.ndarray, n_videos: int, params: DiscoveryParams
) -> np.ndarray:
    """Roots after dropping groups of one video without anchor and, with the music filter,
    groups without a musical use."""
    roots: np.ndarray = clusters.root.copy()
    n = roots.size
    videos = np.arange(n) < n_videos
    count = np.bincount(roots, weights=videos.astype(np.float64), minlength=n)
    anchored = np.bincount(roots, weights=anchor.astype(np.float64), minlength=n) > 0
    musical = np.ones(n, dtype=bool)
    if params.music_filter:
        best_notes = np.zeros(n)
        np.maximum.at(best_notes, roots, np.where(videos, np.nan_to_num(notes), 0.0))
        musical = best_notes >= params.min_cluster_notes_per_second
    keep = anchored | ((count >= 2) & musical)
    single = ~keep[roots]
    roots[single] = np.arange(n)[single]
    return roots


def discover_sounds(
    sources: Sequence[str | os.PathLike[str] | AudioClip],
    *,
    sound_index: str | os.PathLike[str] | None = None,
    params: DiscoveryParams | None = None,
    workers: int = 1,
    ids: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    strict: bool = False,
) -> Discovery:
    """Group videos (paths of media files or :class:`AudioClip`) by the sound they share (a
    folder among ``sources`` is refused: its files would not be looked at).

    ``sound_index``: a :class:`~reelsense.sounds.SoundIndex` file, or a folder of reference sounds
    (indexed into a temporary folder first); clusters holding a library sound are named after it.
    ``ids``: video ids (default: file stems / clip ids; must be unique and non-empty: None or
    ``''`` is a ParameterError naming its place).
    ``progress(stage, done, total)`` is called after each video of each stage (``"fingerprint"``,
    then ``"match"``).
    Videos that fail to decode keep a row with their error; with ``strict`` the first one
    (in id order) raises :class:`~reelsense.errors.ItemFailedError` instead (the workers are
    stopped). The videos are processed in id order, so the result does not depend on the
    order of ``sources``. Returns a :class:`Discovery` (``videos`` in input order).
    """
    sources = check_inputs(sources, "sources", "media file or AudioClip")  # a folder is refused below
    check_files(sources, "sources")
    workers = check_int(workers, "workers", minimum=1)
    if params is None:
        params = DiscoveryParams()
    elif not isinstance(params, DiscoveryParams):
        raise ParameterError(f"params={params!r} must be a DiscoveryParams, got {type(params).__name__}")
    video_ids = _source_ids(sources, ids)
    # the in-memory index and each video's few best neighbours depend on the order the videos
    # are seen in, so they are seen in id order: the same set of videos gives the same sounds
    # however it was listed; the rows go back to input order at the end
    order = sorted(range(len(sources)), key=video_ids.__getitem__)
    sources = [sources[i] for i in order]
    video_ids = [video_ids[i] for i in order]
    fp_params = FingerprintParams()
    index_path = None
    checked: frozenset[FileVersion] = frozenset()
    with ExitStack() as stack:  # an index built from a folder lives until the prints are made
        if sound_index is not None:
            index_path = stack.enter_context(sound_index_file(sound_index))  # a folder is indexed first
            # once the workers are gone (their read-only connections leave the index's -wal/-shm)
            stack.callback(remove_reader_files, index_path)
            # fail early on a bad index, and check its search file once here rather than in every worker
            with SoundIndex.open(index_path, readonly=True) as opened:
                prepare_kernels()  # once the index has opened, before its search file may be built
                checked = opened.prepare_search()
        else:
            prepare_kernels()  # every video is fingerprinted and searched: all the kernels in one round
        config = MatchConfig(n_candidates=params.neighbours + 1, top_k=params.neighbours + 1)
        jobs = [Job(k, s if isinstance(s, AudioClip) else os.fspath(s)) for k, s in enumerate(sources)]
        n = len(jobs)

        def tick(done: int) -> None:
            if progress is not None:
                progress("fingerprint", done, n)

        t0 = time.perf_counter()
        prints: list[VideoPrint] = []
        initargs = (params, fp_params, config, index_path, checked)
        stage1 = _run(print_source, jobs, workers, init_worker, initargs, tick, lost_print)
        with closing(stage1):  # closing it cancels the pending jobs and shuts the pool down
            for p in stage1:
                if p.error is not None:
                    if strict:  # stops here: nothing is skipped, so nothing is said to be
                        raise ItemFailedError(video_ids[p.number], p.error)
                    logger.warning("discovery skips %s: %s", source_name(jobs[p.number].source), p.error)
                prints.append(p)
    t1 = time.perf_counter()
    sources_of = [job.source for job in jobs]
    video_edges, index_bytes = _video_edges(prints, sources_of, params, fp_params, config, workers, progress)
    t2 = time.perf_counter()
    lib_edges, lib_ids = _library_edges(prints, n)
    edges = EdgeTable.concat([lib_edges, video_edges])
    n_nodes = n + len(lib_ids)
    anchor = np.arange(n_nodes) >= n
    clusters = cluster_graph(
        n_nodes,
        edges,
        anchor=anchor,
        min_score=params.min_score,
        min_support=params.min_support if params.clustering == "supported" else 1,
        join_score=_join_score(params, prints),
        merge_score=params.merge_score if params.clustering == "supported" else math.inf,
        scale_tolerance=params.scale_tolerance,
    )
    notes = np.array([p.notes_per_second for p in prints] + [0.0] * len(lib_ids))
    roots = _dissolve(clusters, anchor, notes, n, params)
    inside = clusters.accepted & (roots[edges.query] == roots[edges.ref])
    accepted = edges.select(inside)
    duration = np.array([p.duration_seconds for p in prints] + [math.inf] * len(lib_ids))
    node_ids = video_ids + lib_ids
    rank = np.argsort(np.argsort(np.array(node_ids, dtype=object), kind="stable"), kind="stable")
    placement = place_members(roots, accepted, anchor=anchor, duration=duration, rank=rank)
    t3 = time.perf_counter()
    stats = DiscoveryStats(
        n_videos=n,
        n_music=sum(p.query is not None for p in prints),
        n_errors=sum(p.error is not None for p in prints),
        n_edges=len(video_edges),
        n_accepted=int(np.count_nonzero(accepted.ref < n)),
        n_library_matched=len(lib_edges),
        fingerprint_seconds=t1 - t0,
        match_seconds=t2 - t1,
        cluster_seconds=t3 - t2,
        index_bytes=index_bytes,
    )
    paths = [None if isinstance(s, AudioClip) else os.fspath(s) for s in sources]
    clip_paths = [s.path if isinstance(s, AudioClip) else None for s in sources]
    found = assemble(
        prints,
        video_ids,
        [p if p is not None else c for p, c in zip(paths, clip_paths, strict=True)],
        lib_ids,
        roots,
        accepted,
        placement,
        params,
        stats,
    )
    rows: list[VideoSound | None] = [None] * n
    for k, i in enumerate(order):
        rows[i] = found.videos[k]
    return dataclasses.replace(found, videos=tuple(r for r in rows if r is not None))
