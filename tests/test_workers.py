"""Worker pools: one compute thread per child; CPU counts that respect affinity and quotas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reelsense import _workers
from reelsense._workers import available_cpus, process_pool


def _blas_threads() -> int:
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((64, 64)) @ np.ones((64, 64))  # the BLAS library is loaded and used
    return max((pool["num_threads"] for pool in threadpool_info()), default=1)


def _set_env(name: str, value: str) -> None:
    os.environ[name] = value


def _get_env(name: str) -> str | None:
    return os.environ.get(name)


def test_pool_children_run_one_blas_thread() -> None:
    with process_pool(1, "spawn") as pool:
        assert pool.submit(_blas_threads).result() == 1


def test_pool_runs_the_callers_initializer_too() -> None:
    with process_pool(1, "spawn", initializer=_set_env, initargs=("RS_T", "1")) as pool:
        assert pool.submit(_get_env, "RS_T").result() == "1"


def test_available_cpus_within_the_affinity_mask() -> None:
    n = available_cpus()
    assert 1 <= n <= (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("cpu_max", "expected"), [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000", 2)]
)
def test_cgroup_v2_quota(monkeypatch: pytest.MonkeyPatch, cpu_max: str, expected: int | None) -> None:
    real = Path.read_text

    def fake(self: Path, *args: object, **kwargs: object) -> str:
        if str(self) == "/sys/fs/cgroup/cpu.max":
            return cpu_max
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", fake)
    assert _workers._cgroup_cpu_limit() == expected


def test_cap_threads_lowers_blas_pools_to_the_available_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    before = {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}
    monkeypatch.setattr(_workers, "available_cpus", lambda: 1)
    try:
        threadpool_limits(limits=3)  # pools larger than the quota (the suite runs on one)
        assert all(pool["num_threads"] == 3 for pool in threadpool_info())
        _workers.cap_threads_to_available_cpus()
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        threadpool_limits(limits=before)  # per internal API (openblas, openmp, ...)


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def test_pool_children_start_torch_on_one_thread() -> None:
    """torch imported after the initializer (as the stages do) starts with one thread."""
    with process_pool(1, "spawn") as pool:
        assert pool.submit(_torch_threads).result() == 1


_ORPHAN_SCRIPT = """
import os, sys, time
from reelsense._workers import process_pool

def pid_and_wait(_):
    return os.getpid()

def hang(_):
    time.sleep(600)

if __name__ == "__main__":
    pool = process_pool(2, sys.argv[1])
    pids = sorted(set(pool.map(pid_and_wait, range(8))))
    for _ in range(2):
        pool.submit(hang, None)
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with Path(f"/proc/{pid}/stat").open(encoding="ascii") as handle:
            return handle.read().split(") ")[-1][:1] not in ("Z", "X")  # a zombie has exited
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_workers_exit_when_their_parent_is_killed(tmp_path: Path, start_method: str) -> None:
    """A parent killed outright (SIGKILL) cannot stop its workers: they notice and exit."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "orphans.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    parent = subprocess.Popen(
        [sys.executable, str(script), start_method], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers and all(_alive(pid) for pid in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 120.0  # a liveness bound, not a speed figure: they exit at once
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"
