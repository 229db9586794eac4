"""Matching on synthetic music: offsets, speed, tempo and pitch are recovered; strangers are not matched."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kernels_off import numpy_path
from music import make_notes, render
from reelsense.errors import ParameterError
from reelsense.sounds import _kernels
from reelsense.sounds import match as match_module
from reelsense.sounds._tables import SearchIndex
from reelsense.sounds.fingerprint import FingerprintParams, Peaks, peaks_of
from reelsense.sounds.match import (
    Candidate,
    MatchConfig,
    VoteList,
    Votes,
    align,
    chance_rate,
    false_match_log10p,
    hypothesis_grid,
    match_query,
    prepare_query,
    probe,
    rank_candidates,
)
from reelsense.sounds.verify import BINNED_CHANCE_SECONDS, ScoreBelow, log10_trials, matched_span

SR = 11025
P = FingerprintParams()
C = MatchConfig()
DUR = 40.0


Library = tuple[SearchIndex, list[np.ndarray]]


@pytest.fixture(scope="module")
def library() -> Library:
    notes = [make_notes(seed, DUR) for seed in (11, 12, 13)]
    peaks = [peaks_of(render(n, DUR, SR), SR, P, P.ref_peaks_per_second) for n in notes]
    return SearchIndex.from_peaks(peaks, ["a", "b", "c"], P), notes


def _match(lib: Library, x: np.ndarray, config: MatchConfig = C) -> list:
    return match_query(prepare_query(x, SR, P, config), lib[0], P, config)


@settings(max_examples=8, deadline=None)
@given(
    offset=st.floats(2.0, 25.0),
    gain_db=st.floats(-20.0, 6.0),
    speed=st.floats(0.8, 1.25),
    which=st.integers(0, 2),
)
def test_resampled_excerpt_matches_with_offset_and_speed(
    library: Library,
    offset: float,
    gain_db: float,
    speed: float,
    which: int,
) -> None:
    full = render(library[1][which], DUR, SR)
    clip = full[int(offset * SR) : int((offset + 8.0 * speed) * SR)]
    x = soxr.resample(clip, SR * speed, SR).astype(np.float32) * np.float32(10 ** (gain_db / 20))
    matches = _match(library, x)
    assert matches, "no match"
    m = matches[0]
    assert m.sound_id == "abc"[which]
    assert m.offset_seconds == pytest.approx(offset, abs=0.1)
    assert m.speed == pytest.approx(speed, rel=0.02)
    assert m.tempo == pytest.approx(1.0, abs=0.03)
    assert m.score >= C.threshold
    assert 0.0 <= m.query_start_seconds < m.query_end_seconds <= 8.0 + 0.1


@pytest.mark.parametrize(("time_scale", "pitch"), [(1 / 1.12, 1.0), (1 / 0.88, 1.0), (1.0, 2 ** (2.5 / 12))])
def test_tempo_and_pitch_edits_are_recovered(library: Library, time_scale: float, pitch: float) -> None:
    notes = library[1][1].copy()
    sel = (notes[:, 0] > 10.0) & (notes[:, 0] < 20.0)
    part = notes[sel]
    part[:, 0] -= 10.0
    x = render(part, 10.0, SR, time_scale=time_scale, pitch=pitch)
    m = _match(library, x)[0]
    assert m.sound_id == "b"
    assert m.speed == pytest.approx(1 / time_scale, rel=0.02)
    assert m.pitch_semitones == pytest.approx(12 * np.log2(pitch), abs=0.3)
    assert not (m.pitch_semitones == 0 and np.signbit(m.pitch_semitones))  # 0.0, never -0.0
    assert m.offset_seconds == pytest.approx(10.0, abs=0.15)


@pytest.mark.parametrize("exit_score", [0.0, 0.5, C.threshold])
def test_an_exit_score_under_the_threshold_still_finds_an_edited_use(
    library: Library, exit_score: float
) -> None:
    """The search stops at a certain match: at the exit score or the threshold, whichever is
    higher (a candidate under the threshold may have been rejected on a lower bound of its chance
    level, its score then only an upper bound). A low exit score still finds a sped-up use."""
    full = render(library[1][2], DUR, SR)
    clip = full[int(6.0 * SR) : int((6.0 + 8.0 * 1.25) * SR)]
    x = soxr.resample(clip, SR * 1.25, SR).astype(np.float32)
    expected = _match(library, x)[0]
    assert expected.sound_id == "c" and expected.speed == pytest.approx(1.25, rel=0.02)
    found = _match(library, x, MatchConfig(exit_score=exit_score))
    assert found and found[0].sound_id == "c"
    assert found[0].speed == pytest.approx(1.25, rel=0.02)
    assert found[0].score >= C.threshold


def test_a_combined_tempo_and_pitch_edit_is_found_on_the_composite_plane(library: Library) -> None:
    # a copy sped up 1.2x in tempo *and* raised 4 semitones: a time scale and a pitch shift
    # together, which no family of the grid holds; the composite plane does
    notes = library[1][2].copy()
    part = notes[(notes[:, 0] > 8.0) & (notes[:, 0] < 18.0)]
    part[:, 0] -= 8.0
    x = render(part, 10.0 / 1.2, SR, time_scale=1 / 1.2, pitch=2 ** (4 / 12))
    plane = MatchConfig(composite=True)
    s, k = hypothesis_grid(plane, P)
    fs, fk = hypothesis_grid(C, P)
    assert s.size > 3 * fs.size and set(zip(fs, fk, strict=True)) <= set(zip(s, k, strict=True))
    assert _match(library, x) == []
    m = _match(library, x, plane)[0]
    assert m.sound_id == "c"
    assert m.speed == pytest.approx(1.2, rel=0.02)
    assert m.pitch_semitones == pytest.approx(4.0, abs=0.3)
    assert m.offset_seconds == pytest.approx(8.0, abs=0.15)


def test_strangers_noise_and_silence_do_not_match(
    library: Library,
) -> None:
    other = render(make_notes(99, 12.0), 12.0, SR)
    rng = np.random.default_rng(0)
    assert _match(library, other) == []
    assert _match(library, (0.1 * rng.standard_normal(8 * SR)).astype(np.float32)) == []
    assert _match(library, np.zeros(5 * SR, np.float32)) == []


@pytest.mark.parametrize(("speed", "exhaustive"), [(1.0, False), (1.15, False), (1.0, True)])
def test_a_recording_held_by_more_copies_than_the_load_cap_is_still_found(
    library: Library, speed: float, exhaustive: bool
) -> None:
    """An index built from uploads can hold one trend many times over ("original sound" ids). Each
    of its keys then fills a bucket past the load cap, which the staged search skips; those buckets
    are read up to the cap when nothing else is found, so the sound, its offset and speed are found
    (plain and sped up; ranked search too), while a stranger still matches nothing."""
    notes = library[1]
    peaks = [peaks_of(render(n, DUR, SR), SR, P, P.ref_peaks_per_second) for n in notes]
    n_copies = 40
    ids = ["a", "c"] + [f"b{i:02d}" for i in range(n_copies)]
    index = SearchIndex.from_peaks([peaks[0], peaks[2]] + [peaks[1]] * n_copies, ids, P)
    table = index.parts[0][0]
    cap_len = max(2.0, (C.max_load or 0.0) * table.mean_load)
    assert n_copies > cap_len  # the premise: every bucket of b's keys is past the cap
    clip = render(notes[1], DUR, SR)[int(12.0 * SR) : int((12.0 + 8.0 * speed) * SR)]
    x = soxr.resample(clip, SR * speed, SR).astype(np.float32)
    config = MatchConfig(top_k=3) if exhaustive else C
    found = match_query(prepare_query(x, SR, P, config), index, P, config)
    assert found and all(m.sound_id.startswith("b") for m in found)
    assert found[0].offset_seconds == pytest.approx(12.0, abs=0.1)
    assert found[0].speed == pytest.approx(speed, rel=0.02)
    stranger = render(make_notes(99, 12.0), 12.0, SR)
    assert match_query(prepare_query(stranger, SR, P, C), index, P, C) == []


def test_score_is_a_log_probability() -> None:
    # more coincidences -> smaller probability; more trials -> larger
    assert false_match_log10p(40, 5.0, 6.0) < false_match_log10p(20, 5.0, 6.0) < 0
    assert false_match_log10p(30, 5.0, 8.0) > false_match_log10p(30, 5.0, 6.0)
    assert false_match_log10p(0, 5.0, 6.0) == 0.0
    assert false_match_log10p(6, 5.0, 6.0) == 0.0  # chance level: probability capped at 1


def test_hypothesis_grid_covers_the_three_families() -> None:
    s, k = hypothesis_grid(C, P)
    assert np.any((s == 1.0) & (k == 0.0))
    res = k != 0
    assert s[res & (s != 1.0)].min() <= C.speed_range[0] * 1.03
    assert s[res & (s != 1.0)].max() >= C.speed_range[1] / 1.03
    assert np.abs(k[s == 1.0]).max() >= 12 * P.bins_per_octave / 36  # +-4 semitones of pitch shift
    assert s[k == 0].min() <= C.tempo_range[0] * 1.03


def test_bad_config_raises() -> None:
    with pytest.raises(ParameterError, match="speed_range"):
        MatchConfig(speed_range=(1.1, 1.3))
    with pytest.raises(ParameterError, match="top_k"):
        MatchConfig(top_k=0)


def _tone_bursts(freq: float, period_s: float, seconds: float) -> np.ndarray:
    """A repeated note: 120 ms bursts of a pure tone every ``period_s``."""
    t = np.arange(int(0.12 * SR)) / SR
    burst = np.sin(2 * np.pi * freq * t) * np.hanning(t.size)
    x = np.zeros(int(seconds * SR))
    for start in np.arange(0.1, seconds - 0.2, period_s):
        i = int(start * SR)
        x[i : i + t.size] += burst
    return (0.3 * x).astype(np.float32)


def test_a_repeated_note_does_not_match_another_one() -> None:
    """Every burst of the query coincides with a reference burst under the tempo hypothesis
    0.25/0.3, but one repeated frequency is one piece of evidence: capped, it stays below the
    threshold; uncapped, it would pass for a match."""
    ref = peaks_of(_tone_bursts(440.0, 0.25, 40.0), SR, P, P.ref_peaks_per_second)
    index = SearchIndex.from_peaks([ref], ["beeps"], P)
    q = prepare_query(_tone_bursts(440.0, 0.30, 8.0), SR, P, C)
    assert match_query(q, index, P, C) == []
    uncapped = MatchConfig(align_cap_per_bin=10**6)
    loose = match_query(q, index, P, uncapped, threshold=-1e9)
    assert loose and loose[0].score >= C.threshold


def test_early_exit_gives_the_full_search_answer(library: Library) -> None:
    clip = render(library[1][2], DUR, SR)[int(12.0 * SR) : int(20.0 * SR)]
    quick = MatchConfig(first_triplets=100, exit_score=0.0)
    full = MatchConfig(first_triplets=10**9)
    a, b = _match(library, clip, quick), _match(library, clip, full)
    assert a and b and a[0].sound_id == b[0].sound_id == "c"
    assert a[0].offset_seconds == pytest.approx(12.0, abs=0.1)
    assert b[0].offset_seconds == pytest.approx(12.0, abs=0.1)


@pytest.mark.parametrize("near_score", [C.exit_score + 0.3, C.exit_score - 0.1])
def test_a_stage_stops_when_another_cell_of_its_best_sound_is_certain(
    library: Library, monkeypatch: pytest.MonkeyPatch, near_score: float
) -> None:
    """The votes of one use can split between neighbouring cells: when the best sound's first cell
    matches but falls short of the exit score and another of its cells reaches it, the search stops
    after that stage, with that cell's match; when none reaches it, the later stages run."""
    index = library[0]
    q = prepare_query(render(library[1][0], DUR, SR)[int(5.0 * SR) : int(25.0 * SR)], SR, P, C)
    assert q.n_triplets > C.second_triplets  # every stage has triplets to probe
    top = Candidate(sound=0, scale=1.0, shift_bins=0.0, offset_frames=100.0, votes=70)
    other = Candidate(sound=1, scale=1.0, shift_bins=0.0, offset_frames=300.0, votes=5)
    near = Candidate(sound=0, scale=1.0, shift_bins=0.0, offset_frames=108.0, votes=59)
    scores = {top: C.exit_score - 0.3, other: 0.0, near: near_score}

    def scripted(
        query: object, ix: SearchIndex, c: Candidate, *args: object
    ) -> tuple[match_module.SoundMatch, bool]:
        m = match_module.SoundMatch(ix.ids[c.sound], scores[c], 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, c.votes, 1, 1)
        return m, True

    probes: list[int] = []
    some = match_module._probe_some

    def counted(*args: object, **kwargs: object) -> Votes:
        probes.append(1)
        return some(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(match_module, "rank_candidates", lambda *args: [top, other, near])
    monkeypatch.setattr(match_module, "_verify", scripted)
    monkeypatch.setattr(match_module, "_probe_some", counted)
    found = match_query(q, index, P, C)
    assert found and found[0].sound_id == "a"
    assert found[0].score == max(near_score, C.exit_score - 0.3)
    if near_score >= C.exit_score:
        assert len(probes) == 1  # certain after the identity stage
    else:
        assert len(probes) >= 4  # every stage ran


def test_several_matches_rank_the_votes_once(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    # with top_k > 1 every stage runs, so ranking after each stage would only be redone by the
    # next: the votes of all stages are ranked once, and the answer is the one ranking gives
    clip = render(library[1][1], DUR, SR)[int(6.0 * SR) : int(14.0 * SR)]
    x = soxr.resample(clip, SR * 1.1, SR).astype(np.float32)  # an edit: every stage has votes
    q = prepare_query(x, SR, P, C)
    calls: list[int] = []
    rank = match_module.rank_candidates

    def counted(votes: list[Votes], *args: object) -> list[Candidate]:
        calls.append(len(votes))
        return rank(votes, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(match_module, "rank_candidates", counted)
    found = match_query(q, library[0], P, C, top_k=3)
    assert len(calls) == 1 and calls[0] >= 3  # one ranking, of the probes of every stage
    assert found and found[0].sound_id == "b"
    best = match_query(q, library[0], P, C, top_k=1)  # stops at the first certain stage
    same = dataclasses.replace(best[0], n_matched_hashes=found[0].n_matched_hashes)
    assert same == found[0]  # the same answer (with the votes of fewer stages)


def test_align_finds_the_offset_and_a_chance_level(library: Library) -> None:
    index, notes = library
    clip = render(notes[0], DUR, SR)[int(5.0 * SR) : int(13.0 * SR)]
    q = prepare_query(clip, SR, P, C).peaks
    rt, rb = index.peaks(0)
    fps = P.frames_per_second
    # a candidate one hypothesis step and a vote bin off: verification still lands on the truth
    cand = Candidate(0, 1.0 + C.scale_step, 0.0, 5.0 * fps + C.offset_bin_frames, 1)
    a = align(q, rt, rb, cand, C, P.frames_per_second)
    assert a.offset_frames / fps == pytest.approx(5.0, abs=0.05)
    assert a.scale == pytest.approx(1.0, abs=0.01)
    assert a.matched > 10 * a.null_rate > 0
    assert 0.0 <= a.hit_times[0] < a.hit_times[-1] <= q.times.max()  # sorted query times


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=6, deadline=None)
@given(
    which=st.integers(0, 2),
    offset=st.floats(1.0, 25.0),
    speed=st.floats(0.85, 1.2),
    cand_sound=st.integers(0, 2),
)
def test_compiled_alignment_counts_what_numpy_counts(
    library: Library, which: int, offset: float, speed: float, cand_sound: int
) -> None:
    # the compiled kernels and the numpy implementation count the same coincidences and the
    # same chance level, for true and for wrong candidates alike
    index, notes = library
    full = render(notes[which], DUR, SR)
    clip = full[int(offset * SR) : int((offset + 8.0 * speed) * SR)]
    x = soxr.resample(clip, SR * speed, SR).astype(np.float32)
    q = prepare_query(x, SR, P, C).peaks
    rt, rb = index.peaks(cand_sound)
    fps = P.frames_per_second
    cand = Candidate(cand_sound, speed, -36.0 * np.log2(speed), offset * fps, 1)
    fast = align(q, rt, rb, cand, C, fps)
    slow = numpy_path(align, q, rt, rb, cand, C, fps)
    assert fast.matched == slow.matched
    if cand_sound == which:  # a clear best cell: the same alignment and chance level
        assert fast.offset_frames == pytest.approx(slow.offset_frames)
        assert fast.scale == pytest.approx(slow.scale)
        assert fast.null_rate == pytest.approx(slow.null_rate, rel=1e-9)
        np.testing.assert_array_equal(fast.hit_times, slow.hit_times)


def test_matched_span_is_the_dense_run_not_chance_coincidences_around_it() -> None:
    # coincidences at chance density over the first 300 frames, a dense run over the next 300:
    # the span is the run (the first to the last coincidence gave [~0, 600])
    chance = np.array([37.5, 112.5, 187.5, 262.5])  # the chance level: 8 in 600 frames
    run = np.sort(np.random.default_rng(5).uniform(300.0, 600.0, 150))
    start, end = matched_span(np.concatenate([chance, run]), 8.0, 600.0)
    assert (start, end) == (run[0], run[-1])
    # a run that fills the query, with a gap inside, is one span
    gapped = np.concatenate([np.linspace(0.0, 200.0, 80), np.linspace(300.0, 600.0, 120)])
    assert matched_span(gapped, 8.0, 600.0) == (0.0, 600.0)
    assert matched_span(np.array([5.0, 9.0]), 8.0, 600.0) == (5.0, 9.0)
    assert matched_span(np.empty(0), 8.0, 600.0) == (0.0, 0.0)


def test_the_span_of_each_sound_in_a_query_of_two_is_its_own_part(library: Library) -> None:
    # one sound for 8 s then another for 8 s: each match's span is its own part of the query (the
    # first to the last coincidence reached some 6 s into the other part; chords of the synthetic
    # music that line up by chance can still add a second)
    pairs = [((0, 5.0), (1, 20.0)), ((1, 20.0), (2, 10.0)), ((2, 3.0), (0, 25.0))]
    for (first, at_first), (second, at_second) in pairs:
        one = render(library[1][first], DUR, SR)[int(at_first * SR) : int((at_first + 8.0) * SR)]
        two = render(library[1][second], DUR, SR)[int(at_second * SR) : int((at_second + 8.0) * SR)]
        q = prepare_query(np.concatenate([one, two]), SR, P, C)
        found = match_query(q, library[0], P, C, top_k=2)
        spans = {m.sound_id: (m.query_start_seconds, m.query_end_seconds) for m in found}
        assert spans["abc"[first]][0] < 0.5 and 7.0 < spans["abc"[first]][1] < 9.5
        assert 7.5 < spans["abc"[second]][0] < 9.5 and spans["abc"[second]][1] > 15.0


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=6, deadline=None)
@given(which=st.integers(0, 2), offset=st.floats(1.0, 25.0), speed=st.floats(0.8, 1.25))
def test_compiled_triplet_keys_vote_as_numpy_does(
    library: Library, which: int, offset: float, speed: float
) -> None:
    """The compiled triplet keys, look-ups and votes of :func:`probe` give the numpy votes, in order."""
    index, notes = library
    full = render(notes[which], DUR, SR)
    x = soxr.resample(full[int(offset * SR) : int((offset + 8.0 * speed) * SR)], SR * speed, SR)
    query = prepare_query(x.astype(np.float32), SR, P, C)
    scales, shifts = hypothesis_grid(C, P)
    selected = query.order[: min(200, query.n_triplets)]
    for load in ((None, None), (None, 1.5), (0.5, None)):  # every bucket, and the two bounds
        fast = probe(query, selected, index, P, scales, shifts, load)
        slow = numpy_path(probe, query, selected, index, P, scales, shifts, load)
        assert len(fast) > 0 or load != (None, None)
        np.testing.assert_array_equal(fast.sounds, slow.sounds)
        np.testing.assert_array_equal(fast.hypotheses, slow.hypotheses)
        np.testing.assert_array_equal(fast.offsets, slow.offsets)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=25, deadline=None)
