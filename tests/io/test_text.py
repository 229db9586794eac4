"""``reelsense.io.csv_float``: the float cells of the match, trends and discovery CSVs; the
small text helpers refuse None and wrong types with a ParameterError naming the argument."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelsense.errors import ParameterError
from reelsense.io import clean_text, csv_float, has_surrogates, iso_time, path_from_text, path_text

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


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: clean_text(None), "text=None must be a str, got NoneType"),
        (lambda: clean_text(5), "text=5 must be a str, got int"),
        (lambda: clean_text(b"x\xff"), "text=b'x\\\\xff' must be a str, got bytes"),
        (lambda: has_surrogates(None), "text=None must be a str"),
        (lambda: has_surrogates(["x"]), r"text=\['x'\] must be a str, got list"),
        (lambda: path_text(None), r"path=None must be a path \(str, bytes or os.PathLike\), got NoneType"),
        (lambda: path_text(5), "path=5 must be a path"),
        (lambda: path_from_text(None), "text=None must be a str"),
        (lambda: path_from_text(b"a\\b"), "text=b'a.*' must be a str, got bytes"),
        (lambda: csv_float("1.5", 2), "value='1.5' must be a number or None, got str"),
        (lambda: csv_float([1.5], 2), r"value=\[1.5\] must be a number or None"),
        (lambda: csv_float(1.5, None), "digits=None must be an integer"),
        (lambda: csv_float(1.5, 2.0), "digits=2.0 must be an integer"),
        (lambda: csv_float(1.5, "2"), "digits='2' must be an integer"),
        (lambda: csv_float(1.5, -1), "digits=-1 must be >= 0"),
        (lambda: iso_time("1730374643"), r"seconds='1730374643' must be unix seconds \(a number\) or None"),
        (lambda: iso_time([1]), r"seconds=\[1\] must be unix seconds"),
        (lambda: iso_time(True), "seconds=True must be unix seconds"),
    ],
)
def test_a_wrong_type_is_refused_naming_the_argument(call: Callable[[], object], named: str) -> None:
    with pytest.raises(ParameterError, match=named):
        call()


def test_a_long_wrong_value_is_shown_cut_short() -> None:
    with pytest.raises(ParameterError) as caught:
        clean_text([0] * 10_000)
    assert len(str(caught.value)) < 200
