"""Compile the sound kernels in several processes at once, the first time a machine needs them.

numba compiles a kernel of :mod:`reelsense.sounds._kernels` or :mod:`reelsense.sounds._stft` the
first time it is called with new argument types, and keeps the machine code in its cache (beside
the source, or in numba's user cache directory), so that later processes load it. Compiling all
of them takes many seconds of one core (docs/benchmarks.md, *Start-up of the command line*),
which a fresh machine, container or Ray node paid on its first fingerprint and its first search,
in every process that started before the cache held them (each worker of a pool compiled the
same kernels at the same time).

:func:`ensure_compiled` is called once per process by the entries of that work (the spectrogram
and the reference triplets for ``"fingerprint"``; a query's preparation and the search for
``"match"``), and by :func:`reelsense.sounds.index.prepare_kernels` before work that will search.
When the cache does not hold the group's kernels yet, it compiles them in up to
:data:`MAX_PROCESSES` child processes at once (each compiling a share of :data:`SIGNATURES`
through :func:`main`), one per CPU this process may use, and waits for them; the kernels are
then loaded from the cache. A lock file makes the other processes of the machine wait for that
instead of compiling the same kernels, and a marker file, named after everything numba's cache
depends on (numba's version, the kernels' source files, the processor), records that it was
done. It changes no result: the
kernels are the same code, compiled for the same argument types. With one CPU, without numba
(``REELSENSE_NUMBA=0``) or when the cache cannot be written, nothing is done and numba compiles
each kernel at its first call, as before; with ``NUMBA_DISABLE_JIT=1`` nothing is compiled.

The argument types are those the kernels are called with, recorded by
``scripts/dev/kernel_signatures.py`` into :mod:`reelsense.sounds._kernel_signatures`; a call
with types not listed there still works (numba compiles it then). ``tests/sounds/test_warmup.py``
checks that a fingerprint and a search compile nothing after :func:`ensure_compiled`.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from reelsense._workers import available_cpus
from reelsense.sounds import _kernels, _stft
from reelsense.sounds._kernel_signatures import SIGNATURES

__all__ = ["GROUPS", "MAX_PROCESSES", "ensure_compiled", "entries", "parse_signature", "shares"]

log = logging.getLogger(__name__)

#: The kernel groups: those a fingerprint calls, and the rest of those a search calls.
GROUPS = ("fingerprint", "match")
#: At most this many compiling processes.
MAX_PROCESSES = 8
#: A child still compiling after this long is stopped (numba then compiles what is left lazily).
_TIMEOUT_SECONDS = 900.0
_MODULES = {"_kernels": _kernels, "_stft": _stft}
#: What a child runs (``-c`` rather than ``-m``: the package imports this module first).
_CHILD = "import sys; from reelsense.sounds._warmup import main; sys.exit(main(sys.argv[1:]))"


def entries(group: str) -> tuple[tuple[str, str, float], ...]:
    """The ``(kernel, signature, compile seconds)`` entries of ``group``: a search's kernels are
    the fingerprint's (its query is fingerprinted) and those recorded for ``"match"``."""
    if group not in SIGNATURES:
        raise ValueError(f"group={group!r} is not one of {GROUPS}")
    if group == "match":
        return SIGNATURES["fingerprint"] + SIGNATURES["match"]
    return SIGNATURES[group]


def _dispatcher(name: str) -> Any:
    """The numba dispatcher ``"<module>.<kernel>"`` (module ``_kernels`` or ``_stft``)."""
    module, _, kernel = name.partition(".")
    return getattr(_MODULES[module], kernel)


def _type_names() -> dict[str, Any]:
    from numba import types

    names: dict[str, Any] = {"bool": types.boolean}
    for n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"):
        names[n] = getattr(types, n)
    return names


