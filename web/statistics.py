"""The statistics dashboard for brokers and admins: server-side SVG charts, each downloadable as CSV."""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from flask import Blueprint, Response, abort, g, render_template, request
from flask_babel import gettext as _

from services import exports, statistics, taxonomy
from services.exports import Table
from services.matching import MatchingUnavailable

from . import jobs as jobs_web
from . import policy
from .charts import bar_chart
from .db import db, fresh_snapshot, separate_unit
from .i18n import local_time, locale_code
from .matches import runtime
from .reports import OUTCOME_LABELS

bp = Blueprint("statistics", __name__, url_prefix="/statistics")
log = logging.getLogger(__name__)
policy.allow("statistics.dashboard", "GET", policy.STAFF, note="platform-wide figures, no contact details")
policy.allow("statistics.csv", "GET", policy.STAFF, note="one chart's data as CSV")


def _names(dim: str) -> dict[str, str]:
    lc = locale_code()
    if dim == "field":
        return {f.code: f.name(lc) for f in taxonomy.top_fields(db(), include_inactive=True)}
    return taxonomy.region_names(db(), lc) if dim == "region" else {}


def _version() -> statistics.ListingsVersion:
    """Where the published listings stand, read once per request: the listing counts are remembered per version
    (in this process) and the coverage figure is current for one version only."""
    if "statistics_version" not in g:
        g.statistics_version = statistics.listings_version(db())
    return g.statistics_version


def _listings(dim: str, title: str) -> Callable[[], tuple[str, Table]]:
    def build() -> tuple[str, Table]:
        names = _names(dim)
        table = Table([title, _("Technical demands"), _("Research achievements")], title=dim)
        for key, demands, achievements in statistics.listings_by(db(), dim, version=_version(),
                                                                 memo=runtime().remember):
            table.add([names.get(key, key), demands, achievements])
        return _("Published listings by %(dim)s", dim=title), table
    return build


def _coverage() -> tuple[str, Table, Optional[str]]:
    """The figure a coverage job computed (services/statistics.coverage_figure), never the engine itself; a
    stale or missing one is queued for recomputing and the note says when it was computed."""
    table = Table([_("Open published demands"), _("With at least one possible or strong match"),
                   _("Coverage in per cent")], title="coverage")
    try:
        figure = statistics.coverage_figure(db(), runtime(), _version())
        if not figure.current and _queue_coverage():
            fresh_snapshot()  # the job's result was committed by another session
            figure = statistics.coverage_figure(db(), runtime(), _version())
    except MatchingUnavailable as err:
        log.warning("coverage unavailable: %s", type(err).__name__)
        return _("Match coverage"), table, None
    c = figure.coverage
    if c is None:
        return _("Match coverage"), table, _("Not computed yet: it is being computed in the background. "
                                             "Reload the page in a minute.")
    table.add([c.total, c.covered, round(100 * c.share, 1)])
    when = local_time(c.computed_at) if c.computed_at else "?"
    note = _("Computed at %(when)s.", when=when) if figure.current else _(
        "Computed at %(when)s. Listings, the index or the score calibration changed since: an update is being "
        "computed in the background.", when=when)
    return _("Match coverage"), table, note


def _queue_coverage() -> bool:
    """Queue a coverage job in a transaction of its own (this GET's session only reads); True when it has run
    already (JOBS_MODE=inline: tests, CLI), False when it waits in the queue or none was needed."""
    with separate_unit() as session:
        job = statistics.request_coverage(session, runtime(), _version())
    job_id = job.id if job is not None else None
    if job_id is None:
        return False
    queue = jobs_web.runner()
    return queue.enqueue(job_id) and queue.inline


def _funnel() -> tuple[str, Table]:
    labels = {"suggested": _("Suggested in a report"), "introduce": OUTCOME_LABELS["introduce"],
              "agreed": _("Both sides agreed to talk"), "signed": _("Contract signed")}
    table = Table([_("Step"), _("Pairs")], title="funnel")
    for step, n in statistics.funnel(db()):
        table.add([str(labels[step]), n])
    return _("From suggestion to contract"), table


