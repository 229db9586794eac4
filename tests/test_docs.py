"""The Python snippets of the README and docs/ against the package: every snippet parses, every
reelsense name it imports exists, and every call it makes to reelsense (a function, a class, or
a method of an object a reelsense call returned) accepts the arguments it is given. The
snippets need media files that a fresh clone does not have, so they are checked, not run."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
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
