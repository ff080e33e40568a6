"""The technology-contract register for brokers and admins: list with filters, record, correct (audited),
register a signed opportunity's contract pre-filled, import from the registration office's .xlsx (preview with
per-row rejects) and export in the same columns.

Who: brokers and admins read and write the register (company names and amounts are not for the public, and
listers never see other parties' contracts); the statistics built on it are on web/contract_stats.py."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import contract_imports, contracts, exports, listings, pipeline, regions, taxonomy
from services.errors import NotFound, ServiceError
from services.uploads import UploadLimits, read_table

from . import policy
from .access import roles_required
from .contract_forms import (CATEGORY_LABELS, IP_LABELS, STATUS_LABELS, TYPE_LABELS, ContractFilterForm,
                             ContractForm, ImportConfirmForm, nature_choices)
from .contract_messages import message, problem_text
from .db import abandon, db
from .imports import UploadForm
from .i18n import locale_code

bp = Blueprint("contracts", __name__, url_prefix="/contracts")
STAFF = ("broker", "admin")
_NOTE = "the register: brokers and admins only (company names and amounts, no contact details)"
policy.allow("contracts.index", "GET", policy.STAFF, note=_NOTE)
policy.allow("contracts.new", ("GET", "POST"), policy.STAFF, note=_NOTE)
policy.allow("contracts.edit", ("GET", "POST"), policy.STAFF, note=_NOTE + "; every edit audited")
policy.allow("contracts.export", "GET", policy.STAFF, note="the filtered register as .xlsx/.csv")
policy.allow("contracts.template", "GET", policy.STAFF, note="the import template")
policy.allow("contracts.upload", ("GET", "POST"), policy.STAFF, note="import: upload and check")
policy.allow("contracts.preview", ("GET", "POST"), policy.STAFF, relation="owner",
             note="the uploader's own batch only (404 for others)")
PAGE = 50


def init_app(app: Any) -> None:
    """Labels for templates."""
    app.jinja_env.globals.update(TECH_TYPE_LABELS=TYPE_LABELS, TECH_CATEGORY_LABELS=CATEGORY_LABELS,
                                 TECH_STATUS_LABELS=STATUS_LABELS, IP_LABELS=IP_LABELS)


def _choices(form: ContractForm) -> None:
    lc = locale_code()
    places = regions.choices(db(), lc)
    form.seller_region.choices = form.buyer_region.choices = [("", "—")] + places
    form.seller_nature.choices = form.buyer_nature.choices = nature_choices()
    form.field_code.choices = [("", "—")] + taxonomy.field_choices(db(), lc)


def _filters() -> tuple[ContractFilterForm, contracts.ContractFilter]:
    form = ContractFilterForm(request.args)
    lc = locale_code()
    form.category.choices = [("", _("All types"))] + [(k, str(v)) for k, v in CATEGORY_LABELS.items()]
    form.status.choices = [("", _("All"))] + [(k, str(v)) for k, v in STATUS_LABELS.items()]
    form.region.choices = [("", _("All regions"))] + regions.choices(db(), lc)
    form.field.choices = [("", _("All fields"))] + [(f.code, f.name(lc)) for f in taxonomy.top_fields(db())]
    form.validate()
    ok = lambda name: not getattr(form, name).errors  # noqa: E731
    f = contracts.ContractFilter(
        q=(form.q.data or "") if ok("q") else "", category=form.category.data if ok("category") else "",
        status=form.status.data if ok("status") else "", region=form.region.data if ok("region") else "",
        field=form.field.data if ok("field") else "", since=form.since.data if ok("since") else None,
        until=form.until.data if ok("until") else None)
    return form, f


@bp.route("/")
@roles_required(*STAFF)
def index():
    form, f = _filters()
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    rows, total = listings.page(db(), contracts.search_stmt(f), number, PAGE)
    return render_template("contracts/index.html", form=form, rows=rows, total=total, page=number, size=PAGE,
                           args={k: v for k, v in request.args.items() if k != "page"})


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new():
    form = ContractForm()
    _choices(form)
    opportunity = request.args.get("opportunity", "")
    if request.method == "GET" and opportunity.isdigit() and len(opportunity) <= 9:
        form.process(data=_prefill(int(request.args["opportunity"])))
    if form.validate_on_submit():
        try:
            row = contracts.create_contract(db(), current_user, form.values())
        except ServiceError as err:
            return _refused(form, err, None)
        flash(_("Contract %(number)s recorded.", number=row.reg_number), "success")
        return redirect(url_for("contracts.index"))
    return render_template("contracts/form.html", form=form, row=None), 422 if form.errors else 200


def _prefill(opportunity_id: int) -> dict[str, Any]:
    """A signed opportunity of this broker (admins: any) as form values; 404 for another's."""
    try:
        opp = pipeline.get_for(db(), opportunity_id, current_user)
    except NotFound:
        abort(404)
    if opp.stage != "signed":
        flash(_("Only a signed opportunity can be registered as a contract."), "warning")
        return {}
    existing = contracts.for_opportunity(db(), opp.id)
    if existing is not None:
        flash(_("This opportunity's contract is already registered as %(number)s.", number=existing.reg_number),
              "warning")
    return contracts.prefill_from_opportunity(db(), opp)


