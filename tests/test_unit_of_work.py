"""One unit of work per request (web/db.py): views never commit or roll back; the request commits once when the
view returns, rolls back when it raises or answered a refusal (web.errors.refusal), and on PostgreSQL a
serialization failure in the view or in the commit runs the unit again (tests/pg/test_retry_pg.py)."""
from __future__ import annotations

import ast
import builtins
from pathlib import Path
from typing import Any, Callable

import pytest
from flask import abort, flash, redirect
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from services.errors import ServiceError

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"

# Outside requests: code that opens and commits sessions of its own, like a CLI command does.
NOT_A_REQUEST = {
    ("auth.py", "send_reset_mail"): "body of the mail.password_reset job: the link's hash commits before the mail",
    ("notification_mail.py", "deliver"): "mail delivery of the mail.send job and `flask notify send`",
    ("notification_mail.py", "send_digest"): "the weekly digest of `flask notify digest`",
}
# What an `except ServiceError` in a view may do: answer through refusal()/abandon(), or raise (abort is a raise).
REFUSING = {"refusal", "abandon", "abort", "abort_for_service_error", "service_abort"}


def _may_write(try_body: list[ast.stmt], module_names: set[str]) -> bool:
    """Whether a try block can have written: it uses the request's session (db()) or calls a function it was
    handed (action(), change()); a pure check (parsing a period from the query string) cannot."""
    calls = [c.func.id for s in try_body for c in ast.walk(s) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)]
    return any(name == "db" or name not in module_names for name in calls)


def _module_names(tree: ast.Module) -> set[str]:
    """Names a module defines or imports at its top level, and the builtins."""
    names = set(dir(builtins))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _request_modules() -> list[Path]:
    """web/ without its CLI groups (cli.py, *_cli.py) and without the unit of work itself (db.py)."""
    return [p for p in sorted(WEB.rglob("*.py"))
            if p.name != "db.py" and p.name != "cli.py" and not p.name.endswith("_cli.py")]


def _called(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            f = call.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def _is_job_handler(fn: ast.FunctionDef) -> bool:
    """@jobs.handler(...): a job body runs in the job runner's session, not in a request."""
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "handler"
               for d in fn.decorator_list)


def test_no_view_commits_or_rolls_back():
    found = []
    for path in _request_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exempt: set[int] = set()
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and (_is_job_handler(fn) or (path.name, fn.name) in NOT_A_REQUEST):
                exempt |= {id(n) for n in ast.walk(fn)}
        for call in ast.walk(tree):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr in ("commit", "rollback") and id(call) not in exempt):
                found.append(f"{path.relative_to(ROOT)}:{call.lineno} {ast.unparse(call)}")
    assert not found, ("views do not commit or roll back: the request's unit of work does (web/db.py); a refusal "
                       "answered by the view goes through web.errors.refusal(err):\n" + "\n".join(found))


def test_every_refusal_a_view_answers_keeps_nothing():
    found = []
    for path in _request_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        refusers = {f.name for f in ast.walk(tree)
                    if isinstance(f, ast.FunctionDef) and _called(f) & {"refusal", "abandon"}}
        module_names = _module_names(tree)
        for t in ast.walk(tree):
            if not isinstance(t, ast.Try) or not _may_write(t.body, module_names):
                continue
            for h in t.handlers:
                if h.type is None or "ServiceError" not in ast.unparse(h.type):
                    continue
                if not (any(isinstance(n, ast.Raise) for n in ast.walk(h)) or _called(h) & (REFUSING | refusers)):
                    found.append(f"{path.relative_to(ROOT)}:{h.lineno}")
    assert not found, "an `except ServiceError` that answers must call refusal(err) (or abandon(), or raise):\n" + \
        "\n".join(found)


def test_the_api_hooks_run_first(app):
    from web.api import core

    assert app.before_request_funcs[None][:2] == list(core.FIRST_HOOKS)


# ------------------------------------------------------------------------------------------------ behaviour

