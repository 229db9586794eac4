"""One vocabulary for the CLI and the library: option names, exit codes, --strict, -q/-v after
the subcommand, refusals before any model loads, empty input, output checks, row order, the
main-script guard, and the library call writing the same file as the command."""

from __future__ import annotations

import errno
import json
import logging
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from media import write_bytes, write_video
from reelsense.cli import main

COMMANDS = (
    ["embed"],
    ["sounds", "add"],
    ["sounds", "match"],
    ["sounds", "info"],
    ["sounds", "discover"],
    ["sounds", "trends"],
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small videos, named so that walk order and id order differ ("b" sorts after "a",
    the sidecar gives "c.mp4" the id "0-first"), and one broken file."""
    root = tmp_path_factory.mktemp("vocab") / "in"
    root.mkdir()
    write_video(root / "b.mp4", duration_seconds=0.6, audio="noise", seed=1)
    write_video(root / "a.mp4", duration_seconds=0.6, audio="tone", seed=2)
    write_video(root / "c.mp4", duration_seconds=0.6, audio="noise", seed=3)
    (root / "c.info.json").write_text(json.dumps({"id": "0-first", "description": "#x"}), "utf-8")
    return root


@pytest.fixture(scope="module")
def with_broken(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vocab-broken") / "in"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (root / name).write_bytes((videos / name).read_bytes())
    write_bytes(root / "aa-broken.mp4", b"not a video at all\n" * 4)
    return root


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _help(command: list[str]) -> str:
    code, output = _invoke(*command, "--help")
    assert code == 0, output
    return output


def test_an_option_reads_the_same_in_every_command() -> None:
    """An option that several commands take shows the same flags and metavar in each
    (``--events FILE`` in ``rank`` and ``fusion`` alike)."""
    import click

    shown: dict[str, dict[str, str]] = {}

    def walk(command: click.Command, path: str) -> None:
        ctx = click.Context(command, info_name=path)
        if isinstance(command, click.Group):  # the groups load their commands lazily
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, f"{path} {name}")
        for param in command.params:
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                shown.setdefault(max(param.opts, key=len), {})[path] = record[0]

    walk(main, "reelsense")
    assert len(shown["--sound-index"]) >= 5 and len(shown["--events"]) >= 2
    del shown["--output"]  # a file in most commands, a folder where a folder is written
    differ = {opt: by for opt, by in shown.items() if len(set(by.values())) > 1}
    assert differ == {}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_one_name_per_option(command: list[str]) -> None:
    text = _help(command)
    assert "--sound-index" in text and "--index " not in text
    assert "--threshold" not in text
    assert "-v, --verbose" in text and "-q, --quiet" in text
    if command != ["sounds", "info"]:
        assert "-w, --workers" in text and "at most 8" in text
    if command in (["sounds", "match"], ["sounds", "discover"], ["sounds", "trends"]):
        assert "--min-score" in text
    if command != ["sounds", "info"]:
        assert "--strict" in text
    if "--second-chance" in text:  # its scope, with one name and the same values everywhere
        assert "--second-chance-scope [library|candidates]" in text


def test_help_does_not_import_the_models() -> None:
    code = "import sys; from reelsense.cli import main\n"
    code += "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    code += "print(sorted(m for m in ('torch', 'transformers', 'scipy.signal') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_command_ends_without_the_last_collection(tmp_path: Path) -> None:
    """The command line's process skips the cyclic collections of the interpreter's shutdown
    (``skip_collection_at_exit``); the same script without the command still runs them."""
    code = textwrap.dedent(
        """
        import gc, os, sys

        class Cycle:
            def __init__(self, path):
                self.fd = os.open(path, os.O_WRONLY | os.O_CREAT)
                self.write = os.write
                self.me = self

            def __del__(self):
                self.write(self.fd, b"collected")

        gc.disable()
        Cycle(sys.argv[1])
        if sys.argv[2] == "command":
            from reelsense.cli import main

            main(["sounds", "--help"])
        """
    )
    for how in ("plain", "command"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / how), how],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "plain").read_bytes() == b"collected"
    assert (tmp_path / "command").read_bytes() == b""


def test_exit_codes_and_rows_sorted_by_id(videos: Path, with_broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "ok.parquet"
    code, output = _invoke("embed", str(videos), "-o", str(out), "--preset", "none", "-w", "1")
    assert code == 0, output
    assert pq.read_table(out)["video_id"].to_pylist() == ["0-first", "a", "b"]  # sorted, not walk order
    code, output = _invoke(
        "embed", str(with_broken), "-o", str(tmp_path / "some.parquet"), "--preset", "none"
    )
    assert code == 1 and "aa-broken" in output
    code, output = _invoke("embed", str(videos), "-o", str(tmp_path / "x.parquet"), "--no-such-option")
    assert code == 2


def test_strict_stops_at_the_first_failure(with_broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "strict.parquet"
    code, output = _invoke(
        "embed", str(with_broken), "-o", str(out), "--preset", "none", "-w", "1", "--strict"
    )
    assert code == 1 and "aa-broken" in output and "--strict" in output
    assert "Traceback" not in output
    # as docs/cli.md says: the failing file's error row is written first, so a re-run skips it
    args = ("embed", str(with_broken), "-o", str(out), "--preset", "none", "-w", "1", "--strict")
    code, output = _invoke(*args)
    assert code == 0 and "(1 of them errors: --retry-errors recomputes them)" in output, output
    assert {r["video_id"]: r["status"] for r in pq.read_table(out).to_pylist()}["aa-broken"] == "error"


def test_discover_strict_stops_at_the_first_failure(with_broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "clusters.csv"
    code, output = _invoke("sounds", "discover", str(with_broken), "-o", str(out), "-w", "1")
    assert code == 1 and "1 errors" in output, output
    rows = {r.split(",")[0]: r for r in out.read_text("utf-8").splitlines()[1:]}
    assert set(rows) == {"a", "aa-broken", "b"}
    out.unlink()
    code, output = _invoke("sounds", "discover", str(with_broken), "-o", str(out), "-w", "1", "--strict")
    assert code == 1 and "aa-broken" in output and "--strict" in output, output
    assert "Traceback" not in output and not out.exists()


def test_trends_strict_stops_at_the_first_failure(with_broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "trends.csv"
    code, output = _invoke("sounds", "trends", str(with_broken), "-o", str(out), "-w", "1")
    assert code == 1 and out.exists() and "--strict" not in output, output  # 1: a file failed
    out.unlink()
    code, output = _invoke("sounds", "trends", str(with_broken), "-o", str(out), "-w", "1", "--strict")
    assert code == 1 and "aa-broken" in output and "--strict" in output, output
    assert "Traceback" not in output and not out.exists()


def test_ctrl_c_says_what_was_saved_and_exits_130(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("reelsense.featurize.embed_corpus", interrupted)
    out = tmp_path / "o.parquet"
    code, output = _invoke("embed", str(videos), "-o", str(out), "--preset", "none")
    assert code == 130
    assert "interrupted" in output and "run the same command again to resume" in output
    assert "Traceback" not in output


def test_sigterm_stops_like_ctrl_c(videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import signal
    import time

    def terminated(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the command's handler interrupts this at once
        raise AssertionError("SIGTERM did not stop the command")

    def ours(signum: int, frame: object) -> None:  # what SIGTERM does outside the command
        pass

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        monkeypatch.setattr("reelsense.featurize.embed_corpus", terminated)
        code, output = _invoke("embed", str(videos), "-o", str(tmp_path / "o.parquet"), "--preset", "none")
        assert signal.getsignal(signal.SIGTERM) is ours  # given back after the command
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 130, output
    assert "interrupted" in output and "run the same command again to resume" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbosity_before_and_after_the_subcommand(videos: Path, where: str, root_logging: None) -> None:
    args = ["sounds", "info", "--sound-index", str(videos / "missing.rsidx")]
    for flag, level in (("-q", logging.ERROR), ("-v", logging.INFO), ("-vv", logging.DEBUG)):
        CliRunner().invoke(main, [flag, *args] if where == "before" else [*args, flag])
        assert logging.getLogger().level == level, flag


@pytest.mark.parametrize("group", ["sounds", "rank", "fusion"])
def test_verbosity_after_a_command_group(videos: Path, group: str, root_logging: None) -> None:
    missing = str(videos / "missing.parquet")
    command = {
        "sounds": ["info", "--sound-index", str(videos / "missing.rsidx")],
        "rank": ["train", missing, "--events", missing, "-o", missing],
        "fusion": ["train", missing, "--events", missing, "-o", missing],
    }[group]
    for flag, level in (("-q", logging.ERROR), ("-v", logging.INFO), ("-vv", logging.DEBUG)):
        result = CliRunner().invoke(main, [group, flag, *command])
        assert "No such option" not in result.output, result.output
        assert logging.getLogger().level == level, (group, flag)


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["EMB"], "rank feed"),
        (["-v", "EMB"], "rank feed"),
        (["-vq", "EMB"], "rank feed"),
        (["train", "EMB"], "rank train"),
        (["-v", "train", "EMB"], "rank train"),
    ],
)
def test_rank_runs_feed_unless_a_subcommand_follows_its_flags(
    videos: Path, args: list[str], command: str, root_logging: None
) -> None:
    missing = str(videos / "missing.parquet")
    args = [missing if arg == "EMB" else arg for arg in args]
    result = CliRunner().invoke(main, ["rank", *args, "--events", missing, "-o", missing])
    assert result.exit_code == 2
    assert f"{command} [OPTIONS]" in result.output, result.output


def test_rank_help_is_the_group_help(root_logging: None) -> None:
    assert "Commands:" in _help(["rank"])
    assert "Commands:" in _invoke("rank", "-v", "-h")[1]


@pytest.mark.parametrize(
    "command", [["sounds", "match"], ["sounds", "discover"], ["sounds", "trends"], ["embed"]]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_min_score_must_be_a_score(videos: Path, tmp_path: Path, command: list[str], value: str) -> None:
    output_name = "o.parquet" if command == ["embed"] else "o.csv"
    code, output = _invoke(  # --min-score first: click checks the options in the order given
        *command, str(videos), "--min-score", value, "--sound-index", str(tmp_path / "i.rsidx"),
        "-o", str(tmp_path / output_name),
    )  # fmt: skip
    said = "is below 0" if value == "-1" else "is not a finite number"
    assert code == 2 and f"{value!r} {said}" in output, output


def test_quiet_prints_errors_only(
    videos: Path, with_broken: Path, tmp_path: Path, root_logging: None
) -> None:
    runner = CliRunner()
    ok = runner.invoke(
        main, ["embed", str(videos), "-o", str(tmp_path / "ok.parquet"), "--preset", "none", "-w", "1", "-q"]
    )
    assert ok.exit_code == 0 and ok.stdout == "" and ok.stderr == "", ok.output
    broken = runner.invoke(
        main,
        ["-q", "embed", str(with_broken), "-o", str(tmp_path / "b.parquet"), "--preset", "none", "-w", "1"],
    )
    assert broken.exit_code == 1 and broken.stdout == "", broken.output
    assert "aa-broken" in broken.stderr
    found = runner.invoke(
        main, ["sounds", "discover", str(with_broken), "-o", str(tmp_path / "c.csv"), "-w", "1", "-q"]
    )
    assert found.exit_code == 1 and found.stdout == "", found.output
    assert "1 files could not be read" in found.stderr
    loud = runner.invoke(
        main, ["embed", str(videos), "-o", str(tmp_path / "loud.parquet"), "--preset", "none", "-w", "1"]
    )
    assert loud.exit_code == 0 and "3 videos found" in loud.stdout


def test_refused_resume_names_the_option_before_any_model_loads(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o.parquet"
    code, output = _invoke("embed", str(videos), "-o", str(out), "--preset", "tiny", "-w", "1")
    assert code == 0, output

    def no_models(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the refusal")

    monkeypatch.setattr("reelsense.featurize._featurizer.VideoFeaturizer.__init__", no_models)
    code, output = _invoke("embed", str(videos), "-o", str(out), "--preset", "tiny")
    assert code == 0 and "3 already in the output" in output  # nothing to do: no model loaded
    code, output = _invoke(
        "embed", str(videos), "-o", str(out), "--preset", "tiny", "--sound-index", str(videos)
    )
    assert code == 1 and "--sound-index was not used before" in output and "\n" not in output.strip()
    code, output = _invoke("embed", str(videos), "-o", str(out), "--preset", "tiny", "--frames", "uniform")
    # the default, not given, is named by its value (61aaf29: it read "None before")
    assert code == 1 and "--frames was 'keyframes' before (now 'uniform')" in output


def test_lock_refusal_comes_before_any_model_loads(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelsense.pipeline import OutputWriter, build_schema

    def no_models(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the refusal")

    monkeypatch.setattr("reelsense.featurize._featurizer.VideoFeaturizer.__init__", no_models)
    out = tmp_path / "locked.parquet"
    with OutputWriter(out, build_schema([], config={}, run={})) as other:
        other.open()
        code, output = _invoke("embed", str(videos), "-o", str(out), "--preset", "tiny")
    assert code == 1 and "being written by another process" in output


def test_no_media_is_a_warning_and_exit_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no videos here", "utf-8")
    out = tmp_path / "o.parquet"
    for args in (
        ["embed", str(empty), "-o", str(out), "--preset", "none"],
        ["sounds", "add", str(empty), "--sound-index", str(tmp_path / "i.rsidx")],
        [
            "sounds",
            "match",
            str(empty),
            "--sound-index",
            str(empty / "readme.txt"),
            "-o",
            str(tmp_path / "m.csv"),
        ],
    ):
        code, output = _invoke(*args)
        assert code == 1 and "warning: no media files found" in output, args
    assert not out.exists() and not (tmp_path / "m.csv").exists()


def test_output_formats_are_checked(videos: Path, tmp_path: Path) -> None:
    code, output = _invoke("embed", str(videos), "-o", str(tmp_path / "x.csv"), "--preset", "none")
    assert code == 2 and ".parquet" in output
    code, output = _invoke(
        "sounds", "match", str(videos), "--sound-index", str(videos), "-o", str(tmp_path / "x.parquet")
    )
    assert code == 2 and ".csv" in output
    assert not any(tmp_path.iterdir())


def _tables(tmp_path: Path) -> dict[str, Path]:
    """Files that stand in for the inputs of `rank` and `fusion` (outputs are checked before
    any input is read)."""
    files = {
        "embeddings": tmp_path / "emb.parquet",
        "events": tmp_path / "events.csv",
        "users": tmp_path / "users.csv",
        "weights": tmp_path / "fusion.json",
    }
    for name, path in files.items():
        path.write_text(f"{name}\n")
    return files


def test_rank_and_fusion_refuse_to_overwrite_an_input(tmp_path: Path) -> None:
    """An output that is one of the command's input files is a usage error, and the file is
    kept, as in the `sounds` commands."""
    t = _tables(tmp_path)
    feed = ["rank", str(t["embeddings"]), "--events", str(t["events"]), "--users", str(t["users"])]
    for target in ("events", "users"):
        code, output = _invoke(*feed, "-o", str(t[target]))
        assert code == 2 and "is an input: it would be overwritten" in output, output
    code, output = _invoke(
        "fusion", "apply", str(t["embeddings"]), "--weights", str(t["weights"]), "-o", str(t["embeddings"])
    )
    assert code == 2 and "is an input: it would be overwritten" in output, output
    assert all(path.read_text() == f"{name}\n" for name, path in t.items())


def test_every_writing_command_refuses_a_folder_it_cannot_write(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder where no file can be written is refused at once (exit 1, naming the option),
    before any input is read or any model loads."""
    t = _tables(tmp_path)
    out = tmp_path / "out"

    def read_only(*args: object, **kwargs: object) -> None:  # (root writes in a read-only folder)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    emb, events, users = str(t["embeddings"]), str(t["events"]), str(t["users"])
    commands = [
        ["embed", str(videos), "-o", str(out / "x.parquet"), "--preset", "none"],
        ["plot", emb, "-o", str(out / "map.png")],
        ["rank", emb, "--events", events, "--users", users, "-o", str(out / "recs.csv")],
        ["rank", "train", emb, "--events", events, "-o", str(out / "model")],
        ["fusion", "train", emb, "--events", events, "-o", str(out / "w.json")],
        ["fusion", "apply", emb, "--weights", str(t["weights"]), "-o", str(out / "l.parquet")],
    ]
    for command in commands:
        code, output = _invoke(*command)
        assert code == 1 and "cannot write" in output and "(-o/--output): Read-only" in output, (
            command,
            output,
        )


@pytest.mark.parametrize("command", [["sounds", "add", "IN"], ["sounds", "info"]], ids=["add", "info"])
def test_a_folder_is_refused_where_only_an_index_file_goes(
    videos: Path, tmp_path: Path, command: list[str]
) -> None:
    """`sounds add` and `sounds info` take an index file (the other commands also take a folder
    of reference sounds): a folder is a usage error in both."""
    args = [str(videos) if a == "IN" else a for a in command]
    code, output = _invoke(*args, "--sound-index", str(videos))
    assert code == 2 and "is a folder: give an index file" in output, output
    assert f"such as {str(videos / 'sounds.rsidx')!r}" in " ".join(output.split()), output
    (tmp_path / "b.rsidx").write_bytes(b"")  # a folder of indexes: they are named
    (tmp_path / "a.rsidx").write_bytes(b"")
    code, output = _invoke(*args, "--sound-index", str(tmp_path))
    named = f"it holds {str(tmp_path / 'a.rsidx')!r}, {str(tmp_path / 'b.rsidx')!r})"
    assert code == 2 and named in " ".join(output.split()), output


def test_an_index_path_ending_with_a_separator_is_refused(videos: Path, tmp_path: Path) -> None:
    """`sounds add --sound-index new/` made an index FILE named `new` (pathlib drops the slash),
    which `--sound-index new/` then never found again: a path written as a folder is refused
    where only an index file goes, and nothing is created."""
    index = tmp_path / "new"
    code, output = _invoke("sounds", "add", str(videos), "--sound-index", f"{index}/")
    assert code == 2 and "ends with '/', so it names a folder" in output, output
    assert not index.exists() and not list(tmp_path.iterdir())
    code, output = _invoke("sounds", "info", "--sound-index", f"{index}/")
    assert code == 2 and "ends with '/'" in output, output


def test_min_score_given_without_a_sound_index_is_refused(videos: Path, tmp_path: Path) -> None:
    """`embed --min-score` sets the sound match's lowest score: a usage error without
    --sound-index, also when the value given is the default; refused before the output's
    folder is made."""
    for value in ("2.0", "5"):
        out = tmp_path / "new" / "x.parquet"
        code, output = _invoke("embed", str(videos), "-o", str(out), "--min-score", value)
        assert code == 2 and "--min-score needs --sound-index" in output, output
    assert not any(tmp_path.iterdir())


def test_library_call_writes_what_the_command_writes(videos: Path, tmp_path: Path) -> None:
    """The documented library call (defaults) and the command (defaults) give the same file."""
    from reelsense import FeaturizerConfig, RunConfig, embed_corpus

    cli_out, lib_out = tmp_path / "cli.parquet", tmp_path / "lib.parquet"
    code, output = _invoke("embed", str(videos), "-o", str(cli_out), "--preset", "tiny", "-w", "1")
    assert code == 0, output
    embed_corpus([videos], lib_out, FeaturizerConfig(preset="tiny"), RunConfig(workers=1))
    a, b = pq.read_table(cli_out), pq.read_table(lib_out)
    assert a.schema.remove_metadata().equals(b.schema.remove_metadata())
    for key in (b"reelsense.config", b"reelsense.featurizer", b"reelsense.fusion"):
        assert a.schema.metadata[key] == b.schema.metadata[key], key
    assert a["video_id"].to_pylist() == b["video_id"].to_pylist()
    np.testing.assert_allclose(
        np.asarray(a["embedding"].to_pylist()), np.asarray(b["embedding"].to_pylist()), atol=1e-6
    )


def test_a_script_without_the_main_guard_fails_at_once(videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import reelsense
            reelsense.embed_corpus([{str(videos)!r}], {str(out)!r}, reelsense.FeaturizerConfig(preset="none"),
                                   reelsense.RunConfig(workers=2))
            """
        ),
        "utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr and "line 3" in done.stderr
    assert not out.exists()
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        textwrap.dedent(
            f"""
            import reelsense

            if __name__ == "__main__":
                config, run = reelsense.FeaturizerConfig(preset="none"), reelsense.RunConfig(workers=2)
                reelsense.embed_corpus([{str(videos)!r}], {str(out)!r}, config, run)
            """
        ),
        "utf-8",
    )
    done = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert pq.read_table(out).num_rows == 3


def test_plot_creates_the_output_folder(videos: Path, tmp_path: Path) -> None:
    emb = tmp_path / "e.parquet"
    code, output = _invoke("embed", str(videos), "-o", str(emb), "--preset", "tiny", "-w", "1")
    assert code == 0, output
    png = tmp_path / "deep" / "er" / "map.png"
    code, output = _invoke("plot", str(emb), "-o", str(png), "--method", "pca")
    assert code == 0, output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_commands_run_in_one_process_share_one_log_handler(tmp_path: Path) -> None:
    """Each command run in one process (click's test runner, a notebook calling ``main``) added
    a handler to the root logger, so a later warning was printed once per earlier command; the
    one handler writes to the stderr of the command now running."""
    import logging

    table = tmp_path / "m.csv"
    table.write_text("video_id,sound_id\na,s1\n")  # undated: trends warns
    before = list(logging.getLogger().handlers)
    try:
        for k in range(3):
            code, output = _invoke("sounds", "trends", str(table), "-o", str(tmp_path / f"t{k}.csv"))
            assert code == 0 and output.count("has an upload time") == 1, output
        assert len(set(logging.getLogger().handlers) - set(before)) <= 1
    finally:
        for handler in set(logging.getLogger().handlers) - set(before):
            logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize(
    ("command", "value"),
    [
        (["embed", "IN", "-o", "OUT.parquet", "--limit-duration"], "nan"),
        (["embed", "IN", "-o", "OUT.parquet", "--limit-duration"], "inf"),
        (["embed", "IN", "-o", "OUT.parquet", "--flush-seconds"], "nan"),
        (["embed", "IN", "-o", "OUT.parquet", "--flush-seconds"], "inf"),
        (["embed", "IN", "-o", "OUT.parquet", "--video-timeout"], "nan"),
        (["embed", "IN", "-o", "OUT.parquet", "--engine", "ray", "--gpus-per-actor"], "nan"),
        (["sounds", "trends", "IN", "-o", "OUT.csv", "--window-days"], "nan"),
        (["sounds", "trends", "IN", "-o", "OUT.csv", "--window-days"], "inf"),
    ],
)
def test_a_float_option_refuses_nan_naming_the_option(
    videos: Path, tmp_path: Path, command: list[str], value: str
) -> None:
    """click's FloatRange lets ``nan`` through (its comparisons are all false), and the
    library then named its own field (``ray_gpus_per_actor=nan``): the option is named now,
    as a usage error, before anything starts or is written."""
    args = [
        str(videos) if a == "IN" else str(tmp_path / a[3:]) if a.startswith("OUT") else a for a in command
    ]
    code, output = _invoke(*args, value)
    flat = " ".join(output.split())
    assert code == 2 and f"Invalid value for '{command[-1]}': {value!r} is not a finite number" in flat, (
        output
    )
    assert list(tmp_path.iterdir()) == []
