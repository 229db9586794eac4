"""Sound discovery on synthetic music: grouping, relative speeds, gates, graph rules."""

from __future__ import annotations

import csv
import dataclasses
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music import make_notes, render, room_voice_noise
from reelsense.errors import ItemFailedError, ParameterError
from reelsense.sounds import SoundIndex
from reelsense.sounds.discover import (
    AudioClip,
    DiscoveryParams,
    EdgeTable,
    _api,
    cluster_graph,
    discover_sounds,
    place_members,
    sustained_filter,
)

SR = 22050
DAY = 86400
T0 = 1_700_000_000


def babble(seed: int, seconds: float, sr: int = SR) -> np.ndarray:
    """Speech-like: harmonics of a gliding f0, syllable-rate envelope, pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.random() * 6)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(h * phase) / h for h in range(1, 15))
    voiced = rng.random(n // sr + 1)[t.astype(int)] > 0.25
    env = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t), 0, None) * voiced
    return (0.2 * x * env).astype(np.float32)


def excerpt(notes: np.ndarray, start: float, seconds: float, speed: float = 1.0) -> np.ndarray:
    """``seconds`` of the song from ``start`` (song time), resampled by ``speed`` (pitch moves too)."""
    full = render(notes, 40.0, SR, time_scale=1.0 / speed, pitch=speed)
    s0 = int(start / speed * SR)
    return full[s0 : s0 + int(seconds * SR)]


@pytest.fixture(scope="module")
def songs() -> dict[str, np.ndarray]:
    return {name: make_notes(seed, 40.0) for name, seed in (("a", 11), ("b", 12), ("c", 13))}


@pytest.fixture(scope="module")
def clips(songs: dict[str, np.ndarray]) -> list[AudioClip]:
    a, b, c = songs["a"], songs["b"], songs["c"]
    rng = np.random.default_rng(5)
    spec = [
        ("a_plain", excerpt(a, 5.0, 10.0), 0),
        ("a_fast", excerpt(a, 8.0, 9.0, speed=1.2), 1),
        ("a_slow", excerpt(a, 3.0, 10.0, speed=0.85), 2),
        ("b_one", excerpt(b, 10.0, 10.0), 3),
        ("b_two", excerpt(b, 14.0, 10.0) * 0.5 + 0.01 * rng.standard_normal(10 * SR).astype(np.float32), 4),
        ("c_alone", excerpt(c, 2.0, 10.0), 5),
        ("speech", babble(3, 10.0), 6),
        ("speech_again", babble(3, 10.0), 7),
        ("silence", (1e-4 * rng.standard_normal(8 * SR)).astype(np.float32), 8),
    ]
    return [AudioClip(cid, x, SR, timestamp_seconds=T0 + day * DAY) for cid, x, day in spec]


@pytest.fixture(scope="module")
def found(clips: list[AudioClip]):  # type: ignore[no-untyped-def]
    return discover_sounds(clips)


def test_shared_sound_at_three_speeds_is_one_cluster(found) -> None:  # type: ignore[no-untyped-def]
    labels = found.labels()
    assert labels["a_plain"] is not None
    assert labels["a_plain"] == labels["a_fast"] == labels["a_slow"]
    assert labels["b_one"] is not None and labels["b_one"] == labels["b_two"]
    assert labels["b_one"] != labels["a_plain"]
    assert labels["c_alone"] is None
    # relative speeds: speed_x / speed_y is how much faster x plays than y
    v = {x.video_id: x for x in found.videos}
    assert v["a_fast"].speed / v["a_plain"].speed == pytest.approx(1.2, rel=0.02)
    assert v["a_slow"].speed / v["a_plain"].speed == pytest.approx(0.85, rel=0.02)
    assert v["a_fast"].pitch_semitones - v["a_plain"].pitch_semitones == pytest.approx(
        12 * np.log2(1.2), abs=0.5
    )
    # offsets: a_plain starts at song 5 s, a_fast at song 8 s; in the representative's time the
    # difference is (8 - 5) s divided by the representative's speed relative to the song
    rep = v[v["a_plain"].representative]
    rep_speed_vs_song = {"a_plain": 1.0, "a_fast": 1.2, "a_slow": 0.85}[rep.video_id]
    gap = v["a_fast"].offset_seconds - v["a_plain"].offset_seconds
    assert gap == pytest.approx(3.0 / rep_speed_vs_song, abs=0.15)


def test_speech_silence_join_no_cluster(found) -> None:  # type: ignore[no-untyped-def]
    v = {x.video_id: x for x in found.videos}
    # the two speech videos even share one recording: speech-only videos join no cluster
    for vid in ("speech", "speech_again", "silence"):
        assert v[vid].cluster is None
        assert not v[vid].music
    assert v["a_plain"].music and v["a_plain"].notes_per_second > 3.0


def test_ids_summary_and_csv(found, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert [s.cluster for s in found.sounds] == ["d0001", "d0002"]
    big = found.sounds[0]
    assert big.size == 3 and set(big.members) == {"a_plain", "a_fast", "a_slow"}
    assert big.first_seen == T0 and big.last_seen == T0 + 2 * DAY
    assert big.representative in big.members
    assert dict(zip(big.members, big.speeds, strict=True))[big.representative] == pytest.approx(1.0)
    out, summary = found.write_csv(tmp_path / "clusters.csv")
    assert summary.name == "clusters_summary.csv"
    rows = list(csv.DictReader(out.open()))
    assert out.read_text().startswith("video_id,sound_cluster,")
    assert {r["video_id"]: r["sound_cluster"] for r in rows}["c_alone"] == ""
    assert {"offset_seconds", "duration_seconds", "notes_per_second"} <= set(rows[0])
    srows = list(csv.DictReader(summary.open()))
    assert srows[0]["sound_cluster"] == "d0001" and srows[0]["size"] == "3"
    assert srows[0]["first_seen"] == "2023-11-14T22:13:20Z"


def test_summary_members_give_the_ids_back(found, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    odd = ("a;b", "c:d", "50%;x:y")
    big = dataclasses.replace(found.sounds[0], members=odd)
    _, summary = dataclasses.replace(found, sounds=(big,)).write_csv(tmp_path / "clusters.csv")
    field = next(csv.DictReader(summary.open()))["members"]
    parts = [m.rsplit(":", 1) for m in field.split(";")]
    assert tuple(urllib.parse.unquote(i) for i, _ in parts) == odd
    assert [float(sp) for _, sp in parts] == pytest.approx(list(big.speeds), abs=1e-4)


def test_videos_are_seen_in_id_order_whatever_the_input_order(  # type: ignore[no-untyped-def]
    clips: list[AudioClip], found, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the in-memory index and each video's few neighbours depend on the order videos are seen
    # in: on real media a reordered list moved a video out of its sound and renamed sounds
    from reelsense.sounds.discover import _api

    seen: list[str] = []
    real = _api.print_source

    def spy(job):  # type: ignore[no-untyped-def]
        seen.append(job.source.clip_id)
        return real(job)

    monkeypatch.setattr(_api, "print_source", spy)
    shuffled = clips[4:] + clips[:4]
    again = discover_sounds(shuffled)
    assert seen == sorted(c.clip_id for c in clips)
    assert [v.video_id for v in again.videos] == [c.clip_id for c in shuffled]  # rows keep input order
    a, a_summary = found.write_csv(tmp_path / "a.csv")
    b, b_summary = again.write_csv(tmp_path / "b.csv")
    assert sorted(a.read_text().splitlines()) == sorted(b.read_text().splitlines())
    assert a_summary.read_bytes() == b_summary.read_bytes()


def test_write_csv_overwrites_neither_a_video_nor_its_own_table(found, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # write_csv("videos/a.mp4") replaced the video with the clusters table (and wrote
    # a_summary.mp4); write_csv(p, p) failed with "No such file or directory: '.tmp-...'"
    from reelsense.errors import OutputError

    video = tmp_path / "a_plain.mp4"
    video.write_bytes(b"the video")
    first = dataclasses.replace(found.videos[0], path=str(video))
    with_paths = dataclasses.replace(found, videos=(first, *found.videos[1:]))
    with pytest.raises(OutputError, match=r"path='.*a_plain.mp4' is the input '.*a_plain.mp4'"):
        with_paths.write_csv(video)
    assert video.read_bytes() == b"the video" and not (tmp_path / "a_plain_summary.mp4").exists()
    same = tmp_path / "c.csv"
    with pytest.raises(OutputError, match=r"summary_path='.*c.csv' is also path"):
        found.write_csv(same, same)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_plain.mp4"]


def test_an_interrupted_write_keeps_the_earlier_pair(  # type: ignore[no-untyped-def]
    found, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelsense.sounds.discover import _result

    out, summary = found.write_csv(tmp_path / "clusters.csv")
    before = (out.read_bytes(), summary.read_bytes())

    def interrupted(s):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # Ctrl-C while the summary is written, the clusters table done

    monkeypatch.setattr(_result, "_sound_row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        found.write_csv(tmp_path / "clusters.csv")
    assert (out.read_bytes(), summary.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.csv", "clusters_summary.csv"]


def test_input_order_does_not_change_the_grouping(clips: list[AudioClip], found) -> None:  # type: ignore[no-untyped-def]
    again = discover_sounds(clips[::-1])
    assert again.labels() == found.labels()


def test_library_sound_names_its_cluster(  # type: ignore[no-untyped-def]
    songs: dict[str, np.ndarray], clips, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SoundIndex.create(tmp_path / "lib.rsidx") as index:
        index.add_array("song_a", render(songs["a"], 40.0, SR), SR)
    handed: list[frozenset[object]] = []
    real_init = _api.init_worker

    def init_worker(*args: object) -> None:
        handed.append(args[-1])  # type: ignore[arg-type]
        real_init(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_api, "init_worker", init_worker)
    res = discover_sounds(clips[:6], sound_index=tmp_path / "lib.rsidx")
    # the parent checked this index's search file and handed its version to the workers (the set
    # also holds whatever else this process checked before: versions are per file, so that is safe)
    info = (tmp_path / "lib.rsidx-search").stat()
    assert len(handed) == 1
    assert [v[:4] for v in handed[0]].count((info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)) == 1  # type: ignore[index]
    v = {x.video_id: x for x in res.videos}
    assert v["a_plain"].cluster == v["a_fast"].cluster == "song_a"
    assert v["a_fast"].representative == "song_a"
    assert v["a_fast"].speed == pytest.approx(1.2, rel=0.02)
    assert v["a_plain"].offset_seconds == pytest.approx(5.0, abs=0.15)
    assert v["b_one"].cluster == "d0001" and v["b_one"].library_sound is None
    assert res.sounds[0].library_sound == "song_a"


def test_decode_errors_keep_a_row(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with caplog.at_level("WARNING", logger="reelsense.sounds"):
        res = discover_sounds([bad])
    assert res.videos[0].error and res.videos[0].cluster is None and res.stats.n_errors == 1
    skipped = [r.getMessage() for r in caplog.records if "discovery skips" in r.getMessage()]
    assert len(skipped) == 1 and str(bad) in skipped[0] and "cannot decode" in skipped[0]


@pytest.mark.parametrize("workers", [1, 2])
def test_strict_raises_at_the_first_failure(
    tmp_path: Path, workers: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for name in ("x1", "x2", "x3"):
        paths.append(tmp_path / f"{name}.mp4")
        paths[-1].write_bytes(b"not a video")
    with caplog.at_level("WARNING", logger="reelsense.sounds"), pytest.raises(ItemFailedError) as info:
        discover_sounds(paths, workers=workers, strict=True)
    assert info.value.item_id == "x1" and info.value.cause
    # a strict run skips nothing: it logged 'discovery skips x1.mp4' (and x2, x3 in the
    # workers) just before stopping on x1
    assert not [r.getMessage() for r in caplog.records if "skips" in r.getMessage()]
    assert "skips" not in capfd.readouterr().err  # the workers' own log


def test_duplicate_ids_rejected(clips: list[AudioClip]) -> None:
    with pytest.raises(ParameterError, match="duplicate"):
        discover_sounds([clips[0], clips[0]])
    with pytest.raises(ParameterError):
        DiscoveryParams(neighbours=0)
    with pytest.raises(ParameterError, match="min_score=nan"):
        DiscoveryParams(min_score=float("nan"))


# ----------------------------------------------------------------------------- content filter


def test_sustained_filter_keeps_notes_drops_noise_and_speech(songs: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(5 * SR) / SR)).astype(np.float32)
    noise = (0.1 * rng.standard_normal(5 * SR)).astype(np.float32)
    kept_tone = sustained_filter(tone, SR)
    kept_noise = sustained_filter(noise, SR)
    assert kept_tone.samples.size == int(5 * kept_tone.sample_rate)
    mid = slice(kept_tone.sample_rate, 4 * kept_tone.sample_rate)
    ratio_tone = np.sqrt(np.mean(kept_tone.samples[mid] ** 2)) / 0.3 * np.sqrt(2)
    assert ratio_tone == pytest.approx(1.0, abs=0.05)
    noise_db = 20 * np.log10(np.sqrt(np.mean(kept_noise.samples[mid] ** 2)) / 0.1)
    assert noise_db < -5.0
    music = sustained_filter(render(songs["a"], 10.0, SR), SR).notes_per_second
    speech = sustained_filter(babble(1, 10.0), SR).notes_per_second
    assert music > 3.0 > 1.0 > speech
    with pytest.raises(ParameterError):
        sustained_filter(np.zeros((2, 100), dtype=np.float32), SR)


def test_sustained_filter_of_one_frame_keeps_the_signal() -> None:
    # an opening over one frame keeps every cell: the resynthesis gives the signal back
    from reelsense.sounds.discover import ContentParams

    params = ContentParams(sustain_seconds=0.001)
    assert params.sustain_frames == 1
    x = babble(3, 3.0, params.sample_rate).astype(np.float32)
    kept = sustained_filter(x, params.sample_rate, params)
    assert kept.samples.shape == x.shape
    assert np.max(np.abs(kept.samples - x)) < 1e-4 * np.max(np.abs(x))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 12),
    frames=st.integers(1, 45),
    seed=st.integers(0, 2**31 - 1),
)
def test_opening_equals_scipy_filters(rows: int, cols: int, frames: int, seed: int) -> None:
    # the filter's opening is scipy.ndimage's minimum then maximum filter along time (mode
    # "nearest", centred), value for value: windows longer than the signal, ties, repeats
    from scipy import ndimage

    from reelsense.sounds.discover._content import _opening

    rng = np.random.default_rng(seed)
    power = rng.integers(0, 5, size=(rows, cols)).astype(np.float32) * rng.random((rows, cols)).astype(
        np.float32
    )
    eroded = ndimage.minimum_filter1d(power, frames, axis=0, mode="nearest")
    want = ndimage.maximum_filter1d(eroded, frames, axis=0, mode="nearest")
    got = _opening(power, frames)
    assert got.shape == want.shape and np.array_equal(got, want)


def test_note_rate_counts_ridges_by_their_extent_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # the ridges' lengths are their labels' extents along time (find_objects' slices)
    from scipy import ndimage

    from reelsense.sounds.discover._content import ContentParams, _note_rate, _opening, _stft

    params = ContentParams()
    x = render(make_notes(5, 8.0), 8.0, params.sample_rate) + 0.05 * babble(2, 8.0, params.sample_rate)
    spec = _stft(x.astype(np.float32), params)
    power = spec.real**2 + spec.imag**2
    opened = _opening(power, params.sustain_frames)
    rate = _note_rate(power, opened, 8.0, params)
    assert rate > 1.0
    # the same count from scipy's labelling and find_objects over the same tonal mask
    lengths_seen: list[int] = []
    original = ndimage.label

    def spy(mask: np.ndarray, structure: np.ndarray) -> tuple[np.ndarray, int]:
        labels, n = original(mask, structure=structure)
        lengths_seen.extend(s[0].stop - s[0].start for s in ndimage.find_objects(labels) if s is not None)
        return labels, n

    monkeypatch.setattr(ndimage, "label", spy)
    assert _note_rate(power, opened, 8.0, params) == rate
    assert rate == sum(length >= params.sustain_frames for length in lengths_seen) / 8.0


# ----------------------------------------------------------------------------- graph rules


def _clique(nodes: list[int], score: float = 20.0) -> list[tuple[int, int, float, float]]:
    return [(a, b, score, 0.0) for a in nodes for b in nodes if a != b]


def _table(edges: list[tuple[int, int, float, float]]) -> EdgeTable:
    q, r, s, ls = zip(*edges, strict=True) if edges else ((), (), (), ())
    return EdgeTable.build(list(q), list(r), list(s), list(ls))


def test_one_bridging_video_does_not_merge_two_sounds() -> None:
    edges = _clique([0, 1, 2]) + _clique([3, 4, 5])
    # video 2 (which may hold both sounds) links strongly to two members of the other group
    edges += [(2, 3, 50.0, 0.0), (2, 4, 45.0, 0.0)]
    res = cluster_graph(6, _table(edges), min_support=2)
    assert res.root[0] == res.root[1] != res.root[3] == res.root[4] == res.root[5]
    assert res.root[2] == res.root[3]  # the bridge itself goes with its strongest links
    # with support from a second, distinct video on both sides the groups are one sound
    res = cluster_graph(6, _table([*edges, (1, 5, 10.0, 0.0)]), min_support=2)
    assert len(set(res.root.tolist())) == 1


def test_one_edge_merges_two_groups_only_above_merge_score() -> None:
    # two groups whose only link is one edge (a short use that overlaps one member only)
    edges = _clique([0, 1, 2], 40.0) + _clique([3, 4, 5], 40.0) + [(2, 3, 12.0, 0.0)]
    res = cluster_graph(6, _table(edges), min_support=2)  # merge_score=inf: never on one edge
    assert res.root[0] != res.root[3]
    res = cluster_graph(6, _table(edges), min_support=2, merge_score=10.0)
    assert len(set(res.root.tolist())) == 1
    res = cluster_graph(6, _table(edges), min_support=2, merge_score=15.0)
    assert res.root[0] != res.root[3]


def test_an_edge_that_may_not_merge_alone_still_joins_a_lone_video() -> None:
    """``alone`` False (a dense second-chance edge): no merge of two groups on its score, but a
    lone video joins on it, and it counts as support."""
    edges = _clique([0, 1, 2], 40.0) + _clique([3, 4, 5], 40.0) + [(2, 3, 12.0, 0.0), (6, 0, 12.0, 0.0)]
    q, r, sc, ls = zip(*edges, strict=True)
    alone = [True] * (len(edges) - 2) + [False, False]
    res = cluster_graph(7, EdgeTable.build(q, r, sc, ls, alone=alone), min_support=2, merge_score=10.0)
    assert res.root[0] != res.root[3]  # the groups stay apart
    assert res.root[6] == res.root[0]  # the lone video joins (12 >= join_score 10)
    supported = [*edges, (1, 4, 12.0, 0.0)]
    table = EdgeTable.build(*zip(*supported, strict=True), alone=[*alone, False])
    res = cluster_graph(7, table, min_support=2, merge_score=10.0)
    assert len(set(res.root.tolist())) == 1  # two links from distinct videos on each side


def test_contradicting_speeds_do_not_count_as_support() -> None:
    edges = _clique([0, 1, 2], 40.0) + _clique([3, 4, 5], 40.0)
    edges += [(0, 3, 30.0, np.log(1.2)), (1, 4, 30.0, np.log(0.8))]
    res = cluster_graph(6, _table(edges), min_support=2)
    assert res.root[0] != res.root[3]
    res = cluster_graph(6, _table([*edges[:-1], (1, 4, 30.0, np.log(1.21))]), min_support=2)
    assert res.root[0] == res.root[3]
    assert res.log_scale[3] - res.log_scale[0] == pytest.approx(-np.log(1.2), abs=0.02)


def test_anchors_never_merge_and_singletons_join_their_best_edge() -> None:
    # nodes 0-3 videos, 4-5 library anchors (library edges have priority 1)
    edges = [(0, 4, 30.0, 0.0), (1, 5, 30.0, 0.0), (0, 1, 40.0, 0.0), (2, 0, 12.0, 0.0), (2, 1, 11.0, 0.0)]
    edges += [(3, 1, 5.0, 0.0)]
    anchor = np.array([False] * 4 + [True, True])
    t = _table(edges)
    prio = EdgeTable.build(t.query, t.ref, t.score, t.log_scale, priority=[1, 1, 0, 0, 0, 0])
    res = cluster_graph(6, prio, anchor=anchor, min_support=2, join_score=10.0)
    assert res.root[0] == res.root[4] != res.root[5] == res.root[1]
    assert res.root[2] == res.root[0]  # its strongest edge
    assert res.root[3] == 3  # one weak link does not pull a lone video into a group
    # ... but two consistent weak links to distinct members do
    two = _table([(0, 1, 40.0, 0.0), (2, 0, 5.0, 0.0), (2, 1, 4.0, 0.0)])
    assert len(set(cluster_graph(3, two, min_support=2, join_score=10.0).root.tolist())) == 1
    with pytest.raises(ParameterError):
        cluster_graph(2, _table([(0, 3, 1.0, 0.0)]))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=2, max_value=9),
    st.lists(st.floats(min_value=-0.3, max_value=0.3), min_size=9, max_size=9),
    st.lists(st.floats(min_value=0.0, max_value=60.0), min_size=9, max_size=9),
    st.randoms(use_true_random=False),
)
def test_placement_recovers_consistent_speeds_and_offsets(n, logv, starts, rnd) -> None:  # type: ignore[no-untyped-def]
    """Videos playing the same recording at rates ``exp(logv)`` from song times ``starts``:
    edges measured exactly (a random spanning tree plus random extra edges) give back every
    video's speed and start relative to the representative."""
    v = np.exp(np.array(logv[:n]))
    c = np.array(starts[:n])
    pairs = [(i, rnd.randrange(i)) for i in range(1, n)]
    pairs += [(rnd.randrange(n), rnd.randrange(n)) for _ in range(n)]
    rows = []
    for a, b in pairs:
        if a == b:
            continue
        if rnd.random() < 0.5:
            a, b = b, a
        # song time = c + v t  =>  t_b = (c_a - c_b + v_a t_a) / v_b
        rows.append((a, b, rnd.uniform(3, 80), np.log(v[a] / v[b]), 0.0, (c[a] - c[b]) / v[b]))
    q, r, s, ls, p, o = (list(x) for x in zip(*rows, strict=True))
    edges = EdgeTable.build(q, r, s, ls, p, o)
    res = cluster_graph(n, edges, min_support=1)
    assert len(set(res.root.tolist())) == 1 and res.accepted.all()
    place = place_members(
        res.root, edges, anchor=np.zeros(n, bool), duration=np.full(n, 10.0), rank=np.arange(n)
    )
    rep = int(place.representative[0])
    np.testing.assert_allclose(place.speed, v / v[rep], rtol=1e-9)
    np.testing.assert_allclose(place.offset_seconds, (c - c[rep]) / v[rep], atol=1e-6)


