"""AudioSink: frames gathered into blocks give the samples that frame-by-frame conversion gives,
and a stream whose format, layout or rate changes is converted part by part."""

from __future__ import annotations

import itertools

import av
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reelsense.io import _audio
from reelsense.io._audio import AudioSink


def _frame(samples: np.ndarray, rate: int, fmt: str = "fltp") -> av.AudioFrame:
    """A decoded-like frame from float samples ``[channels, n]`` in [-1, 1]."""
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    if fmt == "s16":  # packed integers: [1, n * channels], interleaved
        data = np.round(samples.T.reshape(1, -1) * 32767).astype(np.int16)
    else:
        data = samples.astype(np.float32)
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
    frame.sample_rate = rate
    return frame


def _push_all(sink: AudioSink, chunks: list[av.AudioFrame], rate_of: list[int]) -> np.ndarray:
    """The sink's samples (empty when none fell inside its window)."""
    t = 0.0
    for frame, rate in zip(chunks, rate_of, strict=True):
        sink.push(frame, t)
        t += frame.samples / rate
    out = sink.finish()
    return np.zeros(0, dtype=np.float32) if out is None else out.samples


def _signal(rng: np.random.Generator, channels: int, n: int) -> np.ndarray:
    return (0.3 * rng.standard_normal((channels, n))).clip(-1, 1).astype(np.float32)


def _stereo_that_never_cancels(rng: np.random.Generator, channels: int, n: int) -> np.ndarray:
    """Like :func:`_signal`, but every sample of the second channel has the first's sign, so
    that no block's mix cancels (``downmix`` decides that per block, and a block of one or two
    random samples can cancel where a longer one does not)."""
    x = _signal(rng, channels, n)
    if channels == 2:
        x[1] = np.sign(x[0]) * (0.6 * np.abs(x[0]) + 0.4 * np.abs(x[1]))
    return x


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    channels=st.sampled_from([1, 2]),
    in_rate=st.sampled_from([22050, 44100, 48000, 11025]),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=40),
    window=st.sampled_from([None, (0.1, 0.5), (0.0, 0.2)]),
)
@example(seed=3493, channels=2, in_rate=22050, sizes=[1, 1], window=None)  # random stereo cancelled
def test_blocks_give_the_samples_of_frame_by_frame_conversion(
    seed: int,
    channels: int,
    in_rate: int,
    sizes: list[int],
    window: tuple[float, float] | None,
) -> None:
    rng = np.random.default_rng(seed)
    # channels that cancel switch the mix to one channel at a block that depends on the block
    # size: test_once_the_mix_cancels_the_same_channel_is_kept covers that
    signal = _stereo_that_never_cancels(rng, channels, sum(sizes))
    cuts = np.cumsum([0, *sizes])

    def run(block_samples: int) -> np.ndarray:
        start, length = window if window is not None else (0.0, None)
        frames = [_frame(signal[:, a:b], in_rate) for a, b in itertools.pairwise(cuts)]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_audio, "BLOCK_SAMPLES", block_samples)
            sink = AudioSink(11025, start_seconds=start, window_seconds=length)
            return _push_all(sink, frames, [in_rate] * len(frames))

    one_by_one = run(1)  # every frame converted as it comes
    blocks = run(4096)
    np.testing.assert_array_equal(blocks, one_by_one)


def test_layout_format_and_rate_changes_mid_stream() -> None:
    rng = np.random.default_rng(0)
    parts = [
        (_frame(_signal(rng, 1, 4410), 44100), 44100),
        (_frame(_signal(rng, 2, 4410), 44100), 44100),  # mono -> stereo
        (_frame(_signal(rng, 2, 4410), 44100, "s16"), 44100),  # float -> packed int
        (_frame(_signal(rng, 2, 2400), 24000), 24000),  # 44.1 -> 24 kHz
    ]
    sink = AudioSink(8000)
    out = _push_all(sink, [f for f, _ in parts], [r for _, r in parts])
    assert out.dtype == np.float32
    assert out.shape[0] == pytest.approx(0.4 * 8000, abs=2)  # 4 x 0.1 s, nothing lost or doubled
    assert sink.warnings == ["audio sample rate changed mid-stream from 44100 to 24000"]


def test_stereo_block_is_the_mean_of_its_channels() -> None:
    left = np.sin(np.linspace(0, 200, 44100, dtype=np.float32)) * 0.5
    right = np.zeros_like(left)
    sink = AudioSink(44100)
    out = _push_all(sink, [_frame(np.stack([left, right]), 44100)], [44100])
    np.testing.assert_allclose(out, left / 2, atol=1e-7)


def test_a_new_layout_with_as_many_channels_gets_its_own_downmix() -> None:
    ones = np.ones((3, 2205), dtype=np.float32)
    frames = []
    for name in ("2.1", "3.0"):  # FL FR LFE, then FL FR FC: the LFE is left out of the first only
        frame = av.AudioFrame.from_ndarray(ones, format="fltp", layout=name)
        frame.sample_rate = 22050
        frames.append(frame)
    out = _push_all(AudioSink(22050), frames, [22050, 22050])
    np.testing.assert_allclose(out, 1.0, atol=1e-6)  # (1 + 1) / 2, then (1 + 1 + 1) / 3
    level = np.array([1.0, 1.0, 0.0], dtype=np.float32)[:, None] * ones
    frames = []
    for name in ("2.1", "3.0"):
        frame = av.AudioFrame.from_ndarray(level, format="fltp", layout=name)
        frame.sample_rate = 22050
        frames.append(frame)
    out = _push_all(AudioSink(22050), frames, [22050, 22050])
    np.testing.assert_allclose(out[:2205], 1.0, atol=1e-6)  # LFE silent and left out
    np.testing.assert_allclose(out[2205:], 2.0 / 3.0, atol=1e-6)  # a silent centre counts


