"""Match reports (撮合报告): run the matcher for one listing or a batch, save the rows as a snapshot,
comment on pairs, and export the report as .xlsx or PDF. Contact details are never copied into a report."""
from __future__ import annotations

import os
import unicodedata
from dataclasses import asdict, dataclass, fields
from datetime import date
from typing import Any, Optional, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models import Achievement, Demand, Job, MatchReport, MatchReportRow, Status, User, utcnow

from . import feedback as feedback_service
from . import audit, clock, jobs, listings
from .bands import label_zh
from .errors import NotFound, ServiceError
from .exports import Table
from .organisations import CONFIDENTIAL_NAME
from .taxonomy import field_names, region_names

MAX_PAIRS = 5000  # a batch larger than this is refused: it would take long and nobody reads it
MAX_K = 50
SCOPES = ("demand", "achievement", "batch")
BATCH_JOB = "report.batch"
PDF_JOB = "report.pdf"


class Runtime(Protocol):
    """What reports need from services.matching.MatchingRuntime."""

    def find_matches(self, session: Session, item: Any, k: int = 10) -> list: ...

    @property
    def encoder(self) -> Any: ...


@dataclass
class ReportParams:
    """What a report was asked for: one listing (scope demand/achievement) or a batch of demands."""

    scope: str
    listing_id: Optional[int] = None
    k: int = 10
    field: str = ""
    region: str = ""
    since: Optional[date] = None  # publication days as the platform's clock has them (zone, an IANA name)
    until: Optional[date] = None
    zone: str = "UTC"

    def as_json(self) -> dict:
        """Parameters as stored on the report (dates as ISO strings)."""
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        return data


def listing_facts(item: Demand | Achievement) -> dict[str, Any]:
    """The facts a broker compares side by side; deliberately without contact details."""
    facts: dict[str, Any] = {
        "id": item.id, "title": item.title, "organisation": item.organisation.name if item.organisation else "",
        "field_zh": item.field.name_zh, "field_en": item.field.name_en, "region": item.region or "",
        "modes": item.modes, "keywords": item.keywords or ""}
    if isinstance(item, Demand):
        facts.update(budget_min=item.budget_min, budget_max=item.budget_max, min_trl=item.min_trl,
                     deadline=item.deadline.isoformat() if item.deadline else None)
    else:
        facts.update(stage=item.stage, trl=item.trl, price=item.price, negotiable=bool(item.negotiable))
    return facts


def _row(position: int, query: Demand | Achievement, view: Any) -> MatchReportRow:
    demand, achievement = (query, view.listing) if query.kind == "demand" else (view.listing, query)
    m = view.match
    snapshot = {"breakdown": m.breakdown, "shared_terms": list(m.shared_terms), "best_sentence": m.best_sentence,
                "reasons": m.reasons, "query_kind": query.kind,
                "demand": listing_facts(demand), "achievement": listing_facts(achievement)}
    return MatchReportRow(position=position, demand_id=demand.id, achievement_id=achievement.id,
                          score=float(m.score), snapshot=snapshot)


def ranked(session: Session, runtime: Runtime, item: Demand | Achievement, k: int,
           reranker: feedback_service.Reranker) -> list:
    """The engine's matches for a listing (blended by the reranker), pairs judged not relevant pushed down."""
    return feedback_service.rerank(session, item, runtime.find_matches(session, item, k=k), reranker)


def _check_k(k: Any) -> int:
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ServiceError("report.bad_k", max=MAX_K)
    return k


def run_single(session: Session, runtime: Runtime, user: User, params: ReportParams,
               reranker: feedback_service.Reranker = feedback_service.NO_RERANK) -> MatchReport:
    """Run and save a report for one published listing (ranked with the app's reranker, when given)."""
    _check_k(params.k)
    if params.scope not in ("demand", "achievement") or params.listing_id is None:
        raise ServiceError("report.bad_scope")
    item = session.get(listings.model_for(params.scope), params.listing_id)
    if item is None or item.status != Status.PUBLISHED.value:
        raise ServiceError("report.listing_not_open", id=params.listing_id)
    report = MatchReport(owner_id=user.id, scope=params.scope, subject_id=item.id, title=item.title,
                         model_key=runtime.encoder.model_key, params=params.as_json(), status="ready")
    views = ranked(session, runtime, item, params.k, reranker)
    report.rows = [_row(i, item, v) for i, v in enumerate(views, start=1)]
    report.row_count = len(report.rows)
    session.add(report)
    session.flush()
    audit.record(session, "report.run", actor=user, target=f"report:{report.id}",
                 detail={"scope": params.scope, "listing": item.id, "k": params.k, "rows": report.row_count})
    return report


