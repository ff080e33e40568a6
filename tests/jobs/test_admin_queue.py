"""The admins' queue page: counts per status, recent jobs with kind, owner, attempts, progress and error, and
a retry action for failed jobs (POST with CSRF, admins only, audited)."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from models import AuditEvent
from services import jobs
from services.errors import ServiceError
from tests.jobs.conftest import wait_for

REFUSED_ONCE: set[str] = set()


@jobs.handler("qtest.refuse_once")
def _refuse_once(session, job, progress, ctx):
    """Fails the first time it runs for a job (a permanent error then), succeeds when retried."""
    if job.params["token"] not in REFUSED_ONCE:
        REFUSED_ONCE.add(job.params["token"])
        raise ServiceError("not_found")
    progress(1, 1)
    return {"ok": True}


def _failed_job(app, session, owner, job_row):
    job = jobs.submit_job(session, "qtest.refuse_once", owner.id, {"token": uuid.uuid4().hex})
    session.commit()
    app.extensions["jobs"].enqueue(job.id)
    wait_for(lambda: job_row(job.id).status == "failed", what="failed")
    return job.id


def test_admin_sees_counts_and_failures_and_retries_a_failed_job(app, session, client, make_user, login,
                                                                 consumer, job_row, zh):
    admin, broker = make_user("admin"), make_user("broker")
    job_id = _failed_job(app, session, broker, job_row)
    login(admin)
    page = client.get("/jobs/queue").get_data(as_text=True)
    assert '<li data-status="failed">' in page and f'data-job="{job_id}" data-status="failed"' in page
    assert zh("Not found.") in page and "qtest.refuse_once" in page and f"#{broker.id}" in page
    resp = client.submit(f"/jobs/{job_id}/retry", {}, form_url="/jobs/queue")
    assert resp.status_code == 302
    done = wait_for(lambda: (j := job_row(job_id)).status == "done" and j, what="done after the retry")
    assert done.result == {"ok": True} and done.error is None and done.attempts == 1
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "job.retried"))
    assert event.actor_id == admin.id and event.target == f"job:{job_id}"


def test_only_a_failed_job_can_be_retried(app, session, client, make_user, login, consumer, job_row, zh):
    admin = make_user("admin")
    token = uuid.uuid4().hex
    REFUSED_ONCE.add(token)  # it will succeed
    job = jobs.submit_job(session, "qtest.refuse_once", None, {"token": token})
    session.commit()
    app.extensions["jobs"].enqueue(job.id)
    wait_for(lambda: job_row(job.id).status == "done", what="done")
    login(admin)
    resp = client.submit(f"/jobs/{job.id}/retry", {}, form_url="/jobs/queue", follow_redirects=True)
    assert zh("Only a failed job can be retried; this one is queued, running or done.") in resp.get_data(as_text=True)
    assert client.submit("/jobs/99999/retry", {}, form_url="/jobs/queue").status_code == 404


def test_retry_needs_an_admin_and_a_csrf_token(app, session, client, make_user, login, consumer, job_row):
    broker, admin = make_user("broker"), make_user("admin")
    job_id = _failed_job(app, session, broker, job_row)
    login(broker)
    assert client.get("/jobs/queue").status_code == 403
    assert client.submit(f"/jobs/{job_id}/retry", {}, form_url="/jobs/queue").status_code == 403
    client.post("/logout", data={"csrf_token": client.token("/")})
    login(admin)
    assert client.post(f"/jobs/{job_id}/retry", data={}).status_code == 400
    assert job_row(job_id).status == "failed"


def test_jobs_status_cli_lists_counts_and_failures(app, session, make_user, consumer, job_row):
    job_id = _failed_job(app, session, make_user("broker"), job_row)
    out = app.test_cli_runner().invoke(args=["jobs", "status"]).output
    assert "failed=1" in out and f"#{job_id}\tqtest.refuse_once\tattempts=1\tnot_found" in out
