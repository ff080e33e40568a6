"""Match reports for brokers: run (one listing or a batch in the background), reopen, comment, export."""
from __future__ import annotations

import logging
import os
from typing import Any, Callable

from flask import (Blueprint, Flask, Response, abort, current_app, flash, redirect, render_template, send_file,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from services import audit, exports, feedback, pipeline, reports, taxonomy
from services.errors import NotFound, ServiceError
from services.pdf import PDF_MIME
from services.matching import MatchingUnavailable

from . import policy
from .db import abandon, after_commit, db
from .errors import refusal
from .forms import CommentForm, ReportForm
from .i18n import locale_code, platform_zone
from .jobs import start as start_job
from .jobs import context as job_context
from .matches import reranker, runtime

bp = Blueprint("reports", __name__, url_prefix="/reports")
log = logging.getLogger(__name__)
_OWN = "the broker who ran the report; admins all"
policy.allow("reports.index", "GET", policy.STAFF, relation="self", note="own reports; admins all")
policy.allow("reports.new", ("GET", "POST"), policy.STAFF, note="run a report")
policy.allow("reports.show", "GET", policy.STAFF, relation="self", note=_OWN)
policy.allow("reports.comment", "POST", policy.STAFF, relation="self", note=_OWN)
policy.allow("reports.export_xlsx", "GET", policy.STAFF, relation="self", note=_OWN)
policy.allow("reports.export_pdf", "GET", policy.STAFF, relation="self", note=_OWN)
policy.allow("reports.export_csv", "GET", policy.STAFF, relation="self", note=_OWN)
policy.allow("reports.pdf_file", "GET", policy.STAFF, relation="self", note=_OWN + " (PDF built by a job)")


OUTCOME_LABELS = {"not_relevant": _l("Not relevant"), "relevant": _l("Relevant, but"), "introduce": _l("Introduce")}
REASON_LABELS = {"early_stage": _l("Too early stage"), "price_gap": _l("Price-budget gap"),
                 "unclear_benefit": _l("Unclear benefit"), "region": _l("Region"), "ip_issue": _l("IP issue"),
                 "other": _l("Other")}


def init_app(app: Flask) -> None:
    """The learned re-ranking of this app's rankings (pages, API, report jobs); labels for templates."""
    job_context(app).provide(reranker=feedback.Reranker(reranker_path(app), app.config["FEEDBACK_RERANK_SHARE"]))
    app.jinja_env.globals.update(OUTCOME_LABELS=OUTCOME_LABELS, REASON_LABELS=REASON_LABELS)


def reranker_path(app: Flask) -> str:
    """Where `flask feedback fit` saves the learned weights."""
    return os.path.join(app.config["INSTANCE_DIR"], "feedback_reranker.json")


def _report(report_id: int):
    try:
        return reports.get_report_for(db(), report_id, current_user)
    except NotFound:
        abort(404)


def _populate(form: ReportForm) -> None:
    lc = locale_code()
    form.field_code.choices = [("", _("Any"))] + taxonomy.filter_field_choices(db(), lc)
    form.region.choices = [("", _("Any"))] + [(r.code, r.name(lc)) for r in taxonomy.regions(db())]


def _params(form: ReportForm) -> reports.ReportParams:
    return reports.ReportParams(scope=form.scope.data, listing_id=form.listing_id.data, k=form.k.data,
                                field=form.field_code.data or "", region=form.region.data or "",
                                since=form.since.data, until=form.until.data, zone=platform_zone().key)


@bp.route("/")
def index():
    return render_template("reports/index.html", reports=reports.reports_for(db(), current_user),
                           report_title=_titles(_names()))


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ReportForm()
    _populate(form)
    if not form.validate_on_submit():
        return render_template("reports/new.html", form=form), (400 if form.errors else 200)
    params = _params(form)
    try:
        if params.scope == "batch":
            report = reports.start_batch(db(), runtime(), current_user, params)
            job_id = report.job_id
            after_commit(lambda: start_job(job_id))
            return redirect(url_for("jobs.status", job_id=job_id))
        report = reports.run_single(db(), runtime(), current_user, params, reranker())
    except ServiceError as err:
        flash(refusal(err), "danger")
        return render_template("reports/new.html", form=form), 400
    except MatchingUnavailable as err:
        abandon()
        log.warning("report unavailable: %s", type(err).__name__)
        flash(_("Matching is not available right now: the search index must be rebuilt. "
                "An operator can run `flask index rebuild`."), "danger")
        return render_template("reports/new.html", form=form), 503
    flash(_("Report saved."), "success")
    return redirect(url_for("reports.show", report_id=report.id))


@bp.route("/<int:report_id>")
def show(report_id: int):
    report = _report(report_id)
    pairs = [(r.demand_id, r.achievement_id) for r in report.rows]
    names = _names()
    return render_template("reports/show.html", report=report, state=reports.report_state(db(), report),
                           latest=feedback.latest_for_pairs(db(), pairs), comment_form=CommentForm(),
                           opportunities=pipeline.for_pairs(db(), pairs),
                           report_title=_titles(names), **names)


def _names() -> dict[str, dict[str, str]]:
    """Field and region code -> name in the reader's language (a report's title and filters name them)."""
    return {"field_names": taxonomy.field_names(db(), locale_code()),
            "region_names": taxonomy.region_names(db(), locale_code())}


def _titles(names: dict[str, dict[str, str]]) -> Callable[[Any], str]:
    """report -> its title in the reader's language (a batch report's from its parameters: field and region names)."""
    label = _("Batch match")
    return lambda report: reports.title_in(report, label=label, **names)


@bp.route("/<int:report_id>/rows/<int:row_id>/comment", methods=["POST"])
def comment(report_id: int, row_id: int):
    report = _report(report_id)
    form = CommentForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("Keep the comment under 2,000 characters."), "danger")
        return redirect(url_for("reports.show", report_id=report.id, _anchor=f"row-{row_id}"))
    try:
        reports.set_comment(db(), report, row_id, form.comment.data)
    except NotFound:
        abort(404)
    flash(_("Comment saved."), "success")
    return redirect(url_for("reports.show", report_id=report.id, _anchor=f"row-{row_id}"))


