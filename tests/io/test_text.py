"""``reelsense.io.csv_float``: the float cells of the match, trends and discovery CSVs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelsense.io import csv_float

DIGITS = st.integers(min_value=0, max_value=6)


@given(st.floats(allow_nan=False, allow_infinity=False), DIGITS)
def test_a_finite_value_is_fixed_point_and_reads_back_within_the_rounding(x: float, digits: int) -> None:
    text = csv_float(x, digits)
    # plain fixed-point: no exponent, exactly `digits` decimals (no point for 0)
    assert re.fullmatch(r"-?[0-9]+" + (rf"\.[0-9]{{{digits}}}" if digits else ""), text), text
    assert abs(float(text) - x) <= 0.5 * 10.0**-digits + math.ulp(x)
    # what both CSV writers wrote before they shared it, but for the sign of a zero
    assert text == f"{x:.{digits}f}".removeprefix("-" if float(text) == 0 else "")
    assert not text.startswith("-") or float(text) < 0


@given(st.floats(allow_nan=False, allow_infinity=False, width=32), DIGITS)
def test_numpy_scalars_read_as_their_float(x: float, digits: int) -> None:
    assert csv_float(np.float32(x), digits) == csv_float(float(np.float32(x)), digits)
    assert csv_float(np.float64(x), digits) == csv_float(x, digits)


@pytest.mark.parametrize(
    "value", [None, math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("-inf")]
)
def test_missing_and_non_finite_values_are_empty_cells(value: float | None) -> None:
    assert csv_float(value, 3) == ""


def test_examples() -> None:
    assert csv_float(0.12345, 3) == "0.123"
    assert csv_float(2.5, 0) == "2"  # round half to even, as str.format does
    assert csv_float(1e-300, 3) == "0.000"  # no exponent for tiny values
    assert csv_float(1e20, 2) == "100000000000000000000.00"  # nor for large ones
    # a value that rounds to zero has no sign (a non-match's score, an unedited pitch)
    assert csv_float(-0.0001, 2) == "0.00"
    assert csv_float(-0.0, 3) == "0.000"
    assert csv_float(-0.4, 0) == "0"
    assert csv_float(-0.005, 3) == "-0.005"
