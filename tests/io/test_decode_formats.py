"""Decoding every supported container/codec, metadata, rotation, channels and rates."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media import frame_image, tone, write_audio, write_video
from reelsense.errors import DecodeError, MediaLimitError
from reelsense.io import DecodeLimits, FrameSampling, _decode, decode, probe, read_audio, read_frames
from reelsense.io._frames import display_size, sample_aspect_ratio
from reelsense.io._probe import open_media, scan_duration_seconds

SR = 16000


def peak_hz(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.shape[0])))
    return float(np.argmax(spectrum) * sample_rate / samples.shape[0])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


VIDEO_CASES = [
    ("mp4", None, "h264", "aac"),
    ("mov", None, "h264", "aac"),
    ("m4v", None, "h264", "aac"),
    ("mkv", None, "h264", "aac"),
    ("webm", None, "vp8", "opus"),
    ("webm", "libvpx-vp9", "vp9", "opus"),
    ("mp4", "libx265", "hevc", "aac"),
    ("webm", "libsvtav1", "av1", "opus"),
]


@pytest.mark.parametrize(("ext", "encoder", "video_codec", "audio_codec"), VIDEO_CASES)
def test_video_containers(
    tmp_path: Path, ext: str, encoder: str | None, video_codec: str, audio_codec: str
) -> None:
    path = write_video(tmp_path / f"clip.{ext}", duration_seconds=1.0, video_codec=encoder)
    info = probe(path)
    assert (info.has_audio, info.has_video) == (True, True)
    assert (info.video_codec, info.audio_codec) == (video_codec, audio_codec)
    assert (info.width, info.height, info.rotation_degrees) == (64, 112, 0)
    assert info.fps == pytest.approx(24.0)
    assert info.duration_seconds == pytest.approx(1.0, abs=0.05)
    assert info.audio_channels == 1 and info.audio_sample_rate in (44100, 48000)
    assert info.bit_rate is not None and info.bit_rate > 0

    result = decode(path, audio_sample_rate=SR, frames=FrameSampling("uniform", fps=2.0))
    assert result.warnings == ()
    audio = result.audio
    assert audio is not None and audio.sample_rate == SR and audio.samples.dtype == np.float32
    assert audio.duration_seconds == pytest.approx(1.0, abs=0.03)
    assert peak_hz(audio.samples, SR) == pytest.approx(440.0, abs=3.0)
    assert rms(audio.samples[SR // 10 : -SR // 10]) == pytest.approx(0.5 / np.sqrt(2), rel=0.08)
    frames = result.frames
    assert frames is not None and frames.frames.shape == (2, 112, 64, 3)
    np.testing.assert_allclose(frames.pts_seconds, [0.0, 0.5], atol=1e-6)
    # the picture is the one written, in RGB order (not BGR), upright
    expected = frame_image(0.0, 64, 112).astype(np.int16)
    assert np.abs(frames.frames[0].astype(np.int16) - expected).mean() < 12


@pytest.mark.parametrize(
    ("ext", "container"),
    [("mp4", "mp4"), ("mov", "mov"), ("m4v", "m4v"), ("mkv", "matroska"), ("webm", "webm")],
)
def test_container_is_what_the_file_holds(tmp_path: Path, ext: str, container: str) -> None:
    path = write_video(tmp_path / f"clip.{ext}", duration_seconds=0.5)
    assert probe(path).container == container
    # under a name that says another format, the content decides (an MP4 named .mkv is mp4)
    renamed = tmp_path / ("clip.mkv" if ext != "mkv" else "clip.mp4")
    renamed.write_bytes(path.read_bytes())
    assert probe(renamed).container == ("matroska" if container == "webm" else container)


AUDIO_CASES = [
    ("mp3", "mp3"),
    ("m4a", "aac"),
    ("aac", "aac"),
    ("ogg", "vorbis"),
    ("opus", "opus"),
    ("wav", "pcm_s16le"),
    ("flac", "flac"),
]


@pytest.mark.parametrize(("ext", "codec"), AUDIO_CASES)
def test_audio_only_containers(tmp_path: Path, ext: str, codec: str) -> None:
    path = write_audio(tmp_path / f"sound.{ext}", duration_seconds=1.0)
    info = probe(path)
    assert (info.has_audio, info.has_video) == (True, False)
    assert info.audio_codec == codec
    assert (info.width, info.height, info.fps, info.video_codec) == (None, None, None, None)
    assert info.duration_seconds == pytest.approx(1.0, abs=0.06)
    result = decode(path, audio_sample_rate=22050, frames=FrameSampling())
    assert result.frames is None and result.video_frames_decoded == 0
    assert result.audio is not None
    assert result.audio.duration_seconds == pytest.approx(1.0, abs=0.06)
    assert peak_hz(result.audio.samples, 22050) == pytest.approx(440.0, abs=3.0)
    with pytest.raises(DecodeError, match="no video stream") as err:
        read_frames(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("ext", ["mp3", "flac"])
def test_cover_art_is_not_video(tmp_path: Path, ext: str) -> None:
    path = write_audio(tmp_path / f"song.{ext}", cover_art=True)
    with av.open(str(path)) as container:  # the picture is there, as a "video" stream
        assert [s.type for s in container.streams] == ["audio", "video"]
    info = probe(path)
    assert (info.has_audio, info.has_video, info.video_codec, info.width) == (True, False, None, None)
    result = decode(path, audio_sample_rate=SR, frames=FrameSampling())
    assert result.frames is None and result.video_frames_decoded == 0 and result.audio is not None


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("ext", ["flac", "wav"])
def test_odd_sample_rates_resampled(tmp_path: Path, rate: int, ext: str) -> None:
    samples = tone(1.5, rate, 2, frequency_hz=300.0)
    samples[1] = samples[0]  # identical channels: the downmix keeps their level
    path = write_audio(tmp_path / f"r{rate}.{ext}", samples, sample_rate=rate)
    assert probe(path).audio_sample_rate == rate
    for out_rate in (8000, 22050):
        audio = read_audio(path, out_rate)
        assert audio.sample_rate == out_rate
        assert abs(audio.samples.shape[0] - round(1.5 * out_rate)) <= 2
        assert peak_hz(audio.samples, out_rate) == pytest.approx(300.0, abs=2.0)
        assert rms(audio.samples[out_rate // 10 : -out_rate // 10]) == pytest.approx(
            0.5 / np.sqrt(2), rel=0.02
        )


def test_surround_51_downmix_excludes_lfe(tmp_path: Path) -> None:
    main = tone(1.0, 48000, 1, frequency_hz=500.0)[0]
    lfe = 0.9 * np.sin(2 * np.pi * 60.0 * np.arange(48000) / 48000).astype(np.float32)
    samples = np.stack([main, main, main, lfe, main, main])  # FL FR FC LFE BL BR
    path = write_video(tmp_path / "surround.mp4", audio=samples, sample_rate=48000, channels=6)
    info = probe(path)
    assert info.audio_channels == 6
    audio = read_audio(path, SR)
    body = audio.samples[SR // 10 : -SR // 10]
    assert peak_hz(body, SR) == pytest.approx(500.0, abs=3.0)
    assert rms(body) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    # nothing of the 60 Hz LFE channel leaks into the mono mix
    spectrum = np.abs(np.fft.rfft(body))
    freqs = np.fft.rfftfreq(body.shape[0], 1 / SR)
    assert spectrum[np.abs(freqs - 60) < 3].max() < 0.01 * spectrum.max()


def test_no_audio_stream(tmp_path: Path) -> None:
    path = write_video(tmp_path / "silent.mp4", audio=None)
    info = probe(path)
    assert (info.has_audio, info.has_video, info.audio_codec) == (False, True, None)
    result = decode(path, audio_sample_rate=SR, frames=FrameSampling(fps=1))
    assert result.audio is None and result.frames is not None and len(result.frames) == 1
    with pytest.raises(DecodeError, match="no audio stream"):
        read_audio(path)


@pytest.mark.parametrize("ext", ["mp4", "mkv", "webm", "ts"])
def test_audio_only_decode_never_decodes_video(tmp_path: Path, ext: str) -> None:
    """An audio-only decode opens the file without decoding pictures and reads no video packet,
    yet gives the samples and the metadata of a decode that also takes frames."""
    path = write_video(tmp_path / f"clip.{ext}", duration_seconds=2.0)
    audio_only = decode(path, audio_sample_rate=SR)
    assert audio_only.video_frames_decoded == 0 and audio_only.video_frames_converted == 0
    assert audio_only.frames is None and audio_only.audio_frames_decoded > 0
    both = decode(path, audio_sample_rate=SR, frames=FrameSampling(fps=1))
    assert both.video_frames_decoded == 48
    assert both.audio is not None and audio_only.audio is not None
    np.testing.assert_array_equal(both.audio.samples, audio_only.audio.samples)
    assert audio_only.info == both.info == probe(path)


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv", "webm"])
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_applied(tmp_path: Path, ext: str, rotation: int) -> None:
    path = write_video(tmp_path / f"rot{rotation}.{ext}", rotation_degrees=rotation, audio=None)
    info = probe(path)
    assert (info.width, info.height, info.rotation_degrees) == (64, 112, rotation)
    result = decode(path, frames=FrameSampling(fps=1), audio_sample_rate=SR)
    assert result.info.rotation_degrees == rotation and (result.info.width, result.info.height) == (64, 112)
    assert result.frames is not None
    image = result.frames.frames[0]
    assert image.shape == (112, 64, 3)
    expected = frame_image(0.0, 64, 112).astype(np.int16)
    assert np.abs(image.astype(np.int16) - expected).mean() < 12
    assert image[:20, :12].mean() < 40  # the dark marker is top-left once upright
    assert image[-20:, -12:].mean() > 60


def _tilted_video(path: Path, counter_clockwise_degrees: float) -> Path:
    """64x48 picture whose display matrix turns it by an angle that is not a quarter turn."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(counter_clockwise_degrees)
        for i in range(6):
            picture = np.full((48, 64, 3), 40 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
@pytest.mark.parametrize(
    ("clockwise", "applied"),
    [(30, 0), (45, 0), (60, 90), (135, 180), (225, 180), (315, 0), (44.6, 0), (45.4, 90), (134.6, 90)],
)
def test_a_tilt_is_rounded_to_a_quarter_turn(
    tmp_path: Path, ext: str, clockwise: float, applied: int
) -> None:
    """A display matrix that is not a quarter turn: the nearest quarter turn, a tie to the one
    keeping the coded width and height (docs/jobs.md); headers and decoded frames agree (45.4
    gave 90 from the header but 0 from the frames, whose PyAV angle is cut to 45, a tie)."""
    path = _tilted_video(tmp_path / f"tilt{clockwise}.{ext}", -clockwise)
    upright = (48, 64) if applied in (90, 270) else (64, 48)
    info = probe(path)
    assert (info.rotation_degrees, info.width, info.height) == (applied, *upright)
    result = decode(path, frames=FrameSampling("keyframes"))
    assert result.info.rotation_degrees == applied and result.frames is not None
    assert result.frames.frames.shape[1:3] == (upright[1], upright[0])


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv"])  # (PyAV's webm muxer drops the SAR we set)
def test_anamorphic_video_is_shown_at_its_display_shape(tmp_path: Path, ext: str) -> None:
    # coded 64x112 with 2:1 pixels: a player shows it 128x112
    path = write_video(tmp_path / f"wide.{ext}", sample_aspect_ratio=Fraction(2, 1), audio=None)
    info = probe(path)
    assert (info.width, info.height, info.sample_aspect_ratio) == (128, 112, 2.0)
    result = decode(path, frames=FrameSampling(fps=1))
    assert result.frames is not None and (result.info.width, result.info.height) == (128, 112)
    image = result.frames.frames[0]
    assert image.shape == (112, 128, 3)
    expected = np.repeat(frame_image(0.0, 64, 112), 2, axis=1).astype(np.int16)
    assert np.abs(image.astype(np.int16) - expected).mean() < 12
    # the longer side is capped as for any video, keeping the displayed shape
    small = read_frames(path, FrameSampling(fps=1, max_side=64)).frames[0]
    assert small.shape == (56, 64, 3)


def test_display_size_stretches_then_turns() -> None:
    assert display_size(1440, 1080, sample_aspect_ratio=4 / 3) == (1920, 1080)
    assert display_size(1440, 1080, rotation_degrees=90, sample_aspect_ratio=4 / 3) == (1080, 1920)
    assert display_size(720, 576, rotation_degrees=180) == (720, 576)
    assert sample_aspect_ratio(None, Fraction(0, 1), Fraction(64, 45)) == pytest.approx(64 / 45)
    assert sample_aspect_ratio(None, 0, float("nan")) == 1.0


def test_unknown_duration_found_without_decoding(tmp_path: Path) -> None:
    path = write_video(tmp_path / "live.webm", duration_seconds=2.0, live=True)
    with av.open(str(path)) as container:
        assert container.duration is None  # nothing in the headers
    assert probe(path).duration_seconds == pytest.approx(2.0, abs=0.05)
    result = decode(path, audio_sample_rate=SR, frames=FrameSampling("count", count=4))
    assert result.frames is not None
    np.testing.assert_allclose(result.frames.pts_seconds, [0.25, 0.75, 1.25, 1.75], atol=1 / 24)
    assert result.audio is not None and result.audio.duration_seconds == pytest.approx(2.0, abs=0.05)
    assert result.info.duration_seconds == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("ext", ["webm", "mkv"])
def test_unknown_duration_of_a_video_only_recording_is_the_files(tmp_path: Path, ext: str) -> None:
    """A live recording without audio: the duration is the file's whatever decode reads. It was
    the end of the last decoded frame: 0.083 s for the key frames of a 6 s WebM (the embed
    default), 5.08 s for uniform, 0 with a window or without frames."""
    path = write_video(tmp_path / f"live.{ext}", duration_seconds=6.0, fps=12, live=True, audio=None)
    assert probe(path).duration_seconds == pytest.approx(6.0, abs=0.05)
    calls = [
        {"frames": FrameSampling("keyframes")},
        {"frames": FrameSampling("uniform")},
        {"frames": FrameSampling("uniform"), "duration_seconds": 2.0},
        {"frames": FrameSampling("keyframes"), "duration_seconds": 2.0},
        {"audio_sample_rate": SR},  # no audio stream: nothing is decoded
    ]
    for kwargs in calls:
        result = decode(path, **kwargs)  # type: ignore[arg-type]
        assert result.info.duration_seconds == pytest.approx(6.0, abs=0.05), kwargs


@pytest.mark.parametrize("ext", ["webm", "mkv"])
@pytest.mark.parametrize("longer", ["video", "audio"])
def test_unknown_duration_counts_the_stream_not_decoded(tmp_path: Path, ext: str, longer: str) -> None:
    """A live recording whose video and audio end apart (6 s and 3 s): decoding one of them
    gives probe's duration. The stream not decoded is discarded at the demuxer, and was missed:
    3.0 s for the audio of a recording whose video goes on to 6 s, and the reverse."""
    video_seconds, audio_seconds = (6.0, 3.0) if longer == "video" else (3.0, 6.0)
    path = write_video(
        tmp_path / f"live.{ext}",
        duration_seconds=video_seconds,
        fps=12,
        live=True,
        audio=tone(audio_seconds, 48000),
        sample_rate=48000,
    )
    expected = probe(path).duration_seconds
    assert expected == pytest.approx(6.0, abs=0.05)
    calls = [
        {"audio_sample_rate": SR},  # to the end of the audio
        {"audio_sample_rate": SR, "duration_seconds": 1.0},  # stops early
        {"frames": FrameSampling("uniform")},
        {"frames": FrameSampling("keyframes"), "duration_seconds": 1.0},
    ]
    for kwargs in calls:
        result = decode(path, **kwargs)  # type: ignore[arg-type]
        assert result.info.duration_seconds == pytest.approx(expected, abs=0.02), kwargs


def test_unknown_duration_not_found_is_a_result_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live recording whose packets cannot be scanned again (the seek back fails) keeps what
    was decoded, with the duration the pass saw and a warning in the result (which embed writes
    in the row), not only in the log."""
    path = write_video(tmp_path / "live.webm", duration_seconds=4.0, fps=12, live=True, audio=None)

    def cannot_seek(media: object, max_seconds: float) -> float:
        raise DecodeError(str(path), "cannot seek back after scanning packets: Operation not permitted")

    monkeypatch.setattr(_decode, "scan_duration_seconds", cannot_seek)
    calls = [
        {"frames": FrameSampling("uniform"), "duration_seconds": 1.0},  # the pass stops early
        {"audio_sample_rate": SR},  # no audio stream: nothing is decoded
    ]
    for kwargs in calls:
        result = decode(path, **kwargs)  # type: ignore[arg-type]
        assert result.info.duration_seconds < 2.0, kwargs
        assert result.warnings == (
            "duration not found: cannot seek back after scanning packets: Operation not permitted",
        ), kwargs


def test_unknown_duration_over_the_limit_is_refused_without_reading_on(tmp_path: Path) -> None:
    """A live recording longer than max_duration_seconds: decode raises MediaLimitError, as
    probe does, also when the pass stopped early (a window) or decoded nothing; it returned the
    scanned 6 s before. The scan stops at the first packet past the limit."""
    path = write_video(tmp_path / "live.webm", duration_seconds=6.0, fps=12, live=True, audio=None)
    limits = DecodeLimits(max_duration_seconds=3.0)
    with pytest.raises(MediaLimitError):
        probe(path, limits=limits)
    calls = [
        {"frames": FrameSampling("uniform"), "duration_seconds": 1.0},  # the pass stops early
        {"audio_sample_rate": SR},  # no audio stream: nothing is decoded
    ]
    for kwargs in calls:
        with pytest.raises(MediaLimitError, match=r"exceeds max_duration_seconds=3\.0"):
            decode(path, limits=limits, **kwargs)  # type: ignore[arg-type]
    media = open_media(path, limits)
    try:
        assert 3.0 < scan_duration_seconds(media, max_seconds=3.0) < 3.5
    finally:
        media.close()


def test_portrait_9_16_resized_keeps_aspect(tmp_path: Path) -> None:
    path = write_video(tmp_path / "portrait.mp4", width=72, height=128, audio=None)
    info = probe(path)
    assert (info.width, info.height) == (72, 128)
    frames = read_frames(path, FrameSampling(fps=1, max_side=64))
    assert frames.frames.shape == (1, 64, 36, 3)


def test_variable_frame_rate_uses_pts(tmp_path: Path) -> None:
    path = write_video(tmp_path / "vfr.mp4", duration_seconds=2.0, fps=20.0, vfr=True, audio=None)
    every = read_frames(path, FrameSampling(fps=1000.0, max_frames=1000, max_side=16)).pts_seconds
    gaps = np.diff(every)
    assert gaps.min() < 0.75 / 20 and gaps.max() > 1.25 / 20  # really variable
    picked = read_frames(path, FrameSampling(fps=7.0, max_side=16))
    targets = np.arange(0, 2.0, 1 / 7.0)
    expected = np.unique([every[every <= t + 1e-9].max() for t in targets])
    np.testing.assert_allclose(picked.pts_seconds, expected, atol=1e-9)


def test_window_start_and_duration(tmp_path: Path) -> None:
    # mp4 stores sample-exact audio timestamps (Matroska rounds them to 1 ms)
    path = write_video(tmp_path / "clip.mp4", duration_seconds=3.0, gop_frames=12)
    part = decode(
        path, audio_sample_rate=SR, frames=FrameSampling(fps=4), start_seconds=1.3, duration_seconds=1.0
    )
    assert part.audio is not None
    assert part.audio.start_seconds == pytest.approx(1.3, abs=1 / SR)
    assert part.audio.samples.shape[0] == pytest.approx(SR, abs=2)
    # sample j is the written tone at start_seconds + j / SR (a 1-sample slip gives ~0.06)
    t = part.audio.start_seconds + np.arange(part.audio.samples.shape[0]) / SR
    error = part.audio.samples - 0.5 * np.sin(2 * np.pi * 440.0 * t)
    assert rms(error[SR // 10 : -SR // 10]) < 0.01
    assert part.frames is not None
    # the frames on screen at 1.3, 1.55, 1.8 and 2.05 s (24 fps)
    expected = np.floor((1.3 + 0.25 * np.arange(4)) * 24) / 24
    np.testing.assert_allclose(part.frames.pts_seconds, expected, atol=1e-6)
    assert part.video_frames_decoded < 3 * 24  # the seek skipped the start


def test_max_audio_seconds_truncates_with_warning(tmp_path: Path) -> None:
    from reelsense.io import DecodeLimits

    path = write_audio(tmp_path / "long.flac", duration_seconds=3.0)
    result = decode(path, audio_sample_rate=SR, limits=DecodeLimits(max_audio_seconds=1.0))
    assert result.audio is not None and result.audio.samples.shape[0] == SR
    assert any("max_audio_seconds" in w for w in result.warnings)


def test_thread_settings_do_not_change_output(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", duration_seconds=1.0, scene_changes=[0.5])
    a = read_frames(path, FrameSampling("count", count=5), threads=1)
    b = decode(path, frames=FrameSampling("count", count=5), thread_type="SLICE").frames
    assert b is not None
    np.testing.assert_array_equal(a.frames, b.frames)


def _two_soundtracks(path: Path, default: int | None) -> None:
    """An audio-only Matroska file with a 440 Hz track then a 1000 Hz one; ``default``: the
    index of the track marked default (None: neither)."""
    from av.stream import Disposition

    rate = 44100
    container = av.open(str(path), "w", format="matroska")
    streams = []
    for i in range(2):
        stream = container.add_stream("flac", rate=rate)
        stream.layout = "mono"  # type: ignore[union-attr]
        stream.disposition = Disposition.default if i == default else Disposition(0)
        streams.append(stream)
    for stream, hz in zip(streams, (440.0, 1000.0), strict=True):
        samples = tone(1.0, rate, frequency_hz=hz)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:  # type: ignore[attr-defined]
            container.mux(packet)
    container.close()


@pytest.mark.parametrize(("default", "hz"), [(1, 1000.0), (0, 440.0), (None, 440.0)])
def test_the_soundtrack_is_the_audio_stream_marked_default(
    tmp_path: Path, default: int | None, hz: float
) -> None:
    """A file with two audio streams: the one marked default, else the first."""
    path = tmp_path / "two.mkv"
    _two_soundtracks(path, default)
    audio = read_audio(path, sample_rate=8000)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak_hz = np.argmax(spectrum) * 8000 / audio.samples.size
    assert abs(peak_hz - hz) < 5.0


def test_matroska_audio_that_starts_after_the_video_keeps_its_place(tmp_path: Path) -> None:
    """A Matroska file whose audio starts 2 s after its H.264 video: an audio-only read (no
    picture decoded) gave the audio from 0 s (FFmpeg's stream analysis gave the video the
    audio's start), 2 s off the video's timeline that a read with pictures keeps."""
    path = tmp_path / "late.mkv"
    rate, fps = 44100, 25
    container = av.open(str(path), "w", format="matroska")
    video = container.add_stream("libx264", rate=fps)  # H.264 with B-frames: its start needs decoding
    video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"  # type: ignore[union-attr]
    audio = container.add_stream("flac", rate=rate)
    audio.layout = "mono"  # type: ignore[union-attr]
    for i in range(4 * fps):
        frame = av.VideoFrame.from_ndarray(frame_image(i, 64, 64), format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        for packet in video.encode(frame):  # type: ignore[attr-defined]
            container.mux(packet)
    for packet in video.encode(None):  # type: ignore[attr-defined]
        container.mux(packet)
    samples = tone(2.0, rate, frequency_hz=440.0)
    step = 4096
    for start in range(0, samples.shape[1], step):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, start : start + step]), format="flt", layout="mono"
        )
        frame.sample_rate, frame.pts = rate, 2 * rate + start  # 2 s after the video's start
        for packet in audio.encode(frame):  # type: ignore[attr-defined]
            container.mux(packet)
    for packet in audio.encode(None):  # type: ignore[attr-defined]
        container.mux(packet)
    container.close()
    alone = read_audio(path, sample_rate=8000)
    both = decode(path, audio_sample_rate=8000, frames=FrameSampling(strategy="count", count=2))
    assert both.audio is not None
    for got in (alone.samples, both.audio.samples):
        loud = np.flatnonzero(np.abs(got) > 0.1)
        assert abs(loud[0] / 8000 - 2.0) < 0.05 and abs(got.size / 8000 - 4.0) < 0.1
