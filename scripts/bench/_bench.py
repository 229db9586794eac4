"""Helpers shared by the benchmark scripts (not part of the library): CPU-time accounting,
the command line in a child process, a decode-only worker stage, and synthetic noise and
babble for negatives and mixtures."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from reelsense.io import DecodedMedia

if TYPE_CHECKING:
    from reelsense.sounds.discover import DiscoveryParams


@contextmanager
def work_folder(path: Path | None) -> Iterator[Path]:
    """``path`` (created, and kept after) or, for None, a temporary folder removed after."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory() as scratch:
        yield Path(scratch)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children (workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_cli(args: Sequence[str]) -> tuple[float, float]:
    """Run ``python -m reelsense ARGS`` in a child process to the end (output captured, a
    failure raises); its wall seconds and its CPU seconds, with the workers it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "reelsense", *args], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def descendants() -> list[int]:
    """This process and its live descendants (pids, from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    out, todo = [], [os.getpid()]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process, its live descendants (a warm worker
    pool's processes) and its reaped children, so a difference of two readings counts
    workers that outlive the measured run."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = [proc_cpu_seconds(pid) for pid in descendants()]  # this process first
    return kids.ru_utime + kids.ru_stime + sum(c for c in live if c is not None)


@dataclass(frozen=True)
class DecodeOnly:
    """A worker stage that asks for audio and frames and computes nothing."""

    name: str = "decode_only"
    version: int = 1
    needs_audio: bool = True
    needs_frames: bool = True

    @property
    def fields(self) -> tuple[pa.Field, ...]:
        return ()

    def options(self) -> dict[str, Any]:
        return {}

    def process(self, media: DecodedMedia) -> dict[str, Any]:
        return {}


def pink(rng: np.random.Generator, n: int, power: float = 1.0) -> np.ndarray:
    """``n`` samples of 1/f**power noise (1: pink, 2: brown), not normalised, float64."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.maximum(np.arange(spec.size), 1) ** (power / 2)
    return np.fft.irfft(spec, n)


def babble(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """Speech-like harmonic glides with syllable-rate amplitude modulation and pauses."""
    t = np.arange(n) / sample_rate
    f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.random() * 6)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = sum(np.sin(h * phase) / h for h in range(1, 15))
    voiced = rng.random(n // sample_rate + 1)[t.astype(int)] > 0.25
    env = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t), 0, None) * voiced
    out: np.ndarray = (x * env).astype(np.float32)
    return out


def discovery_params(spec: str) -> DiscoveryParams:
    """Engine options from ``"clustering=components,music_filter=0,library=residual"`` (any
    :class:`~reelsense.sounds.discover.DiscoveryParams` field; ``""`` or ``default``: the defaults)."""
    import dataclasses

    from reelsense.sounds.discover import DiscoveryParams

    kwargs: dict[str, Any] = {}
    if spec not in ("", "default"):
        types = {f.name: f.type for f in dataclasses.fields(DiscoveryParams)}
        for item in spec.split(","):
            name, _, value = item.partition("=")
            name = name.strip()
            if name not in types:
                raise SystemExit(f"unknown discovery option {name!r} (options: {', '.join(types)})")
            kind = str(types[name])
            if kind.startswith("bool"):
                kwargs[name] = value.strip().lower() in ("1", "true", "yes", "on")
            elif kind.startswith("int"):
                kwargs[name] = int(value)
            elif kind.startswith("float"):  # "auto" where the option allows it (join_score)
                kwargs[name] = "auto" if value.strip() == "auto" else float(value)
            else:
                kwargs[name] = value.strip()
    return DiscoveryParams(**kwargs)


class ProcSampler(threading.Thread):
    """Samples CPU time and peak RSS (VmHWM) of this process and all its descendants from
    /proc every ``interval`` s (worker pools are started by a fork server, so their usage
    does not reach RUSAGE_CHILDREN). The last samples of short-lived workers may be missed
    by up to ``interval`` of CPU."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.cpu: dict[int, float] = {}
        self.hwm: dict[int, float] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        for pid in descendants():
            cpu = proc_cpu_seconds(pid)
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if cpu is None:
                continue
            self.cpu[pid] = cpu
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.hwm[pid] = max(self.hwm.get(pid, 0.0), int(line.split()[1]) / 1024)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def cpu_seconds(self) -> float:
        """CPU seconds of this process and its descendants seen so far."""
        return sum(self.cpu.values())