def test_second_chance_names_a_reverberant_use_under_a_voice(tmp_path: Path) -> None:
    """A library sound in a room under a voice-over and noise, which the peak search misses:
    with ``second_chance`` the library look-up still names it; without, it does not."""
    sr = 11025
    songs = {f"song{seed}": render(make_notes(seed, 40.0), 40.0, sr) for seed in (11, 12, 13)}
    with SoundIndex.create(tmp_path / "lib.rsidx") as index:
        for name, song in songs.items():
            index.add_array(name, song, sr)
    clip = AudioClip("roomy", room_voice_noise(songs["song12"][12 * sr : 22 * sr], seed=3), sr)
    plain = discover_sounds([clip], sound_index=tmp_path / "lib.rsidx")
    assert plain.videos[0].library_sound is None
    found = discover_sounds(
        [clip], sound_index=tmp_path / "lib.rsidx", params=DiscoveryParams(second_chance=True)
    )
    assert found.videos[0].library_sound == "song12"
    assert found.videos[0].offset_seconds == pytest.approx(12.0, abs=0.3)


def test_second_chance_pairs_a_use_in_a_room_under_a_voice_without_a_library() -> None:
    """Two uses of one song, one plain and one in a room under a voice-over and noise: the peak
    search misses their link or finds it weakly, the dense second chance between videos finds it
    (with the offset), and an unrelated song stays apart."""
    sr = 11025
    song = render(make_notes(12, 40.0), 40.0, sr)
    other = render(make_notes(13, 40.0), 40.0, sr)
    clips = [
        AudioClip("plain", song[8 * sr : 24 * sr], sr),
        AudioClip("roomy", room_voice_noise(song[12 * sr : 22 * sr], seed=9), sr),
        AudioClip("other", other[8 * sr : 20 * sr], sr),
    ]
    plain = discover_sounds(clips)
    roomy = plain.videos[1]
    assert roomy.cluster is None or (roomy.cluster == plain.videos[0].cluster and roomy.score < 4.0)
    assert plain.videos[2].cluster is None
    found = discover_sounds(clips, params=DiscoveryParams(second_chance=True))
    assert found.videos[0].cluster == found.videos[1].cluster is not None
    assert found.videos[2].cluster is None
    start = {v.video_id: v.offset_seconds for v in found.videos}
    assert start["roomy"] - start["plain"] == pytest.approx(4.0, abs=0.3)


