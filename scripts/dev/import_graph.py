#!/usr/bin/env python3
"""The import graph of reelsense's packages, as a Mermaid drawing, and the layering rules it must keep.

Every ``import reelsense...`` / ``from reelsense... import`` in ``src/reelsense`` (module level
and inside functions alike) is an edge between the two top-level packages (``io``, ``sounds``,
``audio``, ``featurize``, ``pipeline``, ...). Checked:

* no cycle between packages;
* the engine (``pipeline``) imports no model code and nothing that computes features: only
  ``io``, ``errors`` and the private helpers (``_checks``, ``_progress``, ``_signals``, ``_workers``,
  ``_version``);
* the library never imports the CLI.

    python scripts/dev/import_graph.py            # print the Mermaid graph (docs/architecture.md)
    python scripts/dev/import_graph.py --check    # exit 1 and say why when a rule is broken
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "reelsense"
ENGINE_MAY_IMPORT = {"pipeline", "io", "errors", "_checks", "_progress", "_signals", "_workers", "_version"}


def package_of(module: str) -> str:
    """``reelsense.sounds.index._store`` -> ``sounds``; ``reelsense`` -> ``reelsense``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        source = package_of(module)
        if source == "reelsense":  # the top-level __init__ re-exports the public API
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("reelsense.") and package_of(name) != source:
                    graph[source].add(package_of(name))
        graph.setdefault(source, set())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def problems(graph: dict[str, set[str]]) -> list[str]:
    out = [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    bad = sorted(graph.get("pipeline", set()) - ENGINE_MAY_IMPORT)
    if bad:
        out.append(f"the engine (pipeline) imports {', '.join(bad)}")
    out += [
        f"{pkg} imports the CLI"
        for pkg, targets in sorted(graph.items())
        if "cli" in targets and pkg not in ("cli", "__main__")
    ]
    return out


def mermaid(graph: dict[str, set[str]]) -> str:
    lines = ["graph TD"]
    for source in sorted(graph):
        for target in sorted(graph[source]):
            if target not in ("errors", "_checks", "_progress", "_version", "_workers"):
                lines.append(f"    {source} --> {target}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check the rules instead of drawing")
    args = parser.parse_args()
    graph = edges()
    if args.check:
        found = problems(graph)
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    print(mermaid(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
