"""trend_report's arguments are checked before any work, naming the bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reelsense.errors import ParameterError
from reelsense.sounds import DiscoveryParams
from reelsense.trends import TrendParams, trend_report


@pytest.mark.parametrize(
    ("inputs", "kwargs", "match"),
    [
        ("videos", {}, "inputs='videos' is a single path: pass a list of paths"),  # walked '/', 'v'...
        (
            ["x"],
            {"reference_seconds": float("inf")},
            "reference_seconds=inf must be a finite number",
        ),  # ZeroDivisionError
        (["x"], {"reference_seconds": float("nan")}, "reference_seconds=nan"),  # gave empty columns
        (["x"], {"start_seconds": float("nan")}, "start_seconds=nan"),
        (["x"], {"reference_seconds": "1700000000"}, "reference_seconds='1700000000' must be a number"),
        (
            ["x"],
            {"reference_seconds": 1.7e9, "start_seconds": 1.8e9},
            "start_seconds=1800000000.0 must be before reference_seconds=1700000000.0",  # was clamped
        ),
        (["x"], {"reference_seconds": 1.7e9, "start_seconds": 1.7e9}, "must be before"),
        (["x"], {"workers": 2.5}, r"workers=2\.5 must be an integer"),
        (["x"], {"params": DiscoveryParams()}, "params=.* must be a TrendParams"),
    ],
)
def test_bad_arguments(tmp_path: Path, inputs: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        trend_report(inputs, tmp_path / "t.csv", **kwargs)
    assert not (tmp_path / "t.csv").exists()


def test_files_that_share_a_stem_get_the_ids_of_the_other_commands(tmp_path: Path) -> None:
    """x.wav and x.flac in one folder: `sounds trends` on the folder gave them one id and
    stopped ("duplicate video ids"); it now names them as `embed` and `sounds discover` do."""
    from media import write_audio
    from reelsense.io import media_ids

    folder = tmp_path / "in"
    folder.mkdir()
    write_audio(folder / "x.wav", duration_seconds=1.0, seed=1)
    write_audio(folder / "x.flac", duration_seconds=1.0, seed=2)
    write_audio(folder / "y.wav", duration_seconds=1.0, seed=3)
    report = trend_report([folder], tmp_path / "t.csv", link_hashtags=False)
    assert report.n_videos == 3
    assert report.discovery is not None
    assert sorted(v.video_id for v in report.discovery.videos) == sorted(
        vid for vid, _ in media_ids([folder])
    )


@pytest.mark.parametrize(
    ("argument", "path"),
    [("output", "a.wav"), ("report", "a.wav"), ("clusters_output", "a.wav"), ("clusters_output", "a_x.wav")],
)
def test_no_output_overwrites_a_video_of_a_folder_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argument: str, path: str
) -> None:
    """trend_report(["videos"], "videos/a.wav") wrote the trends table over the video (the
    inputs' check leaves folders out), as report= and clusters_output= (or its summary,
    a_x_summary.wav beside a_x.wav) did; the outputs are checked against the folder's files
    now, before the discovery."""
    from media import write_audio
    from reelsense.errors import OutputError

    folder = tmp_path / "in"
    folder.mkdir()
    for name, seed in (("a.wav", 1), ("a_x_summary.wav", 2)):
        write_audio(folder / name, duration_seconds=1.0, seed=seed)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    from reelsense.trends import _report

    def discovered(*args: object, **kwargs: object) -> None:
        raise AssertionError("the outputs are checked before the discovery")

    monkeypatch.setattr(_report, "discover_sounds", discovered)
    kwargs: dict[str, Any] = {"output": tmp_path / "t.csv", argument: folder / path}
    with pytest.raises(OutputError, match="it would be overwritten"):
        trend_report([folder], link_hashtags=False, **kwargs)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not (tmp_path / "t.csv").exists()


def test_a_table_with_a_caption_longer_than_the_csv_field_limit(tmp_path: Path) -> None:
    """The csv module refuses fields over 131,072 characters by default; a clusters table
    carries whole captions, and `sounds trends` read one back with a traceback."""
    from reelsense.trends import read_uses_csv

    table = tmp_path / "clusters.csv"
    caption = "#long " + "é" * 200_000
    table.write_text(
        f"video_id,sound_cluster,timestamp,caption\nv1,d1,1700000000,{caption}\n", encoding="utf-8"
    )
    (use,) = read_uses_csv(table)
    assert use.caption == caption


@pytest.mark.parametrize(
    ("last_row", "fields"),
    [("v3,d1,17000", 3), ("v3", 1), ("v3,d1,1700000300,x,extra", 5)],
)
def test_a_row_with_another_number_of_fields_is_named(tmp_path: Path, last_row: str, fields: int) -> None:
    """A clusters table cut short (a copy stopped mid-way) was read as if whole: its last row
    a use with half a timestamp, or without its sound."""
    from reelsense.trends import read_uses_csv

    table = tmp_path / "clusters.csv"
    table.write_text(
        "video_id,sound_cluster,timestamp,caption\nv1,d1,1700000000,a\nv2,d1,1700000100,b\n" + last_row,
        encoding="utf-8",
    )
    with pytest.raises(ParameterError, match=rf"clusters.csv:4: {fields} fields where the header has 4"):
        read_uses_csv(table)


def test_progress_reports_each_stage_as_it_starts_and_ends(tmp_path: Path) -> None:
    """The calls 57b8822 made (its own step helper), in the same order."""
    table = tmp_path / "clusters.csv"
    table.write_text(
        "video_id,sound_cluster,timestamp,caption\n"
        + "".join(f"v{i},d{i % 3},{1_700_000_000 + 3600 * i},#tag{i % 3}\n" for i in range(12))
        + "w,,1700000000,#tag1\n"
    )
    calls: list[tuple[str, int, int]] = []
    trend_report(
        [table],
        tmp_path / "t.csv",
        report=tmp_path / "r.html",
        has_music=lambda use: True,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert calls == [
        (stage, done, 1) for stage in ("read tables", "hashtags", "trends", "report") for done in (0, 1)
    ]


def test_the_old_progress_keyword_is_refused(tmp_path: Path) -> None:
    """The keyword was renamed to ``progress`` without an alias: the old name (spelt here in
    two parts, so that a search for it finds no caller left) is Python's own TypeError."""
    from reelsense.sounds import discover_sounds

    old = "on_" + "progress"
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{old}'"):
        trend_report(["x"], tmp_path / "t.csv", **{old: print})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{old}'"):
        discover_sounds(["x"], **{old: print})  # type: ignore[arg-type]


