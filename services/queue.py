"""The job queue behind the Job rows: Huey on a SQLite file (no server) or on Redis, or no queue at all (inline).

A queue task carries only a job id; the row in the database stays the truth. Enqueueing never loses a
save: the row is committed first, and a queue that cannot be reached leaves the job queued until the
next successful enqueue, `flask jobs requeue` or the periodic recovery hands it over again.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from sqlalchemy.exc import IntegrityError

from . import jobs

log = logging.getLogger(__name__)


def _sqlite_huey(url: str, name: str) -> Any:
    from huey import SqliteHuey

    path = Path(url[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(path), results=False, timeout=15)


def _redis_huey(url: str, name: str) -> Any:
    from huey import RedisHuey
    from redis import ConnectionPool

    # short socket timeouts: an unreachable Redis answers a request with an error in seconds, not minutes
    pool = ConnectionPool.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    return RedisHuey(name, connection_pool=pool, results=False)


BACKENDS: dict[str, Callable[[str, str], Any]] = {"sqlite": _sqlite_huey, "redis": _redis_huey,
                                                   "rediss": _redis_huey}


def check_url(url: str) -> str:
    """The URL's scheme, or ValueError when no backend serves it (a configuration mistake fails at start)."""
    scheme = url.split(":", 1)[0]
    if scheme not in BACKENDS or (scheme == "sqlite" and not url.startswith("sqlite:///")):
        raise ValueError(f"JOBS_QUEUE_URL must start with sqlite:/// or redis://, not {url!r}")
    return scheme


def build_huey(url: str, name: str = "techmatch") -> Any:
    """A Huey instance for JOBS_QUEUE_URL: sqlite:///path/file.db or redis://host:port/db."""
    return BACKENDS[check_url(url)](url, name)


@dataclass
class QueueSettings:
    """How jobs are retried and recovered (JOBS_RETRIES, JOBS_RETRY_DELAY, JOBS_STALE_MINUTES...)."""

    retries: int = 3
    retry_delay: float = 10.0
    stale_minutes: float = 10.0
    heartbeat_seconds: float = 30.0
    recover_every_minutes: int = 1
    # jobs submitted on a schedule: (task name, crontab "m h dom mon dow", IANA zone it is read in,
    # submit(session, firing) -> the Job to hand over, or None; firing: the local minute the crontab matched,
    # the same in every consumer, for the job's idempotency key)
    periodic: tuple[tuple[str, str, str, Callable[[Any, str], Any]], ...] = ()


def local_minute(now: Any, zone: str) -> Any:
    """Huey's clock (naive UTC, its default) as the wall clock of ``zone``, naive, for a crontab to read."""
    from zoneinfo import ZoneInfo

    return now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def last_firing(matches: Callable[[Any], bool], now: Any, look_back_minutes: int = 24 * 60) -> str:
    """The latest minute at or before ``now`` that the crontab matches ("YYYY-mm-ddTHH:MM"): consumers that
    run the task a few seconds apart, even across a minute boundary, name the same firing."""
    from datetime import timedelta

    minute = now.replace(second=0, microsecond=0)
    for back in range(look_back_minutes + 1):
        at = minute - timedelta(minutes=back)
        if matches(at):
            return at.strftime("%Y-%m-%dT%H:%M")
    return minute.strftime("%Y-%m-%dT%H:%M")