def _contracts() -> tuple[str, Table]:
    from .pipeline import CONTRACT_LABELS
    table = Table([_("Contract type"), _("Contracts"), _("Amount (10k yuan)")], title="contracts")
    for kind, n, amount in statistics.contracts(db()):
        table.add([str(CONTRACT_LABELS[kind]), n, amount])
    return _("Technology contracts by type (turnover)"), table


def _roadshow_page() -> int:
    raw = request.args.get("roadshows_page", "1")
    return min(int(raw), 1_000_000) if raw.isdigit() and int(raw) > 0 else 1


def _roadshows(every: bool = False) -> tuple[str, Table]:
    """One page of every roadshow, latest first (the CSV: every roadshow); the pager is the dashboard's."""
    table = Table([_("Roadshow"), _("Presenters"), _("Registered companies"), _("1:1 meetings"),
                   _("Both sides interested")], title="roadshows")
    rows = statistics.roadshows(db(), per_page=None) if every else statistics.roadshows(
        db(), page=_roadshow_page(), per_page=statistics.ROADSHOW_ROWS)
    for title, held_on, presenters, registered, meetings, both in rows:
        table.add([f"{title} ({held_on})", presenters, registered, meetings, both])
    return _("Roadshow outcomes"), table


def _challenges() -> tuple[str, Table]:
    labels = {"open": _("Open"), "closed": _("Closed for applications"), "announced": _("Winner announced")}
    table = Table([_("Status"), _("Number of challenges"), _("Applications"), _("With a winner")], title="challenges")
    for status, n, applications, winners in statistics.challenges(db()):
        table.add([str(labels[status]), n, applications, winners])
    return _("Open-call challenges (揭榜挂帅)"), table


CHARTS: dict[str, Callable[[], Any]] = {
    "by_field": lambda: _listings("field", _("Field"))(),
    "by_region": lambda: _listings("region", _("Region"))(),
    "by_month": lambda: _listings("month", _("Month"))(),
    "coverage": _coverage,
    "funnel": _funnel,
    "contracts": _contracts,
    "roadshows": _roadshows,
    "challenges": _challenges,
}


def _svg(title: str, table: Table) -> Any:
    """Bars for the numeric columns of a table, labelled by its first column."""
    if table.title == "coverage":
        values = list(table.rows[0][:2]) if table.rows else [0, 0]
        return bar_chart([str(h) for h in table.headers[:2]], [(title, values)], title=title)
    series = [(str(h), [row[i] for row in table.rows]) for i, h in enumerate(table.headers) if i > 0]
    if table.title == "contracts":
        series = series[1:]  # the amounts: the count is in the table below
    return bar_chart([str(row[0]) for row in table.rows], series, title=title)


@bp.route("/")
def dashboard():
    charts = []
    for name, build in CHARTS.items():
        title, table, *note = build()  # coverage adds a note: when its figure was computed
        charts.append({"name": name, "title": title, "table": table, "svg": _svg(title, table),
                       "note": note[0] if note else None})
    total = statistics.roadshow_count(db())
    pages = max(1, -(-total // statistics.ROADSHOW_ROWS))
    return render_template("statistics/dashboard.html", charts=charts, roadshow_pager={
        "page": min(_roadshow_page(), pages), "pages": pages, "total": total, "per_page": statistics.ROADSHOW_ROWS})


@bp.route("/<name>.csv")
def csv(name: str):
    if name not in CHARTS:
        abort(404)
    _title, table, *_note = _roadshows(every=True) if name == "roadshows" else CHARTS[name]()
    return Response(exports.to_csv(table), mimetype=exports.CSV_MIME,
                    headers={"Content-Disposition": f'attachment; filename="statistics-{name}.csv"'})
