"""The index file for what a user names as ``--sound-index`` / ``sound_index=``: an index
file as is, or a folder (or one media file) of reference sounds indexed on the fly.

An index built on the fly lives in a temporary folder (``reelsense-sounds-*``) that its run
deletes when it ends. A run killed outright (SIGKILL, the OOM killer) cannot; the next one
removes it. The run holds a lock (``flock``) on the folder's ``.in-use`` file for as long as
it uses the folder, so a folder whose lock nobody holds is an orphan, whatever process ids
the machine reuses and however long the run has been going.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reelsense._workers import available_cpus
from reelsense.errors import NoMediaError, ParameterError
from reelsense.io import MEDIA_EXTENSIONS, media_ids
from reelsense.sounds.index._index import SoundIndex, prepare_kernels

__all__ = ["build_sound_index", "needs_indexing", "sound_index_file"]

log = logging.getLogger(__name__)

#: the name prefix of the temporary folders of indexes built on the fly
WORKDIR_PREFIX = "reelsense-sounds-"
#: the file of such a folder that its run holds locked while it uses the folder
_IN_USE = ".in-use"


def needs_indexing(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is reference media (a folder, or one audio/video file) rather than an
    index file."""
    path = Path(source)
    return path.is_dir() or path.suffix.lower() in MEDIA_EXTENSIONS


def build_sound_index(source: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> str:
    """The path of a sound index for ``source``: an index file as is; a folder (or one media
    file) of reference sounds is indexed into ``workdir`` first, with the ids
    ``reelsense sounds add`` gives (:func:`reelsense.io.media_ids`). A reference that cannot be
    indexed is left out with a warning; none indexable raises
    :class:`~reelsense.errors.ParameterError`."""
    path = Path(source)
    if not path.exists():
        raise ParameterError(f"sound index {os.fspath(source)!r} does not exist")
    if not needs_indexing(path):
        return os.fspath(path)
    try:
        found = media_ids([path])
    except NoMediaError:
        raise ParameterError(f"no audio or video files under {os.fspath(source)!r} to index") from None
    files = [f.path for _, f in found]
    prepare_kernels()  # the index is built to be searched: all the kernels in one round
    target = Path(workdir) / "sounds.rsidx"
    failed: list[str] = []

    def done(file: str, error: Exception | None) -> None:
        if error is not None:  # the rest of the library is still used: say what is left out
            log.warning("reference sound %s is left out of the index: %s", file, error)
            failed.append(f"{file}: {error}")

    with SoundIndex.create(target) as index:
        workers = 1 if len(files) <= 8 else max(1, min(8, available_cpus()))
        index.add_many(files, [sid for sid, _ in found], workers=workers, on_done=done)
        if not len(index):
            raise ParameterError(
                f"none of the {len(files)} files under {os.fspath(source)!r} could be indexed "
                f"({'; '.join(failed[:3])})"
            )
        log.info("indexed %d reference sounds from %s", len(index), source)
    return os.fspath(target)


@contextmanager
def sound_index_file(source: str | os.PathLike[str]) -> Iterator[str]:
    """Yield the path of an index file for ``source`` (see :func:`build_sound_index`); an index
    built from reference media lives in a temporary folder deleted on exit."""
    if not needs_indexing(source):
        yield build_sound_index(source, ".")  # an index file as is; a missing one raises
        return
    remove_orphaned_workdirs(tempfile.gettempdir())
    workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
    lock = _hold(workdir)
    try:
        yield build_sound_index(source, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def _hold(workdir: str) -> int | None:
    """Lock ``workdir``'s ``.in-use`` for this process; the open descriptor (None where the
    platform has no ``flock``). The file is locked under another name and then renamed, so
    that ``.in-use`` is never seen unlocked while its run is alive."""
    try:
        import fcntl
    except ImportError:  # Windows: no sweep, nothing to hold
        return None
    staging = Path(workdir) / (_IN_USE + ".new")
    fd = os.open(staging, os.O_CREAT | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    staging.replace(Path(workdir) / _IN_USE)
    return fd


def remove_orphaned_workdirs(root: str | os.PathLike[str]) -> list[str]:
    """Remove the folders ``root/reelsense-sounds-*`` of this user that runs killed outright
    left behind: those whose ``.in-use`` file no process holds locked. A folder without that
    file (being made now, or from a version before it) is left. Returns the folders removed."""
    try:
        import fcntl
    except ImportError:
        return []
    removed = []
    for folder in sorted(Path(root).glob(WORKDIR_PREFIX + "*")):
        try:
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            fd = os.open(folder / _IN_USE, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
        except OSError:  # gone meanwhile, another user's, or no lock file
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its run is alive
            os.close(fd)
            continue
        try:
            log.info("removing %s: the temporary sound index of a run that was killed", folder)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(os.fspath(folder))
        finally:
            os.close(fd)
    return removed
