"""The job context: built once per app, its slots filled as the app starts, handed to every handler."""
from __future__ import annotations

import pytest

from services import jobs

SEEN: list[jobs.JobContext] = []


@jobs.handler("ctxtest.seen")
def _seen(session, job, progress, ctx):
    SEEN.append(ctx)
    return {"matching": ctx.matching is not None}


def test_the_app_wires_one_context_with_its_parts(app):
    ctx = app.extensions["job_context"]
    assert app.extensions["jobs"].context is ctx and ctx.app is app
    assert ctx.matching is app.extensions["matching"]
    assert ctx.reranker is not None and ctx.mailer is not None and ctx.config["SECRET_KEY"] == "test-secret"


def test_a_handler_gets_the_context_it_is_run_with(app, session, job_row):
    ctx = app.extensions["job_context"]
    job = jobs.submit_job(session, "ctxtest.seen", None, {})
    session.commit()
    jobs.run_job(ctx, job.id)
    assert SEEN[-1] is ctx and job_row(job.id).result == {"matching": True}


def test_an_unknown_or_unfilled_slot_is_named(app):
    ctx = jobs.JobContext(factory=app.extensions["db_sessionmaker"])
    with pytest.raises(AttributeError, match="no slot 'matcher'"):
        ctx.provide(matcher=object())
    with pytest.raises(RuntimeError, match="no matching"):
        ctx.need("matching")
    assert ctx.provide(mailer="m").need("mailer") == "m"
