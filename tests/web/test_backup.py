"""Restore drill: back up a live database, change it, restore, and find the backed-up state working."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Demand, User
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.model,  # loads the real embedding model (not in `make test-fast`)
              pytest.mark.sqlite_only("SQLite's online backup API and database files; the PostgreSQL drill "
                                      "(pg_dump/pg_restore) is tests/pg/test_backup_pg.py")]


def _count(session, model):
    session.expire_all()
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_restore_drill(app, session, make_user, make_listing, tmp_path, client):
    from services.cache import MemoryCache
    from services.pagecache import VERSION_KEY

    cache = MemoryCache(600)
    cache.shared = True  # as Redis would be: what it holds must not outlive the content it was made from
    app.extensions["matching"].pages.cache = cache
    app.extensions["signed_in_users"].cache = app.extensions["unread_counts"].cache = cache
    broker, owner = make_user("broker"), make_user("company")
    kept = make_listing("demand", owner, reviewer=broker, title="备份前发布的需求")
    cli = app.test_cli_runner()
    target = tmp_path / "backup.db"
    result = cli.invoke(args=["backup", "create", str(target)])
    assert result.exit_code == 0, result.output
    assert cli.invoke(args=["backup", "create", str(target)]).exit_code == 2  # never overwrites

    later = make_listing("demand", owner, reviewer=broker, title="备份之后才加的需求")
    kept_id, later_id, owner_email, ids = kept.id, later.id, owner.email, [owner.id, broker.id]
    admin_id = make_user("admin").id  # not in the backup
    users = app.extensions["signed_in_users"]
    counters = lambda: [cache.counter(VERSION_KEY)] + [cache.counter(users.generation_key(i))  # noqa: E731
                                                       for i in (*ids, admin_id)]
    before = counters()
    users_in_backup = 2
    assert _count(session, Demand) == 2
    session.close()

    result = cli.invoke(args=["backup", "restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert _count(session, Demand) == 1 and _count(session, User) == users_in_backup
    assert session.get(Demand, kept_id).title == "备份前发布的需求" and session.get(Demand, later_id) is None
    assert session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)) == "backup.restored"
    assert all(a > b for a, b in zip(counters(), before)), "nothing cached from the replaced content is served"
    session.close()
    # the restored database serves pages and takes writes (sign-in records an audit event)
    assert client.submit("/login", {"email": owner_email, "password": PASSWORD}).status_code == 302
    assert "备份前发布的需求" in client.get(f"/demand/{kept_id}").get_data(as_text=True)
    assert client.get(f"/demand/{later_id}").status_code == 404
    assert list((tmp_path / "app.db").parent.glob("app.db.before-restore-*"))  # the replaced content is kept


def test_restore_refuses_what_is_not_a_backup_of_this_schema(app, tmp_path, make_user):
    make_user("company")
    cli = app.test_cli_runner()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    conn.close()
    old = tmp_path / "old.db"
    assert cli.invoke(args=["backup", "create", str(old)]).exit_code == 0
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    for path, words in ((junk, "not an intact SQLite database"), (other, "not a database of this platform"),
                        (old, "has schema 0001"), (tmp_path / "missing.db", "does not exist")):
        result = cli.invoke(args=["backup", "restore", str(path), "--yes"])
        assert result.exit_code == 2 and words in result.output, (path.name, result.output)
    assert not list(tmp_path.glob("app.db.before-restore-*"))  # nothing was touched


def test_a_restore_without_the_shared_cache_says_to_flush_it(app, make_user, tmp_path):
    make_user("company")
    cli = app.test_cli_runner()
    target = tmp_path / "backup.db"
    assert cli.invoke(args=["backup", "create", str(target)]).exit_code == 0
    result = cli.invoke(args=["backup", "restore", str(target), "--yes"])  # CACHE_URL=none in the tests
    assert result.exit_code == 0 and "FLUSHDB" in result.output and "请立即清空其缓存库" in result.output
