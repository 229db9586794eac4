#!/usr/bin/env python3
"""Synthesise a HARDER sound-matching query set from the dev benchmark's library (a robustness margin).

The held-out benchmark uses different tracks, voices and noise, with lower music-to-voice and
music-to-noise levels, wider speed / tempo / pitch ranges and noisy short clips. This script builds such
a set from what the dev set provides, so that weaknesses show up before the held-out evaluation:

* music: excerpts of the dev library tracks (``sounds/library/*.ogg``, 22050 Hz), 3-15 s long with about
  40 % of them 3-5 s, starting anywhere loud enough;
* edits: resampled speed 0.7-1.45 ("sped up"/"slowed", pitch moves), time-stretch 0.8-1.2 with pitch kept
  (``librosa.effects.time_stretch``, a phase vocoder), pitch shift +-4 semitones with tempo kept
  (``librosa.effects.pitch_shift``);
* voice-over: the soundtracks of the dev ``speech_only`` queries (decoded from the .mp4), strung together
  with pauses, at music-to-voice -15..+5 dB (RMS over the clip, pauses included);
* noise: the dev ``silence`` queries' ambience recordings (those louder than -50 dBFS) and seeded pink
  noise, at music-to-noise -3..10 dB;
* EQ: phone band-pass 300-3400 Hz, low-pass 2.8 kHz or high-pass 600 Hz; reverb: convolution with an
  exponentially decaying noise impulse response (RT60 0.3-0.9 s); gain -10..+5 dB, 15 ms fades, peaks kept
  under -0.3 dBFS; AAC-LC re-encoding at 48 kbit/s (44.1 kHz mono, MP4 container) through PyAV;
* negatives: excerpts of non-library audio: the dev ``unknown_track`` queries' soundtracks (sometimes with
  extra noise or a speed change), strung-together speech, ambience and pink noise.

Then, for the embeddings (``--feed``, on by default; its videos come after the matching queries,
from a random stream of their own, so the matching queries are the same with or without it):

* sounds with many uses: 3 library tracks used by 10-30 videos each (excerpts, a third sped up
  or slowed 0.85-1.2, some under a voice-over or noise), each video with the picture and camera
  motion of a different dev video (its frames re-encoded) and that video's caption;
* reposts: 20 pairs of an original (a dev video's picture with an excerpt of another library
  track) and a repost of it: the same frames, mirrored half the time, another dev video's
  caption, and the sound of one of the many-use tracks (the case where the sound weighs most).

It writes ``OUT/truth.csv`` in the benchmark's format (``score_sounds.py`` reads it; ``image_id``,
``image_category`` and ``repost_of`` are set for the feed's videos, empty for the audio-only
queries), ``OUT/queries/<qid>.mp4`` and, for the feed's videos, ``<qid>.info.json`` sidecars.
Everything is seeded. Nothing is written into the repository: OUT is a scratch folder.

    python scripts/bench/make_hard_queries.py --out /tmp/hardset [--bench ../shared/bench] [--seed 7]
                                              [--scale 1.0] [--no-feed]
    python scripts/bench/eval_sounds.py --set /tmp/hardset        # score the matching
    python scripts/bench/bench_embed.py --set /tmp/hardset        # score the embeddings
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import av
import librosa
import numpy as np
import soxr
from scipy import signal

from _bench import pink
from reelsense.io import read_audio

ROOT = Path(__file__).resolve().parents[2]
SR = 22050
OUT_SR = 44100
COLUMNS = [
    "qid",
    "sound",
    "source_track",
    "offset_s",
    "clip_s",
    "speed",
    "tempo",
    "pitch_semitones",
    "voice_snr_db",
    "noise_snr_db",
    "eq",
    "reverb",
    "gain_db",
    "codec_kbps",
    "image_id",
    "image_category",
    "kind",
    "repost_of",
]
# kind -> number of queries at --scale 1
POSITIVE_COUNTS = {
    "clean": 15,
    "voice": 25,
    "noise": 25,
    "speed": 25,
    "tempo": 20,
    "pitch": 20,
    "combo": 30,
    "short": 25,
}
NEGATIVE_COUNTS = {"unknown_track": 36, "speech_only": 12, "silence": 12}


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


class Sources:
    """Decoded source audio at 22050 Hz: library tracks, voices, ambiences, unknown tracks."""

    def __init__(self, bench: Path) -> None:
        sounds = bench / "sounds"
        self.tracks = {
            p.stem: read_audio(p, sample_rate=SR).samples for p in sorted((sounds / "library").glob("*.ogg"))
        }
        with (sounds / "truth.csv").open(newline="") as f:
            truth = list(csv.DictReader(f))

        def decode(kind: str) -> list[np.ndarray]:
            rows = [r for r in truth if r["kind"] == kind]
            return [read_audio(sounds / "queries" / f"{r['qid']}.mp4", sample_rate=SR).samples for r in rows]

        self.voices = decode("speech_only")
        self.ambiences = [x for x in decode("silence") if 20 * np.log10(rms(x)) > -50.0]
        self.unknown = decode("unknown_track")
        if not self.tracks or not self.voices or not self.unknown:
            raise SystemExit(f"{bench} lacks library tracks, speech_only or unknown_track queries")

    def voice_track(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Voice lines strung together with 0.2-1.2 s pauses, ``n`` samples."""
        parts: list[np.ndarray] = []
        total = 0
        while total < n:
            v = self.voices[int(rng.integers(len(self.voices)))]
            v = v / (rms(v) + 1e-9)
            pause = np.zeros(int(rng.uniform(0.2, 1.2) * SR), np.float32)
            parts += [v.astype(np.float32), pause]
            total += v.size + pause.size
        out = np.concatenate(parts)
        start = int(rng.integers(0, max(1, out.size - n)))
        return out[start : start + n]

    def noise_track(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
        if self.ambiences and rng.random() < 0.6:
            a = self.ambiences[int(rng.integers(len(self.ambiences)))]
            reps = int(np.ceil(n / a.size)) + 1
            a = np.tile(a, reps)
            start = int(rng.integers(0, a.size - n))
            return a[start : start + n].astype(np.float32), "ambience"
        return pink(rng, n).astype(np.float32), "pink"


def clip_length(rng: np.random.Generator, short: bool) -> float:
    if short:
        return float(rng.uniform(3.0, 5.0))
    return float(rng.uniform(3.0, 5.0)) if rng.random() < 0.3 else float(rng.uniform(5.0, 15.0))


def excerpt(rng: np.random.Generator, x: np.ndarray, seconds: float) -> tuple[np.ndarray, float]:
    """A loud-enough excerpt of ``seconds`` from ``x`` and its start in seconds."""
    n = round(seconds * SR)
    if x.size <= n:
        return np.pad(x, (0, n - x.size)), 0.0
    level = 20 * np.log10(rms(x))
    start = 0
    for _ in range(50):
        start = int(rng.integers(0, x.size - n))
        if 20 * np.log10(rms(x[start : start + n])) > level - 10.0:
            break
    return x[start : start + n], start / SR


def edit(x: np.ndarray, speed: float, tempo: float, pitch: float) -> np.ndarray:
    """Resample by ``speed`` (pitch moves), time-stretch by ``tempo``, shift pitch by ``pitch`` semitones."""
    y = x.astype(np.float32)
    if speed != 1.0:
        y = soxr.resample(y, SR * speed, SR, quality="HQ").astype(np.float32)
    if tempo != 1.0:
        y = librosa.effects.time_stretch(y, rate=tempo).astype(np.float32)
    if pitch != 0.0:
        y = librosa.effects.pitch_shift(y, sr=SR, n_steps=pitch).astype(np.float32)
    return y


def equalise(x: np.ndarray, eq: str) -> np.ndarray:
    if eq == "none":
        return x
    if eq == "phone":
        sos = signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=SR, output="sos")
    elif eq == "lowpass":
        sos = signal.butter(6, 2800.0, btype="lowpass", fs=SR, output="sos")
    else:
        sos = signal.butter(4, 600.0, btype="highpass", fs=SR, output="sos")
    return np.asarray(signal.sosfilt(sos, x), dtype=np.float32)


