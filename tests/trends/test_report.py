"""trend_report's arguments are checked before any work, naming the bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reelsense.errors import ParameterError
from reelsense.sounds import DiscoveryParams
from reelsense.trends import trend_report


@pytest.mark.parametrize(
    ("inputs", "kwargs", "match"),
    [
        ("videos", {}, "inputs='videos' is a single path: pass a list of paths"),  # walked '/', 'v'...
        (
            ["x"],
            {"reference_seconds": float("inf")},
            "reference_seconds=inf must be a finite number",
        ),  # ZeroDivisionError
        (["x"], {"reference_seconds": float("nan")}, "reference_seconds=nan"),  # gave empty columns
        (["x"], {"start_seconds": float("nan")}, "start_seconds=nan"),
        (["x"], {"reference_seconds": "1700000000"}, "reference_seconds='1700000000' must be a number"),
        (
            ["x"],
            {"reference_seconds": 1.7e9, "start_seconds": 1.8e9},
            "start_seconds=1800000000.0 must be before reference_seconds=1700000000.0",  # was clamped
        ),
        (["x"], {"reference_seconds": 1.7e9, "start_seconds": 1.7e9}, "must be before"),
        (["x"], {"workers": 2.5}, r"workers=2\.5 must be an integer"),
        (["x"], {"params": DiscoveryParams()}, "params=.* must be a TrendParams"),
    ],
)
def test_bad_arguments(tmp_path: Path, inputs: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        trend_report(inputs, tmp_path / "t.csv", **kwargs)
    assert not (tmp_path / "t.csv").exists()
