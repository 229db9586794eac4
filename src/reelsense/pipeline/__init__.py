"""Batch jobs: walk inputs, decode in worker processes, write resumable Parquet.

The entry point is :func:`embed_videos` (what ``reelsense embed`` calls). New per-video
columns plug in as a :class:`WorkerStage` (computed in the workers) or a
:class:`FeatureStage` (batched in the main process, e.g. a model on a GPU).
"""

from reelsense.pipeline._audio_stages import PresenceStage, SoundMatchStage, index_digest
from reelsense.pipeline._config import EmbedConfig
from reelsense.pipeline._fusion_stage import FusionStage, fuse_columns, vectors_from_arrow
from reelsense.pipeline._job import EmbedSummary, ProgressEvent, collect_rows, embed_videos
from reelsense.pipeline._model_stages import (
    AudioEmbeddingStage,
    AudioStatisticsStage,
    CaptionStage,
    VisualStage,
    caption_text_of,
    run_feature_stages,
)
from reelsense.pipeline._plan import PlannedVideo, plan_videos
from reelsense.pipeline._schema import BASE_FIELDS, SCHEMA_VERSION, build_schema
from reelsense.pipeline._stages import (
    AudioDescriptorStage,
    FeatureStage,
    Stage,
    StageItem,
    WorkerStage,
    default_worker_stages,
)
from reelsense.pipeline._worker import DecodeRequest, ItemResult, WorkItem, process_item
from reelsense.pipeline._writer import ResumableParquetWriter, parts_dir_for

__all__ = [
    "BASE_FIELDS",
    "SCHEMA_VERSION",
    "AudioDescriptorStage",
    "AudioEmbeddingStage",
    "AudioStatisticsStage",
    "CaptionStage",
    "DecodeRequest",
    "EmbedConfig",
    "EmbedSummary",
    "FeatureStage",
    "FusionStage",
    "ItemResult",
    "PlannedVideo",
    "PresenceStage",
    "ProgressEvent",
    "ResumableParquetWriter",
    "SoundMatchStage",
    "Stage",
    "StageItem",
    "VisualStage",
    "WorkItem",
    "WorkerStage",
    "build_schema",
    "caption_text_of",
    "collect_rows",
    "default_worker_stages",
    "embed_videos",
    "fuse_columns",
    "index_digest",
    "parts_dir_for",
    "plan_videos",
    "process_item",
    "run_feature_stages",
    "vectors_from_arrow",
]
