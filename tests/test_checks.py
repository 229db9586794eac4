"""The shared argument checks: one accepted range of sample rates, integers that are integers,
a single path refused where a list of paths is needed, and outputs kept apart from inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from reelsense._checks import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    check_bool,
    check_finite,
    check_int,
    check_number,
    check_outputs_apart,
    check_paths,
    check_positive,
    check_sample_rate,
)
from reelsense.errors import OutputError, ParameterError


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, 11025, np.int64(16000), np.int32(22050), MAX_SAMPLE_RATE])
def test_sample_rates_in_range_are_ints(rate: object) -> None:
    checked = check_sample_rate(rate)
    assert type(checked) is int and checked == rate


@pytest.mark.parametrize(
    "rate",
    [
        *(float("nan"), float("inf"), 22050.5, 16000.0, np.float64(16000), "22050", None, True),
        *(0, -1, 1, 7999, 384001),
    ],
)
def test_bad_sample_rates_are_refused_naming_the_value(rate: object) -> None:
    with pytest.raises(ParameterError, match=r"sample_rate=") as caught:
        check_sample_rate(rate)
    assert repr(rate) in str(caught.value)


def test_numbers() -> None:
    assert check_int(np.int64(3), "n", minimum=1) == 3
    assert check_finite(np.float32(0.5), "x") == 0.5
    for bad in (2.5, "2", None, True):
        with pytest.raises(ParameterError, match="n="):
            check_int(bad, "n")
    for bad in (float("nan"), float("inf"), "1", None, False):
        with pytest.raises(ParameterError, match="x="):
            check_finite(bad, "x")
    for bad in (0, -1.0):
        with pytest.raises(ParameterError, match="must be > 0"):
            check_positive(bad, "x")
    assert check_number(np.float32(0.5), "x") == 0.5 and check_number(float("inf"), "x") == float("inf")
    for bad in (float("nan"), "1", None, True):
        with pytest.raises(ParameterError, match="x="):
            check_number(bad, "x")
    assert check_bool(False, "flag") is False
    assert check_bool(np.bool_(True), "flag") is True  # a numpy bool (a DataFrame's cell), as a bool
    for bad in ("no", 1, None, np.array([True]), np.int64(1)):
        with pytest.raises(ParameterError, match=r"flag=.* must be True or False"):
            check_bool(bad, "flag")


@pytest.mark.parametrize("single", ["videos", b"videos", Path("videos")])
def test_a_single_path_is_not_a_list_of_paths(single: object) -> None:
    with pytest.raises(ParameterError, match=r"inputs=.*videos.* is a single path: pass a list of paths"):
        check_paths(single, "inputs")


def test_lists_of_paths_pass_and_non_iterables_do_not() -> None:
    check_paths(["a", Path("b")], "inputs")
    check_paths((p for p in ["a"]), "inputs")
    with pytest.raises(ParameterError, match="inputs=3 must be a list of paths"):
        check_paths(3, "inputs")


# the sample rates of audio arrays and of audio models' front ends: the same rule as above (they
# had their own, looser ones: > 0 for AudioSamples and sustained_filter, >= 1000 for the models)
def _audio_samples(rate: object) -> int:
    from reelsense.io import AudioSamples

    return AudioSamples(np.zeros(16, np.float32), rate).sample_rate  # type: ignore[arg-type]


def _sustained_filter(rate: object) -> int:
    from reelsense.sounds.discover import sustained_filter

    sustained_filter(np.zeros(2048, np.float32), rate)  # type: ignore[arg-type]
    return int(rate)  # type: ignore[call-overload]


def _logmel_config(rate: object) -> int:
    from reelsense.audio.embedding import LogMelConfig

    return LogMelConfig(sample_rate=rate, fmax=2000.0).sample_rate  # type: ignore[arg-type]


def _audio_spec(rate: object) -> int:
    from reelsense.models import AudioSpec

    return AudioSpec(sample_rate=rate).sample_rate  # type: ignore[arg-type]


RATE_HOLDERS = {
    "AudioSamples.sample_rate": _audio_samples,
    "sample_rate": _sustained_filter,
    "LogMelConfig.sample_rate": _logmel_config,
    "AudioSpec.sample_rate": _audio_spec,
}


@pytest.mark.parametrize("name", list(RATE_HOLDERS))
@pytest.mark.parametrize("rate", [4000, 7999, 384001, 16000.0, 0])
def test_audio_arrays_and_models_refuse_the_rates_the_shared_rule_refuses(name: str, rate: object) -> None:
    with pytest.raises(ParameterError, match=rf"^{name}={rate!r} must be "):
        RATE_HOLDERS[name](rate)


@pytest.mark.parametrize("name", list(RATE_HOLDERS))
@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, np.int64(16000), MAX_SAMPLE_RATE])
def test_audio_arrays_and_models_take_the_rates_the_shared_rule_takes(name: str, rate: object) -> None:
    checked = RATE_HOLDERS[name](rate)
    assert type(checked) is int and checked == rate


def test_outputs_apart_refuses_an_input_file_or_a_shared_output(tmp_path: Path) -> None:
    """An output that is an input file (also through a link) or that another output names is
    refused, naming both; folders among the inputs and missing outputs pass."""
    table = tmp_path / "clusters.csv"
    table.write_text("x\n")
    link = tmp_path / "link.csv"
    link.symlink_to(table)
    check_outputs_apart({"output": tmp_path / "trends.csv", "report": None}, [table, tmp_path, None])
    check_outputs_apart({"output": tmp_path / "inside" / "x.csv"}, [tmp_path])  # a folder input
    for output in (table, link, str(table)):
        with pytest.raises(OutputError, match=r"output=.* is the input .*clusters\.csv.*overwritten"):
            check_outputs_apart({"output": output}, [str(table)])
    with pytest.raises(OutputError, match=r"report=.*trends\.csv.* is also output"):
        check_outputs_apart({"output": tmp_path / "trends.csv", "report": tmp_path / "trends.csv"}, [])


def _writers(tmp_path: Path) -> dict[str, tuple[Callable[[], object], Path]]:
    """Each public function that writes a file, called with its output on one of its inputs
    (stand-in files: the check comes before anything is read)."""
    from reelsense import plot_embeddings, trend_report
    from reelsense.rank import apply_fusion_file, rank_files, train_files, train_fusion_file
    from reelsense.sounds._batch import match_sounds

    f = {name: tmp_path / name for name in ("emb.parquet", "events.csv", "users.csv", "w.json", "idx.rsidx")}
    for path in f.values():
        path.write_text(path.name)
    emb, events, users, weights, index = f.values()
    return {
        "trend_report": (lambda: trend_report([events], events), events),
        "trend_report report": (lambda: trend_report([events], tmp_path / "t.csv", report=events), events),
        "rank_files": (lambda: rank_files(emb, events, users, users), users),
        "train_files": (lambda: train_files(emb, events, events), events),
        "train_fusion_file": (lambda: train_fusion_file(emb, events, emb), emb),
        "apply_fusion_file": (lambda: apply_fusion_file(emb, weights, weights), weights),
        "plot_embeddings": (lambda: plot_embeddings(emb, emb), emb),
        "match_sounds": (lambda: match_sounds([events], index, events), events),
        "match_sounds index": (lambda: match_sounds([events], index, index), index),
    }


@pytest.mark.parametrize(
    "writer",
    [
        "trend_report",
        "trend_report report",
        "rank_files",
        "train_files",
        "train_fusion_file",
        "apply_fusion_file",
        "plot_embeddings",
        "match_sounds",
        "match_sounds index",
    ],
)
def test_library_writers_never_overwrite_an_input(tmp_path: Path, writer: str) -> None:
    call, kept = _writers(tmp_path)[writer]
    with pytest.raises(OutputError, match="is the input"):
        call()
    assert kept.read_text() == kept.name


def test_rank_outputs_of_the_wrong_kind_are_refused_before_any_work(tmp_path: Path) -> None:
    """A folder for the feeds' CSV and a file for the model folder failed only after the work
    (IsADirectoryError, FileExistsError); a folder given as a table and None in a list of
    inputs raised from inside pathlib or csv."""
    from reelsense.io import walk_media
    from reelsense.rank import rank_files, read_events, train_files

    emb, events, users = (tmp_path / n for n in ("emb.parquet", "events.csv", "users.csv"))
    for path in (emb, events, users):
        path.write_text("stand-in")
    with pytest.raises(OutputError, match="is a folder: the feeds are written as one CSV file"):
        rank_files(emb, events, users, tmp_path)
    with pytest.raises(OutputError, match="is a file: the model is saved as a folder"):
        train_files(emb, events, users)
    with pytest.raises(ParameterError, match="is not a file: give a CSV or Parquet table"):
        read_events(tmp_path, {})
    with pytest.raises(ParameterError, match="inputs item=None must be a path"):
        walk_media([None])  # type: ignore[list-item]


def test_the_batch_functions_take_only_true_or_false_for_their_flags(tmp_path: Path) -> None:
    """``strict="no"``, ``replace="no"`` (and ``include_hidden="no"`` with tables alone) were
    read as truth values, so as on: each is refused naming the flag, before any work."""
    from reelsense.sounds._batch import add_sounds, match_sounds
    from reelsense.trends import trend_report

    table = tmp_path / "clusters.csv"
    table.write_text("video_id,sound_cluster\nv,c\n")
    index = tmp_path / "i.rsidx"
    calls = {
        "strict": lambda: add_sounds([tmp_path], index, strict="no"),  # type: ignore[arg-type]
        "replace": lambda: add_sounds([tmp_path], index, replace="no"),  # type: ignore[arg-type]
        "strict ": lambda: match_sounds([tmp_path], index, tmp_path / "m.csv", strict="no"),  # type: ignore[arg-type]
        "include_hidden": lambda: trend_report([table], tmp_path / "t.csv", include_hidden="no"),  # type: ignore[arg-type]
    }
    for flag, call in calls.items():
        with pytest.raises(ParameterError, match=rf"{flag.strip()}='no' must be True or False"):
            call()
    assert not index.exists() and not (tmp_path / "m.csv").exists() and not (tmp_path / "t.csv").exists()