def reverb(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    rt60 = rng.uniform(0.3, 0.9)
    t = np.arange(int(rt60 * SR)) / SR
    ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60)
    ir[0] = 0.0
    ir /= np.sqrt(np.sum(ir**2))
    wet = signal.fftconvolve(x, ir)[: x.size]
    mix = rng.uniform(0.3, 0.6)
    return np.asarray((1 - mix) * x + mix * wet * rms(x) / (rms(wet) + 1e-9), dtype=np.float32)


def finish(x: np.ndarray, gain_db: float) -> tuple[np.ndarray, float]:
    """Gain, 15 ms fades, peak protection; returns the signal and the net gain applied (dB)."""
    y = x * np.float32(10 ** (gain_db / 20))
    fade = int(0.015 * SR)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    y[:fade] *= ramp
    y[-fade:] *= ramp[::-1]
    peak = float(np.abs(y).max()) + 1e-12
    limit = 10 ** (-0.3 / 20)
    if peak > limit:
        y *= np.float32(limit / peak)
        gain_db += 20 * np.log10(limit / peak)
    return y, gain_db


def write_aac(path: Path, x: np.ndarray, kbps: int) -> None:
    """AAC-LC at ``kbps`` kbit/s, 44.1 kHz mono, in an MP4 container."""
    y = soxr.resample(x, SR, OUT_SR).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=OUT_SR)
        stream.codec_context.layout = "mono"
        stream.codec_context.sample_rate = OUT_SR
        stream.codec_context.bit_rate = kbps * 1000
        chunk = 1024
        for i in range(0, y.size, chunk):
            frame = av.AudioFrame.from_ndarray(y[None, i : i + chunk], format="flt", layout="mono")
            frame.sample_rate = OUT_SR
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def stem_at(music: np.ndarray, other: np.ndarray, snr_db: float) -> np.ndarray:
    """``other`` scaled so that ``music`` is ``snr_db`` above it (RMS over the clip)."""
    return np.asarray(other * np.float32(rms(music) / (rms(other) + 1e-12) / 10 ** (snr_db / 20)))


