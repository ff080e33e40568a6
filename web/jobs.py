"""Background jobs: the app's queue (Huey or inline), progress pages, the admins' queue page, `flask jobs`."""
from __future__ import annotations

import logging

import click
from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from models import JobStatus
from services import audit, jobs, model_versions
from services.errors import NotFound, ServiceError
from services.queue import JobQueue, QueueSettings, build_huey, check_url

from . import policy
from .access import roles_required
from .cli_group import CliGroup
from .db import after_commit, db, is_missing_schema, sessionmaker_for, write_session
from .errors import message_for, refusal
from .forms import ActionForm

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
log = logging.getLogger(__name__)
jobs_cli = CliGroup("jobs", help="The job queue: run a worker, requeue lost jobs, show counts.")
policy.allow("jobs.status", "GET", policy.SIGNED_IN, relation="self", note="owner of the job; admins all")
policy.allow("jobs.status_json", "GET", policy.SIGNED_IN, relation="self", note="owner of the job; admins all")
policy.allow("jobs.queue", "GET", {policy.ADMIN}, relation="staff")
policy.allow("jobs.retry", "POST", {policy.ADMIN}, relation="staff")


def init_context(app: Flask) -> jobs.JobContext:
    """The app's job context (services/jobs.py), built once before the parts that provide its slots."""
    ctx = jobs.JobContext(factory=sessionmaker_for(app), config=app.config, app=app)
    app.extensions["job_context"] = ctx
    return ctx


def context(app: Flask | None = None) -> jobs.JobContext:
    """This app's job context (the current app's when none is given)."""
    return (app or current_app).extensions["job_context"]


def build_queue(app: Flask) -> JobQueue:
    """The app's queue from its settings: inline (no Huey) or Huey on JOBS_QUEUE_URL."""
    c = app.config
    periodic = []
    if c.get("MODEL_ADAPT_SCHEDULE") and c.get("JOBS_MODE", "queue") == "inline":
        log.warning("MODEL_ADAPT_SCHEDULE is set but JOBS_MODE=inline runs no consumer: the schedule never fires")
    if c.get("MODEL_ADAPT_SCHEDULE"):  # the nightly adaptation (docs/model.md "Adapting the model")
        params = model_versions.scheduled_params(c)
        periodic.append(("techmatch.model_adapt", c["MODEL_ADAPT_SCHEDULE"], c.get("PLATFORM_TIMEZONE") or "UTC",
                         lambda session, firing: model_versions.submit_scheduled(session, params, firing)))
    settings = QueueSettings(retries=int(c["JOBS_RETRIES"]), retry_delay=float(c["JOBS_RETRY_DELAY"]),
                             stale_minutes=float(c["JOBS_STALE_MINUTES"]),
                             heartbeat_seconds=float(c["JOBS_HEARTBEAT_SECONDS"]), periodic=tuple(periodic))
    inline = c.get("JOBS_MODE", "queue") == "inline"
    url = c["JOBS_QUEUE_URL"]
    if not inline:
        check_url(url)
    return JobQueue(context(app), None if inline else (lambda: build_huey(url)), settings)


def init_app(app: Flask) -> None:
    """One queue per app, running jobs with the app's job context (init_context first); with
    JOBS_EMBEDDED_WORKER the first request starts consumer threads here."""
    queue = build_queue(app)
    app.extensions["jobs"] = queue
    app.cli.add_command(jobs_cli)
    if not queue.inline and app.config.get("INDEX_SYNC") != "inline":
        app.extensions["matching"].use_queue(queue, lambda: write_session(app))
    if queue.inline or not app.config.get("JOBS_EMBEDDED_WORKER", True):
        return

    @app.before_request
    def _start_embedded_worker() -> None:
        queue.start_embedded(int(app.config.get("JOBS_WORKERS", 1)))


def runner() -> JobQueue:
    """This app's job queue (views hand a job over once their unit commits: after_commit(lambda: start(id)))."""
    return current_app.extensions["jobs"]


def start(job_id: int) -> bool:
    """Hand a committed job to the queue; when the queue is down, tell the user the save is kept."""
    if runner().enqueue(job_id):
        return True
    flash(_("Saved. The job could not be queued right now; it will start when the queue is back."), "warning")
    return False


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
                   percent=job.percent, attempts=job.attempts,
                   error=({"code": job.error, "message": message_for(ServiceError(job.error))}
                          if job.error else None),
                   result=job.result if job.status == "done" else None)


@bp.route("/queue")
@roles_required("admin")
def queue():
    status_filter = request.args.get("status", "")
    return render_template("jobs/queue.html", counts=jobs.counts(db()), rows=jobs.recent(db(), status_filter),
                           status_filter=status_filter, statuses=[s.value for s in JobStatus],
                           form=ActionForm(), backend=_backend_label(), message_for=message_for,
                           ServiceError=ServiceError)


def _backend_label() -> str:
    q = runner()
    if q.inline:
        return "inline"
    return "redis" if current_app.config["JOBS_QUEUE_URL"].startswith("redis") else "sqlite"


@bp.route("/<int:job_id>/retry", methods=["POST"])
@roles_required("admin")
def retry(job_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        job = jobs.retry_failed(db(), job_id)
        audit.record(db(), "job.retried", actor=current_user, target=f"job:{job.id}", detail={"kind": job.kind})
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return redirect(url_for("jobs.queue"))
    after_commit(lambda: _queued_again(job_id))
    return redirect(url_for("jobs.queue"))


def _queued_again(job_id: int) -> None:
    if start(job_id):
        flash(_("Job #%(id)s is queued again.", id=job_id), "success")


# ---------------------------------------------------------------- CLI

def _queue_or_fail() -> JobQueue:
    q = runner()
    if q.inline:
        raise click.ClickException("JOBS_MODE=inline: there is no queue / 当前为内联模式，没有任务队列")
    return q


@jobs_cli.command("worker", help="Run a queue consumer (thread workers) for this app until stopped.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker threads (default: JOBS_WORKERS) / 工作线程数")
def worker(workers: int | None) -> None:
    q = _queue_or_fail()
    n = workers or int(current_app.config.get("JOBS_WORKERS", 1))
    try:
        handed = q.recover()
        click.echo(f"recovered: {handed} queued jobs handed to the queue")
    except Exception as err:  # queue down at start: the consumer keeps trying, the periodic task recovers
        click.echo(f"recovery at start failed ({type(err).__name__}); the periodic recovery will retry", err=True)
    click.echo(f"consumer: {n} thread workers on {_backend_label()} (Ctrl-C stops after running jobs finish)")
    q.consumer(n).run()


@jobs_cli.command("requeue", help="Hand queued jobs to the queue again (after a queue outage) and requeue "
                                  "jobs of dead consumers.")
def requeue() -> None:
    q = _queue_or_fail()
    try:
        n = q.recover()
    except Exception as err:
        if is_missing_schema(err):
            raise  # the CLI group's `flask db upgrade` line (web/cli_group.py), not "queue unreachable"
        raise click.ClickException(f"queue unreachable ({type(err).__name__}) / 队列无法连接")
    click.echo(f"{n} queued jobs handed to the queue / 已重新入队")


@jobs_cli.command("status", help="Jobs per status and the newest failures.")
def status_cli() -> None:
    with sessionmaker_for(current_app)() as s:
        click.echo("  ".join(f"{k}={v}" for k, v in jobs.counts(s).items()))
        for job in jobs.recent(s, "failed", limit=10):
            click.echo(f"#{job.id}\t{job.kind}\tattempts={job.attempts}\t{job.error}\t{job.error_detail or ''}")
