"""Worker pools: one compute thread per child; CPU counts that respect affinity and quotas."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from concurrent.futures import BrokenExecutor
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import pytest

from reelsense import _workers
from reelsense._workers import available_cpus, map_surviving, process_pool


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


class _Cycle:
    """Garbage kept alive only by a reference cycle, writing to ``path`` when it is finalized
    (``os.write`` is held: the builtins may be gone by then)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        self.write = os.write
        self.me = self

    def __del__(self) -> None:
        self.write(self.fd, b"collected")


def _leave_cycle(path: str) -> None:
    import gc

    gc.disable()  # only the collections while the process ends could find it
    _Cycle(path)


def _child_handlers() -> tuple[int, list[tuple[int, str]]]:
    import logging

    handlers = [(h.level, getattr(h.formatter, "_fmt", "")) for h in logging.getLogger().handlers]
    return logging.getLogger("reelsense.io").getEffectiveLevel(), handlers


def _in_child_under(
    handler: logging.Handler, root_level: int, io_level: int = logging.NOTSET
) -> tuple[int, list[tuple[int, str]]]:
    """:func:`_child_handlers` in a spawned pool child, with ``handler`` the only handler of
    this process's root logger (an earlier test's, such as the CLI's own, may still be there)
    at ``root_level`` and ``reelsense.io`` at ``io_level`` meanwhile."""
    root, io_logger = logging.getLogger(), logging.getLogger("reelsense.io")
    levels, handlers = (root.level, io_logger.level), root.handlers[:]
    root.handlers = [handler]
    root.setLevel(root_level)
    io_logger.setLevel(io_level)
    try:
        with process_pool(1, "spawn") as pool:
            return pool.submit(_child_handlers).result()
    finally:
        root.handlers = handlers
        root.setLevel(levels[0])
        io_logger.setLevel(levels[1])


def test_pool_children_log_at_the_parents_level_and_format() -> None:
    """``-q`` (ERROR) and the CLI's format reach the workers: a spawned child starts with
    logging unconfigured, so a worker's warnings ignored ``-q``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    child_level, handlers = _in_child_under(handler, logging.ERROR)
    assert child_level == logging.ERROR
    assert handlers == [(logging.NOTSET, "%(levelname)s %(name)s: %(message)s")]


def test_pool_children_keep_a_library_callers_handler_level_and_logger_levels() -> None:
    """A caller logging DEBUG to a file and WARNING to stderr, with ``reelsense.io`` at ERROR
    and a formatter that does not pickle: the child's stderr handler stays at WARNING,
    ``reelsense.io`` at ERROR, and the pool starts (a plain formatter instead)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    unpicklable = logging.Formatter("%(levelname)s|%(message)s")
    unpicklable.converter = lambda seconds: time.gmtime(seconds)  # type: ignore[method-assign,assignment]
    handler.setFormatter(unpicklable)
    child_io_level, handlers = _in_child_under(handler, logging.DEBUG, logging.ERROR)
    assert child_io_level == logging.ERROR
    assert handlers == [(logging.WARNING, "%(message)s")]  # the plain formatter


