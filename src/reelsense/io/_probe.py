"""Opening a media file: path checks, container open, stream choice, metadata, limits.

Every failure becomes a :class:`DecodeError` naming the file and the cause; a file over
a :class:`DecodeLimits` limit raises :class:`MediaLimitError` before anything is decoded.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from reelsense.errors import DecodeError, MediaLimitError
from reelsense.io._files import file_kind
from reelsense.io._frames import display_size, sample_aspect_ratio
from reelsense.io._rotation import header_rotation_degrees
from reelsense.io._types import DecodeLimits, MediaInfo

__all__ = ["OpenedMedia", "check_limits", "media_info", "open_media", "scan_duration_seconds"]

logger = logging.getLogger(__name__)

_TIME_BASE = 1_000_000  # FFmpeg's AV_TIME_BASE: container times are in microseconds


@dataclass
class OpenedMedia:
    """An open container with the streams reelsense reads from it (close when done)."""

    path: str
    container: av.container.InputContainer
    audio: av.audio.stream.AudioStream | None
    video: av.video.stream.VideoStream | None
    header_rotation_degrees: int | None
    start_offset_seconds: float

    def close(self) -> None:
        self.container.close()


def _check_path(path: str, limits: DecodeLimits) -> None:
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        if Path(path).is_symlink():
            raise DecodeError(path, "is a dangling symbolic link (its target does not exist)") from None
        raise DecodeError(path, "file does not exist") from None
    except PermissionError:
        raise DecodeError(path, "permission denied (cannot stat the file)") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot stat the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(path, "is a directory, not a media file")
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError(path, f"is {file_kind(st.st_mode)}, not a regular file (not opened)")
    if st.st_size == 0:
        raise DecodeError(path, "file is empty (0 bytes)")
    if st.st_size > limits.max_file_bytes:
        raise MediaLimitError(
            path, f"file size {st.st_size} bytes exceeds max_file_bytes={limits.max_file_bytes}"
        )


def _read_header_rotation(path: str) -> int | None:
    try:
        with Path(path).open("rb") as fh:
            return header_rotation_degrees(fh)
    except PermissionError:
        raise DecodeError(path, "permission denied (file is not readable)") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot read the file: {exc.strerror or exc}") from None


def _open_error(path: str, exc: av.error.FFmpegError) -> DecodeError:
    if isinstance(exc, av.error.EOFError):
        return DecodeError(path, "the file ends before its headers are complete (truncated?)")
    if isinstance(exc, av.error.InvalidDataError):
        return DecodeError(path, f"not a readable media file, or truncated/corrupt (FFmpeg: {exc.strerror})")
    if exc.errno == errno.EACCES or isinstance(exc, av.error.PermissionError):
        return DecodeError(path, "permission denied (file is not readable)")
    return DecodeError(path, f"FFmpeg cannot open it: {exc.strerror or exc}")


def _decodable(stream: av.stream.Stream) -> bool:
    """Whether FFmpeg has a decoder for ``stream`` (and an audio stream has channels): a
    stream of an unknown codec, or audio with 0 channels, is treated as absent."""
    try:
        context = stream.codec_context
        if context is None or context.codec is None or not context.codec.name:
            return False
        return not (stream.type == "audio" and not getattr(context, "channels", 1))
    except (av.error.FFmpegError, ValueError, AttributeError):
        return False


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream | None:
    """The soundtrack: the decodable audio stream marked default (a Matroska file with a
    commentary or a second language first marks the main one so), else the first decodable."""
    streams = [s for s in container.streams.audio if _decodable(s)]
    marked = [s for s in streams if s.disposition & av.stream.Disposition.default]
    chosen = marked or streams
    return chosen[0] if chosen else None


def _first_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    for stream in container.streams.video:
        # cover art in audio files is a one-picture "video" stream: not video
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        if _decodable(stream) and stream.codec_context.width and stream.codec_context.height:
            return stream
    return None


def open_media(
    path: str | os.PathLike[str], limits: DecodeLimits, *, video_pictures: bool = True
) -> OpenedMedia:
    """Check the path, read header rotation, open the container and pick its streams.

    ``video_pictures`` False: the caller will decode no video, so opening decodes none either
    (FFmpeg's stream analysis otherwise decodes a few pictures to learn their pixel format and
    frame delay, about a third of an audio-only read of a short video); the video stream's pixel
    format is then unknown."""
    path_str = os.fspath(path)
    _check_path(path_str, limits)
    rotation = _read_header_rotation(path_str)
    try:
        options = None if video_pictures else {"skip_frame": "all"}
        container = av.open(path_str, mode="r", options=options)
    except av.error.FFmpegError as exc:
        raise _open_error(path_str, exc) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(path_str, f"FFmpeg cannot open it: {exc}") from None
    audio = _audio_stream(container)
    video = _first_video_stream(container)
    if audio is None and video is None:
        container.close()
        raise DecodeError(path_str, "has no audio or video stream")
    start = container.start_time
    offset = start / _TIME_BASE if start is not None and start > 0 else 0.0
    if offset > 0 and not video_pictures and video is not None and "matroska" in container.format.name:
        offset = _matroska_start_seconds(container, audio, video, offset)
    return OpenedMedia(path_str, container, audio, video, rotation, offset)


def _matroska_start_seconds(
    container: av.container.InputContainer,
    audio: av.audio.stream.AudioStream | None,
    video: av.video.stream.VideoStream,
    start_seconds: float,
) -> float:
    """The start of a Matroska file opened without decoding pictures: there FFmpeg's stream
    analysis gives the video stream the audio's start, so audio that starts after the video
    would lose its place on the video's timeline. The video's first packet tells its start.
    Called only for a start after 0 (reading that packet and seeking back changes where the
    audio decoder starts by a few samples)."""
    try:
        first = next((p for p in container.demux(video) if p.pts is not None and p.time_base), None)
        container.seek(0)
    except av.error.FFmpegError:
        return start_seconds
    if first is None or first.pts is None or first.time_base is None:
        return start_seconds
    starts = [float(first.pts * first.time_base)]
    if audio is not None and audio.start_time is not None and audio.time_base is not None:
        starts.append(float(audio.start_time * audio.time_base))
    return max(0.0, min(starts))


def scan_duration_seconds(media: OpenedMedia, max_seconds: float = math.inf) -> float:
    """Duration found by demuxing every packet (no decoding); used when headers lack it. Stops
    at the first packet that ends past ``max_seconds`` (a limit: the file is at least that long)."""
    end = 0.0
    streams = [s for s in (media.audio, media.video) if s is not None]
    try:
        for packet in media.container.demux(streams):
            if packet.pts is None or packet.time_base is None:
                continue
            stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = max(end, stop - media.start_offset_seconds)
            if end > max_seconds:
                break
    except av.error.FFmpegError as exc:
        logger.warning("%s: packet scan stopped early: %s", media.path, exc)
    try:
        media.container.seek(0)
    except av.error.FFmpegError as exc:
        raise DecodeError(media.path, f"cannot seek back after scanning packets: {exc}") from None
    return end


def _header_duration_seconds(media: OpenedMedia) -> float | None:
    container = media.container
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / _TIME_BASE
    durations = [
        float(s.duration * s.time_base)
        for s in (media.audio, media.video)
        if s is not None and s.duration and s.time_base is not None
    ]
    return max(durations) if durations else None


#: ISO-BMFF major brand (first 3 characters) -> container label, for files whose extension
#: does not say which member of FFmpeg's ``mov,mp4,m4a,3gp,3g2,mj2`` family they are
_ISO_BRANDS = {
    "qt ": "mov",
    "M4A": "m4a",
    "M4B": "m4a",
    "M4V": "m4v",
    "3gp": "3gp",
    "3g2": "3g2",
    "mjp": "mj2",
}


def _container_name(media: OpenedMedia) -> str:
    """The container's format: the file's extension when it is one of the demuxer's names
    (``mp4`` for ``mov,mp4,...``); else, for ISO-BMFF, what its major brand says (an MP4 file
    named ``.mkv`` is ``mp4``); else the demuxer's first name (``matroska`` for ``.mkv``)."""
    names = media.container.format.name.split(",")
    ext = Path(media.path).suffix.lower().lstrip(".")
    if ext in names:
        return ext
    if names[0] == "mov":
        brand = str(media.container.metadata.get("major_brand", ""))[:3]
        return _ISO_BRANDS.get(brand, "mp4")
    return names[0]