def parse_signature(text: str) -> tuple[Any, ...]:
    """The numba argument types written as ``text``: a tuple of the types' ``repr`` (what
    ``scripts/dev/kernel_signatures.py`` records), e.g. ``"(Array(float32, 1, 'C', True,
    aligned=True), int64, Literal[int](0))"``. Only numba's constructors of arrays, tuples and
    literals and the scalar names are read: nothing is evaluated. Raises ValueError on anything
    else."""
    from numba import types

    scalars = _type_names()

    def build(node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id in scalars:
            return scalars[node.id]
        if isinstance(node, ast.Tuple):
            return tuple(build(e) for e in node.elts)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool | int | str):
            return node.value
        if isinstance(node, ast.Call):
            args = [build(a) for a in node.args]
            kwargs = {k.arg: build(k.value) for k in node.keywords if k.arg is not None}
            func = node.func
            if isinstance(func, ast.Name) and func.id == "Array" and not set(kwargs) - {"aligned"}:
                dtype, ndim, layout, readonly = args
                aligned = kwargs.get("aligned", True)
                return types.Array(dtype, ndim, layout, readonly=readonly, aligned=aligned)
            if isinstance(func, ast.Name) and func.id == "UniTuple" and not kwargs:
                return types.UniTuple(*args)
            if isinstance(func, ast.Name) and func.id == "Tuple" and not kwargs:
                return types.Tuple(*args)
            if (
                isinstance(func, ast.Subscript)
                and isinstance(func.value, ast.Name)
                and func.value.id == "Literal"
                and isinstance(func.slice, ast.Name)
                and len(args) == 1
            ):
                if func.slice.id == "int" and type(args[0]) is int:
                    return types.IntegerLiteral(args[0])
                if func.slice.id == "bool" and type(args[0]) is bool:
                    return types.BooleanLiteral(args[0])
        raise ValueError(f"not a numba type this reader knows: {ast.unparse(node)!r}")

    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"signature {text!r} is not a tuple of numba types: {exc}") from None
    if not isinstance(tree, ast.Tuple):
        raise ValueError(f"signature {text!r} is not a tuple of numba types")
    result: tuple[Any, ...] = build(tree)
    return result


def shares(group: str, count: int) -> list[list[tuple[str, str]]]:
    """The group's ``(kernel, signature)`` entries split among ``count`` processes: the most
    costly first, each to the process with the least work so far (by the compile seconds
    recorded with them); entries of a kernel stay in one process, in their recorded order."""
    by_kernel: dict[str, list[tuple[str, str, float]]] = {}
    for name, text, seconds in entries(group):
        by_kernel.setdefault(name, []).append((name, text, seconds))
    work = sorted(by_kernel.values(), key=lambda items: (-sum(e[2] for e in items), items[0][0]))
    loads = [0.0] * max(1, count)
    out: list[list[tuple[str, str]]] = [[] for _ in loads]
    for items in work:
        i = loads.index(min(loads))
        out[i].extend((name, text) for name, text, _ in items)
        loads[i] += sum(e[2] for e in items)
    return [share for share in out if share]


def _source_stamp() -> list[object]:
    stamp: list[object] = []
    for module in _MODULES.values():
        st = Path(module.__file__ or "").stat()
        stamp += [module.__name__, st.st_mtime_ns, st.st_size]
    return stamp


