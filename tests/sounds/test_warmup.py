"""Compiling the sound kernels ahead, in parallel (:mod:`reelsense.sounds._warmup`): the recorded
argument types, how they are split among processes, and, in fresh processes with an empty numba
cache, that a fingerprint and a search then compile nothing themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelsense.errors import ParameterError, ReelsenseError
from reelsense.sounds import _kernels, _stft, _warmup
from reelsense.sounds._kernel_signatures import SIGNATURES
from reelsense.sounds._warmup import GROUPS, ensure_compiled, entries, parse_signature, shares
from reelsense.sounds.index import prepare_kernels

_MODULES = {"_kernels": _kernels, "_stft": _stft}


def test_groups_are_recorded_and_a_search_compiles_the_fingerprint_too() -> None:
    assert set(SIGNATURES) == set(GROUPS)
    fingerprint = [(n, t) for n, t, _ in entries("fingerprint")]
    match = [(n, t) for n, t, _ in entries("match")]
    assert fingerprint and match[: len(fingerprint)] == fingerprint and len(match) > len(fingerprint)
    assert len(set(match)) == len(match)  # no entry twice


@pytest.mark.parametrize("group", GROUPS)
def test_every_entry_names_a_public_kernel_and_reads_back_to_its_text(group: str) -> None:
    for name, text, seconds in entries(group):
        module, _, kernel = name.partition(".")
        assert kernel in _MODULES[module].__all__, name
        if _kernels.AVAILABLE:
            assert hasattr(getattr(_MODULES[module], kernel), "compile"), name
        types = parse_signature(text)
        assert "(" + "".join(f"{t!r}, " for t in types).rstrip() + ")" == text
        assert seconds >= 0.0


@pytest.mark.parametrize(
    "text",
    [
        "int64",  # not a tuple
        "(__import__('os'),)",
        "(Array(float32, 1, 'C', False, evil=True),)",
        "(Literal[str]('x'),)",
        "(Literal[int](True),)",
        "(float16x,)",
        "(int64,",
    ],
)
def test_parse_signature_reads_only_numba_types(text: str) -> None:
    with pytest.raises(ValueError, match=r"numba type|tuple of numba types"):
        parse_signature(text)


def test_unknown_group_is_refused() -> None:
    with pytest.raises(ValueError, match="group='spectrum'"):
        ensure_compiled("spectrum")


@given(st.sampled_from(GROUPS), st.integers(min_value=1, max_value=12))
def test_shares_hold_each_entry_once_and_keep_a_kernel_together(group: str, count: int) -> None:
    parts = shares(group, count)
    assert 1 <= len(parts) <= count
    flat = [entry for part in parts for entry in part]
    assert sorted(flat) == sorted((n, t) for n, t, _ in entries(group))
    owners = {name: {i for i, part in enumerate(parts) for n, _ in part if n == name} for name, _ in flat}
    assert all(len(o) == 1 for o in owners.values())
    recorded = [(n, t) for n, t, _ in entries(group)]
    for part in parts:  # a kernel's entries in their recorded order
        for name in {n for n, _ in part}:
            mine = [e for e in part if e[0] == name]
            assert mine == [e for e in recorded if e[0] == name]


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba's kernels are switched off")
@pytest.mark.parametrize(
    ("calls", "finished", "rounds", "markers"),
    [
        # a search's round holds the fingerprint's: no second round for it
        (["match", "fingerprint", "match"], True, ["match"], ["fingerprint", "match"]),
        # a fingerprint's round first: the search still needs its own
        (["fingerprint", "match", "fingerprint"], True, ["fingerprint", "match"], ["fingerprint", "match"]),
        # a round stopped before its end marks nothing: the next process tries again
        (["fingerprint", "fingerprint"], False, ["fingerprint", "fingerprint"], []),
    ],
)
def test_markers_decide_which_rounds_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    calls: list[str],
    finished: bool,
    rounds: list[str],
    markers: list[str],
) -> None:
    ran: list[tuple[str, int]] = []

    def compile_in_children(group: str, processes: int) -> bool:
        ran.append((group, processes))
        return finished

    monkeypatch.setattr(_warmup, "_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(_warmup, "available_cpus", lambda: 3)
    monkeypatch.setattr(_warmup, "_compile_in_children", compile_in_children)
    try:
        for group in calls:
            ensure_compiled.cache_clear()  # each call as a new process's first
            ensure_compiled(group)
    finally:
        ensure_compiled.cache_clear()
    assert ran == [(group, 3) for group in rounds]
    assert sorted(p.name.split("-")[2] for p in tmp_path.glob("cache/*.done")) == markers


def test_one_cpu_compiles_ahead_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, int]] = []
    monkeypatch.setattr(_warmup, "available_cpus", lambda: 1)
    monkeypatch.setattr(_warmup, "_cache_dir", lambda: tmp_path)
    monkeypatch.setattr(_warmup, "_compile_in_children", lambda group, n: ran.append((group, n)) or True)
    try:
        ensure_compiled.cache_clear()
        ensure_compiled("match")  # as a search does: nothing ahead with one CPU
        assert ran == []
        prepare_kernels(processes=1)  # asked for: one process compiles them all
    finally:
        ensure_compiled.cache_clear()
    assert ran == ([("match", 1)] if _kernels.AVAILABLE else [])


def test_numba_jit_disabled_fingerprints_without_compiling_ahead(tmp_path: Path) -> None:
    """``NUMBA_DISABLE_JIT=1`` (numba's debugging switch) leaves the kernels Python functions:
    nothing is compiled ahead, and the entries work as before."""
    code = textwrap.dedent(
        """
        import numpy as np
        from reelsense.sounds import _warmup
        from reelsense.sounds.fingerprint import FingerprintParams, log_spectrogram

        _warmup.available_cpus = lambda: 2
        _warmup.ensure_compiled("match")
        x = np.random.default_rng(0).standard_normal(2000).astype(np.float32)
        print(log_spectrogram(x, 11025, FingerprintParams()).shape)
        """
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "NUMBA_CACHE_DIR": os.fspath(tmp_path)}
    env.pop("REELSENSE_NUMBA", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(tmp_path.rglob("reelsense-kernels-*"))


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba's kernels are switched off")
def test_a_bad_index_fails_before_compiling_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What will search compiles ahead only once its index opened: a bad one fails at once."""
    from reelsense.featurize._audio_stages import index_digest
    from reelsense.sounds import discover_sounds
    from reelsense.sounds.index import match_files

    ran: list[str] = []
    monkeypatch.setattr(_warmup, "_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(_warmup, "available_cpus", lambda: 2)
    monkeypatch.setattr(_warmup, "_compile_in_children", lambda group, n: ran.append(group) or True)
    bad = tmp_path / "bad.rsidx"
    bad.write_bytes(b"not an index")
    video = tmp_path / "a.mp4"
    video.write_bytes(b"")
    try:
        ensure_compiled.cache_clear()
        with pytest.raises(ReelsenseError):
            list(match_files(bad, [video]))
        with pytest.raises(ReelsenseError):
            index_digest(bad)
        with pytest.raises(ReelsenseError):
            discover_sounds([video], sound_index=bad)
    finally:
        ensure_compiled.cache_clear()
    assert ran == []


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba's kernels are switched off")
def test_discovery_builds_a_missing_search_file_after_one_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prebuilt index whose search file is missing: discovery compiles every kernel in one
    round before it builds that file (which fingerprints the references), not in two."""
    from reelsense.sounds import SoundIndex, discover_sounds
    from reelsense.sounds.discover import AudioClip

    rate = 11025
    tone = np.sin(2 * np.pi * np.geomspace(300.0, 3000.0, 8 * rate) * np.arange(8 * rate) / rate)
    clip = (0.3 * tone * np.random.default_rng(3).uniform(0.5, 1.0, tone.size)).astype(np.float32)
    ran: list[str] = []
    monkeypatch.setattr(_warmup, "available_cpus", lambda: 2)
    monkeypatch.setattr(_warmup, "_compile_in_children", lambda group, n: ran.append(group) or True)
    path = tmp_path / "lib.rsidx"
    try:
        monkeypatch.setattr(_warmup, "_cache_dir", lambda: tmp_path / "build")
        ensure_compiled.cache_clear()
        with SoundIndex.create(path) as index:
            index.add_array("a", clip, rate)
            search = index.search_path
        search.unlink(missing_ok=True)
        monkeypatch.setattr(_warmup, "_cache_dir", lambda: tmp_path / "fresh")  # another machine
        ensure_compiled.cache_clear()
        ran.clear()
        discover_sounds([AudioClip("v", clip, rate)], sound_index=path)
    finally:
        ensure_compiled.cache_clear()
    assert search.exists()
    assert ran == ["match"]


@pytest.mark.parametrize("processes", [0, -2, 1.5, "2", True])
def test_prepare_kernels_refuses_a_bad_process_count(processes: object) -> None:
    with pytest.raises(ParameterError, match=f"processes={processes!r}"):
        prepare_kernels(processes=processes)  # type: ignore[arg-type]


# A fingerprint of two reference tunes, then a search for a piece of one and for noise, in a
# process told it has 2 CPUs; prints how many kernel signatures it compiled itself.
_WORK = textwrap.dedent(
    """
    import json, logging, sys
    import numpy as np
    from reelsense.sounds import _kernels, _stft, _warmup
    from reelsense.sounds.index import SoundIndex

    _warmup.available_cpus = lambda: 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    rate = 22050

    def tune(seed, seconds):
        rng = np.random.default_rng(seed)
        out = np.zeros(int(seconds * rate))
        for onset in np.sort(rng.uniform(0, seconds - 0.5, int(seconds * 6))):
            n = int(rng.uniform(0.1, 0.5) * rate)
            t = np.arange(n) / rate
            f = 220.0 * 2.0 ** (rng.integers(-6, 30) / 12.0)
            s = int(onset * rate)
            piece = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.2)
            out[s : s + n] += piece[: out.size - s]
        return (0.3 * out / np.abs(out).max()).astype(np.float32)

    noise = np.random.default_rng(9).standard_normal(10 * rate).astype(np.float32) * 0.05
    with SoundIndex.create(sys.argv[1]) as index:
        index.add_array("a", tune(1, 40), rate)
        index.add_array("b", tune(2, 40), rate)
    with SoundIndex.open(sys.argv[1], readonly=True) as index:
        hit = index.match(tune(1, 40)[5 * rate : 15 * rate] + noise, rate)
        miss = index.match(noise, rate)
    compiled = {}
    for short, module in (("_kernels", _kernels), ("_stft", _stft)):
        for name in module.__all__:
            stats = getattr(getattr(module, name), "stats", None)
            if stats is not None and sum(stats.cache_misses.values()):
                compiled[short + "." + name] = sum(stats.cache_misses.values())
    print(json.dumps({"hit": [m.sound_id for m in hit], "miss": len(miss), "compiled": compiled}))
    """
)


def _run(cache: Path, index: Path) -> tuple[dict[str, object], str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": os.fspath(cache)}
    env.pop("REELSENSE_NUMBA", None)
    done = subprocess.run(
        [sys.executable, "-c", _WORK, os.fspath(index)], capture_output=True, text=True, env=env, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, done.stderr


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba's kernels are switched off")
def test_fresh_cache_is_filled_in_parallel_and_searches_compile_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    first, log = _run(cache, tmp_path / "a.rsidx")
    assert first == {"hit": ["a"], "miss": 0, "compiled": {}}, log[-3000:]
    for group in GROUPS:
        assert f"compiling the {group} kernels once for this machine, in 2 processes" in log
    markers = sorted(p.name.split("-")[2] for p in cache.rglob("reelsense-kernels-*.done"))
    assert markers == sorted(GROUPS)
    # a second process finds the markers: it compiles nothing, ahead or itself
    second, log = _run(cache, tmp_path / "b.rsidx")
    assert second == first
    assert "compiling the" not in log


_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba's kernels are switched off")
def test_recorded_entries_are_those_the_examples_use() -> None:
    """``scripts/dev/kernel_signatures.py --check``: the bundled examples, indexed, searched and
    discovered in one process, call the kernels with exactly the recorded argument types."""
    done = subprocess.run(
        [sys.executable, os.fspath(_ROOT / "scripts" / "dev" / "kernel_signatures.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is up to date" in done.stderr
