"""Inputs, parameters and results of sound discovery (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from reelsense._checks import (
    check_bool,
    check_choice,
    check_finite,
    check_int,
    check_number,
    check_positive,
    check_sample_rate,
)
from reelsense.errors import ParameterError
from reelsense.sounds.discover._content import ContentParams
from reelsense.sounds.match import DENSE_SCOPES, DenseScope

__all__ = [
    "CLUSTERINGS",
    "JOIN_CHANCE_LOG10",
    "LIBRARY_USES",
    "AudioClip",
    "Clustering",
    "DiscoveredSound",
    "DiscoveryParams",
    "DiscoveryStats",
    "LibraryUse",
    "VideoSound",
]


@dataclass(frozen=True, repr=False)
class AudioClip:
    """A soundtrack given as samples instead of a file: ``samples`` float ``[n]`` mono at
    ``sample_rate``; ``timestamp_seconds`` (UTC unix seconds) and ``caption`` as a sidecar
    would give them."""

    clip_id: str
    samples: np.ndarray
    sample_rate: int
    timestamp_seconds: int | None = None
    caption: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.clip_id, str) or not self.clip_id.strip():
            raise ParameterError(f"AudioClip clip_id={self.clip_id!r} must be a non-empty str")
        rate = check_sample_rate(self.sample_rate, f"AudioClip {self.clip_id!r} sample_rate")
        object.__setattr__(self, "sample_rate", rate)

    def __repr__(self) -> str:
        return f"AudioClip({self.clip_id!r}, {np.asarray(self.samples).shape[0] / self.sample_rate:.2f} s)"


Clustering = Literal["components", "supported"]
"""How matched pairs become sounds: ``components`` (every edge joins its two groups) or
``supported`` (merges of groups need consistent support, see :func:`cluster_graph`)."""

LibraryUse = Literal["anchors", "residual"]
"""What a library (``index``) does: ``anchors`` (every video is matched against the others and
library matches are edges to one anchor node per library sound) or ``residual`` (videos the
library identifies take its sound and stay out of the video graph; the rest are grouped among
themselves)."""

CLUSTERINGS: tuple[str, ...] = ("components", "supported")

#: With ``join_score="auto"``: a lone video joins a group on one edge that scores at least
#: ``log10(videos searched) - JOIN_CHANCE_LOG10``. A score is ``-log10`` of the chance that a
#: search of the whole corpus gives such a match by accident, so over all the corpus's searches
#: about ``10 ** JOIN_CHANCE_LOG10`` (0.3) accidental edges reach that score.
JOIN_CHANCE_LOG10 = -0.5
LIBRARY_USES: tuple[str, ...] = ("anchors", "residual")


@dataclass(frozen=True)
class DiscoveryParams:
    """Options and thresholds of discovery (the one engine behind ``sounds discover`` and
    ``embed --discover-sounds``; ``docs/discovery-and-trends.md`` lists the measurements that
    chose the defaults).

    ``clustering``: see :data:`Clustering`. ``music_filter``: fingerprint the sustained
    partials (:func:`sustained_filter`) rather than the raw soundtrack, match only videos that
    have music (``min_notes_per_second``, ``min_loudness_lufs``) and dissolve discovered groups
    without one clearly musical use (``min_cluster_notes_per_second``): shared voice-over
    lines and ambience recordings are not sounds. ``library``: see :data:`LibraryUse`.

    ``min_score``: calibrated score a video-to-video match needs to count as an edge (2.0:
    estimated false-match probability 1 % per video). ``library_threshold``: score a match
    against the library needs (None: the index's default). ``second_chance``: the dense
    per-frame test also runs where the peak search looks. Between videos, each music video is
    searched densely over the soundtracks its peak search ranked best (an edge needs the peaks
    at the dense alignment to confirm it; stage 1 keeps every music video's frame bits, stage 2
    decodes each music video again), which links uses under reverb + voice-over + noise that
    no peak edge reaches, at a CPU cost per video a few times its peak search's. With a
    library, its look-up also runs the dense second chance
    (:attr:`~reelsense.sounds.MatchConfig.dense_second_chance`) on videos its peak search
    leaves unmatched or weak, at a CPU cost per such video linear in the library's length
    (off: the clustering handles those videos, and every video would pay for it);
    ``second_chance_scope``: the library sounds it searches
    (:attr:`~reelsense.sounds.MatchConfig.dense_scope`). ``composite_edits``: the peak search
    between videos also runs on the plane of every time-stretch scale x pitch shift
    (:attr:`~reelsense.sounds.MatchConfig.composite`) and keeps, per video pair, the better of
    the two searches: it links two uses edited differently from one original (one pitch-shifted,
    one sped up), at about 4x the peak search's CPU. ``neighbours``:
    matches kept per video. ``min_support``/``join_score``/``merge_score``/``scale_tolerance``: merge rules of
    :func:`cluster_graph` (``supported`` clustering); ``join_score="auto"`` sets it from the number
    of videos searched (:data:`JOIN_CHANCE_LOG10`): a score that chance reaches about 0.3 times in
    the whole corpus (2.85 for 225 music videos, 4.2 for 5,000), instead of a fixed 10 that
    leaves many true lone uses out of their group.
    """

    clustering: Clustering = "supported"
    music_filter: bool = True
    library: LibraryUse = "anchors"
    min_score: float = 2.0
    library_threshold: float | None = None
    second_chance: bool = False
    second_chance_scope: DenseScope = "library"
    composite_edits: bool = False
    neighbours: int = 8
    min_support: int = 2
    join_score: float | Literal["auto"] = 10.0
    merge_score: float = 8.0
    scale_tolerance: float = 0.03
    min_notes_per_second: float = 1.0
    min_loudness_lufs: float = -50.0
    min_cluster_notes_per_second: float = 3.0
    content: ContentParams = field(default_factory=ContentParams)

    def __post_init__(self) -> None:
        check_choice(self.clustering, "clustering", CLUSTERINGS)
        check_choice(self.library, "library", LIBRARY_USES)
        check_choice(self.second_chance_scope, "second_chance_scope", DENSE_SCOPES)
        for name in ("music_filter", "second_chance", "composite_edits"):  # "no" read as True
            object.__setattr__(self, name, check_bool(getattr(self, name), name))
        if not isinstance(self.content, ContentParams):
            raise ParameterError(f"content={self.content!r} must be a ContentParams")
        # a score is -log10 of a probability: below 0 every pair of videos is an edge
        if check_finite(self.min_score, "min_score") < 0.0:
            raise ParameterError(f"min_score={self.min_score} must be >= 0")
        if (
            self.library_threshold is not None
            and check_finite(self.library_threshold, "library_threshold") < 0
        ):
            raise ParameterError(f"library_threshold={self.library_threshold} must be >= 0")
        for name in ("neighbours", "min_support"):  # integers (1.5, True refused), as ints
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        # scores (True, "10", NaN refused; inf: never on one edge), as floats
        if self.join_score != "auto":
            join = check_number(self.join_score, "join_score")
            if not join > 0:
                raise ParameterError(f"join_score={self.join_score!r} must be > 0 or 'auto'")
            object.__setattr__(self, "join_score", join)
        object.__setattr__(self, "merge_score", check_number(self.merge_score, "merge_score"))
        if not self.merge_score > 0:
            raise ParameterError(f"merge_score={self.merge_score} must be > 0 (inf: never on one edge)")
        object.__setattr__(self, "scale_tolerance", check_positive(self.scale_tolerance, "scale_tolerance"))
        check_finite(self.min_loudness_lufs, "min_loudness_lufs")
        for name in ("min_notes_per_second", "min_cluster_notes_per_second"):
            check_finite(getattr(self, name), name)  # NaN passed the test below and dissolved every group
        if self.min_notes_per_second < 0 or self.min_cluster_notes_per_second < 0:
            raise ParameterError(
                f"min_notes_per_second={self.min_notes_per_second}, min_cluster_notes_per_second="
                f"{self.min_cluster_notes_per_second} must be >= 0"
            )


@dataclass(frozen=True)
class VideoSound:
    """One video's place in the discovered sounds.

    ``cluster``: the sound's id (a library sound id when the cluster holds one, else
    ``dNNNN``), None when the video shares its sound with no other video and no library
    sound. ``score``: strongest evidence tying the video to its cluster (its own library
    match score, else its best accepted edge). ``speed``: representative seconds per
    video second (1.25: this use is 25 % faster than the representative);
    ``pitch_semitones`` relative to the representative; ``offset_seconds``: where the video
    starts in the representative's time. ``library_score``: the video's own match against
    the library (None if it joined through other videos). ``notes_per_second``: see
    :func:`notes_per_second`; ``music``: it passed the note-rate gate.
    """

    video_id: str
    path: str | None
    cluster: str | None
    representative: str | None
    library_sound: str | None
    score: float | None
    speed: float | None
    pitch_semitones: float | None
    offset_seconds: float | None
    n_links: int
    library_score: float | None
    timestamp_seconds: int | None
    duration_seconds: float
    notes_per_second: float
    music: bool
    caption: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DiscoveredSound:
    """One sound and its uses (``members`` with their ``speeds``/``pitches`` relative to
    ``representative``, in the order of the video table). ``first_seen``/``last_seen``: UTC
    unix seconds of the earliest/latest use with a timestamp."""

    cluster: str
    size: int
    representative: str
    library_sound: str | None
    first_seen: int | None
    last_seen: int | None
    n_links: int
    mean_link_score: float | None
    members: tuple[str, ...]
    speeds: tuple[float, ...]
    pitches_semitones: tuple[float, ...]


@dataclass(frozen=True)
class DiscoveryStats:
    """Counts and timings (wall seconds) of one discovery run."""

    n_videos: int
    n_music: int
    n_errors: int
    n_edges: int
    n_accepted: int
    n_library_matched: int
    fingerprint_seconds: float
    match_seconds: float
    cluster_seconds: float
    index_bytes: int
