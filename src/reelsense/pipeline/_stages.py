"""Where per-video features plug into the batch job.

Two kinds of stage, both declaring the columns they add (``fields``, pyarrow fields
appended to the row schema) and the options that shape their output (``options()``,
JSON-able, recorded in the output's config so a resume with other options is refused;
bump ``version`` when the computation changes):

- :class:`WorkerStage` runs in the decoding worker processes, once per video, on the
  decoded media (``process(media) -> columns``). Cheap per-item work belongs here:
  descriptors, statistics, anything that needs no big model. A stage object is pickled
  to the workers with each item, so keep it small; if it needs a model, load it lazily
  and cache it per process.
- :class:`FeatureStage` runs in the main process on batches of decoded videos
  (``process_batch(items) -> columns per item``): a neural network on a GPU, a sound
  index opened once and matched against many queries. Stages run in the order given;
  each sees the row as the previous stages left it (so a fusion stage can follow the
  model stages). If a batch raises, its items are retried one by one and the ones that
  still fail get ``status=error`` with the message.

Both say what they need decoded (``needs_audio``, ``needs_frames``); audio is decoded at
``EmbedConfig.audio_sample_rate`` and frames with ``EmbedConfig.frames``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from reelsense.audio.descriptors import DESCRIPTORS_VERSION, AudioDescriptors, compute_audio_descriptors
from reelsense.io import DecodedMedia

__all__ = [
    "AudioDescriptorStage",
    "FeatureStage",
    "Stage",
    "StageItem",
    "WorkerStage",
    "default_worker_stages",
]


class Stage(Protocol):
    """What every stage declares: its name and version, what it needs decoded, its
    columns and the options that shape them."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def needs_audio(self) -> bool: ...

    @property
    def needs_frames(self) -> bool: ...

    @property
    def fields(self) -> tuple[pa.Field, ...]: ...

    def options(self) -> dict[str, Any]: ...


@runtime_checkable
class WorkerStage(Stage, Protocol):
    """Per-video columns computed in the worker processes (see the module docstring)."""

    def process(self, media: DecodedMedia) -> dict[str, Any]:
        """Column values for one decoded video (keys: names of ``fields``; missing = null)."""
        ...


@dataclass(frozen=True)
class StageItem:
    """One decoded video handed to a :class:`FeatureStage`: its row so far and its media."""

    video_id: str
    row: Mapping[str, Any]
    media: DecodedMedia


@runtime_checkable
class FeatureStage(Stage, Protocol):
    """Batched columns computed in the main process (see the module docstring)."""

    def process_batch(self, items: Sequence[StageItem]) -> list[dict[str, Any]]:
        """Column values for each item, in order (one dict per item)."""
        ...


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


def default_worker_stages() -> tuple[WorkerStage, ...]:
    """The stages ``reelsense embed`` runs by default: the audio descriptors."""
    return (AudioDescriptorStage(),)
