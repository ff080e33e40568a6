"""Jobs through a real Huey queue (SQLite file and real Redis) drained by real consumer threads: progress,
retries of transient failures, permanent failures, idempotent keys, recovery of a dead consumer's job."""
from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from models import Job, utcnow
from services import jobs
from services.errors import ServiceError
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.server  # half its cases run the queue on Redis (not in `make test-fast`)


GATES: dict[str, threading.Event] = {}


@jobs.handler("qtest.steps")
def _steps(session, job, progress, ctx):
    """Counts to n, stopping half-way until the test opens its gate (so progress is seen mid-run)."""
    n = job.params["n"]
    for i in range(n):
        if i == n // 2 and job.params.get("gate"):
            assert GATES[job.params["gate"]].wait(30)
        progress(i + 1, n)
    return {"counted": n}


@jobs.handler("qtest.side_write")
def _side_write(session, job, progress, ctx):
    """Writes a row into another SQLite file: "database is locked" (a real OperationalError) while the test
    holds that file's write lock."""
    engine = create_engine(f"sqlite:///{job.params['path']}", connect_args={"timeout": 0.1})
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (job) VALUES (:j)"), {"j": job.id})
    finally:
        engine.dispose()
    return {"written": True}


@jobs.handler("qtest.refuse")
def _refuse(session, job, progress, ctx):
    raise ServiceError("not_found")


@jobs.handler("qtest.bug")
def _bug(session, job, progress, ctx):
    raise RuntimeError("a bug, with a secret detail")


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request, tmp_path):
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return f"sqlite:///{tmp_path / 'queue.db'}"


def _submit(app, session, kind, key=None, **params):
    job = jobs.submit_job(session, kind, None, params, key=key)
    session.commit()
    assert app.extensions["jobs"].enqueue(job.id)
    return job.id


def test_a_job_runs_to_done_through_the_queue_with_visible_progress(app, session, consumer, job_row):
    GATES["half"] = threading.Event()
    job_id = _submit(app, session, "qtest.steps", n=4, gate="half")
    mid = wait_for(lambda: (j := job_row(job_id)).progress == 2 and j, what="progress 2/4 while running")
    assert (mid.status, mid.total, mid.percent, mid.attempts) == ("running", 4, 50, 1)
    GATES["half"].set()
    done = wait_for(lambda: (j := job_row(job_id)).status == "done" and j, what="done")
    assert (done.progress, done.percent, done.result, done.attempts) == (4, 100, {"counted": 4}, 1)


