#!/usr/bin/env python3
"""Why discovery without a library misses pairs that share audio (dev benchmark, ../shared/bench).

Fingerprints every query as discovery does (the sustained-partials filter, then the reference
and query prints), matches each against all the others with the discovery matcher, and
counts, for every pair of uses of one track whose excerpts overlap by >= 1 s of track time
(the direct pairs of ``score_sounds.py --clusters --shared-audio``), whether the matcher finds
an edge of score >= ``min_score`` in either direction, by the pair's edits:

* ``relative pitch > 4.5``: the two uses are more than the matcher's pitch range apart;
* ``reverb``: one of the two is reverberant (the combo edit);
* ``overlap < 2.5 s``;
* ``pitch and time scale apart``: one is tempo-stretched or pitch-shifted and the relation
  between the two is neither a pure resampling, a pure tempo change nor a pure pitch shift;
* ``voice <= 0 dB or noise <= 5 dB``; ``other``.

It also prints the upper bound of shared-audio recall for grouping these edges: connected
components of the true edges alone. Reads truth.csv to score only. Uses the engine's private
modules on purpose (it inspects the matcher below the public result).

Also prints the matching CPU time per video (one process, the index of all music videos).

``--dense K`` measures what the dense per-frame test (:mod:`reelsense.sounds.dense`) would add
as video-to-video edges: each music video's filtered soundtrack is searched densely over its
``K`` best peak-search candidates among the other music videos (0: over all of them), the
trial count taken over all of them; the hit is then verified by the query's peaks at the dense
alignment (the library second chance's check). It prints, per threshold on that peak
verification (``log10`` chance probability at the alignment), the edges added, how many join
videos of different tracks, and the bound above with them; then the same test for every
direct pair the peak search missed, searched pairwise (the most any dense retrieval could add).

    python scripts/dev/diagnose_discover.py [--bench ../shared/bench] [--workers 2] [--neighbours 8]
    python scripts/dev/diagnose_discover.py --dense 32
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import math
import time
from collections import Counter
from pathlib import Path

from reelsense.io import read_audio
from reelsense.sounds.dense import DenseHit, DenseReferences, dense_search, frame_bits
from reelsense.sounds.discover import DiscoveryParams
from reelsense.sounds.discover._api import _run
from reelsense.sounds.discover._content import sustained_filter
from reelsense.sounds.discover._matcher import VideoMatcher
from reelsense.sounds.discover._work import Job, init_worker, lost_print, print_source
from reelsense.sounds.fingerprint import FingerprintParams, log_spectrogram
from reelsense.sounds.match import MatchConfig, dense_grid, dense_peak_check, match_query_candidates

ROOT = Path(__file__).resolve().parents[2]


def _span(r: dict[str, str]) -> tuple[float, float]:
    start = float(r["offset_s"])
    return start, start + float(r["clip_s"]) * float(r["speed"]) * float(r["tempo"])


def _cause(a: dict[str, str], b: dict[str, str], overlap: float) -> str:
    pitch = lambda r: float(r["pitch_semitones"] or 0.0)  # noqa: E731
    rel_pitch = abs(12 * math.log2(float(a["speed"]) / float(b["speed"])) + pitch(a) - pitch(b))
    edited = any(float(r["tempo"]) != 1.0 or pitch(r) != 0.0 for r in (a, b))
    loud = any(r["voice_snr_db"] and float(r["voice_snr_db"]) <= 0 for r in (a, b)) or any(
        r["noise_snr_db"] and float(r["noise_snr_db"]) <= 5 for r in (a, b)
    )
    if rel_pitch > 4.5:
        return "relative pitch > 4.5"
    if a["reverb"] == "1" or b["reverb"] == "1":
        return "reverb"
    if overlap < 2.5:
        return "overlap < 2.5 s"
    if rel_pitch > 0.5 and edited:
        return "pitch and time scale apart"
    return "voice <= 0 dB or noise <= 5 dB" if loud else "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--neighbours", type=int, default=DiscoveryParams().neighbours)
    ap.add_argument("--dense", type=int, default=None, metavar="K", help="also the dense edges (see above)")
    args = ap.parse_args()
    sounds = args.bench / "sounds"
    with (sounds / "truth.csv").open(encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    qids = [r["qid"] for r in truth]
    params = DiscoveryParams(neighbours=args.neighbours)
    fp = FingerprintParams()
    config = MatchConfig(n_candidates=params.neighbours + 1, top_k=params.neighbours + 1)
    jobs = [Job(k, str(sounds / "queries" / f"{q}.mp4")) for k, q in enumerate(qids)]
    init = (params, fp, config, None)
    prints = list(_run(print_source, jobs, args.workers, init_worker, init, lambda _: None, lost_print))
    music = [p for p in prints if p.ref_peaks is not None and p.query is not None]
    matcher = VideoMatcher([p.ref_peaks for p in music if p.ref_peaks is not None], fp, config)
    best: dict[tuple[int, int], float] = {}
    queries = [p.query.prepare(fp, config) for p in music if p.query is not None]  # untimed, as in stage 1
    cpu0 = time.process_time()
    for k, p in enumerate(music):
        for m in matcher.match(queries[k], threshold=params.min_score, top_k=params.neighbours + 1):
            j = int(m.sound_id)
            if j != k:
                key = (min(p.number, music[j].number), max(p.number, music[j].number))
                best[key] = max(best.get(key, 0.0), m.score)
    print(f"match: {(time.process_time() - cpu0) / max(1, len(music)):.4f} CPU s per video (one process)")
    print(f"{len(music)} of {len(prints)} videos pass the music gate")
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    parent = list(range(len(qids)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (i, a), (j, b) in itertools.combinations(enumerate(truth), 2):
        if not a["source_track"] or a["source_track"] != b["source_track"]:
            continue
        if (i, j) in best:
            parent[find(i)] = find(j)  # a true edge (whatever the overlap)
        (s1, e1), (s2, e2) = _span(a), _span(b)
        overlap = min(e1, e2) - max(s1, s2)
        if overlap >= 1.0:
            cause = _cause(a, b, overlap)
            total[cause] += 1
            found[cause] += (i, j) in best
    print(f"\ndirect pairs (>= 1 s shared) with an edge >= {params.min_score} in either direction\n")
    print("| pair's edits | pairs | with an edge | missed |\n|---|---:|---:|---:|")
    for cause, n in total.most_common():
        print(f"| {cause} | {n} | {found[cause]} | {n - found[cause]} |")
    n_all, n_found = sum(total.values()), sum(found.values())
    print(f"| all | {n_all} | {n_found} | {n_all - n_found} |")
    # the scorer's shared pairs: all pairs in one shared-audio component (chains of >= 1 s overlaps)
    comp: dict[int, list[int]] = {}
    link = list(range(len(qids)))

    def root(x: int) -> int:
        while link[x] != x:
            link[x] = link[link[x]]
            x = link[x]
        return x

    for i, j in itertools.combinations(range(len(qids)), 2):
        a, b = truth[i], truth[j]
        if a["source_track"] and a["source_track"] == b["source_track"]:
            (s1, e1), (s2, e2) = _span(a), _span(b)
            if min(e1, e2) - max(s1, s2) >= 1.0:
                link[root(i)] = root(j)
    for k in range(len(qids)):
        comp.setdefault(root(k), []).append(k)
    shared = [pr for m in comp.values() if len(m) > 1 for pr in itertools.combinations(m, 2)]
    joined = sum(find(i) == find(j) for i, j in shared)
    print(
        f"\nupper bound of shared_recall from these edges (components of the true edges): "
        f"{joined / max(1, len(shared)):.3f} ({joined}/{len(shared)})"
    )
    print(f"RESULT direct_found={n_found} direct={n_all} bound={joined / max(1, len(shared)):.3f}")
    if args.dense is not None:
        _dense_bound(args, truth, music, matcher, params, fp, config, best, shared)


def _dense_bound(args, truth, music, matcher, params, fp, config, best, shared) -> None:  # type: ignore[no-untyped-def]
    """The ``--dense`` report (see the module docstring)."""
    sounds = args.bench / "sounds"
    content = {}
    for p in music:  # the filtered soundtrack again (stage 1 keeps only its peaks)
        audio = read_audio(sounds / "queries" / f"{truth[p.number]['qid']}.mp4", sample_rate=fp.sample_rate)
        c = sustained_filter(audio.samples, audio.sample_rate, params.content)
        content[p.number] = log_spectrogram(c.samples, c.sample_rate, fp)
    words = [frame_bits(content[p.number]) for p in music]
    every = DenseReferences(words, config.dense)
    grid = dense_grid(config, fp)
    many = dataclasses.replace(config, n_candidates=(args.dense or len(music)) + 1)

    queries = [p.query.prepare(fp, config) for p in music if p.query is not None]  # untimed, made once

    def verified(k: int, j: int, hit: DenseHit) -> float:
        """log10 chance probability of the query's peak coincidences at the dense alignment."""
        return dense_peak_check(hit, j, queries[k], matcher._search, fp, config)[0]

    found: list[tuple[int, int, float]] = []  # (query node, ref node, verification log10 p)
    cpu0 = time.process_time()
    for k, p in enumerate(music):
        if args.dense:
            search = matcher._search
            _, cands = match_query_candidates(queries[k], search, fp, many, threshold=params.min_score)
            which = [s for s in dict.fromkeys(c.sound for c in cands) if s != k][: args.dense]
        else:
            which = [j for j in range(len(music)) if j != k]
        hit = dense_search(content[p.number], every.subset(which), *grid, trials_frames=every.total_frames)
        if hit is not None and hit.score >= params.min_score:
            j = which[hit.sound]
            found.append((p.number, music[j].number, verified(k, j, dataclasses.replace(hit, sound=j))))
    cpu = (time.process_time() - cpu0) / max(1, len(music))
    scope = f"its {args.dense} best peak candidates" if args.dense else "every other music video"
    print(f"\ndense search of each music video over {scope}: {cpu:.3f} CPU s per video\n")
    print("| peak check at the alignment | edges | across tracks | bound with them |\n|---|---:|---:|---:|")
    track = [r["source_track"] for r in truth]
    for limit in (-6.0, -8.0, -10.0, -12.0):
        extra = [(a, b) for a, b, lp in found if lp <= limit]
        wrong = sum(not track[a] or track[a] != track[b] for a, b in extra)
        bound = _bound(truth, list(best), extra, shared)
        print(f"| log10 p <= {limit:g} | {len(extra)} | {wrong} | {bound:.3f} |")
    # the most any retrieval could add: every direct pair without a peak edge, tested pairwise
    number = {p.number: k for k, p in enumerate(music)}
    pairwise = []
    for i, j in shared:
        if (min(i, j), max(i, j)) in best or i not in number or j not in number:
            continue
        (s1, e1), (s2, e2) = _span(truth[i]), _span(truth[j])
        if min(e1, e2) - max(s1, s2) < 1.0:
            continue
        for a, b in ((i, j), (j, i)):
            ka, kb = number[a], number[b]
            hit = dense_search(content[a], every.subset([kb]), *grid, trials_frames=every.total_frames)
            if hit is not None and verified(ka, kb, dataclasses.replace(hit, sound=kb)) <= -8.0:
                pairwise.append((a, b))
    print(
        f"\nevery missed direct pair searched pairwise, peak check <= -8: {len(pairwise)} directed edges; "
        f"bound with them {_bound(truth, list(best), pairwise, shared):.3f}"
    )


def _bound(truth, edges, extra, shared) -> float:  # type: ignore[no-untyped-def]
    """Shared recall of the components of the same-track edges among ``edges`` + ``extra``."""
    parent = list(range(len(truth)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in [*edges, *extra]:
        if truth[a]["source_track"] and truth[a]["source_track"] == truth[b]["source_track"]:
            parent[find(a)] = find(b)
    return sum(find(i) == find(j) for i, j in shared) / max(1, len(shared))


if __name__ == "__main__":
    main()
