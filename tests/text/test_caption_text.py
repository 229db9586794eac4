"""Caption text building: hashtag splitting and missing captions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelsense.errors import ParameterError
from reelsense.text import build_caption_text, split_hashtag


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("#HeroesRiteChallenge", ["heroes", "rite", "challenge"]),
        ("#ken_burns", ["ken", "burns"]),
        ("ken_burns", ["ken", "burns"]),
        ("#heroesritechallenge", ["heroesritechallenge"]),
        ("#NASAPhotos", ["nasa", "photos"]),
        ("#2024Vibes", ["2024", "vibes"]),
        ("#top10", ["top", "10"]),
        ("#fyp", ["fyp"]),
        ("#Über_Straße", ["über", "straße"]),
        ("#a.b-c", ["a", "b", "c"]),
        ("#", []),
        ("#__", []),
    ],
)
def test_split_hashtag(tag: str, words: list[str]) -> None:
    assert split_hashtag(tag) == words


@given(st.text(alphabet="abcXYZ019_", min_size=1, max_size=30))
def test_split_hashtag_keeps_every_character(tag: str) -> None:
    words = split_hashtag("#" + tag)
    assert "".join(words) == tag.replace("_", "").lower()
    assert all(words) and all(word == word.lower() for word in words)


def test_caption_with_inline_and_sidecar_hashtags() -> None:
    text = build_caption_text(
        "Look at him go!! #HeroesRiteChallenge #ken_burns https://example.com/x",
        ["heroesritechallenge", "#fyp", "ken_burns", "NatureDocumentary"],
    )
    assert text == "Look at him go!! heroes rite challenge ken burns fyp nature documentary"


def test_hashtag_only_caption_is_present() -> None:
    assert build_caption_text("#CatsOfTikTok") == "cats of tik tok"
    assert build_caption_text(None, ["#ken_burns"]) == "ken burns"


@pytest.mark.parametrize("caption", [None, "", "   \n\t", "🙂🙂", "!!! ...", "#", "https://example.com/a"])
def test_missing_captions_are_none(caption: str | None) -> None:
    assert build_caption_text(caption) is None
    assert build_caption_text(caption, ["#", ""]) is None


def test_whitespace_is_collapsed_and_length_capped() -> None:
    assert build_caption_text("  a\n\n  b\tc  ") == "a b c"
    long = build_caption_text("word " * 1000, max_chars=50)
    assert long is not None and len(long) <= 50 and long == long.strip()


def test_anchors_and_entities_are_not_hashtags() -> None:
    assert build_caption_text("R&B&#39;s best") == "R&B&#39;s best"
    assert build_caption_text("issue#42 fixed") == "issue#42 fixed"


@pytest.mark.parametrize(
    ("tag", "named"),
    [
        (None, "tag=None must be a str, got NoneType"),
        (5, "tag=5 must be a str, got int"),
        (b"#x", "tag=b'#x'"),
    ],
)
def test_split_hashtag_refuses_what_is_not_text(tag: object, named: str) -> None:
    with pytest.raises(ParameterError, match=named):
        split_hashtag(tag)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((5,), {}, r"caption=5 must be a str, got int"),
        (("x", "abc"), {}, r"hashtags='abc' must be a list of tags, not one string"),
        (("x", ["ok", 1]), {}, r"hashtags\[1\]=1 must be a str, got int"),
        (("x",), {"max_chars": "9"}, r"max_chars='9' must be an integer"),
        (("x",), {"max_chars": -1}, r"max_chars=-1"),
    ],
)
def test_build_caption_text_refuses_what_is_not_text(args: tuple, kwargs: dict, named: str) -> None:
    """A string of tags was read character by character; a number raised a raw TypeError."""
    with pytest.raises(ParameterError, match=named):
        build_caption_text(*args, **kwargs)


def test_build_caption_text_still_takes_none_and_any_iterable_of_tags() -> None:
    assert build_caption_text(None, iter(["#a_b"])) == "a b"
    assert build_caption_text("x", (), max_chars=0) is None


@pytest.mark.parametrize(
    ("caption", "tags", "text"),
    [
        # a combining mark (Devanagari vowel signs, virama) is part of the tag, not its end
        ("hello #नमस्ते world", ["नमस्ते"], "hello नमस्ते world"),
        # a decomposed accent (NFD) reads as the composed one
        ("#cafe\u0301 ok", ["café"], "café ok"),
        # the full-width sign is a hashtag sign
        ("＃猫 かわいい", ["猫"], "猫 かわいい"),
        # a zero-width joiner inside a word stays inside it
        ("#می\u200cخواهم", [], "می\u200cخواهم"),
        # tags that the caption holds in another case (by str.casefold) are not appended again
        ("#Straße", ["STRASSE"], "straße"),
        ("#fyp", ["＃FYP"], "fyp"),
    ],
)
def test_caption_hashtags_follow_the_sidecar_rule(caption: str, tags: list[str], text: str) -> None:
    """A caption's hashtags are the ones :func:`reelsense.io.parse_hashtags` finds (jobs.md)."""
    assert build_caption_text(caption, tags) == text


@pytest.mark.parametrize(
    ("caption", "text", "hashtags"),
    [
        # "www." inside a word is no URL: the caption once lost "www..." here ("A so cute")
        ("Awww... so cute #puppy", "Awww... so cute puppy", ("puppy",)),
        # a URL of any scheme is dropped, as the hashtag rule skips it
        ("ftp://x.org/#a b", "b", ()),
        ("see xhttps://a.b c", "see c", ()),
        # "WWW." in capitals is a URL for both (the tag once counted for parse_hashtags only)
        ("WWW.shop.com?x=#deal ok", "ok", ()),
        ("see https://t.co/x #fyp", "see fyp", ("fyp",)),
    ],
)
def test_caption_text_and_hashtags_drop_the_same_urls(
    caption: str, text: str, hashtags: tuple[str, ...]
) -> None:
    """One URL rule for the caption text and :func:`reelsense.io.parse_hashtags`."""
    from reelsense.io import parse_hashtags

    assert build_caption_text(caption) == text
    assert parse_hashtags(caption) == hashtags


def test_a_full_width_tag_is_the_caption_tag() -> None:
    """Tags are one under NFKC + casefold (as parse_hashtags dedupes them): a sidecar tag that
    the caption holds in full-width letters is not appended again."""
    assert build_caption_text("#ＦＹＰ", ["fyp", "#ＦＹＰ"]) == "ｆｙｐ"
    assert build_caption_text("#fyp dance", ["ＦＹＰ", "Dance"]) == "fyp dance dance"
