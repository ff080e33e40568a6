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


# Schema objects the database derives and the models do not map: the full-text index of migration 0009 (FTS5
# tables with their shadow tables on SQLite, the generated search_tsv column and its GIN index on PostgreSQL).
DERIVED_COLUMNS = {"search_tsv"}
DERIVED_TABLE_SUFFIXES = ("_fts", "_fts_data", "_fts_idx", "_fts_docsize", "_fts_config", "_fts_content")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's filter for comparing models with the database: leave the derived full-text objects out."""
    if type_ == "table" and name and name.endswith(DERIVED_TABLE_SUFFIXES):
        return False
    if type_ == "column" and name in DERIVED_COLUMNS:
        return False
    if type_ == "index" and name and name.endswith("_search_tsv"):
        return False
    return True


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
