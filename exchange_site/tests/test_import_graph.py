"""The packages import each other as a tree: no cycles between them, counting imports
inside functions (a deferred import hides a cycle, it does not remove it).

A node is a top-level package of the repository; ``engine_worker.core``, the pure engine
core that imports only the standard library, is a node of its own. Tests, migrations and
bench/ are leaves that may import anything and are not read. docs/architecture.md draws
the graph this test keeps true.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = "engine_worker.core"
SKIPPED_PARTS = {"tests", "migrations", "node_modules", ".venv", "frontend", "bench", "var"}


def packages() -> set[str]:
    return {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - SKIPPED_PARTS


def node_of(module: str, tops: set[str]) -> str | None:
    if module == CORE or module.startswith(CORE + "."):
        return CORE
    top = module.split(".")[0]
    return top if top in tops else None


def imported_modules(tree: ast.AST, module: str) -> list[str]:
    """Every module a file imports, at any depth, relative imports resolved."""
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            found += [alias.name for alias in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:  # relative: from the file's package
                base = module.split(".")[: -n.level]
                name = ".".join([*base, n.module] if n.module else base)
            else:
                name = n.module or ""
            found.append(name)
            found += [f"{name}.{alias.name}" for alias in n.names]  # `from pkg import module`
    return found


def import_graph() -> dict[str, dict[str, set[str]]]:
    """node -> imported node -> the files that import it."""
    tops = packages()
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for top in sorted(tops):
        for path in (ROOT / top).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if SKIPPED_PARTS & set(relative.parts) or path.name.startswith("test_"):
                continue
            module = ".".join(relative.with_suffix("").parts)
            source = node_of(module, tops)
            tree = ast.parse(path.read_text(), filename=str(path))
            for name in imported_modules(tree, module):
                target = node_of(name, tops)
                if target and target != source:
                    graph[source][target].add(str(relative))
    return graph


def find_cycle(graph: dict[str, dict[str, set[str]]]) -> list[str] | None:
    """A cycle as a path of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_packages_import_each_other_without_cycles():
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle:
        hops = [
            f"{a} -> {b} in {sorted(graph[a][b])}" for a, b in zip(cycle, cycle[1:], strict=False)
        ]
        raise AssertionError("import cycle:\n  " + "\n  ".join(hops))


def test_no_package_imports_the_project_package():
    """exchange_site (settings, URLs, ASGI, health) composes the apps; none of them may
    reach back into it."""
    graph = import_graph()
    back = {node: sorted(g["exchange_site"]) for node, g in graph.items() if "exchange_site" in g}
    assert back == {}


def test_the_checker_sees_a_cycle_hidden_in_a_function(tmp_path):
    """What the two tests above rely on: a deferred import counts."""
    tree = ast.parse("def f():\n    from orders.services import order_place\n")
    assert "orders.services" in imported_modules(tree, "marketdata.services")
    graph = {"marketdata": {"orders": {"a.py"}}, "orders": {"marketdata": {"b.py"}}}
    assert find_cycle(graph) == ["marketdata", "orders", "marketdata"]
    assert find_cycle({"orders": {"marketdata": {"b.py"}}}) is None