def test_a_transient_failure_is_retried_then_succeeds(app, session, consumer, job_row, tmp_path):
    side = tmp_path / "side.db"
    setup = sqlite3.connect(side)
    setup.execute("CREATE TABLE t (job INTEGER)")
    setup.commit()
    lock = sqlite3.connect(side, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the handler's write meets "database is locked"
    job_id = _submit(app, session, "qtest.side_write", path=str(side))
    retrying = wait_for(lambda: (j := job_row(job_id)).attempts >= 1 and j.status == "queued" and j,
                        what="the job back in the queue after a locked database")
    assert "OperationalError" in retrying.error_detail and retrying.error is None
    lock.execute("ROLLBACK")
    done = wait_for(lambda: (j := job_row(job_id)).status == "done" and j, what="done after the lock is gone")
    assert done.attempts >= 2 and done.result == {"written": True}
    assert setup.execute("SELECT job FROM t").fetchall() == [(job_id,)]
    setup.close()
    lock.close()


def test_a_transient_failure_that_lasts_fails_after_the_retries(app, session, consumer, job_row, tmp_path):
    side = tmp_path / "side.db"
    lock = sqlite3.connect(side, isolation_level=None)
    lock.execute("CREATE TABLE t (job INTEGER)")
    lock.execute("BEGIN EXCLUSIVE")
    job_id = _submit(app, session, "qtest.side_write", path=str(side))
    failed = wait_for(lambda: (j := job_row(job_id)).status == "failed" and j, what="failed")
    assert failed.error == "job.unavailable" and failed.attempts == app.config["JOBS_RETRIES"] + 1
    lock.close()


@pytest.mark.parametrize("kind, code", [("qtest.refuse", "not_found"), ("qtest.bug", "job.internal")])
def test_a_permanent_error_fails_at_once_without_retry(app, session, consumer, job_row, kind, code):
    job_id = _submit(app, session, kind)
    failed = wait_for(lambda: (j := job_row(job_id)).status == "failed" and j, what="failed")
    time.sleep(app.config["JOBS_RETRY_DELAY"] * 4)  # a retry would have run by now
    again = job_row(job_id)
    assert (again.status, again.error, again.attempts) == ("failed", code, 1)
    assert "secret" not in (again.error_detail or "") and failed.finished_at == again.finished_at


def test_the_same_key_returns_the_queued_job_and_a_failed_one_gives_its_key_up(app, session):
    first = jobs.submit_job(session, "qtest.steps", None, {"n": 1}, key="k-1")
    session.commit()
    assert jobs.submit_job(session, "qtest.steps", None, {"n": 1}, key="k-1").id == first.id
    first.status = "failed"
    session.commit()
    second = jobs.submit_job(session, "qtest.steps", None, {"n": 1}, key="k-1")
    session.commit()
    assert second.id != first.id and session.get(Job, first.id).key is None


def test_a_done_content_keyed_job_is_returned_a_plain_one_is_not(app, session, consumer, job_row):
    job_id = _submit(app, session, "qtest.steps", key="content-1", n=1)
    wait_for(lambda: job_row(job_id).status == "done", what="done")
    reused = jobs.submit_job(session, "qtest.steps", None, {"n": 1}, key="content-1", reuse_done=True)
    assert reused.id == job_id
    fresh = jobs.submit_job(session, "qtest.steps", None, {"n": 1}, key="content-1")
    session.commit()
    assert fresh.id != job_id


def test_a_job_left_running_by_a_dead_consumer_is_requeued_at_consumer_start(app, session, job_row):
    job = jobs.submit_job(session, "qtest.steps", None, {"n": 3})
    job.status, job.attempts = "running", 1  # the consumer that claimed it died
    job.heartbeat_at = utcnow() - timedelta(minutes=app.config["JOBS_STALE_MINUTES"] + 1)
    session.commit()
    app.extensions["jobs"].start_embedded(1)
    done = wait_for(lambda: (j := job_row(job.id)).status == "done" and j, what="the recovered job done")
    assert done.attempts == 2 and done.result == {"counted": 3}


def test_recovery_never_takes_a_live_consumers_running_job(app, session, consumer, job_row):
    """A job runs for longer than the stale limit; its heartbeat keeps it from being requeued."""
    app.extensions["jobs"].settings.stale_minutes = 0.01  # 0.6 s; the heartbeat beats every 0.2 s
    GATES["long"] = threading.Event()
    job_id = _submit(app, session, "qtest.steps", n=2, gate="long")
    wait_for(lambda: job_row(job_id).status == "running", what="running")
    for _ in range(6):
        time.sleep(0.3)
        assert app.extensions["jobs"].recover() == 0
        assert job_row(job_id).status == "running"
    GATES["long"].set()
    done = wait_for(lambda: (j := job_row(job_id)).status == "done" and j, what="done")
    assert done.attempts == 1



def test_a_queue_url_without_a_backend_stops_the_app_at_start(tmp_path):
    from app import create_app

    with pytest.raises(ValueError, match="JOBS_QUEUE_URL"):
        create_app({"JOBS_MODE": "queue", "JOBS_QUEUE_URL": "mysql://db/queue",
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})


def test_the_app_starts_while_its_queue_is_unreachable_and_says_so_at_enqueue(app, session, tmp_path):
    """A queue file in a folder that cannot exist: create_app (and every CLI command) still works; the
    enqueue reports the failure and the row stays queued."""
    from app import create_app

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the queue's folder should be")
    broken = create_app({**app.config, "JOBS_QUEUE_URL": f"sqlite:///{blocker / 'queue.db'}"})
    job = jobs.submit_job(session, "qtest.steps", None, {"n": 1})
    session.commit()
    assert broken.extensions["jobs"].enqueue(job.id) is False
    session.expire_all()
    assert session.get(Job, job.id).status == "queued"
    broken.extensions["db_engine"].dispose()
    broken.extensions["db_write_engine"].dispose()
