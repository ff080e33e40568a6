"""Brokers run match reports (one listing, or a batch in the background), reopen them unchanged,
comment on pairs and export them; bad requests get clear messages, never contact details."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from tests.services.test_pdf import pdf_text

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

CANARIES = ("canary.demand@example.com", "canary.achievement@example.cn", "13800000001", "13900000012")


def run_single(client, kind, listing_id, k=10):
    return client.submit("/reports/new", {"scope": kind, "listing_id": listing_id, "k": k})


def report_id_of(resp) -> int:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    return int(re.search(r"/reports/(\d+)$", resp.headers["Location"]).group(1))


def test_single_report_shows_ranked_pairs_with_explanation_and_facts(client, market, login, zh):
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    page = client.get(f"/reports/{rid}").get_data(as_text=True)
    assert page.index("单晶高镍正极原子层沉积包覆技术") < page.index("水稻抗稻瘟病分子育种技术")
    assert "<meter" in page and 'class="tag hit"' in page and "<blockquote>" in page
    assert zh("Best answering sentence") in page and "TRL 6" in page and "150" in page
    assert "multilingual-e5-small" in page  # the model is recorded
    for canary in CANARIES:
        assert canary not in page


def test_report_reopens_unchanged_after_the_listing_changes(client, market, login, session):
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    good = session.get(type(market["good"]), market["good"].id)
    good.title, good.price = "改过的标题", 999.0
    session.commit()
    page = client.get(f"/reports/{rid}").get_data(as_text=True)
    assert "单晶高镍正极原子层沉积包覆技术" in page and "改过的标题" not in page and "999" not in page


def test_report_from_the_achievement_side_lists_demands(client, market, login):
    login(market["broker"])
    rid = report_id_of(run_single(client, "achievement", market["good"].id))
    assert "高镍三元正极材料循环寿命提升" in client.get(f"/reports/{rid}").get_data(as_text=True)


def test_other_broker_gets_404_and_companies_403(client, market, login, make_user):
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    login(make_user("broker"))
    assert client.get(f"/reports/{rid}").status_code == 404
    assert client.get(f"/reports/{rid}.pdf").status_code == 404
    assert client.get(f"/reports/{rid}.xlsx").status_code == 404
    assert "单晶高镍" not in client.get("/reports/").get_data(as_text=True)
    login(market["company"])
    assert client.get(f"/reports/{rid}").status_code == 403
    assert client.get("/reports/new").status_code == 403
    login(make_user("admin"))
    assert client.get(f"/reports/{rid}").status_code == 200


def test_broker_comment_is_saved_per_pair_and_only_by_the_owner(client, market, login, make_user, session):
    from models import MatchReportRow
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    row = session.query(MatchReportRow).filter_by(report_id=rid, position=1).one()
    resp = client.submit(f"/reports/{rid}/rows/{row.id}/comment", {"comment": "建议先做小批量验证"},
                         form_url=f"/reports/{rid}")
    assert resp.status_code == 302
    assert "建议先做小批量验证" in client.get(f"/reports/{rid}").get_data(as_text=True)
    too_long = client.submit(f"/reports/{rid}/rows/{row.id}/comment", {"comment": "长" * 2001},
                             form_url=f"/reports/{rid}", follow_redirects=True)
    assert too_long.status_code == 200 and "建议先做小批量验证" in too_long.get_data(as_text=True)
    login(make_user("broker"))
    token_page = "/reports/"
    assert client.submit(f"/reports/{rid}/rows/{row.id}/comment", {"comment": "x"},
                         form_url=token_page).status_code == 404


def test_batch_report_runs_as_a_job_with_progress(client, market, login, session):
    from models import Job, MatchReport
    login(market["broker"])
    resp = client.submit("/reports/new", {"scope": "batch", "k": 5, "field_code": "new_energy"})
    assert resp.status_code == 302 and "/jobs/" in resp.headers["Location"]
    job_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    job = session.get(Job, job_id)
    session.refresh(job)
    assert job.status == "done" and job.total == 1 and job.progress == 1
    report = session.get(MatchReport, job.result["report_id"])
    session.refresh(report)
    assert report.status == "ready" and report.row_count >= 1
    assert {r.demand_id for r in report.rows} == {market["demand"].id}
    status = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f"/reports/{report.id}" in status
    assert "单晶高镍正极原子层沉积包覆技术" in client.get(f"/reports/{report.id}").get_data(as_text=True)
    # the title names the field (not its code), in the reader's language; stored in Chinese for the PDF
    assert report.title == "批量撮合 · 新能源"
    assert "批量撮合 · 新能源" in client.get(f"/reports/{report.id}").get_data(as_text=True)
    from models import User
    session.get(User, market["broker"].id).locale = "en"
    session.commit()
    for url in ("/reports/", f"/reports/{report.id}"):
        page = client.get(url).get_data(as_text=True)
        assert "Batch match · New energy" in page and "批量撮合" not in page, url
    assert "<dd>New energy</dd>" in page  # the report's filters: the field's name, not new_energy


def test_batch_over_5000_pairs_is_refused_with_how_to_narrow(client, market, login, session, zh):
    from sqlalchemy import insert

    from models import Demand, MatchReport
    demand = market["demand"]
    rows = [{"title": f"批量需求{i}", "description": demand.description, "status": "published",
             "owner_id": demand.owner_id, "field_id": demand.field_id, "region": "shaanxi", "modes": ",joint,",
             "contact_name": "x", "contact_phone": "13800000009", "contact_email": "x@example.com"}
            for i in range(100)]
    session.execute(insert(Demand), rows)
    session.commit()
    login(market["broker"])
    resp = client.submit("/reports/new", {"scope": "batch", "k": 50})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert zh("This batch would hold %(pairs)s pairs (%(demands)s demands × counterparts); the limit is "
              "%(limit)s. Narrow it: choose a field or a region, shorten the period, or ask for fewer "
              "counterparts per demand.", pairs=5050, demands=101, limit=5000) in page
    assert session.query(MatchReport).count() == 0
    assert client.submit("/reports/new", {"scope": "batch", "k": 49}).status_code == 302  # 4949 pairs: fine


def test_empty_batch_report_says_so(client, market, login, zh):
    login(market["broker"])
    resp = client.submit("/reports/new", {"scope": "batch", "k": 5, "region": "xizang"}, follow_redirects=True)
    assert resp.status_code == 200
    rid = re.search(r'/reports/(\d+)"', resp.get_data(as_text=True)).group(1)
    page = client.get(f"/reports/{rid}").get_data(as_text=True)
    assert zh("This report has no pairs: no open published listing matched the request. Widen the filters or "
              "run it again when more listings are published.") in page


@pytest.mark.parametrize("data", [{"scope": "demand", "k": "abc", "listing_id": 1},
                                  {"scope": "demand", "k": 0, "listing_id": 1},
                                  {"scope": "demand", "k": 10},
                                  {"scope": "nonsense", "k": 10},
                                  {"scope": "batch", "k": 10, "since": "2026-05-01", "until": "2026-01-01"},
                                  {"scope": "batch", "k": 10, "since": "not-a-date"}])
def test_bad_report_requests_are_answered_clearly(client, market, login, data):
    login(market["broker"])
    resp = client.submit("/reports/new", data)
    assert resp.status_code == 400
    assert 'class="error"' in resp.get_data(as_text=True)


def test_report_on_a_closed_listing_is_refused(client, market, login, session, zh):
    from services import listings
    listings.transition(session, market["good"], market["uni"], "close")
    session.commit()
    login(market["broker"])
    resp = run_single(client, "achievement", market["good"].id)
    assert resp.status_code == 400
    assert zh("Listing %(id)s is not published (it may have been withdrawn or closed); reports cover published "
              "listings only.", id=market["good"].id) in resp.get_data(as_text=True)


def test_xlsx_export_has_the_pairs_and_no_contacts(client, market, login):
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    resp = client.get(f"/reports/{rid}.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(resp.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:4] == ["序号", "匹配分", "匹配等级", "技术需求"]
    assert values[1][9] == "单晶高镍正极原子层沉积包覆技术" and values[1][0] == 1
    flat = " ".join(str(v) for row in values for v in row)
    for canary in CANARIES:
        assert canary not in flat



def test_csv_export_has_the_same_rows_as_excel_and_no_contacts(client, market, login):
    import csv
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    assert f"/reports/{rid}.csv" in client.get(f"/reports/{rid}").get_data(as_text=True)
    resp = client.get(f"/reports/{rid}.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(client.get(f"/reports/{rid}.xlsx").data)).active
    assert rows[0] == [c.value for c in next(sheet.iter_rows())] and len(rows) == sheet.max_row
    assert rows[1][9] == "单晶高镍正极原子层沉积包覆技术"
    for canary in CANARIES:
        assert canary not in resp.data.decode("utf-8-sig")


def test_report_runs_and_downloads_are_audited(client, market, login, session):
    from models import AuditEvent
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    client.get(f"/reports/{rid}.xlsx")
    client.get(f"/reports/{rid}.pdf")
    client.submit("/reports/new", {"scope": "batch", "k": 5, "field_code": "new_energy"})
    events = [(e.action, e.actor_id, e.target, e.detail) for e in session.query(AuditEvent).filter(
        AuditEvent.action.in_(("report.run", "export.download"))).order_by(AuditEvent.id)]
    broker = market["broker"].id
    assert events[:3] == [
        ("report.run", broker, f"report:{rid}", {"scope": "demand", "listing": market["demand"].id, "k": 10,
                                                 "rows": events[0][3]["rows"]}),
        ("export.download", broker, f"report:{rid}", {"format": "xlsx"}),
        ("export.download", broker, f"report:{rid}", {"format": "pdf"})]
    assert events[3][:2] == ("report.run", broker) and events[3][3]["scope"] == "batch" and len(events) == 4


def test_pdf_export_carries_the_chinese_report(client, market, login):
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    resp = client.get(f"/reports/{rid}.pdf")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    text = pdf_text(resp.data)
    assert "撮合报告：高镍三元正极材料循环寿命提升" in text
    assert "单晶高镍正极原子层沉积包覆技术" in text and "经纪人" in text
    for canary in CANARIES:
        assert canary not in text


def test_a_failed_batch_says_so_on_the_report(client, market, login, session, zh):
    from models import Job, MatchReport
    login(market["broker"])
    report = MatchReport(owner_id=market["broker"].id, scope="batch", title="批量撮合", params={"k": 5},
                         status="running")
    job = Job(kind="report.batch", owner_id=market["broker"].id, params={}, status="failed", error="job.internal")
    session.add_all([report, job])
    session.flush()
    report.job_id = job.id
    session.commit()
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert zh("This batch failed.") in page and f"/jobs/{job.id}" in page


def test_pdf_cells_with_subscripts_keep_their_digits(client, market, login, make_listing, make_user, session):
    from tests.services.test_pdf import pdf_text
    uni = make_user("university", org="西部材料研究院")
    make_listing("achievement", uni, reviewer=market["broker"], title="高镍正极表面Al₂O₃包覆降低CO₂析出")
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    assert "高镍正极表面Al2O3包覆降低CO2析出" in pdf_text(client.get(f"/reports/{rid}.pdf").data)


def test_a_large_report_pdf_is_built_by_a_job_and_downloaded_by_its_owner_only(app, client, market, login,
                                                                                make_user):
    from tests.services.test_pdf import pdf_text
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    app.config["REPORT_PDF_INLINE_ROWS"] = 1  # this report has 2 pairs
    resp = client.get(f"/reports/{rid}.pdf")
    assert resp.status_code == 302 and "/jobs/" in resp.headers["Location"]
    job_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    status = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f"/reports/{rid}/pdf/{job_id}" in status
    pdf = client.get(f"/reports/{rid}/pdf/{job_id}")
    assert pdf.status_code == 200 and "单晶高镍正极原子层沉积包覆技术" in pdf_text(pdf.data)
    pdf.close()
    assert client.get(f"/reports/{rid}/pdf/{job_id + 99}").status_code == 404
    login(make_user("broker"))
    assert client.get(f"/reports/{rid}/pdf/{job_id}").status_code == 404


def test_batch_period_filter_selects_demands_by_publication_date(app, client, market, login, session):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from models import MatchReport
    login(market["broker"])
    # the days a broker types are the platform's (PLATFORM_TIMEZONE), whatever the server's own date is
    today = datetime.now(ZoneInfo(app.config["PLATFORM_TIMEZONE"])).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    client.submit("/reports/new", {"scope": "batch", "k": 3, "since": tomorrow})
    client.submit("/reports/new", {"scope": "batch", "k": 3, "since": today.isoformat(),
                                   "until": tomorrow, "region": "shaanxi"})
    later, today = session.query(MatchReport).order_by(MatchReport.id).all()
    assert later.row_count == 0 and later.params["since"] == tomorrow
    assert today.row_count >= 1 and {r.demand_id for r in today.rows} == {market["demand"].id}