@pytest.fixture
def probe(app, monkeypatch) -> dict[str, Any]:
    """Test-only views on the app that write a row of a probe table through db(), then do `state["then"]`."""
    from web import policy
    from web.db import after_commit, db
    from web.errors import refusal

    engine = app.extensions["db_engine"]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE uow_probe (n integer NOT NULL)"))
    state: dict[str, Any] = {"then": None, "after_commit": [], "calls": 0}

    def write() -> None:
        state["calls"] += 1
        db().execute(text("INSERT INTO uow_probe (n) VALUES (:n)"), {"n": state["calls"]})

    @app.route("/_uow", methods=["GET", "POST"], endpoint="uow_probe")
    def uow_probe():
        write()
        then: Callable[[], Any] | None = state["then"]
        after_commit(lambda: state["after_commit"].append(state["calls"]))
        return then() if then else "saved"

    @app.route("/_uow/refused", methods=["POST"], endpoint="uow_refused")
    def uow_refused():
        write()
        try:
            raise ServiceError("listing.bad_action")
        except ServiceError as err:
            flash(refusal(err), "danger")
        write()  # after the refusal: not kept either
        return redirect("/_uow/page")

    @app.route("/_uow/page", endpoint="uow_page")
    def uow_page():
        from flask import get_flashed_messages
        return " | ".join(get_flashed_messages())

    for endpoint, method in (("uow_probe", "GET"), ("uow_probe", "POST"), ("uow_refused", "POST"),
                             ("uow_page", "GET")):
        monkeypatch.setitem(policy.RULES, (endpoint, method), policy.Rule(policy.ALL_ROLES))
    app.config["WTF_CSRF_ENABLED"] = False

    def rows() -> list[int]:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT n FROM uow_probe ORDER BY n")).scalars())

    state["rows"] = rows
    return state


def _english(client: Any) -> None:
    with client.session_transaction() as s:
        s["lang"] = "en"


def test_a_successful_post_is_saved_once_without_the_view_committing(app, probe):
    resp = app.test_client().post("/_uow")
    assert resp.status_code == 200
    assert probe["rows"]() == [1]
    assert probe["after_commit"] == [1]


def test_a_get_that_writes_is_saved_too(app, probe):
    assert app.test_client().get("/_uow").status_code == 200
    assert probe["rows"]() == [1]


def test_a_view_that_raises_after_writing_leaves_nothing(app, probe):
    def boom() -> Any:
        raise RuntimeError("bug after a write")

    probe["then"] = boom
    with pytest.raises(RuntimeError):  # TESTING: the exception reaches the test
        app.test_client().post("/_uow")
    assert probe["rows"]() == []
    assert probe["after_commit"] == []


def test_an_abort_after_writing_leaves_nothing(app, probe):
    probe["then"] = lambda: abort(409)
    assert app.test_client().post("/_uow").status_code == 409
    assert probe["rows"]() == []


def test_a_refusal_the_view_answers_gives_its_message_and_keeps_nothing(app, probe):
    client = app.test_client()
    _english(client)
    resp = client.post("/_uow/refused", follow_redirects=True)
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "Unknown action."
    assert probe["rows"]() == []


def test_a_service_error_no_view_caught_gives_its_message_and_keeps_nothing(app, probe):
    def refuse() -> Any:
        raise ServiceError("listing.bad_action")

    probe["then"] = refuse
    client = app.test_client()
    _english(client)
    resp = client.post("/_uow")
    assert resp.status_code == 422
    assert "Unknown action." in resp.get_data(as_text=True)
    assert probe["rows"]() == []


def test_a_failed_write_does_not_leave_its_success_message(app, probe):
    def saved_then_boom() -> Any:
        flash("Saved.", "success")
        abort(409)

    probe["then"] = saved_then_boom
    client = app.test_client()
    assert client.post("/_uow").status_code == 409
    assert client.get("/_uow/page").get_data(as_text=True) == ""


def test_a_retryable_failure_in_the_commit_runs_the_unit_again(app, probe, monkeypatch):
    """The retry (PostgreSQL's serialization failures and deadlocks) wraps the view and the commit: here on
    SQLite with a commit that fails once with SQLSTATE 40001 (tests/pg/test_retry_pg.py does it for real)."""
    from sqlalchemy import event

    class Serialization(Exception):
        sqlstate = "40001"

    failures = {"left": 1}

    def fail_once(session: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("COMMIT", {}, Serialization("could not serialize access"))

    from sqlalchemy.orm import Session

    event.listen(Session, "before_commit", fail_once)
    try:
        monkeypatch.setitem(app.extensions, "db_retries", 3)
        resp = app.test_client().post("/_uow")
    finally:
        event.remove(Session, "before_commit", fail_once)
    assert resp.status_code == 200
    assert probe["calls"] == 2
    assert probe["rows"]() == [2]  # the failed try left nothing behind
    assert probe["after_commit"] == [2]


def test_a_real_view_keeps_nothing_of_a_refused_action(app, client, login, make_user, session, monkeypatch):
    """web/account.py's token form: a service that wrote (a token), then refused, leaves no token, and the
    page shows the refusal's message."""
    from sqlalchemy import func, select

    from models import ApiToken
    from services import tokens
    from services.errors import ServiceError as Refused
    from web.errors import message_for

    login(make_user("company"))
    create = tokens.create_token

    def write_then_refuse(*a: Any, **kw: Any) -> Any:
        create(*a, **kw)
        raise Refused("listing.bad_action")

    monkeypatch.setattr(tokens, "create_token", write_then_refuse)
    resp = client.submit("/account/tokens", {"name": "nightly import"})
    with app.test_request_context():
        message = message_for(Refused("listing.bad_action"))
    assert message in resp.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0
