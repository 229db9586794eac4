"""Hashtag links: count a video whose audio matched nothing under the sound its caption names.

Audio identity cannot join two excerpts of one track that share no audio (a 15 s clip from
the intro and one from the bridge), so a sound heard in five videos may show up as a
cluster of two. Feeds name their sounds' trends in captions (``#heroesritechallenge``,
``#sixtyfouredit``), and those hashtags tie a use to the sound where the audio cannot.
Captions also carry spam and misleading trend tags, so a link needs all of this:

1. The tag is a **signature** of sound ``S``: at least one audio-confirmed use of ``S``
   carries it, no audio-confirmed use of any other sound does, audio-confirmed uses
   of ``S`` are at least ``min_share`` (half) of all the videos carrying it, and the tag is
   **concentrated** on ``S``: if the tag's ``K`` carriers among the corpus' ``N`` videos were
   spread at random, ``k`` or more of them would land among the ``n`` uses of ``S`` with
   probability at most ``max_p_value`` (the hypergeometric tail: the tag's share of the uses
   of ``S`` against its share of the whole corpus). ``#fyp`` and category tags spread over many
   sounds fail the second rule; a tag that a few videos of ``S`` share with many unmatched
   videos fails the third; a common tag (``#foryoupage``, ``#animals``) that happens to reach
   one sound only, because the other sounds were not found (no library), fails the fourth.
2. The video has **no sound** of its own (audio links always win) and carries signature
   tags of exactly one sound (two sounds' tags: ambiguous, no link).
3. The video **has music** by :func:`reelsense.audio.analyse_presence` on its own audio,
   so a speech-only or ambience video with a trend tag is not counted as a use.

Rule 1's share bounds the links: a sound never gains more hashtag links through a tag than
it has audio uses carrying that tag. Links only add uses to trends (``trends.csv`` reports
them apart); discovery's clusters stay audio-only.

Pure functions over :class:`~reelsense.trends.Use` lists; the music check is a callable
(:func:`music_from_media` decodes the video's own file).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reelsense._checks import check_bool, check_finite
from reelsense.errors import ParameterError, ReelsenseError
from reelsense.io import parse_hashtags, read_audio
from reelsense.io._sidecar import hashtag_key
from reelsense.trends._usage import Use

__all__ = [
    "HashtagLinkParams",
    "concentration_p_value",
    "hashtag_links",
    "music_from_media",
    "signature_hashtags",
]

logger = logging.getLogger(__name__)

PRESENCE_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class HashtagLinkParams:
    """``min_share``: least share of a tag's videos that must be audio uses of the sound;
    ``max_p_value``: largest chance probability of the tag's concentration on the sound
    (rule 1 of the module; 1.0 switches the test off); ``require_music``: link only videos in
    which :func:`music_from_media` hears music."""

    min_share: float = 0.5
    max_p_value: float = 0.05
    require_music: bool = True

    def __post_init__(self) -> None:
        for name in ("min_share", "max_p_value"):  # finite numbers (True, "0.5", NaN refused), as floats
            object.__setattr__(self, name, check_finite(getattr(self, name), name))
        object.__setattr__(
            self, "require_music", check_bool(self.require_music, "require_music")
        )  # a string such as "no" read as True
        if not 0.0 < self.min_share <= 1.0:
            raise ParameterError(f"min_share={self.min_share} must be in (0, 1]")
        if not 0.0 < self.max_p_value <= 1.0:
            raise ParameterError(f"max_p_value={self.max_p_value} must be in (0, 1]")


def concentration_p_value(on_sound: int, n_uses: int, carriers: int, n_videos: int) -> float:
    """Chance that ``on_sound`` or more of a sound's ``n_uses`` videos carry a tag that
    ``carriers`` of the corpus' ``n_videos`` carry, were the carriers drawn at random
    (hypergeometric upper tail)."""
    if not 0 <= on_sound <= min(n_uses, carriers) or max(n_uses, carriers) > n_videos:
        raise ParameterError(
            f"need 0 <= on_sound={on_sound} <= min(n_uses={n_uses}, carriers={carriers}) and "
            f"n_uses, carriers <= n_videos={n_videos}"
        )
    from scipy.stats import hypergeom

    return float(hypergeom.sf(on_sound - 1, n_videos, carriers, n_uses))


def _tags(caption: str | None) -> list[str]:
    return [hashtag_key(t) for t in parse_hashtags(caption)]


def signature_hashtags(
    uses: Sequence[Use], unassigned: Sequence[Use] = (), params: HashtagLinkParams | None = None
) -> dict[str, tuple[str, ...]]:
    """Sound -> its signature hashtags (NFKC-casefolded, most used first; rule 1 of the module).

    ``uses``: audio-confirmed uses (``sound`` set); ``unassigned``: the corpus' other videos.
    """
    params = params or HashtagLinkParams()
    on_sound: dict[str, Counter[str]] = defaultdict(Counter)
    n_uses: Counter[str] = Counter()
    carriers: Counter[str] = Counter()
    seen: set[str] = set()
    for u in (*uses, *unassigned):
        if u.video_id in seen:
            continue
        seen.add(u.video_id)
        tags = set(_tags(u.caption))
        carriers.update(tags)
        if u.sound:
            n_uses[u.sound] += 1
            for t in tags:
                on_sound[t][u.sound] += 1
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for tag, sounds in on_sound.items():
        if len(sounds) != 1:
            continue
        ((sound, n),) = sounds.items()
        if n < params.min_share * carriers[tag]:
            continue
        if concentration_p_value(n, n_uses[sound], carriers[tag], len(seen)) > params.max_p_value:
            logger.debug("#%s: %d of the %d uses of %s, %d of %d videos: not concentrated", tag, n,
                         n_uses[sound], sound, carriers[tag], len(seen))  # fmt: skip
            continue
        out[sound].append((n, tag))
    return {s: tuple(t for _, t in sorted(v, key=lambda nt: (-nt[0], nt[1]))) for s, v in out.items()}


def hashtag_links(
    uses: Sequence[Use],
    unassigned: Sequence[Use],
    *,
    has_music: Callable[[Use], bool] | None = None,
    params: HashtagLinkParams | None = None,
    signatures: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Use]:
    """Uses of ``unassigned`` videos linked to a sound by signature hashtag (rules 2-3).

    Returns copies of those videos with ``sound``/``library_sound`` set and
    ``linked_hashtag`` naming the tag (as the caption spells it). ``has_music`` defaults to
    :func:`music_from_media`; it is asked only about videos with exactly one candidate sound.
    """
    params = params or HashtagLinkParams()
    if signatures is None:
        signatures = signature_hashtags(uses, unassigned, params)
    owner = {t: s for s, tags in signatures.items() for t in tags}
    library: dict[str, str] = {}
    assigned: set[str] = set()
    for u in uses:
        assigned.add(u.video_id)
        if u.library_sound:
            library.setdefault(u.sound, u.library_sound)
    check = has_music or music_from_media
    out = []
    done: set[str] = set()
    no_path: list[str] = []  # the default check cannot decode them: one warning for all
    for u in unassigned:
        if u.sound or u.video_id in assigned or u.video_id in done:
            continue
        spelled = parse_hashtags(u.caption)
        hits = [(t, owner[hashtag_key(t)]) for t in spelled if hashtag_key(t) in owner]
        sounds = {s for _, s in hits}
        if len(sounds) != 1:
            if len(sounds) > 1:
                logger.info(
                    "%s: hashtags of %d sounds (%s), not linked", u.video_id, len(sounds), sorted(sounds)
                )
            continue
        if params.require_music and has_music is None and not u.path:
            no_path.append(u.video_id)
            continue
        if params.require_music and not check(u):
            logger.info("%s: #%s but no music in its audio, not linked", u.video_id, hits[0][0])
            continue
        sound = hits[0][1]
        done.add(u.video_id)
        out.append(
            dataclasses.replace(u, sound=sound, library_sound=library.get(sound), linked_hashtag=hits[0][0])
        )
    if no_path:
        logger.warning(
            "%d videos with a sound's signature hashtag have no media path, so they cannot be checked "
            "for music and are not linked (%s%s)",
            len(no_path),
            ", ".join(no_path[:5]),
            ", ..." if len(no_path) > 5 else "",
        )
    return out


def music_from_media(use: Use) -> bool:
    """Whether the video at ``use.path`` has music (:func:`reelsense.audio.analyse_presence`).

    False, with a warning, when there is no path or the audio cannot be decoded.
    """
    from reelsense.audio.presence import analyse_presence

    if not use.path:
        logger.warning("%s: no media path, cannot check it for music", use.video_id)
        return False
    try:
        audio = read_audio(use.path, sample_rate=PRESENCE_SAMPLE_RATE)
        return analyse_presence(audio.samples, audio.sample_rate).has_music
    except ReelsenseError as exc:
        logger.warning("%s: %s", use.video_id, exc)
        return False
