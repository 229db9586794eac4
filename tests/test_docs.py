"""The Python snippets of the README and docs/ against the package: every snippet parses, every
reelsense name it imports exists, and every call it makes to reelsense (a function, a class, or
a method of an object a reelsense call returned) accepts the arguments it is given. The
snippets need media files that a fresh clone does not have, so they are checked, not run.
The ``reelsense ...`` command lines of the docs parse with the command's own parser (paths
made to exist), and docs/cli.md names every option of every command with its default."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shlex
import typing
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "scripts" / "README.md"]
_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _snippets() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for n, block in enumerate(_BLOCK.findall(page.read_text("utf-8"))):
            found.append((f"{page.relative_to(ROOT)}#{n + 1}", block))
    return found


SNIPPETS = _snippets()


#: what a snippet's name stands for: ("module", m), ("callable", f), ("class", c),
#: ("method", f, c) (a function of class c called on an instance), ("instance", c),
#: ("items", c) (something whose elements are instances of c)
Value = tuple[Any, ...]


class _Checker(ast.NodeVisitor):
    """Follows the names a snippet binds to reelsense objects (imports, the results of calls
    with a return annotation, ``with ... as``, ``for ... in``) and checks each call on them."""

    def __init__(self) -> None:
        self.known: dict[str, Value] = {}
        self.problems: dict[str, None] = {}  # in order, once each (a node can be resolved twice)

    def report(self, problem: str) -> None:
        self.problems[problem] = None

    # ---- what a name or expression stands for
    def resolve(self, node: ast.expr) -> Value | None:
        if isinstance(node, ast.Name):
            return self.known.get(node.id)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        return None

    def attribute(self, node: ast.Attribute) -> Value | None:
        owner = self.resolve(node.value)
        if owner is None or owner[0] not in ("module", "class", "instance"):
            return None
        obj, attr = owner[1], node.attr
        if owner[0] == "instance":
            hints = _hints(obj)
            if attr in hints:  # a field or an annotated attribute
                return _value_of_hint(hints[attr], obj)
            member = inspect.getattr_static(obj, attr, None)
            if isinstance(member, property):
                return _value_of_hint(_hints(member.fget).get("return"), obj)
            if inspect.isfunction(member):
                return ("method", member, obj)
            if member is None and not hasattr(obj, attr):
                self.report(f"line {node.lineno}: {obj.__qualname__} objects have no {attr!r}")
            return None
        if not hasattr(obj, attr):
            self.report(f"line {node.lineno}: {_name(obj)} has no attribute {attr!r}")
            return None
        return _value_of(getattr(obj, attr))

    def call(self, node: ast.Call) -> Value | None:
        target = self.resolve(node.func)
        if target is None or target[0] not in ("callable", "class", "method"):
            return None
        fn = target[1]
        if not any(isinstance(a, ast.Starred) for a in node.args) and all(k.arg for k in node.keywords):
            try:
                signature = inspect.signature(fn)
            except (TypeError, ValueError):
                signature = None
            if signature is not None:
                args = list(range(len(node.args)))
                if target[0] == "method":
                    args = [None, *args]  # self
                try:
                    signature.bind(*args, **{k.arg: None for k in node.keywords if k.arg})
                except TypeError as exc:
                    self.report(f"line {node.lineno}: {_name(fn)}(...): {exc}")
        if target[0] == "class":
            return ("instance", fn)
        owner = target[2] if target[0] == "method" else getattr(fn, "__self__", None)
        return _value_of_hint(_hints(fn).get("return"), owner)

    def bind(self, target: ast.expr, value: Value | None) -> None:
        if isinstance(target, ast.Name):
            if value is None:
                self.known.pop(target.id, None)
            else:
                self.known[target.id] = value

    # ---- statements that bind names
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == "reelsense":
                name = alias.asname or "reelsense"
                self.known[name] = (
                    "module",
                    importlib.import_module(alias.name if alias.asname else "reelsense"),
                )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not (node.module or "").startswith("reelsense"):
            return
        module = importlib.import_module(node.module or "")
        for alias in node.names:
            if not hasattr(module, alias.name):
                self.report(f"line {node.lineno}: {node.module} has no {alias.name!r}")
            else:
                value = _value_of(getattr(module, alias.name))
                if value is not None:
                    self.known[alias.asname or alias.name] = value

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.bind(target, self.resolve(node.value))

    def visit_Call(self, node: ast.Call) -> None:
        self.resolve(node)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            self.visit(arg)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.resolve(node)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            value = self.resolve(item.context_expr)
            if item.optional_vars is not None:
                self.bind(item.optional_vars, value)
        for statement in node.body:
            self.visit(statement)

    def visit_For(self, node: ast.For) -> None:
        value = self.resolve(node.iter)
        self.bind(node.target, ("instance", value[1]) if value and value[0] == "items" else None)
        for statement in [*node.body, *node.orelse]:
            self.visit(statement)


def _name(obj: Any) -> str:
    return str(getattr(obj, "__qualname__", getattr(obj, "__name__", obj)))


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # an annotation that does not resolve at run time: not followed
        return {}


def _ours(obj: Any) -> bool:
    return inspect.isclass(obj) and obj.__module__.startswith("reelsense")


def _value_of(obj: Any) -> Value | None:
    if inspect.ismodule(obj):
        return ("module", obj)
    if inspect.isclass(obj):
        return ("class", obj)
    if callable(obj):
        return ("callable", obj)
    return None


def _value_of_hint(hint: Any, owner: Any) -> Value | None:
    """What a value annotated ``hint`` is: an instance of one of our classes, or a container of them."""
    if hint is None:
        return None
    if getattr(typing, "Self", None) is not None and hint is typing.Self:
        return ("instance", owner) if inspect.isclass(owner) else None
    if _ours(hint):
        return ("instance", hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1 and _ours(args[0]):  # X | None is an X where a snippet uses it
        return ("instance", args[0]) if type(None) in typing.get_args(hint) else ("items", args[0])
    return None


@pytest.mark.parametrize(("where", "code"), SNIPPETS, ids=[w for w, _ in SNIPPETS])
def test_snippet_matches_the_package(where: str, code: str) -> None:
    tree = ast.parse(code, filename=where)
    checker = _Checker()
    checker.visit(tree)
    assert not checker.problems, f"{where}: " + "; ".join(checker.problems)


def test_the_checker_catches_a_wrong_keyword_and_a_missing_name() -> None:
    code = (
        "import reelsense as rs\n"
        "rs.discover_sounds([], index_file='x')\n"
        "with rs.SoundIndex.create('x') as index:\n"
        "    for m in index.match_file('c.mp4', min_score=2.0):\n"
        "        print(m.no_such_field)\n"
        "from reelsense.io import no_such_name\n"
    )
    checker = _Checker()
    checker.visit(ast.parse(code))
    text = "; ".join(checker.problems)
    assert "index_file" in text and "min_score" in text and "no_such_field" in text and "no_such_name" in text


# ---------------------------------------------------------------------- command lines

_SHELL_BLOCK = re.compile(r"```(?:bash|sh|console|)\n(.*?)```", re.S)
_INLINE = re.compile(r"`(reelsense [^`]+)`")


def _command_lines() -> list[tuple[str, str]]:
    """``reelsense ...`` lines of the shell blocks and inline code of the README and docs/."""
    found = []
    for page in PAGES:
        text = page.read_text("utf-8")
        where = str(page.relative_to(ROOT))
        for block in _SHELL_BLOCK.findall(text):
            for line in block.splitlines():
                line = line.split(" #")[0].strip()
                if line.startswith("reelsense "):
                    found.append((where, line))
        found += [(where, span) for span in _INLINE.findall(text)]
    return found


def _unknown_options(line: str) -> list[str]:
    """The ``--options`` of a documented command line that its command does not take. A
    ``sounds discover|trends`` line is checked against both commands."""
    import click

    from reelsense.cli import main

    words = line.split()[1:]
    at = 0
    while at < len(words) and re.fullmatch(r"[a-z|]+", words[at]):
        at += 1
    paths: list[list[str]] = [[]]
    for word in words[:at]:
        paths = [[*p, alt] for p in paths for alt in word.split("|")]
    unknown = []
    for path in paths:
        command: click.Command = main
        ctx = click.Context(main)
        for name in path:
            sub = command.get_command(ctx, name) if isinstance(command, click.Group) else None
            if sub is None:
                break
            command = sub
        default = getattr(command, "default_command", None)
        if isinstance(command, click.Group) and default:  # `reelsense rank EMBEDDINGS ...` runs feed
            command = command.get_command(ctx, default) or command
        names = {o for c in (main, command) for p in c.params for o in (*p.opts, *p.secondary_opts)}
        names |= {"--help"}
        for word in words[at:]:
            option = word.split("=")[0].split("|")[0].rstrip(".,;:)")
            if option.startswith("--") and len(option) > 2 and option not in names:
                unknown.append(f"{' '.join(path)} {option}")
    return unknown


COMMAND_LINES = _command_lines()


def test_documented_command_lines_use_real_options() -> None:
    assert len(COMMAND_LINES) > 50  # the docs do show commands: the check is not empty
    problems = [
        f"{where}: {line!r}: {bad}" for where, line in COMMAND_LINES for bad in _unknown_options(line)
    ]
    assert not problems, "\n".join(problems)


def test_the_command_check_catches_a_wrong_option() -> None:
    assert _unknown_options("reelsense sounds match v/ --sound-index s.rsidx --threshold 2") == [
        "sounds match --threshold"
    ]
    assert _unknown_options("reelsense sounds discover|trends v/ --min-score 3 --no-such") == [
        "sounds discover --no-such",
        "sounds trends --no-such",
    ]
    assert _unknown_options("reelsense rank e.parquet --events e.csv --users u.csv -o r.csv") == []


def _whole_command_lines() -> list[tuple[str, str]]:
    """The ``reelsense ...`` lines of the shell blocks and of docs/cli.md's synopses,
    continuation lines joined, optional parts (``[--users USERS]``) taken, ``INPUT...`` as one
    input and ``[options]`` as none; lines that elide arguments (``...``) are left out."""
    found = []
    for page in PAGES:
        where = str(page.relative_to(ROOT))
        for block in _SHELL_BLOCK.findall(page.read_text("utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].replace("[options]", "").replace("INPUT...", "INPUT").strip()
                if line.startswith("reelsense ") and "..." not in line:
                    found.append((where, line.replace("[", "").replace("]", "")))
    return found


def _parse(words: list[str]) -> None:
    """Parse ``reelsense WORDS`` as the command would, down to the subcommand's own options
    and arguments (types, choices, ranges, required ones, paths that must exist), without
    running it."""
    import logging

    import click

    from reelsense.cli import main

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # -v/-q's callbacks configure logging
    try:
        command: click.Command = main
        ctx = main.make_context("reelsense", list(words))
        while isinstance(command, click.Group):
            args = [*ctx._protected_args, *ctx.args]
            name, sub, args = command.resolve_command(ctx, args)
            assert name is not None and sub is not None
            ctx = sub.make_context(name, args, parent=ctx)
            command = sub
    finally:
        root.handlers, root.level = handlers, level


WHOLE_COMMAND_LINES = _whole_command_lines()


@pytest.mark.parametrize(
    ("where", "line"), WHOLE_COMMAND_LINES, ids=[line for _, line in WHOLE_COMMAND_LINES]
)
def test_documented_command_line_parses(
    where: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every word of the line that is not an option is made to exist, as a file when it has
    an extension or is a synopsis's placeholder (``EVENTS``) and as a folder otherwise
    (``videos/``, ``model_10k``, ``MODEL_DIR``, and harmlessly ``auto``),
    so that the paths the line names pass and only its options and arguments are checked."""
    import click

    words = shlex.split(line)[1:]
    if any(word.startswith("/") for word in words):
        pytest.skip("an absolute path (a cluster's /mnt)")
    cwd = tmp_path / "a" / "b"  # room for ../shared/...
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    for word in words:
        if not word.startswith("-"):
            path = cwd / word
            if re.search(r"\.[A-Za-z][A-Za-z0-9]*$", word) or re.fullmatch(r"[A-Z]+", word):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            else:
                path.mkdir(parents=True, exist_ok=True)
    try:
        _parse(words)
    except click.UsageError as exc:
        pytest.fail(f"{where}: {line!r}: {exc.format_message()}")