def batch_demands_stmt(params: ReportParams):
    """Open published demands (deadline not passed) filtered by field, region and publication period."""
    filters = listings.SearchFilters(field=params.field, region=params.region, since=params.since,
                                     until=params.until, zone=ZoneInfo(params.zone))
    stmt = listings.search_stmt("demand", filters, None)
    return stmt.where(or_(Demand.deadline.is_(None), Demand.deadline >= clock.today()))


def count_batch(session: Session, params: ReportParams) -> int:
    """How many demands a batch with these filters covers."""
    stmt = batch_demands_stmt(params).order_by(None).with_only_columns(Demand.id)
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def start_batch(session: Session, runtime: Runtime, user: User, params: ReportParams) -> MatchReport:
    """Check the size, save a running report and queue its job (the caller commits, then enqueues)."""
    _check_k(params.k)
    if params.since and params.until and params.since > params.until:
        raise ServiceError("report.period_order")
    demands = count_batch(session, params)
    if demands * params.k > MAX_PAIRS:
        raise ServiceError("report.too_large", pairs=demands * params.k, demands=demands, limit=MAX_PAIRS)
    report = MatchReport(owner_id=user.id, scope="batch", title=_batch_title(session, params),
                         model_key=runtime.encoder.model_key, params=params.as_json(), status="running")
    session.add(report)
    session.flush()
    job = jobs.submit_job(session, BATCH_JOB, user.id, {"report_id": report.id})
    report.job_id = job.id
    audit.record(session, "report.run", actor=user, target=f"report:{report.id}",
                 detail={"scope": "batch", "demands": demands, "k": params.k})
    return report


def batch_title(params: ReportParams, *, label: str = "批量撮合", field_names: Optional[dict[str, str]] = None,
                region_names: Optional[dict[str, str]] = None) -> str:
    """A batch report's title: the label, the field's and region's names (their codes where no name is known)
    and the period. Stored in Chinese (the PDF export's language); pages draw it again in the reader's language."""
    parts = [label]
    if params.field:
        parts.append((field_names or {}).get(params.field, params.field))
    if params.region:
        parts.append((region_names or {}).get(params.region, params.region))
    if params.since or params.until:
        parts.append(f"{params.since or ''} ~ {params.until or ''}")
    return " · ".join(parts)


def _batch_title(session: Session, params: ReportParams) -> str:
    return batch_title(params, field_names=field_names(session, "zh"), region_names=region_names(session, "zh"))


def title_in(report: MatchReport, *, label: str, field_names: dict[str, str], region_names: dict[str, str]) -> str:
    """A report's title in a reader's language: a batch report's drawn from its parameters with the reader's word
    for a batch match (label) and names (taxonomy.field_names / region_names in the reader's locale); a listing's
    report keeps its listing's title as stored."""
    if report.scope != "batch":
        return report.title
    return batch_title(_params_from({"scope": "batch", **(report.params or {})}), label=label, field_names=field_names,
                       region_names=region_names)


def _params_from(data: dict) -> ReportParams:
    """The parameters stored on a report; keys this version does not know (a newer or older one's) are left out."""
    known = {f.name for f in fields(ReportParams)}
    d = {k: v for k, v in data.items() if k in known}
    for key in ("since", "until"):
        d[key] = date.fromisoformat(d[key]) if d.get(key) else None
    return ReportParams(**d)