@given(
    n_sounds=st.integers(1, 40),
    n_votes=st.integers(1, 3000),
    hyps=st.sampled_from(["one", "some", "all"]),
    spread=st.floats(1.0, 400.0),
    seed=st.integers(0, 2**16),
)
def test_compiled_ranking_ranks_as_numpy_does(
    n_sounds: int, n_votes: int, hyps: str, spread: float, seed: int
) -> None:
    """The compiled vote cells of :func:`rank_candidates` give the numpy candidates, in order,
    ties included (votes on few sounds, hypotheses and offsets tie often), whole or in chunks."""
    scales, shifts = hypothesis_grid(C, P)
    rng = np.random.default_rng(seed)
    pool = {"one": [len(scales) // 2], "some": [0, 5, len(scales) - 1], "all": list(range(len(scales)))}[hyps]
    votes = Votes(
        rng.integers(0, n_sounds, n_votes),
        rng.choice(np.array(pool, dtype=np.int64), n_votes),
        np.round(rng.normal(0.0, spread, n_votes), 1),
    )
    cuts = np.sort(rng.integers(0, n_votes + 1, 3))  # a search's stages: chunks, some empty
    chunks = [
        Votes(*(a[i:j] for a in (votes.sounds, votes.hypotheses, votes.offsets)))
        for i, j in zip(np.r_[0, cuts], np.r_[cuts, n_votes], strict=True)
    ]
    fast = rank_candidates(votes, n_sounds, scales, shifts, C)
    fast_chunks = rank_candidates(chunks, n_sounds, scales, shifts, C)
    direct = match_module._DIRECT_PAIRS
    match_module._DIRECT_PAIRS = 0  # the way of indexes too large for a count per pair
    try:
        large = rank_candidates(chunks, n_sounds, scales, shifts, C)
    finally:
        match_module._DIRECT_PAIRS = direct
    slow = numpy_path(rank_candidates, votes, n_sounds, scales, shifts, C)
    slow_chunks = numpy_path(rank_candidates, chunks, n_sounds, scales, shifts, C)
    assert fast and fast == slow == fast_chunks == slow_chunks == large
    # a search's list ranked after each chunk it gains keeps its counts: the same candidates
    growing = VoteList()
    for chunk in chunks:
        growing.append(chunk)
        assert rank_candidates(growing, n_sounds, scales, shifts, C) == rank_candidates(
            list(growing), n_sounds, scales, shifts, C
        )
    growing[0] = chunks[-1]  # changed under its counts: counted again
    assert rank_candidates(growing, n_sounds, scales, shifts, C) == rank_candidates(
        list(growing), n_sounds, scales, shifts, C
    )


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 12), min_size=0, max_size=80),
    gap=st.integers(0, 30),
    matched=st.integers(0, 40),
    limit=st.floats(0.0, 8.0),
)
def test_local_rate_rejects_on_a_lower_bound_and_else_counts_every_offset(
    counts: list[int], gap: int, matched: int, limit: float
) -> None:
    """The local chance level is the mean count of the near offsets; a rejection may come early,
    but only with a rate that the rejection accepts and that is at most the full mean."""
    from reelsense.sounds.verify import _local_rate

    half = len(counts) // 2  # two runs of near offsets around an excluded middle, as in align
    near = np.r_[np.arange(half), np.arange(half + gap, len(counts) + gap)].astype(np.int64)
    per_offset = np.zeros(len(counts) + gap, dtype=np.int64)
    per_offset[near] = counts
    asked: list[int] = []

    def count(offsets: np.ndarray, lo: float, hi: float) -> np.ndarray:
        assert np.all(np.isin(offsets, near)) and np.all(np.diff(offsets) > 0) and lo < hi
        asked.extend(offsets.tolist())
        return per_offset[offsets]

    def reject(m: int, rate: float) -> bool:
        return m < 5 or rate > limit

    grid = (0.0, 2.5, 0.75, 100.0)
    full, never = _local_rate(near, grid, matched, None, count)
    if len(counts) < 20:
        assert np.isnan(full) and not never
        return
    assert full == pytest.approx(np.mean(counts)) and not never
    assert sorted(asked) == near.tolist()  # each near offset counted once
    rate, rejected = _local_rate(near, grid, matched, reject, count)
    assert rejected == reject(matched, full)
    if rejected:
        assert reject(matched, rate) and rate <= full
    else:
        assert rate == full


