"""No import cycles among the project's modules: module-level and function-level imports both count (a
function-level import only hides a cycle until that function runs); `if TYPE_CHECKING:` blocks do not."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_MODULES = ("app.py", "config.py")
PACKAGES = ("web", "services", "models", "matchmaking", "tools")


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for the top-level modules and every module of the project's packages."""
    found = {name[:-3]: root / name for name in TOP_MODULES if (root / name).exists()}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST):
    """Every Import/ImportFrom under node, at any depth, except inside `if TYPE_CHECKING:` (its else runs)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        yield from _import_nodes(child)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against the importing module)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported dotted name lands in (its longest known prefix), or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body."""
    modules = project_modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = _resolve(module, is_package, node)
                names = [f"{base}.{alias.name}" for alias in node.names]  # a submodule, else lands in base
            edges.update(t for t in (_target(n, modules) for n in names) if t and t != module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, colouring modules)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_project_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_finds_a_planted_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "services"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from services import b\n")
    (pkg / "b.py").write_text("def later():\n    from .c import thing\n")
    (pkg / "c.py").write_text("import services.a as a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from services import a\n")
    (tmp_path / "app.py").write_text("from services.d import x\n")
    graph = import_graph(tmp_path)
    assert graph["services.d"] == set() and graph["app"] == {"services.d"}
    assert find_cycle(graph) == ["services.a", "services.b", "services.c", "services.a"]


def test_the_checker_passes_a_tree_without_cycles(tmp_path: Path) -> None:
    (tmp_path / "config.py").write_text("import os\n")
    (tmp_path / "app.py").write_text("import config\nfrom config import ROOT\n")
    assert find_cycle(import_graph(tmp_path)) is None
