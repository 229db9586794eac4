"""SoundIndex: add/match/remove, persistence, other handles' writes, files, errors."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from media import write_audio
from music import make_notes, render
from reelsense._signals import restore_signal_handlers, signal_handlers
from reelsense.errors import DecodeError, NoAudioError, ParameterError, SoundIndexError, SoundIndexFormatError
from reelsense.sounds import FingerprintParams, SoundIndex
from reelsense.sounds.fingerprint import peaks_of
from reelsense.sounds.index import RayShardedIndex, ShardedIndex, shard_of, split_index
from reelsense.sounds.index._search_file import read_search_file
from reelsense.sounds.index._store import FingerprintStore

SR = 22050


def _song(seed: int, seconds: float = 30.0) -> np.ndarray:
    return render(make_notes(seed, seconds), seconds, SR)


def test_add_match_remove_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "idx.rsidx"
    songs = {f"song{i}": _song(i) for i in range(3)}
    with SoundIndex.create(path) as index:
        for sid, x in songs.items():
            index.add_array(sid, x, SR)
        assert sorted(index.ids()) == sorted(songs)
        m = index.match(songs["song1"][5 * SR : 13 * SR], SR)
        assert m[0].sound_id == "song1"
        assert m[0].offset_seconds == pytest.approx(5.0, abs=0.1)
        index.remove("song1")
        assert "song1" not in index
        assert all(x.sound_id != "song1" for x in index.match(songs["song1"][5 * SR : 13 * SR], SR))
    with SoundIndex.open(path, readonly=True) as again:
        assert sorted(again.ids()) == ["song0", "song2"]
        info = {s.sound_id: s for s in again.sounds()}
        assert info["song2"].duration_seconds == pytest.approx(30.0, abs=0.01)
        assert info["song2"].n_peaks > 100
        st = again.stats()
        assert st.n_sounds == 2 and st.total_duration_seconds == pytest.approx(60.0, abs=0.1)
        assert again.match(songs["song2"][10 * SR : 16 * SR], SR)[0].sound_id == "song2"


def test_reader_sees_sounds_added_by_another_handle(tmp_path: Path) -> None:
    path = tmp_path / "idx.rsidx"
    with SoundIndex.create(path) as writer:
        writer.add_array("first", _song(1), SR)
        with SoundIndex.open(path, readonly=True) as reader:
            assert reader.match(_song(2)[: 8 * SR], SR) == []
            writer.add_array("second", _song(2), SR)
            assert reader.match(_song(2)[: 8 * SR], SR)[0].sound_id == "second"


def test_add_many_files_skips_bad_ones(tmp_path: Path) -> None:
    files = [write_audio(tmp_path / f"track{i}.wav", _song(i, 12.0), sample_rate=SR) for i in range(3)]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    seen: list[tuple[str, bool]] = []
    with SoundIndex.create(tmp_path / "i.rsidx") as index:
        recs = index.add_many(
            [*files, bad], workers=2, on_done=lambda p, e: seen.append((Path(p).name, e is None))
        )
        assert sorted(r.sound_id for r in recs) == ["track0", "track1", "track2"]
        assert ("broken.wav", False) in seen and len(seen) == 4
        rec = index.add_file(files[0], "renamed")
        assert rec.sound_id == "renamed"
        assert index.match_file(files[1])[0].sound_id == "track1"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SoundIndexError):
        SoundIndex.open(tmp_path / "missing.rsidx")
    path = tmp_path / "i.rsidx"
    with SoundIndex.create(path) as index:
        index.add_array("x", _song(3, 10.0), SR)
        with pytest.raises(SoundIndexError, match=r"already|exists|x"):
            index.add_array("x", _song(4, 10.0), SR)
        with pytest.raises(SoundIndexError):
            index.remove("nope")
        assert index.match(np.zeros(0, np.float32), SR) == []
        with pytest.raises(ParameterError, match="threshold=nan"):
            index.match(_song(3, 10.0), SR, threshold=float("nan"))
    with pytest.raises(SoundIndexFormatError):
        SoundIndex.create(path, params=FingerprintParams(ref_peaks_per_second=10.0))


def test_search_file_survives_damage_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "i.rsidx"
    with SoundIndex.create(path) as index:
        index.add_array("a", _song(5, 20.0), SR)
        index.prepare_search()
        assert index.stats().search_file_bytes > 0
    index.search_path.write_bytes(b"garbage")  # damaged: ignored (a warning) and rebuilt
    with SoundIndex.open(path, readonly=True) as index:
        assert index.match(_song(5, 20.0)[4 * SR : 12 * SR], SR)[0].sound_id == "a"
    assert read_search_file(index.search_path).sound_ids == ["a"]
    other = tmp_path / "other.rsidx"  # another index's search file under this name: not used
    with SoundIndex.create(other) as o:
        o.add_array("b", _song(6, 20.0), SR)
        o.prepare_search()
    shutil.copy(o.search_path, index.search_path)
    with SoundIndex.open(path) as index:
        assert index.match(_song(5, 20.0)[4 * SR : 12 * SR], SR)[0].sound_id == "a"
        assert index.match(_song(6, 20.0)[4 * SR : 12 * SR], SR) == []
    assert read_search_file(index.search_path).sound_ids == ["a"]


def test_add_peaks_and_an_index_of_the_pair_scheme(tmp_path: Path) -> None:
    params = FingerprintParams()
    x = _song(7, 20.0)
    peaks = peaks_of(x, SR, params, params.ref_peaks_per_second)
    old = tmp_path / "v1.rsidx"  # the pair-hash scheme stored the same peaks: still readable
    v1 = {**params.to_dict(), "scheme": "logpeaks-pairs", "scheme_version": 1, "ref_fan_out": 6}
    with FingerprintStore.open(old, create=True, params=v1) as store:
        store.add("p", {"peak_times": peaks.times, "peak_bins": peaks.bins}, duration_seconds=20.0)
    with SoundIndex.create(old) as index:  # adding to it works too
        index.add_peaks([("q", peaks_of(_song(8, 20.0), SR, params, params.ref_peaks_per_second), 20.0)])
        assert index.match(x[5 * SR : 12 * SR], SR)[0].sound_id == "p"
        assert index.match(_song(8, 20.0)[5 * SR : 12 * SR], SR)[0].sound_id == "q"
    future = tmp_path / "v9.rsidx"
    with FingerprintStore.open(future, create=True, params={**v1, "scheme_version": 9}):
        pass
    with pytest.raises(SoundIndexFormatError, match="scheme"):
        SoundIndex.open(future)


def test_shards_search_as_one_index(tmp_path: Path) -> None:
    # split into shards, searched in this process: the same best match and the same score as the
    # whole index (every shard scores against the trial count of all of them)
    whole = tmp_path / "whole.rsidx"
    songs = {f"song{i}": _song(i, 20.0) for i in range(5)}
    with SoundIndex.create(whole) as index:
        for sid, x in songs.items():
            index.add_array(sid, x, SR)
    paths = split_index(whole, tmp_path / "shards", 3)
    assert [p.name for p in paths] == ["shard-000.rsidx", "shard-001.rsidx", "shard-002.rsidx"]
    held = {}
    for i, p in enumerate(paths):
        with SoundIndex.open(p, readonly=True) as shard:
            assert p.with_name(p.name + "-search").exists()
            held.update({sid: i for sid in shard.ids()})
    assert held == {sid: shard_of(sid, 3) for sid in songs}
    clip = songs["song3"][4 * SR : 12 * SR]
    with SoundIndex.open(whole, readonly=True) as index, ShardedIndex(paths) as sharded:
        assert len(sharded) == 5
        whole_totals = index._search.get().totals
        assert sharded.totals.sounds == whole_totals.sounds == 5
        assert sharded.totals.frames == pytest.approx(whole_totals.frames)
        one, many = index.match(clip, SR), sharded.match(clip, SR)
        assert one[0].sound_id == many[0].sound_id == "song3"
        assert many[0].score == pytest.approx(one[0].score)
        assert many[0].offset_seconds == pytest.approx(4.0, abs=0.1)
        rng = np.random.default_rng(3)
        assert sharded.match((0.1 * rng.standard_normal(6 * SR)).astype(np.float32), SR) == []


@pytest.mark.slow
def test_ray_shards_give_the_in_process_answer(tmp_path: Path) -> None:
    """Ray started by the index itself (not running before) keeps the caller's SIGTERM
    handler, which ``ray.init`` replaces."""
    ray = pytest.importorskip("ray")
    whole = tmp_path / "whole.rsidx"
    songs = {f"song{i}": _song(i, 20.0) for i in range(4)}
    with SoundIndex.create(whole) as index:
        for sid, x in songs.items():
            index.add_array(sid, x, SR)
    paths = split_index(whole, tmp_path / "shards", 2)
    clip = songs["song2"][3 * SR : 11 * SR]

    def callers_handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    handlers = signal_handlers()
    signal.signal(signal.SIGTERM, callers_handler)
    assert not ray.is_initialized()
    try:
        remote = RayShardedIndex(paths, num_cpus=0.5)
        assert ray.is_initialized() and signal.getsignal(signal.SIGTERM) is callers_handler
        with ShardedIndex(paths) as local:
            assert remote.totals.sounds == local.totals.sounds == 4
            assert remote.totals.frames == pytest.approx(local.totals.frames)
            a, b = remote.match(clip, SR), local.match(clip, SR)
        assert a[0].sound_id == b[0].sound_id == "song2" and a[0].score == pytest.approx(b[0].score)
        remote.close()
    finally:
        ray.shutdown()
        restore_signal_handlers(handlers, default_too=True)


@pytest.mark.parametrize("seed", range(6))
def test_an_unedited_copy_matches_with_no_edit(tmp_path: Path, seed: int) -> None:
    """Verification breaks ties between grid cells towards the candidate's own scale and shift:
    a copy matched against itself is not reported a shift step off (pitch 0.25, tempo 0.986)."""
    song = _song(seed, 20.0)
    with SoundIndex.create(tmp_path / "i.rsidx") as index:
        index.add_array("x", song, SR)
        m = index.match(song, SR)[0]
    assert (m.sound_id, m.speed, m.tempo, m.pitch_semitones) == ("x", 1.0, 1.0, 0.0)


def _one_nan(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y[len(y) // 2] = np.nan
    return y


def test_add_array_refuses_audio_it_cannot_fingerprint(tmp_path: Path) -> None:
    # each was stored as a sound with no peaks, which no query can ever match
    with SoundIndex.create(tmp_path / "i.rsidx") as index:
        for samples, match in (
            (np.full(10 * SR, np.nan, np.float32), f"{10 * SR} NaN/inf values"),
            (_one_nan(_song(1, 10.0)), "1 NaN/inf values"),
            (np.zeros(0, np.float32), "0 samples give no fingerprint peaks"),
            (np.zeros(10 * SR, np.float32), f"{10 * SR} samples give no fingerprint peaks"),
            (_song(1, 10.0).astype(np.complex64), "floating point"),
        ):
            with pytest.raises(ParameterError, match=match):
                index.add_array("s", samples, SR)
        with pytest.raises(ParameterError, match="sample_rate=nan"):
            index.add_array("s", _song(1, 10.0), float("nan"))  # type: ignore[arg-type]
        assert len(index) == 0


def test_match_refuses_bad_samples_and_options(tmp_path: Path) -> None:
    with SoundIndex.create(tmp_path / "i.rsidx") as index:
        index.add_array("a", _song(1), SR)
        query = _song(1)[5 * SR : 13 * SR]
        assert index.match(query, np.int64(SR), top_k=np.int64(1))[0].sound_id == "a"
        with pytest.raises(ParameterError, match="1 NaN/inf values"):  # returned [] silently
            index.match(_one_nan(query), SR)
        for kwargs, match in (
            ({"top_k": 0}, "top_k=0 must be >= 1"),  # returned [] silently
            ({"top_k": -1}, "top_k=-1 must be >= 1"),
            ({"top_k": 1.5}, "top_k=1.5 must be an integer"),
            ({"top_k": "2"}, "top_k='2' must be an integer"),
            ({"threshold": "2"}, "threshold='2' must be a number"),
            ({"threshold": -1.0}, "threshold=-1.0 must be >= 0"),
        ):
            with pytest.raises(ParameterError, match=match):
                index.match(query, SR, **kwargs)
        with pytest.raises(ParameterError, match="sample_rate='11025'"):
            index.match(query, "11025")  # type: ignore[arg-type]


def test_add_many_refuses_a_single_path(tmp_path: Path) -> None:
    with SoundIndex.create(tmp_path / "i.rsidx") as index:
        with pytest.raises(ParameterError, match="paths='x' is a single path: pass a list of paths"):
            index.add_many("x")  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match=r"workers=2\.5 must be an integer"):
            index.add_many(["x"], workers=2.5)  # type: ignore[arg-type]


def test_add_many_and_match_files_refuse_a_folder(tmp_path: Path) -> None:
    # a folder was skipped with a "cannot decode" warning (add_many returned []), or yielded
    # as a failed file (match_files): its files were never looked at
    from reelsense.sounds.index import match_files

    (tmp_path / "songs").mkdir()
    folder = r"paths: '.*songs' is a folder, not a media file"
    with SoundIndex.create(tmp_path / "i.rsidx") as index, pytest.raises(ParameterError, match=folder):
        index.add_many([tmp_path / "songs"])
    with pytest.raises(ParameterError, match=folder):
        list(match_files(tmp_path / "i.rsidx", [str(tmp_path / "songs")]))


@pytest.mark.parametrize("workers", [1, 2])
def test_add_many_reports_failures_with_their_type_or_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, workers: int
) -> None:
    good = [write_audio(tmp_path / f"t{i}.wav", _song(i, 8.0), sample_rate=SR) for i in range(2)]
    silent = write_audio(tmp_path / "silent.wav", np.zeros(SR, np.float32), sample_rate=SR)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    errors: dict[str, Exception | None] = {}
    with (
        caplog.at_level("WARNING", logger="reelsense.sounds"),
        SoundIndex.create(tmp_path / "i.rsidx") as index,
    ):
        index.add_many(
            [*good, silent, bad], workers=workers, on_done=lambda p, e: errors.__setitem__(Path(p).name, e)
        )
    assert type(errors["silent.wav"]) is NoAudioError  # was a plain ReelsenseError
    assert type(errors["broken.wav"]) is DecodeError
    assert errors["t0.wav"] is None

    def warned() -> list[str]:
        left = [r.getMessage() for r in caplog.records if "left out of the index" in r.getMessage()]
        return sorted(Path(m.split(" is left")[0]).name for m in left)

    assert warned() == []  # with on_done the caller reports them (sounds add prints its own line)
    caplog.clear()
    with (
        caplog.at_level("WARNING", logger="reelsense.sounds"),
        SoundIndex.create(tmp_path / "j.rsidx") as index,
    ):
        index.add_many([*good, silent, bad], workers=workers)
    assert warned() == ["broken.wav", "silent.wav"]  # without it, a warning each


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: SoundIndex.open(None), "path=None must be a path"),  # type: ignore[arg-type]
        (lambda p: SoundIndex.create(5), "path=5 must be a path"),  # type: ignore[arg-type]
        (lambda p: SoundIndex.create(p, params={}), r"params=\{\} must be a FingerprintParams"),  # type: ignore[arg-type]
        (lambda p: SoundIndex.create(p, config={}), r"config=\{\} must be a MatchConfig"),  # type: ignore[arg-type]
    ],
)
def test_open_and_create_name_an_argument_of_the_wrong_kind(tmp_path: Path, call: object, match: str) -> None:
    """A TypeError or an AttributeError came from deep inside (a config dict only at match time)."""
    with pytest.raises(ParameterError, match=match):
        call(tmp_path / "x.rsidx")  # type: ignore[operator]
    assert not (tmp_path / "x.rsidx").exists()


def test_add_file_names_a_path_of_the_wrong_kind(tmp_path: Path) -> None:
    with SoundIndex.create(tmp_path / "x.rsidx") as index, pytest.raises(ParameterError, match="path=None"):
        index.add_file(None)  # type: ignore[arg-type]


def test_shards_that_hold_no_sound_warn_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A sharded index whose shards are all empty matched nothing without a word (its shards are
    searched directly, not through SoundIndex.match); one empty shard among others is normal."""
    song = _song(2, 10.0)
    empty = [tmp_path / "e0.rsidx", tmp_path / "e1.rsidx"]
    for p in empty:
        SoundIndex.create(p).close()
    full = tmp_path / "full.rsidx"
    with SoundIndex.create(full) as index:
        index.add_array("song", song, SR)
    with caplog.at_level("WARNING", logger="reelsense.sounds"), ShardedIndex(empty) as sharded:
        assert sharded.match(song, SR) == []
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "shards '" in warning and "e0.rsidx', '" in warning and "e1.rsidx' hold no sounds" in warning
    caplog.clear()
    with caplog.at_level("WARNING", logger="reelsense.sounds"), ShardedIndex([empty[0], full]) as sharded:
        assert [m.sound_id for m in sharded.match(song, SR)] == ["song"]
    assert caplog.records == []
    # splitting one sound into three shards leaves two empty: normal, and said nothing of
    with caplog.at_level("WARNING", logger="reelsense.sounds"):
        shards = split_index(full, tmp_path / "split", 3)
        with ShardedIndex(shards) as sharded:
            assert [m.sound_id for m in sharded.match(song, SR)] == ["song"]
    assert caplog.records == [], [r.getMessage() for r in caplog.records]


