"""The layering in docs/architecture.md is a test, not a hope (as anyio's test_all_attributes guards its
public surface): every import in the package, parsed with ``ast`` (inside functions and under
TYPE_CHECKING too), goes to the importer's own layer or one below, and no two top-level packages import
each other, directly or around a loop."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "asynctrack"
DOC = ROOT / "docs" / "architecture.md"


def layers() -> dict[str, int]:
    """Unit name -> layer number (1 is the top), read from the Layers section of docs/architecture.md."""
    text = DOC.read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, int] = {}
    for line in section.splitlines():
        m = re.match(r"(\d+)\. ", line)
        if m:
            for name in re.findall(r"`([\w.]+)`", line):
                assert name not in found, f"{name} is listed twice in the Layers section"
                found[name] = int(m.group(1))
    assert found, "docs/architecture.md has no Layers list"
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def unit(module: str) -> str:
    """The top-level unit a module belongs to: ``asynctrack.store.sqlite._x`` -> ``store``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: Path) -> set[str]:
    """Every asynctrack module the file ``path`` imports."""
    me = module_name(path)
    return imports_in(path.read_text(), me if path.name == "__init__.py" else me.rpartition(".")[0])


def imports_in(source: str, package: str) -> set[str]:
    """Every asynctrack module ``source`` (a module of ``package``) imports, anywhere in it;
    ``from asynctrack import x`` counts as module ``x`` when ``x`` is one, else as the package itself."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "asynctrack")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "asynctrack":
                continue
            for alias in node.names:
                full = f"{module}.{alias.name}"
                out.add(full if full in MODULES else module)
    return out


def edges() -> dict[str, set[tuple[str, str, str]]]:
    """unit -> {(imported unit, importing module, imported module)} for imports between units."""
    graph: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for name, path in MODULES.items():
        for target in imported_modules(path):
            if unit(target) != unit(name):
                graph[unit(name)].add((unit(target), name, target))
    return graph


def test_every_top_level_module_has_a_layer() -> None:
    """A new top-level module or package must be placed in docs/architecture.md's Layers first."""
    known = layers()
    missing = sorted({unit(m) for m in MODULES} - set(known))
    assert not missing, f"not in docs/architecture.md's Layers list: {missing}"
    stale = sorted(set(known) - {unit(m) for m in MODULES})
    assert not stale, f"docs/architecture.md's Layers list names what does not exist: {stale}"


def test_no_layer_imports_upward() -> None:
    """Each import goes to the importer's own layer or below."""
    known = layers()
    upward = sorted(
        f"{importer} ({known[src]}) imports {target} ({known[dst]})"
        for src, out in edges().items()
        for dst, importer, target in out
        if src in known and dst in known and known[dst] < known[src]
    )
    assert not upward, "imports against docs/architecture.md's layers:\n" + "\n".join(upward)


def test_no_import_cycle_between_top_level_packages() -> None:
    """No two units import each other, directly or around a loop (Tarjan's strongly connected
    components over the unit graph)."""
    graph = edges()
    targets = {src: {dst for dst, _, _ in out} for src, out in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in targets.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(targets):
        if v not in index:
            visit(v)
    detail = [
        f"{sorted(c)}: "
        + "; ".join(
            f"{importer} -> {target}" for u in c for dst, importer, target in sorted(graph[u]) if dst in c
        )
        for c in cycles
    ]
    assert not cycles, "import cycles between packages:\n" + "\n".join(detail)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from asynctrack.pipeline import _registry", {"asynctrack.pipeline._registry"}),
        ("from asynctrack import __version__", {"asynctrack"}),
        ("import asynctrack.store.rest", {"asynctrack.store.rest"}),
        ("from ._queue import OpQueue", {"asynctrack.pipeline._queue"}),
        ("def f():\n    import asynctrack.client", {"asynctrack.client"}),
        ("if TYPE_CHECKING:\n    from asynctrack.aio import AsyncClient", {"asynctrack.aio"}),
        ("import numpy\nfrom typing import Any", set()),
    ],
)
def test_the_parser_sees_every_kind_of_import(source: str, expected: set[str]) -> None:
    """The checks above would pass vacuously if imports were missed: module-level, relative, lazy (in a
    function) and type-only imports are all seen."""
    assert imports_in(source, "asynctrack.pipeline") == expected