def test_the_parse_catches_a_bad_value_and_a_missing_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import click

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.parquet").touch()
    with pytest.raises(click.BadParameter, match="colour"):
        _parse(["plot", "out.parquet", "-o", "map.png", "--color-by", "colour"])
    with pytest.raises(click.MissingParameter, match="events"):
        _parse(["rank", "out.parquet", "--users", "out.parquet", "-o", "recs.csv"])
    _parse(["rank", "train", "out.parquet", "--events", "out.parquet", "-o", "model/"])


# ---------------------------------------------------------------------- docs/cli.md covers every option


def _leaf_commands() -> list[tuple[str, Any]]:
    """``(path, command)`` of every command that runs (not a group), ``sounds match`` style."""
    import click

    from reelsense.cli import main

    found: list[tuple[str, Any]] = []

    def walk(path: str, command: click.Command) -> None:
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(f"{path} {name}".strip(), sub)
        else:
            found.append((path, command))

    walk("", main)
    return found


def _cli_md_section(path: str) -> str:
    """The text of docs/cli.md's section on ``reelsense <path>`` (a group's commands share
    their group's section: ``rank feed`` and ``rank train`` are under ``reelsense rank``)."""
    text = (ROOT / "docs" / "cli.md").read_text("utf-8")
    heading = re.compile(r"^## `reelsense ([a-z ]+)`\n(.*?)(?=^## |\Z)", re.S | re.M)
    sections: dict[str, str] = dict(heading.findall(text))
    words = path.split()
    while words and " ".join(words) not in sections:
        words.pop()
    assert words, f"docs/cli.md has no section for `reelsense {path}`"
    return sections[" ".join(words)]


