"""``VideoFeaturizer``: the models, the sound index and the fusion of a :class:`FeaturizerConfig`,
loaded and ready to run on videos."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from reelsense._checks import check_path
from reelsense._workers import available_cpus
from reelsense.errors import ParameterError
from reelsense.featurize._audio_stages import (
    AudioDescriptorStage,
    PresenceStage,
    SoundMatchStage,
    index_digest,
)
from reelsense.featurize._config import DEFAULT_MIN_SCORE, FEATURIZER_KEY, FeaturizerConfig
from reelsense.featurize._features import VideoFeatures
from reelsense.featurize._fusion_stage import FusionStage
from reelsense.featurize._model_stages import AudioEmbeddingStage, CaptionStage, VisualStage, caption_text_of
from reelsense.io import FrameSampling, check_inputs
from reelsense.pipeline import (
    ActorPlan,
    FeatureStage,
    JobSpec,
    ProgressEvent,
    RunConfig,
    WorkerStage,
    collect_rows,
)

__all__ = ["FUSION_KEY", "VideoFeaturizer", "model_threads"]

log = logging.getLogger(__name__)

#: Parquet metadata key of the fusion record (config, models, device...).
FUSION_KEY = "reelsense.fusion"


@contextlib.contextmanager
def model_threads(run: RunConfig, executor: Executor | None) -> Iterator[None]:
    """Limit torch's CPU threads in this process while worker processes decode beside it.

    The models run here while ``run.workers`` processes decode on the same cores; an
    OpenMP pool per core on top of them spins against the workers (several times slower;
    ``docs/benchmarks.md``). So the models get ``max(1, cpus - workers)`` threads
    for the run (restored after); nothing changes when ``executor`` is given (threads or
    a pool this function does not size).
    """
    import torch

    before = torch.get_num_threads()
    wanted = max(1, available_cpus() - run.workers)
    change = executor is None and wanted < before
    if change:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(before)


class VideoFeaturizer:
    """Frames, caption and soundtrack of a video -> modality vectors, descriptors, presence,
    sound match -> one fused embedding (:mod:`reelsense.fusion`), as ``config`` says.

    Constructing it loads the models (raises ModelNotFoundError when weights are missing,
    saying how to get them) and opens the sound index (a folder of reference sounds is
    indexed into a temporary folder first). Decoding and the per-video audio work
    (descriptors, presence, sound matching) run in worker processes; the models run in
    this process on batches of videos, sized by their number of frames, under
    ``torch.inference_mode``. Use as a context manager (or call :meth:`close`) to delete an
    index built on the fly.
    """

    def __init__(self, config: FeaturizerConfig | None = None) -> None:
        if config is not None and not isinstance(config, FeaturizerConfig):
            raise ParameterError(
                f"config={config!r} must be a FeaturizerConfig, got {type(config).__name__} "
                "(e.g. VideoFeaturizer(FeaturizerConfig(preset='tiny')))"
            )
        self.config = config = config or FeaturizerConfig()
        self.visual: VisualStage | None = None
        self.caption: CaptionStage | None = None
        self.audio: AudioEmbeddingStage | None = None
        self.frame_sampling: FrameSampling | None = None
        self._owned = contextlib.ExitStack()  # an index built on the fly, deleted by close()
        self.sound_index: str | None = None
        if config.has_models:
            self._load_models(config)
        if config.sound_index is not None:
            self.sound_index = self._open_index(config.sound_index)
        self._index_digest = index_digest(self.sound_index) if self.sound_index else None
        self._digest = self._index_digest.sha256 if self._index_digest else ""
        # a model-free audio encoder (log-mel statistics) runs in the decoding workers
        self._audio_in_workers = self.audio.for_workers() if self.audio is not None else None

    def _load_models(self, config: FeaturizerConfig) -> None:
        from reelsense.audio.embedding import load_audio_encoder
        from reelsense.models import get_preset, select_device, select_precision
        from reelsense.text import load_text_encoder
        from reelsense.vision import load_image_encoder

        preset = get_preset(config.preset)
        chosen = select_device(None if config.device == "auto" else config.device)
        select_precision(config.precision, chosen)  # fail early on e.g. fp16 on the CPU
        options: dict[str, Any] = {"device": chosen, "precision": config.precision, "offline": config.offline}
        if preset.image is not None:
            image_encoder = load_image_encoder(preset.image, **options)
            self.visual = VisualStage(
                image_encoder,
                pooling=config.pooling,
                frame_vectors=config.frame_vectors,
                batch_size=config.batch_size,
            )
            self.frame_sampling = config.frame_sampling(image_encoder.spec.image_size)
        if preset.text is not None:
            self.caption = CaptionStage(load_text_encoder(preset.text, **options))
        if preset.audio is not None:
            self.audio = AudioEmbeddingStage(load_audio_encoder(preset.audio, **options))

    def _open_index(self, source: str) -> str:
        from reelsense.sounds.index import sound_index_file

        try:
            return self._owned.enter_context(sound_index_file(source))
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ description
    def __repr__(self) -> str:
        return (
            f"VideoFeaturizer(preset={self.config.preset!r}, models={self.models()}, "
            f"fusion_dim={self.config.fusion.dim}, sound_index={self.sound_index!r})"
        )

    def models(self) -> dict[str, str]:
        """Model name per modality (``image``, ``text``, ``audio``)."""
        out = {}
        for key, stage in (("image", self.visual), ("text", self.caption), ("audio", self.audio)):
            if stage is not None:
                out[key] = stage.encoder.entry.name
        return out

    @property
    def device(self) -> str:
        for stage in (self.visual, self.caption):
            if stage is not None:
                return str(stage.encoder.device)
        return "cpu"

    @property
    def precision(self) -> str:
        for stage in (self.visual, self.caption):
            if stage is not None:
                return str(stage.encoder.precision)
        return "fp32"

    def metadata(self) -> dict[str, Any]:
        """The ``reelsense.fusion`` record written into the output (JSON-able)."""
        from reelsense.fusion import MODALITIES, VECTOR_COLUMNS

        return {
            "fusion": self.config.fusion.to_dict(),
            "modalities": list(MODALITIES),
            "modality_columns": dict(VECTOR_COLUMNS),
            "preset": self.config.preset,
            "models": self.models(),
            "frames": None if self.frame_sampling is None else self.frame_sampling.__dict__,
            "pooling": None if self.visual is None else self.visual.pooling,
            "sound_index_sha256": self._digest or None,
            "discover_sounds": self.config.discover_sounds,
            "device": self.device,
            "precision": self.precision,
        }

    # ------------------------------------------------------------------ stages
    def worker_stages(self) -> tuple[WorkerStage, ...]:
        """Per-video stages run in the decoding workers: descriptors, presence, sound match,
        and the audio embedding when it needs no model (log-mel statistics)."""
        stages: list[WorkerStage] = [AudioDescriptorStage()]
        if not self.config.has_models:
            return tuple(stages)
        if self.config.presence:
            stages.append(PresenceStage())
        if self.sound_index:
            assert self._index_digest is not None
            checked = self._index_digest.checked
            stages.append(
                SoundMatchStage(
                    self.sound_index,
                    digest=self._digest,
                    trusted=checked,
                    second_chance=self.config.second_chance,
                    second_chance_scope=self.config.second_chance_scope,
                    # the default stays None in the stage's options, so that earlier outputs resume
                    threshold=None if self.config.min_score == DEFAULT_MIN_SCORE else self.config.min_score,
                )
            )
        if self._audio_in_workers is not None:
            stages.append(self._audio_in_workers)
        return tuple(stages)

    def feature_stages(self) -> tuple[FeatureStage, ...]:
        """Batched stages run in this process (on the model's device): the models, then the
        fusion. Nothing here works per video on the CPU except the fusion's projections."""
        if not self.config.has_models:
            return ()
        audio = self.audio if self._audio_in_workers is None else None
        stages: list[FeatureStage] = [s for s in (self.visual, self.caption, audio) if s is not None]
        stages.append(
            FusionStage(self.config.fusion, discover_sounds=self.config.discover_sounds, models=self.models())
        )
        return tuple(stages)

    def job_spec(self) -> JobSpec:
        """What the batch engine runs for this featurizer."""
        metadata = {FEATURIZER_KEY: json.dumps(self.config.record(), sort_keys=True, default=str)}
        if self.config.has_models:
            metadata[FUSION_KEY] = json.dumps(self.metadata(), sort_keys=True, default=str)
        return JobSpec(
            worker_stages=self.worker_stages(),
            feature_stages=self.feature_stages(),
            audio_sample_rate=self.config.audio_sample_rate,
            frames=self.frame_sampling,
            limit_duration_seconds=self.config.limit_duration_seconds,
            metadata=metadata,
            actor_plan=functools.partial(_actor_plan, self.config, self.sound_index, self.metadata())
            if self.config.has_models
            else None,
            device=self.config.device,
        )

    # ------------------------------------------------------------------ running
    def featurize_many(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        run: RunConfig | None = None,
        executor: Executor | None = None,
        progress: Callable[[ProgressEvent], None] | None = None,
    ) -> list[VideoFeatures]:
        """Features of every video in ``paths`` (files or folders, walked), in walk order.

        Decoding runs in ``run.workers`` processes (or on ``executor``); a video that
        fails gets ``status='error'`` and the reason instead of raising. Each embedding
        depends only on its own video (never on the others in the batch).
        """
        paths = check_inputs(paths, "paths")
        if run is not None and not isinstance(run, RunConfig):
            raise ParameterError(f"run={run!r} must be a RunConfig, got {type(run).__name__}")
        if not self.config.has_models:
            raise ParameterError("preset 'none' computes no features: use reelsense.embed_corpus")
        run = run or RunConfig()
        with model_threads(run, executor):
            rows = collect_rows(paths, self.job_spec(), run, executor=executor, progress=progress)
        return [VideoFeatures.from_row(row, caption_text_of(row)) for row in rows]

    def featurize(self, path: str | os.PathLike[str]) -> VideoFeatures:
        """Features of one video, decoded in this process (sidecar read as in a batch).

        Raises ParameterError when ``path`` is not a single media file (a folder is refused
        before any work: :meth:`featurize_many` walks folders).
        """
        check_path(path, "path")
        if Path(path).is_dir():
            raise ParameterError(
                f"{os.fspath(path)!r} is a folder, not one media file (featurize_many walks folders)"
            )
        with ThreadPoolExecutor(1) as pool:
            out = self.featurize_many([path], run=RunConfig(workers=1), executor=pool)
        if len(out) != 1:
            raise ParameterError(f"{os.fspath(path)!r} is not one media file ({len(out)} found)")
        return out[0]

    def close(self) -> None:
        """Delete an index built on the fly (the loaded models stay usable), and the ``-wal``
        and ``-shm`` files the read-only uses of a given index left when none is open."""
        from reelsense.sounds.index._sql import remove_reader_files

        self._owned.close()
        if self.sound_index is not None and Path(self.sound_index).is_file():
            remove_reader_files(self.sound_index)

    def __enter__(self) -> VideoFeaturizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _actor_stages(config: FeaturizerConfig) -> tuple[FeatureStage, ...]:
    """A Ray model actor's feature stages (its featurizer loads the models; the sound index
    and presence are worker stages, not needed here)."""
    return VideoFeaturizer(replace(config, sound_index=None, presence=False)).feature_stages()


def _actor_plan(
    config: FeaturizerConfig, index_used: str | None, driver_metadata: dict[str, Any], device: str, nodes: int
) -> ActorPlan:
    """How the Ray engine's model actors build their stages on ``device`` (``JobSpec.actor_plan``):
    the device the engine gave them, which is ``config.device`` unless that is ``auto``
    (:func:`~reelsense.pipeline._ray.actor_gpus`)."""
    from reelsense.models import select_precision

    if (
        config.sound_index is not None
        and index_used is not None
        and Path(index_used) != Path(config.sound_index)
    ) and nodes > 1:
        raise ParameterError(
            f"sound index {config.sound_index!r} is a folder of reference sounds, indexed on the driver "
            f"only; on a Ray cluster of {nodes} nodes, index it once (reelsense sounds add ... "
            "--sound-index FILE) and give FILE at a path every node can read"
        )
    import torch

    precision = select_precision(config.precision, torch.device(device))
    actor_config = replace(config, device=device, precision=precision)
    metadata = {**driver_metadata, "device": device, "precision": precision}
    return ActorPlan(
        build=functools.partial(_actor_stages, actor_config),
        metadata={FUSION_KEY: json.dumps(metadata, sort_keys=True, default=str)},
    )