def test_matching_an_index_without_sounds_warns_once_per_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An index created empty (or with every sound removed) matched nothing without a word: a
    --sound-index naming a new, empty file looked like a corpus without library sounds. Each
    call now warns once, naming the index; an index with sounds gives no warning."""
    from reelsense.sounds.index import match_files

    song = _song(7, 10.0)
    clip = write_audio(tmp_path / "clip.wav", song[2 * SR : 8 * SR], sample_rate=SR)
    path = tmp_path / "idx.rsidx"
    with SoundIndex.create(path) as index:
        with caplog.at_level("WARNING", logger="reelsense.sounds"):
            assert index.match(song, SR) == []
        (warning,) = [r.getMessage() for r in caplog.records]
        assert "idx.rsidx" in warning and "holds no sounds" in warning
        index.add_array("song", song, SR)
        index.remove("song")  # every sound removed: as empty
    for workers in (1, 2):
        caplog.clear()
        with caplog.at_level("WARNING", logger="reelsense.sounds"):
            results = list(match_files(path, [clip, clip, clip], workers=workers))
        assert [m for _, m in results] == [[], [], []]
        assert len([r for r in caplog.records if "holds no sounds" in r.getMessage()]) == 1
    with SoundIndex.open(path) as index:
        index.add_array("song", song, SR)
    caplog.clear()
    with caplog.at_level("WARNING", logger="reelsense.sounds"):
        assert [m[0].sound_id for _, m in match_files(path, [clip])] == ["song"]
    assert caplog.records == []


def test_adding_audio_already_indexed_under_another_id_warns_naming_both(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same audio under two names (song.wav, copy of song.wav) was indexed as two sounds
    without a word, and every match then went to one of them. Adding it now warns naming both
    ids, in one batch or across two; the sound is still added. Other audio, or the same id
    re-added (replace), gives no warning."""
    song, other = _song(11, 12.0), _song(12, 12.0)
    first = write_audio(tmp_path / "song.wav", song, sample_rate=SR)
    copy = write_audio(tmp_path / "copy of song.wav", song, sample_rate=SR)
    again = write_audio(tmp_path / "again.wav", song, sample_rate=SR)
    lone = write_audio(tmp_path / "other.wav", other, sample_rate=SR)
    with SoundIndex.create(tmp_path / "i.rsidx") as index:
        with caplog.at_level("WARNING", logger="reelsense.sounds"):
            index.add_many([first, copy, lone], ["song", "copy of song", "other"], workers=2)
        (warning,) = [r.getMessage() for r in caplog.records]
        assert "'copy of song'" in warning and "'song'" in warning and "same audio" in warning
        caplog.clear()
        with caplog.at_level("WARNING", logger="reelsense.sounds"):
            index.add_many([again], ["again"])
        (warning,) = [r.getMessage() for r in caplog.records]
        assert "'again'" in warning and "'song'" in warning and "'copy of song'" in warning
        caplog.clear()
        with caplog.at_level("WARNING", logger="reelsense.sounds"):
            index.add_many([lone], ["other"], replace=True)
        assert caplog.records == []
        with caplog.at_level("WARNING", logger="reelsense.sounds"):  # both re-added: each named once
            index.add_many([copy, first], ["copy of song", "song"], replace=True)
        assert [r.getMessage().count("'copy of song'") for r in caplog.records] == [1, 1]
        assert len(index) == 4