def test_composite_edits_pair_uses_edited_in_different_ways() -> None:
    """One use raised 4 semitones, another sped up 1.2x in tempo: between the two the relation
    is a time scale *and* a pitch shift, which no family of the matcher's grid holds. The
    default search leaves them apart; the composite plane pairs them."""
    sr = 11025
    notes = make_notes(12, 40.0)
    part = notes[(notes[:, 0] > 8.0) & (notes[:, 0] < 24.0)]
    part[:, 0] -= 8.0
    clips = [
        AudioClip("higher", render(part, 16.0, sr, pitch=2 ** (4 / 12)), sr),
        AudioClip("faster", render(part, 16.0 / 1.2, sr, time_scale=1 / 1.2), sr),
        AudioClip("other", render(make_notes(13, 40.0), 12.0, sr), sr),
    ]
    plain = discover_sounds(clips)
    assert plain.videos[0].cluster is None or plain.videos[0].cluster != plain.videos[1].cluster
    found = discover_sounds(clips, params=DiscoveryParams(composite_edits=True))
    assert found.videos[0].cluster == found.videos[1].cluster is not None
    assert found.videos[2].cluster is None


def test_join_score_auto_counts_the_searched_videos() -> None:
    from types import SimpleNamespace

    from reelsense.sounds.discover._api import _join_score

    peaks = np.zeros(1)
    prints = [SimpleNamespace(query=object(), ref_peaks=peaks) for _ in range(224)]
    prints += [SimpleNamespace(query=None, ref_peaks=None) for _ in range(50)]  # not music: not searched
    assert _join_score(DiscoveryParams(join_score="auto"), prints) == pytest.approx(np.log10(224) + 0.5)  # type: ignore[arg-type]
    assert _join_score(DiscoveryParams(join_score=4.0), prints) == 4.0  # type: ignore[arg-type]
    for bad in ("sometimes", 0.0, -1.0):
        with pytest.raises(ParameterError, match="join_score"):
            DiscoveryParams(join_score=bad)  # type: ignore[arg-type]


