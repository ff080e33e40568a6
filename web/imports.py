"""Bulk import of demands (companies) and achievements (universities): template, upload, preview, import.

Small files are checked and imported within the request; bigger ones (IMPORT_INLINE_ROWS) run as
background jobs with progress. The uploaded file is read in memory and never stored.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.orm import Session
from wtforms import BooleanField

from models import ImportBatch
from services import exports, imports, jobs, listings
from services.errors import NotFound, ServiceError
from services.uploads import UploadLimits, read_table
from services.matching import MatchingUnavailable

from . import policy
from .db import abandon, after_commit, db
from .errors import message_for, refusal
from .forms import FlaskForm
from .i18n import locale_code
from .jobs import context as job_context
from .jobs import start as start_job

bp = Blueprint("imports", __name__, url_prefix="/imports")
log = logging.getLogger(__name__)
ROLE_KIND = {"company": "demand", "university": "achievement"}

policy.allow("imports.template", "GET", policy.LISTERS, note="the template of the user's own kind")
policy.allow("imports.upload", ("GET", "POST"), policy.LISTERS, note="companies: demands; universities: achievements")
policy.allow("imports.preview", "GET", policy.LISTERS, relation="owner", note="the uploader's own batch")
policy.allow("imports.commit", "POST", policy.LISTERS, relation="owner", note="the uploader's own batch")
policy.allow("imports.rejects", "GET", policy.LISTERS, relation="owner", note="the uploader's own batch")


class UploadForm(FlaskForm):
    file = FileField(_l("Spreadsheet (.xlsx or .csv)"),
                     validators=[FileRequired(message=_l("Choose a file to upload."))])


class ImportForm(FlaskForm):
    include_duplicates = BooleanField(_l("Also import rows flagged only as possible duplicates"))


def _kind() -> str:
    kind = ROLE_KIND.get(current_user.role)
    if kind is None:
        abort(403)
    return kind


def _limits() -> UploadLimits:
    c = current_app.config
    return UploadLimits(max_bytes=c["IMPORT_MAX_BYTES"], max_rows=c["IMPORT_MAX_ROWS"],
                        max_uncompressed=c["IMPORT_MAX_UNCOMPRESSED"], max_ratio=c["IMPORT_MAX_RATIO"],
                        max_members=c["IMPORT_MAX_MEMBERS"])


@bp.route("/template.xlsx")
def template():
    kind = _kind()
    name = "demands-template.xlsx" if kind == "demand" else "achievements-template.xlsx"
    return Response(imports.template_xlsx(db(), kind), mimetype=exports.XLSX_MIME,
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.route("/", methods=["GET", "POST"])
def upload():
    kind = _kind()
    form = UploadForm()
    if form.validate_on_submit():
        try:
            sheet = imports.parse_rows(kind, read_table(form.file.data.read(), _limits()))
            batch = imports.start_batch(db(), kind, current_user, form.file.data.filename or "", sheet)
        except ServiceError as err:
            flash(refusal(err), "danger")
            return render_template("imports/upload.html", kind=kind, form=form), 422
        return _check(batch)
    return render_template("imports/upload.html", kind=kind, form=form), 422 if form.errors else 200


def _check(batch: ImportBatch):
    """Check the rows now, or in a background job for big files."""
    if batch.total > current_app.config["IMPORT_INLINE_ROWS"]:
        href = url_for("imports.preview", batch_id=batch.id)
        job = jobs.submit_job(db(), "import.validate", current_user.id, {"batch_id": batch.id, "href": href})
        batch.job_id = job_id = job.id
        after_commit(lambda: start_job(job_id))
        return redirect(url_for("jobs.status", job_id=job_id))
    imports.validate_batch(db(), batch, similar_checker(job_context()))
    return redirect(url_for("imports.preview", batch_id=batch.id))


def _batch(batch_id: int) -> ImportBatch:
    try:
        return imports.get_batch(db(), batch_id, current_user)
    except NotFound:
        abort(404)


@bp.route("/<int(max=2147483647):batch_id>")
def preview(batch_id: int):
    batch = _batch(batch_id)
    rows = batch.rows or []
    counts = {"ok": sum(1 for r in rows if not r["problems"]),
              "dup": sum(1 for r in rows if r["problems"] and imports.importable(r, True)),
              "bad": sum(1 for r in rows if not imports.importable(r, True))}
    return render_template("imports/preview.html", batch=batch, rows=rows, counts=counts, form=ImportForm(),
                           describe=describe, kind=batch.kind)


@bp.route("/<int(max=2147483647):batch_id>/import", methods=["POST"])
def commit(batch_id: int):
    batch = _batch(batch_id)
    form = ImportForm()
    if not form.validate_on_submit():
        abort(400)
    include = bool(form.include_duplicates.data)
    try:
        imports.claim_for_import(db(), batch)
    except ServiceError:
        # another confirm (a double click, a retry, a second tab) won: its import is the only one
        abandon()
        return _confirmed_already(batch)
    try:
        n = sum(1 for r in batch.rows if imports.importable(r, include))
        if n > current_app.config["IMPORT_INLINE_ROWS"]:
            job = jobs.submit_job(db(), "import.commit", current_user.id, {
                "batch_id": batch.id, "include_duplicates": include,
                "href": url_for("imports.preview", batch_id=batch.id)}, key=imports.commit_job_key(batch.id))
            batch.job_id = job_id = job.id
            after_commit(lambda: start_job(job_id))
            return redirect(url_for("jobs.status", job_id=job_id))
        result = imports.import_batch(db(), batch, include)
    except ServiceError as err:
        # the claim above is rolled back with the rest: the batch is ready again, the user can try again
        flash(refusal(err), "danger")
        return redirect(url_for("imports.preview", batch_id=batch.id))
    flash(_("%(n)s rows imported as drafts; %(m)s rows skipped.", n=len(result["created"]),
            m=len(result["skipped"])), "success")
    return redirect(url_for("imports.preview", batch_id=batch.id))


def _confirmed_already(batch: ImportBatch):
    """A later confirm of a batch: to its import's progress page while it runs, else to its outcome."""
    db().refresh(batch)
    if batch.status == "importing" and batch.job_id is not None:
        flash(_("This import was already confirmed and is running: its progress is shown here. Nothing is "
                "imported twice."), "info")
        return redirect(url_for("jobs.status", job_id=batch.job_id))
    flash(message_for(ServiceError("import.not_ready")), "info")
    return redirect(url_for("imports.preview", batch_id=batch.id))