class JobQueue:
    """Hands committed jobs to Huey (or runs them inline) and recovers jobs whose task was lost."""

    def __init__(self, context: jobs.JobContext, huey_factory: Optional[Callable[[], Any]],
                 settings: QueueSettings) -> None:
        self.context = context  # handed to every job this queue runs (services/jobs.py: the job context)
        self.factory = context.factory
        self._huey_factory = huey_factory
        self._huey: Optional[Any] = None
        self._run_task: Optional[Any] = None
        self.settings = settings
        self._lost = False  # an enqueue failed: hand queued rows over again once the queue answers
        self._consumer: Optional[Any] = None
        self._lock = threading.RLock()

    @property
    def inline(self) -> bool:
        """True when jobs run in the caller (tests, CLI), without a queue."""
        return self._huey_factory is None

    @property
    def huey(self) -> Any:
        """The Huey instance, built on first use: an app (and every CLI command) starts even while the
        queue is unreachable; the first enqueue then reports it."""
        with self._lock:
            if self._huey is None:
                huey = self._huey_factory()
                self._define_tasks(huey)
                self._huey = huey
            return self._huey

    def _task(self, job_id: int) -> None:
        self.huey  # noqa: B018 - builds the queue and its tasks on first use
        self._run_task(job_id)

    def _define_tasks(self, huey: Any) -> None:
        from huey import crontab

        s = self.settings

        @huey.task(retries=s.retries, retry_delay=s.retry_delay, name="techmatch.run_job")
        def run_job(job_id: int) -> None:
            jobs.run_job(self.context, job_id, retries=s.retries, heartbeat_seconds=s.heartbeat_seconds)

        @huey.periodic_task(crontab(minute=f"*/{max(1, s.recover_every_minutes)}"), name="techmatch.recover")
        def recover() -> None:
            self.recover(idle_minutes=s.stale_minutes)

        for name, cron, zone, submit in s.periodic:
            self._define_periodic(huey, name, cron, zone, submit)
        self._run_task = run_job

    def _define_periodic(self, huey: Any, name: str, cron: str, zone: str,
                         submit: Callable[[Any, str], Any]) -> None:
        """A Huey periodic task that submits a job when the crontab, read in ``zone``, matches. Every consumer
        runs it, each at its own second of the minute; submit keys the job by the firing, so one job each."""
        from huey import crontab

        matches = crontab(*cron.split(), strict=True)

        @huey.periodic_task(lambda now: matches(local_minute(now, zone)), name=name)
        def fire() -> None:
            firing = last_firing(matches, local_minute(datetime.now(timezone.utc).replace(tzinfo=None), zone))
            try:
                self.submit_now(lambda session: submit(session, firing))
            except IntegrityError:  # another consumer recorded this firing's job a moment earlier
                log.info("%s: the job of %s was queued by another consumer", name, firing)

    def submit_now(self, submit: Callable[[Any], Any]) -> Optional[int]:
        """Record the job submit(session) returns, commit, and hand it to the queue; its id (None: nothing)."""
        with self.factory() as session:
            job = submit(session)
            if job is None:
                return None
            session.commit()
            job_id = job.id
        self.enqueue(job_id)
        return job_id

    def enqueue(self, job_id: int) -> bool:
        """Run this committed job now (inline) or hand it to the queue; False when the queue is unreachable
        (the job stays queued and is handed over again later)."""
        if self.inline:
            jobs.run_job(self.context, job_id, retries=0)
            return True
        try:
            self._task(job_id)
        except Exception as err:  # Redis down, SQLite queue file locked: the committed row waits
            log.warning("job %s saved but not queued (%s); it starts when the queue is back", job_id,
                        type(err).__name__)
            self._lost = True
            return False
        if self._lost:
            self._lost = False
            self.requeue()
        return True

    def requeue(self, idle_minutes: Optional[float] = None) -> int:
        """Hand every queued job (untouched for idle_minutes, when given) to the queue again; how many."""
        return self._hand_over(jobs.queued_ids(self.factory, idle_minutes))

    def _hand_over(self, ids: list[int]) -> int:
        handed = []
        for job_id in ids:
            try:
                self._task(job_id) if not self.inline else jobs.run_job(self.context, job_id)
            except Exception as err:
                log.warning("requeue stopped: queue unreachable (%s)", type(err).__name__)
                self._lost = True
                break
            handed.append(job_id)
        jobs.touch(self.factory, handed)
        return len(handed)

    def recover(self, idle_minutes: Optional[float] = None) -> int:
        """Requeue jobs of dead consumers (stale heartbeat) and hand queued jobs whose task may be lost (all,
        or those untouched for idle_minutes) to the queue again; how many were handed over. A duplicate task
        is harmless: a job is claimed once."""
        stale = jobs.requeue_stale(self.factory, self.settings.stale_minutes)
        others = [i for i in jobs.queued_ids(self.factory, idle_minutes) if i not in set(stale)]
        return self._hand_over(stale + others)

    def consumer(self, workers: int = 1, *, embedded: bool = False) -> Any:
        """A Huey consumer of thread workers for this queue (embedded: no signal handlers, not main thread)."""
        from huey.consumer import Consumer

        class EmbeddedConsumer(Consumer):
            def _set_signal_handlers(self) -> None:  # only the main thread may; the web server owns them
                pass

        cls = EmbeddedConsumer if embedded else Consumer
        return cls(self.huey, workers=workers, worker_type="thread", periodic=True, initial_delay=0.05,
                   max_delay=1.0, backoff=1.15, check_worker_health=False)

    def start_embedded(self, workers: int = 1) -> None:
        """Start consumer threads in this process once (the default for the SQLite queue: `make run` needs
        no separate worker)."""
        with self._lock:
            if self._consumer is None and not self.inline:
                self._consumer = self.consumer(workers, embedded=True)
                self._consumer.start()
                try:  # every web process starts one: only jobs idle for a while, not the whole backlog
                    self.recover(idle_minutes=self.settings.stale_minutes)
                except Exception as err:  # e.g. Redis down at start: the periodic task retries
                    log.warning("job recovery at start failed: %s", type(err).__name__)

    def stop_embedded(self) -> None:
        """Stop this process's consumer threads (tests), letting running jobs finish."""
        with self._lock:
            if self._consumer is not None:
                self._consumer.stop(graceful=True)
                self._consumer = None