@jobs.handler(BATCH_JOB)
def _run_batch(session: Session, job: Job, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Fill a batch report: each open demand's top-k achievements, progress after each demand."""
    report = session.get(MatchReport, job.params["report_id"])
    params = _params_from(report.params)
    runtime, reranker = ctx.need("matching"), ctx.reranker or feedback_service.NO_RERANK
    demands = list(session.scalars(batch_demands_stmt(params)))
    progress(0, len(demands))
    rows: list[MatchReportRow] = []
    for done, demand in enumerate(demands, start=1):
        views = ranked(session, runtime, demand, params.k, reranker)
        rows += [_row(len(rows) + i, demand, v) for i, v in enumerate(views, 1)]
        progress(done)
    # rows are added only now: a pending write would hold SQLite's lock against the progress updates
    report.rows.extend(rows)
    report.row_count, report.status = len(rows), "ready"
    return {"href": f"/reports/{report.id}", "report_id": report.id, "rows": len(rows)}


def get_report_for(session: Session, report_id: int, user: User) -> MatchReport:
    """The report if this user ran it (admins see all); otherwise NotFound."""
    report = session.get(MatchReport, report_id)
    if report is None or (report.owner_id != user.id and user.role != "admin"):
        raise NotFound()
    return report


def reports_stmt(user: User):
    """The query of the user's reports (admins: everyone's), newest first (for pages of the API)."""
    stmt = select(MatchReport).order_by(MatchReport.created_at.desc(), MatchReport.id.desc())
    if user.role != "admin":
        stmt = stmt.where(MatchReport.owner_id == user.id)
    return stmt


def reports_for(session: Session, user: User, limit: int = 100) -> list[MatchReport]:
    """The user's reports (admins: everyone's), newest first."""
    return list(session.scalars(reports_stmt(user).limit(limit)))


def report_state(session: Session, report: MatchReport) -> str:
    """ready | running | failed (a running report whose job failed is failed)."""
    if report.status == "running" and report.job_id:
        job = session.get(Job, report.job_id)
        if job is not None and job.status == "failed":
            return "failed"
    return report.status


def set_comment(session: Session, report: MatchReport, row_id: int, text: str) -> MatchReportRow:
    """Save the broker's comment on one pair of the report."""
    row = next((r for r in report.rows if r.id == row_id), None)
    if row is None:
        raise NotFound()
    row.comment, row.commented_at = (text or "").strip(), utcnow()
    return row


# -- exports -----------------------------------------------------------------------------------------
STAGE_ZH = {"lab": "实验室", "small_pilot": "小试", "pilot": "中试", "industrial": "产业化"}
MODE_ZH = {"transfer": "技术转让", "license": "技术许可", "joint": "合作开发", "commissioned": "委托开发",
           "service": "技术服务", "consulting": "技术咨询"}
OUTCOME_ZH = {"not_relevant": "不相关", "relevant": "相关", "introduce": "推荐对接"}
REASON_ZH = {"early_stage": "成熟度过早", "price_gap": "价格与预算差距", "unclear_benefit": "效益不明确",
             "region": "地域", "ip_issue": "知识产权问题", "other": "其他"}
HEADERS = ["序号", "匹配分", "匹配等级", "技术需求", "需求方", "需求领域", "需求地区", "预算(万元)", "最低TRL",
           "科技成果", "成果方", "成果地区", "成熟度/TRL", "价格(万元)", "合作方式(需求/成果)", "共同关键词",
           "最佳答句", "语义", "词项", "领域", "成熟度", "预算", "地区", "合作方式", "经纪人评语", "反馈",
           "顾问团评议"]  # the achievement's advisory panel summary (services/panels.py), empty without one


def _money(lo: Optional[float], hi: Optional[float]) -> str:
    if lo is None and hi is None:
        return "面议"
    return f"{'' if lo is None else f'{lo:g}'}~{'' if hi is None else f'{hi:g}'}"


def _price(a: dict) -> str:
    if a.get("price") is None:
        return "面议"
    return f"{a['price']:g}" + ("(可议)" if a.get("negotiable") else "")


def _modes(codes: list[str]) -> str:
    return "、".join(MODE_ZH.get(c, c) for c in codes)


def _feedback_text(fb: Any) -> str:
    if fb is None:
        return ""
    text = OUTCOME_ZH.get(fb.outcome, fb.outcome)
    if fb.reason:
        text += "：" + REASON_ZH.get(fb.reason, fb.reason)
    return text + (f"（{fb.note}）" if fb.note else "")


def confidential_demand_ids(session: Session, demand_ids: list[int]) -> set[int]:
    """The confidential demands among these (as they are now, so a report run before the flag was set follows it)."""
    if not demand_ids:
        return set()
    return set(session.scalars(select(Demand.id).where(Demand.id.in_(set(demand_ids)), Demand.confidential.is_(True))))


def report_table(session: Session, report: MatchReport, region_names: dict[str, str]) -> Table:
    """The report as one table (Chinese headers), the same for .xlsx, CSV and PDF; no contact details. A file
    leaves the platform (brokers forward it to the two sides), so a confidential demand's company is the
    placeholder there (services.organisations.demand_company_name for an unknown reader); the page keeps it."""
    latest = feedback_service.latest_for_pairs(session, [(r.demand_id, r.achievement_id) for r in report.rows])
    hidden = confidential_demand_ids(session, [r.demand_id for r in report.rows])
    table = Table(HEADERS, title="撮合报告")
    from .panels import latest_summaries
    panel = latest_summaries(session, [r.achievement_id for r in report.rows])
    for r in report.rows:
        s, d, a = r.snapshot, r.snapshot["demand"], r.snapshot["achievement"]
        b = s["breakdown"]
        company = CONFIDENTIAL_NAME if r.demand_id in hidden else d["organisation"]
        table.add([r.position, r.score, label_zh(r.score), d["title"], company, d["field_zh"],
                   region_names.get(d["region"], d["region"]), _money(d.get("budget_min"), d.get("budget_max")),
                   d.get("min_trl"), a["title"], a["organisation"], region_names.get(a["region"], a["region"]),
                   f"{STAGE_ZH.get(a.get('stage') or '', '')} TRL {a.get('trl') or '-'}", _price(a),
                   f"{_modes(d['modes'])} / {_modes(a['modes'])}", "、".join(s["shared_terms"]), s["best_sentence"],
                   *[b.get(key) for key in ("semantic", "lexical", "field", "maturity", "budget", "region", "mode")],
                   r.comment, _feedback_text(latest.get((r.demand_id, r.achievement_id))),
                   panel[r.achievement_id].text_zh() if r.achievement_id in panel else ""])
    return table


def report_facts(report: MatchReport) -> list[tuple[str, Any]]:
    """Who ran the report, when, with which model and parameters (the PDF's header lines)."""
    p = report.params
    filters = "，".join(f"{k}={p[k]}" for k in ("field", "region", "since", "until") if p.get(k)) or "无"
    return [("经纪人", report.owner.display_name), ("生成时间", report.created_at.strftime("%Y-%m-%d %H:%M")),
            ("模型", report.model_key), ("每项候选数 k", p.get("k")), ("筛选条件", filters),
            ("配对数", report.row_count)]


def _pdf_text(value: Any) -> Any:
    """NFKC for PDF cells: sub/superscripts (CO₂, 10⁻³) have no glyph in the CJK font, their digits do."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


def report_pdf(session: Session, report: MatchReport, region_names: dict[str, str],
               font: Optional[str] = None) -> bytes:
    """The report as a landscape PDF with the Chinese font embedded."""
    from .pdf import Document

    doc = Document(f"撮合报告：{report.title}", font=font, landscape=True).facts(report_facts(report))
    if not report.rows:
        return doc.paragraph("本报告没有配对结果。").output()
    full = report_table(session, report, region_names)
    keep = [0, 1, 2, 3, 4, 7, 9, 10, 12, 13, 15, 16, 24, 25]  # the columns that fit a landscape page
    slim = Table([full.headers[i] for i in keep], [[_pdf_text(row[i]) for i in keep] for row in full.rows])
    doc.table(slim, widths=(8, 10, 12, 28, 22, 14, 28, 22, 16, 14, 22, 37, 25, 18), size=7)
    from .panels import latest_summaries
    panel = latest_summaries(session, [r.achievement_id for r in report.rows])
    if panel:  # 科技顾问团: the summary travels with each achievement that has a panel
        doc.heading("科技顾问团评议")
        titles = {r.achievement_id: r.snapshot["achievement"]["title"] for r in report.rows}
        for achievement_id, summary in panel.items():
            doc.paragraph(_pdf_text(f"{titles[achievement_id]}：{summary.text_zh()}"), size=9)
    return doc.output()


def row_evidence(session: Session, row_id: int, user: User) -> tuple[Optional[float], Optional[dict]]:
    """Score and breakdown of a row of the user's own report (None, None otherwise)."""
    row = session.get(MatchReportRow, row_id)
    if row is None or row.report.owner_id != user.id:
        return None, None
    return row.score, row.snapshot.get("breakdown")


def start_pdf(session: Session, report: MatchReport, user: User, folder: str, font: Optional[str]) -> Job:
    """Queue a job that writes the report's PDF into folder (the caller commits, then enqueues)."""
    return jobs.submit_job(session, PDF_JOB, user.id, {"report_id": report.id, "folder": folder, "font": font})


def pdf_path(job: Job) -> str:
    """Where a PDF job writes its file (named by ids only, never by user input)."""
    return os.path.join(job.params["folder"], f"report-{job.params['report_id']}-job-{job.id}.pdf")


@jobs.handler(PDF_JOB)
def _run_pdf(session: Session, job: Job, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Build a large report's PDF off the request, written atomically."""
    from .taxonomy import region_names

    report = session.get(MatchReport, job.params["report_id"])
    progress(0, 1)
    data = report_pdf(session, report, region_names(session, "zh"), font=job.params.get("font"))
    path = pdf_path(job)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    return {"href": f"/reports/{report.id}/pdf/{job.id}", "bytes": len(data)}


def finished_pdf(session: Session, report: MatchReport, job_id: int, user: User) -> str:
    """The file of a finished PDF job of this report for this user; NotFound otherwise."""
    job = jobs.get_job_for(session, job_id, user)
    if job.kind != PDF_JOB or job.params.get("report_id") != report.id or job.status != "done":
        raise NotFound()
    path = pdf_path(job)
    if not os.path.isfile(path):
        raise NotFound()
    return path
