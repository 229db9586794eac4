"""The batch engine: walk inputs, decode in worker processes, run stages, write resumable Parquet.

It knows no model: what a job computes comes in a :class:`JobSpec` of stages (built by
:mod:`reelsense.featurize`); how it runs is a :class:`RunConfig`. :func:`run_job` runs it
on the ``local`` engine (worker processes, one Parquet file) or the ``ray`` engine (Ray
Data tasks and model actors, a folder of shards), through the one writer
(:class:`OutputWriter`). A job is planned once (:func:`plan_job`): a resume hands the plan
:func:`finished_summary` was given on to :func:`run_job`. Most users call
:func:`reelsense.embed_corpus` instead.

New per-video columns plug in as a :class:`WorkerStage` (computed in the workers) or a
:class:`FeatureStage` (batched in the main process or a Ray model actor, e.g. a model on
a GPU).
"""

from reelsense.pipeline._config import ENGINES, Engine, RunConfig, default_workers
from reelsense.pipeline._job import (
    EmbedSummary,
    ProgressEvent,
    RayRunInfo,
    collect_rows,
    finished_summary,
    run_content,
    run_job,
)
from reelsense.pipeline._plan import JobPlan, engine_layout, plan_job
from reelsense.pipeline._schema import BASE_FIELDS, CONFIG_KEY, SCHEMA_VERSION, build_schema, sidecar_columns
from reelsense.pipeline._stages import (
    ActorPlan,
    FeatureStage,
    JobSpec,
    Stage,
    StageItem,
    WorkerStage,
    run_feature_stages,
)
from reelsense.pipeline._writer import (
    ROW_GROUP_ROWS,
    SHARD_PATTERN,
    OutputWriter,
    parquet_options,
    write_row_groups,
)

__all__ = [
    "BASE_FIELDS",
    "CONFIG_KEY",
    "ENGINES",
    "ROW_GROUP_ROWS",
    "SCHEMA_VERSION",
    "SHARD_PATTERN",
    "ActorPlan",
    "EmbedSummary",
    "Engine",
    "FeatureStage",
    "JobPlan",
    "JobSpec",
    "OutputWriter",
    "ProgressEvent",
    "RayRunInfo",
    "RunConfig",
    "Stage",
    "StageItem",
    "WorkerStage",
    "build_schema",
    "collect_rows",
    "default_workers",
    "engine_layout",
    "finished_summary",
    "parquet_options",
    "plan_job",
    "run_content",
    "run_feature_stages",
    "run_job",
    "sidecar_columns",
    "write_row_groups",
]
