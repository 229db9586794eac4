"""Finding media files under the inputs of a batch, and giving each a stable id.

Walking (:func:`walk_media`):

- an input may be a file (always taken, whatever its extension: the user named it) or a
  folder, searched recursively for files whose lower-cased extension is in
  ``extensions`` (default :data:`reelsense.io.MEDIA_EXTENSIONS`);
- entries whose name starts with ``.`` are skipped (``.git``, macOS ``._clip.mp4``
  resource forks) unless ``include_hidden``;
- symbolic links are followed, but a folder whose real path was already visited is not
  entered again (no loops, no double counting), and a file reached twice (two inputs,
  or a link to a file already found) is listed once, where it was first found;
- the order is deterministic: inputs in the order given, then names sorted by code point
  within each folder, files before sub-folders.

Ids (:func:`assign_video_ids`): a video's id is the id its sidecar gives when it gives
one, otherwise its path relative to its input root, with ``/`` separators and without
the extension (``trips/day1/clip``; a file given directly gets its stem). A name that is
not valid UTF-8 is carried with the escape of :func:`reelsense.io.path_text` (``bad\xff``).
Ids must be unique in a batch. When several files claim the same id, each of them gets its
extension appended as spelled (``clip.mp4``, ``clip.webm``, ``clip.MP4``: the same stem
in two formats, or two copies of one sidecar id); if that is still not unique (the same
relative path under two input roots, or a sidecar claiming another video's id and
extension), each of them gets ``~`` and the first 8 hex digits of the SHA-256 of its
escaped absolute path (``clip.mp4~3fa2c1d0``): stable across runs as long as the files
stay where they are. Either way a warning names the files and the batch goes on.

Entries that are not regular files or folders (FIFOs, sockets, devices, dangling symbolic
links) but carry a media extension are listed too, so that decoding gives them an error
row saying what they are instead of skipping them without a word; nothing is ever opened
while walking.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from reelsense._checks import check_bool, check_path, check_paths
from reelsense.errors import NoMediaError, ParameterError, SidecarError
from reelsense.io._sidecar import _ID_DROPPED, _find_sidecar, _stem_sibling
from reelsense.io._text import path_text
from reelsense.io._types import MEDIA_EXTENSIONS

__all__ = ["MediaFile", "assign_video_ids", "check_inputs", "media_ids", "normalize_extensions", "walk_media"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class MediaFile:
    """One file found by :func:`walk_media`.

    ``path``: absolute path (symbolic links not resolved); ``root``: the input it was
    found under (absolute); ``relative_path``: ``path`` relative to ``root`` with ``/``
    separators (the file name when the input was the file itself).
    """

    path: str
    root: str
    relative_path: str

    @property
    def default_id(self) -> str:
        """The id the file gets without a sidecar id: ``relative_path`` without extension,
        escaped by :func:`reelsense.io.path_text` when it is not valid UTF-8."""
        rel = PurePosixPath(self.relative_path)
        return path_text(str(rel.with_name(rel.stem)) if rel.suffix else str(rel))


def normalize_extensions(extensions: Iterable[str] | None) -> frozenset[str]:
    """Lower-case extensions with a leading dot (``"MP4"`` -> ``".mp4"``); None: the default set."""
    if extensions is None:
        return MEDIA_EXTENSIONS
    check_paths(extensions, "extensions", "extension")
    out = set()
    for ext in extensions:
        if not isinstance(ext, str):
            raise ParameterError(f"extension {ext!r} must be a str, got {type(ext).__name__}")
        clean = ext.strip().lower()
        if not clean or clean in {".", "*"}:
            raise ParameterError(f"extension {ext!r} is empty")
        out.add(clean if clean.startswith(".") else "." + clean)
    if not out:
        raise ParameterError("extensions must name at least one extension")
    return frozenset(out)


def check_inputs(inputs: Iterable[T], name: str = "inputs", item: str = "file or folder") -> list[T]:
    """The inputs of a batch as a list, for the caller to use instead of ``inputs`` (an
    iterator is listed once, here). Refuses what cannot be the inputs of a batch: a single
    path (it would be walked as its characters), something not iterable, no inputs at all,
    an empty iterator included (ParameterError naming it and what ``item`` it needs at least
    one of). The items are left to the caller."""
    check_paths(inputs, name)
    listed = list(inputs)
    if not listed:
        shown = inputs if isinstance(inputs, Sized) else listed  # not an iterator's address
        raise ParameterError(f"{name}={shown!r} is empty: no {name} given; pass at least one {item}")
    return listed


def walk_media(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    extensions: Iterable[str] | None = None,
    include_hidden: bool = False,
) -> list[MediaFile]:
    """Media files under ``inputs`` (see the module docstring). Raises ParameterError for an
    input that does not exist, for a single path given instead of a list of them, and for an
    ``include_hidden`` that is not True or False."""
    check_paths(inputs, "inputs")
    exts = normalize_extensions(extensions)
    include_hidden = check_bool(include_hidden, "include_hidden")  # "no" would take the dot-files
    at: dict[str, int] = {}  # real path -> its place in ``found``
    seen_dirs: set[str] = set()
    found: list[MediaFile] = []

    def add(media: MediaFile) -> None:
        """One entry per real file: a link to a file found before is skipped, and the file's
        own path replaces a link to it (or a path through a link to its folder) found first:
        its row keeps the file's name, whatever the order of the inputs."""
        real = os.path.realpath(media.path)
        if real not in at:
            at[real] = len(found)
            found.append(media)
            return
        kept = found[at[real]]
        if _link_rank(media.path) < _link_rank(kept.path):
            log.info("%s and the link %s are one file: the file's own path is kept", media.path, kept.path)
            found[at[real]] = media
        elif kept.path != media.path:
            log.info("skipping %s: the same file as %s", media.path, kept.path)

    for given in inputs:
        check_path(given, "inputs item")  # None or a number failed inside pathlib
        root_path = Path(os.path.normpath(Path(given).absolute()))
        root = str(root_path)
        if root_path.is_file() or ((root_path.exists() or root_path.is_symlink()) and not root_path.is_dir()):
            add(MediaFile(root, root, root_path.name))
            continue
        if not root_path.is_dir():
            raise ParameterError(f"input {os.fspath(given)!r} does not exist (or is not a file or folder)")
        for path in _walk_dir(root, exts, include_hidden, seen_dirs):
            add(MediaFile(path, root, Path(os.path.relpath(path, root)).as_posix()))
    return found


