"""``reelsense sounds add|match|info`` on tiny generated media."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from media import write_audio, write_video
from music import make_notes, render
from reelsense.cli import main

SR = 22050


def _library(folder: Path, seed: int) -> dict[str, np.ndarray]:
    """Two 20 s songs written into ``folder`` as song0.wav and song1.wav."""
    folder.mkdir()
    songs = {f"song{i}": render(make_notes(seed + i, 20.0), 20.0, SR) for i in range(2)}
    for sid, x in songs.items():
        write_audio(folder / f"{sid}.wav", x, sample_rate=SR)
    return songs


def test_info_list_keeps_one_sound_per_line(tmp_path: Path) -> None:
    from reelsense.sounds import SoundIndex

    index = tmp_path / "idx.rsidx"
    with SoundIndex.create(index) as ix:
        ix.add_array("two\nlines\tand a tab", render(make_notes(3, 8.0), 8.0, SR), SR)
    r = CliRunner().invoke(main, ["sounds", "info", "--sound-index", str(index), "--list"])
    assert r.exit_code == 0, r.output
    listed = [line for line in r.output.splitlines() if line.startswith("  ")]
    assert len(listed) == 1 and listed[0].split("\t")[0] == "  two\\nlines\\tand a tab"


def test_add_info_match(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    songs = _library(lib, 40)
    q = tmp_path / "q"
    q.mkdir()
    clip = songs["song1"][4 * SR : 10 * SR]
    write_video(q / "clip.mp4", duration_seconds=6.0, audio=clip, sample_rate=SR)
    write_audio(q / "stranger.wav", render(make_notes(99, 6.0), 6.0, SR), sample_rate=SR)
    index = tmp_path / "idx.rsidx"
    runner = CliRunner()
    r = runner.invoke(main, ["sounds", "add", str(lib), "--sound-index", str(index), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "2 sounds added, 0 already indexed, 0 failed" in r.output
    r = runner.invoke(main, ["sounds", "add", str(lib), "--sound-index", str(index), "--no-progress"])
    assert r.exit_code == 0 and "0 sounds added, 2 already indexed" in r.output  # resumes, adds nothing
    r = runner.invoke(
        main, ["sounds", "add", str(lib), "--sound-index", str(index), "--replace", "--no-progress"]
    )
    assert r.exit_code == 0 and "2 sounds added" in r.output and "(2 sounds)" in r.output
    r = runner.invoke(main, ["sounds", "info", "--sound-index", str(index), "--list"])
    assert r.exit_code == 0 and "sounds:     2" in r.output and "song0" in r.output
    # the statistics are what the command is run for, not a summary: -q keeps them (docs/cli.md)
    assert (
        runner.invoke(main, ["-q", "sounds", "info", "--sound-index", str(index), "--list"]).output
        == r.output
    )
    out = tmp_path / "m.csv"
    r = runner.invoke(
        main,
        ["sounds", "match", str(q), "--sound-index", str(index), "-o", str(out), "-w", "2", "--no-progress"],
    )
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert text.startswith("video_id,path,status,error,sound_id,sound_score,sound_offset_seconds,sound_speed")
    rows = {row["video_id"]: row for row in csv.DictReader(text.splitlines())}
    assert list(rows) == ["clip", "stranger"]  # sorted by id
    assert rows["clip"]["sound_id"] == "song1" and rows["clip"]["status"] == "ok"
    assert abs(float(rows["clip"]["sound_offset_seconds"]) - 4.0) < 0.2
    assert abs(float(rows["clip"]["sound_speed"]) - 1.0) < 0.02
    assert rows["stranger"]["sound_id"] == "" and rows["stranger"]["status"] == "ok"
    assert np.isfinite(float(rows["clip"]["sound_score"]))
    # a read-only use leaves the index's folder as it found it: no empty idx.rsidx-wal and no
    # idx.rsidx-shm (each worker's read-only connection left them, and so did the parent's)
    assert sorted(p.name for p in tmp_path.glob("idx.rsidx*")) == ["idx.rsidx", "idx.rsidx-search"]
    for workers in ("1", "2"):
        clusters = tmp_path / f"c{workers}.csv"
        discover = ["sounds", "discover", str(q), "--sound-index", str(index), "-o", str(clusters)]
        r = runner.invoke(main, [*discover, "-w", workers, "--no-progress"])
        assert r.exit_code == 0, r.output
        assert sorted(p.name for p in tmp_path.glob("idx.rsidx*")) == ["idx.rsidx", "idx.rsidx-search"]


def test_match_rejects_missing_index(tmp_path: Path) -> None:
    f = write_audio(tmp_path / "a.wav", render(make_notes(1, 3.0), 3.0, SR), sample_rate=SR)
    r = CliRunner().invoke(
        main, ["sounds", "match", str(f), "--sound-index", str(tmp_path / "no.rsidx"), "-o", "x.csv"]
    )
    assert r.exit_code != 0


def test_match_passes_the_second_chance_and_its_scope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelsense.sounds import SoundIndex, _batch
    from reelsense.sounds.match import MatchConfig

    seen: list[MatchConfig | None] = []

    def no_match(index_path, paths, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["config"])
        return (item for item in [(p, []) for p in paths])

    monkeypatch.setattr(_batch, "match_files", no_match)
    f = write_audio(tmp_path / "a.wav", render(make_notes(1, 3.0), 3.0, SR), sample_rate=SR)
    index = tmp_path / "lib.rsidx"  # only counted (one without sounds is refused): the matcher is replaced
    with SoundIndex.create(index) as ix:
        ix.add_array("a", render(make_notes(1, 3.0), 3.0, SR), SR)
    base = [
        "sounds",
        "match",
        str(f),
        "--sound-index",
        str(index),
        "-o",
        str(tmp_path / "m.csv"),
        "--no-progress",
    ]
    runner = CliRunner()
    for extra in ([], ["--second-chance"], ["--second-chance", "--second-chance-scope", "candidates"]):
        r = runner.invoke(main, [*base, *extra])
        assert r.exit_code == 0, r.output
    assert seen == [
        MatchConfig(),
        MatchConfig(dense_second_chance=True),
        MatchConfig(dense_second_chance=True, dense_scope="candidates"),
    ]
    # a scope without the second chance would change nothing: refused, in every command that has it
    r = runner.invoke(main, [*base, "--second-chance-scope", "candidates"])
    assert r.exit_code == 2 and "only applies with --second-chance" in r.output
    discover = ["sounds", "discover", str(f), "-o", str(tmp_path / "x.csv")]
    r = runner.invoke(main, [*discover, "--second-chance-scope", "library"])
    assert r.exit_code == 2 and "only applies with --second-chance" in r.output
    embed = ["embed", str(f), "--sound-index", str(f), "-o", str(tmp_path / "x.parquet")]
    r = runner.invoke(main, [*embed, "--second-chance-scope", "candidates"])
    assert r.exit_code == 2 and "only applies with --second-chance" in r.output
    assert len(seen) == 3


@pytest.mark.parametrize("workers", ["1", "2"])
def test_files_without_usable_audio_are_not_errors(tmp_path: Path, workers: str) -> None:
    """A picture-only or silent video has no sound to match: status no_audio and exit 0 in
    match, no music (not an error) in discovery; a broken file is still an error."""
    lib = tmp_path / "lib"
    lib.mkdir()
    write_audio(lib / "song.wav", render(make_notes(41, 12.0), 12.0, SR), sample_rate=SR)
    q = tmp_path / "q"
    q.mkdir()
    write_video(q / "mute.mp4", duration_seconds=1.0, audio=None)
    write_video(q / "silent.mp4", duration_seconds=1.0, audio=np.zeros(SR, np.float32), sample_rate=SR)
    index = tmp_path / "idx.rsidx"
    runner = CliRunner()
    r = runner.invoke(main, ["sounds", "add", str(lib), "--sound-index", str(index), "--no-progress"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "m.csv"
    args = ["sounds", "match", str(q), "--sound-index", str(index), "-o", str(out), "-w", workers]
    r = runner.invoke(main, [*args, "--strict", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "0 matched, 0 unmatched, 2 without usable audio, 0 errors" in r.output
    rows = {row["video_id"]: row for row in csv.DictReader(out.read_text().splitlines())}
    assert rows["mute"]["status"] == rows["silent"]["status"] == "no_audio"
    assert "no audio stream" in rows["mute"]["error"] and "silent" in rows["silent"]["error"]
    assert rows["mute"]["sound_id"] == ""
    (q / "broken.mp4").write_bytes(b"not a video at all\n" * 4)
    r = runner.invoke(main, [*args, "--no-progress"])
    assert r.exit_code == 1 and "1 errors" in r.output
    rows = {row["video_id"]: row for row in csv.DictReader(out.read_text().splitlines())}
    assert rows["broken"]["status"] == "error" and rows["mute"]["status"] == "no_audio"
    (q / "broken.mp4").unlink()
    clusters = tmp_path / "c.csv"
    r = runner.invoke(main, ["sounds", "discover", str(q), "-o", str(clusters), "-w", workers, "--strict"])
    assert r.exit_code == 0, r.output
    assert "2 without music, 0 errors" in r.output
    rows = {row["video_id"]: row for row in csv.DictReader(clusters.read_text().splitlines())}
    assert rows["mute"]["error"] == rows["silent"]["error"] == "" and rows["mute"]["sound_cluster"] == ""


def test_match_takes_a_folder_of_reference_sounds(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    songs = _library(lib, 60)
    q = tmp_path / "q"
    q.mkdir()
    write_video(q / "clip.mp4", duration_seconds=6.0, audio=songs["song0"][5 * SR : 11 * SR], sample_rate=SR)
    out = tmp_path / "m.csv"
    r = CliRunner().invoke(
        main, ["sounds", "match", str(q), "--sound-index", str(lib), "-o", str(out), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    row = next(csv.DictReader(out.read_text().splitlines()))
    assert row["sound_id"] == "song0" and abs(float(row["sound_offset_seconds"]) - 5.0) < 0.2


def test_match_summary_counts_every_file(tmp_path: Path) -> None:
    # "19 files: 13 matched, 2 without usable audio, 3 errors" summed to 18: a file that decoded
    # but matched nothing was not counted anywhere
    from reelsense.sounds._batch import match_sounds

    lib = tmp_path / "lib"
    songs = _library(lib, 80)
    q = tmp_path / "q"
    q.mkdir()
    write_audio(q / "clip.wav", songs["song0"][5 * SR : 11 * SR], sample_rate=SR)
    write_audio(q / "other.wav", render(make_notes(999, 6.0), 6.0, SR), sample_rate=SR)
    write_video(q / "mute.mp4", duration_seconds=1.0, audio=None)
    (q / "broken.mp4").write_bytes(b"not a video at all\n" * 4)
    out = tmp_path / "m.csv"
    r = CliRunner().invoke(
        main, ["sounds", "match", str(q), "--sound-index", str(lib), "-o", str(out), "--no-progress"]
    )
    assert r.exit_code == 1, r.output  # the broken file
    assert "4 files: 1 matched, 1 unmatched, 1 without usable audio, 1 errors" in r.output
    summary = match_sounds([q], lib, tmp_path / "m2.csv")
    parts = (summary.matched, summary.unmatched, summary.no_audio, summary.errors)
    assert parts == (1, 1, 1, 1) and sum(parts) == summary.found


def test_a_reference_that_cannot_be_added_is_reported_once(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _library(lib, 70)
    (lib / "broken.wav").write_bytes(b"not audio\n" * 8)
    r = CliRunner().invoke(
        main, ["sounds", "add", str(lib), "--sound-index", str(tmp_path / "i.rsidx"), "--no-progress"]
    )
    assert "2 sounds added, 0 already indexed, 1 failed" in r.output, r.output
    assert r.output.count("not added: broken") == 1, r.output  # the command's line...
    assert "left out of the index" not in r.output, r.output  # ...and not also a log warning


def test_a_corrupt_sound_is_mended_by_the_command_its_error_names(tmp_path: Path) -> None:
    """A sound whose stored bytes are damaged stops `sounds match` with an error naming the
    index and the command that replaces the sound (it named the internal ``store.remove``);
    running that command mends the index."""
    import sqlite3

    lib = tmp_path / "lib"
    songs = _library(lib, 60)
    clip = write_audio(tmp_path / "clip.wav", songs["song1"][4 * SR : 10 * SR], sample_rate=SR)
    index = tmp_path / "idx.rsidx"
    runner = CliRunner()
    r = runner.invoke(main, ["sounds", "add", str(lib), "--sound-index", str(index), "--no-progress"])
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(index)
    con.execute(
        "UPDATE arrays SET data = zeroblob(length(data)) "
        "WHERE key = (SELECT key FROM sounds WHERE sound_id = 'song1') AND codec = 'shuffle-zlib'"
    )
    con.commit()
    con.close()
    for search_file in tmp_path.glob("idx.rsidx-*"):
        search_file.unlink()
    out = tmp_path / "m.csv"
    match = ["sounds", "match", str(clip), "--sound-index", str(index), "-o", str(out), "--no-progress"]
    r = runner.invoke(main, match)
    assert r.exit_code != 0 and "'song1'" in r.output and "is corrupt" in r.output
    assert f"reelsense sounds add FILE --sound-index {index} --replace" in " ".join(r.output.split())
    r = runner.invoke(
        main,
        ["sounds", "add", str(lib / "song1.wav"), "--sound-index", str(index), "--replace", "--no-progress"],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, match)
    assert r.exit_code == 0, r.output
    assert next(csv.DictReader(out.read_text().splitlines()))["sound_id"] == "song1"


def test_a_rerun_keeps_the_ids_already_indexed_when_a_new_file_shares_a_stem(tmp_path: Path) -> None:
    """song0.wav was indexed as song0; a song0.flac added to the folder since renamed both
    (song0.wav, song0.flac), so the re-run added song0.wav a second time, as song0.wav. The
    file already indexed now keeps its id and only the new file is added."""
    lib = tmp_path / "lib"
    songs = _library(lib, 70)
    index = tmp_path / "idx.rsidx"
    add = ["sounds", "add", str(lib), "--sound-index", str(index), "--no-progress"]
    runner = CliRunner()
    assert runner.invoke(main, add).exit_code == 0
    write_audio(lib / "song0.flac", songs["song1"][: 8 * SR], sample_rate=SR)
    r = runner.invoke(main, add)
    assert r.exit_code == 0, r.output
    assert "1 sounds added, 2 already indexed" in r.output
    r = runner.invoke(main, [*add[:2], str(lib), "--sound-index", str(index), "--replace", "--no-progress"])
    assert r.exit_code == 0 and "(3 sounds)" in r.output, r.output
    r = runner.invoke(main, ["sounds", "info", "--sound-index", str(index), "--list"])
    listed = sorted(line.split("\t")[0].strip() for line in r.output.splitlines() if line.startswith("  "))
    assert listed == ["song0", "song0.flac", "song1"]


def test_match_refuses_an_index_without_sounds(tmp_path: Path) -> None:
    """A --sound-index naming a new, empty index (or one whose sounds were all removed) wrote a
    CSV with no match and exited 0; it is now refused with one line naming the index, and no
    CSV is written."""
    from reelsense.sounds import SoundIndex

    clip = write_audio(tmp_path / "clip.wav", render(make_notes(5, 6.0), 6.0, SR), sample_rate=SR)
    index = tmp_path / "new.rsidx"
    SoundIndex.create(index).close()
    out = tmp_path / "m.csv"
    r = CliRunner().invoke(
        main, ["sounds", "match", str(clip), "--sound-index", str(index), "-o", str(out), "--no-progress"]
    )
    assert r.exit_code == 1, r.output
    assert "new.rsidx" in r.output and "holds no sounds" in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_an_add_where_every_file_fails_does_not_also_say_the_index_is_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its lines say what was not added and the summary 0 sounds; the matchers' warning that the
    index holds no sounds (6101aac) came on top, telling to run `sounds add` again."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "broken.wav").write_bytes(b"not audio\n" * 8)
    with caplog.at_level("WARNING"):
        r = CliRunner().invoke(
            main, ["sounds", "add", str(lib), "--sound-index", str(tmp_path / "i.rsidx"), "--no-progress"]
        )
    assert r.exit_code == 1 and "0 sounds added, 0 already indexed, 1 failed" in r.output, r.output
    assert "holds no sounds" not in r.output + caplog.text
