"""Jobs: status, progress and errors land on the row; runners never run a job twice."""
from __future__ import annotations

import pytest

from services import jobs
from services.errors import ServiceError
from web.jobs import context as job_context


@jobs.handler("test.count")
def _count(session, job, progress, ctx):
    n = job.params["n"]
    for i in range(n):
        progress(i + 1, n)
    return {"counted": n}


@jobs.handler("test.refuse")
def _refuse(session, job, progress, ctx):
    raise ServiceError("job.internal")


@jobs.handler("test.crash")
def _crash(session, job, progress, ctx):
    raise RuntimeError("secret detail that must not reach the user")


def _run(app, session, kind, **params):
    job = jobs.submit_job(session, kind, None, params)
    session.commit()
    jobs.run_job(job_context(app), job.id)
    session.expire_all()
    return session.get(type(job), job.id)


def test_done_job_keeps_result_and_full_progress(app, session):
    job = _run(app, session, "test.count", n=5)
    assert (job.status, job.progress, job.total, job.percent) == ("done", 5, 5, 100)
    assert job.result == {"counted": 5} and job.finished_at is not None


def test_service_error_fails_with_its_code(app, session):
    job = _run(app, session, "test.refuse")
    assert job.status == "failed" and job.error == "job.internal"


def test_crash_fails_without_leaking_the_exception(app, session):
    job = _run(app, session, "test.crash")
    assert job.status == "failed" and job.error == "job.internal"
    assert "secret" not in (job.error_detail or "")


def test_a_job_runs_once(app, session):
    job = _run(app, session, "test.count", n=2)
    first = job.finished_at
    jobs.run_job(job_context(app), job.id)  # second runner finds it taken
    session.expire_all()
    assert session.get(type(job), job.id).finished_at == first


def test_unknown_kind_is_refused(session):
    with pytest.raises(ValueError):
        jobs.submit_job(session, "no.such.kind", None, {})


def test_recovery_requeues_a_dead_consumers_job_but_not_a_live_one(app, session):
    from datetime import timedelta

    from models import utcnow

    dead = jobs.submit_job(session, "test.count", None, {"n": 3})
    live = jobs.submit_job(session, "test.count", None, {"n": 3})
    dead.status = live.status = "running"  # as a crash (dead) or a busy consumer (live) leaves them
    dead.heartbeat_at = utcnow() - timedelta(minutes=app.config["JOBS_STALE_MINUTES"] + 1)
    session.commit()
    assert app.extensions["jobs"].recover() == 1  # inline: the requeued job runs here
    session.expire_all()
    assert session.get(type(dead), dead.id).status == "done"
    assert session.get(type(live), live.id).status == "running"


def test_status_page_and_json_only_for_the_owner(app, session, client, make_user, login):
    owner, other = make_user("broker"), make_user("broker")
    job = jobs.submit_job(session, "test.count", owner.id, {"n": 4})
    session.commit()
    login(other)
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/{job.id}.json").status_code == 404
    client.post("/logout", data={"csrf_token": client.token("/")})
    login(owner)
    page = client.get(f"/jobs/{job.id}")
    assert page.status_code == 200 and 'data-status="queued"' in page.get_data(as_text=True)
    app.extensions["jobs"].enqueue(job.id)  # inline in tests
    data = client.get(f"/jobs/{job.id}.json").get_json()
    assert data["status"] == "done" and data["percent"] == 100 and data["result"] == {"counted": 4}


def test_anonymous_is_sent_to_sign_in(client, app, session):
    job = jobs.submit_job(session, "test.count", None, {"n": 1})
    session.commit()
    response = client.get(f"/jobs/{job.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
