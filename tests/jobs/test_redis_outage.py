"""Failure test: Redis stops while the app serves and a consumer runs. Saves are kept (no 500), the user is
told the job starts when the queue is back, and once Redis returns the jobs run to done."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Job, MatchReport, Notification
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.server  # starts Redis (not in `make test-fast`)


@pytest.fixture
def queue_url(redis_url):
    return redis_url


@pytest.fixture
def market(make_user, make_listing):
    company, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    demand = make_listing("demand", company, reviewer=broker)
    achievement = make_listing("achievement", uni, reviewer=broker)
    return {"company": company, "broker": broker, "demand": demand, "achievement": achievement}


def _job_id(resp) -> int:
    assert resp.status_code == 302 and "/jobs/" in resp.headers["Location"], resp.status_code
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def test_redis_down_mid_run_keeps_saves_and_jobs_finish_when_it_returns(
        app, session, client, login, market, make_listing, redis_server, consumer, job_row, zh):
    login(market["broker"])
    warm = _job_id(client.submit("/reports/new", {"scope": "batch", "k": 3}))
    wait_for(lambda: job_row(warm).status == "done", what="a job before the outage")

    redis_server.stop()
    resp = client.submit("/reports/new", {"scope": "batch", "k": 3})
    job_id = _job_id(resp)  # not a 500: the report and its job are committed
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert zh("Saved. The job could not be queued right now; it will start when the queue is back.") in page
    assert 'data-status="queued"' in page
    draft = make_listing("demand", market["company"], status="submitted", title="氢燃料电池双极板涂层")
    review = client.submit(f"/review/demand/{draft.id}/approve", {"reason": ""}, form_url="/review/")
    assert review.status_code == 302  # the decision is saved; its mail job waits for the queue
    session.expire_all()
    assert session.get(type(draft), draft.id).status == "published"
    report = session.scalar(select(MatchReport).where(MatchReport.job_id == job_id))
    assert report is not None and job_row(job_id).status == "queued"
    mail_job = session.scalar(select(Job).where(Job.kind == "mail.send").order_by(Job.id.desc()).limit(1))
    assert mail_job is not None and mail_job.status == "queued"

    redis_server.start()  # an empty Redis: the tasks sent during the outage were never there
    result = app.test_cli_runner().invoke(args=["jobs", "requeue"])
    assert result.exit_code == 0 and "handed to the queue" in result.output
    done = wait_for(lambda: (j := job_row(job_id)).status == "done" and j, what="the outage's job done")
    assert done.result["report_id"] == report.id
    wait_for(lambda: job_row(mail_job.id).status == "done", what="the outage's mail sent")
    session.expire_all()
    note = session.scalar(select(Notification).where(Notification.user_id == market["company"].id,
                                                     Notification.kind == "listing_approved",
                                                     Notification.params["listing_id"].as_integer() == draft.id))
    assert note.email_status == "sent"


def test_the_next_enqueue_after_an_outage_hands_lost_jobs_over(app, session, redis_server, consumer, job_row):
    from services import jobs

    import tests.jobs.test_queue  # noqa: F401  (registers the qtest.* handlers)

    redis_server.stop()
    lost = jobs.submit_job(session, "qtest.steps", None, {"n": 2})
    session.commit()
    assert app.extensions["jobs"].enqueue(lost.id) is False
    redis_server.start()
    later = jobs.submit_job(session, "qtest.steps", None, {"n": 1})
    session.commit()
    assert app.extensions["jobs"].enqueue(later.id) is True
    wait_for(lambda: job_row(lost.id).status == "done" and job_row(later.id).status == "done",
             what="both jobs done")


def test_job_status_pages_answer_while_redis_is_down(app, session, client, login, make_user, redis_server):
    from services import jobs

    import tests.jobs.test_queue  # noqa: F401

    owner = make_user("broker")
    job = jobs.submit_job(session, "qtest.steps", owner.id, {"n": 1})
    session.commit()
    redis_server.stop()
    login(owner)
    assert client.get(f"/jobs/{job.id}").status_code == 200
    assert client.get(f"/jobs/{job.id}.json").get_json()["status"] == "queued"


def test_a_job_running_when_redis_stops_still_finishes(app, session, redis_server, consumer, job_row):
    """The job's state lives in the database: losing the queue mid-job loses nothing of it."""
    import threading

    from services import jobs
    from tests.jobs.test_queue import GATES

    GATES["outage"] = threading.Event()
    job = jobs.submit_job(session, "qtest.steps", None, {"n": 4, "gate": "outage"})
    session.commit()
    assert app.extensions["jobs"].enqueue(job.id)
    wait_for(lambda: job_row(job.id).progress == 2, what="the job half-way")
    redis_server.stop()
    GATES["outage"].set()
    done = wait_for(lambda: (j := job_row(job.id)).status == "done" and j, what="done without Redis")
    assert (done.progress, done.attempts, done.result) == (4, 1, {"counted": 4})


def test_the_api_says_when_a_batch_report_is_saved_but_not_queued(app, session, market, redis_server, consumer,
                                                                   job_row):
    from services import tokens

    _row, clear = tokens.create_token(session, market["broker"], "outage test")
    session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {clear}", "Accept-Language": "en"}
    up = api.post("/api/v1/reports/", json={"scope": "batch", "k": 3}, headers=headers)
    assert up.status_code == 202 and up.get_json()["queued"] is True and up.get_json()["warning"] is None

    redis_server.stop()
    down = api.post("/api/v1/reports/", json={"scope": "batch", "k": 3}, headers=headers)
    body = down.get_json()
    assert down.status_code == 202 and body["queued"] is False
    assert body["warning"] == "Saved. The job could not be queued right now; it will start when the queue is back."
    assert job_row(body["job_id"]).status == "queued"  # the report and its job are committed
    redis_server.start()
