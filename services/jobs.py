"""Slow work as jobs: a view submits, a queue executes the registered handler, the user polls progress.

The Job row is the contract (status, progress, result, error code, attempts); what executes it is swappable:
inline (tests, CLI) or a Huey queue (services/queue.py: SQLite file or Redis) drained by consumer threads.
A handler's transient failure (database locked or gone, Redis or SMTP unreachable) sends the job back to
queued for a retry; anything else fails it at once with an error code, never a traceback.

The job context
---------------
A handler finds what it works with (the matching runtime, the re-ranking settings, the mailer, the app's
settings) in a JobContext passed to it, never through a registry keyed by the database engine:

    @jobs.handler("report.batch")
    def _batch_job(session: Session, job: Job, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
        runtime = ctx.need("matching")      # or ctx.matching, None while nobody provided it
        ...

One JobContext per app, built once as the app starts (web/jobs.init_context, the first thing create_app
wires after the database: ``app.extensions["job_context"]``, with factory, config and app filled); the parts
wired after it provide their slot:

    context.provide(matching=runtime)   # web/matches.init_app, right after building the MatchingRuntime
    context.provide(reranker=Reranker(path, share))   # web/reports.init_app
    context.provide(mailer=build_mailer(config))       # web/notification_mail.init_app

One place provides each slot, and a handler that needs an unfilled one fails with its name
(``ctx.need("matching")``).

The app's JobQueue holds the context and passes it to run_job, which hands it to the handler and to the
followers (``@jobs.after(kind)``, called as follower(ctx)). The same holds in every process that runs jobs:
inline in a request or a CLI command, the consumer threads embedded in a web process, and `flask jobs
worker`, which runs create_app like any other command. A script or test drives a job with
``jobs.run_job(ctx, job_id)``; JobContext(factory) alone is a context with empty slots.

Slots: factory (sessions of the app's database), config (the app's settings, read-only), matching
(services.matching.MatchingRuntime), reranker (services.feedback.Reranker), mailer (services.mail backend),
app (the Flask app, for handlers in web/ that render templates and links; services never read it).
"""
from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, Callable, Mapping, Optional, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from models import Job, JobStatus, utcnow

from .errors import NotFound, ServiceError

log = logging.getLogger(__name__)
UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
# SQLSTATEs of a PostgreSQL transaction that may simply run again: serialization failure, deadlock
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


class Progress(Protocol):
    """Reports progress from inside a handler: progress(done, total)."""

    def __call__(self, done: int, total: Optional[int] = None) -> None: ...


@dataclass(eq=False)
class JobContext:
    """What job handlers work with besides their session and job: one per app or worker, filled as it starts."""

    factory: sessionmaker
    config: Mapping[str, Any] = field(default_factory=dict)
    matching: Any = None  # services.matching.MatchingRuntime: index syncs, report batches, coverage, imports
    reranker: Any = None  # services.feedback.Reranker: the learned share in live rankings and report jobs
    mailer: Any = None  # services.mail backend (.send(message))
    app: Any = None  # the Flask app, for web handlers that render templates and links; services never read it

    def provide(self, **objects: Any) -> "JobContext":
        """Fill named slots (e.g. provide(matching=runtime)); an unknown name is a wiring mistake."""
        known = {f.name for f in fields(self)}
        for name, value in objects.items():
            if name not in known:
                raise AttributeError(f"JobContext has no slot {name!r} (slots: {', '.join(sorted(known))})")
            setattr(self, name, value)
        return self

    def need(self, slot: str) -> Any:
        """The object in this slot; RuntimeError when nothing provided it (the app or worker was not wired)."""
        value = getattr(self, slot)
        if value is None:
            raise RuntimeError(f"the job context has no {slot}: the app (create_app) or worker provides it")
        return value


# handler(session, job, progress, ctx) -> result dict (JSON-serialisable); raise ServiceError to fail cleanly
Handler = Callable[[Session, Job, Progress, JobContext], dict]
HANDLERS: dict[str, Handler] = {}


# work that follows each done job of a kind, e.g. the statistics after an index sync: follower(ctx)
Follower = Callable[[JobContext], None]
FOLLOWERS: dict[str, list[Follower]] = {}


def after(kind: str) -> Callable[[Follower], Follower]:
    """Register work to run after each job of this kind is done, by whatever ran the job (same thread, its own
    transactions); a follower's failure is logged and never changes the job's outcome."""

    def register(fn: Follower) -> Follower:
        followers = FOLLOWERS.setdefault(kind, [])
        if fn not in followers:
            followers.append(fn)
        return fn

    return register


