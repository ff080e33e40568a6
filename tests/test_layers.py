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
    "web": {"app"},
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