def _excerpt_and_reference(
    library: Library, which: int, offset: float, cand_sound: int
) -> tuple[Peaks, np.ndarray, np.ndarray]:
    """The query peaks of sound ``which``'s 8 s from ``offset`` seconds, and sound ``cand_sound``'s
    reference peaks (times, bins)."""
    index, notes = library
    clip = render(notes[which], DUR, SR)[int(offset * SR) : int((offset + 8.0) * SR)]
    rt, rb = index.peaks(cand_sound)
    return prepare_query(clip, SR, P, C).peaks, rt, rb


@settings(max_examples=8, deadline=None)
@given(
    which=st.integers(0, 2),
    offset=st.floats(1.0, 25.0),
    cand_sound=st.integers(0, 2),
    limit=st.floats(0.0, 3.0),
    compiled=st.booleans(),
)
def test_alignment_with_a_rejection_is_the_alignment_without_one_unless_rejected(
    library: Library, which: int, offset: float, cand_sound: int, limit: float, compiled: bool
) -> None:
    q, rt, rb = _excerpt_and_reference(library, which, offset, cand_sound)
    fps = P.frames_per_second
    cand = Candidate(cand_sound, 1.0, 0.0, offset * fps, 1)
    seen: list[tuple[int, float]] = []

    def reject(matched: int, rate: float) -> bool:
        seen.append((matched, rate))
        return rate > limit

    available = _kernels.AVAILABLE
    _kernels.AVAILABLE = available and compiled
    try:
        plain = align(q, rt, rb, cand, C, fps)
        tested = align(q, rt, rb, cand, C, fps, reject)
    finally:
        _kernels.AVAILABLE = available
    assert (tested.matched, tested.scale, tested.offset_frames) == (
        plain.matched,
        plain.scale,
        plain.offset_frames,
    )
    if seen and seen[-1][1] > limit:  # rejected: the rate is a lower bound of the chance level
        assert tested.null_rate == seen[-1][1] <= plain.null_rate
    else:
        both_nan = bool(np.isnan(tested.null_rate) and np.isnan(plain.null_rate))
        assert tested.null_rate == plain.null_rate or both_nan