def _marker_name(group: str) -> str:
    """The marker file's name for ``group``: a digest of what numba's cached code depends on."""
    import llvmlite.binding as llvm
    import numba

    key = [
        numba.__version__,
        sys.version,
        _source_stamp(),
        llvm.get_process_triple(),
        llvm.get_host_cpu_name(),
        llvm.get_host_cpu_features().flatten(),
        os.environ.get("NUMBA_CPU_NAME", ""),
        os.environ.get("NUMBA_CPU_FEATURES", ""),
        sorted(entries(group)),
    ]
    digest = hashlib.sha256(repr(key).encode("utf-8")).hexdigest()[:24]
    return f"reelsense-kernels-{group}-{digest}.done"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (waits for another process holding it)."""
    import fcntl

    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _compile_in_children(group: str, processes: int) -> bool:
    """Compile ``group`` in ``processes`` children; True when every child finished."""
    count = len(shares(group, processes))
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = "1"
    log.info("compiling the %s kernels once for this machine, in %d processes", group, count)
    began = time.monotonic()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, group, str(i), str(count)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        for i in range(count)
    ]
    finished = True
    for child in children:
        try:
            _, err = child.communicate(timeout=max(1.0, _TIMEOUT_SECONDS - (time.monotonic() - began)))
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            finished = False
            continue
        if child.returncode != 0:  # > 0: entries that failed (compiled at their first call then)
            log.warning(
                "compiling the %s kernels ahead: a process ended with %d: %s",
                group,
                child.returncode,
                err.decode("utf-8", "replace").strip()[-500:],
            )
        if child.returncode < 0:  # stopped by a signal: its share may not be in the cache
            finished = False
    log.info("compiled the %s kernels in %.1f s", group, time.monotonic() - began)
    return finished


@functools.cache
def ensure_compiled(group: str, processes: int | None = None) -> None:
    """Make sure numba's cache holds the kernels of ``group`` (one of :data:`GROUPS`), compiling
    them in ``processes`` child processes at once when it does not (see the module's docstring;
    None: one per CPU this process may use, at most :data:`MAX_PROCESSES`, and nothing with one
    CPU, where compiling each kernel at its first call costs no more). Once per process and
    ``processes``; never raises for the compiling itself (what failed is logged and numba
    compiles it at its first call). ``"match"`` holds the fingerprint's kernels too: once it is
    done, so is ``"fingerprint"``; a caller that will search calls it before its first
    fingerprint, so that all are compiled in one round."""
    work = entries(group)
    if processes is None:
        processes = min(available_cpus(), MAX_PROCESSES)
        if processes < 2:
            return
    elif type(processes) is not int or processes < 1:
        raise ValueError(f"processes={processes!r} must be an integer >= 1 or None")
    if not _kernels.AVAILABLE or not work:
        return
    try:
        cache_dir = _cache_dir()
        if cache_dir is None:
            return
        # the search's kernels include the fingerprint's: either marker says these are there
        markers = [cache_dir / _marker_name(g) for g in GROUPS[GROUPS.index(group) :]]
        if any(m.exists() for m in markers):
            return
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(cache_dir / "reelsense-kernels.lock"):
            if any(m.exists() for m in markers):  # another process compiled them while this one waited
                return
            if _compile_in_children(group, processes):
                for g in GROUPS[: GROUPS.index(group) + 1]:
                    (cache_dir / _marker_name(g)).touch()
    except (OSError, ImportError, RuntimeError) as exc:  # RuntimeError: llvmlite's processor query
        log.debug("the %s kernels are compiled at their first call: %s", group, exc)


def _cache_dir() -> Path | None:
    """numba's cache folder for the kernels (beside their source, or numba's user cache); None
    when they are not compiled (``NUMBA_DISABLE_JIT=1`` leaves them Python functions)."""
    stats = getattr(_kernels.local_search, "stats", None)
    return None if stats is None else Path(str(stats.cache_path))


def _compile_share(group: str, index: int, count: int) -> int:
    """Compile share ``index`` of ``count`` of ``group``; the number of entries that failed."""
    failed = 0
    for name, text in shares(group, count)[index]:
        try:
            _dispatcher(name).compile(parse_signature(text))
        except Exception as exc:  # a stale entry must not stop the others
            failed += 1
            log.warning("could not compile %s%s: %s", name, text, exc)
    return failed


def main(argv: Sequence[str]) -> int:
    """A child's entry (``argv``: GROUP INDEX COUNT): compile one share; the exit status is the
    number of entries that failed (at most 100)."""
    if len(argv) != 3 or argv[0] not in SIGNATURES:
        raise ValueError(f"expected GROUP INDEX COUNT with GROUP one of {GROUPS}, got {list(argv)}")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return min(100, _compile_share(argv[0], int(argv[1]), int(argv[2])))
