"""Restore drill on PostgreSQL: `flask backup create` (pg_dump), change the data, `flask backup restore`
(pg_restore in one transaction), and find the backed-up state working; junk and wrong schemas are refused."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from migrations import runner
from models import AuditEvent, Demand, User
from tests.conftest import PASSWORD


def _count(session, model):
    session.expire_all()
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_restore_drill_on_postgresql(app, session, make_user, make_listing, tmp_path, client):
    app.config["INSTANCE_DIR"] = str(tmp_path / "instance")
    (tmp_path / "instance").mkdir()
    broker, owner = make_user("broker"), make_user("company")
    kept = make_listing("demand", owner, reviewer=broker, title="备份前发布的需求")
    cli = app.test_cli_runner()
    target = tmp_path / "backup.dump"
    result = cli.invoke(args=["backup", "create", str(target)])
    assert result.exit_code == 0, result.output
    head = ScriptDirectory.from_config(runner.alembic_config(app.config["DATABASE_URL"])).get_current_head()
    assert f"schema {head}" in result.output and "2 users" in result.output
    assert cli.invoke(args=["backup", "create", str(target)]).exit_code == 2  # never overwrites

    later = make_listing("demand", owner, reviewer=broker, title="备份之后才加的需求")
    kept_id, later_id, owner_email = kept.id, later.id, owner.email
    make_user("admin")
    assert _count(session, Demand) == 2
    session.close()

    result = cli.invoke(args=["backup", "restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert _count(session, Demand) == 1 and _count(session, User) == 2
    assert session.get(Demand, kept_id).title == "备份前发布的需求" and session.get(Demand, later_id) is None
    assert session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)) == "backup.restored"
    session.close()
    # the restored database serves pages and takes writes; the audit log is still append-only
    assert client.submit("/login", {"email": owner_email, "password": PASSWORD}).status_code == 302
    assert "备份前发布的需求" in client.get(f"/demand/{kept_id}").get_data(as_text=True)
    assert client.get(f"/demand/{later_id}").status_code == 404
    with pytest.raises(DBAPIError, match="audit_events is append-only"):
        session.execute(text("DELETE FROM audit_events"))
    session.rollback()
    safety = list((tmp_path / "instance").glob("postgresql.before-restore-*.dump"))
    assert len(safety) == 1  # the replaced content is kept


def test_restore_refuses_junk_and_other_schemas(app, tmp_path, make_user):
    make_user("company")
    cli = app.test_cli_runner()
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"this is not a dump" * 100)
    result = cli.invoke(args=["backup", "restore", str(junk), "--yes"])
    assert result.exit_code == 2 and "nothing was restored" in result.output
    assert cli.invoke(args=["backup", "restore", str(tmp_path / "none.dump"), "--yes"]).exit_code == 2
