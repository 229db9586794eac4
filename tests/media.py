"""Small synthetic media files for tests, written with PyAV's encoders.

Every writer returns the path it wrote. Files are tiny (64x112 px, about a second) so a
test can make dozens of them in well under a second. Nothing is downloaded.

Conventions shared with :mod:`reelsense.io`:

- ``width``/``height`` are the *displayed* (upright) size. With ``rotation_degrees`` r,
  the coded picture is the upright picture turned r degrees counter-clockwise and the
  file carries a display matrix telling players to turn it r degrees clockwise, as a
  phone held upright writes it. Decoding with rotation applied gives back the upright
  picture, whose top-left corner carries a dark marker block (see :func:`frame_image`).
- Audio arrays are ``[channels, samples]`` float32 in [-1, 1] (a 1-D array is mono).
- ``scene_changes`` are times in seconds where the picture switches to another scene
  (a different background colour and texture); within a scene a small square moves
  slowly, so consecutive frames differ a little but never look like a cut.

Codecs follow the extension unless given: h264/aac in mp4, mov, m4v and mkv; vp8/opus in
webm; mp3 (lame), m4a and aac (aac, the latter as ADTS), ogg (vorbis), opus (opus),
flac, wav (16-bit PCM).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

__all__ = [
    "AUDIO_CODECS",
    "VIDEO_CODECS",
    "default_sample_rate",
    "frame_image",
    "noise",
    "scene_index",
    "tone",
    "write_audio",
    "write_bytes",
    "write_video",
]

AudioSignal = Literal["tone", "noise"]

# extension -> (video codec, audio codec)
VIDEO_CODECS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx", "libopus"),
}
# extension -> audio codec
AUDIO_CODECS: dict[str, str] = {
    ".mp3": "libmp3lame",
    ".m4a": "aac",
    ".aac": "aac",
    ".ogg": "vorbis",
    ".oga": "vorbis",
    ".opus": "libopus",
    ".wav": "pcm_s16le",
    ".flac": "flac",
    ".mka": "aac",
}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 6: "5.1", 8: "7.1"}
# distinct, well-separated background colours for successive scenes
_SCENE_COLOURS = np.array(
    [
        [40, 90, 200],
        [220, 180, 40],
        [30, 160, 80],
        [200, 60, 140],
        [120, 120, 120],
        [240, 240, 230],
        [90, 40, 20],
        [20, 200, 220],
    ],
    dtype=np.int16,
)


def tone(
    duration_seconds: float,
    sample_rate: int,
    channels: int = 1,
    *,
    frequency_hz: float = 440.0,
    amplitude: float = 0.5,
) -> np.ndarray:
    """Sine tone ``[channels, n]`` float32; channel c plays ``frequency_hz * (c + 1)``."""
    n = round(duration_seconds * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    freqs = frequency_hz * np.arange(1, channels + 1, dtype=np.float64)[:, None]
    return (amplitude * np.sin(2.0 * np.pi * freqs * t[None, :])).astype(np.float32)


def noise(
    duration_seconds: float,
    sample_rate: int,
    channels: int = 1,
    *,
    amplitude: float = 0.2,
    seed: int = 0,
) -> np.ndarray:
    """Seeded white noise ``[channels, n]`` float32 with peak ``amplitude``."""
    n = round(duration_seconds * sample_rate)
    rng = np.random.default_rng(seed)
    return (amplitude * rng.uniform(-1.0, 1.0, size=(channels, n))).astype(np.float32)


def scene_index(time_seconds: float, scene_changes: Sequence[float]) -> int:
    """Index of the scene shown at ``time_seconds`` (0 before the first change)."""
    return int(np.searchsorted(np.asarray(sorted(scene_changes), dtype=np.float64), time_seconds, "right"))


def frame_image(
    time_seconds: float,
    width: int,
    height: int,
    *,
    scene: int = 0,
    motion: bool = True,
) -> np.ndarray:
    """The upright RGB uint8 picture ``[height, width, 3]`` shown at ``time_seconds``.

    A scene-coloured background with a coarse texture, a dark marker block in the
    top-left corner (orientation checks), and a small light square that moves slowly
    from left to right (unless ``motion`` is False).
    """
    colour = _SCENE_COLOURS[scene % len(_SCENE_COLOURS)]
    yy, xx = np.mgrid[0:height, 0:width]
    texture = (((yy // 8 + xx // 8 + scene) % 2) * 24 - 12).astype(np.int16)
    img = colour[None, None, :] + texture[:, :, None]
    mh, mw = max(2, height // 4), max(2, width // 4)
    img[:mh, :mw] = 10
    side = max(4, min(width, height) // 6)
    x0 = int((width - side) * ((0.1 * time_seconds) % 1.0)) if motion else (width - side) // 2
    y0 = height // 2
    img[y0 : y0 + side, x0 : x0 + side] = 235
    out: np.ndarray = np.clip(img, 0, 255).astype(np.uint8)
    return out


def default_sample_rate(codec: str) -> int:
    """44100 Hz, or 48000 Hz for codecs that cannot encode 44100 Hz (opus)."""
    rates = av.codec.Codec(codec, "w").audio_rates
    return 44100 if not rates or 44100 in rates else 48000


def _audio_array(
    audio: AudioSignal | np.ndarray | None,
    duration_seconds: float,
    sample_rate: int,
    channels: int,
    seed: int,
) -> np.ndarray | None:
    if audio is None:
        return None
    if isinstance(audio, str):
        if audio == "tone":
            return tone(duration_seconds, sample_rate, channels)
        if audio == "noise":
            return noise(duration_seconds, sample_rate, channels, seed=seed)
        raise ValueError(f"audio={audio!r} is not 'tone', 'noise', an array or None")
    arr = np.asarray(audio, dtype=np.float32)
    return arr[None, :] if arr.ndim == 1 else arr


def _add_audio_stream(
    container: av.container.OutputContainer, codec: str, sample_rate: int, channels: int
) -> av.audio.stream.AudioStream:
    if channels not in _LAYOUTS:
        raise ValueError(f"channels={channels} has no standard layout (use one of {sorted(_LAYOUTS)})")
    rates = av.codec.Codec(codec, "w").audio_rates
    if rates and sample_rate not in rates:
        raise ValueError(
            f"codec {codec} cannot encode sample_rate={sample_rate} (supported: {sorted(rates)})"
        )
    if codec == "vorbis" and channels != 2:
        raise ValueError(f"FFmpeg's vorbis encoder writes stereo only, got channels={channels}")
    stream = container.add_stream(codec, rate=sample_rate)
    assert isinstance(stream, av.audio.stream.AudioStream)
    stream.codec_context.layout = _LAYOUTS[channels]
    stream.codec_context.sample_rate = sample_rate
    if codec == "vorbis":  # FFmpeg's native vorbis encoder is marked experimental
        stream.codec_context.options = {"strict": "experimental"}
    return stream


def _audio_frames(samples: np.ndarray, sample_rate: int, chunk: int = 1024) -> Iterator[av.AudioFrame]:
    channels = samples.shape[0]
    data = np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32)
    for start in range(0, data.shape[1], chunk):
        part = np.ascontiguousarray(data[:, start : start + chunk])
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=_LAYOUTS[channels])
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        yield frame


def write_audio(
    path: str | os.PathLike[str],
    samples: np.ndarray | None = None,
    *,
    sample_rate: int | None = None,
    channels: int | None = None,
    duration_seconds: float = 1.0,
    signal: AudioSignal = "tone",
    codec: str | None = None,
    container_format: str | None = None,
    cover_art: bool = False,
    seed: int = 0,
) -> Path:
    """Write an audio-only file.

    ``sample_rate`` defaults to :func:`default_sample_rate` of the codec.
    ``samples``: ``[channels, n]`` or ``[n]`` float32; when None, ``signal`` of
    ``duration_seconds`` with ``channels`` channels is generated (default 1; 2 for
    vorbis, as FFmpeg's vorbis encoder writes stereo only). The codec
    and container follow the extension unless ``codec``/``container_format`` are given.
    """
    path = Path(path)
    ext = path.suffix.lower()
    codec = codec or AUDIO_CODECS.get(ext)
    if codec is None:
        raise ValueError(f"no default audio codec for extension {ext!r}; pass codec=")
    sample_rate = sample_rate or default_sample_rate(codec)
    default_channels = 2 if codec == "vorbis" else 1
    if samples is None:
        arr = _audio_array(signal, duration_seconds, sample_rate, channels or default_channels, seed)
    else:
        arr = _audio_array(samples, duration_seconds, sample_rate, channels or default_channels, seed)
    assert arr is not None
    if channels is not None and arr.shape[0] != channels:
        raise ValueError(f"samples have {arr.shape[0]} channels but channels={channels}")
    fmt = container_format or ("ipod" if ext == ".m4a" else None)
    with av.open(str(path), "w", format=fmt) as container:
        stream = _add_audio_stream(container, codec, sample_rate, arr.shape[0])
        if cover_art:
            picture = container.add_stream("png", rate=1)
            picture.width, picture.height, picture.pix_fmt = 32, 32, "rgb24"
            picture.disposition = av.stream.Disposition.attached_pic
            image = av.VideoFrame.from_ndarray(frame_image(0.0, 32, 32), format="rgb24")
            image.pts = 0
            container.mux(picture.encode(image))
            container.mux(picture.encode(None))
        for frame in _audio_frames(arr, sample_rate):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_video(
    path: str | os.PathLike[str],
    *,
    duration_seconds: float = 1.0,
    fps: float = 24.0,
    width: int = 64,
    height: int = 112,
    audio: AudioSignal | np.ndarray | None = "tone",
    sample_rate: int | None = None,
    channels: int = 1,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    rotation_degrees: int = 0,
    scene_changes: Sequence[float] = (),
    motion: bool = True,
    vfr: bool = False,
    gop_frames: int | None = None,
    container_format: str | None = None,
    faststart: bool = False,
    live: bool = False,
    seed: int = 0,
    sample_aspect_ratio: Fraction | None = None,
) -> Path:
    """Write a small video (with ``audio`` unless None) and return its path.

    ``width``/``height`` are the upright size; ``rotation_degrees`` (0, 90, 180, 270,
    clockwise, to display) stores the picture turned and adds a display matrix.
    ``vfr``: frame durations alternate between 0.5 and 1.5 frame periods (average rate
    ``fps``), with millisecond timestamps. ``gop_frames``: a key frame every so many
    frames (and no extra ones at scene cuts); default: the encoder's choice.
    ``faststart``: mp4/mov index before the media data (as streaming sites serve it).
    ``live``: Matroska/WebM written as a live stream, with no duration and no index (as
    browser recorders write them). ``sample_aspect_ratio``: anamorphic pixels (the picture
    is coded ``width`` x ``height`` and displayed ``width * sar`` wide).
    """
    path = Path(path)
    ext = path.suffix.lower()
    default_video, default_audio = VIDEO_CODECS.get(ext, ("libx264", "aac"))
    video_codec = video_codec or default_video
    audio_codec = audio_codec or default_audio
    if rotation_degrees % 90 != 0:
        raise ValueError(f"rotation_degrees={rotation_degrees} must be a multiple of 90")
    turns = (rotation_degrees // 90) % 4
    coded_w, coded_h = (height, width) if turns % 2 else (width, height)

    # frame times in seconds
    period = 1.0 / fps
    time_base: Fraction | None
    if vfr:
        steps = np.resize(np.array([0.5 * period, 1.5 * period]), max(1, round(duration_seconds * fps)))
        times = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
        times = times[times < duration_seconds]
        time_base = Fraction(1, 1000)
    else:
        times = np.arange(round(duration_seconds * fps)) * period
        time_base = Fraction(1, 1000) if Fraction(fps).limit_denominator(1001).denominator != 1 else None

    sample_rate = sample_rate or default_sample_rate(audio_codec)
    arr = _audio_array(audio, duration_seconds, sample_rate, channels, seed)
    muxer_options = {"movflags": "+faststart"} if faststart else {}
    if live:
        muxer_options["live"] = "1"
    with av.open(str(path), "w", format=container_format, options=muxer_options) as container:
        rate = Fraction(fps).limit_denominator(1001)
        vstream = container.add_stream(video_codec, rate=rate)
        vstream.width, vstream.height = coded_w, coded_h
        vstream.pix_fmt = "yuv420p"
        # one encoding thread: the clips are tiny, and two suites at once on a loaded
        # machine once left an encoder's thread pool spinning forever inside ``encode``
        # (holding the GIL, so pytest-timeout's thread could not fire)
        vstream.codec_context.thread_count = 1
        if sample_aspect_ratio is not None:
            vstream.codec_context.sample_aspect_ratio = sample_aspect_ratio
        if time_base is not None:
            vstream.codec_context.time_base = time_base
        options: dict[str, str] = {}
        if video_codec == "libx264":
            options["preset"] = "veryfast"
        if video_codec in ("libvpx", "libvpx-vp9"):
            options.update({"deadline": "realtime", "cpu-used": "8"})
        if video_codec == "libx265":
            options["x265-params"] = "log-level=error"
        if gop_frames is not None:
            vstream.codec_context.gop_size = gop_frames
            if video_codec == "libx264":
                options["x264-params"] = f"keyint={gop_frames}:min-keyint={gop_frames}:scenecut=0"
            if video_codec == "libx265":
                options["x265-params"] += f":keyint={gop_frames}:min-keyint={gop_frames}:scenecut=0"
            if video_codec in ("libvpx", "libvpx-vp9"):
                options["auto-alt-ref"] = "0"
                options["kf_min_dist"] = str(gop_frames)
        vstream.codec_context.options = options
        if turns:
            # display matrix angle is counter-clockwise; we store "turn clockwise to display"
            vstream.set_display_rotation(-90 * turns)
        astream = None
        if arr is not None:
            astream = _add_audio_stream(container, audio_codec, sample_rate, arr.shape[0])

        audio_frames = list(_audio_frames(arr, sample_rate)) if arr is not None else []
        audio_pos = 0
        for t in times:
            # interleave audio up to this frame's time, as a real muxer would receive it
            while astream is not None and audio_pos < len(audio_frames):
                aframe = audio_frames[audio_pos]
                if aframe.pts is not None and aframe.pts / sample_rate > t:
                    break
                container.mux(astream.encode(aframe))
                audio_pos += 1
            upright = frame_image(
                float(t), width, height, scene=scene_index(float(t), scene_changes), motion=motion
            )
            coded = np.ascontiguousarray(np.rot90(upright, k=turns)) if turns else upright
            frame = av.VideoFrame.from_ndarray(coded, format="rgb24")
            if time_base is not None:
                frame.pts = round(float(t) / time_base)
                frame.time_base = time_base
            else:
                frame.pts = round(float(t) * fps)
            container.mux(vstream.encode(frame))
        for aframe in audio_frames[audio_pos:]:
            if astream is not None:
                container.mux(astream.encode(aframe))
        container.mux(vstream.encode(None))
        if astream is not None:
            container.mux(astream.encode(None))
    return path


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write raw bytes (e.g. a text file renamed .mp4, or a truncated copy)."""
    path = Path(path)
    path.write_bytes(data)
    return path