@settings(max_examples=200, deadline=None)
@given(
    matched=st.integers(-1, 400),
    level=st.one_of(st.none(), st.floats(-1.0, 80.0)),
    trials=st.floats(0.0, 12.0),
    rate=st.floats(0.0, 300.0),
)
def test_a_score_rejection_as_a_rate_rejects_only_what_the_score_rejects(
    matched: int, level: float | None, trials: float, rate: float
) -> None:
    """``ScoreBelow.max_rate`` is the rate form of its test: a chance level above it always gives a
    score under the level, and one clearly under it never does."""
    reject = ScoreBelow(level, trials)
    bound = reject.max_rate(matched)
    if max(rate, 0.5) > bound:
        assert reject(matched, rate)
    if max(rate, 0.5) < bound * (1.0 - 1e-6) and math.isfinite(bound):
        assert not reject(matched, rate)
    if level is None or level <= 0.0:  # no level, or one that every score reaches
        assert bound == math.inf and not reject(matched, rate)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=10, deadline=None)
@given(
    which=st.integers(0, 2),
    offset=st.floats(1.0, 25.0),
    cand_sound=st.integers(0, 2),
    level=st.one_of(st.none(), st.floats(0.0, 60.0)),
)
def test_the_compiled_chance_level_rejects_as_python_asks(
    library: Library, which: int, offset: float, cand_sound: int, level: float | None
) -> None:
    """With a :class:`ScoreBelow`, the chance level is counted and rejected in one kernel: the same
    alignment, rate and rejection as when each rejection is asked from Python."""
    q, rt, rb = _excerpt_and_reference(library, which, offset, cand_sound)
    fps = P.frames_per_second
    trials = 8.0
    cand = Candidate(cand_sound, 1.0, 0.0, offset * fps, 1)
    reject = ScoreBelow(level, trials)
    fused = align(q, rt, rb, cand, C, fps, reject)
    asked = align(q, rt, rb, cand, C, fps, lambda m, r: reject(m, r))  # any callable: asked from Python
    assert fused == asked or (np.isnan(fused.null_rate) and np.isnan(asked.null_rate))


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=30, deadline=None)
@given(
    n_q=st.integers(0, 60),
    n_ref=st.integers(0, 200),
    shuffled=st.booleans(),
    windows_forward=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pair_search_sweep_finds_what_a_full_scan_finds(
    n_q: int, n_ref: int, shuffled: bool, windows_forward: bool, seed: int
) -> None:
    """The pair search sweeps a cursor through each bin when the reference is in time order and
    the windows move forward, and scans every bin otherwise: the same pairs either way."""
    rng = np.random.default_rng(seed)
    q_times = np.sort(rng.uniform(0.0, 300.0, n_q))
    q_bins = rng.uniform(0.0, 20.0, n_q)
    ref_times = np.sort(rng.uniform(0.0, 400.0, n_ref))
    ref_bins = rng.uniform(0.0, 20.0, n_ref)
    width = rng.uniform(1.0, 80.0, n_q)
    t_lo = q_times - width if windows_forward else rng.uniform(0.0, 300.0, n_q)
    t_hi = t_lo + 2.0 * width
    shifts = np.array([-1.0, 0.0, 1.5])
    every = (q_times, 1.0, 0.0, 1.0, 0.0, np.empty(0, dtype=np.int64))

    def pairs(times: np.ndarray, bins: np.ndarray) -> set[tuple[int, int, float, float]]:
        buckets = _kernels.bucket_peaks(times, bins, 22)
        kk, qi, ri = _kernels._pairs(q_bins, buckets, shifts, 0.75, t_lo, t_hi, every)
        by_shift = np.lexsort((qi, kk))  # shift by shift, then by query peak
        assert np.array_equal(kk, kk[by_shift]) and np.array_equal(qi, qi[by_shift])
        return {(int(k), int(q), float(times[r]), float(bins[r])) for k, q, r in zip(kk, qi, ri, strict=True)}

    expected = {
        (k, i, float(ref_times[j]), float(ref_bins[j]))
        for k in range(shifts.size)
        for i in range(n_q)
        for j in range(n_ref)
        if abs(ref_bins[j] - (q_bins[i] + shifts[k])) <= 0.75 and t_lo[i] <= ref_times[j] <= t_hi[i]
    }
    order = rng.permutation(n_ref) if shuffled else np.arange(n_ref)
    assert pairs(ref_times[order], ref_bins[order]) == expected


@settings(max_examples=200, deadline=None)
@given(
    values=hnp.arrays(
        np.float32,
        st.integers(0, 400),
        elements=st.sampled_from([0.0, -0.0, 1.5, -1.5, 3.25, 1e-30, -1e-30, 7e30, np.inf, -np.inf, np.nan])
        | st.floats(-100, 100, width=32),
    )
)
def test_triplet_order_is_a_stable_argsort(values: np.ndarray) -> None:
    """The query's triplet order (a sort of integer keys) is numpy's stable argsort, with ties,
    signed zeros, infinities and NaN."""
    np.testing.assert_array_equal(match_module._stable_order(values), np.argsort(values, kind="stable"))


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=40, deadline=None)
@given(
    n_q=st.integers(1, 50),
    n_ref=st.integers(0, 300),
    step=st.sampled_from([2.5, 1.0 / 3.0, 0.7, 1.1]),
    half_share=st.sampled_from([0.1, 0.3, 0.5, 0.7]),
    scale=st.sampled_from([1.0, 0.5, 1.5]),  # offsets on an eighth-frame grid
    stride=st.sampled_from([0, 5, 12]),
    seed=st.integers(0, 2**16),
)
def test_chance_level_counts_are_the_direct_count(
    n_q: int, n_ref: int, step: float, half_share: float, scale: float, stride: int, seed: int
) -> None:
    """The compiled chance-level counts equal the definition: a pair counts at the offset nearest its
    own (``rint(u / step)``) when within ``half`` of it and that offset is asked for, capped per
    query bin and frame. Times on a quarter-frame grid put some offsets exactly half-way between two
    (``half`` >= ``step / 2`` then decides by the nearest; with steps 0.7 and 1.1, ``u * (1 / step)``
    rounds some of them the other way). The offsets asked for are a random share of the grid, or
    (``stride``) every few of it on either side of a gap, as the far offsets of the chance level are:
    the kernel then reads only the reference peaks in phase with them."""
    rng = np.random.default_rng(seed)
    q_times = np.sort(rng.integers(0, 400, n_q) * 0.25)
    q_bins = rng.integers(0, 40, n_q) * 0.5
    ref_times = np.sort(rng.integers(0, 1200, n_ref) * 0.25)
    ref_bins = rng.integers(0, 40, n_ref) * 0.5
    q_bin = np.maximum(np.rint(q_bins), 0).astype(np.int64)
    q_frame = np.maximum(np.rint(q_times), 0).astype(np.int64)
    half, first, shift, tol = half_share * step, -20.0, 0.5, 0.75
    n_c = int(300.0 / step)
    use = rng.random(n_c) < 0.4
    if stride:  # two runs of every stride-th offset, out of phase across the gap
        gap_lo, gap_hi = sorted(rng.integers(0, n_c, 2).tolist())
        use = np.zeros(n_c, dtype=bool)
        use[np.arange(0, gap_lo, stride)] = True
        use[np.arange(gap_hi + int(rng.integers(0, stride)), n_c, stride)] = True
        offsets = np.flatnonzero(use)
        if stride == 12 and offsets.size >= 2 and offsets[1] - offsets[0] == stride:  # a sparse comb
            assert _kernels._offset_period(offsets, step, half_share * step)[0] == stride
    f32 = [a.astype(np.float32) for a in (q_times, q_bins, ref_times, ref_bins)]  # as peaks are stored
    got = _kernels.null_counts(
        *f32, -np.inf, np.inf, shift, tol, scale, first, step, half, np.flatnonzero(use), 3, 3
    )
    compact = np.cumsum(use) - 1
    by_bin = np.zeros((int(use.sum()), 64), dtype=np.int64)
    by_frame = np.zeros((int(use.sum()), 400), dtype=np.int64)
    for i in range(n_q):
        for p in range(n_ref):
            u = ref_times[p] - scale * q_times[i]
            c = int(np.rint((u - first) / step))
            near = abs(u - first - c * step) <= half and abs(ref_bins[p] - (q_bins[i] + shift)) <= tol
            if near and 0 <= c < n_c and use[c]:
                by_bin[compact[c], q_bin[i]] += 1
                by_frame[compact[c], q_frame[i]] += 1
    expected = np.minimum(np.minimum(by_bin, 3).sum(axis=1), np.minimum(by_frame, 3).sum(axis=1))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
