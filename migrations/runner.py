"""Run Alembic programmatically (used by `flask db` and the tests)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic config pointing at this folder and the given database."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database up to a revision."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database down to a revision."""
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> Optional[str]:
    """The database's current revision, or None when it has none."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