def _link_rank(path: str) -> tuple[bool, int]:
    """Which of two paths to one file names it better (the smaller): a path whose last part is
    the file rather than a link to it, then the one through fewer links (the file and each
    folder above it that is a symbolic link)."""
    p = Path(path)
    return p.is_symlink(), sum(q.is_symlink() for q in (p, *p.parents))


def _walk_dir(top: str, exts: frozenset[str], include_hidden: bool, seen_dirs: set[str]) -> Iterator[str]:
    """Files under ``top`` in order: a folder's files, then its sub-folders depth first
    (an explicit stack, so deep trees cannot exhaust Python's recursion limit)."""
    stack = [top]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen_dirs:
            log.debug("not entering %s again (real path %s already visited)", folder, real)
            continue
        seen_dirs.add(real)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list folder %s: %s", folder, exc)
            continue
        subdirs = []
        for entry in entries:
            if not include_hidden and entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(entry.path)
            elif Path(entry.name).suffix.lower() in exts:
                # regular files, and also FIFOs, devices and dangling links: their decode
                # fails at once with an error row naming what they are
                yield entry.path
        stack.extend(reversed(subdirs))


def assign_video_ids(
    files: Sequence[MediaFile], sidecar_ids: Sequence[str | None], *, known: Mapping[str, str] | None = None
) -> list[str]:
    """Unique ids for ``files``: ``sidecar_ids[i]`` when not None, else the default id.

    Clashing ids get the extension appended, then a short digest of the path (see the
    module docstring), with a warning; the result is unique and the same on every run.
    ``known``: ``{path: id}`` an earlier run gave (``path`` as :func:`path_text` writes it; a
    resume): such a file keeps its id, and a file added since that claims the same id is the
    one renamed, so adding inputs never changes the id of a row already written.

    Raises ParameterError when an argument is not a sequence (``known``: a mapping or None),
    the two sequences differ in length, or two files would get one id.
    """
    for value, name in ((files, "files"), (sidecar_ids, "sidecar_ids")):
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            raise ParameterError(f"{name}={value!r:.80} must be a sequence, got {type(value).__name__}")
    if known is not None and not isinstance(known, Mapping):
        raise ParameterError(f"known={known!r:.80} must be a mapping (path: id), got {type(known).__name__}")
    if len(files) != len(sidecar_ids):
        raise ParameterError(f"got {len(files)} files but {len(sidecar_ids)} sidecar ids")
    ids = [sid if sid else f.default_id for f, sid in zip(files, sidecar_ids, strict=True)]
    kept: set[int] = set()
    if known:
        for i, f in enumerate(files):
            earlier = known.get(path_text(f.path))
            if earlier is not None:
                ids[i] = earlier
                kept.add(i)
    claimed = _clashes(ids)
    suffix = [path_text(Path(f.path).suffix) for f in files]
    _separate(ids, lambda i: ids[i] + suffix[i], kept)
    _separate(ids, lambda i: f"{ids[i]}~{_path_digest(files[i].path)}", kept)
    for vid, members in claimed.items():  # one warning per clash, with the ids finally given
        log.warning(
            "video id %r is claimed by %d files (%s); using %s",
            vid,
            len(members),
            ", ".join(path_text(files[i].path) for i in members),
            ", ".join(ids[i] for i in members),
        )
    final: dict[str, int] = {}
    for i, vid in enumerate(ids):
        if vid in final:  # two files with one path digest: the same file listed twice
            raise ParameterError(
                f"video id {vid!r} would be given to both {path_text(files[final[vid]].path)!r} "
                f"and {path_text(files[i].path)!r}"
            )
        final[vid] = i
    return ids


