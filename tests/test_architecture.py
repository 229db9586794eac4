"""The layering of the package: no import cycle between packages, an engine without model code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_graph_keeps_the_layers() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dev" / "import_graph.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_engine_loads_no_model_library() -> None:
    code = (
        "import sys, reelsense.pipeline\n"
        "print(sorted(m for m in sys.modules if m in ('torch', 'transformers') "
        "or m.startswith(('reelsense.models', 'reelsense.vision', 'reelsense.text', 'reelsense.featurize'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