def positive(rng: np.random.Generator, src: Sources, kind: str) -> tuple[np.ndarray, dict[str, object]]:
    sid = sorted(src.tracks)[int(rng.integers(len(src.tracks)))]
    speed, tempo, pitch = 1.0, 1.0, 0.0
    voice_db: float | None = None
    noise_db: float | None = None
    eq, rev = "none", False
    clip = clip_length(rng, kind == "short")
    if kind == "speed":
        speed = float(np.round(rng.uniform(0.7, 1.45), 3))
    elif kind == "tempo":
        tempo = float(np.round(rng.uniform(0.8, 1.2), 3))
    elif kind == "pitch":
        pitch = float(np.round(rng.choice([-1, 1]) * rng.uniform(0.5, 4.0), 2))
    elif kind == "voice":
        voice_db = float(np.round(rng.uniform(-15.0, 5.0), 1))
    elif kind == "noise":
        noise_db = float(np.round(rng.uniform(-3.0, 10.0), 1))
    elif kind == "short":
        if rng.random() < 0.5:
            voice_db = float(np.round(rng.uniform(-10.0, 5.0), 1))
        else:
            noise_db = float(np.round(rng.uniform(0.0, 10.0), 1))
    elif kind == "combo":
        family = rng.choice(["none", "speed", "speed", "tempo", "pitch"])
        if family == "speed":
            speed = float(np.round(rng.uniform(0.7, 1.45), 3))
        elif family == "tempo":
            tempo = float(np.round(rng.uniform(0.8, 1.2), 3))
        elif family == "pitch":
            pitch = float(np.round(rng.choice([-1, 1]) * rng.uniform(0.5, 4.0), 2))
        voice_db = float(np.round(rng.uniform(-10.0, 5.0), 1))
        noise_db = float(np.round(rng.uniform(0.0, 12.0), 1))
        eq = str(rng.choice(["phone", "lowpass", "highpass", "none"]))
        rev = bool(rng.random() < 0.5) or eq == "none"
    src_seconds = clip * speed * tempo
    music, offset = excerpt(rng, src.tracks[sid], src_seconds)
    x = edit(music, speed, tempo, pitch)
    n = x.size
    noise_kind = ""
    mixed = x.copy()
    if voice_db is not None:
        mixed += stem_at(x, src.voice_track(rng, n), voice_db)
    if noise_db is not None:
        nz, noise_kind = src.noise_track(rng, n)
        mixed += stem_at(x, nz, noise_db)
    mixed = equalise(mixed, eq)
    if rev:
        mixed = reverb(rng, mixed)
    y, gain = finish(mixed, float(rng.uniform(-10.0, 5.0)))
    row: dict[str, object] = {
        "sound": sid,
        "source_track": sid,
        "offset_s": f"{offset:.2f}",
        "clip_s": f"{n / SR:.2f}",
        "speed": speed,
        "tempo": tempo,
        "pitch_semitones": pitch,
        "voice_snr_db": "" if voice_db is None else voice_db,
        "noise_snr_db": "" if noise_db is None else noise_db,
        "eq": eq,
        "reverb": int(rev),
        "gain_db": f"{gain:.2f}",
        "kind": kind,
        "noise_source": noise_kind,
    }
    return y, row


