"""The exact window max/min shared by peak picking and the presence features, against ndimage."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from reelsense._windows import window_all, window_extreme


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    size=st.integers(1, 14),
    axis=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**16),
)
def test_window_filters_equal_ndimage(shape: tuple[int, int], size: int, axis: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(-3, 4, size=shape).astype(np.float32)  # ties on purpose
    flags = rng.random(shape) < 0.6
    for mode in ("nearest", "reflect"):
        np.testing.assert_array_equal(
            window_extreme(values, size, axis, largest=True),
            ndimage.maximum_filter1d(values, size, axis=axis, mode=mode),
        )
        np.testing.assert_array_equal(
            window_extreme(flags, size, axis, largest=True),
            ndimage.maximum_filter1d(flags, size, axis=axis, mode=mode),
        )
    np.testing.assert_array_equal(
        window_all(flags, size, axis),
        ndimage.minimum_filter1d(flags, size, axis=axis, mode="constant", cval=False),
    )