def _audit_download(report_id: int, ext: str) -> None:
    audit.record(db(), "export.download", actor=current_user, target=f"report:{report_id}", detail={"format": ext})


def _download(data: bytes, mime: str, report_id: int, ext: str) -> Response:
    _audit_download(report_id, ext)
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="match-report-{report_id}.{ext}"'})


@bp.route("/<int:report_id>.xlsx")
def export_xlsx(report_id: int):
    report = _report(report_id)
    table = reports.report_table(db(), report, taxonomy.region_names(db(), "zh"))
    return _download(exports.to_xlsx(table), exports.XLSX_MIME, report.id, "xlsx")


@bp.route("/<int:report_id>.csv")
def export_csv(report_id: int):
    report = _report(report_id)
    table = reports.report_table(db(), report, taxonomy.region_names(db(), "zh"))
    return _download(exports.to_csv(table), exports.CSV_MIME, report.id, "csv")


@bp.route("/<int:report_id>.pdf")
def export_pdf(report_id: int):
    report = _report(report_id)
    if report.row_count > current_app.config["REPORT_PDF_INLINE_ROWS"]:
        return _pdf_job(report)
    try:
        data = reports.report_pdf(db(), report, taxonomy.region_names(db(), "zh"),
                                  font=current_app.config.get("PDF_FONT") or None)
    except ServiceError as err:
        flash(refusal(err), "danger")
        return redirect(url_for("reports.show", report_id=report.id))
    return _download(data, PDF_MIME, report.id, "pdf")


def _pdf_job(report):
    """A large report's PDF is built by a background job; the status page links to the file."""
    folder = os.path.join(current_app.config["INSTANCE_DIR"], "exports")
    job = reports.start_pdf(db(), report, current_user, folder, current_app.config.get("PDF_FONT") or None)
    job_id = job.id
    after_commit(lambda: start_job(job_id))
    return redirect(url_for("jobs.status", job_id=job_id))


@bp.route("/<int:report_id>/pdf/<int:job_id>")
def pdf_file(report_id: int, job_id: int):
    report = _report(report_id)
    try:
        path = reports.finished_pdf(db(), report, job_id, current_user)
    except NotFound:
        abort(404)
    _audit_download(report.id, "pdf")
    return send_file(path, mimetype=PDF_MIME, as_attachment=True, download_name=f"match-report-{report.id}.pdf")