def _unmatchable_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "can never match" in r.getMessage()]


def test_adding_a_reference_that_can_never_match_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A steady tone puts its peaks on one or two frequency bins, and verification counts at most
    ``align_cap_per_bin`` coincidences per bin: even the identical audio cannot reach the
    threshold. A 0.05 s blip has too few peaks. Both are added (the dense second chance may still
    find the tone) with a warning naming the id, duration, peaks and the minimum; music is not."""
    t = np.arange(3 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    blip = _song(3, 5.0)[1 * SR : int(1.05 * SR)]
    warnings = caplog.at_level("WARNING", logger="reelsense.sounds")
    with SoundIndex.create(tmp_path / "idx.rsidx") as index, warnings:
        index.add_array("music", _song(4, 8.0), SR)
        assert _unmatchable_warnings(caplog) == []
        index.add_array("tone", tone, SR)
        index.add_array("blip", blip, SR)
        said = _unmatchable_warnings(caplog)
        assert len(said) == 2
        assert "'tone'" in said[0] and "3.00 s" in said[0] and "peaks" in said[0] and "minimum" in said[0]
        assert "'blip'" in said[1] and "0.05 s" in said[1]
        assert {"tone", "blip"} <= set(index.ids())  # warned, not refused
        assert index.match(tone, SR) == []  # the warning is right: the identical audio does not match
        assert index.match(blip, SR) == []
        write_audio(tmp_path / "tone.wav", tone, sample_rate=SR)
        caplog.clear()
        index.add_many([tmp_path / "tone.wav"], ["tone2"])
        index.add_file(tmp_path / "tone.wav", "tone3")
        assert [("'tone2'" in m, "'tone3'" in m) for m in _unmatchable_warnings(caplog)] == [
            (True, False),
            (False, True),
        ]