def test_query_peaks_make_the_same_print_for_a_fraction_of_its_size(songs: dict[str, np.ndarray]) -> None:
    """Stage 1 keeps a video's query peaks, not its query print: the print made from them in
    stage 2 is the one made from the audio, and what crosses between the stages is a small
    fraction of it."""
    import pickle

    from reelsense.sounds.discover._matcher import QueryPeaks, soundtrack_prints
    from reelsense.sounds.fingerprint import FingerprintParams
    from reelsense.sounds.match import MatchConfig, prepare_query

    params, config = FingerprintParams(), MatchConfig(n_candidates=9, top_k=9)
    audio = excerpt(songs["a"], 3.0, 10.0, speed=1.1)
    _, kept, _ = soundtrack_prints(audio, SR, params)
    assert isinstance(kept, QueryPeaks) and kept.duration_seconds == pytest.approx(10.0, abs=1e-3)
    made, direct = kept.prepare(params, config), prepare_query(audio, SR, params, config)
    for name in ("anchor_times", "anchor_bins", "delta_bins", "delta_frames", "order"):
        np.testing.assert_array_equal(getattr(made, name), getattr(direct, name))
    assert made.duration_seconds == direct.duration_seconds and made.n_triplets > 1000
    assert 10 * len(pickle.dumps(kept)) < len(pickle.dumps(made))