def negative(rng: np.random.Generator, src: Sources, kind: str) -> tuple[np.ndarray, dict[str, object]]:
    clip = clip_length(rng, False)
    n = int(clip * SR)
    source = ""
    noise_db: float | None = None
    speed = 1.0
    if kind == "unknown_track":
        i = int(rng.integers(len(src.unknown)))
        x = src.unknown[i]
        source = f"unknown_query_{i}"
        if rng.random() < 0.3:
            speed = float(np.round(rng.uniform(0.8, 1.3), 3))
            x = soxr.resample(x, SR * speed, SR).astype(np.float32)
        x, _ = excerpt(rng, x, min(clip, x.size / SR))
        if rng.random() < 0.4:
            noise_db = float(np.round(rng.uniform(0.0, 10.0), 1))
            x = x + stem_at(x, src.noise_track(rng, x.size)[0], noise_db)
    elif kind == "speech_only":
        x = src.voice_track(rng, n)
    else:
        x, source = src.noise_track(rng, n)
    y, gain = finish(x.astype(np.float32), float(rng.uniform(-10.0, 5.0)))
    row: dict[str, object] = {
        "sound": "",
        "source_track": source,
        "offset_s": "",
        "clip_s": f"{y.size / SR:.2f}",
        "speed": speed,
        "tempo": 1.0,
        "pitch_semitones": 0.0,
        "voice_snr_db": "",
        "noise_snr_db": "" if noise_db is None else noise_db,
        "eq": "none",
        "reverb": 0,
        "gain_db": f"{gain:.2f}",
        "kind": kind,
        "noise_source": "",
    }
    return y, row


# ---------------------------------------------------------------------------- the feed (embeddings)

FEED_TRACKS = 3
FEED_USES = (10, 30)
FEED_REPOSTS = 20


def new_qid(rng: np.random.Generator) -> str:
    return str(int(rng.integers(7_400_000_000_000_000_000, 7_499_999_999_999_999_999)))


