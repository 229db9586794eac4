"""Worker-process pools that run one compute thread per process.

Every process pool in reelsense (the embed job's decoders, sound-index adds and matches,
discovery fingerprinting) parallelises across processes. Each child otherwise starts its
own OpenBLAS/OpenMP pool and torch intra-op pool sized to the machine, so ``N`` workers
on ``N`` cores run ``N * N`` spinning threads. On a 2-core machine with 2 embed workers
this livelocked OpenBLAS's busy-waiting threads inside a 64 x 1025 float32 matmul: a
clean 9-video run took minutes instead of seconds, and on a CI machine with a larger
visible CPU count it never finished. :func:`process_pool` therefore wraps the pool
initializer so that each child limits BLAS/OpenMP (through ``threadpoolctl``) and torch
to one thread before doing anything else. Its workers, and the command line, also end
without the interpreter's last garbage collections (:func:`skip_collection_at_exit`).
"""

from __future__ import annotations

import ast
import atexit
import gc
import logging
import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, TypeVar

from reelsense.errors import ParameterError

__all__ = [
    "abandon_pool",
    "available_cpus",
    "cap_threads_to_available_cpus",
    "default_workers",
    "kill_workers",
    "limit_threads_in_worker",
    "map_surviving",
    "one_torch_thread",
    "process_pool",
    "skip_collection_at_exit",
    "worker_died_message",
]

logger = logging.getLogger(__name__)


