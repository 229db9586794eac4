"""Sound identity: which reference sound a soundtrack uses, where, and at what speed.

- :func:`fingerprint` / :class:`Fingerprint` / :class:`FingerprintParams`: spectral peaks and
  their triplet hashes, from ``(samples, sample_rate)``.
- :class:`SoundIndex` (:mod:`reelsense.sounds.index`): reference sounds on disk, matched with
  :class:`MatchConfig` into :class:`SoundMatch` results (speed, tempo and pitch searched).
- :mod:`reelsense.sounds.verify`: the alignment that verifies a candidate and its calibrated score.
- :func:`discover_sounds` (:mod:`reelsense.sounds.discover`): which videos share a sound, with or
  without a library.
"""

from reelsense.sounds.discover import Discovery, DiscoveryParams, discover_sounds
from reelsense.sounds.fingerprint import Fingerprint, FingerprintParams, Peaks, fingerprint
from reelsense.sounds.index import IndexStats, SoundIndex, SoundInfo, match_files
from reelsense.sounds.match import MatchConfig, SoundMatch

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
