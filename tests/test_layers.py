"""Imports flow one way: app -> web -> services -> models, services -> matchmaking; the engine stays a library."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "matchmaking": {"flask", "flask_login", "flask_wtf", "flask_babel", "sqlalchemy", "models", "services", "web",
                    "app"},
    "models": {"flask", "flask_login", "flask_wtf", "flask_babel", "services", "web", "app", "matchmaking"},
    "services": {"flask", "flask_login", "flask_wtf", "flask_babel", "web", "app"},
    "web": {"app", "matchmaking"},  # web reaches the engine only through services (its exceptions included)
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_layers_import_one_way():
    problems = []
    for layer, banned in FORBIDDEN.items():
        for path in (ROOT / layer).rglob("*.py"):
            bad = _imports(path) & banned
            if bad:
                problems.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert problems == []


def test_layer_check_sees_a_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from flask import Flask\nimport sqlalchemy.orm\n")
    assert _imports(bad) == {"flask", "sqlalchemy"}


def _backend_branches(path: Path) -> list[int]:
    """Lines of `if`/ternary tests that name pgvector (a name, an attribute or a string)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.If, ast.IfExp, ast.While)):
            words = [n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)]
            words += [n.attr for n in ast.walk(node.test) if isinstance(n, ast.Attribute)]
            words += [n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            if any("pgvector" in w.lower() for w in words):
                lines.append(node.lineno)
    return lines


def test_no_store_backend_branches_outside_the_stores():
    """What differs between faiss and pgvector lives in each store's shelf (matchmaking/vectorstore.py,
    matchmaking/pgvector_store.py); the runtime and the pages talk to the VectorShelf protocol only."""
    problems = [f"{path.relative_to(ROOT)}:{line}" for layer in ("app.py", "web", "services", "models")
                for path in ([ROOT / layer] if layer.endswith(".py") else (ROOT / layer).rglob("*.py"))
                for line in _backend_branches(path)]
    assert problems == []


def test_backend_branch_check_sees_one(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("if self.pgvector:\n    pass\nx = 1 if kind == 'pgvector' else 2\n")
    assert _backend_branches(bad) == [1, 3]
