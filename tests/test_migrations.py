"""The schema comes only from migrations: one head, and no drift between models and migrations (on the
database under test: SQLite, or PostgreSQL with TEST_DATABASE=postgresql)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from migrations import runner
from models import Base


def test_single_head():
    script = ScriptDirectory.from_config(runner.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_models_match_migrations(empty_database_url):
    url = empty_database_url
    runner.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True,
                                                                  "include_object": runner.include_object}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_up_again(empty_database_url):
    url = empty_database_url
    runner.upgrade(url)
    runner.downgrade(url, "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    runner.upgrade(url)
    assert runner.current(url) == ScriptDirectory.from_config(runner.alembic_config(url)).get_current_head()
