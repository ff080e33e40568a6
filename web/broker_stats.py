"""The per-broker performance table (issue 21 part 4): introductions made and agreed, opportunities, contracts and
their amount per broker in a period, for brokers and admins; as a page and as CSV."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _

from services import brokerage, exports
from services.exports import Table

from . import policy
from .brokerage_forms import PeriodForm
from .db import db
from .i18n import platform_zone

bp = Blueprint("broker_stats", __name__, url_prefix="/statistics/brokers")
policy.allow("broker_stats.table", "GET", policy.STAFF, note="per-broker figures, no contact details")
policy.allow("broker_stats.csv", "GET", policy.STAFF, note="the same table as CSV")


def _figures() -> tuple[PeriodForm, list[brokerage.BrokerFigures]]:
    from flask import request

    form = PeriodForm(request.args)
    form.validate()
    since = form.since.data if not form.since.errors else None
    until = form.until.data if not (form.until.errors or form.since.errors) else None
    return form, brokerage.performance(db(), since, until, platform_zone())


def _table(rows: list[brokerage.BrokerFigures]) -> Table:
    return Table(headers=[_("Broker"), _("Introductions made"), _("Agreed by both sides"), _("Opportunities"),
                          _("Contracts"), _("Contract amount (10k yuan)")],
                 rows=[[r.broker.display_name, r.introductions, r.agreed, r.opportunities, r.contracts,
                        _amount(r.amount)] for r in rows])


def _amount(value: object) -> str:
    """An amount in 10k yuan as people write it: at most two decimals, no trailing zeros (15366, 120.5)."""
    figure = Decimal(str(value or 0)).quantize(Decimal("0.01")).normalize()
    return f"{figure:f}"


@bp.route("/")
def table():
    form, rows = _figures()
    return render_template("brokerage/stats.html", form=form, rows=rows, table=_table(rows))


@bp.route("/brokers.csv")
def csv():
    _form, rows = _figures()
    return Response(exports.to_csv(_table(rows)), mimetype=exports.CSV_MIME,
                    headers={"Content-Disposition": 'attachment; filename="statistics-brokers.csv"'})
