"""The house rules that keep the code easy to change (issue 15), checked over the source tree with ast.

- Context is passed in, not found: no registry keyed by the database engine (a module-level WeakKeyDictionary) in
  web/ or services/; job handlers get the app's JobContext (services/jobs.py).
- app.py is a table of contents: every module it imports is used there (routes are registered explicitly), none is
  imported only for what importing it does (`# noqa: F401`).
"""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _weak_registries(source: str) -> list[int]:
    """Lines that name WeakKeyDictionary (weakref.WeakKeyDictionary, or imported from weakref)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "WeakKeyDictionary":
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id == "WeakKeyDictionary":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and any(a.name == "WeakKeyDictionary" for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "WeakKeyDictionary[" in node.value:
            lines.append(node.lineno)  # a string annotation: "weakref.WeakKeyDictionary[Any, Flask]"
    return sorted(set(lines))


def test_no_engine_keyed_registries_in_web_or_services():
    found = []
    for layer in ("web", "services"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            lines = _weak_registries(path.read_text(encoding="utf-8"))
            if lines:
                found.append(f"{rel}:{lines[0]} (pass what handlers need in services.jobs.JobContext instead)")
    assert found == []


def test_the_registry_check_sees_one():
    assert _weak_registries("import weakref\n_APPS = weakref.WeakKeyDictionary()\n") == [2]
    assert _weak_registries("from weakref import WeakKeyDictionary\nX = WeakKeyDictionary()\n") == [1, 2]
    assert _weak_registries('X: "weakref.WeakKeyDictionary[Any, Any]" = {}\n') == [1]
    assert _weak_registries("X: dict = {}\n") == []


def _unused_imports(source: str) -> list[str]:
    """Names app.py imports and never uses."""
    tree = ast.parse(source)
    imported: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            for alias in node.names:
                imported[(alias.asname or alias.name).split(".")[0]] = node.lineno
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return sorted(name for name in imported if name not in used)


def test_app_imports_nothing_for_its_side_effects():
    source = (ROOT / "app.py").read_text(encoding="utf-8")
    assert "noqa: F401" not in source, "register routes explicitly in create_app, not by importing a module"
    assert _unused_imports(source) == []


def test_the_side_effect_check_sees_one():
    assert _unused_imports("from web.api import jobs as api_jobs  # noqa: F401\n") == ["api_jobs"]
    assert _unused_imports("from web import jobs\njobs.init_app(None)\n") == []


def test_job_handlers_take_the_job_context():
    from services import jobs

    importlib.import_module("app")  # every module create_app wires, with its handlers

    def positional(fn: object) -> list[str]:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    wrong = sorted(kind for kind, fn in jobs.HANDLERS.items() if len(positional(fn)) != 4)
    assert wrong == [], "handlers take (session, job, progress, ctx: jobs.JobContext)"
