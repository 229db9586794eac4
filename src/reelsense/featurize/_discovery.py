"""The corpus pass's sound discovery: a thin adapter over :mod:`reelsense.sounds.discover`.

:func:`default_discoverer` returns a :class:`Discoverer`, a callable ``(paths, video_ids) ->
label per video`` that :func:`reelsense.featurize.cluster_sound_table` runs over a corpus.
The grouping itself is :func:`reelsense.sounds.discover.discover_sounds`, the engine behind
``reelsense sounds discover`` too; this module only decides which videos it is given
(``residual_only``: the videos the sound index did not identify, when the engine's
``library`` option is ``"residual"``) and turns its result into labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from reelsense._workers import available_cpus

if TYPE_CHECKING:  # the engine (numba kernels, scipy) is imported when a discovery runs
    from reelsense.sounds.discover import DiscoveryParams

__all__ = ["Discoverer", "default_discoverer", "discovery_labels"]


class Discoverer:
    """A corpus sound discovery: ``discoverer(paths, video_ids) -> label per video``.

    ``name`` is recorded in the output; ``residual_only``: give it only the videos the
    sound index did not identify (see :mod:`reelsense.featurize._corpus`).
    """

    def __init__(
        self,
        name: str,
        run: Callable[[Sequence[str], Sequence[str]], Sequence[str | None]],
        *,
        residual_only: bool,
    ) -> None:
        self.name = name
        self.residual_only = residual_only
        self._run = run

    def __call__(self, paths: Sequence[str], video_ids: Sequence[str]) -> Sequence[str | None]:
        return self._run(paths, video_ids)


def discovery_labels(
    paths: Sequence[str],
    video_ids: Sequence[str],
    *,
    index: str | os.PathLike[str] | None = None,
    params: DiscoveryParams | None = None,
    workers: int | None = None,
) -> list[str | None]:
    """The discovered sound of each video (a library sound id or ``dNNNN``), None for a video
    that shares its sound with no other video and no library sound."""
    if not paths:
        return []
    from reelsense.sounds.discover import discover_sounds

    workers = workers or max(1, min(8, available_cpus()))
    result = discover_sounds(
        list(paths), ids=list(video_ids), sound_index=index, params=params, workers=workers
    )
    labels = result.labels()
    return [labels.get(vid) for vid in video_ids]


def default_discoverer(
    index: str | os.PathLike[str] | None = None,
    *,
    params: DiscoveryParams | None = None,
    workers: int | None = None,
) -> Discoverer:
    """The discovery used by ``embed_corpus(discover_sounds=True)``: the engine's defaults
    (:class:`~reelsense.sounds.discover.DiscoveryParams`) unless ``params`` says otherwise.

    With ``library="residual"`` the discoverer is given only the videos the sound index did
    not identify and runs without the index; with ``"anchors"`` it is given every video and
    the index.
    """
    from reelsense.sounds.discover import DiscoveryParams

    params = params or DiscoveryParams()
    residual = params.library == "residual"
    library = None if residual else index
    name = (
        f"reelsense.sounds.discover(clustering={params.clustering}, "
        f"music_filter={params.music_filter}, library={params.library}"
        + (", second_chance=True" if params.second_chance else "")
        + (
            f", second_chance_scope={params.second_chance_scope}"
            if params.second_chance_scope != "library"
            else ""
        )
        + ")"
    )

    def run(paths: Sequence[str], video_ids: Sequence[str]) -> list[str | None]:
        return discovery_labels(paths, video_ids, index=library, params=params, workers=workers)

    return Discoverer(name, run, residual_only=residual)