def _cgroup_cpu_limit() -> int | None:
    """The CPU quota of this process's cgroup (v2 ``cpu.max`` or v1 CFS), rounded up."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text("ascii").split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text("ascii"))
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text("ascii"))
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def available_cpus() -> int:
    """CPUs this process may really use: the affinity mask, capped by a cgroup CPU quota
    (a container's ``--cpus``), which ``os.cpu_count()`` ignores. Sizes the default worker
    and thread counts, so a 2-CPU container on a 64-core host does not start 64 threads."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    return max(1, min(n, limit) if limit else n)


def default_workers() -> int:
    """Worker processes by default, in every command: the CPUs this process may use, at most 8."""
    return max(1, min(8, available_cpus()))


def limit_threads_in_worker() -> None:
    """Limit this process's BLAS/OpenMP pools and torch to one thread each.

    Meant for pool children: call it from a worker, never from the user's process (the
    setting is process-wide). torch is limited only when already imported, so a worker that
    never needs torch does not pay for importing it.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def cap_threads_to_available_cpus() -> None:
    """Lower this process's BLAS/OpenMP pools to :func:`available_cpus` where they are
    larger (they size themselves from the host's CPU count, blind to a container's CPU
    quota). For processes reelsense owns: the CLI calls it at start-up; a library user's
    process is left alone."""
    from threadpoolctl import threadpool_info, threadpool_limits

    cpus = available_cpus()
    if any(pool.get("num_threads", 1) > cpus for pool in threadpool_info()):
        threadpool_limits(limits=cpus)


_ONE_WORKER_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_TORCH_LIMITED = False


def one_torch_thread() -> None:
    """Run torch on one thread in this (worker) process: imports torch, once per process.
    For stages whose small operators gain nothing from an OpenMP pool, in processes that
    :func:`process_pool` did not start (Ray workers, a caller's executor)."""
    global _TORCH_LIMITED
    if not _TORCH_LIMITED:
        import torch

        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        _TORCH_LIMITED = True


_SKIP_REGISTERED = False


def skip_collection_at_exit() -> None:
    """End this process without the interpreter's last garbage collections.

    While it shuts down, Python runs cyclic garbage collections over every object still
    alive. In a process that imported torch (and transformers) those walks over millions of
    objects are a visible part of a short command's time, spent on memory the OS takes back
    anyway. An ``atexit`` handler freezes the objects alive then (:func:`gc.freeze`), so those
    collections skip them. The other ``atexit`` handlers and ``weakref.finalize`` callbacks
    still run, and objects freed by reference counting are still finalized; the ``__del__`` of
    objects kept alive only by a reference cycle is not run. So it is called only in the
    processes reelsense owns (the command line, pool workers), which close their files and
    indexes explicitly. Registered once per process."""
    global _SKIP_REGISTERED
    if not _SKIP_REGISTERED:
        atexit.register(gc.freeze)
        _SKIP_REGISTERED = True


def exit_with_parent() -> None:
    """End this worker process as soon as the process that started it is gone.

    A parent killed outright (SIGKILL, the out-of-memory killer) cannot stop its workers, and a
    worker blocked on a pipe to it would wait forever, holding the job's terminal or pipe open.
    A daemon thread waits on the parent's sentinel (a pipe the parent holds; it becomes ready
    when the parent exits, for ``spawn`` and ``forkserver`` children alike) and exits at once."""
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:
        return

    def watch() -> None:
        wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="reelsense-parent-watch", daemon=True).start()


@dataclass(frozen=True)
class _ChildLogging:
    """What a spawned child needs to log as this process does (see :func:`_parent_logging`)."""

    root_level: int
    #: ``{name: level}`` of ``reelsense`` (its effective level: ``-q`` sets ERROR, ``-v``
    #: INFO) and of every ``reelsense.*`` logger given a level of its own
    levels: tuple[tuple[str, int], ...]
    #: the level and formatter of the root's handler on stderr; no formatter when there is none
    handler_level: int = logging.NOTSET
    formatter: logging.Formatter | None = None


def _parent_logging() -> _ChildLogging:
    """This process's logging as a spawned child can take it: the root logger's level,
    reelsense's levels, and the level and formatter of the root's first handler writing to
    stderr (a plain ``logging.Formatter`` when that formatter is a subclass, which the child
    might not be able to import, or does not pickle)."""
    root = logging.getLogger()
    levels = [("reelsense", logging.getLogger("reelsense").getEffectiveLevel())]
    for name, item in sorted(logging.root.manager.loggerDict.items()):
        if name.startswith("reelsense.") and isinstance(item, logging.Logger) and item.level:
            levels.append((name, item.level))
    stream = next(
        (h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.stream is sys.stderr), None
    )
    if stream is None:
        return _ChildLogging(root.level, tuple(levels))
    kept = stream.formatter
    formatter = kept if kept is not None and type(kept) is logging.Formatter else logging.Formatter()
    try:
        pickle.dumps(formatter)
    except Exception:  # e.g. a converter set to a lambda
        formatter = logging.Formatter()
    return _ChildLogging(root.level, tuple(levels), stream.level, formatter)


def _configure_child_logging(config: _ChildLogging) -> None:
    """Apply :func:`_parent_logging`'s answer in a spawned child, which starts with logging
    unconfigured: without this a worker's warnings bypassed ``-q`` and its info ``-v``."""
    root = logging.getLogger()
    root.setLevel(config.root_level)
    for name, level in config.levels:
        logging.getLogger(name).setLevel(level)
    if config.formatter is not None and not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(config.handler_level)
        handler.setFormatter(config.formatter)
        root.addHandler(handler)


def _init_worker(
    initializer: Callable[..., None] | None,
    initargs: tuple[Any, ...],
    parent_logging: _ChildLogging | None = None,
) -> None:
    # Ctrl-C goes to the whole process group: the parent stops the work and kills its
    # workers, so a child has nothing to print (no traceback per worker)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_logging is not None:
        _configure_child_logging(parent_logging)
    exit_with_parent()
    for name in _ONE_WORKER_THREAD_ENV:  # read by torch and OpenMP when imported later here
        os.environ[name] = "1"
    limit_threads_in_worker()
    skip_collection_at_exit()  # the pool's shutdown waits for its workers to end
    if initializer is not None:
        initializer(*initargs)


def _is_main_test(test: ast.expr) -> bool:
    """Whether an ``if`` test holds only when ``__name__ == "__main__"``: that comparison (either
    order), or an ``and`` of which it is one operand (``... and other``); an ``or``, a ``not``
    or any other test does not guarantee it."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_is_main_test(value) for value in test.values)
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def _guarded_lines(source: str) -> list[tuple[int, int]]:
    """Line ranges of the bodies of the ``if __name__ == "__main__":`` blocks of a module's top
    level, found also inside its compound statements (``try:``, ``with``, another ``if``...), not
    inside function or class definitions (their lines run when called, from a line checked
    itself). Only the body is guarded, not an ``else:``."""
    ranges: list[tuple[int, int]] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if isinstance(node, ast.If) and _is_main_test(node.test) and node.body:
                ranges.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    visit(inner)
            for handler in getattr(node, "handlers", []):  # try/except
                visit(handler.body)
            for case in getattr(node, "cases", []):  # match
                visit(case.body)

    visit(ast.parse(source).body)
    return ranges


def check_main_guard() -> None:
    """Refuse to start worker processes from a script whose top level would start them again.

    Worker processes are started with ``spawn`` (or a fork server): each child imports the
    main script again, so a script that starts them at its top level, outside an
    ``if __name__ == "__main__":`` block, would make every child start its own workers
    (Python stops that, and every video would fail). This looks at the line of the main
    script that led here and raises ParameterError, before any work, when it is not inside
    such a block. Interactive sessions, ``python -c`` and notebooks are not affected.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or multiprocessing.parent_process() is not None:
        return
    line = None
    frame = sys._getframe(1)
    while frame is not None:  # the outermost frame of the main module's top level
        if frame.f_globals is main.__dict__ and frame.f_code.co_name == "<module>":
            line = frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    if line is None:
        return
    try:
        source = Path(path).read_text(encoding="utf-8")
        guarded = _guarded_lines(source)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return
    if not any(start <= line <= end for start, end in guarded):
        raise ParameterError(
            f"{path}, line {line}, starts reelsense's worker processes at the top level of the script. "
            "Worker processes import the script again, so put the call under "
            'if __name__ == "__main__": (see the README, "Worker processes and the `__main__` guard")'
        )


def process_pool(
    workers: int,
    start_method: str,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> ProcessPoolExecutor:
    """A :class:`ProcessPoolExecutor` of ``workers`` children started with ``start_method``
    (``"spawn"`` or ``"forkserver"``), each limited to one compute thread before
    ``initializer(*initargs)`` runs. The children log at this process's levels and, when
    its root logger has a stream handler, with that handler's formatter on stderr."""
    check_main_guard()
    logger.debug("starting %d %s worker processes", workers, start_method)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(start_method),
        initializer=_init_worker,
        initargs=(initializer, initargs, _parent_logging()),
    )


T = TypeVar("T")
R = TypeVar("R")

#: items lost one after another, each alone in a fresh pool, before the pool is taken to be
#: what fails (an initializer that cannot start, no memory for any child) and the error raised
_LOST_IN_A_ROW = 3


def _apply_all(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(job) for job in chunk]


def kill_workers(pool: Executor) -> None:
    """Kill the processes of a :class:`ProcessPoolExecutor` (a hung decoder cannot be
    cancelled; ``kill_workers`` exists from Python 3.14, ``_processes`` before)."""
    kill = getattr(pool, "kill_workers", None)
    if callable(kill):
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def abandon_pool(pool: Executor) -> None:
    """Give up a pool that broke (a worker died) or hung: kill its workers, then shut it down
    without waiting. Its manager thread joins every worker it knows of, and a worker that a
    submit started while the pool was breaking is one it never terminates: the interpreter's
    exit then waited on that idle worker forever. Killing them all here leaves none behind."""
    kill_workers(pool)
    pool.shutdown(wait=False, cancel_futures=True)


def worker_died_message(where: str) -> str:
    """The error message of an item whose worker process died on it (the one wording of
    every pool: embed's rows, the sound index's adds and matches, discovery's rows)."""
    return f"the worker process died while processing {where!r}"


def map_surviving(
    fn: Callable[[T], R],
    jobs: Sequence[T],
    new_pool: Callable[[], ProcessPoolExecutor],
    lost: Callable[[T], R],
    *,
    chunksize: int = 1,
    window: int = 2,
) -> Generator[R, None, None]:
    """``map(fn, jobs)`` in input order, in pools made by ``new_pool``, that survives a worker
    process dying (a decoder crash, the OOM killer): one bad file never stops the batch.

    At most ``window`` chunks of ``chunksize`` jobs are in flight. When the pool breaks, a new
    one re-runs the jobs that were in flight one at a time; a job that breaks a pool alone
    gives ``lost(job)`` in its place. When :data:`_LOST_IN_A_ROW` jobs in a row are lost so,
    the pool itself is what fails, and BrokenExecutor is raised. The pool is shut down when
    the iterator ends or is closed."""
    queue = deque(list(range(s, min(s + chunksize, len(jobs)))) for s in range(0, len(jobs), chunksize))
    pending: deque[tuple[list[int], Future[list[R]]]] = deque()
    suspects: set[int] = set()
    lost_in_a_row = 0
    pool = new_pool()
    try:
        while queue or pending:
            cap = 1 if suspects else window
            while queue and len(pending) < cap:
                try:
                    future = pool.submit(_apply_all, fn, [jobs[k] for k in queue[0]])
                except BrokenExecutor:  # found broken before a result said so
                    break
                pending.append((queue.popleft(), future))
            try:
                if not pending:
                    raise BrokenExecutor("the pool broke with nothing in flight")
                results = pending[0][1].result()
            except BrokenExecutor:
                in_flight = [k for chunk, _ in pending for k in chunk]
                pending.clear()
                abandon_pool(pool)
                pool = new_pool()
                if len(in_flight) == 1 and in_flight[0] in suspects:  # it broke a pool alone
                    lost_in_a_row += 1
                    if lost_in_a_row >= _LOST_IN_A_ROW:
                        raise
                    suspects.discard(in_flight[0])
                    logger.warning("a worker process died on item %d again: it is given up", in_flight[0])
                    yield lost(jobs[in_flight[0]])
                    continue
                if in_flight:
                    logger.warning("a worker process died; re-running %d items one at a time", len(in_flight))
                suspects.update(in_flight)
                queue.extendleft([k] for k in reversed(in_flight))
                continue
            chunk, _ = pending.popleft()
            suspects.difference_update(chunk)
            lost_in_a_row = 0
            yield from results
    finally:
        pool.shutdown(cancel_futures=True)  # as leaving a ``with`` block of the pool would
