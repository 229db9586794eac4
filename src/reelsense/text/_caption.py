"""Caption text for embedding: the caption with its hashtags turned into words.

``#HeroesRiteChallenge`` -> ``heroes rite challenge``, ``#ken_burns`` -> ``ken burns``,
``#NASAPhotos`` -> ``nasa photos``, ``#2024Vibes`` -> ``2024 vibes``. A hashtag written all
in one case (``#heroesritechallenge``) has no word boundaries to find and stays one word
(subword tokenisers still split it into pieces). The hashtags are the ones
:func:`reelsense.io.parse_hashtags` finds (same rule: combining marks, joiners, ``＃``).

A caption with no letters or digits left (empty, only spaces, emoji or punctuation) is a
*missing* caption: :func:`build_caption_text` returns ``None``, never ``""``, so the
encoders can mask the text modality instead of embedding an empty string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from reelsense._checks import check_int, check_str
from reelsense.errors import ParameterError
from reelsense.io._sidecar import hashtag_key, hashtag_spans

__all__ = ["build_caption_text", "split_hashtag"]

_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[_\-.]+")


def _char_class(char: str) -> str:
    if char.isdigit():
        return "digit"
    if char.isupper():
        return "upper"
    if char.islower():
        return "lower"
    return "other"


def _split_case(part: str) -> list[str]:
    """Split one separator-free run at lower->Upper, letter<->digit and ACRONYMWord boundaries."""
    words: list[str] = []
    current = ""
    for index, char in enumerate(part):
        if current:
            previous = _char_class(current[-1])
            kind = _char_class(char)
            following = _char_class(part[index + 1]) if index + 1 < len(part) else ""
            boundary = (
                (previous == "lower" and kind == "upper")
                or ((previous == "digit") != (kind == "digit"))
                or (previous == "upper" and kind == "upper" and following == "lower")
            )
            if boundary:
                words.append(current)
                current = ""
        current += char
    if current:
        words.append(current)
    return words


def split_hashtag(tag: str) -> list[str]:
    """Lower-case words of a hashtag (with or without its ``#``).

    >>> split_hashtag("#HeroesRiteChallenge")
    ['heroes', 'rite', 'challenge']
    >>> split_hashtag("ken_burns")
    ['ken', 'burns']

    Raises ParameterError when ``tag`` is not a ``str``.
    """
    words: list[str] = []
    for part in _SEPARATORS.split(check_str(tag, "tag").lstrip("#＃")):
        words.extend(word.lower() for word in _split_case(part) if word)
    return words


def _has_content(text: str) -> bool:
    return any(char.isalnum() for char in text)


def build_caption_text(
    caption: str | None, hashtags: Iterable[str] = (), *, max_chars: int = 2000
) -> str | None:
    """The text to embed for a caption and its hashtags, or ``None`` when there is nothing.

    Hashtags inside the caption are replaced in place by their words; ``hashtags`` (e.g. a
    sidecar's ``tags``, with or without ``#``) that the caption does not already contain are
    appended as words. URLs (any scheme, or ``www.``: those parse_hashtags skips) are dropped
    and whitespace collapsed. The result is cut to
    ``max_chars`` characters (the encoder truncates to the model's token budget anyway).
    Raises ParameterError for a ``caption`` that is neither a ``str`` nor None, ``hashtags``
    that are one string or hold a non-string, or a ``max_chars`` that is not an int >= 0.

    >>> build_caption_text("Morning run #ken_burns", ["HeroesRiteChallenge"])
    'Morning run ken burns heroes rite challenge'
    >>> build_caption_text("  ", ["#"]) is None
    True
    """
    check_int(max_chars, "max_chars", minimum=0)
    if isinstance(hashtags, str):  # its characters would be read as tags
        raise ParameterError(f"hashtags={hashtags!r:.80} must be a list of tags, not one string")
    # NFC-normalised, URLs blanked (the rule of parse_hashtags), the hashtags found in it
    text, spans = hashtag_spans("" if caption is None else check_str(caption, "caption"))
    pieces: list[str] = []
    present: set[str] = set()
    start = 0
    for begin, end in spans:
        present.add(hashtag_key(text[begin + 1 : end]))
        pieces += [text[start:begin], " ", " ".join(split_hashtag(text[begin + 1 : end])), " "]
        start = end
    text = "".join([*pieces, text[start:]])
    extra: list[str] = []
    for k, tag in enumerate(hashtags):
        key = unicodedata.normalize("NFC", check_str(tag, f"hashtags[{k}]")).lstrip("#＃").strip()
        ident = hashtag_key(key)
        if key and ident not in present:
            present.add(ident)
            extra.extend(split_hashtag(key))
    if extra:
        text = f"{text} {' '.join(extra)}"
    text = _SPACES.sub(" ", text).strip()[:max_chars].strip()
    return text if _has_content(text) else None
