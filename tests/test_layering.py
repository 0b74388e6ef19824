"""Clusterer's modules import one another one way: the graph of imports among them has
no cycle.

Every import counts: module-level ones, those inside ``if TYPE_CHECKING:`` (a type
that needs the other module is a dependency on it all the same) and those inside
functions (made lazily, but made). Relative and absolute imports of ``clusterer.*``
both count; an import names the module it reads from (``from .pipeline import X``:
``clusterer.pipeline``; ``from . import distributed``: ``clusterer.distributed``).
A package's ``__init__`` counts as the package, and importing ``a.b.c`` depends on
``a.b.c`` only (the parents' ``__init__`` modules are not edges: they re-export).
"""

from __future__ import annotations

import ast
from pathlib import Path

import clusterer

ROOT = Path(clusterer.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)  # `from . import x` names a module
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, name, modules) for name, path in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_the_imports():
    graph = import_graph()
    assert "clusterer.analysis" in graph["clusterer.result"]
    assert "clusterer.pipeline" in graph["clusterer.distributed"] or any(
        "clusterer.pipeline" in graph[m] for m in graph if m.startswith("clusterer.distributed.")
    )
    assert "clusterer.distributed" in graph["clusterer.executor"]  # the function-local import


def test_the_modules_import_one_another_one_way():
    cycle = _cycle(import_graph())
    assert cycle is None, "an import cycle: " + " -> ".join(cycle or [])


def test_the_pipeline_does_not_know_the_engines():
    graph = import_graph()
    seen, todo = set(), ["clusterer.pipeline"]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert not {m for m in seen if m.startswith(("clusterer.distributed", "clusterer.executor"))}