def _documented_default(value: Any) -> str:
    """How docs/cli.md writes a default: 30.0 as 30, True as on, False as off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _undocumented_options(path: str, command: Any, section: str) -> list[str]:
    """The options of ``command`` that its docs/cli.md section does not name, or names in a
    table row whose default column does not show the option's default."""
    import click

    problems = []
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden or param.name in ("verbose", "quiet"):
            continue
        names = [re.escape(o) for o in (*param.opts, *param.secondary_opts)]
        named = re.compile(rf"`(?:{'|'.join(names)})[` ,]")
        name = max(param.opts, key=len)  # --output rather than -o
        if not named.search(section):
            problems.append(f"{path} {name}: not in docs/cli.md")
            continue
        row = next((r for r in rows if named.search(r.split("|")[1])), None)
        if row is None or row.count("|") < 4:  # no table row of its own, or no default column
            continue
        cell = row.split("|")[2]
        default = param.default
        if param.is_flag and not param.secondary_opts and not isinstance(default, bool):
            default = False  # click's "unset" of a flag
        if "as in" in cell:  # "as in `sounds discover`"
            continue
        if param.required:
            expected = "required"
        elif isinstance(default, (bool, int, float, str)):
            expected = _documented_default(default)
        else:
            continue  # no default: described in words ("CPUs, at most 8", "on a terminal", "none")
        forms = {expected, str(default)} if isinstance(default, float) else {expected}  # 2 or 2.0
        if not any(re.search(rf"(?<![\w.]){re.escape(f)}(?![\w.])", cell) for f in forms):  # 1 is not 16
            problems.append(f"{path} {name}: default {expected!r}, docs/cli.md says {cell.strip()!r}")
    return problems


