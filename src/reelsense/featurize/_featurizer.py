"""``VideoFeaturizer``: the models, the sound index and the fusion, ready to run on videos."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from reelsense._workers import available_cpus
from reelsense.errors import ParameterError
from reelsense.featurize._features import VideoFeatures
from reelsense.fusion import FusionConfig, Pooling
from reelsense.io import MEDIA_EXTENSIONS, FrameSampling, FrameStrategy, walk_media
from reelsense.models import Precision, get_preset, select_device, select_precision
from reelsense.pipeline import (
    AudioDescriptorStage,
    AudioEmbeddingStage,
    CaptionStage,
    EmbedConfig,
    FeatureStage,
    FusionStage,
    PresenceStage,
    ProgressEvent,
    SoundMatchStage,
    VisualStage,
    WorkerStage,
    caption_text_of,
    collect_rows,
    index_digest,
)

__all__ = [
    "DEFAULT_FRAME_STRATEGY",
    "VideoFeaturizer",
    "default_frame_sampling",
    "model_threads",
    "open_sound_index",
]

log = logging.getLogger(__name__)

#: Chosen by measurement (``scripts/bench_embed.py --frames``; README ``embeddings``).
DEFAULT_FRAME_STRATEGY: FrameStrategy = "keyframes"
DEFAULT_MAX_FRAMES = 16


def default_frame_sampling(image_size: int) -> FrameSampling:
    """Key frames (the decoder skips everything else), at most 16, decoded at a size
    whose short side still covers the model's input for 9:16 frames (``max_side =
    ceil(image_size * 16 / 9)``: 399 px for 224-px models)."""
    return FrameSampling(
        strategy=DEFAULT_FRAME_STRATEGY,
        max_side=math.ceil(image_size * 16 / 9),
        max_frames=DEFAULT_MAX_FRAMES,
    )


@contextlib.contextmanager
def model_threads(config: EmbedConfig, executor: Executor | None) -> Iterator[None]:
    """Limit torch's CPU threads in this process while worker processes decode beside it.

    The models run here while ``config.workers`` processes decode on the same cores; an
    OpenMP pool per core on top of them spins against the workers. Measured on 2 cores, 2
    workers, 80 development videos: 3.05 videos/s and 18 CPU s with one model thread, 0.93
    videos/s and 62 CPU s with two. So the models get ``max(1, cpus - workers)`` threads
    for the run (restored after); nothing changes when ``executor`` is given (threads or
    a pool this function does not size).
    """
    import torch

    before = torch.get_num_threads()
    wanted = max(1, available_cpus() - config.workers)
    change = executor is None and wanted < before
    if change:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(before)


def open_sound_index(source: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> str:
    """The path of a sound index for ``source``: an index file as is; a folder (or one
    media file) of reference sounds is indexed into ``workdir`` first (ids = file stems)."""
    from reelsense.sounds.index import SoundIndex

    path = Path(source)
    if not path.exists():
        raise ParameterError(f"sound index {os.fspath(source)!r} does not exist")
    if path.is_file() and path.suffix.lower() not in MEDIA_EXTENSIONS:
        return os.fspath(path)
    files = [f.path for f in walk_media([path])]
    if not files:
        raise ParameterError(f"no audio or video files under {os.fspath(source)!r} to index")
    target = Path(workdir) / "sounds.rsidx"
    with SoundIndex.create(target) as index:
        index.add_many(files, workers=1 if len(files) <= 8 else max(1, min(8, available_cpus())))
        if not len(index):
            raise ParameterError(
                f"none of the {len(files)} files under {os.fspath(source)!r} could be indexed"
            )
        log.info("indexed %d reference sounds from %s", len(index), source)
    return os.fspath(target)


class VideoFeaturizer:
    """Frames, caption and soundtrack of a video -> modality vectors, descriptors, presence,
    sound match -> one fused embedding (:mod:`reelsense.fusion`).

    Build with :meth:`from_preset`. Decoding and the per-video audio work (descriptors,
    presence, sound matching) run in worker processes; the models run in this process on
    batches of videos, sized by their number of frames, under ``torch.inference_mode``.
    Use as a context manager (or call :meth:`close`) to delete an index built on the fly.
    """

    def __init__(
        self,
        *,
        visual: VisualStage | None,
        caption: CaptionStage | None,
        audio: AudioEmbeddingStage | None,
        fusion: FusionConfig,
        frame_sampling: FrameSampling | None,
        sound_index: str | None = None,
        presence: bool = True,
        audio_sample_rate: int = 22050,
        preset: str = "custom",
        owned_dir: str | None = None,
    ) -> None:
        if visual is not None and frame_sampling is None:
            raise ParameterError("a visual model needs a frame_sampling")
        self.visual = visual
        self.caption = caption
        self.audio = audio
        self.fusion = fusion
        self.frame_sampling = frame_sampling
        self.sound_index = sound_index
        self.presence = presence
        self.audio_sample_rate = audio_sample_rate
        self.preset = preset
        self._owned_dir = owned_dir
        self._digest = index_digest(sound_index)["sha256"] if sound_index else ""
        # a model-free audio encoder (log-mel statistics) runs in the decoding workers
        self._audio_in_workers = audio.for_workers() if audio is not None else None

    @classmethod
    def from_preset(
        cls,
        name: str = "default",
        *,
        device: str | None = None,
        precision: Precision = "auto",
        sound_index: str | os.PathLike[str] | None = None,
        fusion: FusionConfig | None = None,
        frame_sampling: FrameSampling | None = None,
        pooling: Pooling = "mean",
        frame_vectors: bool = False,
        batch_size: int | None = None,
        presence: bool = True,
        offline: bool | None = None,
    ) -> VideoFeaturizer:
        """Load the models of preset ``name`` (see :func:`reelsense.models.list_presets`).

        Args:
            device: ``None``/``"auto"`` = cuda > mps > cpu; precision ``auto`` = fp16 on CUDA.
            sound_index: an index file (``reelsense sounds add``), or a folder of reference
                sounds indexed on the fly into a temporary folder; adds the sound match
                columns and the sound-identity component.
            fusion: :class:`~reelsense.fusion.FusionConfig` (dim, seed, weights).
            frame_sampling: None = :func:`default_frame_sampling` for the image model.
            pooling: ``mean`` of the L2-normalised frame vectors, or ``duration``-weighted.
            frame_vectors: keep the per-frame vectors too.
            batch_size: frames per image-model pass (None: 8 on the CPU, 64 on CUDA).
            presence: compute speech/music presence.

        Raises ModelNotFoundError (weights missing, with how to get them), ParameterError.
        """
        from reelsense.audio.embedding import load_audio_encoder
        from reelsense.text import load_text_encoder
        from reelsense.vision import load_image_encoder

        preset = get_preset(name)
        chosen = select_device(device)
        select_precision(precision, chosen)  # fail early on e.g. fp16 on the CPU
        visual = caption = audio = None
        if preset.image is not None:
            image_encoder = load_image_encoder(
                preset.image, device=chosen, precision=precision, offline=offline
            )
            visual = VisualStage(
                image_encoder, pooling=pooling, frame_vectors=frame_vectors, batch_size=batch_size
            )
            if frame_sampling is None:
                frame_sampling = default_frame_sampling(image_encoder.spec.image_size)
        if preset.text is not None:
            caption = CaptionStage(
                load_text_encoder(preset.text, device=chosen, precision=precision, offline=offline)
            )
        if preset.audio is not None:
            audio = AudioEmbeddingStage(
                load_audio_encoder(preset.audio, device=chosen, precision=precision, offline=offline)
            )
        if presence and importlib.util.find_spec("reelsense.audio.presence") is None:
            log.warning("reelsense.audio.presence is not available: no speech/music presence columns")
            presence = False
        owned = None
        index_path = None
        if sound_index is not None:
            source = Path(sound_index)
            if source.is_dir() or source.suffix.lower() in MEDIA_EXTENSIONS:
                owned = tempfile.mkdtemp(prefix="reelsense-sounds-")
            try:
                index_path = open_sound_index(source, owned or ".")
            except BaseException:
                if owned:
                    shutil.rmtree(owned, ignore_errors=True)
                raise
        return cls(
            visual=visual,
            caption=caption,
            audio=audio,
            fusion=fusion or FusionConfig(),
            frame_sampling=frame_sampling,
            sound_index=index_path,
            presence=presence,
            preset=preset.name,
            owned_dir=owned,
        )

    # ------------------------------------------------------------------ description
    def __repr__(self) -> str:
        return (
            f"VideoFeaturizer(preset={self.preset!r}, models={self.models()}, fusion_dim={self.fusion.dim}, "
            f"sound_index={self.sound_index!r})"
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

    def metadata(self, *, discover_sounds: bool = False) -> dict[str, Any]:
        """The ``reelsense.fusion`` record written into the output (JSON-able)."""
        from reelsense.fusion import MODALITIES

        return {
            "fusion": self.fusion.to_dict(),
            "modalities": list(MODALITIES),
            "modality_columns": {
                "visual": "visual_vector",
                "caption": "caption_vector",
                "audio": "audio_vector",
            },
            "preset": self.preset,
            "models": self.models(),
            "frames": None if self.frame_sampling is None else self.frame_sampling.__dict__,
            "pooling": None if self.visual is None else self.visual.pooling,
            "sound_index_sha256": self._digest or None,
            "discover_sounds": discover_sounds,
            "device": self.device,
            "precision": self.precision,
        }

    # ------------------------------------------------------------------ stages
    def worker_stages(self) -> tuple[WorkerStage, ...]:
        """Per-video stages run in the decoding workers: descriptors, presence, sound match,
        and the audio embedding when it needs no model (log-mel statistics)."""
        stages: list[WorkerStage] = [AudioDescriptorStage()]
        if self.presence:
            stages.append(PresenceStage())
        if self.sound_index:
            stages.append(SoundMatchStage(self.sound_index, digest=self._digest))
        if self._audio_in_workers is not None:
            stages.append(self._audio_in_workers)
        return tuple(stages)

    def feature_stages(self, *, discover_sounds: bool = False) -> tuple[FeatureStage, ...]:
        """Batched stages run in this process (on the model's device): the models, then the
        fusion. Nothing here works per video on the CPU except the fusion's projections."""
        audio = self.audio if self._audio_in_workers is None else None
        stages: list[FeatureStage] = [s for s in (self.visual, self.caption, audio) if s is not None]
        stages.append(FusionStage(self.fusion, discover_sounds=discover_sounds, models=self.models()))
        return tuple(stages)

    def embed_config(self, config: EmbedConfig | None = None) -> EmbedConfig:
        """``config`` (default: a new one) with this featurizer's frame sampling."""
        return replace(
            config or EmbedConfig(audio_sample_rate=self.audio_sample_rate), frames=self.frame_sampling
        )

    # ------------------------------------------------------------------ running
    def featurize_many(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        config: EmbedConfig | None = None,
        executor: Executor | None = None,
        progress: Callable[[ProgressEvent], None] | None = None,
    ) -> list[VideoFeatures]:
        """Features of every video in ``paths`` (files or folders, walked), in walk order.

        Decoding runs in ``config.workers`` processes (or on ``executor``); a video that
        fails gets ``status='error'`` and the reason instead of raising. Each embedding
        depends only on its own video (never on the others in the batch).
        """
        embed_config = self.embed_config(config)
        with model_threads(embed_config, executor):
            rows = collect_rows(
                list(paths),
                embed_config,
                worker_stages=self.worker_stages(),
                feature_stages=self.feature_stages(),
                executor=executor,
                progress=progress,
            )
        return [VideoFeatures.from_row(row, caption_text_of(row)) for row in rows]

    def featurize(self, path: str | os.PathLike[str]) -> VideoFeatures:
        """Features of one video, decoded in this process (sidecar read as in a batch).

        Raises ParameterError when ``path`` is not a single media file.
        """
        with ThreadPoolExecutor(1) as pool:
            out = self.featurize_many([path], config=replace(self.embed_config(), workers=1), executor=pool)
        if len(out) != 1:
            raise ParameterError(f"{os.fspath(path)!r} is not one media file ({len(out)} found)")
        return out[0]

    def close(self) -> None:
        """Delete an index built on the fly (the loaded models stay usable)."""
        if self._owned_dir:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> VideoFeaturizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
