"""Hashtag links: signature hashtags, which unmatched videos join a sound, and the music check."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media import write_video
from music import make_notes, render, speech_like
from reelsense.errors import ParameterError
from reelsense.trends import (
    HashtagLinkParams,
    Use,
    concentration_p_value,
    hashtag_links,
    signature_hashtags,
    trend_report,
)
from reelsense.trends._links import music_from_media

SR = 22050
DAY = 86400
REF = 1_732_920_000


def use(vid: str, sound: str = "", caption: str = "", lib: str | None = None, t: int = REF) -> Use:
    return Use(vid, sound, lib, t, path=f"/media/{vid}.mp4", caption=caption)


def yes(_: Use) -> bool:
    return True


#: untagged videos without a sound: a corpus large enough for a tag to be concentrated
FILLER = [use(f"f{i}") for i in range(40)]


def test_signature_is_exclusive_to_one_sound_and_mostly_its_own() -> None:
    uses = [
        use("a1", "A", "#adance #fyp #cats"),
        use("a2", "A", "#ADance #fyp"),
        use("b1", "B", "#bsound #fyp #cats"),
        use("c1", "C", "#crowd"),
    ]
    others = [use("x1", "", "#crowd #fyp"), use("x2", "", "#crowd"), use("x3", "", "#adance"), *FILLER]
    sig = signature_hashtags(uses, others)
    # #fyp and #cats are on two sounds; #crowd is on C once but on two unmatched videos
    assert sig == {"A": ("adance",), "B": ("bsound",)}
    # a stricter share drops #adance (2 of its 3 videos are A's)
    assert signature_hashtags(uses, others, HashtagLinkParams(min_share=0.7)) == {"B": ("bsound",)}


def test_links_need_one_sound_and_music() -> None:
    uses = [
        use("a1", "A", "#adance", lib="lib_a"),
        use("a2", "A", "#adance", lib="lib_a"),
        use("b1", "B", "#bsound"),
        use("b2", "B", "#bsound"),
    ]
    others = [
        use("x_a", "", "sped up #AdAnce"),
        use("x_both", "", "#adance #bsound"),
        use("x_none", "", "#fyp"),
        use("x_quiet", "", "#bsound"),
        *FILLER,
    ]
    asked: list[str] = []

    def music(u: Use) -> bool:
        asked.append(u.video_id)
        return u.video_id != "x_quiet"

    linked = hashtag_links(uses, others, has_music=music)
    assert [(u.video_id, u.sound, u.library_sound, u.linked_hashtag) for u in linked] == [
        ("x_a", "A", "lib_a", "AdAnce")
    ]
    assert asked == ["x_a", "x_quiet"]  # ambiguous and untagged videos are never decoded
    # without the music requirement the quiet video joins too
    loose = hashtag_links(uses, others, has_music=music, params=HashtagLinkParams(require_music=False))
    assert {u.video_id for u in loose} == {"x_a", "x_quiet"}


def test_videos_with_a_sound_are_never_relinked() -> None:
    uses = [use("a1", "A", "#adance"), use("a2", "A", "#adance")]
    # a2 also listed as unassigned (e.g. two tables): audio wins
    assert hashtag_links(uses, [use("a2", "", "#adance")], has_music=yes) == []


def test_bad_share_is_refused() -> None:
    with pytest.raises(ParameterError, match="min_share=0"):
        HashtagLinkParams(min_share=0.0)
    with pytest.raises(ParameterError, match="max_p_value=0"):
        HashtagLinkParams(max_p_value=0.0)
    with pytest.raises(ParameterError, match="on_sound=3"):
        concentration_p_value(3, 2, 5, 10)


def test_concentration_p_value_is_the_hypergeometric_tail() -> None:
    # 2 of a sound's 2 uses carry a tag that 3 of 47 videos carry: C(3,2) / C(47,2)
    assert concentration_p_value(2, 2, 3, 47) == pytest.approx(3 / 1081)
    assert concentration_p_value(0, 5, 3, 47) == pytest.approx(1.0)
    # a tag every video carries is never concentrated anywhere
    assert concentration_p_value(5, 5, 47, 47) == pytest.approx(1.0)


def test_a_common_tag_on_one_big_sound_is_not_its_signature() -> None:
    """Without a library one sound may hold half the corpus; a tag two videos carry, one of
    them that sound's, is no more frequent among its uses than in the corpus."""
    uses = [use(f"a{i}", "A", "#animals" if i == 0 else "#adance") for i in range(20)]
    uses += [use("b1", "B", "#bsound"), use("b2", "B", "#bsound")]
    others = [use("x1", "", "#animals"), *FILLER[:18]]
    assert signature_hashtags(uses, others) == {"A": ("adance",), "B": ("bsound",)}
    # switched off, the share rule alone (1 of 2 carriers) lets it through
    loose = signature_hashtags(uses, others, HashtagLinkParams(max_p_value=1.0))
    assert loose["A"] == ("adance", "animals")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "A", "B", "C"]), st.sets(st.sampled_from(["t1", "t2", "t3", "t4"]))),
        min_size=1,
        max_size=30,
    )
)
def test_a_tag_never_links_more_videos_than_it_has_audio_uses(videos: list[tuple[str, set[str]]]) -> None:
    rows = [use(f"v{i}", s, " ".join(f"#{t}" for t in sorted(tags))) for i, (s, tags) in enumerate(videos)]
    uses, others = [u for u in rows if u.sound], [u for u in rows if not u.sound]
    linked = hashtag_links(uses, others, has_music=yes)
    audio = Counter((s, t) for s, tags in videos if s for t in tags)
    per_tag = Counter((u.sound, u.linked_hashtag) for u in linked)
    for key, n in per_tag.items():
        assert n <= audio[key]
    assert {u.video_id for u in linked}.isdisjoint(u.video_id for u in uses)


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sound a: two overlapping uses (tagged #adance) and a use of another section of the
    same tune that shares no audio with them (tagged); a speech clip with the tag; sound b old."""
    root = tmp_path_factory.mktemp("linkfeed")
    a, b = make_notes(31, 40.0), make_notes(32, 30.0)
    tune_a = render(a, 40.0, SR)
    tune_b = render(b, 30.0, SR)
    spec = {
        "a_one": (tune_a[4 * SR : 11 * SR], 0.5, "new dance #adance"),
        "a_two": (tune_a[6 * SR : 13 * SR], 1.0, "again #adance"),
        "a_far": (tune_a[30 * SR : 37 * SR], 1.5, "other part #ADance"),
        "talk": (speech_like(6.0, SR), 2.0, "talking about #adance"),
        "b_one": (tune_b[5 * SR : 12 * SR], 20.0, "old #bsound"),
        "b_two": (tune_b[8 * SR : 15 * SR], 21.0, "old two"),
    }
    for name, (audio, age_days, caption) in spec.items():
        write_video(root / f"{name}.mp4", duration_seconds=audio.size / SR, audio=audio, sample_rate=SR)
        side = {"id": name, "description": caption, "timestamp": int(REF - age_days * DAY)}
        (root / f"{name}.info.json").write_text(json.dumps(side))
    return root


def test_music_check_on_real_files(feed: Path) -> None:
    assert music_from_media(Use("a_far", "", None, None, str(feed / "a_far.mp4")))
    assert not music_from_media(Use("talk", "", None, None, str(feed / "talk.mp4")))
    assert not music_from_media(Use("gone", "", None, None, str(feed / "missing.mp4")))
    assert not music_from_media(Use("nopath", "", None, None))


def test_trend_report_counts_linked_uses(feed: Path, tmp_path: Path) -> None:
    out = tmp_path / "trends.csv"
    # six videos cannot show a tag's concentration: the test is switched off here
    rep = trend_report(
        [feed], out, report=tmp_path / "r.html", link_params=HashtagLinkParams(max_p_value=1.0)
    )
    assert len(rep.sounds) == 2
    (a,) = [s for s in rep.sounds if "a_one" in {u.video_id for u in s.uses}]
    assert {u.video_id for u in a.uses} == {"a_one", "a_two", "a_far"}
    assert [u.video_id for u in a.uses if u.linked_hashtag] == ["a_far"]
    assert a.n_linked == 1 and a.hashtags == ("adance",)
    assert a.trend.recent_count == 3 and a.trend.trending
    text = out.read_text().splitlines()
    assert text[0].endswith(",n_hashtag_linked,signature_hashtags")
    assert any(line.startswith(f"{a.sound},") and line.endswith(",1,#adance") for line in text)
    html = (tmp_path / "r.html").read_text()
    assert "by #ADance" in html and "linked by hashtag <b>1</b>" in html

    plain = trend_report([feed], tmp_path / "t2.csv", link_hashtags=False)
    a2 = {s.sound: s for s in plain.sounds}[a.sound]
    assert a2.n_linked == 0 and a2.trend.recent_count == 2 and not a2.trend.trending


def test_videos_without_a_path_get_one_warning_not_one_each(caplog: pytest.LogCaptureFixture) -> None:
    """A table without media paths (1M uses) logged one warning per video: 246,687 lines."""
    uses = [use("a1", "A", "#adance"), use("a2", "A", "#adance")]
    others = [Use(f"x{i}", "", None, REF, path=None, caption="#adance") for i in range(7)]
    with caplog.at_level("WARNING", logger="reelsense.trends"):
        assert hashtag_links(uses, [*others, *FILLER], signatures={"A": ("adance",)}) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "7 videos with a sound's signature hashtag have no media path, so they cannot be checked for "
        "music and are not linked (x0, x1, x2, x3, x4, ...)"
    ]


def test_full_width_spellings_are_one_signature_tag() -> None:
    """``#ＡＤａｎｃｅ`` and ``#adance`` are one tag (NFKC + casefold), as parse_hashtags has it."""
    uses = [use("a1", "A", "#ＡＤａｎｃｅ"), use("a2", "A", "#adance"), use("b1", "B", "#bsound")]
    others = [use("x1", "", "#ａｄａｎｃｅ"), *FILLER]
    assert signature_hashtags(uses, others) == {"A": ("adance",), "B": ("bsound",)}
    links = hashtag_links(uses, others, has_music=yes)
    assert [(link.video_id, link.sound) for link in links] == [("x1", "A")]