def test_a_print_that_cannot_be_made_loses_that_video_only(
    songs: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stage 2 makes the query print; if that fails, the video gets no matches (a warning),
    as a failure in stage 1 would, and the batch goes on."""
    from reelsense.sounds.discover import DiscoveryParams
    from reelsense.sounds.discover._matcher import QueryPeaks, VideoMatcher, soundtrack_prints
    from reelsense.sounds.discover._work import MatchJob, close_worker, init_matcher, match_print
    from reelsense.sounds.fingerprint import FingerprintParams
    from reelsense.sounds.match import MatchConfig

    params, config = FingerprintParams(), MatchConfig(n_candidates=3, top_k=3)
    reference, kept, _ = soundtrack_prints(excerpt(songs["b"], 2.0, 10.0), SR, params)
    init_matcher(VideoMatcher([reference, reference], params, config), DiscoveryParams(), params)
    try:
        node, found = match_print(MatchJob(0, kept, 5.0, 3))
        assert node == 0 and sorted(m.sound_id for m in found) == ["0", "1"]  # the caller drops itself

        def broken(self: QueryPeaks, *args: object) -> None:
            raise ValueError("no triplets")

        monkeypatch.setattr(QueryPeaks, "prepare", broken)
        assert match_print(MatchJob(0, kept, 5.0, 3)) == (0, [])
    finally:
        close_worker()


@pytest.mark.parametrize(
    ("sources", "kwargs", "match"),
    [
        ("videos", {}, "sources='videos' is a single path: pass a list of paths"),
        # an IndexError in _geometry; then 'give at least one file or folder', though a folder is refused
        ([], {}, r"^sources=\[\] is empty: no sources given; pass at least one media file or AudioClip$"),
        ((), {}, r"^sources=\(\) is empty: no sources given; pass at least one media file or AudioClip$"),
        (iter([]), {}, r"^sources=\[\] is empty: no sources given"),  # an IndexError: an iterator has no len
        (["a.mp4"], {"workers": 2.5}, r"workers=2\.5 must be an integer"),  # TypeError in multiprocessing
        ([3], {}, "source 3 must be a path or an AudioClip"),
        (["a.mp4"], {"ids": "a"}, "ids='a' is a single id"),
        (["a.mp4", "b.mp4"], {"ids": ["x", None]}, r"ids\[1\]=None must be a non-empty id"),  # was 'None'
        (["a.mp4", "b.mp4"], {"ids": ["", "x"]}, r"ids\[0\]='' must be a non-empty id"),  # an empty row id
        (["a.mp4"], {"params": {"neighbours": 3}}, "params=.* must be a DiscoveryParams"),
    ],
)
def test_discover_refuses_bad_arguments(sources: object, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        discover_sounds(sources, **kwargs)  # type: ignore[arg-type]


def test_discover_refuses_a_folder_among_the_sources(tmp_path: Path) -> None:
    # ["videos"] (what check_paths suggests for "videos", and what embed_corpus takes) became
    # one video with a "cannot decode: is a directory" error, and the folder's videos were
    # never looked at
    (tmp_path / "videos").mkdir()
    folder = r"sources: '.*videos' is a folder, not a media file: .*walk_media"
    with pytest.raises(ParameterError, match=folder):
        discover_sounds([tmp_path / "videos"])


@pytest.mark.parametrize("clip_id", ["", " ", None])
def test_audio_clip_refuses_an_empty_id(clip_id: object) -> None:
    # '' was kept: a row with an empty video_id in clusters.csv
    with pytest.raises(ParameterError, match=f"AudioClip clip_id={clip_id!r} must be a non-empty str"):
        AudioClip(clip_id, np.zeros(SR, np.float32), SR)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -1, 22050.0, float("nan")])
def test_audio_clip_refuses_a_bad_rate(rate: object) -> None:
    # sample_rate=0 gave a ZeroDivisionError row
    with pytest.raises(ParameterError, match="AudioClip 'a' sample_rate="):
        AudioClip("a", np.zeros(SR, np.float32), rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_score": -5.0}, "min_score=-5.0 must be >= 0"),
        ({"library_threshold": -1.0}, "library_threshold=-1.0 must be >= 0"),
        ({"min_cluster_notes_per_second": float("nan")}, "min_cluster_notes_per_second=nan must be a finite"),
        ({"min_loudness_lufs": float("nan")}, "min_loudness_lufs=nan must be a finite"),
        ({"neighbours": 1.5}, "neighbours=1.5 must be an integer"),
        ({"min_support": 0}, "min_support=0 must be >= 1"),
    ],
)
def test_discovery_params_refuse_values_that_group_wrongly(kwargs: dict[str, object], match: str) -> None:
    """A negative score made every pair of videos an edge (two songs and noise in one group); a
    NaN note rate dissolved every group."""
    with pytest.raises(ParameterError, match=match):
        DiscoveryParams(**kwargs)  # type: ignore[arg-type]
