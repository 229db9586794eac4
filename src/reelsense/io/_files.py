"""Opening only regular files, with bounded reads.

A FIFO, a character device (``/dev/zero``) or a socket named like an index, a sidecar or
a cache would block an ``open`` or a ``read`` forever, or never end. Everything reelsense
reads goes through :func:`regular_file_size` (before a library opens the path itself,
as SQLite and FFmpeg do) or :func:`read_regular_file` (open without blocking, check the
opened file, read at most a given number of bytes).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reelsense._checks import check_int, check_path
from reelsense.errors import ReelsenseError

__all__ = [
    "TMP_PREFIX",
    "NotRegularFileError",
    "file_kind",
    "fsync_path",
    "read_regular_file",
    "regular_file_size",
    "replacing",
]

#: the name prefix of :func:`replacing`'s temporaries (``.tmp-<name>-<pid>``)
TMP_PREFIX = ".tmp-"


class NotRegularFileError(ReelsenseError, OSError):
    """The path exists but is not a regular file (FIFO, device, socket, folder). An OSError, as
    opening it would raise, and a ReelsenseError, as every error reelsense raises."""


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words (``a FIFO (named pipe)``...)."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _not_regular(path: str | os.PathLike[str], mode: int) -> NotRegularFileError:
    return NotRegularFileError(f"{os.fspath(path)!r} is {file_kind(mode)}, not a regular file (not opened)")


def regular_file_size(path: str | os.PathLike[str]) -> int:
    """Size in bytes of the regular file at ``path`` (links followed). Raises
    FileNotFoundError when absent, NotRegularFileError when it is anything else, and
    ParameterError when ``path`` is not a path."""
    st = Path(check_path(path, "path")).stat()
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    return st.st_size


def read_regular_file(path: str | os.PathLike[str], *, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``. It is opened without blocking (a FIFO
    cannot hold the open), checked on the open descriptor, and read to at most
    ``max_bytes``: a larger file raises OSError naming the limit. Raises ParameterError when
    ``path`` is not a path or ``max_bytes`` not an integer >= 0."""
    check_path(path, "path")
    max_bytes = check_int(max_bytes, "max_bytes", minimum=0)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode)
        if st.st_size > max_bytes:
            raise OSError(f"{os.fspath(path)!r} is {st.st_size} bytes, more than the {max_bytes} read")
        chunks = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise OSError(f"{os.fspath(path)!r} grew past the {max_bytes} bytes read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def fsync_path(path: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Flush a file's (or with ``directory``, a folder's entries') data to the disk. Best
    effort: where a platform cannot open or sync it (a folder on Windows), nothing happens."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` (``.tmp-<name>-<pid>``) to write a whole output to.

    When the block ends normally the temporary replaces ``path`` in one rename, so a reader,
    or a run interrupted while writing, sees the old file or the new one, never a part of
    one. The temporary is synced to the disk before the rename and the folder after it, so
    that a power loss, too, leaves the old file or the new one whole. When the block raises
    (``KeyboardInterrupt`` included) the temporary is removed and ``path`` is left as it was.
    Nest two to write a pair of files: both temporaries are whole before either is renamed.
    """
    target = Path(path)
    tmp = target.with_name(f"{TMP_PREFIX}{target.name}-{os.getpid()}")
    try:
        yield tmp
        fsync_path(tmp)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(target.parent, directory=True)
