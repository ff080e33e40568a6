"""API endpoints for match reports (撮合报告): list, run (a batch as a job), read one with its rows.

Brokers and admins only (the route policy); a broker sees only the reports they ran, admins all (others' are
404, as on the pages). Rows are the report's snapshot: titles, organisations, score and explanation, the
broker's comment and the latest feedback; never contact details.
"""
from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint, abort

from services import bands, feedback, listings, reports, taxonomy
from services.errors import NotFound, ServiceError
from services.matching import MatchingUnavailable

from .. import policy
from ..db import after_commit, db
from ..i18n import locale_code, platform_zone
from ..jobs import runner
from ..matches import reranker, runtime
from . import schemas as s
from .core import abort_for_service_error, api_blueprint

TOKEN = [{"bearerAuth": []}]
# service error code -> (HTTP status, field it concerns)
SERVICE_ERRORS = {"report.bad_k": (422, "k"), "report.bad_scope": (422, "scope"),
                  "report.listing_not_open": (422, "listing_id"), "report.period_order": (422, "until"),
                  "report.too_large": (422, "k")}
_OWN = "the broker who ran the report; admins all"

bp = api_blueprint(Blueprint("api_reports", __name__, url_prefix="/api/v1/reports",
                             description="Match reports of brokers: one listing at once, a batch as a job."))
policy.allow("api_reports.Collection", "GET", policy.STAFF, relation="self", note="own reports; admins all")
policy.allow("api_reports.Collection", "POST", policy.STAFF, note="run a report (a batch: 202 and a job)")
policy.allow("api_reports.Item", "GET", policy.STAFF, relation="self", note=_OWN)


def summary(report: Any) -> dict[str, Any]:
    """A report without its rows."""
    return {"id": report.id, "scope": report.scope, "title": report.title,
            "status": reports.report_state(db(), report), "owner_id": report.owner_id, "params": report.params,
            "model_key": report.model_key, "row_count": report.row_count, "job_id": report.job_id,
            "created_at": report.created_at}


def _feedback(fb: Any) -> Any:
    if fb is None:
        return None
    return {"outcome": fb.outcome, "reason": fb.reason, "note": fb.note, "created_at": fb.created_at}


def dump_report(report: Any) -> dict[str, Any]:
    """A report with its rows (from the snapshot taken when it ran) and the latest feedback per pair."""
    latest = feedback.latest_for_pairs(db(), [(r.demand_id, r.achievement_id) for r in report.rows])
    rows = []
    for r in report.rows:
        snap = r.snapshot or {}
        d, a = snap.get("demand") or {}, snap.get("achievement") or {}
        rows.append({"id": r.id, "position": r.position, "demand_id": r.demand_id,
                     "demand_title": d.get("title", ""), "demand_organisation": d.get("organisation", ""),
                     "achievement_id": r.achievement_id, "achievement_title": a.get("title", ""),
                     "achievement_organisation": a.get("organisation", ""), "score": r.score,
                     "band": bands.band_of(r.score),  # from the stored score: rows keep no band of their own
                     "breakdown": snap.get("breakdown") or {}, "shared_terms": list(snap.get("shared_terms") or []),
                     "best_sentence": snap.get("best_sentence") or "", "reasons": snap.get("reasons") or {},
                     "comment": r.comment, "feedback": _feedback(latest.get((r.demand_id, r.achievement_id)))})
    return {**summary(report), "rows": rows}


def _check_filters(data: dict[str, Any]) -> None:
    """Rules the schema cannot express (reference data, cross-field), as field errors (as the form)."""
    errors: dict[str, list[str]] = {}
    if data["scope"] in ("demand", "achievement") and data.get("listing_id") is None:
        errors["listing_id"] = [_("Enter the number of the listing to report on.")]
    if data["field_code"] and data["field_code"] not in dict(taxonomy.filter_field_choices(db(), locale_code())):
        errors["field_code"] = [_("Choose a field from the list.")]
    if data["region"] and data["region"] not in taxonomy.region_names(db(), "zh"):
        errors["region"] = [_("Choose a region from the list.")]
    if data["since"] and data["until"] and data["until"] < data["since"]:
        errors["until"] = [_("The end of the period must not be before its start.")]
    if errors:
        abort(422, code="validation_error", errors=errors)


@bp.route("/")
class Collection(MethodView):
    @bp.arguments(s.PageArgs, location="query")
    @bp.response(200, s.ReportPage)
    @bp.doc(security=TOKEN)
    def get(self, args: dict[str, Any]):
        """The caller's reports (admins: everyone's), newest first."""
        rows, total = listings.page(db(), reports.reports_stmt(current_user), args["page"], args["per_page"])
        return {"items": [summary(r) for r in rows], "page": args["page"], "per_page": args["per_page"],
                "total": total}

    @bp.arguments(s.ReportIn)
    @bp.response(201, s.ReportOut)
    @bp.alt_response(202, schema=s.BatchStarted, success=True,
                     description="a batch was started: poll job_url, then GET report_url when the job is done")
    @bp.alt_response(503, schema=s.ApiErrorSchema, description="matching index unavailable")
    @bp.doc(security=TOKEN)
    def post(self, data: dict[str, Any]):
        """Run a report on one published listing (201 with its rows) or start a batch (202, the job pattern)."""
        _check_filters(data)
        params = reports.ReportParams(scope=data["scope"], listing_id=data.get("listing_id"), k=data["k"],
                                      field=data["field_code"], region=data["region"], since=data["since"],
                                      until=data["until"], zone=platform_zone().key)
        try:
            if params.scope == "batch":
                report = reports.start_batch(db(), runtime(), current_user, params)
                report_id, job_id = report.id, report.job_id
                resp = _batch_started(report_id, job_id, queued=True)
                after_commit(lambda: _enqueue(resp, report_id, job_id))  # the worker must find the committed row
                return resp
            report = reports.run_single(db(), runtime(), current_user, params, reranker())
        except ServiceError as err:
            abort_for_service_error(err, SERVICE_ERRORS)  # raises: the unit rolls back
        except MatchingUnavailable as err:
            current_app.logger.warning("report unavailable for the API: %s", type(err).__name__)
            abort(503, code="matching_unavailable",
                  message=_("Matching is not available right now: the search index must be rebuilt."))
        return dump_report(report)


def _batch_started(report_id: int, job_id: int, queued: bool) -> Response:
    """202 with the job to poll; queued=False says the queue was down (the job row waits for recovery)."""
    job_url = url_for("api_jobs.job", job_id=job_id)
    warning = None if queued else _("Saved. The job could not be queued right now; it will start when the "
                                    "queue is back.")
    resp = jsonify(s.BatchStarted().dump({"report_id": report_id, "job_id": job_id, "job_url": job_url,
                                          "report_url": url_for("api_reports.Item", report_id=report_id),
                                          "queued": queued, "warning": warning}))
    resp.status_code = 202
    resp.headers["Location"] = job_url
    return resp


def _enqueue(resp: Response, report_id: int, job_id: int) -> None:
    """Hand the committed batch job to the queue; when the queue is down, the answer says so."""
    if not runner().enqueue(job_id):
        resp.set_data(_batch_started(report_id, job_id, queued=False).get_data())


@bp.route("/<int(max=2147483647):report_id>")
class Item(MethodView):
    @bp.response(200, s.ReportOut)
    @bp.doc(security=TOKEN)
    def get(self, report_id: int):
        """One of the caller's reports (admins: any) with its rows; rows appear when a batch is done."""
        try:
            report = reports.get_report_for(db(), report_id, current_user)
        except NotFound:
            abort(404, code="not_found")
        return dump_report(report)
