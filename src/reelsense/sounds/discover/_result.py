"""The result of discovery: per-video rows, per-sound summaries, and their CSV files."""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelsense._checks import check_outputs_apart
from reelsense.errors import OutputError
from reelsense.io import clean_text, csv_float, iso_time, path_text
from reelsense.io._files import replacing
from reelsense.sounds.discover._geometry import Placement
from reelsense.sounds.discover._graph import EdgeTable
from reelsense.sounds.discover._types import (
    DiscoveredSound,
    DiscoveryParams,
    DiscoveryStats,
    VideoSound,
)
from reelsense.sounds.discover._work import VideoPrint

__all__ = ["SUMMARY_COLUMNS", "VIDEO_COLUMNS", "Discovery", "assemble", "summary_path_for"]

VIDEO_COLUMNS = (
    "video_id",
    "sound_cluster",
    "score",
    "speed_vs_representative",
    "pitch_semitones_vs_representative",
    "offset_seconds",
    "representative",
    "library_sound",
    "library_score",
    "n_links",
    "timestamp",
    "upload_time",
    "duration_seconds",
    "notes_per_second",
    "path",
    "caption",
    "error",
)
SUMMARY_COLUMNS = (
    "sound_cluster",
    "size",
    "representative",
    "library_sound",
    "first_seen",
    "last_seen",
    "n_links",
    "mean_link_score",
    "speed_min",
    "speed_max",
    "members",
)


def summary_path_for(path: str | os.PathLike[str]) -> Path:
    """``clusters.csv`` -> ``clusters_summary.csv`` (beside it)."""
    p = Path(path)
    return p.with_name(f"{p.stem}_summary{p.suffix or '.csv'}")


