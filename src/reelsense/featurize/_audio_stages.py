"""Per-video audio stages that run in the worker processes: descriptors, presence and sound matching.

They are cheap next to decoding and parallelise with it. Their heavy state (the VAD
network, the sound index's in-memory search structure) is built once per worker process
and cached there; the stage objects themselves stay small (they are pickled with every item).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from reelsense._workers import one_torch_thread
from reelsense.audio.descriptors import DESCRIPTORS_VERSION, AudioDescriptors, compute_audio_descriptors
from reelsense.io import DecodedMedia

if TYPE_CHECKING:
    from reelsense.sounds.index import FileVersion, SoundIndex
    from reelsense.sounds.match import DenseScope

__all__ = [
    "PRESENCE_COLUMNS",
    "SOUND_COLUMNS",
    "AudioDescriptorStage",
    "PresenceStage",
    "SoundMatchStage",
    "index_digest",
]

_DESCRIPTOR_COLUMNS = {name: f"audio_{name}" for name in AudioDescriptors.__dataclass_fields__}


@dataclass(frozen=True)
class AudioDescriptorStage:
    """The :class:`~reelsense.audio.AudioDescriptors` of the decoded soundtrack, as
    ``audio_*`` columns (``audio_duration_seconds`` is the duration analysed). Null for
    files without audio."""

    name: str = "audio_descriptors"
    version: int = DESCRIPTORS_VERSION
    needs_audio: bool = True
    needs_frames: bool = False

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return tuple(pa.field(column, pa.float64()) for column in _DESCRIPTOR_COLUMNS.values())

    def options(self) -> dict[str, Any]:
        return {}

    def process(self, media: DecodedMedia) -> dict[str, Any]:
        if media.audio is None:
            return {}
        descriptors = compute_audio_descriptors(media.audio.samples, media.audio.sample_rate)
        return {_DESCRIPTOR_COLUMNS[k]: v for k, v in asdict(descriptors).items()}


PRESENCE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("speech_fraction", pa.float64()),
    ("music_fraction", pa.float64()),
    ("speech_seconds", pa.float64()),
    ("music_seconds", pa.float64()),
    ("voice_over", pa.bool_()),
    ("silent", pa.bool_()),
)


@dataclass(frozen=True)
class PresenceStage:
    """Speech and music presence of the soundtrack (:func:`reelsense.audio.presence.analyse_presence`):
    ``speech_fraction``, ``music_fraction``, ``speech_seconds``, ``music_seconds``,
    ``voice_over``, ``silent``. Null without audio."""

    vad: str = "auto"
    vad_model: str = ""
    name: str = "presence"
    version: int = 1
    needs_audio: bool = True
    needs_frames: bool = False

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return tuple(pa.field(name, kind) for name, kind in PRESENCE_COLUMNS)

    def options(self) -> dict[str, Any]:
        return {"vad": self.vad, "vad_model": self.vad_model}

    def process(self, media: DecodedMedia) -> dict[str, Any]:
        if media.audio is None or media.audio.samples.size == 0:
            return {}
        from reelsense.audio.presence import analyse_presence

        if multiprocessing.parent_process() is not None:  # a worker: the VAD's small operators
            one_torch_thread()  # spin an OpenMP pool per worker for nothing (174 vs 19 ms/clip)
        presence = analyse_presence(media.audio.samples, media.audio.sample_rate, vad=self.vad)
        return {name: getattr(presence, name) for name, _ in PRESENCE_COLUMNS}


SOUND_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("sound_id", pa.string()),
    ("sound_score", pa.float64()),
    ("sound_offset_seconds", pa.float64()),
    ("sound_speed", pa.float64()),
    ("sound_tempo", pa.float64()),
    ("sound_pitch_semitones", pa.float64()),
)

_OPEN_INDEXES: dict[tuple[str, bool, str], SoundIndex] = {}
_OPEN_LOCK = threading.Lock()


def _open_index(
    path: str, trusted: frozenset[FileVersion], second_chance: bool = False, scope: DenseScope = "library"
) -> SoundIndex:
    """The index at ``path``, opened read-only once per process (and per matcher setting)."""
    from reelsense.sounds.index import SoundIndex
    from reelsense.sounds.match import MatchConfig

    with _OPEN_LOCK:
        index = _OPEN_INDEXES.get((path, second_chance, scope))
        if index is None:
            config = MatchConfig(dense_second_chance=second_chance, dense_scope=scope)
            index = SoundIndex.open(path, readonly=True, trusted=trusted, config=config, warn_empty=False)
            _OPEN_INDEXES[(path, second_chance, scope)] = index
        return index


@dataclass(frozen=True)
class IndexDigest:
    """What identifies an index's content (``sha256`` over its sounds' ids, peak counts and
    durations and its fingerprint parameters; recorded in the output config, so a resume
    against an index whose sounds changed is refused), and the search file versions this
    process checked while preparing it (``checked``, handed to the decoding workers)."""

    n_sounds: int
    sha256: str
    checked: frozenset[FileVersion]


def index_digest(path: str | os.PathLike[str]) -> IndexDigest:
    """Digest the index at ``path`` and make its search file ready for the workers (and numba's
    cache hold the search's kernels: :func:`reelsense.sounds.index.prepare_kernels`)."""
    from reelsense.sounds.index import SoundIndex, prepare_kernels

    with SoundIndex.open(path, readonly=True) as index:
        sounds = [(s.sound_id, s.n_peaks, round(s.duration_seconds, 3)) for s in index.sounds()]
        params = index.stats().params
        prepare_kernels()  # the index is good: all the kernels in one round, before the workers
        checked = index.prepare_search()
    blob = json.dumps({"sounds": sorted(sounds), "params": params}, sort_keys=True, default=str)
    return IndexDigest(len(sounds), hashlib.sha256(blob.encode("utf-8")).hexdigest(), checked)


@dataclass(frozen=True)
class SoundMatchStage:
    """The best match of the soundtrack in a sound index: ``sound_id``, ``sound_score``
    (calibrated, ``-log10`` false-match probability), ``sound_offset_seconds`` (in the
    reference), ``sound_speed`` (time scale; 1.25 = sped up 25 %), ``sound_tempo``,
    ``sound_pitch_semitones``. All null when nothing passes the threshold or without audio.
    ``second_chance``, ``second_chance_scope``: the matcher's dense second chance (see
    :class:`FeaturizerConfig`)."""

    index_path: str
    digest: str = ""
    threshold: float | None = None
    trusted: frozenset[FileVersion] = frozenset()  # search file versions the parent checked
    second_chance: bool = False
    second_chance_scope: DenseScope = "library"
    name: str = "sound_match"
    version: int = 1
    needs_audio: bool = True
    needs_frames: bool = False

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return tuple(pa.field(name, kind) for name, kind in SOUND_COLUMNS)

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"index_sha256": self.digest, "threshold": self.threshold}
        if self.second_chance:  # only when set: outputs made before the option still resume
            options["second_chance"] = True
            if self.second_chance_scope != "library":
                options["second_chance_scope"] = self.second_chance_scope
        return options

    def process(self, media: DecodedMedia) -> dict[str, Any]:
        if media.audio is None or media.audio.samples.size == 0:
            return {}
        index = _open_index(self.index_path, self.trusted, self.second_chance, self.second_chance_scope)
        matches = index.match(media.audio.samples, media.audio.sample_rate, top_k=1, threshold=self.threshold)
        if not matches:
            return {}
        best = matches[0]
        return {
            "sound_id": best.sound_id,
            "sound_score": float(best.score),
            "sound_offset_seconds": float(best.offset_seconds),
            "sound_speed": float(best.speed),
            "sound_tempo": float(best.tempo),
            "sound_pitch_semitones": float(best.pitch_semitones),
        }
