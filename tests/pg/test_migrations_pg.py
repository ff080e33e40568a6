"""The same migrations on PostgreSQL: up to head, the audit log refuses UPDATE/DELETE, down to base."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from migrations import runner
from models import Base


def test_upgrade_head_audit_is_append_only_and_downgrade_base(pg_new_database):
    url = pg_new_database()
    runner.upgrade(url)
    head = ScriptDirectory.from_config(runner.alembic_config(url)).get_current_head()
    assert runner.current(url) == head
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True, "include_object": runner.include_object}), Base.metadata)
        assert diff == [], diff
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_events (created_at, action, target, detail) "
                              "VALUES (now(), 'test.append', 'user:1', '{}')"))
        for sql in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="audit_events is append-only"), engine.begin() as conn:
                conn.execute(text(sql))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
    finally:
        engine.dispose()

    runner.downgrade(url, "base")
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    runner.upgrade(url)
    assert runner.current(url) == head
