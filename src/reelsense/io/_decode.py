"""One-pass media decoding with PyAV.

``decode`` opens a file once and demuxes only the streams it needs: audio goes through
:class:`~reelsense.io._audio.AudioSink` (mono float32 at the requested rate), video
through :class:`~reelsense.io._frames.FrameSink` (the sampling strategy decides which
frames are kept; only those are converted to RGB). Streams that are not wanted are
discarded at the demuxer, so an audio-only decode of a video never decodes a picture.

Failures: everything raises :class:`DecodeError` naming the file and the cause; a limit
exceeded raises :class:`MediaLimitError` before decoding starts (or as soon as a frame
shows it, when headers lie). Errors in the middle of a stream (a truncated or damaged
file) are handled deliberately: a damaged packet is skipped; when decoding cannot go on,
what was decoded is kept with a warning in ``DecodedMedia.warnings`` if it covers at
least half of the expected time span, and ``DecodeError`` is raised otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import os

import av
import av.error
from av.stream import Discard

from reelsense._checks import check_choice, check_finite, check_int, check_path, check_sample_rate
from reelsense.errors import DecodeError, MediaLimitError, NoAudioError, ParameterError
from reelsense.io._audio import AudioSink, audio_problem
from reelsense.io._frames import FrameSink, display_size
from reelsense.io._probe import OpenedMedia, check_limits, media_info, open_media, scan_duration_seconds
from reelsense.io._types import (
    AudioSamples,
    DecodedMedia,
    DecodeLimits,
    FrameSampling,
    FrameStrategy,
    MediaInfo,
    VideoFrames,
)

__all__ = ["decode", "probe", "read_audio", "read_frames"]

logger = logging.getLogger(__name__)

_DEFAULT_LIMITS = DecodeLimits()
_THREAD_TYPES = ("AUTO", "FRAME", "SLICE", "NONE")
_MAX_PACKET_ERRORS = 16  # damaged packets skipped per stream before giving up on it
_MEANINGFUL_FRACTION = 0.5  # keep a damaged file's output when it covers this much
_UNUSABLE_AUDIO = "no usable audio (treated as absent)"


def probe(path: str | os.PathLike[str], *, limits: DecodeLimits = _DEFAULT_LIMITS) -> MediaInfo:
    """Container and stream metadata without decoding media.

    Reads headers only (a container without a stated duration is demuxed, not decoded,
    to find it). Raises DecodeError, or MediaLimitError when a limit is exceeded.
    """
    check_path(path, "path")
    if not isinstance(limits, DecodeLimits):
        raise ParameterError(f"limits={limits!r} must be a DecodeLimits, got {type(limits).__name__}")
    media = open_media(path, limits)
    try:
        info = media_info(media, max_scan_seconds=limits.max_duration_seconds)
    finally:
        media.close()
    check_limits(info, limits)
    return info


_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


def _check_parameters(
    audio_sample_rate: object,
    frames: object,
    start_seconds: object,
    duration_seconds: object,
    limits: object,
    threads: object,
    thread_type: object,
    resample_quality: object,
) -> tuple[int | None, FrameSampling | None, float, float | None]:
    """The checked ``(audio_sample_rate, frames, start_seconds, duration_seconds)``: a rate as an
    ``int``, a strategy name as its :class:`FrameSampling`, times as floats."""
    rate = None if audio_sample_rate is None else check_sample_rate(audio_sample_rate, "audio_sample_rate")
    sampling = _frame_sampling(frames, "frames")
    start = check_finite(start_seconds, "start_seconds")
    if start < 0.0:
        raise ParameterError(f"start_seconds={start_seconds} must be finite and >= 0")
    duration = None
    if duration_seconds is not None:
        if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, numbers.Real):
            raise ParameterError(
                f"duration_seconds={duration_seconds!r} must be a number of seconds (or None: to the end)"
            )
        duration = float(duration_seconds)
        if not duration > 0.0:
            raise ParameterError(f"duration_seconds={duration_seconds} must be > 0 (or None: to the end)")
    if not isinstance(limits, DecodeLimits):
        raise ParameterError(f"limits={limits!r} must be a DecodeLimits, got {type(limits).__name__}")
    check_int(threads, "threads", minimum=0)
    check_choice(thread_type, "thread_type", _THREAD_TYPES)
    check_choice(resample_quality, "resample_quality", _QUALITIES)
    return rate, sampling, start, duration


def _frame_sampling(frames: object, name: str) -> FrameSampling | None:
    """``frames`` as a :class:`FrameSampling`: None stays None, a strategy name (``"keyframes"``)
    is that strategy with the default options."""
    if frames is None or isinstance(frames, FrameSampling):
        return frames
    if isinstance(frames, str):
        return FrameSampling(strategy=frames)  # type: ignore[arg-type]  # FrameSampling checks the name
    raise ParameterError(
        f"{name}={frames!r} must be a FrameSampling or a strategy name, got {type(frames).__name__}"
    )


class _Pass:
    """The state of one demux/decode pass over an opened file."""

    def __init__(self, media: OpenedMedia, audio: AudioSink | None, video: FrameSink | None) -> None:
        self.media = media
        self.audio = audio
        self.video = video
        self.errors: list[str] = []
        self.fatal: str | None = None
        self.reached_end = False
        self._packet_errors = {"audio": 0, "video": 0}
        self.packet_end_seconds = {"audio": 0.0, "video": 0.0}  # how far each stream's data went
        self._last_video_time = 0.0
        self._last_video_duration = 0.0
        self._video_period = (
            1.0 / media.video.average_rate if media.video and media.video.average_rate else 0.0
        )

    def _done(self) -> bool:
        return (self.audio is None or self.audio.done) and (self.video is None or self.video.done)

    def _decode_packet(self, packet: av.Packet, kind: str, max_seconds: float) -> None:
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            self._packet_errors[kind] += 1
            self.errors.append(f"{kind} packet at {packet.pts}: {exc.strerror or exc}")
            if self._packet_errors[kind] > _MAX_PACKET_ERRORS:
                self.fatal = f"too many damaged {kind} packets ({exc.strerror or exc})"
                if kind == "audio" and self.audio is not None:
                    self.audio.done = True
                if kind == "video" and self.video is not None:
                    self.video.done = True
            return
        offset = self.media.start_offset_seconds
        for frame in frames:
            t = frame.time
            if t is not None:
                t -= offset
                if t > max_seconds:
                    raise MediaLimitError(
                        self.media.path, f"decoded time {t:.1f} s exceeds max_duration_seconds={max_seconds}"
                    )
            if isinstance(frame, av.AudioFrame):
                assert self.audio is not None
                self.audio.push(frame, t)
            else:
                assert self.video is not None
                if t is None:
                    t = self._last_video_time + self._video_period
                self._last_video_time = t
                if frame.duration and frame.time_base is not None:
                    self._last_video_duration = float(frame.duration * frame.time_base)
                self.video.push(frame, t)

    def run(self, limits: DecodeLimits) -> None:
        streams: list[av.stream.Stream] = []
        if self.audio is not None and self.media.audio is not None:
            streams.append(self.media.audio)
        if self.video is not None and self.media.video is not None:
            streams.append(self.media.video)
        keyframes_only = self.video is not None and self.video.keyframe_packets_only
        max_seconds = limits.max_duration_seconds + 1.0
        # by stream index, read once: the kind, the sink, and the (numerator, denominator) of the
        # time base (a packet's time_base is a new Fraction at every access)
        kinds = {s.index: s.type for s in streams}
        sinks = {s.index: self.audio if s.type == "audio" else self.video for s in streams}
        bases = {s.index: (s.time_base.numerator, s.time_base.denominator) for s in streams if s.time_base}
        # the last tick each stream's packets reach, turned into seconds once at the end (the
        # largest tick gives the largest time: the conversion keeps the order)
        ends: dict[int, int] = {}
        try:
            for packet in self.media.container.demux(streams):
                index = packet.stream_index
                pts = packet.pts
                if pts is not None and index in bases:
                    end = pts + (packet.duration or 0)
                    if end > ends.get(index, end - 1):
                        ends[index] = end
                sink = sinks.get(index)
                if sink is None or sink.done:
                    continue
                kind = kinds[index]
                # a key frame never references other frames: skip the rest unread, and the key
                # frames the sink's stride leaves out (a video with many key frames)
                if kind == "video" and keyframes_only and packet.size:
                    if not packet.is_keyframe:
                        continue
                    seconds = None
                    if pts is not None and index in bases:
                        num, den = bases[index]
                        seconds = pts * num / den - self.media.start_offset_seconds
                    if not sink.wants_key_packet(pts, seconds):  # type: ignore[union-attr]
                        continue
                self._decode_packet(packet, kind, max_seconds)
                if self._done():
                    return
            self.reached_end = True
        except av.error.FFmpegError as exc:
            self.fatal = f"demuxing failed: {exc.strerror or exc}"
        finally:
            for index, end in ends.items():
                num, den = bases[index]
                # int / int rounds the exact time once, as float(Fraction) does
                seconds = end * num / den - self.media.start_offset_seconds
                kind = kinds[index]
                self.packet_end_seconds[kind] = max(self.packet_end_seconds[kind], seconds)

    @property
    def last_video_duration(self) -> float:
        return self._last_video_duration or self._video_period


def _seek(media: OpenedMedia, start_seconds: float, want_video: bool) -> str | None:
    stream = media.video if want_video and media.video is not None else media.audio
    if stream is None or stream.time_base is None:
        return None
    offset = int((start_seconds + media.start_offset_seconds) / stream.time_base)
    try:
        media.container.seek(offset, stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError as exc:
        media.container.seek(0)
        return f"seeking to {start_seconds:.2f} s failed ({exc.strerror or exc}); decoded from the start"
    return None


def _configure_streams(
    media: OpenedMedia, want_audio: bool, video: FrameSink | None, threads: int, thread_type: str
) -> None:
    wanted = set()
    if want_audio and media.audio is not None:
        wanted.add(media.audio.index)
    if video is not None and media.video is not None:
        wanted.add(media.video.index)
        ctx = media.video.codec_context
        ctx.thread_type = thread_type
        ctx.thread_count = threads
        if video.skip_frame is not None:
            ctx.skip_frame = video.skip_frame  # type: ignore[assignment]
    for stream in media.container.streams:
        if stream.index not in wanted:
            stream.discard = Discard.all  # the demuxer need not even read these packets


def _expected_seconds(info: MediaInfo, start_seconds: float, duration_seconds: float | None) -> float:
    remaining = max(0.0, info.duration_seconds - start_seconds) if info.duration_seconds > 0 else math.inf
    expected = min(remaining, duration_seconds if duration_seconds is not None else math.inf)
    return 0.0 if math.isinf(expected) else expected


def _stream_seconds(stream: av.stream.Stream | None) -> float | None:
    """A stream's own duration: from its header, or Matroska's per-track DURATION tag."""
    if stream is None:
        return None
    if stream.duration and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return None
    return None


def _judge(run: _Pass, info: MediaInfo, start_seconds: float, windows: dict[str, float]) -> list[str]:
    """Warnings for a pass that ended early; DecodeError when it ended too early.

    Each decoded stream is expected to reach the end of its window (its own duration,
    else the container's). A stream whose data stopped short (truncated file) or that hit
    unrecoverable errors is kept, with a warning, when it covers at least half of its
    expected span; otherwise the file is rejected.
    """
    warnings = []
    for kind, sink in (("audio", run.audio), ("video", run.video)):
        if sink is None:
            continue
        stream = run.media.audio if kind == "audio" else run.media.video
        own = _stream_seconds(stream)
        total = own if own is not None and own > 0 else info.duration_seconds
        expected = min(windows[kind], max(0.0, total - start_seconds)) if total > 0 else 0.0
        got = run.packet_end_seconds[kind] - start_seconds
        if kind == "audio":
            got = max(got, run.audio.decoded_seconds if run.audio is not None else 0.0)
        short = expected - got > max(0.5, 0.05 * expected)
        if run.fatal is None and not (run.reached_end and short):
            continue
        reason = run.fatal or "the data ends early (truncated file?)"
        if got <= 0.0 or (expected > 0 and got < _MEANINGFUL_FRACTION * expected):
            raise DecodeError(
                info.path, f"{reason}: {kind} decoded for {max(got, 0.0):.2f} s of {expected:.2f} s"
            )
        if short or run.fatal:
            warnings.append(f"{kind} decoded for {got:.2f} s of {expected:.2f} s: {reason}")
    if run.errors:
        warnings.append(f"skipped {len(run.errors)} damaged packet(s), first: {run.errors[0]}")
    return warnings


def _scanned_duration_seconds(media: OpenedMedia, limits: DecodeLimits, warnings: list[str]) -> float:
    """:func:`scan_duration_seconds` from the start of a file already (partly) demuxed, over the
    streams probe reads (those the pass discarded too), up to ``max_duration_seconds`` (the
    caller's :func:`check_limits` then rejects the file); 0.0, with a warning appended to
    ``warnings``, when it cannot seek (the decoded data is kept either way)."""
    for stream in (media.audio, media.video):
        if stream is not None:
            stream.discard = Discard.default  # demux() does not undo _configure_streams' discard
    try:
        media.container.seek(0)
        return scan_duration_seconds(media, limits.max_duration_seconds)
    except av.error.FFmpegError as exc:
        warnings.append(f"duration not found: {exc.strerror or exc}")
    except DecodeError as exc:
        warnings.append(f"duration not found: {exc.cause}")
    return 0.0


def _final_info(
    info: MediaInfo, media: OpenedMedia, run: _Pass, limits: DecodeLimits, warnings: list[str]
) -> MediaInfo:
    """``info`` with what the pass found: the frames' rotation, and the duration of a file
    without a stated one (scanned up to ``limits``; a failure to find it is appended to
    ``warnings``)."""
    changes: dict[str, object] = {}
    if run.video is not None and run.video.frames_decoded and media.video is not None:
        rotation = run.video.rotation_degrees
        if rotation != info.rotation_degrees:
            ctx = media.video.codec_context
            w, h = display_size(
                ctx.width, ctx.height, rotation_degrees=rotation, sample_aspect_ratio=info.sample_aspect_ratio
            )
            changes.update(rotation_degrees=rotation, width=w, height=h)
    if info.duration_seconds <= 0:  # no stated duration (a live WebM/Matroska recording)
        # every demuxed packet's end counts, also of the frames the sampling did not decode
        # (key frames only: the decoded frames may stop long before the file does)
        ends = [*run.packet_end_seconds.values()]
        if run.audio is not None:
            ends.append(run.audio.start_seconds + run.audio.decoded_seconds)
        if run.video is not None:
            ends.append(run.video.decoded_until_seconds + run.last_video_duration)
        # a pass that stopped early (a window, a frame cap), or that discarded a stream probe
        # reads (audio only of a video, frames only of a video with sound, and either may be
        # the longer): demux the file, as probe does
        skipped = (media.audio is not None and run.audio is None) or (
            media.video is not None and run.video is None
        )
        if not run.reached_end or skipped:
            ends.append(_scanned_duration_seconds(media, limits, warnings))
        changes["duration_seconds"] = max(ends)
    return dataclasses.replace(info, **changes) if changes else info  # type: ignore[arg-type]


def _logged(media: OpenedMedia, warnings: list[str]) -> tuple[str, ...]:
    """``warnings`` for ``DecodedMedia.warnings``, each logged once with the file's path."""
    for warning in warnings:
        logger.warning("%s: %s", media.path, warning)
    return tuple(warnings)


def _audio_truncated(
    audio: AudioSamples,
    info: MediaInfo,
    start_seconds: float,
    duration_seconds: float | None,
    limits: DecodeLimits,
) -> bool:
    """Whether ``max_audio_seconds`` cut the audio short: the window asked for, bounded by what
    the file holds after ``start_seconds``, is longer than the limit (the file's length unknown:
    the audio decoded reached the limit)."""
    if math.isinf(limits.max_audio_seconds):  # no limit
        return False
    remaining = info.duration_seconds - start_seconds if info.duration_seconds > 0 else math.inf
    wanted = min(duration_seconds or math.inf, remaining)
    if math.isinf(wanted):
        return bool(audio.samples.shape[0] >= math.floor(limits.max_audio_seconds * audio.sample_rate))
    return limits.max_audio_seconds < wanted


def decode(
    path: str | os.PathLike[str],
    *,
    audio_sample_rate: int | None = None,
    frames: FrameSampling | FrameStrategy | None = None,
    start_seconds: float = 0.0,
    duration_seconds: float | None = None,
    limits: DecodeLimits = _DEFAULT_LIMITS,
    threads: int = 0,
    thread_type: str = "AUTO",
    resample_quality: str = "HQ",
) -> DecodedMedia:
    """Decode a file once: mono float32 audio at ``audio_sample_rate`` (an integer number of Hz
    in 8000..384000; None: no audio is decoded) and/or frames chosen by ``frames`` (a
    :class:`FrameSampling`, or a strategy name such as ``"keyframes"`` with the default options;
    None: no video is decoded), within ``[start_seconds, start_seconds + duration_seconds)``
    (``duration_seconds`` None or ``inf``: to the end).

    A requested modality the file lacks comes back as ``None``. ``threads`` (0: FFmpeg
    picks, 1: single-threaded, as batch workers may want) and ``thread_type`` set video
    decoder threading; ``resample_quality`` is a soxr quality ("QQ", "LQ", "MQ", "HQ",
    "VHQ"). Raises DecodeError (MediaLimitError for limits) or ParameterError.
    """
    check_path(path, "path")
    audio_sample_rate, frames, start_seconds, duration_seconds = _check_parameters(
        audio_sample_rate,
        frames,
        start_seconds,
        duration_seconds,
        limits,
        threads,
        thread_type,
        resample_quality,
    )
    media = open_media(path, limits, video_pictures=frames is not None)
    try:
        need_duration = frames is not None and frames.strategy == "count" and media.video is not None
        info = media_info(media, scan_if_unknown=need_duration, max_scan_seconds=limits.max_duration_seconds)
        check_limits(info, limits)
        if info.duration_seconds > 0 and start_seconds >= info.duration_seconds:
            raise ParameterError(
                f"start_seconds={start_seconds} is not before the end of {media.path!r} "
                f"({info.duration_seconds:.2f} s)"
            )
        audio_sink = video_sink = None
        if audio_sample_rate is not None and media.audio is not None:
            window = min(duration_seconds or math.inf, limits.max_audio_seconds)
            audio_sink = AudioSink(
                audio_sample_rate,
                start_seconds=start_seconds,
                window_seconds=None if math.isinf(window) else window,
                expected_seconds=_expected_seconds(info, start_seconds, window),
                quality=resample_quality,
            )
        if frames is not None and media.video is not None:
            video_duration = info.duration_seconds
            if media.video.duration and media.video.time_base is not None:
                video_duration = float(media.video.duration * media.video.time_base)
            if video_duration <= 0:
                video_duration = (
                    scan_duration_seconds(media, limits.max_duration_seconds) if need_duration else 0.0
                )
            video_sink = FrameSink(
                frames,
                path=media.path,
                start_seconds=start_seconds,
                window_seconds=duration_seconds,
                video_duration_seconds=video_duration,
                header_rotation_degrees=info.rotation_degrees,
                max_pixels=limits.max_pixels,
                nominal_fps=info.fps,
                sample_aspect_ratio=info.sample_aspect_ratio,
            )
        warnings: list[str] = []
        if audio_sink is None and video_sink is None:  # nothing to decode: the duration as probe finds it
            if info.duration_seconds <= 0:
                scanned = _scanned_duration_seconds(media, limits, warnings)
                info = dataclasses.replace(info, duration_seconds=scanned)
                check_limits(info, limits)
            return DecodedMedia(info=info, warnings=_logged(media, warnings))
        _configure_streams(media, audio_sink is not None, video_sink, threads, thread_type)
        if start_seconds > 0:
            seek_warning = _seek(media, start_seconds, video_sink is not None)
            if seek_warning:
                warnings.append(seek_warning)
        run = _Pass(media, audio_sink, video_sink)
        run.run(limits)
        window = duration_seconds or math.inf
        windows = {"audio": min(window, limits.max_audio_seconds), "video": window}
        warnings += _judge(run, info, start_seconds, windows)
        audio = audio_sink.finish() if audio_sink is not None else None
        problem = audio_problem(audio.samples, audio.sample_rate) if audio is not None else None
        if problem is not None:
            warnings.append(f"{_UNUSABLE_AUDIO}: {problem}")
            audio = None
        video = video_sink.finish(run.last_video_duration) if video_sink is not None else None
        for sink_warnings in (
            audio_sink.warnings if audio_sink else [],
            video_sink.warnings if video_sink else [],
        ):
            warnings += sink_warnings
        if audio is not None and _audio_truncated(audio, info, start_seconds, duration_seconds, limits):
            warnings.append(f"audio truncated to max_audio_seconds={limits.max_audio_seconds}")
        info = _final_info(info, media, run, limits, warnings)
        check_limits(info, limits)  # a duration found by scanning, as probe checks it
        return DecodedMedia(
            info=info,
            audio=audio,
            frames=video,
            warnings=_logged(media, warnings),
            audio_frames_decoded=audio_sink.frames_decoded if audio_sink else 0,
            video_frames_decoded=video_sink.frames_decoded if video_sink else 0,
            video_frames_converted=video_sink.frames_converted if video_sink else 0,
        )
    finally:
        media.close()


def unusable_audio_reason(warning: str) -> str | None:
    """Why the audio was dropped (``audio_problem``'s words), when ``warning`` is the one
    :func:`decode` gives for audio that is not usable; None for another warning."""
    prefix = f"{_UNUSABLE_AUDIO}: "
    return warning[len(prefix) :] if warning.startswith(prefix) else None


def read_audio(
    path: str | os.PathLike[str],
    sample_rate: int = 22050,
    *,
    start_seconds: float = 0.0,
    duration_seconds: float | None = None,
    limits: DecodeLimits = _DEFAULT_LIMITS,
) -> AudioSamples:
    """Mono float32 audio at ``sample_rate`` (an integer number of Hz in 8000..384000). Raises
    NoAudioError when the file has no audio stream or its audio is not usable
    (``audio_problem``), DecodeError when it cannot be read."""
    result = decode(
        path,
        audio_sample_rate=check_sample_rate(sample_rate),
        start_seconds=start_seconds,
        duration_seconds=duration_seconds,
        limits=limits,
    )
    if not result.info.has_audio:
        raise NoAudioError(result.info.path, "no audio stream")
    if result.audio is None:
        unusable = [r for r in map(unusable_audio_reason, result.warnings) if r is not None]
        if unusable:
            raise NoAudioError(result.info.path, unusable[0])
        raise DecodeError(result.info.path, f"no audio decoded from {start_seconds:.2f} s on")
    return result.audio


def read_frames(
    path: str | os.PathLike[str],
    sampling: FrameSampling | FrameStrategy | None = None,
    *,
    start_seconds: float = 0.0,
    duration_seconds: float | None = None,
    limits: DecodeLimits = _DEFAULT_LIMITS,
    threads: int = 0,
) -> VideoFrames:
    """Frames chosen by ``sampling`` (a :class:`FrameSampling` or a strategy name; default: 1 frame
    per second); raises DecodeError when the file has no video stream."""
    result = decode(
        path,
        frames=FrameSampling() if sampling is None else _frame_sampling(sampling, "sampling"),
        start_seconds=start_seconds,
        duration_seconds=duration_seconds,
        limits=limits,
        threads=threads,
    )
    if not result.info.has_video or result.frames is None:
        raise DecodeError(result.info.path, "has no video stream")
    return result.frames