def test_cli_md_lists_every_option_with_its_default() -> None:
    commands = _leaf_commands()
    assert len(commands) >= 11  # embed, sounds x5, plot, rank x2, fusion x2
    problems = [
        problem
        for path, command in commands
        for problem in _undocumented_options(path, command, _cli_md_section(path))
    ]
    assert not problems, "\n".join(problems)


def test_the_option_check_catches_a_missing_option_and_a_wrong_default() -> None:
    import click

    command = click.Command(
        "x",
        params=[
            click.Option(["--window-days"], default=7.0),
            click.Option(["--join-score"], default="10"),
            click.Option(["--no-such-option"], default=1),
        ],
    )
    section = "| option | default | meaning |\n| `--window-days DAYS` | 7 | w |\n| `--join-score` | 8 | j |\n"
    assert _undocumented_options("x", command, section) == [
        "x --join-score: default '10', docs/cli.md says '8'",
        "x --no-such-option: not in docs/cli.md",
    ]
    one = click.Command("x", params=[click.Option(["--workers"], default=1)])
    assert _undocumented_options("x", one, "| option | default | meaning |\n| `--workers` | 16 | w |\n") == [
        "x --workers: default '1', docs/cli.md says '16'"
    ]


@pytest.mark.parametrize(
    ("where", "code"), [(w, c) for w, c in SNIPPETS if "SoundIndex.create(" in c and "add_many(" in c]
)
def test_sound_index_example_runs_twice_in_the_same_folder(
    where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the README's and docs/sounds.md's examples raised SoundIndexError "sound 'a' is already in
    # sounds.rsidx; pass replace=True to overwrite it" the second time they were run
    import numpy as np

    from media import write_audio, write_video
    from music import make_notes, render
    from reelsense.sounds import SoundIndex

    sr = 22050
    monkeypatch.chdir(tmp_path)
    (tmp_path / "library").mkdir()
    songs = {name: render(make_notes(seed, 8.0), 8.0, sr) for name, seed in (("a", 91), ("b", 92))}
    for name, x in songs.items():
        write_audio(tmp_path / "library" / f"{name}.ogg", np.stack([x, x]), sample_rate=sr)
    clip = songs["a"][2 * sr : 7 * sr]
    write_video(tmp_path / "clip.mp4", duration_seconds=5.0, audio=clip, sample_rate=sr)
    code = code.replace("workers=4", "workers=1")  # the same calls, without starting processes
    for _ in range(2):
        exec(compile(code, where, "exec"), {"__name__": "__main__"})
    if "match_file" in code:  # the clip matched sound a, both times
        assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["a", "a"]
    with SoundIndex.open(tmp_path / "sounds.rsidx", readonly=True) as index:
        assert sorted(index.ids()) == ["a", "b"]
