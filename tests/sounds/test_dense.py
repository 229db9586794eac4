"""The dense per-frame test: packed sign bits, its own search, and the index's second chance on a
reverberant clip under a voice-over and noise that the peak search misses."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music import make_notes, render, room_voice_noise
from reelsense.errors import ParameterError
from reelsense.sounds import SoundIndex
from reelsense.sounds._tables import SearchIndex
from reelsense.sounds.dense import (
    DenseConfig,
    DenseReferences,
    dense_search,
    dense_search_each,
    fft_length,
    frame_bits,
    unpack_bits,
)
from reelsense.sounds.fingerprint import FingerprintParams, log_spectrogram, peaks_of
from reelsense.sounds.index import _index
from reelsense.sounds.match import MatchConfig, dense_grid, match_query, match_query_candidates, prepare_query

SR = 11025
P = FingerprintParams()
C = MatchConfig(dense_second_chance=True)
DUR = 40.0
SEEDS = (11, 12, 13)


@pytest.fixture(scope="module")
def music() -> list[np.ndarray]:
    return [render(make_notes(seed, DUR), DUR, SR) for seed in SEEDS]


@pytest.fixture(scope="module")
def refs(music: list[np.ndarray]) -> DenseReferences:
    return DenseReferences([frame_bits(log_spectrogram(x, SR, P)) for x in music], DenseConfig())


def test_frame_bits_are_packed_per_frame_and_ignore_gain(music: list[np.ndarray]) -> None:
    spec = log_spectrogram(music[0], SR, P)
    bits = frame_bits(spec)
    assert bits.dtype == np.uint32 and bits.shape == (spec.shape[0],)
    louder = frame_bits(log_spectrogram(music[0] * np.float32(0.1), SR, P))
    signs = unpack_bits(bits)
    assert np.mean(signs == unpack_bits(louder)) > 0.9  # dB differences do not see the gain (bar rounding)
    assert signs.shape == (bits.size, 32)
    assert np.all(signs[0] == 0) and set(np.unique(signs[1:])) <= {-1.0, 1.0}
    assert 0.3 < np.mean(signs[1:] > 0) < 0.7


def test_bad_inputs_name_the_value() -> None:
    with pytest.raises(ParameterError, match="block_frames=100"):
        DenseConfig(block_frames=100)
    with pytest.raises(ParameterError, match=r"\(5, 3\)"):
        frame_bits(np.zeros((5, 3), dtype=np.float32))


def test_dense_search_finds_a_clip_in_a_room_under_voice_and_noise(
    music: list[np.ndarray], refs: DenseReferences
) -> None:
    clip = music[1][int(12.0 * SR) : int(22.0 * SR)]
    y = room_voice_noise(clip, seed=3)
    peaks_index = SearchIndex.from_peaks(
        [peaks_of(x, SR, P, P.ref_peaks_per_second) for x in music], ["a", "b", "c"], P
    )
    assert not match_query(prepare_query(y, SR, P, C), peaks_index, P, C)  # the peaks are gone
    hit = dense_search(log_spectrogram(y, SR, P), refs, *dense_grid(C, P))
    assert hit is not None
    assert hit.sound == 1
    assert hit.offset_frames / P.frames_per_second == pytest.approx(12.0, abs=0.2)
    assert hit.scale == pytest.approx(1.0, abs=0.02) and hit.shift_bins == pytest.approx(0.0, abs=0.7)
    assert hit.score >= C.threshold


def test_dense_search_finds_a_resampled_clip(music: list[np.ndarray], refs: DenseReferences) -> None:
    speed = 1.2
    clip = render(make_notes(SEEDS[2], DUR), DUR, SR, time_scale=1 / speed, pitch=speed)
    y = room_voice_noise(
        clip[int(20.0 / speed * SR) : int(28.0 / speed * SR)], seed=4, voice_db=6, noise_db=6
    )
    hit = dense_search(log_spectrogram(y, SR, P), refs, *dense_grid(C, P))
    assert hit is not None and hit.sound == 2
    assert hit.scale == pytest.approx(speed, rel=0.02)
    assert hit.offset_frames / P.frames_per_second == pytest.approx(20.0, abs=0.3)
    assert hit.score >= C.threshold


def test_other_music_and_short_clips_score_under_the_threshold(refs: DenseReferences) -> None:
    stranger = render(make_notes(99, 12.0), 12.0, SR)
    for y in (stranger, room_voice_noise(stranger, seed=5)):
        hit = dense_search(log_spectrogram(y, SR, P), refs, *dense_grid(C, P))
        assert hit is None or hit.score < C.threshold
    assert dense_search(log_spectrogram(stranger[: SR // 2], SR, P), refs, *dense_grid(C, P)) is None


def test_dense_search_each_gives_every_references_best_under_one_null(
    music: list[np.ndarray], refs: DenseReferences
) -> None:
    """One hit per reference, each its best alignment standardised like the overall best: the
    best of them is :func:`dense_search`'s hit, and the true reference's sits at the clip."""
    clip = room_voice_noise(music[1][int(12.0 * SR) : int(22.0 * SR)], seed=3)
    spec = log_spectrogram(clip, SR, P)
    each = dense_search_each(spec, refs, *dense_grid(C, P), trials_frames=3 * refs.total_frames)
    assert [h.sound for h in each] == [0, 1, 2]
    best = dense_search(spec, refs, *dense_grid(C, P), trials_frames=3 * refs.total_frames)
    assert max(each, key=lambda h: h.z) == best
    assert each[1].offset_frames / P.frames_per_second == pytest.approx(12.0, abs=0.2)
    assert each[1].score >= C.threshold > max(each[0].score, each[2].score)
    assert len({h.log10_trials for h in each}) == 1  # scored over the whole search
    assert dense_search_each(spec[:10], refs, *dense_grid(C, P)) == []  # too short


def test_more_ranked_candidates_change_no_match(music: list[np.ndarray]) -> None:
    """``n_ranked`` returns the cells of more candidate sounds but verifies the same ones."""
    names = [f"s{k}" for k in range(12)]
    songs = [*music, *(render(make_notes(100 + k, 20.0), 20.0, SR) for k in range(9))]
    index = SearchIndex.from_peaks([peaks_of(x, SR, P, P.ref_peaks_per_second) for x in songs], names, P)
    query = prepare_query(music[1][int(5.0 * SR) : int(15.0 * SR)], SR, P, C)
    narrow = MatchConfig(n_candidates=2, top_k=2)
    found, cands = match_query_candidates(query, index, P, narrow, threshold=0.0)
    more, wider = match_query_candidates(query, index, P, narrow, threshold=0.0, n_ranked=8)
    assert more == found and found[0].sound_id == "s1"
    assert {c.sound for c in cands} < {c.sound for c in wider}
    assert len({c.sound for c in wider}) > 2


def _index_of(path: Path, music: list[np.ndarray], config: MatchConfig) -> SoundIndex:
    index = SoundIndex.create(path, config=config)
    for name, x in zip("abc", music, strict=True):
        index.add_array(name, x, SR)
    return index


def test_index_second_chance_matches_what_the_peak_search_misses(
    tmp_path: Path, music: list[np.ndarray]
) -> None:
    y = room_voice_noise(music[1][int(12.0 * SR) : int(22.0 * SR)], seed=3)
    with _index_of(tmp_path / "i.rsidx", music, C) as index:
        found = index.match(y, SR)
        assert [m.sound_id for m in found] == ["b"]
        assert found[0].offset_seconds == pytest.approx(12.0, abs=0.2)
        assert found[0].score >= C.threshold and found[0].n_matched_peaks == 0
    off = MatchConfig(dense_second_chance=False)
    with SoundIndex.open(tmp_path / "i.rsidx", readonly=True, config=off) as index:
        assert index.match(y, SR) == []


def test_sounds_without_frame_bits_are_skipped_with_a_warning(
    tmp_path: Path, music: list[np.ndarray], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old = _index.peak_arrays

    def peaks_only(samples: np.ndarray, sample_rate: int, params: FingerprintParams) -> dict[str, np.ndarray]:
        return {k: v for k, v in old(samples, sample_rate, params).items() if k != "frame_bits"}

    monkeypatch.setattr(_index, "peak_arrays", peaks_only)
    y = room_voice_noise(music[1][int(12.0 * SR) : int(22.0 * SR)], seed=3)
    with _index_of(tmp_path / "old.rsidx", music, C) as index, caplog.at_level(logging.WARNING):
        assert index.match(y, SR) == []
    assert "3 of 3 sounds have no frame bits" in caplog.text


def test_peak_evidence_at_the_dense_alignment_raises_the_score_and_nothing_lowers_it() -> None:
    from reelsense.sounds.dense import DenseHit, combined_score, dense_log10p

    trials = 10.4
    hit = DenseHit(0, 100, 1.0, 0.0, z=6.0, log10_trials=trials, score=-dense_log10p(6.0, trials))
    assert hit.score == 0.0  # z 6 alone is chance over ~1e10 alignments
    weak, strong = combined_score(hit, -2.0, 3.0), combined_score(hit, -10.0, 3.0)
    assert weak == hit.score  # two weak tests stay at chance
    assert strong > 2.0  # a z of 6 and a 1e-10 peak alignment together do not
    ln_x = (-9.0 - 10.0) * np.log(10.0)  # Fisher: P(p1 p2 <= x) = x (1 - ln x)
    expected = -((ln_x + np.log1p(-ln_x)) / np.log(10.0) + trials + 3.0)
    assert strong == pytest.approx(expected, abs=0.05)
    sure = DenseHit(0, 100, 1.0, 0.0, z=12.0, log10_trials=trials, score=-dense_log10p(12.0, trials))
    assert combined_score(sure, 0.0, 3.0) == pytest.approx(sure.score, abs=1e-3)


def test_sound_info_counts_peaks_not_frames(tmp_path: Path, music: list[np.ndarray]) -> None:
    with _index_of(tmp_path / "i.rsidx", music, C) as index:
        infos = {s.sound_id: s for s in index.sounds()}
        arrays = _index.peak_arrays(music[0], SR, P)
        assert infos["a"].n_peaks == arrays["peak_times"].shape[0] < arrays["frame_bits"].shape[0]
        assert index.stats().total_peaks == sum(s.n_peaks for s in infos.values())


@settings(max_examples=60, deadline=None)
@given(
    k_query=st.integers(2, 8192),
    total=st.integers(1, 10**8),
    n_hyp=st.integers(1, 400),
    longest=st.sampled_from([256, 1000, 4096, 16384]),
)
def test_fft_length_holds_the_query_and_stays_within_the_longest(
    k_query: int, total: int, n_hyp: int, longest: int
) -> None:
    k_query = min(k_query, longest // 2)  # dense_search cuts queries to half the longest block
    n = fft_length(k_query, total, n_hyp, longest)
    assert n == longest or (n >= 2 * k_query and n & (n - 1) == 0)
    assert 256 <= n <= longest or n == longest


def test_the_block_length_does_not_change_the_answer(music: list[np.ndarray]) -> None:
    """The blocks (FFT length, overlap, batches) only organise the work: the best alignment
    and its statistics are the same whatever the longest block and batch size."""
    clip = music[1][int(12.0 * SR) : int(22.0 * SR)]
    spec = log_spectrogram(room_voice_noise(clip, seed=3), SR, P)
    bits = [frame_bits(log_spectrogram(x, SR, P)) for x in music]
    hits = [
        dense_search(
            spec, DenseReferences(bits, DenseConfig(block_frames=b, batch_blocks=c)), *dense_grid(C, P)
        )
        for b, c in ((16384, 64), (2048, 64), (1024, 2))
    ]
    assert all(h is not None for h in hits)
    first = hits[0]
    for h in hits[1:]:
        assert (h.sound, h.offset_frames, h.scale, h.shift_bins) == (  # type: ignore[union-attr]
            first.sound,
            first.offset_frames,
            first.scale,
            first.shift_bins,  # type: ignore[union-attr]
        )
        assert h.z == pytest.approx(first.z, rel=1e-4)  # type: ignore[union-attr]


def test_trials_frames_widen_the_trials_and_lower_the_score(
    music: list[np.ndarray], refs: DenseReferences
) -> None:
    """A search of some sounds scored as a search of an index 10x longer: the same alignment,
    1 more in log10 trials, a score 1 lower (scores here are far from the 0 cap)."""
    spec = log_spectrogram(room_voice_noise(music[1][int(12.0 * SR) : int(22.0 * SR)], seed=3), SR, P)
    own = dense_search(spec, refs, *dense_grid(C, P))
    wide = dense_search(spec, refs, *dense_grid(C, P), trials_frames=10 * refs.total_frames)
    assert own is not None and wide is not None
    assert (wide.sound, wide.offset_frames, wide.z) == (own.sound, own.offset_frames, own.z)
    assert wide.log10_trials == pytest.approx(own.log10_trials + 1.0)
    assert wide.score == pytest.approx(own.score - 1.0, abs=2e-3)
    part = refs.subset([1])
    assert len(part) == 1 and part.total_frames == refs.ends[1] - refs.starts[1]


def test_dense_scope_names_its_values() -> None:
    with pytest.raises(ParameterError, match="dense_scope='everything'"):
        MatchConfig(dense_scope="everything")  # type: ignore[arg-type]


def _only_candidates_of(monkeypatch: pytest.MonkeyPatch, sound_id: str) -> None:
    """The peak search as if it had ranked only ``sound_id``'s cells (its matches unchanged)."""
    real = _index.match_query_candidates

    def ranked(query, index, *args, **kwargs):  # type: ignore[no-untyped-def]
        found, cands = real(query, index, *args, **kwargs)
        return found, [c for c in cands if index.ids[c.sound] == sound_id]

    monkeypatch.setattr(_index, "match_query_candidates", ranked)


