"""Technology-contract statistics as a region reports them (services/contract_stats.py): a period and a region
node; 输出/吸纳/就地 and the 就地转化率, by type, by field, by park (child nodes), by broker, year on year, and
progress against the targets admins set. Every table downloads as CSV or .xlsx. Brokers and admins read;
admins set targets."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Callable, Optional

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from models import Region, User
from services import clock, contract_stats as stats
from services import exports, regions, taxonomy
from services.errors import ServiceError
from services.exports import Table

from . import policy
from .access import roles_required
from .charts import bar_chart
from .contract_forms import CATEGORY_LABELS, TargetForm
from .contract_messages import message
from .db import abandon, db
from .i18n import locale_code

bp = Blueprint("contract_stats", __name__, url_prefix="/contracts/statistics")
policy.allow("contract_stats.dashboard", "GET", policy.STAFF, note="contract figures of a region and period")
policy.allow("contract_stats.table", "GET", policy.STAFF, note="one table as CSV or .xlsx")
policy.allow("contract_stats.targets", ("GET", "POST"), {policy.ADMIN}, relation="staff",
             note="yearly targets per region node")
FLOWS = ("output", "absorbed", "local")


def _flow_labels() -> dict[str, str]:
    return {"output": _("Output (seller inside)"), "absorbed": _("Absorbed (buyer inside)"),
            "local": _("Local (both inside)")}


class Query:
    """The period and node asked for (a bad value falls back to the defaults, with a message)."""

    def __init__(self, args: Any) -> None:
        self.problem: Optional[str] = None
        today = clock.today()
        self.kind = args.get("kind", "year") if args.get("kind") in ("year", "quarter", "month", "custom") else "year"
        self.year = _int(args.get("year"), today.year)
        self.part = _int(args.get("part"), 1)
        self.start_text, self.end_text = args.get("start", "")[:10], args.get("end", "")[:10]
        self.code = (args.get("region") or "shaanxi")[:32]
        try:
            self.period = stats.period(self.kind, self.year, self.part, _date(self.start_text), _date(self.end_text))
        except ServiceError as err:  # the page answers with the year's figures and the message
            self.problem = message(err)
            abandon()  # nothing to keep (a GET), but a refusal is never half of a unit of work
            self.kind, self.year = "year", today.year
            self.period = stats.period("year", today.year)
        node = regions.by_code(db(), self.code) or _first_root()
        if node is None:
            abort(404)
        self.node = node

    def args(self) -> dict[str, Any]:
        """The query string of this choice (for download links)."""
        return {"kind": self.kind, "year": self.year, "part": self.part, "start": self.start_text,
                "end": self.end_text, "region": self.node.code}


def _int(raw: Any, default: int) -> int:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) <= 4 else default


def _date(raw: str) -> Optional[date]:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _first_root() -> Optional[Region]:
    return db().scalar(select(Region).where(Region.parent_id.is_(None)).order_by(Region.position, Region.id))


def _num(value: Decimal) -> float:
    return float(round(value, 4))


def _amount_headers(first: str) -> list[str]:
    return [first, _("Contracts"), _("Contract amount (10k yuan)"), _("Technology transaction amount (10k yuan)")]


def _t_overview(q: Query) -> Table:
    yoy = stats.year_on_year(db(), q.node, q.period)
    f = {side: now for side, (now, _before, _change) in yoy.items()}
    labels = _flow_labels()
    table = Table(_amount_headers(_("Flow")) + [_("Same period last year (10k yuan)"), _("Change (%)")],
                  title="overview")
    for side in FLOWS:
        now, before, change = yoy[side]
        table.add([labels[side], now.count, _num(now.amount), _num(now.tech_amount), _num(before.amount),
                   round(change, 1) if change is not None else ""])
    rate = stats.local_rate(f)
    table.add([_("Local conversion rate (local / output amount, %)"), "", round(100 * rate, 1) if rate is not None
               else "", "", "", ""])
    return table


def _t_type(q: Query) -> Table:
    table = Table(_amount_headers(_("Type")), title="by_type")
    for key, t in stats.by_type(db(), q.node, q.period):
        table.add([str(CATEGORY_LABELS.get(key, key)), t.count, _num(t.amount), _num(t.tech_amount)])
    return table


def _t_field(q: Query) -> Table:
    lc = locale_code()
    names = {f.id: f.name(lc) for f in taxonomy.top_fields(db(), include_inactive=True)}
    table = Table(_amount_headers(_("Field")), title="by_field")
    for key, t in stats.by_field(db(), q.node, q.period):
        table.add([names.get(key, _("No field given")), t.count, _num(t.amount), _num(t.tech_amount)])
    return table


def _t_park(q: Query) -> Table:
    lc = locale_code()
    labels = _flow_labels()
    table = Table([_("Sub-region")] + [f"{labels[s]}: {h}" for s in FLOWS for h in (_("Contracts"),
                                                                                   _("Contract amount (10k yuan)"))],
                  title="by_park")
    for child, f in stats.by_child(db(), q.node, q.period):
        table.add([child.name(lc)] + [v for s in FLOWS for v in (f[s].count, _num(f[s].amount))])
    return table


def _t_broker(q: Query) -> Table:
    table = Table(_amount_headers(_("Broker")), title="by_broker")
    rows = stats.by_broker(db(), q.node, q.period)
    people = {u.id: u.display_name for u in db().scalars(select(User).where(User.id.in_([k for k, _t in rows if k])))}
    for key, t in rows:
        table.add([people.get(key, _("Imported")), t.count, _num(t.amount), _num(t.tech_amount)])
    return table


def _t_target(q: Query) -> Table:
    table = Table([_("Year"), _("Counted on"), _("Target (10k yuan)"), _("Done so far (10k yuan)"),
                   _("Share of the target (%)"), _("Target contracts"), _("Contracts so far")], title="target")
    year = q.period.year or q.year
    prog = stats.progress(db(), q.node, year)
    if prog is not None:
        table.add([year, _flow_labels()[prog.target.measure], _num(prog.target.amount), _num(prog.done.amount),
                   round(100 * prog.share, 1) if prog.share is not None else "",
                   prog.target.count if prog.target.count is not None else "", prog.done.count])
    return table


TABLES: dict[str, Callable[[Query], Table]] = {"overview": _t_overview, "by_type": _t_type, "by_field": _t_field,
                                               "by_park": _t_park, "by_broker": _t_broker, "target": _t_target}


def _titles() -> dict[str, str]:
    return {"overview": _("Output, absorbed and local, year on year"), "by_type": _("Output by contract type"),
            "by_field": _("Output by field"), "by_park": _("By sub-region (districts, parks)"),
            "by_broker": _("Output by broker"), "target": _("Progress against the year's target")}


@bp.route("/")
@roles_required("broker", "admin")
def dashboard():
    q = Query(request.args)
    if q.problem:
        flash(q.problem, "warning")
    titles = _titles()
    sections = []
    for key, build in TABLES.items():
        table = build(q)
        chart = None
        if key in ("by_type", "by_field", "by_broker") and table.rows:
            chart = bar_chart([str(r[0]) for r in table.rows], [(_("Contract amount (10k yuan)"),
                                                                 [float(r[2]) for r in table.rows])],
                              title=titles[key], unit=_("10k yuan"))
        sections.append({"key": key, "title": titles[key], "table": table, "chart": chart})
    return render_template("contract_stats/dashboard.html", q=q, sections=sections,
                           places=regions.choices(db(), locale_code()))


@bp.route("/<any(overview, by_type, by_field, by_park, by_broker, target):table>.<any(csv, xlsx):fmt>")
@roles_required("broker", "admin")
def table(table: str, fmt: str):
    q = Query(request.args)
    data = TABLES[table](q)
    name = f"contracts-{table}-{q.node.code}-{q.period.start.isoformat()}.{fmt}"
    body, mime = (exports.to_csv(data), exports.CSV_MIME) if fmt == "csv" else (exports.to_xlsx(data), exports.XLSX_MIME)
    return Response(body, mimetype=mime, headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.route("/targets", methods=["GET", "POST"])
@roles_required("admin")
def targets():
    form = TargetForm()
    lc = locale_code()
    form.region_id.choices = [(n.region.id, "\u3000" * n.depth + n.region.name(lc)) for n in regions.tree(db())]
    if request.method == "GET" and not form.year.data:
        form.year.data = clock.today().year
    if form.validate_on_submit():
        node = db().get(Region, form.region_id.data)
        try:
            stats.set_target(db(), current_user, node, form.year.data, form.amount.data, form.count.data,
                             measure=form.measure.data)
        except ServiceError as err:
            text = message(err)
            abandon()
            form.amount.errors = list(form.amount.errors) + [text]
            return _targets_page(form), 422
        flash(_("Target saved."), "success")
        return redirect(url_for("contract_stats.targets", year=form.year.data))
    return _targets_page(form), 422 if form.errors else 200


def _targets_page(form: TargetForm) -> str:
    year = _int(request.args.get("year"), form.year.data or clock.today().year)
    rows = [(t, stats.progress(db(), t.region, year)) for t in stats.targets_of(db(), year)]
    return render_template("contract_stats/targets.html", form=form, rows=rows, year=year, MEASURES=_flow_labels())
