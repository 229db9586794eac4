"""The shared argument checks: one accepted range of sample rates, integers that are integers,
and a single path refused where a list of paths is needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelsense._checks import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    check_finite,
    check_int,
    check_paths,
    check_positive,
    check_sample_rate,
)
from reelsense.errors import ParameterError


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, 11025, np.int64(16000), np.int32(22050), MAX_SAMPLE_RATE])
def test_sample_rates_in_range_are_ints(rate: object) -> None:
    checked = check_sample_rate(rate)
    assert type(checked) is int and checked == rate


@pytest.mark.parametrize(
    "rate",
    [
        *(float("nan"), float("inf"), 22050.5, 16000.0, np.float64(16000), "22050", None, True),
        *(0, -1, 1, 7999, 384001),
    ],
)
def test_bad_sample_rates_are_refused_naming_the_value(rate: object) -> None:
    with pytest.raises(ParameterError, match=r"sample_rate=") as caught:
        check_sample_rate(rate)
    assert repr(rate) in str(caught.value)


def test_numbers() -> None:
    assert check_int(np.int64(3), "n", minimum=1) == 3
    assert check_finite(np.float32(0.5), "x") == 0.5
    for bad in (2.5, "2", None, True):
        with pytest.raises(ParameterError, match="n="):
            check_int(bad, "n")
    for bad in (float("nan"), float("inf"), "1", None, False):
        with pytest.raises(ParameterError, match="x="):
            check_finite(bad, "x")
    for bad in (0, -1.0):
        with pytest.raises(ParameterError, match="must be > 0"):
            check_positive(bad, "x")


@pytest.mark.parametrize("single", ["videos", b"videos", Path("videos")])
def test_a_single_path_is_not_a_list_of_paths(single: object) -> None:
    with pytest.raises(ParameterError, match=r"inputs=.*videos.* is a single path: pass a list of paths"):
        check_paths(single, "inputs")


def test_lists_of_paths_pass_and_non_iterables_do_not() -> None:
    check_paths(["a", Path("b")], "inputs")
    check_paths((p for p in ["a"]), "inputs")
    with pytest.raises(ParameterError, match="inputs=3 must be a list of paths"):
        check_paths(3, "inputs")