def test_a_use_dated_in_the_future_is_named_when_it_ends_the_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One wrong upload time (2099) moved the default window's end there, so no sound could
    trend, without a word; a warning now names the video. A given end says only that the use
    after it is left out; uses dated before now give none."""
    table = tmp_path / "m.csv"
    table.write_text(
        "video_id,sound_id,timestamp\n"
        "a,s1,1764950000\nb,s1,1764900000\nc,s1,1764850000\nwrong,s1,4070908800\n",
        encoding="utf-8",
    )
    with caplog.at_level("WARNING", logger="reelsense.trends"):
        result = trend_report([table], tmp_path / "t.csv", link_hashtags=False)
    assert result.reference_seconds == 4070908800
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "2099-01-01T00:00:00Z" in warning and "1 video is dated after now (wrong)" in warning
    caplog.clear()
    short = TrendParams(window_days=0.1)  # the uses span a day: a 7-day window leaves no baseline
    with caplog.at_level("WARNING", logger="reelsense.trends"):
        trend_report(
            [table], tmp_path / "t.csv", link_hashtags=False, reference_seconds=1764950000, params=short
        )
        (left_out,) = [r.getMessage() for r in caplog.records]
        assert left_out.startswith("1 use dated after the window's end, 2025-12-05T15:53:20Z, is left out")
        caplog.clear()
        table.write_text(
            table.read_text(encoding="utf-8").replace("4070908800", "1764800000"), encoding="utf-8"
        )
        trend_report([table], tmp_path / "t.csv", link_hashtags=False, params=short)
    assert caplog.records == []


_SPAN = (  # s1: 20 Nov, 28-30 Nov, 3 Dec 2025; s2: 5 Dec
    "video_id,sound_id,timestamp\n"
    "a,s1,2025-11-20T00:00:00Z\nb,s1,2025-11-28T00:00:00Z\nc,s1,2025-11-29T00:00:00Z\n"
    "d,s1,2025-11-30T00:00:00Z\ne,s1,2025-12-03T00:00:00Z\nf,s2,2025-12-05T00:00:00Z\n"
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (  # e and f were left out of every count without a word
            {"reference_seconds": 1764547200},  # 2025-12-01
            ["2 uses dated after the window's end, 2025-12-01T00:00:00Z, are left out"],
        ),
        (  # a was left out of the baseline without a word
            {"start_seconds": 1764028800},  # 2025-11-25
            ["1 use dated before the baseline's start, 2025-11-25T00:00:00Z, is left out"],
        ),
        (  # the start was moved to the latest upload: no baseline, no score, without a word
            {"start_seconds": 1765324800},  # 2025-12-10
            ["2025-12-10T00:00:00Z, is after the window's end, 2025-12-05T00:00:00Z", "is moved to it"],
        ),
        (  # an end before every upload: no use counted (and no word of the baseline it leaves)
            {"reference_seconds": 1735689600},  # 2025-01-01
            ["6 uses dated after the window's end, 2025-01-01T00:00:00Z, are left out"],
        ),
        (  # a window over the whole span left no baseline: every score empty, without a word
            {"params": TrendParams(window_days=30)},
            ["from 2025-11-20T00:00:00Z to the window's start, 2025-11-05T00:00:00Z, is 0 days"],
        ),
        (  # 689 days without any video counted as days without use: s1 "trending"
            {"start_seconds": 1704067200},  # 2024-01-01
            ["2024-01-01T00:00:00Z, is 689 days before the earliest upload, 2025-11-20T00:00:00Z"],
        ),
    ],
)
def test_a_window_that_leaves_uses_out_or_is_moved_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kwargs: dict[str, Any], expected: list[str]
) -> None:
    """The window's end and the baseline's start were applied without a word: uses outside
    them dropped from every count, a start after the latest upload moved to it (no baseline),
    a start long before the data counted the days without data as days without use. Each now
    gives a warning with the count and both times; the tables are unchanged."""
    table = tmp_path / "m.csv"
    table.write_text(_SPAN, encoding="utf-8")
    with caplog.at_level("WARNING", logger="reelsense.trends"):
        trend_report([table], tmp_path / "t.csv", link_hashtags=False, **kwargs)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert all(text in warning for text in expected), warning


def test_a_start_on_undated_videos_gives_the_undated_warning_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--since on videos without upload times said, beside "none of the videos has an upload
    time", that it was after the window's end, 1970-01-01 (the latest upload): there is none."""
    table = tmp_path / "m.csv"
    table.write_text("video_id,sound_id\na,s1\nb,s1\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="reelsense.trends"):
        trend_report([table], tmp_path / "t.csv", link_hashtags=False, start_seconds=1764547200)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "none of the 2 videos has an upload time" in warning, warning


def test_a_window_within_the_data_gives_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    table = tmp_path / "m.csv"
    table.write_text(_SPAN, encoding="utf-8")
    with caplog.at_level("WARNING", logger="reelsense.trends"):
        trend_report([table], tmp_path / "t.csv", link_hashtags=False)
        trend_report([table], tmp_path / "t.csv", link_hashtags=False, start_seconds=1763596800)
        trend_report(  # from the earliest upload, a day before it, to the latest
            [table],
            tmp_path / "t.csv",
            link_hashtags=False,
            start_seconds=1763596800 - 86400,
            reference_seconds=1764892800,
        )
    assert caplog.records == []