def test_pool_workers_end_without_the_last_collection(tmp_path: Path) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    plain, ours = tmp_path / "plain", tmp_path / "ours"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(_leave_cycle, str(plain)).result()
    assert plain.read_bytes() == b"collected"  # what a plain child does as it ends
    with process_pool(1, "spawn") as pool:
        pool.submit(_leave_cycle, str(ours)).result()
    assert ours.exists() and ours.read_bytes() == b""  # ours skipped that walk


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
def test_workers_exit_when_their_parent_is_killed(
    tmp_path: Path, start_method: str, killed_child_env: dict[str, str]
) -> None:
    """A parent killed outright (SIGKILL) cannot stop its workers: they notice and exit."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "orphans.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    parent = subprocess.Popen(
        [sys.executable, str(script), start_method],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=killed_child_env,
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


_CALL = "check_main_guard()"
_GUARDED = {
    "plain": f'if __name__ == "__main__":\n    {_CALL}\n',
    "reversed": f'if "__main__" == __name__:\n    {_CALL}\n',
    "inside try": (
        f'try:\n    if __name__ == "__main__":\n        {_CALL}\nexcept KeyboardInterrupt:\n    pass\n'
    ),
    "and": f'import sys\nif __name__ == "__main__" and len(sys.argv) >= 1:\n    {_CALL}\n',
    "and first": f'if True and __name__ == "__main__":\n    {_CALL}\n',
    "with": (
        "import contextlib\nwith contextlib.suppress(KeyError):\n"
        f'    if __name__ == "__main__":\n        {_CALL}\n'
    ),
    "nested if": f'import sys\nif sys.argv:\n    if __name__ == "__main__":\n        {_CALL}\n',
    "function called": f'def main():\n    {_CALL}\n\nif __name__ == "__main__":\n    main()\n',
}
_UNGUARDED = {
    "top level": f"{_CALL}\n",
    "or": f'if __name__ == "__main__" or True:\n    {_CALL}\n',
    "not": f'if not __name__ != "__main__":\n    {_CALL}\n',
    "else": f'if __name__ != "__main__":\n    pass\nelse:\n    {_CALL}\n',
    "inside try": f"try:\n    {_CALL}\nexcept KeyboardInterrupt:\n    pass\n",
    "a variable": f'main = __name__ == "__main__"\nif main:\n    {_CALL}\n',
    "function at top level": f"def main():\n    {_CALL}\n\nmain()\n",
}


def _run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(f"from reelsense._workers import check_main_guard\n{body}", encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=os.environ.copy()
    )


@pytest.mark.parametrize("name", sorted(_GUARDED))
def test_guarded_scripts_are_accepted(tmp_path: Path, name: str) -> None:
    done = _run_script(tmp_path, _GUARDED[name])
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", sorted(_UNGUARDED))
def test_unguarded_calls_are_refused_pointing_to_the_readme_section(tmp_path: Path, name: str) -> None:
    done = _run_script(tmp_path, _UNGUARDED[name])
    assert done.returncode != 0 and "ParameterError" in done.stderr
    section = re.search(r'see the README, "([^"]+)"', done.stderr)
    assert section is not None, done.stderr
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"\n## {section.group(1)}\n" in readme


_DIE = "__import__('os')._exit(7)"  # a job that kills its worker process, as a decoder crash would


def _spawned(workers: int = 2) -> Any:
    return lambda: process_pool(workers, "spawn")


def test_map_surviving_gives_the_lost_job_its_own_result_and_keeps_the_others() -> None:
    """One job kills its worker: the jobs in flight beside it are re-run one at a time and
    finish; the job that kills a worker again, alone, gets ``lost(job)``; order is kept."""
    jobs = ["1 + 1", "2 * 3", _DIE, "'x' * 2", "len('abc')", "7"]
    lost: list[str] = []

    def on_lost(job: str) -> object:
        lost.append(job)
        return "lost"

    results = list(map_surviving(eval, jobs, _spawned(), on_lost, chunksize=2, window=2))
    assert results == [2, 6, "lost", "xx", 3, 7]
    assert lost == [_DIE]


def test_map_surviving_stops_when_every_job_kills_its_worker() -> None:
    """Jobs lost one after another mean the pool itself fails (an initializer that cannot
    start, no memory for any child): the error is raised, not a lost row per job."""
    with pytest.raises(BrokenExecutor):
        list(map_surviving(eval, [_DIE] * 6, _spawned(1), lambda job: "lost"))


def test_an_abandoned_pool_leaves_no_worker_behind() -> None:
    """A broken or hung pool is given up with its workers killed: CPython's manager thread of a
    pool shut down without waiting joins every worker it knows of, and one started by a submit
    while the pool was breaking was never terminated, so the interpreter's exit waited on it
    forever (seen at the end of a test run)."""
    pool = _spawned(2)()
    busy = [pool.submit(eval, "__import__('time').sleep(600)") for _ in range(2)]
    workers = list(pool._processes.values())  # type: ignore[attr-defined]
    assert workers and not any(f.done() for f in busy)
    _workers.abandon_pool(pool)
    # a worker's sentinel is ready once it has ended; not exitcode, which reads None when the
    # pool's manager thread reaps the process first (both join the same Process object)
    sentinels = [process.sentinel for process in workers]
    ended: list[object] = []
    while len(ended) < len(sentinels):
        ready = wait([s for s in sentinels if s not in ended], timeout=60)  # bounds a failure only
        assert ready, "a worker of the abandoned pool is still running"
        ended += ready
