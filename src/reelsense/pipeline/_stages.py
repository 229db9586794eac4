"""Where per-video columns plug into a batch job, and what a job computes (:class:`JobSpec`).

Two kinds of stage, both declaring the columns they add (``fields``, pyarrow fields
appended to the row schema) and the options that shape their output (``options()``,
JSON-able, recorded in the output's config so a resume with other options is refused;
bump ``version`` when the computation changes):

- :class:`WorkerStage` runs in the decoding worker processes, once per video, on the
  decoded media (``process(media) -> columns``). Cheap per-item work belongs here:
  descriptors, statistics, anything that needs no big model. A stage object is pickled
  to the workers with each item, so keep it small; if it needs a model, load it lazily
  and cache it per process.
- :class:`FeatureStage` runs in the main process (or a Ray model actor) on batches of
  decoded videos (``process_batch(items) -> columns per item``): a neural network on a
  GPU. Stages run in the order given; each sees the row as the previous stages left it
  (so a fusion stage can follow the model stages). If a batch raises, its items are
  retried one by one and the ones that still fail get ``status=error`` with the message
  (:func:`run_feature_stages`).

Both say what they need decoded (``needs_audio``, ``needs_frames``). The engine knows no
stage: :mod:`reelsense.featurize` builds them and hands them over in a :class:`JobSpec`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from reelsense._checks import check_positive, check_sample_rate
from reelsense.errors import ParameterError
from reelsense.io import DecodedMedia, FrameSampling

__all__ = [
    "ActorPlan",
    "FeatureStage",
    "JobSpec",
    "KeptMedia",
    "Stage",
    "StageItem",
    "WorkerStage",
    "run_feature_stages",
    "stage_record",
]

log = logging.getLogger(__name__)


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


def stage_record(stage: Stage) -> dict[str, Any]:
    """What the output's configuration records of a stage: name, version, options."""
    return {"name": stage.name, "version": stage.version, "options": stage.options()}


@dataclass(frozen=True)
class KeptMedia:
    """What of a decoded video a decoding worker hands on to the feature stages: the audio,
    the frames, either or both (the rest is dropped before it crosses to another process)."""

    audio: bool
    frames: bool

    def of(self, media: DecodedMedia) -> DecodedMedia:
        """``media`` without the parts that are not kept."""
        return replace(
            media,
            audio=media.audio if self.audio else None,
            frames=media.frames if self.frames else None,
        )


@dataclass(frozen=True)
class ActorPlan:
    """How a Ray model actor builds its feature stages on its device: ``build`` (picklable,
    called once in the actor) and the Parquet metadata that records the device and
    precision the actors run with (replacing the driver's keys of the same name)."""

    build: Callable[[], Sequence[FeatureStage]]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobSpec:
    """What a job computes, given to the engine by its caller.

    ``worker_stages`` run in the decoding workers, ``feature_stages`` batched in the main
    process; ``audio_sample_rate`` and ``frames`` say how to decode for the stages that
    need audio or frames, ``limit_duration_seconds`` how much of each file to analyse
    (None: all); ``metadata`` is extra Parquet key-value metadata (informational: not
    compared on resume). ``actor_plan`` (Ray engine): called on the driver with the
    device the actors get (``"cuda"`` or ``"cpu"``) and the number of nodes of the cluster,
    returns how they build their stages; the driver's ``feature_stages`` then only describe
    the columns. ``device`` (Ray engine): the device the feature stages were asked to run on
    (``auto``, ``cpu`` or ``cuda``); it decides the model actors' GPUs
    (:func:`~reelsense.pipeline._ray.actor_gpus`), and so the device ``actor_plan`` gets.
    """

    worker_stages: tuple[WorkerStage, ...]
    feature_stages: tuple[FeatureStage, ...] = ()
    audio_sample_rate: int = 22050
    frames: FrameSampling | None = None
    limit_duration_seconds: float | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    actor_plan: Callable[[str, int], ActorPlan] | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        rate = check_sample_rate(self.audio_sample_rate, "audio_sample_rate")
        object.__setattr__(self, "audio_sample_rate", rate)
        if self.limit_duration_seconds is not None:  # finite and > 0 (a bool, a string, NaN refused)
            seconds = check_positive(self.limit_duration_seconds, "limit_duration_seconds")
            object.__setattr__(self, "limit_duration_seconds", seconds)
        stages: list[Stage] = [*self.worker_stages, *self.feature_stages]
        if self.frames is None and any(s.needs_frames for s in stages):
            names = [s.name for s in stages if s.needs_frames]
            raise ParameterError(f"stages {names} need frames: give JobSpec.frames (a FrameSampling)")

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (*self.worker_stages, *self.feature_stages)

    @property
    def needs_audio(self) -> bool:
        return any(s.needs_audio for s in self.stages)

    @property
    def needs_frames(self) -> bool:
        return any(s.needs_frames for s in self.stages)

    @property
    def kept_media(self) -> KeptMedia | None:
        """What the decoding workers hand on to the feature stages (None: nothing, there are
        none): the audio when one of them needs it, the frames when one needs them."""
        if not self.feature_stages:
            return None
        return KeptMedia(
            audio=any(s.needs_audio for s in self.feature_stages),
            frames=any(s.needs_frames for s in self.feature_stages),
        )

    @property
    def fields(self) -> list[pa.Field]:
        return [f for s in self.stages for f in s.fields]


def _stage_outputs(stage: FeatureStage, items: list[StageItem]) -> list[dict[str, Any] | str]:
    """Columns per item, or an error message per failed item (batch, then one by one)."""
    allowed = {f.name for f in stage.fields}

    def checked(batch: list[StageItem]) -> list[dict[str, Any]]:
        outs = stage.process_batch(batch)
        if len(outs) != len(batch):
            raise ParameterError(f"stage {stage.name!r} returned {len(outs)} results for {len(batch)} items")
        for out in outs:
            if set(out) - allowed:
                raise ParameterError(
                    f"stage {stage.name!r} returned undeclared columns {sorted(set(out) - allowed)}"
                )
        return outs

    try:
        return list(checked(items))
    except Exception as exc:  # batch boundary: retry the items one by one to isolate the bad one
        if len(items) == 1:
            return [f"stage {stage.name!r} failed: {type(exc).__name__}: {exc}"]
        log.warning("stage %s failed on a batch of %d (%s); retrying one by one", stage.name, len(items), exc)
        return [out for item in items for out in _stage_outputs(stage, [item])]


def run_feature_stages(
    stages: Sequence[FeatureStage], batch: Sequence[tuple[dict[str, Any], DecodedMedia]]
) -> None:
    """Run ``stages`` in order over a batch of ``(row, media)`` pairs, updating the rows in place.

    Each stage sees the rows as the previous stages left them. If a stage raises on the
    batch, its items are retried one by one; an item that still fails gets
    ``status='error'`` and the message, and no later stage sees it.
    """
    live = list(batch)
    for stage in stages:
        if not live:
            break
        items = [StageItem(row["video_id"], row, media) for row, media in live]
        survivors = []
        for (row, media), out in zip(live, _stage_outputs(stage, items), strict=True):
            if isinstance(out, str):
                row.update(status="error", error=out)
            else:
                row.update(out)
                survivors.append((row, media))
        live = survivors
