"""One SQLAlchemy session per request (or CLI command), and one unit of work per request.

SQLite: a read engine, and a write engine whose transactions BEGIN IMMEDIATE (one writer at a time).
PostgreSQL: one engine at READ COMMITTED (bookings are conditional UPDATEs whose WHERE the row lock
re-evaluates); a write request that hits a serialization failure or a deadlock is run again as a whole.

The unit of work (Indico's RH.process): the app is an `App`, Flask's documented subclass point, whose
`dispatch_request` runs the view through `run_unit`. Views never commit or roll back:
- the view returns normally: the request's session (`db()`) commits once, after the view and before the
  response leaves (after-commit listeners run then, as for any commit);
- the view raises (an abort, a ServiceError, a database error, a bug): everything the request wrote is rolled
  back before the error handlers run, and nothing is committed later in the request;
- the view caught a refusal and answers with it (a form drawn again with the message, a flash and a redirect):
  it calls `abandon()` (web.errors.refusal(err) does, and returns the translated message): the session rolls
  back at once and again at the end instead of committing, so a refused action never saves half of itself;
- a refusal nobody caught reaches web/errors.py's ServiceError handler: its translated message (JSON under
  /api/), 422 (404 for NotFound), after the rollback;
- PostgreSQL: a serialization failure or deadlock in the view or in the commit runs the view again, same request,
  session rolled back, up to DB_RETRIES tries; then the error goes on to the 503 handler (web/errors.py).
What a write request puts in the cookie session (a flash, a sign-in) is undone with a unit that fails, so
"Saved." never outlives a failed commit. Side effects that need the committed rows (handing a job to the queue)
are registered with `after_commit(step)` and run right after the commit, never after a rollback.
Before-request hooks share the unit (what they write commits with the view's work), except what a hook commits
with `commit_before_view()` (the API token's last use). Writes that must stand on their own, whatever becomes
of the request (a contact-reveal audit record while a GET only reads, a coverage job queued from a page), go
through `separate_unit()`, a short transaction of its own; `fresh_snapshot()` lets a reading request see what
others committed meanwhile. CLI commands and job handlers are not requests: they keep their own sessions and
commits. tests/test_unit_of_work.py holds views to this (no commit/rollback in web/ outside CLI and jobs)."""
from __future__ import annotations

import copy
import logging
import random
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from flask import Flask, current_app, g, request
from flask import session as http_session
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


# undefined_table, undefined_column: the schema is older than the code
MISSING_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})


def is_missing_schema(err: BaseException) -> bool:
    """True when a table or column the code needs is not in the database: it was never migrated (a new
    DATABASE_URL, a deleted file) or is behind the code's migrations. `flask db upgrade` is the remedy."""
    orig = err.orig if isinstance(err, DBAPIError) else err
    if getattr(orig, "sqlstate", None) in MISSING_SCHEMA_SQLSTATES:
        return True
    text = str(orig).lower()
    return isinstance(err, OperationalError) and ("no such table" in text or "no such column" in text)


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
    # PostgreSQL: tries of a write request's unit of work (run_unit); SQLite writes one at a time, never retried
    app.extensions["db_retries"] = 1 if url.startswith("sqlite") else int(app.config.get("DB_RETRIES", 3))
    if not isinstance(app, App):
        raise TypeError("create the app as web.db.App: its requests run as units of work")


class App(Flask):
    """Flask whose every view runs as one unit of work (run_unit): create_app builds this class."""

    def dispatch_request(self) -> Any:
        return run_unit(super().dispatch_request)


def run_unit(view: Callable[[], Any]) -> Any:
    """Run the view, then commit the request's session once; roll back when the view raises or abandoned the
    unit. On PostgreSQL a write request whose view or commit fails with a serialization failure or a deadlock
    runs again (same request, session rolled back), up to DB_RETRIES tries."""
    retries = current_app.extensions.get("db_retries", 1)
    attempt = 0
    # what a write puts in the cookie session belongs to its unit too: "Saved." or a sign-in must not outlive
    # a commit that failed
    cookie = None if request.method in READ_METHODS else copy.deepcopy(dict(http_session))
    g.db_unit_running = True
    while True:
        g.pop("db_unit_abandoned", None)
        g.pop("db_after_commit", None)
        try:
            rv = view()
            steps = _finish()
            break
        except DBAPIError as err:
            rollback_quietly()
            _restore_cookie(cookie)
            attempt += 1
            if request.method in READ_METHODS or attempt >= retries or not is_retryable(err):
                raise
            log.info("retrying %s %s after SQLSTATE %s (try %d)", request.method, request.endpoint,
                     err.orig.sqlstate, attempt + 1)
            time.sleep(random.uniform(0.005, 0.05) * attempt)
        except BaseException:
            rollback_quietly()
            _restore_cookie(cookie)
            raise
    # after the loop: a step that fails must neither run the committed view again nor undo its cookie
    for step in steps:
        step()
    return rv


def _restore_cookie(cookie: Optional[dict]) -> None:
    if cookie is not None and dict(http_session) != cookie:
        http_session.clear()
        http_session.update(copy.deepcopy(cookie))


def _finish() -> list[Callable[[], Any]]:
    """Commit the unit (or roll it back when abandoned); its after-commit steps to run (none after a rollback)."""
    session = g.get("db_session")
    if g.pop("db_unit_abandoned", False):
        g.pop("db_after_commit", None)
        if session is not None:
            session.rollback()
        return []
    if session is not None:
        session.commit()
    return g.pop("db_after_commit", [])


def commit_before_view() -> None:
    """Commit what a before-request step wrote, so that it stands whatever becomes of the request (the API
    token's last use: web/api/core.py). Only before the view: a view's writes are its unit's."""
    if g.get("db_unit_running"):
        raise RuntimeError("commit_before_view() inside a view: the request's unit commits once, at its end")
    session = g.get("db_session")
    if session is not None:
        session.commit()


def after_commit(step: Callable[[], Any]) -> None:
    """Run step once this request's unit has committed (hand a job to the queue: the worker must find its row);
    dropped when the unit rolls back."""
    g.setdefault("db_after_commit", []).append(step)


def abandon() -> None:
    """Keep nothing of this request: the view answers a refusal itself (a form drawn again with the message,
    a flash and a redirect). What the request wrote is rolled back now (so the page drawn next does not show
    half an action), and the unit rolls back again instead of committing when the view returns."""
    g.db_unit_abandoned = True
    rollback_quietly()


def abandoned() -> bool:
    """Whether the current request's unit of work was abandoned (it will roll back)."""
    return bool(g.get("db_unit_abandoned"))


def rollback_quietly() -> None:
    """End the request's transaction now (PostgreSQL refuses any further statement in an aborted one); a
    connection that is gone is left to teardown."""
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except DBAPIError:
            pass


def fresh_snapshot() -> None:
    """Let a reading request see what other sessions committed since its first query (SQLite keeps one read
    snapshot per transaction): ends its read transaction. Not for a request that has written anything."""
    session = db()
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("fresh_snapshot() would end a unit of work that holds changes")
    session.commit()


@contextmanager
def separate_unit(app: Optional[Flask] = None) -> Iterator[Session]:
    """A short write transaction of its own beside the request's unit, for writes that stand whatever becomes
    of the request (a GET's audit record, a job queued from a page): committed when the block ends, rolled
    back if it raises."""
    with write_session(app or current_app) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


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
