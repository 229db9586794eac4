"""RunConfig refuses what it cannot run with, naming the value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from reelsense.errors import ParameterError
from reelsense.pipeline import RunConfig


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"workers": 2.5}, r"workers=2\.5 must be an integer"),  # a TypeError deep in multiprocessing
        ({"workers": "2"}, "workers='2' must be an integer"),
        ({"workers": 0}, "workers=0 must be >= 1"),
        ({"extensions": "mp4"}, "extensions='mp4' is a single extension: pass a list of extensions"),
        ({"extensions": [4]}, "extension 4 must be a str"),
        ({"include_hidden": "no"}, "include_hidden='no' must be True or False"),  # "no" took dot-files
        ({"batch_videos": 1.5}, r"batch_videos=1\.5 must be an integer"),
        ({"flush_rows": 2.5}, r"flush_rows=2\.5 must be an integer"),
        ({"flush_rows": "3"}, "flush_rows='3' must be an integer"),  # a TypeError at the first compare
        ({"ray_actors": 1.5}, r"ray_actors=1\.5 must be an integer"),
        ({"ray_task_retries": 0.5}, r"ray_task_retries=0\.5 must be an integer"),
        ({"ray_gpus_per_actor": float("nan")}, "ray_gpus_per_actor=nan must be a finite number"),
        ({"flush_seconds": float("nan")}, "flush_seconds=nan must be a finite number"),
    ],
)
def test_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        RunConfig(**kwargs)


def test_numpy_integers_and_lists() -> None:
    run = RunConfig(workers=np.int64(2), extensions=["mp4", ".MOV"])  # type: ignore[arg-type]
    assert type(run.workers) is int and run.workers == 2
    assert run.extensions == ("mp4", ".MOV")