@bp.route("/<int(max=2147483647):batch_id>/rejects.<fmt>")
def rejects(batch_id: int, fmt: str):
    batch = _batch(batch_id)
    if fmt not in ("xlsx", "csv"):
        abort(404)
    table = imports.rejects_table(batch, describe)
    body = exports.to_xlsx(table) if fmt == "xlsx" else exports.to_csv(table)
    return Response(body, mimetype=exports.XLSX_MIME if fmt == "xlsx" else exports.CSV_MIME,
                    headers={"Content-Disposition": f"attachment; filename=import-{batch.id}-rejects.{fmt}"})


def describe(problem: dict) -> str:
    """One problem of a row in the reader's language, with its column."""
    text = message_for(ServiceError(problem["code"], **problem.get("params", {})))
    col = next((c for c in imports.COLUMNS["demand"] + imports.COLUMNS["achievement"]
                if c.key == problem.get("field")), None)
    if col is None:
        return text
    return f"{col.en}: {text}" if locale_code() == "en" else f"{col.zh}：{text}"


def similar_checker(ctx: jobs.JobContext) -> Optional[imports.SimilarFn]:
    """A duplicate check against published listings through the context's engine; None when it has none."""
    if ctx.matching is None:
        return None
    runtime, factory = ctx.matching, ctx.factory
    threshold = ctx.config["DUPLICATE_MIN_SCORE"]
    state = {"down": False}

    def similar(kind: str, data: dict[str, Any]) -> list[tuple[int, str, float]]:
        if state["down"]:
            return []
        with factory() as s:
            try:
                views = runtime.similar(s, imports.transient_listing(s, kind, data), k=3)
            except MatchingUnavailable as err:
                log.warning("duplicate check unavailable: %s", type(err).__name__)
                state["down"] = True
                return []
            return [(v.listing.id, v.listing.title, v.match.score) for v in views if v.match.score >= threshold]

    return similar


@jobs.handler("import.validate")
def _validate_job(session: Session, job: Any, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    batch = session.get(ImportBatch, job.params["batch_id"])
    progress(0, batch.total)
    imports.validate_batch(session, batch, similar_checker(ctx), progress)
    return {"href": job.params["href"], "rows": batch.total}


@jobs.handler("import.commit")
def _commit_job(session: Session, job: Any, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    batch = imports.claim_for_job(session, job.params["batch_id"], job.id)
    if batch is None:  # delivered again after it finished: the drafts exist once
        done = session.get(ImportBatch, job.params["batch_id"]).result or {}
        return {"href": job.params["href"], "created": len(done.get("created", [])),
                "skipped": len(done.get("skipped", []))}
    session.commit()  # a claim again after a failed try is its own unit: progress is written by other sessions
    progress(0, batch.total)
    try:
        result = imports.import_batch(session, batch, job.params["include_duplicates"], progress)
    except Exception:
        # all or nothing: drop what was flushed, then let the user try again
        session.rollback()
        imports.release(session, batch.id)
        session.commit()
        raise
    return {"href": job.params["href"], "created": len(result["created"]), "skipped": len(result["skipped"])}
