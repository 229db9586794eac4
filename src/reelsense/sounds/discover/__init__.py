"""Sound discovery: which videos share a sound, without (or beside) a sound library.

>>> from reelsense.sounds.discover import discover_sounds
>>> result = discover_sounds(paths, sound_index="library.rsidx", workers=4)  # doctest: +SKIP
>>> result.write_csv("clusters.csv")  # + clusters_summary.csv  # doctest: +SKIP

See :func:`discover_sounds` for the method and the README section ``discovery`` for the
measured accuracy and scaling.
"""

from reelsense._progress import ProgressCallback
from reelsense.sounds.discover._api import discover_sounds
from reelsense.sounds.discover._content import (
    ContentParams,
    SustainedAudio,
    notes_per_second,
    sustained_filter,
)
from reelsense.sounds.discover._geometry import Placement, place_members
from reelsense.sounds.discover._graph import EdgeTable, GraphClusters, cluster_graph
from reelsense.sounds.discover._result import SUMMARY_COLUMNS, VIDEO_COLUMNS, Discovery, summary_path_for
from reelsense.sounds.discover._types import (
    CLUSTERINGS,
    LIBRARY_USES,
    AudioClip,
    Clustering,
    DiscoveredSound,
    DiscoveryParams,
    DiscoveryStats,
    LibraryUse,
    VideoSound,
)

__all__ = [
    "CLUSTERINGS",
    "LIBRARY_USES",
    "SUMMARY_COLUMNS",
    "VIDEO_COLUMNS",
    "AudioClip",
    "Clustering",
    "ContentParams",
    "DiscoveredSound",
    "Discovery",
    "DiscoveryParams",
    "DiscoveryStats",
    "EdgeTable",
    "GraphClusters",
    "LibraryUse",
    "Placement",
    "ProgressCallback",
    "SustainedAudio",
    "VideoSound",
    "cluster_graph",
    "discover_sounds",
    "notes_per_second",
    "place_members",
    "summary_path_for",
    "sustained_filter",
]