class RetryJob(Exception):
    """Raised out of run_job when a transient failure sent the job back to queued (the queue retries it)."""


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that executes jobs of this kind."""

    def register(fn: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not fn:
            raise ValueError(f"job kind {kind!r} registered twice")
        HANDLERS[kind] = fn
        return fn

    return register


def is_transient(err: BaseException) -> bool:
    """True for failures that a later try may not meet: locked/lost database, unreachable Redis or SMTP."""
    if isinstance(err, (OperationalError, PoolTimeout)):  # SQLite "database is locked", a lost PostgreSQL
        return True                                       # connection, no pooled connection free in time
    if isinstance(err, DBAPIError):
        return err.connection_invalidated or getattr(err.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
    if isinstance(err, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return True
    if isinstance(err, smtplib.SMTPResponseException):
        return 400 <= err.smtp_code < 500  # 4xx: try again later; 5xx: permanent
    if isinstance(err, (ConnectionError, TimeoutError)):  # refused, reset, socket timeouts
        return True
    return _is_redis_outage(err)


def _is_redis_outage(err: BaseException) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout
    except ImportError:  # pragma: no cover - redis is in requirements.txt
        return False
    return isinstance(err, (RedisConnectionError, RedisTimeout))


def submit_job(session: Session, kind: str, owner_id: Optional[int], params: dict[str, Any], *,
               key: Optional[str] = None, reuse_done: bool = False) -> Job:
    """Record a queued job (the caller commits, then hands job.id to the queue).

    With a key, a job holding it that is queued or running (or done, when reuse_done: content-keyed work)
    is returned instead of a new one; an older finished job gives the key up."""
    if kind not in HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    if key is not None:
        existing = session.scalar(select(Job).where(Job.key == key))
        if existing is not None:
            if existing.status in UNFINISHED or (reuse_done and existing.status == JobStatus.DONE.value):
                return existing
            existing.key = None
            session.flush()
    job = Job(kind=kind, owner_id=owner_id, params=params, status=JobStatus.QUEUED.value, key=key,
              heartbeat_at=utcnow())
    session.add(job)
    session.flush()
    return job


def get_job_for(session: Session, job_id: int, user: Any) -> Job:
    """The job if this user owns it (admins see all); otherwise NotFound, never a hint it exists."""
    job = session.get(Job, job_id)
    if job is None or (job.owner_id != user.id and user.role != "admin"):
        raise NotFound()
    return job


def retry_failed(session: Session, job_id: int) -> Job:
    """Send a failed job back to the queue (admin action; the caller audits, commits and enqueues)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound()
    if job.status != JobStatus.FAILED.value:
        raise ServiceError("job.not_failed")
    job.status, job.error, job.error_detail, job.result = JobStatus.QUEUED.value, None, None, None
    job.progress, job.attempts, job.started_at, job.finished_at = 0, 0, None, None
    job.heartbeat_at = utcnow()
    return job


def counts(session: Session) -> dict[str, int]:
    """How many jobs are in each status (every status present, zero or more)."""
    found = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    return {s.value: int(found.get(s.value, 0)) for s in JobStatus}


def recent(session: Session, status: Optional[str] = None, limit: int = 100) -> list[Job]:
    """The newest jobs, optionally of one status."""
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if status in {s.value for s in JobStatus}:
        stmt = stmt.where(Job.status == status)
    return list(session.scalars(stmt))


def run_job(ctx: JobContext, job_id: int, *, retries: int = 0, heartbeat_seconds: float = 30.0) -> None:
    """Execute one queued job to done or failed, its handler given ctx. Errors land on the row; the only
    exception that leaves is RetryJob, after a transient failure with tries left (the row is queued again)."""
    factory = ctx.factory
    with factory() as session:
        claimed = session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.RUNNING.value, started_at=utcnow(), heartbeat_at=utcnow(),
                    attempts=Job.attempts + 1)).rowcount
        session.commit()
        if not claimed:
            return  # already taken by another consumer, or finished
        job = session.get(Job, job_id)
        kind, attempts = job.kind, job.attempts  # read now: after a failure the database may be gone
        beat = _Heartbeat(factory, job_id, heartbeat_seconds)
        try:
            result = HANDLERS[kind](session, job, _progress_writer(factory, job_id), ctx)
            session.commit()
        except ServiceError as exc:
            session.rollback()
            beat.stop()
            _finish(factory, job_id, status=JobStatus.FAILED, error=exc.code, detail=_detail(exc.params))
            return
        except Exception as exc:
            session.rollback()
            beat.stop()
            _failed(factory, job_id, kind, exc, tries_left=attempts <= retries)
            return
        finally:
            beat.stop()  # also on BaseException: a dead handler must not look alive
        _finish(factory, job_id, status=JobStatus.DONE, result=result or {})
        _follow(ctx, kind)


def _follow(ctx: JobContext, kind: str) -> None:
    for follower in FOLLOWERS.get(kind, ()):
        try:
            follower(ctx)
        except Exception:  # the job is done; what follows it is caught up by its own next trigger
            log.exception("work after a %s job failed", kind)


