"""The core imports only the standard library and itself (STYLE.md: a pure domain core)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
FORBIDDEN = {"django", "redis", "rq", "channels", "psycopg", "rest_framework"}


def _imports(path: Path) -> list[tuple[str, int]]:
    """(top-level module, level) of every import in ``path``; level > 0 is relative."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.extend((a.name.split(".")[0], 0) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append(((node.module or "").split(".")[0], node.level))
    return out


def test_core_has_modules() -> None:
    names = {p.name for p in CORE.glob("*.py")}
    assert {"engine.py", "book.py", "commands.py", "events.py"} <= names


def test_core_imports_only_stdlib_and_itself() -> None:
    bad = []
    for path in sorted(CORE.glob("*.py")):
        for mod, level in _imports(path):
            if level > 0 or mod == "engine_worker":
                continue  # the package itself
            if mod in FORBIDDEN or mod not in sys.stdlib_module_names:
                bad.append(f"{path.name}: {mod}")
    assert not bad, f"engine core imports outside the standard library: {bad}"


def test_engine_worker_imports_from_core_stay_inside_core() -> None:
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("engine_worker"):
                    assert node.module.startswith("engine_worker.core"), (
                        f"{path.name} imports {node.module}"
                    )
