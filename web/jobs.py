"""Progress of background jobs: a page that refreshes itself and a JSON status for scripts."""
from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, jsonify, render_template
from flask_login import current_user

from services import jobs
from services.errors import NotFound, ServiceError

from . import policy
from .db import db, sessionmaker_for
from .errors import message_for

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
policy.allow("jobs.status", "GET", policy.SIGNED_IN, relation="self", note="owner of the job; admins all")
policy.allow("jobs.status_json", "GET", policy.SIGNED_IN, relation="self", note="owner of the job; admins all")


def init_app(app: Flask) -> None:
    """One runner per process; background mode picks up jobs a crash left behind on first request."""
    inline = app.config.get("JOBS_MODE", "background") == "inline"
    runner = jobs.JobRunner(sessionmaker_for(app), inline=inline)
    app.extensions["jobs"] = runner
    if not inline:
        state = {"recovered": False}

        @app.before_request
        def _recover_once() -> None:
            if not state["recovered"]:
                state["recovered"] = True
                runner.recover()


def runner() -> jobs.JobRunner:
    """This process's job runner (views call runner().enqueue(job.id) after commit)."""
    return current_app.extensions["jobs"]


def _job(job_id: int):
    try:
        return jobs.get_job_for(db(), job_id, current_user)
    except NotFound:
        abort(404)


@bp.route("/<int:job_id>")
def status(job_id: int):
    job = _job(job_id)
    error = message_for(ServiceError(job.error)) if job.error else None
    return render_template("jobs/status.html", job=job, error=error)


@bp.route("/<int:job_id>.json")
def status_json(job_id: int):
    job = _job(job_id)
    return jsonify(id=job.id, kind=job.kind, status=job.status, progress=job.progress, total=job.total,
                   percent=job.percent,
                   error=({"code": job.error, "message": message_for(ServiceError(job.error))}
                          if job.error else None),
                   result=job.result if job.status == "done" else None)
