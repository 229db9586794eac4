"""Sound identity: which reference sound a soundtrack uses, where, and at what speed.

- :func:`fingerprint` / :class:`Fingerprint` / :class:`FingerprintParams`: spectral peaks and
  their triplet hashes, from ``(samples, sample_rate)``.
- :class:`SoundIndex` (:mod:`reelsense.sounds.index`): reference sounds on disk, matched with
  :class:`MatchConfig` into :class:`SoundMatch` results (speed, tempo and pitch searched).
- :mod:`reelsense.sounds.verify`: the alignment that verifies a candidate and its calibrated score.
- :func:`discover_sounds` (:mod:`reelsense.sounds.discover`): which videos share a sound, with or
  without a library.

Discovery and the index are imported on first use, so that matching against an index does not
import discovery (and the audio features it needs). ``fingerprint`` is imported here: it names
both a module and the function, and the function wins.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reelsense.sounds.fingerprint import Fingerprint, FingerprintParams, Peaks, fingerprint
from reelsense.sounds.match import MatchConfig, SoundMatch

if TYPE_CHECKING:
    from reelsense.sounds.discover import Discovery, DiscoveryParams, discover_sounds
    from reelsense.sounds.index import IndexStats, SoundIndex, SoundInfo, match_files

_WHERE = {
    "Discovery": "reelsense.sounds.discover",
    "DiscoveryParams": "reelsense.sounds.discover",
    "discover_sounds": "reelsense.sounds.discover",
    "IndexStats": "reelsense.sounds.index",
    "SoundIndex": "reelsense.sounds.index",
    "SoundInfo": "reelsense.sounds.index",
    "match_files": "reelsense.sounds.index",
}

__all__ = [
    "Discovery",
    "DiscoveryParams",
    "Fingerprint",
    "FingerprintParams",
    "IndexStats",
    "MatchConfig",
    "Peaks",
    "SoundIndex",
    "SoundInfo",
    "SoundMatch",
    "discover_sounds",
    "fingerprint",
    "match_files",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'reelsense.sounds' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