def _failed(factory: sessionmaker, job_id: int, kind: str, exc: Exception, *, tries_left: bool) -> None:
    if not is_transient(exc):
        log.error("job %s (%s) failed", job_id, kind, exc_info=exc)
        _finish(factory, job_id, status=JobStatus.FAILED, error="job.internal")
        return
    if not tries_left:
        log.warning("job %s (%s) gave up after transient failures: %s", job_id, kind, type(exc).__name__)
        _finish(factory, job_id, status=JobStatus.FAILED, error="job.unavailable", detail=type(exc).__name__)
        return
    log.info("job %s (%s) will be retried after %s", job_id, kind, type(exc).__name__)
    with factory() as s:  # back to queued: the row says so while the queue waits out the retry delay
        s.execute(update(Job).where(Job.id == job_id).values(
            status=JobStatus.QUEUED.value, error_detail=f"retrying after {type(exc).__name__}",
            heartbeat_at=utcnow()))
        s.commit()
    raise RetryJob(type(exc).__name__) from exc


def _detail(params: dict) -> Optional[str]:
    return "; ".join(f"{k}={v}" for k, v in params.items()) or None


def _progress_writer(factory: sessionmaker, job_id: int) -> Progress:
    def progress(done: int, total: Optional[int] = None) -> None:
        values: dict[str, Any] = {"progress": int(done), "heartbeat_at": utcnow()}
        if total is not None:
            values["total"] = int(total)
        with factory() as s:  # own transaction: visible to pollers while the job runs
            s.execute(update(Job).where(Job.id == job_id).values(**values))
            s.commit()

    return progress


class _Heartbeat:
    """Touches a running job's heartbeat_at every few seconds, so no recovery takes a live job for dead."""

    def __init__(self, factory: sessionmaker, job_id: int, seconds: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(factory, job_id, seconds),
                                        name=f"job-{job_id}-heartbeat", daemon=True)
        self._thread.start()

    def _run(self, factory: sessionmaker, job_id: int, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                with factory() as s:
                    s.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)
                              .values(heartbeat_at=utcnow()))
                    s.commit()
            except Exception as err:  # a missed beat is harmless: the stale limit is minutes, beats are seconds
                log.warning("heartbeat of job %s missed: %s", job_id, type(err).__name__)

    def stop(self) -> None:
        """Stop beating (idempotent)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _finish(factory: sessionmaker, job_id: int, *, status: JobStatus, result: Optional[dict] = None,
            error: Optional[str] = None, detail: Optional[str] = None) -> None:
    with factory() as s:
        job = s.get(Job, job_id)
        job.status = status.value
        job.result = result
        job.error, job.error_detail = error, detail
        job.finished_at = job.heartbeat_at = utcnow()
        if status is JobStatus.DONE and job.total:
            job.progress = job.total
        s.commit()


def requeue_stale(factory: sessionmaker, stale_minutes: float) -> list[int]:
    """Jobs left running by a dead consumer (no heartbeat for stale_minutes) go back to queued; their ids.

    One conditional UPDATE per job: of several processes recovering at once, one wins each row, and a live
    consumer's job (heartbeat fresh) is never taken."""
    cutoff = utcnow() - timedelta(minutes=stale_minutes)
    requeued = []
    with factory() as s:
        ids = list(s.scalars(select(Job.id).where(Job.status == JobStatus.RUNNING.value,
                                                  or_none_before(Job.heartbeat_at, cutoff))))
        for job_id in ids:
            done = s.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING.value,
                                               or_none_before(Job.heartbeat_at, cutoff))
                             .values(status=JobStatus.QUEUED.value, progress=0, heartbeat_at=utcnow(),
                                     error_detail="requeued: its consumer stopped")).rowcount
            if done:
                requeued.append(job_id)
        s.commit()
    return requeued


def queued_ids(factory: sessionmaker, idle_minutes: Optional[float] = None) -> list[int]:
    """Queued jobs (only those untouched for idle_minutes, when given): candidates for a lost queue task."""
    stmt = select(Job.id).where(Job.status == JobStatus.QUEUED.value).order_by(Job.id)
    if idle_minutes is not None:
        stmt = stmt.where(or_none_before(Job.heartbeat_at, utcnow() - timedelta(minutes=idle_minutes)))
    with factory() as s:
        return list(s.scalars(stmt))


def touch(factory: sessionmaker, ids: list[int]) -> None:
    """Mark queued jobs as just handed to the queue (the periodic recovery leaves them alone a while)."""
    if ids:
        with factory() as s:
            s.execute(update(Job).where(Job.id.in_(ids), Job.status == JobStatus.QUEUED.value)
                      .values(heartbeat_at=utcnow()))
            s.commit()


def or_none_before(column: Any, cutoff: Any) -> Any:
    """column IS NULL OR column < cutoff."""
    return column.is_(None) | (column < cutoff)
