"""Slow work as jobs: a view submits, a runner executes the registered handler, the user polls progress.

The Job row is the contract (status, progress, result, error code); what executes it is swappable:
inline (tests, CLI) or one background thread per process (the embedded default).
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Optional, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from models import Job, JobStatus, utcnow

from .errors import NotFound, ServiceError

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Reports progress from inside a handler: progress(done, total)."""

    def __call__(self, done: int, total: Optional[int] = None) -> None: ...


# handler(session, job, progress) -> result dict (JSON-serialisable); raise ServiceError to fail cleanly
Handler = Callable[[Session, Job, Progress], dict]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that executes jobs of this kind."""

    def register(fn: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not fn:
            raise ValueError(f"job kind {kind!r} registered twice")
        HANDLERS[kind] = fn
        return fn

    return register


def submit_job(session: Session, kind: str, owner_id: Optional[int], params: dict[str, Any]) -> Job:
    """Record a queued job (the caller commits, then hands job.id to the runner)."""
    if kind not in HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    job = Job(kind=kind, owner_id=owner_id, params=params, status=JobStatus.QUEUED.value)
    session.add(job)
    session.flush()
    return job


def get_job_for(session: Session, job_id: int, user: Any) -> Job:
    """The job if this user owns it (admins see all); otherwise NotFound, never a hint it exists."""
    job = session.get(Job, job_id)
    if job is None or (job.owner_id != user.id and user.role != "admin"):
        raise NotFound()
    return job


def run_job(factory: sessionmaker, job_id: int) -> None:
    """Execute one queued job to done or failed; never raises (errors land on the row)."""
    with factory() as session:
        claimed = session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.RUNNING.value, started_at=utcnow())).rowcount
        session.commit()
        if not claimed:
            return  # already taken by another runner, or finished
        job = session.get(Job, job_id)
        try:
            result = HANDLERS[job.kind](session, job, _progress_writer(factory, job_id))
            session.commit()
            _finish(factory, job_id, status=JobStatus.DONE, result=result or {})
        except ServiceError as exc:
            session.rollback()
            _finish(factory, job_id, status=JobStatus.FAILED, error=exc.code,
                    detail=_detail(exc.params))
        except Exception:
            session.rollback()
            log.exception("job %s (%s) failed", job_id, job.kind)
            _finish(factory, job_id, status=JobStatus.FAILED, error="job.internal")


def _detail(params: dict) -> Optional[str]:
    return "; ".join(f"{k}={v}" for k, v in params.items()) or None


def _progress_writer(factory: sessionmaker, job_id: int) -> Progress:
    def progress(done: int, total: Optional[int] = None) -> None:
        values: dict[str, Any] = {"progress": int(done)}
        if total is not None:
            values["total"] = int(total)
        with factory() as s:  # own transaction: visible to pollers while the job runs
            s.execute(update(Job).where(Job.id == job_id).values(**values))
            s.commit()

    return progress


def _finish(factory: sessionmaker, job_id: int, *, status: JobStatus, result: Optional[dict] = None,
            error: Optional[str] = None, detail: Optional[str] = None) -> None:
    with factory() as s:
        job = s.get(Job, job_id)
        job.status = status.value
        job.result = result
        job.error, job.error_detail = error, detail
        job.finished_at = utcnow()
        if status is JobStatus.DONE and job.total:
            job.progress = job.total
        s.commit()


class JobRunner:
    """Runs jobs inline (tests, CLI) or in one daemon thread per process (embedded default)."""

    def __init__(self, factory: sessionmaker, inline: bool) -> None:
        self.factory = factory
        self.inline = inline
        self._queue: "queue.Queue[int]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def enqueue(self, job_id: int) -> None:
        """Run this committed job now (inline) or soon (background)."""
        if self.inline:
            run_job(self.factory, job_id)
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-runner", daemon=True)
                self._thread.start()
        self._queue.put(job_id)

    def recover(self) -> int:
        """Requeue jobs a crash left queued or running; returns how many."""
        with self.factory() as s:
            s.execute(update(Job).where(Job.status == JobStatus.RUNNING.value)
                      .values(status=JobStatus.QUEUED.value, progress=0))
            ids = list(s.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED.value)))
            s.commit()
        for job_id in ids:
            self.enqueue(job_id)
        return len(ids)

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                run_job(self.factory, job_id)
            finally:
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every queued job has run (tests, CLI)."""
        self._queue.join()
