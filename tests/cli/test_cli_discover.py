"""``reelsense sounds discover|trends`` on tiny generated videos with sidecars."""

from __future__ import annotations

import csv
import errno
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from media import write_video
from music import make_notes, render, speech_like
from reelsense.cli import main

SR = 22050
DAY = 86400
REF = 1_732_920_000


def _excerpt(notes: np.ndarray, start: float, seconds: float, speed: float = 1.0) -> np.ndarray:
    full = render(notes, 30.0, SR, time_scale=1.0 / speed, pitch=speed)
    s0 = int(start / speed * SR)
    return full[s0 : s0 + int(seconds * SR)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feed")
    a, b = make_notes(21, 30.0), make_notes(22, 30.0)
    spec = {
        # sound a: three uses in the last two days (a burst); sound b: two old uses
        "a_plain": (_excerpt(a, 4.0, 7.0), 0.5, "new dance #adance"),
        "a_fast": (_excerpt(a, 6.0, 7.0, speed=1.2), 1.0, "sped up #adance"),
        "a_slow": (_excerpt(a, 3.0, 7.0, speed=0.85), 1.5, "slowed <b>&</b> reverb"),
        "b_one": (_excerpt(b, 5.0, 7.0), 20.0, "old one"),
        "b_two": (_excerpt(b, 8.0, 7.0), 21.0, "old two"),
        "speech": (speech_like(6.0, SR), 10.0, "just talking"),
    }
    for name, (audio, age_days, caption) in spec.items():
        write_video(root / f"{name}.mp4", duration_seconds=audio.size / SR, audio=audio, sample_rate=SR)
        side = {"id": name, "description": caption, "timestamp": int(REF - age_days * DAY)}
        (root / f"{name}.info.json").write_text(json.dumps(side))
    return root


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        key = (reader.fieldnames or [""])[0]
        return {r[key]: r for r in reader}


def test_discover_then_trends_from_the_table(videos: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "clusters.csv"
    r = runner.invoke(main, ["sounds", "discover", str(videos), "-o", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "6 videos: 2 sounds" in r.output
    assert out.read_text().startswith("video_id,sound_cluster,")
    rows = _rows(out)
    assert rows["a_plain"]["sound_cluster"] == rows["a_fast"]["sound_cluster"] == "d0001"
    assert rows["a_slow"]["sound_cluster"] == "d0001"
    assert rows["b_one"]["sound_cluster"] == rows["b_two"]["sound_cluster"] == "d0002"
    assert rows["speech"]["sound_cluster"] == ""
    speeds = {k: float(rows[k]["speed_vs_representative"]) for k in ("a_plain", "a_fast", "a_slow")}
    assert speeds["a_fast"] / speeds["a_plain"] == pytest.approx(1.2, rel=0.02)
    assert int(rows["a_plain"]["timestamp"]) == REF - DAY // 2
    summary = _rows(tmp_path / "clusters_summary.csv")
    assert summary["d0001"]["sound_cluster"] == "d0001" and summary["d0001"]["size"] == "3"

    trends, report = tmp_path / "trends.csv", tmp_path / "report.html"
    r = runner.invoke(
        main,
        ["sounds", "trends", str(out), str(videos), "-o", str(trends), "--report", str(report), "--progress"],
    )
    assert r.exit_code == 0, r.output
    assert "1 trending (d0001)" in r.output
    for stage in ("read tables", "hashtags", "trends", "report"):  # a table's stages show bars too
        assert stage in r.stderr
    t = _rows(trends)
    assert t["d0001"]["trending"] == "1" and t["d0001"]["recent_count"] == "3"
    assert t["d0002"]["trending"] == "0" and t["d0002"]["recent_count"] == "0"
    html = report.read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)=['"]https?:""", html)  # self-contained
    assert "a_fast.mp4" in html and "#adance (2)" in html
    assert "slowed &lt;b&gt;&amp;&lt;/b&gt; reverb" in html  # captions are escaped


def test_trends_discovers_from_media_in_workers(videos: Path, tmp_path: Path) -> None:
    trends, clusters = tmp_path / "t.csv", tmp_path / "c.csv"
    r = CliRunner().invoke(
        main,
        ["sounds", "trends", str(videos), "-o", str(trends), "--clusters", str(clusters), "--workers", "2",
         "--window-days", "3", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _rows(trends)["d0001"]["trending"] == "1"
    assert _rows(clusters)["a_slow"]["sound_cluster"] == "d0001"


@pytest.mark.parametrize(
    "header",
    [
        "video_id,sound_id,sound_score,sound_offset_seconds,sound_speed",
        "query,predicted_sound,score,offset_s,speed",
    ],
)
def test_trends_from_a_matches_table(videos: Path, tmp_path: Path, header: str) -> None:
    matches = tmp_path / "matches.csv"
    matches.write_text(
        header + "\n"
        "a_plain,lib_a,9.1,4.0,1.0\na_fast,lib_a,7.5,6.0,1.2\na_slow,lib_a,8.0,3.0,0.85\n"
        "b_one,,,,\nspeech,,,,\n"
    )
    out = tmp_path / "t.csv"
    r = CliRunner().invoke(
        main,
        [
            "sounds",
            "trends",
            str(matches),
            str(videos),
            "-o",
            str(out),
            "--reference-time",
            "2024-11-29T22:40:00Z",
        ],
    )
    assert r.exit_code == 0, r.output
    row = _rows(out)["lib_a"]
    assert row["library_sound"] == "lib_a" and row["n_dated"] == "3" and row["trending"] == "1"
    assert row["reference_time"] == "2024-11-29T22:40:00Z"


def test_trends_clusters_option_is_csv_and_says_when_nothing_is_discovered(tmp_path: Path) -> None:
    # --clusters c.txt wrote CSV tables named c.txt and c_summary.txt (`sounds discover -o`
    # refuses them); with a table as input nothing was discovered, so nothing was written to
    # --clusters: a usage error before anything is read (it was a warning after the work)
    table = tmp_path / "clusters.csv"
    table.write_text("video_id,sound_cluster,timestamp\nv1,d1,1700000000\nv2,d1,1700000100\n")
    out, wanted = tmp_path / "t.csv", tmp_path / "c.csv"
    r = CliRunner().invoke(
        main, ["sounds", "trends", str(table), "-o", str(out), "--clusters", str(tmp_path / "c.txt")]
    )
    assert r.exit_code == 2 and "--clusters" in r.output and "ending in .csv" in r.output
    r = CliRunner().invoke(main, ["sounds", "trends", str(table), "-o", str(out), "--clusters", str(wanted)])
    assert r.exit_code == 2, r.output
    assert not wanted.exists() and not out.exists()
    assert "--clusters" in r.output and "nothing is discovered" in r.output


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["--sound-index", "lib.rsidx"], "--sound-index"),
        (["--min-score", "2.0"], "--min-score"),
        (["--min-support", "3"], "--min-support"),
        (["--neighbours", "4"], "--neighbours"),
        (["--second-chance"], "--second-chance"),
        (["--second-chance", "--second-chance-scope", "candidates"], "--second-chance-scope"),
        (["--composite-edits"], "--composite-edits"),
        (["--join-score", "auto"], "--join-score"),
        (["-w", "2"], "--workers"),
        (["--strict"], "--strict"),
    ],
)
def test_trends_refuses_discovery_options_with_a_table(tmp_path: Path, given: list[str], named: str) -> None:
    """With a clusters/matches table as input nothing is discovered: the options of discovery
    (--sound-index, the matching ones, -w, --strict) did nothing without a word. Given with a
    table (folders beside it or not) they are a usage error naming them; the table alone,
    with the options that apply to it, runs."""
    (tmp_path / "lib.rsidx").write_bytes(b"")
    table = tmp_path / "clusters.csv"
    table.write_text("video_id,sound_cluster,timestamp\nv1,d1,1700000000\nv2,d1,1700000100\n")
    out = tmp_path / "t.csv"
    args = [a if a != "lib.rsidx" else str(tmp_path / a) for a in given]
    for extra in ([], [str(tmp_path)]):
        r = CliRunner().invoke(main, ["sounds", "trends", str(table), *extra, "-o", str(out), *args])
        assert r.exit_code == 2, r.output
        assert named in r.output and "nothing is discovered" in r.output
        assert not out.exists()
    r = CliRunner().invoke(main, ["sounds", "trends", str(table), "-o", str(out), "--window-days", "3"])
    assert r.exit_code == 0, r.output


def test_bad_inputs_fail_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    r = CliRunner().invoke(main, ["sounds", "trends", str(bad), "-o", str(tmp_path / "t.csv")])
    assert r.exit_code != 0 and "sound_cluster" in r.output
    twice = tmp_path / "twice.csv"  # a video counted twice would double its sound's rate
    twice.write_text(
        "video_id,sound_cluster,timestamp\nv1,d1,1700000000\nv2,d1,1700000100\nv1,d1,1700000000\n"
    )
    r = CliRunner().invoke(main, ["sounds", "trends", str(twice), "-o", str(tmp_path / "t.csv")])
    assert r.exit_code == 1 and "twice.csv:4: video 'v1' is listed twice (first on line 2)" in r.output
    other = tmp_path / "other.csv"  # the same video in two tables is counted twice as well
    other.write_text("video_id,sound_id,sound_score\nv3,lib,9.0\nv2,lib,8.0\n")
    once = tmp_path / "once.csv"
    once.write_text("video_id,sound_cluster,timestamp\nv1,d1,1700000000\nv2,d1,1700000100\n")
    r = CliRunner().invoke(main, ["sounds", "trends", str(once), str(other), "-o", str(tmp_path / "t.csv")])
    assert r.exit_code == 1 and "video 'v2' is in both" in r.output and "other.csv" in r.output
    r = CliRunner().invoke(
        main, ["sounds", "discover", str(tmp_path), "-o", str(tmp_path / "c.csv"), "--min-support", "0"]
    )
    assert r.exit_code != 0


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_a_browser(videos: Path, tmp_path: Path) -> None:
    report, shot = tmp_path / "r.html", tmp_path / "r.png"
    r = CliRunner().invoke(
        main, ["sounds", "trends", str(videos), "-o", str(tmp_path / "t.csv"), "--report", str(report)]
    )
    assert r.exit_code == 0, r.output
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--screenshot={shot}",
         "--window-size=1200,1600", report.as_uri()],
        check=True, capture_output=True,
    )  # fmt: skip
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape == (1600, 1200)
    assert img.std() > 20  # text, tables and plots drawn, not a blank page


def test_hashtag_links_from_a_table_and_the_switch(videos: Path, tmp_path: Path) -> None:
    # b_one is left without a sound here; its caption carries d0001's signature tag
    table = tmp_path / "clusters.csv"
    table.write_text(
        "query,cluster,path,caption\n"
        f"a_plain,d0001,{videos / 'a_plain.mp4'},#adance\n"
        f"a_fast,d0001,{videos / 'a_fast.mp4'},#adance\n"
        f"b_one,,{videos / 'b_one.mp4'},me too #adance\n"
        f"speech,,{videos / 'speech.mp4'},#adance\n"
        # the rest of the corpus: another sound, other tags (#adance is concentrated on d0001)
        + "".join(f"f{i:02d},d0002,{videos / 'a_plain.mp4'},#other\n" for i in range(30))
    )
    out = tmp_path / "t.csv"
    r = CliRunner().invoke(main, ["sounds", "trends", str(table), str(videos), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "(1 linked by hashtag)" in r.output
    row = _rows(out)["d0001"]
    assert row["n_videos"] == "3" and row["n_hashtag_linked"] == "1"
    assert row["signature_hashtags"] == "#adance"
    r = CliRunner().invoke(
        main, ["sounds", "trends", str(table), str(videos), "-o", str(out), "--no-hashtag-links"]
    )
    assert r.exit_code == 0, r.output
    row = _rows(out)["d0001"]
    assert row["n_videos"] == "2" and row["n_hashtag_linked"] == "0"


def test_the_commands_default_to_the_engines_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sounds discover` and `sounds trends` pass the engine's own defaults, and
    `--second-chance` and `--second-chance-scope` (as in `sounds match`), `--composite-edits` and
    `--join-score` reach the discovery parameters; a bad `--join-score` is a usage error."""
    from reelsense.cli import discover as cli_discover
    from reelsense.sounds import DiscoveryParams

    seen: list[DiscoveryParams] = []
    real = cli_discover._params

    def record(*args: object) -> DiscoveryParams:
        seen.append(real(*args))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(cli_discover, "_params", record)
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"")  # the runs fail on it; the parameters are what is checked
    runner = CliRunner()
    runner.invoke(main, ["sounds", "discover", str(clip), "-o", str(tmp_path / "c.csv")])
    runner.invoke(main, ["sounds", "discover", str(clip), "-o", str(tmp_path / "c.csv"), "--second-chance"])
    runner.invoke(main, ["sounds", "trends", str(clip), "-o", str(tmp_path / "t.csv"), "--second-chance"])
    bounded = ["--second-chance", "--second-chance-scope", "candidates"]
    runner.invoke(main, ["sounds", "trends", str(clip), "-o", str(tmp_path / "t.csv"), *bounded])
    runner.invoke(main, ["sounds", "discover", str(clip), "-o", str(tmp_path / "c.csv"), "--composite-edits"])
    runner.invoke(main, ["sounds", "trends", str(clip), "-o", str(tmp_path / "t.csv"), "--composite-edits"])
    runner.invoke(
        main, ["sounds", "discover", str(clip), "-o", str(tmp_path / "c.csv"), "--join-score", "auto"]
    )
    runner.invoke(main, ["sounds", "trends", str(clip), "-o", str(tmp_path / "t.csv"), "--join-score", "3.5"])
    assert seen == [
        DiscoveryParams(),
        DiscoveryParams(second_chance=True),
        DiscoveryParams(second_chance=True),
        DiscoveryParams(second_chance=True, second_chance_scope="candidates"),
        DiscoveryParams(composite_edits=True),
        DiscoveryParams(composite_edits=True),
        DiscoveryParams(join_score="auto"),
        DiscoveryParams(join_score=3.5),
    ]
    for bad in ("often", "0", "-2"):
        result = runner.invoke(
            main, ["sounds", "discover", str(clip), "-o", str(tmp_path / "c.csv"), "--join-score", bad]
        )
        assert result.exit_code == 2, result.output
        assert "--join-score" in result.output and bad in result.output


def test_a_folder_of_reference_sounds_names_the_clusters(videos: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    write_video(lib / "sound_a.mp4", duration_seconds=20.0, audio=_excerpt(make_notes(21, 30.0), 0.0, 20.0),
                sample_rate=SR)  # fmt: skip
    out = tmp_path / "clusters.csv"
    r = CliRunner().invoke(
        main, ["sounds", "discover", str(videos), "--sound-index", str(lib), "-o", str(out), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    rows = _rows(out)
    assert {rows[k]["sound_cluster"] for k in ("a_plain", "a_fast", "a_slow")} == {"sound_a"}
    assert rows["b_one"]["sound_cluster"] == rows["b_two"]["sound_cluster"] == "d0001"


def test_trends_without_upload_times_count_uses_only(videos: Path, tmp_path: Path) -> None:
    undated = tmp_path / "undated"
    undated.mkdir()
    for f in videos.glob("*.mp4"):  # no sidecars: no upload times
        shutil.copy(f, undated / f.name)
    trends, report = tmp_path / "t.csv", tmp_path / "r.html"
    r = CliRunner().invoke(
        main, ["sounds", "trends", str(undated), "-o", str(trends), "--report", str(report), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    assert "none of the 6 videos has an upload time" in r.output
    rows = _rows(trends)
    assert rows["d0001"]["n_videos"] == "3" and rows["d0001"]["n_dated"] == "0"
    assert {row["reference_time"] for row in rows.values()} == {""}  # not 1970
    assert {row["trending"] for row in rows.values()} == {"0"}
    html = report.read_text()
    assert "No video has an upload time" in html and "1970" not in html


def test_outputs_are_checked_before_the_work(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An output that is an input or another output is a usage error; an output's folder is
    created, or refused at once when nothing can be written there."""
    runner = CliRunner()
    table = tmp_path / "clusters.csv"
    table.write_text("video_id,sound_cluster,timestamp\nv1,d1,1700000000\n")
    r = runner.invoke(main, ["sounds", "trends", str(table), "-o", str(table)])
    assert r.exit_code == 2 and "is an input: it would be overwritten" in r.output
    assert table.read_text().startswith("video_id,sound_cluster")  # kept
    same = tmp_path / "same.csv"
    r = runner.invoke(main, ["sounds", "discover", str(videos), "-o", str(same), "--summary", str(same)])
    assert r.exit_code == 2 and "is also the -o/--output file" in r.output
    r = runner.invoke(
        main, ["sounds", "trends", str(videos), "-o", str(same), "--clusters", str(tmp_path / "same.csv")]
    )
    assert r.exit_code == 2 and "--clusters" in r.output
    deep = tmp_path / "new" / "sub" / "m.csv"
    match = ["sounds", "match", str(videos / "a_plain.mp4"), "--sound-index", str(videos / "b_one.mp4")]
    r = runner.invoke(main, [*match, "-o", str(deep), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert deep.exists()

    def read_only(*args: object, **kwargs: object) -> None:  # (root writes in a read-only folder)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    r = runner.invoke(main, ["sounds", "discover", str(videos), "-o", str(tmp_path / "c.csv")])
    assert r.exit_code == 1 and "cannot write" in r.output and "(-o/--output): Read-only" in r.output


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("soon", "--reference-time: timestamp 'soon' is neither unix seconds nor ISO 8601"),
        ("1e20", "outside the years 1-9999"),  # was accepted, then the report failed on it
    ],
)
def test_reference_time_is_read_as_a_sidecar_timestamp(tmp_path: Path, value: str, match: str) -> None:
    table = tmp_path / "clusters.csv"
    table.write_text("video_id,sound_cluster,timestamp\nv1,d1,1700000000\n")
    r = CliRunner().invoke(
        main, ["sounds", "trends", str(table), "-o", str(tmp_path / "t.csv"), "--reference-time", value]
    )
    assert r.exit_code == 2 and match in r.output and "--reference-time" in r.output, r.output


@pytest.mark.parametrize("since", ["2025-12-01T00:00:00Z", "1764547200", "2025-12-02"])
def test_since_not_before_the_reference_time_is_a_usage_error(tmp_path: Path, since: str) -> None:
    """--since at or after --reference-time was refused by the library in its own words
    (start_seconds=1764547200.0 must be before reference_seconds=...), after the outputs' folder
    was made: a usage error naming both options as given, before anything is written."""
    table = tmp_path / "clusters.csv"
    table.write_text("video_id,sound_cluster,timestamp\nv1,d1,1700000000\n")
    out = tmp_path / "out" / "t.csv"
    args = [str(table), "-o", str(out), "--reference-time", "2025-12-01T00:00:00Z", "--since", since]
    r = CliRunner().invoke(main, ["sounds", "trends", *args])
    message = f"--since {since} must be before --reference-time 2025-12-01T00:00:00Z"
    assert r.exit_code == 2 and message in r.output, r.output
    assert not out.parent.exists()


def test_trends_bars_count_one_step_stages_in_steps(tmp_path: Path) -> None:
    """The stages after discovery are one step each: their bars read "1/1 [..., ...step/s]"
    (they read "video/s", the unit of discovery's bars, before)."""
    table = tmp_path / "clusters.csv"
    table.write_text(
        "video_id,sound_cluster,timestamp\n" + "".join(f"v{i},d{i % 2},{REF - i * DAY}\n" for i in range(6))
    )
    outputs = ["-o", str(tmp_path / "t.csv"), "--report", str(tmp_path / "r.html")]
    r = CliRunner().invoke(
        main, ["sounds", "trends", str(table), *outputs, "--no-hashtag-links", "--progress"]
    )
    assert r.exit_code == 0, r.output
    bars = re.findall(r"(read tables|trends|report): 100%\|[^|]*\| 1/1 \[[^\]]*\]", r.stderr)
    assert sorted(set(bars)) == ["read tables", "report", "trends"], r.stderr
    units = re.findall(r"\| 1/1 \[[^\]]*?(?:[\d.?]+([a-z]+)/s|s/([a-z]+))\]", r.stderr)
    assert units and {a or b for a, b in units} == {"step"}, r.stderr


def test_stage_bars_count_each_stage_in_its_unit(capsys: pytest.CaptureFixture[str]) -> None:
    """What `sounds trends` asks for: discovery's stages in videos, the others in steps."""
    from reelsense.cli._common import stage_bars

    with stage_bars(True, unit="step", units={"fingerprint": "video"}) as update:
        update("fingerprint", 0, 2)
        update("fingerprint", 2, 2)
        update("report", 0, 1)
        update("report", 1, 1)
    err = capsys.readouterr().err
    assert re.search(r"fingerprint: 100%[^\n\r]*2/2 \[[^\]]*video", err), err
    assert re.search(r"report: 100%[^\n\r]*1/1 \[[^\]]*step", err), err


def test_a_dropped_sidecar_id_is_told_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The note of a sidecar id that cannot be used was logged twice by discover and trends:
    once where the ids are given (with the id given instead) and again by the reader of the
    caption and date (which does not use the id)."""
    song = make_notes(31, 12.0)
    feed = tmp_path / "feed"
    feed.mkdir()
    for k, name in enumerate(("x", "y")):
        write_video(
            feed / f"{name}.mp4", duration_seconds=5.0, audio=_excerpt(song, 1.0 + k, 5.0), sample_rate=SR
        )
        side = {
            "id": ["not", "an", "id"] if name == "x" else name,
            "description": "#tag",
            "timestamp": REF - k,
        }
        (feed / f"{name}.info.json").write_text(json.dumps(side))
    clusters = tmp_path / "c.csv"
    runs = {
        "discover": ["sounds", "discover", str(feed), "-o", str(clusters), "-w", "1"],
        "trends": ["sounds", "trends", str(feed), "-o", str(tmp_path / "t.csv"), "-w", "1"],
        "trends from a table": ["sounds", "trends", str(clusters), str(feed), "-o", str(tmp_path / "t2.csv")],
    }
    for what, args in runs.items():
        caplog.clear()
        with caplog.at_level("WARNING"):
            r = CliRunner().invoke(main, [*args, "--no-progress"])
        assert r.exit_code == 0, r.output
        told = [rec.getMessage() for rec in caplog.records if "field 'id'" in rec.getMessage()]
        assert len(told) == 1, (what, told)
        assert "x.mp4 gets the video id 'x'" in told[0]