def write_video(path: Path, picture: Path, audio: np.ndarray, kbps: int, mirror: bool) -> float:
    """The frames of ``picture`` (looped or cut to the audio's length, mirrored if asked),
    re-encoded as H.264 with ``audio`` as AAC; returns the duration written."""
    seconds = audio.size / SR
    with av.open(str(picture)) as src:
        vin = src.streams.video[0]
        fps = round(float(vin.average_rate or 24))
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(vin)]
    n = max(1, round(seconds * fps))
    y = soxr.resample(audio, SR, OUT_SR).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = frames[0].shape[1], frames[0].shape[0]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "30", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=OUT_SR)
        sound.codec_context.layout = "mono"
        sound.codec_context.sample_rate = OUT_SR
        sound.codec_context.bit_rate = kbps * 1000
        for i in range(n):
            image = frames[i % len(frames)]
            frame = av.VideoFrame.from_ndarray(image[:, ::-1] if mirror else image, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for i in range(0, y.size, 1024):
            chunk = av.AudioFrame.from_ndarray(y[None, i : i + 1024], format="flt", layout="mono")
            chunk.sample_rate = OUT_SR
            chunk.pts = i
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return n / fps


def feed_use(
    rng: np.random.Generator, src: Sources, sid: str, seconds: float
) -> tuple[np.ndarray, dict[str, object]]:
    """A plain use of library track ``sid``: an excerpt, sometimes re-timed, sometimes under a
    voice-over or noise (what most uses of a trending sound look like)."""
    speed = float(np.round(rng.uniform(0.85, 1.2), 3)) if rng.random() < 0.33 else 1.0
    music, offset = excerpt(rng, src.tracks[sid], seconds * speed)
    x = edit(music, speed, 1.0, 0.0)
    voice_db = float(np.round(rng.uniform(0.0, 10.0), 1)) if rng.random() < 0.4 else None
    noise_db = float(np.round(rng.uniform(5.0, 15.0), 1)) if rng.random() < 0.3 else None
    mixed = x.copy()
    if voice_db is not None:
        mixed += stem_at(x, src.voice_track(rng, x.size), voice_db)
    if noise_db is not None:
        mixed += stem_at(x, src.noise_track(rng, x.size)[0], noise_db)
    y, gain = finish(mixed, float(rng.uniform(-6.0, 3.0)))
    return y, {
        "sound": sid,
        "source_track": sid,
        "offset_s": f"{offset:.2f}",
        "speed": speed,
        "tempo": 1.0,
        "pitch_semitones": 0.0,
        "voice_snr_db": "" if voice_db is None else voice_db,
        "noise_snr_db": "" if noise_db is None else noise_db,
        "eq": "none",
        "reverb": 0,
        "gain_db": f"{gain:.2f}",
    }


def feed(
    rng: np.random.Generator, src: Sources, bench: Path, qdir: Path, kbps: int
) -> list[dict[str, object]]:
    """The feed's videos (module docstring): many uses of 3 sounds, and reposts."""
    sounds = bench / "sounds"
    with (sounds / "truth.csv").open(newline="") as f:
        dev = [r for r in csv.DictReader(f) if not r["repost_of"]]
    # one dev video per picture: every feed video gets a picture no other feed video has, except reposts
    by_image: dict[str, dict[str, str]] = {}
    for r in sorted(dev, key=lambda r: r["qid"]):
        by_image.setdefault(r["image_id"], r)
    pictures = [by_image[k] for k in sorted(by_image)]
    order = list(rng.permutation(len(pictures)))
    tracks = sorted(src.tracks)
    popular = [tracks[i] for i in rng.choice(len(tracks), FEED_TRACKS, replace=False)]
    others = [t for t in tracks if t not in popular]
    rows: list[dict[str, object]] = []

    def make(
        picture: dict[str, str],
        y: np.ndarray,
        row: dict[str, object],
        kind: str,
        caption_of: dict[str, str],
        mirror: bool = False,
        repost_of: str = "",
    ) -> str:
        qid = new_qid(rng)
        seconds = write_video(
            qdir / f"{qid}.mp4", sounds / "queries" / f"{picture['qid']}.mp4", y, kbps, mirror
        )
        info = json.loads((sounds / "queries" / f"{caption_of['qid']}.info.json").read_text(encoding="utf-8"))
        info.update(id=qid, duration=round(seconds, 2))
        (qdir / f"{qid}.info.json").write_text(json.dumps(info), encoding="utf-8")
        row.update(qid=qid, clip_s=f"{seconds:.2f}", codec_kbps=kbps, image_id=picture["image_id"],
                   image_category=picture["image_category"], kind=kind, repost_of=repost_of)  # fmt: skip
        rows.append(row)
        return qid

    take = iter(order)
    for sid in popular:
        for _ in range(int(rng.integers(FEED_USES[0], FEED_USES[1] + 1))):
            picture = pictures[next(take)]
            y, row = feed_use(rng, src, sid, min(float(picture["clip_s"]), float(rng.uniform(5.0, 15.0))))
            make(picture, y, row, "many_uses", picture)
    for _ in range(FEED_REPOSTS):
        picture, caption = pictures[next(take)], pictures[next(take)]
        seconds = min(float(picture["clip_s"]), float(rng.uniform(6.0, 15.0)))
        y, row = feed_use(rng, src, others[int(rng.integers(len(others)))], seconds)
        original = make(picture, y, row, "repost_original", picture)
        y, row = feed_use(rng, src, popular[int(rng.integers(len(popular)))], seconds)
        make(picture, y, row, "repost", caption, mirror=bool(rng.random() < 0.5), repost_of=original)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="scratch folder (not inside the repository)")
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every kind's count")
    ap.add_argument("--kbps", type=int, default=48)
    ap.add_argument("--feed", action=argparse.BooleanOptionalAction, default=True,
                    help="also the videos for the embeddings (many uses of a sound, reposts)")  # fmt: skip
    args = ap.parse_args()
    if args.out.resolve().is_relative_to(ROOT):
        print(f"--out {args.out} is inside the repository; use a scratch folder", file=sys.stderr)
        return 2
    src = Sources(args.bench)
    rng = np.random.default_rng(args.seed)
    qdir = args.out / "queries"
    qdir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, Callable[..., tuple[np.ndarray, dict[str, object]]]]] = []
    for kind, count in POSITIVE_COUNTS.items():
        jobs += [(kind, positive)] * max(1, round(count * args.scale))
    for kind, count in NEGATIVE_COUNTS.items():
        jobs += [(kind, negative)] * max(1, round(count * args.scale))
    order = rng.permutation(len(jobs))
    rows = []
    for j in order:
        kind, make = jobs[j]
        y, row = make(rng, src, kind)
        qid = str(int(rng.integers(7_400_000_000_000_000_000, 7_499_999_999_999_999_999)))
        write_aac(qdir / f"{qid}.mp4", y, args.kbps)
        row.update(qid=qid, codec_kbps=args.kbps, image_id="", image_category="", repost_of="")
        rows.append(row)
    if args.feed:
        rows += feed(np.random.default_rng([args.seed, 1]), src, args.bench, qdir, args.kbps)
    with (args.out / "truth.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "noise_source"], extrasaction="ignore")
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: str(r["qid"])))
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[str(r["kind"])] = kinds.get(str(r["kind"]), 0) + 1
    print(f"wrote {len(rows)} queries to {args.out}: {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