def test_chance_level_counts_offsets_half_way_between_two_as_division_does() -> None:
    """Offsets where ``u * (1 / step)`` and ``u / step`` round to different neighbours (step 1.1):
    with ``half`` over ``step / 2`` each is counted at the neighbour that division names."""
    step, half = 1.1, 0.7 * 1.1
    v = np.arange(2000) * 0.25
    tie = v[np.rint(v / step) != np.rint(v * (1.0 / step))]
    assert tie.size > 10
    n_c = int(v[-1] / step) + 2
    use = np.ones(n_c, dtype=bool)
    one = np.zeros(1, dtype=np.float32)
    ref = tie.astype(np.float32)
    grid = (0.0, 0.75, 1.0, 0.0, step, half)  # shift, tolerance, scale, first, step, half
    got = _kernels.null_counts(one, one, ref, 0 * ref, -np.inf, np.inf, *grid, np.flatnonzero(use), 3, 3)
    expected = np.zeros(n_c, dtype=np.int64)
    expected[np.rint(tie / step).astype(np.int64)] = 1
    np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")
@settings(max_examples=40, deadline=None)
@given(
    n_c=st.integers(0, 3000),
    first=st.floats(-500.0, 0.0),
    step=st.sampled_from([2.5, 1.1, 0.7]),
    offset=st.floats(-100.0, 8000.0),
    away=st.floats(0.0, 400.0),
    window=st.floats(0.0, 900.0),
)
def test_compiled_null_offsets_are_the_numpy_ones(
    n_c: int, first: float, step: float, offset: float, away: float, window: float
) -> None:
    from reelsense.sounds.verify import _null_offsets

    fast = _null_offsets(n_c, first, step, offset, away, window)
    slow = numpy_path(_null_offsets, n_c, first, step, offset, away, window)
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(f, s)
        assert f.dtype == np.int64