def media_info(
    media: OpenedMedia, *, scan_if_unknown: bool = True, max_scan_seconds: float = math.inf
) -> MediaInfo:
    """Metadata from headers. With ``scan_if_unknown``, a missing duration is found by
    demuxing packets (no decoding; up to ``max_scan_seconds``, see
    :func:`scan_duration_seconds`); otherwise it is reported as 0.0."""
    duration = _header_duration_seconds(media)
    if duration is None:
        duration = scan_duration_seconds(media, max_scan_seconds) if scan_if_unknown else 0.0
    width = height = None
    fps = None
    rotation = 0
    sar = 1.0
    if media.video is not None:
        ctx = media.video.codec_context
        rotation = media.header_rotation_degrees or 0
        sar = sample_aspect_ratio(media.video.sample_aspect_ratio, ctx.sample_aspect_ratio)
        width, height = display_size(
            ctx.width, ctx.height, rotation_degrees=rotation, sample_aspect_ratio=sar
        )
        rate = media.video.average_rate or media.video.guessed_rate
        fps = float(rate) if rate else None
    actx = media.audio.codec_context if media.audio is not None else None
    return MediaInfo(
        path=media.path,
        container=_container_name(media),
        duration_seconds=duration,
        has_audio=media.audio is not None,
        has_video=media.video is not None,
        width=width,
        height=height,
        fps=fps,
        rotation_degrees=rotation,
        video_codec=media.video.codec.canonical_name if media.video is not None else None,
        audio_codec=media.audio.codec.canonical_name if media.audio is not None else None,
        audio_sample_rate=(actx.sample_rate or None) if actx is not None else None,
        audio_channels=(actx.channels or None) if actx is not None else None,
        bit_rate=media.container.bit_rate or None,
        sample_aspect_ratio=sar,
    )


def check_limits(info: MediaInfo, limits: DecodeLimits) -> None:
    """Raise MediaLimitError when the headers already show a limit is exceeded."""
    if info.duration_seconds > limits.max_duration_seconds:
        raise MediaLimitError(
            info.path,
            f"duration {info.duration_seconds:.1f} s exceeds max_duration_seconds="
            f"{limits.max_duration_seconds}",
        )
    if info.width is not None and info.height is not None and info.width * info.height > limits.max_pixels:
        raise MediaLimitError(
            info.path,
            f"frame size {info.width}x{info.height} exceeds max_pixels={limits.max_pixels}",
        )