@bp.route("/<int:contract_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit(contract_id: int):
    try:
        row = contracts.get(db(), contract_id)
    except NotFound:
        abort(404)
    form = ContractForm(data=contracts.form_values(row) if request.method == "GET" else None)
    _choices(form)
    if form.validate_on_submit():
        try:
            contracts.update_contract(db(), current_user, row, form.values())
        except ServiceError as err:
            return _refused(form, err, row)
        flash(_("Contract %(number)s saved.", number=row.reg_number), "success")
        return redirect(url_for("contracts.index"))
    return render_template("contracts/form.html", form=form, row=row), 422 if form.errors else 200


def _refused(form: ContractForm, err: ServiceError, row: Any):
    """The form again with the refusal on its field; nothing of the request is kept."""
    text = message(err)
    abandon()
    field = getattr(form, str(err.params.get("field", "")), None)
    if field is not None:
        field.errors = list(field.errors) + [text]
    else:
        flash(text, "danger")
    return render_template("contracts/form.html", form=form, row=row), 422


@bp.route("/export.<any(xlsx, csv):fmt>")
@roles_required(*STAFF)
def export(fmt: str):
    _form, f = _filters()
    limit = int(current_app.config.get("EXPORT_MAX_ROWS", 10000))
    rows = db().scalars(contracts.search_stmt(f).limit(limit)).unique().all()
    table = contract_imports.export_table(rows)
    body, mime = (exports.to_xlsx(table), exports.XLSX_MIME) if fmt == "xlsx" else (exports.to_csv(table),
                                                                                   exports.CSV_MIME)
    return Response(body, mimetype=mime, headers={"Content-Disposition": f"attachment; filename=contracts.{fmt}"})


@bp.route("/template.xlsx")
@roles_required(*STAFF)
def template():
    return Response(contract_imports.template_xlsx(db()), mimetype=exports.XLSX_MIME,
                    headers={"Content-Disposition": "attachment; filename=contracts-template.xlsx"})


def _limits() -> UploadLimits:
    c = current_app.config
    return UploadLimits(max_bytes=c["IMPORT_MAX_BYTES"], max_rows=c["IMPORT_MAX_ROWS"],
                        max_uncompressed=c["IMPORT_MAX_UNCOMPRESSED"], max_ratio=c["IMPORT_MAX_RATIO"],
                        max_members=c["IMPORT_MAX_MEMBERS"])


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*STAFF)
def upload():
    form = UploadForm()
    if form.validate_on_submit():
        try:
            rows = contract_imports.parse_rows(read_table(form.file.data.read(), _limits()))
            batch = contract_imports.start_batch(db(), current_user, form.file.data.filename or "", rows)
        except ServiceError as err:
            text = message(err)
            abandon()
            flash(text, "danger")
            return render_template("contracts/upload.html", form=form), 422
        return redirect(url_for("contracts.preview", batch_id=batch.id))
    return render_template("contracts/upload.html", form=form), 422 if form.errors else 200


def _describe(problem: dict) -> str:
    return problem_text(problem["code"], problem.get("params") or {})


@bp.route("/import/<int:batch_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def preview(batch_id: int):
    try:
        batch = contract_imports.get_batch(db(), batch_id, current_user)
    except NotFound:
        abort(404)
    if request.args.get("rejects") == "xlsx":
        table = contract_imports.rejects_table(batch, _describe)
        return Response(exports.to_xlsx(table), mimetype=exports.XLSX_MIME,
                        headers={"Content-Disposition": "attachment; filename=contracts-rejects.xlsx"})
    form = ImportConfirmForm()
    if form.validate_on_submit():
        try:
            result = contract_imports.import_batch(db(), current_user, batch)
        except ServiceError as err:
            text = message(err)
            abandon()
            flash(text, "danger")
            return redirect(url_for("contracts.preview", batch_id=batch_id))
        flash(_("%(n)s contracts recorded; %(m)s rows left out.", n=len(result["created"]), m=len(result["skipped"])),
              "success")
        return redirect(url_for("contracts.preview", batch_id=batch_id))
    good = sum(1 for r in batch.rows if not r["problems"])
    return render_template("contracts/preview.html", batch=batch, form=form, good=good,
                           bad=len(batch.rows) - good, describe=_describe)
