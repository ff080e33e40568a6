"""One SQLAlchemy session per request (or CLI command), closed at teardown."""
from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_engine(url: str, busy_timeout: float = 15.0, *, immediate: bool = False) -> Engine:
    """Engine for the URL; SQLite gets WAL, foreign keys and a busy timeout. immediate=True: every
    transaction begins with BEGIN IMMEDIATE (for units of work that write)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        if immediate:
            event.listen(engine, "connect", _own_transactions)
            event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


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
    engine = make_engine(url, timeout)
    app.extensions["db_engine"] = engine
    app.extensions["db_write_engine"] = make_engine(url, timeout, immediate=True) if url.startswith("sqlite") \
        else engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close)


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
