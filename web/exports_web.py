"""Downloads of filtered lists: the public search (no contact details) and each owner's own list."""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, Response, abort, current_app, request
from flask_babel import gettext as _
from flask_login import current_user

from services import audit, clock, exports, list_exports, listings, taxonomy

from . import policy
from .db import db
from .i18n import MODE_LABELS, STAGE_LABELS, STATUS_LABELS, locale_code
from .public import parse_filters

bp = Blueprint("exports", __name__, url_prefix="/export")
ROLE_KIND = {"company": "demand", "university": "achievement"}

policy.allow("exports.search", "GET", policy.ALL_ROLES, note="same visibility as the search page; never contacts")
policy.allow("exports.mine", "GET", policy.LISTERS, relation="owner", note="the owner's own listings, with contacts")


def _headers() -> dict[str, str]:
    return {"id": _("ID"), "title": _("Title"), "field": _("Field"), "region": _("Region"),
            "keywords": _("Keywords"), "modes": _("Cooperation modes"), "description": _("Problem description"),
            "indicators": _("Technical indicators"), "budget_min": _("Budget from (10k yuan)"),
            "budget_max": _("Budget up to (10k yuan)"), "deadline": _("Deadline"),
            "min_trl": _("Minimum maturity wanted"), "abstract": _("Abstract"), "stage": _("Maturity stage"),
            "trl": _("Technology readiness level (TRL)"), "price": _("Asking price (10k yuan)"),
            "negotiable": _("Price negotiable"), "team": _("Team / inventors"), "status": _("Status"),
            "published_at": _("Published"), "updated_at": _("Updated"), "contact_name": _("Contact person"),
            "contact_phone": _("Contact phone"), "contact_email": _("Contact e-mail")}


def labeller() -> Callable[[str, str], str]:
    """Labels for stored codes in the reader's language."""
    lc = locale_code()
    fields = {code: label for code, label in taxonomy.field_choices(db(), lc)}
    regions = taxonomy.region_names(db(), lc)
    tables = {"field": fields, "region": regions, "mode": MODE_LABELS, "stage": STAGE_LABELS,
              "status": STATUS_LABELS, "header": _headers(), "bool": {"1": _("Yes"), "0": _("No")}}
    return lambda category, code: str(tables[category].get(code, code))


def _send(table: exports.Table, fmt: str, stem: str) -> Response:
    body = exports.to_xlsx(table) if fmt == "xlsx" else exports.to_csv(table)
    name = f"{stem}-{clock.today().isoformat()}.{fmt}"
    return Response(body, mimetype=exports.XLSX_MIME if fmt == "xlsx" else exports.CSV_MIME,
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.route("/search/<kind>.<fmt>")
def search(kind: str, fmt: str):
    if kind not in listings.KINDS or fmt not in ("xlsx", "csv"):
        abort(404)
    filters, _problems = parse_filters(request.args)
    rows = list_exports.search_rows(db(), kind, filters, current_user, current_app.config["EXPORT_MAX_ROWS"],
                                    current_app.extensions["matching"])
    table = list_exports.listing_table(kind, rows, labeller(), with_contact=False, title=_sheet(kind))
    return _send(table, fmt, f"{kind}s")


@bp.route("/mine.<fmt>")
def mine(fmt: str):
    kind = ROLE_KIND.get(current_user.role)
    if kind is None or fmt not in ("xlsx", "csv"):
        abort(404)
    rows = list_exports.own_rows(db(), kind, current_user, current_app.config["EXPORT_MAX_ROWS"])
    table = list_exports.listing_table(kind, rows, labeller(), with_contact=True, title=_sheet(kind))
    # the owner's own contacts leave the platform here: recorded like every export that carries them
    audit.record(db(), "export.download", actor=current_user, target=f"{kind}s:mine",
                 detail={"format": fmt, "rows": len(rows)})
    return _send(table, fmt, f"my-{kind}s")  # the unit commits the audit record with the download


def _sheet(kind: str) -> str:
    return _("Technical demands") if kind == "demand" else _("Research achievements")
