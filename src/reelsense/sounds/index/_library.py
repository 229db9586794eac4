"""The index file for what a user names as ``--sound-index`` / ``sound_index=``: an index
file as is, or a folder (or one media file) of reference sounds indexed on the fly."""

from __future__ import annotations

import logging
import os
import shutil
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
    workdir = tempfile.mkdtemp(prefix="reelsense-sounds-")
    try:
        yield build_sound_index(source, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
