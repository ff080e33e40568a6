"""One SQLAlchemy session per request (or CLI command), closed at teardown.

SQLite: a read engine, and a write engine whose transactions BEGIN IMMEDIATE (one writer at a time).
PostgreSQL: one engine at READ COMMITTED (bookings are conditional UPDATEs whose WHERE the row lock
re-evaluates); a write request that hits a serialization failure or a deadlock is run again as a whole."""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Optional

from flask import Flask, current_app, g, request
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# SQLSTATEs after which the whole unit of work may simply run again: serialization_failure, deadlock_detected
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def make_engine(url: str, busy_timeout: float = 15.0, *, immediate: bool = False,
                pool: Optional[dict[str, Any]] = None) -> Engine:
    """Engine for the URL; SQLite gets WAL, foreign keys and a busy timeout. immediate=True: every
    transaction begins with BEGIN IMMEDIATE (for units of work that write). pool: create_engine's pool_size,
    max_overflow and pool_timeout where set (the defaults of SQLAlchemy's QueuePool otherwise)."""
    pool = {k: v for k, v in (pool or {}).items() if v is not None}
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            pool = {}  # one in-memory database per connection: no queue pool to size
        engine = create_engine(url, connect_args={"timeout": busy_timeout, "check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        if immediate:
            event.listen(engine, "connect", _own_transactions)
            event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED", **pool)


def pool_settings(config: Any) -> dict[str, Any]:
    """The connection pool's size, overflow and checkout timeout (seconds) from the app's settings."""
    def number(name: str, kind: type) -> Any:
        value = config.get(name)
        return None if value in (None, "") else kind(value)

    return {"pool_size": number("DB_POOL_SIZE", int), "max_overflow": number("DB_MAX_OVERFLOW", int),
            "pool_timeout": number("DB_POOL_TIMEOUT", float)}


def is_retryable(err: BaseException) -> bool:
    """True for PostgreSQL's serialization failures and deadlocks (SQLSTATE 40001 / 40P01)."""
    orig = getattr(err, "orig", None) if isinstance(err, DBAPIError) else None
    return getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES


# lock_not_available (lock_timeout, NOWAIT), query_canceled (statement_timeout), too_many_connections
BUSY_SQLSTATES = RETRYABLE_SQLSTATES | frozenset({"55P03", "57014", "53300"})
BUSY_TEXTS = ("database is locked", "database is busy", "database table is locked")


def is_busy(err: BaseException) -> bool:
    """True when the database is there but too busy to serve this request in time, so that the same request
    may well succeed a few seconds later: the connection pool stayed empty past its timeout (SQLAlchemy's
    TimeoutError), SQLite stayed locked past its busy timeout, or PostgreSQL gave up on a lock, a statement
    timeout, a serialization failure or a deadlock (after the retries), or has no connection slot left."""
    if isinstance(err, SATimeoutError):
        return True
    orig = err.orig if isinstance(err, DBAPIError) else err
    if getattr(orig, "sqlstate", None) in BUSY_SQLSTATES:
        return True
    return isinstance(err, OperationalError) and any(t in str(orig).lower() for t in BUSY_TEXTS)


# connection_exception (class 08), admin_shutdown, crash_shutdown, cannot_connect_now
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_unavailable(err: BaseException) -> bool:
    """True when the database server cannot be reached or dropped the connection (stopped, restarting,
    network): a temporary condition for the user, and the pool reconnects (pool_pre_ping) once it is back."""
    if isinstance(err, DBAPIError):
        if err.connection_invalidated:
            return True
        err = err.orig
    state = getattr(err, "sqlstate", None)
    if state:
        return state.startswith("08") or state in UNAVAILABLE_SQLSTATES
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all
    kind = type(err)
    return kind.__module__.startswith("psycopg") and kind.__name__ in ("OperationalError", "InterfaceError")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _own_transactions(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's implicit BEGIN is switched off so that _begin_immediate decides how to begin
    # (SQLAlchemy's documented recipe for SQLite transactions).
    dbapi_conn.isolation_level = None


def _begin_immediate(conn: Connection) -> None:
    """Take the write lock up front, waiting up to the busy timeout, so a write transaction never fails
    half-way when it upgrades from reading to writing (SQLITE_BUSY_SNAPSHOT under WAL)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app: Flask) -> None:
    """Create the engines and the session factory for the app and close sessions after each request."""
    url, timeout = app.config["DATABASE_URL"], float(app.config.get("SQLITE_BUSY_TIMEOUT", 15))
    pool = pool_settings(app.config)
    engine = make_engine(url, timeout, pool=pool)
    app.extensions["db_engine"] = engine
    app.extensions["db_write_engine"] = make_engine(url, timeout, immediate=True, pool=pool) \
        if url.startswith("sqlite") else engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close)
    if not url.startswith("sqlite"):
        _retry_write_requests(app, int(app.config.get("DB_RETRIES", 3)))


def _retry_write_requests(app: Flask, retries: int) -> None:
    """Run a write request's view again (same request, same session, rolled back) when PostgreSQL aborts
    its transaction with a serialization failure or a deadlock; after `retries` tries the error goes on
    to the 503 handler (web/security.py). The failed transaction was rolled back, so nothing of it
    stays; views commit once, at the end (a view that committed earlier in the request would run
    that part again)."""
    dispatch = app.dispatch_request

    def dispatch_with_retry() -> Any:
        attempt = 0
        while True:
            try:
                return dispatch()
            except DBAPIError as err:
                attempt += 1
                if request.method in READ_METHODS or attempt >= retries or not is_retryable(err):
                    raise
                session = g.get("db_session")
                if session is not None:
                    session.rollback()
                log.info("retrying %s %s after SQLSTATE %s (try %d)", request.method, request.endpoint,
                         err.orig.sqlstate, attempt + 1)
                time.sleep(random.uniform(0.005, 0.05) * attempt)

    app.dispatch_request = dispatch_with_retry  # type: ignore[method-assign]


def sessionmaker_for(app: Flask) -> sessionmaker:
    """The app's session factory (for workers and CLI commands)."""
    return app.extensions["db_sessionmaker"]


def write_session(app: Flask) -> Session:
    """A session whose transactions begin IMMEDIATE (same factory, so after-commit listeners still run)."""
    return sessionmaker_for(app)(bind=app.extensions["db_write_engine"])


def db() -> Session:
    """The current request's session: reads for GET/HEAD, an IMMEDIATE write session for POST and others."""
    if "db_session" not in g:
        reading = not request or request.method in READ_METHODS
        g.db_session = sessionmaker_for(current_app)() if reading else write_session(current_app)
    return g.db_session


def _close(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def dispose(app: Flask) -> None:
    """Close every pooled connection of the app's engines."""
    for key in ("db_engine", "db_write_engine"):
        app.extensions[key].dispose()