def _path_digest(path: str) -> str:
    return hashlib.sha256(path_text(path).encode("utf-8")).hexdigest()[:8]


def _clashes(ids: Sequence[str]) -> dict[str, list[int]]:
    """The ids held by more than one position, with their positions."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, vid in enumerate(ids):
        groups[vid].append(i)
    return {vid: members for vid, members in groups.items() if len(members) > 1}


def _separate(ids: list[str], renamed: Callable[[int], str], kept: set[int]) -> None:
    """Give every member of a group of equal ids ``renamed(i)``, in place, but those in
    ``kept`` (ids already written: the others make way)."""
    for members in _clashes(ids).values():
        for i in members:
            if i not in kept:
                ids[i] = renamed(i)


def media_ids(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    extensions: Sequence[str] | None = None,
    include_hidden: bool = False,
    known: Mapping[str, str] | None = None,
) -> list[tuple[str, MediaFile]]:
    """Every media file under ``inputs`` with its id (the rule of ``reelsense embed``), in
    walk order. Raises NoMediaError when there is none. ``known``: ``{path: id}`` of an earlier
    run, kept as :func:`assign_video_ids` keeps it.

    Only the sidecars' ids are read here: their other notes are left to whatever reads them
    for their fields. A file whose sidecar cannot be read, or holds an ``id`` that cannot be
    used, gets one warning naming the file, the id it is given instead and why."""
    inputs = check_inputs(inputs)
    files = walk_media(inputs, extensions=extensions, include_hidden=include_hidden)
    if not files:
        raise NoMediaError(inputs)
    sidecar_ids: list[str | None] = []
    lost: dict[int, str] = {}  # file -> why its sidecar gave no id
    for i, f in enumerate(files):
        # ids only: the other notes are logged by whatever reads the sidecar for its fields
        errors: list[SidecarError] = []
        sidecar = _find_sidecar(Path(f.path), None, f.default_id, errors.append)
        sidecar_ids.append(sidecar.video_id if sidecar is not None else None)
        if sidecar_ids[-1] is not None or not _stem_sibling(Path(f.path), ".info.json").is_file():
            continue  # an id from the sidecar, or none to lose (a .txt caption carries no id)
        # the .info.json is read first: its error, if any, is the first (a .txt's may follow)
        why = [str(e) for e in errors[:1]] + [
            note for note in (sidecar.warnings if sidecar is not None else ()) if note.endswith(_ID_DROPPED)
        ]
        if why:
            lost[i] = "; ".join(why)
    ids = assign_video_ids(files, sidecar_ids, known=known)
    for i, reason in lost.items():  # else the id changes without a word (e.g. in `sounds match`)
        log.warning(
            "%s gets the video id %r, not one from a sidecar: %s", path_text(files[i].path), ids[i], reason
        )
    return list(zip(ids, files, strict=True))