def _timed(sink: AudioSink, parts: list[tuple[float, np.ndarray]], rate: int) -> np.ndarray:
    """Push ``(time_seconds, samples [channels, n])`` parts, each cut into 1024-sample frames."""
    for t, samples in parts:
        for a in range(0, samples.shape[1], 1024):
            sink.push(_frame(samples[:, a : a + 1024], rate), t + a / rate)
    out = sink.finish()
    assert out is not None
    return out.samples


@pytest.mark.parametrize("rate", [8000, 16000])  # without and with resampling
def test_the_output_keeps_the_file_timeline(rate: int) -> None:
    """Audio that starts late is preceded by silence and a gap stays a gap, so a time in the
    output is the time in the file (a sound's offset in a video is where it is heard)."""
    rng = np.random.default_rng(3)
    a, b = _signal(rng, 1, 8000), _signal(rng, 1, 4000)  # 1 s and 0.5 s at 8 kHz
    in_rate = 8000
    out = _timed(AudioSink(rate), [(0.75, a), (2.25, b)], in_rate)  # starts at 0.75 s; gap 1.75-2.25 s
    assert out.shape[0] == pytest.approx(2.75 * rate, abs=rate * 0.01)
    k = rate / in_rate
    loud = np.abs(out) > 1e-3
    edge = int(0.01 * rate)  # the resampler's filter spreads an edge over a few samples
    assert not loud[: round(0.75 * rate) - edge].any() and loud[round(0.8 * rate) : round(1.7 * rate)].any()
    assert not loud[round(1.75 * rate) + edge : round(2.25 * rate) - edge].any()
    if k == 1:
        np.testing.assert_array_equal(out[6000:14000], a[0])
        np.testing.assert_array_equal(out[18000:22000], b[0])
    # a jitter below GAP_SECONDS is not a gap
    small = _timed(AudioSink(in_rate), [(0.0, a), (1.0 + _audio.GAP_SECONDS / 2, b)], in_rate)
    assert small.shape[0] == 12000
    # after a seek, the window starts where asked even when the audio starts later
    late = AudioSink(in_rate, start_seconds=0.5, window_seconds=1.0)
    windowed = _timed(late, [(0.75, a)], in_rate)
    assert windowed.shape[0] == 8000 and not windowed[:2000].any()
    np.testing.assert_array_equal(windowed[2000:], a[0, :6000])


def test_a_jump_of_hours_in_the_timestamps_ends_the_window() -> None:
    rng = np.random.default_rng(4)
    a = _signal(rng, 1, 8000)
    sink = AudioSink(8000, window_seconds=3.0)
    out = _timed(sink, [(0.0, a), (5 * 3600.0, a)], 8000)
    assert out.shape[0] == 8000 and sink.done  # no hours of silence: the frame is past the window


def test_channels_that_cancel_in_the_mix_give_the_loudest_channel() -> None:
    """A phase-inverted copy (L = -R) mixes to silence; the loudest channel is kept instead,
    while ordinary stereo (a quiet or partly anti-phase channel) is still the mean."""
    rng = np.random.default_rng(5)
    music = _signal(rng, 1, 8000)[0]
    out = _push_all(AudioSink(8000), [_frame(np.stack([music, -music]), 8000)], [8000])
    np.testing.assert_allclose(out, music, atol=1e-6)
    other = _signal(rng, 1, 8000)[0]
    wide = np.stack([music + 0.5 * other, -music + 0.5 * other]) / 1.5  # anti-phase, but not silent
    out = _push_all(AudioSink(8000), [_frame(wide, 8000)], [8000])
    np.testing.assert_allclose(out, wide.mean(axis=0), atol=1e-6)
    silent = np.zeros((2, 8000), dtype=np.float32)
    assert not _push_all(AudioSink(8000), [_frame(silent, 8000)], [8000]).any()


def test_cancelling_integer_channels_give_the_loudest_channel() -> None:
    """The same with packed 16-bit samples (whose energies must not overflow)."""
    music = np.sin(np.linspace(0, 900, 8000)).astype(np.float32) * 0.9
    out = _push_all(AudioSink(8000), [_frame(np.stack([music, -music]), 8000, "s16")], [8000])
    np.testing.assert_allclose(out, music, atol=1e-4)


def test_once_the_mix_cancels_the_same_channel_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decided per block, a stream near the threshold switched between the mix and a channel
    (and between channels: a sign flip) every block; once cancelled, it stays one channel."""
    monkeypatch.setattr(_audio, "BLOCK_SAMPLES", 4000)
    rng = np.random.default_rng(6)
    music, other = _signal(rng, 1, 8000)[0], _signal(rng, 1, 8000)[0]
    cancelled = _frame(np.stack([music[:4000], -music[:4000]]), 8000)
    ordinary = _frame(np.stack([music[4000:], other[4000:]]), 8000)  # its mix would not cancel
    out = _push_all(AudioSink(8000), [cancelled, ordinary], [8000, 8000])
    np.testing.assert_allclose(out, music, atol=1e-6)  # channel 0 throughout, not its mix with other
