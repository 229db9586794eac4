"""The input-listing options (``--include-hidden``, ``--ext``) have one name and meaning in every
command that walks folders of media: ``embed``, ``sounds add``, ``sounds match``, ``sounds
discover`` and ``sounds trends``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from media import write_audio
from music import make_notes, render
from reelsense.cli import main

SR = 22050
#: commands that walk folders of media, as ``reelsense`` sub-command paths
WALKING = (("embed",), ("sounds", "add"), ("sounds", "match"), ("sounds", "discover"), ("sounds", "trends"))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    ctx = click.Context(main)
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(ctx, name)
        assert found is not None, name
        command = found
    return command


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option) and p.name}


@pytest.mark.parametrize("path", WALKING[1:], ids=" ".join)
def test_the_listing_options_are_those_of_embed(path: tuple[str, ...]) -> None:
    """Same name, help text and default as on ``embed``."""
    embed, other = _options(_command(("embed",))), _options(_command(path))
    for name in ("include_hidden", "extensions"):
        assert name in other, f"reelsense {' '.join(path)} has no {embed[name].opts}"
        mine, theirs = other[name], embed[name]
        assert (mine.opts, mine.help, mine.default, mine.multiple, mine.is_flag) == (
            theirs.opts,
            theirs.help,
            theirs.default,
            theirs.multiple,
            theirs.is_flag,
        )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``clip.wav``, ``other.flac``, the dot-file ``.dot.wav`` and ``.cache/deep.wav``."""
    root = tmp_path_factory.mktemp("media") / "in"
    (root / ".cache").mkdir(parents=True)
    for i, name in enumerate(("clip.wav", "other.flac", ".dot.wav", ".cache/deep.wav")):
        write_audio(root / name, render(make_notes(60 + i, 3.0), 3.0, SR), sample_rate=SR)
    return root


def _index(tmp_path: Path) -> Path:
    from reelsense.sounds import SoundIndex

    index = tmp_path / "idx.rsidx"
    with SoundIndex.create(index) as ix:
        ix.add_array("song", render(make_notes(7, 8.0), 8.0, SR), SR)
    return index


def _csv_ids(path: Path) -> set[str]:
    with path.open(newline="") as f:
        return {row["video_id"] for row in csv.DictReader(f)}


def _add(folder: Path, tmp_path: Path, extra: list[str]) -> set[str]:
    from reelsense.sounds import SoundIndex

    index = tmp_path / "add.rsidx"
    args = ["sounds", "add", str(folder), "--sound-index", str(index), "-w", "1", "--no-progress", *extra]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    with SoundIndex.open(index, readonly=True) as ix:
        return set(ix.ids())


def _match(folder: Path, tmp_path: Path, extra: list[str]) -> set[str]:
    out = tmp_path / "m.csv"
    args = ["sounds", "match", str(folder), "--sound-index", str(_index(tmp_path)), "-o", str(out)]
    r = CliRunner().invoke(main, [*args, "-w", "1", "--no-progress", *extra])
    assert r.exit_code == 0, r.output
    return _csv_ids(out)


def _discover(folder: Path, tmp_path: Path, extra: list[str]) -> set[str]:
    out = tmp_path / "c.csv"
    args = ["sounds", "discover", str(folder), "-o", str(out), "-w", "1", "--no-progress", *extra]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return _csv_ids(out)


def _trends(folder: Path, tmp_path: Path, extra: list[str]) -> set[str]:
    out, clusters = tmp_path / "t.csv", tmp_path / "c.csv"
    args = ["sounds", "trends", str(folder), "-o", str(out), "--clusters", str(clusters), "-w", "1"]
    r = CliRunner().invoke(main, [*args, "--no-progress", *extra])
    assert r.exit_code == 0, r.output
    return _csv_ids(clusters)


RUNS: dict[str, Callable[[Path, Path, list[str]], set[str]]] = {
    "sounds add": _add,
    "sounds match": _match,
    "sounds discover": _discover,
    "sounds trends": _trends,
}


@pytest.mark.parametrize("command", list(RUNS))
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], {"clip", "other"}),
        (["--include-hidden"], {"clip", "other", ".dot", ".cache/deep"}),
        (["--ext", "flac"], {"other"}),
        (["--ext", "WAV,flac", "--include-hidden"], {"clip", "other", ".dot", ".cache/deep"}),
    ],
    ids=["default", "include-hidden", "ext", "both"],
)
def test_dot_files_are_skipped_unless_include_hidden(
    folder: Path, tmp_path: Path, command: str, extra: list[str], expected: set[str]
) -> None:
    assert RUNS[command](folder, tmp_path, extra) == expected


def test_a_bad_extension_is_refused_naming_it(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    args = ["sounds", "match", str(folder), "--sound-index", str(_index(tmp_path)), "-o", str(out)]
    r = CliRunner().invoke(main, [*args, "--ext", ".", "--no-progress"])
    assert r.exit_code != 0 and "extension '.' is empty" in r.output and not out.exists()