def test_candidate_scope_searches_the_peak_candidates_only(
    tmp_path: Path, music: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bounded second chance: the dense test runs over the sounds the peak search ranked,
    scored with the trials of the whole library. It finds the reverberant clip under a voice when
    its sound is among them, and cannot when the peaks ranked other sounds only."""
    y = room_voice_noise(music[1][int(12.0 * SR) : int(22.0 * SR)], seed=3)
    bounded = MatchConfig(dense_second_chance=True, dense_scope="candidates")
    _index_of(tmp_path / "i.rsidx", music, C).close()
    searched: list[tuple[int, int | None]] = []
    real_search = _index.dense_search

    def spy(spec, refs, *args, **kwargs):  # type: ignore[no-untyped-def]
        searched.append((len(refs), kwargs.get("trials_frames")))
        return real_search(spec, refs, *args, **kwargs)

    monkeypatch.setattr(_index, "dense_search", spy)
    with SoundIndex.open(tmp_path / "i.rsidx", readonly=True, config=C) as index:
        every = index.match(y, SR)
        total = index._dense_references()[0].total_frames
    _only_candidates_of(monkeypatch, "b")
    with SoundIndex.open(tmp_path / "i.rsidx", readonly=True, config=bounded) as index:
        found = index.match(y, SR)
    assert searched == [(3, total), (1, total)]
    assert [m.sound_id for m in found] == [m.sound_id for m in every] == ["b"]
    assert found[0].offset_seconds == pytest.approx(12.0, abs=0.2)
    assert found[0].score >= C.threshold
    _only_candidates_of(monkeypatch, "a")
    with SoundIndex.open(tmp_path / "i.rsidx", readonly=True, config=bounded) as index:
        assert index.match(y, SR) == []
    assert searched[-1] == (1, total)


def test_candidate_scope_keeps_other_music_out(tmp_path: Path, music: list[np.ndarray]) -> None:
    bounded = MatchConfig(dense_second_chance=True, dense_scope="candidates")
    stranger = render(make_notes(99, 12.0), 12.0, SR)
    with _index_of(tmp_path / "i.rsidx", music, bounded) as index:
        for y in (stranger, room_voice_noise(stranger, seed=5)):
            assert index.match(y, SR) == []