@dataclass(frozen=True)
class Discovery:
    """Every video's sound (``videos``, input order) and every sound (``sounds``: library
    sounds first by id, then discovered ones ``d0001``...)."""

    videos: tuple[VideoSound, ...]
    sounds: tuple[DiscoveredSound, ...]
    stats: DiscoveryStats
    params: DiscoveryParams

    def labels(self) -> dict[str, str | None]:
        """``video_id -> cluster`` (None for videos in no cluster)."""
        return {v.video_id: v.cluster for v in self.videos}

    def write_csv(
        self, path: str | os.PathLike[str], summary_path: str | os.PathLike[str] | None = None
    ) -> tuple[Path, Path]:
        """Write the per-video table (header starts ``video_id,sound_cluster``, the names of
        ``reelsense embed``) and the per-sound
        summary (default: ``<stem>_summary.csv`` beside it); returns both paths. Raises
        OutputError, before writing, when either is one of the videos' files or both are
        one file."""
        out = Path(path)
        summary = Path(summary_path) if summary_path is not None else summary_path_for(out)
        check_outputs_apart({"path": out, "summary_path": summary}, [v.path for v in self.videos])
        try:
            # both files are whole before either replaces an earlier run's
            with replacing(out) as out_tmp, replacing(summary) as summary_tmp:
                with out_tmp.open("w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(VIDEO_COLUMNS)
                    for v in self.videos:
                        w.writerow(_video_row(v))
                with summary_tmp.open("w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(SUMMARY_COLUMNS)
                    for s in self.sounds:
                        w.writerow(_sound_row(s))
        except OSError as exc:
            raise OutputError(f"cannot write {out} / {summary}: {exc}") from exc
        return out, summary


def _video_row(v: VideoSound) -> list[object]:
    return [
        v.video_id,
        v.cluster or "",
        csv_float(v.score, 3),
        csv_float(v.speed, 4),
        csv_float(v.pitch_semitones, 2),
        csv_float(v.offset_seconds, 3),
        v.representative or "",
        v.library_sound or "",
        csv_float(v.library_score, 3),
        v.n_links,
        "" if v.timestamp_seconds is None else v.timestamp_seconds,
        iso_time(v.timestamp_seconds),
        csv_float(v.duration_seconds, 3),
        csv_float(v.notes_per_second, 2),
        path_text(v.path) if v.path else "",
        clean_text(v.caption or "").replace("\r", " ").replace("\n", " "),
        clean_text(v.error or ""),
    ]


def _member(video_id: str) -> str:
    """A video id inside the summary's ``members`` field (``id:speed;...``): ``%`` and ``;``
    percent-encoded, so splitting on ``;`` and then at the last ``:`` gives the ids back."""
    return clean_text(video_id).replace("%", "%25").replace(";", "%3B")


def _sound_row(s: DiscoveredSound) -> list[object]:
    return [
        s.cluster,
        s.size,
        s.representative,
        s.library_sound or "",
        iso_time(s.first_seen),
        iso_time(s.last_seen),
        s.n_links,
        csv_float(s.mean_link_score, 3),
        csv_float(min(s.speeds), 4),
        csv_float(max(s.speeds), 4),
        ";".join(f"{_member(m)}:{sp:.4f}" for m, sp in zip(s.members, s.speeds, strict=True)),
    ]


def _cluster_names(
    roots: np.ndarray, n_videos: int, node_ids: list[str], timestamps: list[int | None], reps: np.ndarray
) -> dict[int, str]:
    """Name each cluster root: the library id of its anchor, else ``dNNNN`` in order of size,
    first use, representative id."""
    members: dict[int, list[int]] = defaultdict(list)
    for node, root in enumerate(roots.tolist()):
        members[root].append(node)
    names: dict[int, str] = {}
    discovered = []
    for root, nodes in members.items():
        anchors = [k for k in nodes if k >= n_videos]
        videos = [k for k in nodes if k < n_videos]
        if anchors:
            names[root] = node_ids[anchors[0]]
        elif len(videos) >= 2:
            seen = [float(t) for k in videos if (t := timestamps[k]) is not None]
            first = min(seen) if seen else math.inf
            discovered.append((-len(videos), first, node_ids[int(reps[videos[0]])], root))
    discovered.sort()
    width = max(4, len(str(len(discovered))))
    for k, (*_, root) in enumerate(discovered, start=1):
        names[root] = f"d{k:0{width}d}"
    return names


def assemble(
    prints: list[VideoPrint],
    video_ids: list[str],
    paths: Sequence[str | None],
    lib_ids: list[str],
    roots: np.ndarray,
    accepted: EdgeTable,
    placement: Placement,
    params: DiscoveryParams,
    stats: DiscoveryStats,
) -> Discovery:
    """Build the :class:`Discovery` from the graph results (``roots`` over videos then anchors)."""
    n = len(prints)
    node_ids = video_ids + lib_ids
    timestamps = [p.timestamp_seconds for p in prints] + [None] * len(lib_ids)
    reps = placement.representative
    names = _cluster_names(roots, n, node_ids, timestamps, reps)
    video_edge = accepted.ref < n
    links = np.bincount(accepted.query[video_edge], minlength=n + len(lib_ids)) + np.bincount(
        accepted.ref[video_edge], minlength=n + len(lib_ids)
    )
    best = np.zeros(n + len(lib_ids))
    np.maximum.at(best, accepted.query[video_edge], accepted.score[video_edge])
    np.maximum.at(best, accepted.ref[video_edge], accepted.score[video_edge])
    videos = []
    for k, p in enumerate(prints):
        root = int(roots[k])
        name = names.get(root)
        lib = name if name is not None and name in lib_ids else None
        own = p.library.score if p.library is not None else None
        in_cluster = name is not None
        score = own if own is not None and lib is not None else (float(best[k]) if best[k] > 0 else None)
        videos.append(
            VideoSound(
                video_id=video_ids[k],
                path=paths[k],
                cluster=name,
                representative=node_ids[int(reps[k])] if in_cluster else None,
                library_sound=lib,
                score=score if in_cluster else None,
                speed=float(placement.speed[k]) if in_cluster else None,
                pitch_semitones=float(placement.pitch_semitones[k]) if in_cluster else None,
                offset_seconds=float(placement.offset_seconds[k]) if in_cluster else None,
                n_links=int(links[k]),
                library_score=own,
                timestamp_seconds=p.timestamp_seconds,
                duration_seconds=p.duration_seconds,
                notes_per_second=p.notes_per_second,
                music=p.query is not None,
                caption=p.caption,
                error=p.error,
            )
        )
    return Discovery(tuple(videos), _sounds(videos, names, lib_ids, accepted, roots, n), stats, params)


def _sounds(
    videos: list[VideoSound],
    names: dict[int, str],
    lib_ids: list[str],
    accepted: EdgeTable,
    roots: np.ndarray,
    n: int,
) -> tuple[DiscoveredSound, ...]:
    by_name: dict[str, list[VideoSound]] = defaultdict(list)
    for v in videos:
        if v.cluster is not None:
            by_name[v.cluster].append(v)
    edge_root = roots[accepted.query]
    video_edge = accepted.ref < n
    root_of = {name: root for root, name in names.items()}
    out = []
    for name, members in by_name.items():
        sel = video_edge & (edge_root == root_of[name])
        scores = accepted.score[sel]
        seen = [m.timestamp_seconds for m in members if m.timestamp_seconds is not None]
        out.append(
            DiscoveredSound(
                cluster=name,
                size=len(members),
                representative=members[0].representative or "",
                library_sound=name if name in lib_ids else None,
                first_seen=min(seen) if seen else None,
                last_seen=max(seen) if seen else None,
                n_links=int(sel.sum()),
                mean_link_score=float(scores.mean()) if scores.size else None,
                members=tuple(m.video_id for m in members),
                speeds=tuple(float(m.speed or 1.0) for m in members),
                pitches_semitones=tuple(float(m.pitch_semitones or 0.0) for m in members),
            )
        )
    out.sort(key=lambda s: (s.library_sound is None, s.cluster))
    return tuple(out)