def test_a_certain_match_is_what_verifying_every_candidate_exactly_gives(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pitch shifts by an interval leave partials in place: the identity is certain, then an edited
    # alignment and other cells of the sound are verified against the certain match's score
    # (rejected as soon as they cannot beat it), which must give what exact verification gives
    third = 2.0 ** (3 / 12)
    queries = [render(notes, DUR, SR, pitch=third)[int(5.0 * SR) : int(15.0 * SR)] for notes in library[1]]
    real = match_module._verify
    levels: list[tuple[float, float]] = []

    def recording(*args: object, **kwargs: object) -> object:
        m, exact = real(*args, **kwargs)  # type: ignore[arg-type]
        levels.append((float(args[6]), m.score))  # type: ignore[arg-type]
        return m, exact

    def exact(*args: object, **kwargs: object) -> object:
        return real(*args[:6], C.threshold)  # type: ignore[arg-type]

    index = library[0]
    for x in queries:
        q = prepare_query(x, SR, P, C)
        monkeypatch.setattr(match_module, "_verify", recording)
        quick = match_query(q, index, P, C)
        monkeypatch.setattr(match_module, "_verify", exact)
        assert quick and quick == match_query(q, index, P, C)
    # both ways were taken: a candidate beat a certain match, and one was rejected under it
    assert any(level >= C.exit_score and score >= level for level, score in levels)
    assert any(level >= C.exit_score and score < level for level, score in levels)


def test_the_chance_level_counts_only_the_query_peaks_over_the_reference() -> None:
    # a query three times as long as the reference: at any one offset only a reference's length of
    # it can coincide, so its uniform chance level is that of a query as long as the reference
    # (it was three times that, and other music around a sound drove a perfect match's score to 0)
    ref_frames = 1000.0
    times = np.arange(0.0, 3000.0, 0.5, dtype=np.float32)
    peaks = Peaks(times, np.zeros_like(times), np.zeros_like(times))
    part = Peaks(times[times <= ref_frames], np.zeros(2001, np.float32), np.zeros(2001, np.float32))
    whole = chance_rate(peaks, 3000, ref_frames, P, C)
    assert whole == pytest.approx(chance_rate(part, 3000, ref_frames, P, C))
    assert chance_rate(peaks, 3000, ref_frames, P, C, 0.5) == pytest.approx(2.0 * whole, rel=1e-3)
    assert chance_rate(part, 3000, ref_frames, P, C, 2.0) == pytest.approx(0.5 * whole, rel=1e-3)


def _pieces(seconds: float) -> Library:
    """Three pieces of ``seconds`` (3 notes a second, on the semitone grid, as the unrelated
    queries of the tests below), indexed as "a", "b", "c"."""
    notes = [make_notes(seed, seconds, 3.0) for seed in (1, 2, 3)]
    peaks = [peaks_of(render(n, seconds, SR), SR, P, P.ref_peaks_per_second) for n in notes]
    return SearchIndex.from_peaks(peaks, ["a", "b", "c"], P), notes


@pytest.fixture(scope="module")
def long_library() -> Library:
    """Three 2-minute pieces."""
    return _pieces(120.0)


@pytest.mark.parametrize(("seconds", "seed"), [(100.0, 21), (100.0, 23), (240.0, 20), (240.0, 24)])
def test_minutes_of_unrelated_music_match_nothing(long_library: Library, seconds: float, seed: int) -> None:
    """A query of minutes of other music in the same scale. Shorter than the reference, the spread
    of its chance level lies more than half the query away from the match, where part of the query
    hangs off the reference: counted per query peak over the reference, it is not underestimated
    (it matched at 3.2-5.7). Twice as long as the reference, there is no room for a spread: the
    level expected from the reference's own bins, capped per query bin, replaces a uniform spread
    over every bin (it matched at 8.4-10.2)."""
    x = render(make_notes(seed, seconds, 3.0), seconds, SR)
    assert _match(long_library, x) == []


def _piece_inside(
    lib: Library, which: int, seconds: float, speed: float, before: float, other_seconds: float, seed: int
) -> list:
    """The matches of piece ``which`` (``seconds`` long, played at ``speed``) inside other music
    (``other_seconds`` of it, ``before`` seconds of which come first)."""
    piece = render(lib[1][which], seconds, SR)
    if speed != 1.0:
        piece = soxr.resample(piece, SR * speed, SR).astype(np.float32)
    other = render(make_notes(seed, other_seconds, 3.0), other_seconds, SR)
    at = int(before * SR)
    return _match(lib, np.concatenate([other[:at], piece, other[at:]]))


@pytest.mark.parametrize("speed", [1.0, 1.2])
def test_a_whole_piece_inside_minutes_of_other_music_is_still_found(
    long_library: Library, speed: float
) -> None:
    """The same chance levels leave a true use certain: a whole reference, plain or sped up,
    between a minute of unrelated music on either side."""
    m = _piece_inside(long_library, 1, 120.0, speed, 60.0, 120.0, seed=30)
    assert m and m[0].sound_id == "b" and m[0].score >= C.exit_score
    assert m[0].speed == pytest.approx(speed, rel=0.02)
    # the offset is the reference time at the query's start, 60 s before the piece: a scale off by
    # 0.5 % moves it by 0.3 s
    assert m[0].offset_seconds == pytest.approx(-60.0 * speed, abs=0.75)


@pytest.fixture(scope="module")
def short_library() -> Library:
    """Three 30 s pieces (a library of short sounds)."""
    return _pieces(30.0)


@pytest.mark.parametrize("seed", [20, 23, 25])
def test_three_minutes_of_other_music_do_not_match_a_short_sound(short_library: Library, seed: int) -> None:
    """A query six times as long as its reference: the chance level counts every placement of the
    reference inside the query, where other music meets it as an unrelated use would (it counted
    only the reference's own few offsets, found no room, and assumed a level under what unrelated
    music reaches: these matched at 6.4-8.8)."""
    x = render(make_notes(seed, 180.0, 3.0), 180.0, SR)
    assert _match(short_library, x) == []


@pytest.mark.parametrize("seed", [21, 32])
def test_other_music_over_twice_as_long_does_not_match_a_short_sound(
    short_library: Library, seed: int
) -> None:
    """A query two and a half times as long as its reference, too short for every placement of
    the reference inside it to leave room for a measured level. The trial count holds the
    alignments where the long query overlaps each short reference, and the fallback level is the
    one from the reference's own bins, as for a long reference (the uniform spread over every
    bin, and trials counted over the references' frames alone, made these match at 7.9 and 8.2)."""
    seconds = 75.0
    x = render(make_notes(seed, seconds, 3.0), seconds, SR)
    assert _match(short_library, x) == []


def test_the_trial_count_holds_every_overlap_of_a_query_with_each_reference() -> None:
    """A reference offers an alignment at every offset where the query overlaps it: its own
    length plus the query's."""
    base = log10_trials(30_000.0, 0, 0.0, 7, C)
    assert log10_trials(30_000.0, 10, 0.0, 7, C) == base
    assert log10_trials(30_000.0, 10, 3_000.0, 7, C) == pytest.approx(base + math.log10(2.0))
    assert log10_trials(10_000.0, 10, 4_000.0, 7, C) == pytest.approx(log10_trials(50_000.0, 0, 0.0, 7, C))
    assert log10_trials(30_000.0, 10, 3_000.0, 14, C) == pytest.approx(base + math.log10(4.0))


@pytest.mark.parametrize("speed", [1.0, 1.2])
def test_a_short_sound_inside_minutes_of_other_music_is_still_found(
    short_library: Library, speed: float
) -> None:
    m = _piece_inside(short_library, 2, 30.0, speed, 90.0, 150.0, seed=31)
    assert m and m[0].sound_id == "c" and m[0].score >= C.exit_score
    assert m[0].speed == pytest.approx(speed, rel=0.02)
    # the matched span lies on the piece, not on the music around it
    assert 89.0 <= m[0].query_start_seconds < m[0].query_end_seconds <= 90.0 + 30.0 / speed + 1.0


def test_the_chance_level_from_the_reference_bins_is_capped_per_query_bin() -> None:
    """Given the reference's bins (a reference of a minute or more, or a query over twice as long
    as the reference), each query peak expects the reference peaks within the bin tolerance of its
    shifted bin: reference peaks on the query's bins expect more than a uniform spread, on other
    bins nothing, and a query bin never more than its cap. A shorter reference keeps the uniform
    level for a query up to twice its length."""
    ref_frames = math.ceil(BINNED_CHANCE_SECONDS * P.frames_per_second)
    q_times = np.arange(0.0, ref_frames, 2.0, dtype=np.float32)
    q_bins = (10 * (np.arange(q_times.size) % 5)).astype(np.float32)  # 5 bins, 100 peaks each
    query = Peaks(q_times, q_bins, np.zeros_like(q_times))
    on = np.repeat(q_bins[:5], 40).astype(np.float32)  # 200 reference peaks on the query's bins
    off = on + 5.0  # and 200 between them
    uniform = chance_rate(query, 200, ref_frames, P, C)
    dense = chance_rate(query, 200, ref_frames, P, C, 1.0, on)
    assert dense > uniform > 0
    assert chance_rate(query, 200, ref_frames, P, C, 1.0, off) == 0.0
    assert chance_rate(query, 200, ref_frames, P, C, 1.0, off, 5.0) == pytest.approx(dense)
    heavy = chance_rate(query, 200_000, ref_frames, P, C, 1.0, np.repeat(on, 1000))
    assert heavy == pytest.approx(5 * C.align_cap_per_bin)
    # a shorter reference keeps the uniform level for a query up to twice its length, and takes
    # the binned one for a longer query (other music around a short sound)
    short = ref_frames / 3.0
    twice = q_times <= 2.0 * short
    up_to_twice = Peaks(q_times[twice], q_bins[twice], np.zeros_like(q_times[twice]))
    assert chance_rate(up_to_twice, 200, short, P, C, 1.0, on) == chance_rate(up_to_twice, 200, short, P, C)
    assert chance_rate(query, 200, short, P, C, 1.0, on) > chance_rate(query, 200, short, P, C)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": -1.0}, "threshold=-1.0 must be >= 0"),
        ({"align_tol_bins": -1.0}, "align_tol_bins=-1.0 must be > 0"),
        ({"max_load": 0.0}, r"max_load=0.0 must be > 0 \(None: no limit\)"),
        ({"max_load": float("nan")}, "max_load=nan"),
        ({"top_k": 1.5}, "top_k=1.5 must be an integer"),
        ({"second_triplets": 0}, "second_triplets=0 must be >= 1"),
    ],
)
def test_match_config_refuses(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        MatchConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"align_step_frames": float("nan")}, "align_step_frames=nan must be a finite number"),
        ({"scale_step": float("nan")}, "scale_step=nan must be a finite number"),
        ({"shift_step_bins": 0.0}, "shift_step_bins=0.0 must be > 0"),
        ({"align_scale_steps": 2.5}, "align_scale_steps=2.5 must be an integer"),
        ({"align_cap_per_bin": 1.5}, "align_cap_per_bin=1.5 must be an integer"),
        ({"threshold": "2"}, "threshold='2' must be a number"),
        ({"speed_range": (0.7, 1.0, 1.45)}, r"speed_range=\(0.7, 1.0, 1.45\) must be a \(low, high\) pair"),
        ({"tempo_range": (0.8, float("inf"))}, "tempo_range=inf must be a finite number"),
    ],
)
def test_match_config_refuses_values_that_matched_nothing(kwargs: dict[str, object], match: str) -> None:
    """A NaN step passed a "<= 0" test and the search found nothing; a fraction or a string
    failed deep inside the search."""
    with pytest.raises(ParameterError, match=match):
        MatchConfig(**kwargs)  # type: ignore[arg-type]


def test_match_config_ranges_become_tuples_of_floats() -> None:
    """A range given as a list works as a tuple (the config keys cached search grids)."""
    config = MatchConfig(speed_range=[0.7, 1.45], pitch_range_semitones=[-4, 4])  # type: ignore[arg-type]
    assert config.speed_range == (0.7, 1.45) and config.pitch_range_semitones == (-4.0, 4.0)
    assert hash(config) == hash(MatchConfig(pitch_range_semitones=(-4.0, 4.0)))
