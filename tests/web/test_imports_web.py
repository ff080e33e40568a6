"""Bulk import through the pages: template, upload, preview with problems, drafts, rejects to fix and re-upload."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from services import clock

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

ACH_ROW = {"名称": "单晶高镍正极原子层沉积包覆技术", "所属领域": "new_energy.battery", "关键词": "单晶高镍,包覆",
           "地区": "江苏", "合作方式": "技术许可、合作开发",
           "成果简介": "采用原子层沉积在单晶高镍正极表面构筑纳米氧化铝包覆层，抑制循环过程中的相变与界面副反应。",
           "成熟度阶段": "中试", "技术就绪度（TRL）": "6", "转让价格（万元）": "150", "价格面议": "否",
           "团队 / 发明人": "李教授团队", "联系人": "李老师", "联系电话": "13900000012",
           "联系邮箱": "canary.import@example.cn"}
DEMAND_ROW = {"名称": "高镍三元正极材料循环寿命提升", "所属领域": "new_energy.battery", "地区": "shaanxi",
              "合作方式": "joint", "需求描述": "我司动力电池高镍正极循环衰减快，1000次循环后容量保持率不足80%，希望改性。",
              "预算下限（万元）": "50", "预算上限（万元）": "200",
              "截止日期": (clock.today() + timedelta(days=30)).isoformat(), "最低成熟度（TRL）": "4",
              "联系人": "张工", "联系电话": "13800000001", "联系邮箱": "zhang@example.com"}


def _template(client, kind="achievement"):
    resp = client.get("/imports/template.xlsx")
    assert resp.status_code == 200
    return load_workbook(io.BytesIO(resp.data))


def _filled(client, rows: list[dict]) -> bytes:
    """The downloaded template with rows filled in from row 3, as a user would."""
    book = _template(client)
    sheet = book.worksheets[0]
    headers = [str(c.value).rstrip("*") for c in sheet[1]]
    for i, row in enumerate(rows, start=3):
        for j, h in enumerate(headers, start=1):
            if h in row:
                sheet.cell(row=i, column=j, value=row[h])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(client, data: bytes, name: str = "成果.xlsx"):
    return client.submit("/imports/", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def _batch_id(resp) -> int:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def _count(session, model, **where):
    stmt = select(func.count()).select_from(model)
    for k, v in where.items():
        stmt = stmt.where(getattr(model, k) == v)
    return session.scalar(stmt)


def test_template_has_bilingual_headers_and_dropdowns(client, login_as):
    login_as("university")
    book = _template(client)
    assert book.sheetnames == ["成果", "领域代码", "地区", "说明"]
    sheet = book["成果"]
    assert sheet["A1"].value == "名称*" and sheet["A2"].value == "Title"
    assert sheet["A1"].comment is not None and "required" in sheet["A1"].comment.text
    formulas = {dv.formula1 for dv in sheet.data_validations.dataValidation}
    assert any("领域代码" in f for f in formulas) and any("地区" in f for f in formulas)
    assert '"实验室,小试,中试,产业化"' in formulas
    codes = [r[0] for r in book["领域代码"].iter_rows(min_row=2, values_only=True)]
    assert "new_energy.battery" in codes
    notes = " ".join(str(v) for row in book["说明"].iter_rows(values_only=True) for v in row if v)
    assert "技术许可" in notes and "TRL" in notes and "中试" in notes


def test_company_gets_the_demand_template(client, login_as):
    login_as("company")
    sheet = _template(client).worksheets[0]
    assert sheet.title == "需求" and "需求描述*" in [c.value for c in sheet[1]]


def test_preview_lists_every_row_with_problems_and_imports_good_rows(client, login_as, session, zh):
    from models import Achievement
    user = login_as("university")
    bad = dict(ACH_ROW, 名称="钠离子电池硬碳负极", 所属领域="无此领域", **{"技术就绪度（TRL）": "12"})
    bad_phone = dict(ACH_ROW, 名称="固态电解质界面修饰方法", 联系电话="12345", 价格面议="也许")
    resp = _upload(client, _filled(client, [ACH_ROW, bad, bad_phone, ACH_ROW]))
    batch_id = _batch_id(resp)
    page = client.get(f"/imports/{batch_id}").get_data(as_text=True)
    assert "4" in page and 'data-row="3"' in page and 'data-row="6"' in page
    assert zh("unknown field “%(value)s”: pick one from the template's list", value="无此领域") in page
    assert zh("must be between %(min)s and %(max)s", min=1, max=9) in page
    assert zh("not a phone number: a mobile number (11 digits) or a landline such as 029-88886666") in page
    assert zh("write 是 or 否 (yes or no)") in page
    assert zh("same title and text as row %(row)s of this file", row=3) in page
    assert "canary.import@example.cn" not in page  # contact details are not echoed in the preview
    resp = client.submit(f"/imports/{batch_id}/import", {}, form_url=f"/imports/{batch_id}")
    assert resp.status_code == 302
    session.expire_all()
    mine = list(session.scalars(select(Achievement).where(Achievement.owner_id == user.id)))
    assert len(mine) == 1 and mine[0].status == "draft" and mine[0].modes == ["license", "joint"]
    assert mine[0].stage == "pilot" and mine[0].trl == 6 and mine[0].region == "jiangsu"
    page = client.get(f"/imports/{batch_id}").get_data(as_text=True)
    assert zh("Skipped") in page and 'id="import-report"' in page
    # importing twice creates nothing more
    client.submit(f"/imports/{batch_id}/import", {}, form_url=f"/imports/{batch_id}")
    assert _count(session, Achievement, owner_id=user.id) == 1


def test_rejects_download_fixes_and_reuploads(client, login_as, session):
    from models import Achievement
    user = login_as("university")
    bad = dict(ACH_ROW, 名称="钠离子电池硬碳负极材料", 联系电话="12345")
    formula = dict(ACH_ROW, 名称="@SUM(A1) 高镍正极包覆", 成熟度阶段="太空级")
    batch_id = _batch_id(_upload(client, _filled(client, [bad, formula])))
    for fmt in ("xlsx", "csv"):
        resp = client.get(f"/imports/{batch_id}/rejects.{fmt}")
        assert resp.status_code == 200
    book = load_workbook(io.BytesIO(client.get(f"/imports/{batch_id}/rejects.xlsx").data))
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert headers[-1] == "错误 / Errors" and headers[0] == "名称*"
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 2 and "row 2" in rows[0][-1] or "第3行" in rows[0][-1]
    assert rows[1][0] == "'@SUM(A1) 高镍正极包覆"  # formula injection escaped
    # the user fixes the rows in the downloaded file and uploads it again
    phone_col = headers.index("联系电话*") + 1
    stage_col = headers.index("成熟度阶段*") + 1
    sheet.cell(row=2, column=phone_col, value="13900000099")
    sheet.cell(row=3, column=stage_col, value="中试")
    out = io.BytesIO()
    book.save(out)
    batch2 = _batch_id(_upload(client, out.getvalue(), "rejects.xlsx"))
    client.submit(f"/imports/{batch2}/import", {}, form_url=f"/imports/{batch2}")
    session.expire_all()
    titles = set(session.scalars(select(Achievement.title).where(Achievement.owner_id == user.id)))
    assert titles == {"钠离子电池硬碳负极材料", "@SUM(A1) 高镍正极包覆"}  # the protective ' is taken off


def test_gbk_csv_of_demands(client, login_as, session):
    from models import Demand
    user = login_as("company")
    headers = list(DEMAND_ROW)
    text = ",".join(headers) + "\n" + ",".join(DEMAND_ROW[h] for h in headers) + "\n"
    batch_id = _batch_id(_upload(client, text.encode("gbk"), "需求.csv"))
    client.submit(f"/imports/{batch_id}/import", {}, form_url=f"/imports/{batch_id}")
    session.expire_all()
    item = session.scalar(select(Demand).where(Demand.owner_id == user.id))
    assert item.title == DEMAND_ROW["名称"] and item.budget_max == 200 and item.min_trl == 4
    assert item.status == "draft"


@pytest.mark.parametrize("change,code_msg", [
    ({"预算下限（万元）": "300", "预算上限（万元）": "100"}, "the maximum budget is below the minimum"),
    ({"截止日期": "2001-01-01"}, "the date has passed; it must be today or later"),
    ({"截止日期": "明年"}, "not a date (write e.g. 2027-06-30)"),
    ({"预算下限（万元）": "很多"}, "not a number (write e.g. 50 or 12.5, in 10k yuan)"),
    ({"预算下限（万元）": "nan"}, "not a number (write e.g. 50 or 12.5, in 10k yuan)"),
    ({"合作方式": "以物易物"}, None),
    ({"地区": "火星"}, None),
    ({"需求描述": ""}, "required, but empty"),
    ({"联系邮箱": "nobody"}, "not a valid e-mail address"),
])
def test_bad_demand_cells_are_explained(client, login_as, zh, change, code_msg):
    login_as("company")
    row = dict(DEMAND_ROW, **change)
    headers = list(DEMAND_ROW)
    text = ",".join(headers) + "\n" + ",".join(row[h] for h in headers) + "\n"
    batch_id = _batch_id(_upload(client, text.encode("utf-8-sig"), "d.csv"))
    page = client.get(f"/imports/{batch_id}").get_data(as_text=True)
    assert 'class="bad"' in page
    if code_msg:
        assert zh(code_msg) in page


def test_duplicate_of_own_and_of_published_listing_is_flagged(client, login_as, make_user, make_listing,
                                                              session, zh):
    from models import Achievement
    other = make_user("university")
    broker = make_user("broker")
    published = make_listing("achievement", other, "published", reviewer=broker,
                             title=ACH_ROW["名称"], abstract=ACH_ROW["成果简介"])
    user = login_as("university")
    own = make_listing("achievement", user, "draft", title="我已有的一项成果标题")
    mine = dict(ACH_ROW, 名称="我已有的一项成果标题", 成果简介="完全不同的一段成果简介文字，描述另一种工艺与材料体系的改进方法。")
    batch_id = _batch_id(_upload(client, _filled(client, [ACH_ROW, mine])))
    page = client.get(f"/imports/{batch_id}").get_data(as_text=True)
    flagged = zh("possible duplicate of the published listing “%(title)s” (#%(id)s, similarity %(score)s)",
                 title=ACH_ROW["名称"], id=published.id, score="SCORE").split("SCORE")[0]
    assert flagged in page
    assert zh("you already have a listing with this title (#%(id)s)", id=own.id) in page
    # by default flagged rows are not imported; ticking the box imports them
    client.submit(f"/imports/{batch_id}/import", {}, form_url=f"/imports/{batch_id}")
    session.expire_all()
    assert _count(session, Achievement, owner_id=user.id) == 1
    batch2 = _batch_id(_upload(client, _filled(client, [ACH_ROW])))
    client.submit(f"/imports/{batch2}/import", {"include_duplicates": "y"}, form_url=f"/imports/{batch2}")
    session.expire_all()
    assert _count(session, Achievement, owner_id=user.id) == 2


@pytest.mark.parametrize("data,name,message", [
    (b"", "empty.xlsx", "The file is empty. Fill in the template and upload it again."),
    (b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8, "renamed.xlsx",
     "This is neither an .xlsx workbook nor a CSV text file. Save it from Excel or WPS as .xlsx (or CSV) "
     "and upload it again."),
    (b"foo,bar\n1,2\n", "wrong.csv", None),
    ("名称*,所属领域*,地区*,合作方式*,成果简介*,成熟度阶段*,技术就绪度（TRL）*,联系人*,联系电话*,联系邮箱*\n"
     .encode(), "header-only.csv", "The file has no data rows below the headers."),
])
def test_malformed_uploads_are_explained(client, login_as, zh, data, name, message):
    login_as("university")
    resp = _upload(client, data, name)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'class="flash danger"' in page
    if message:
        assert zh(message) in page


def test_truncated_xlsx_and_template_without_rows(client, login_as, zh):
    login_as("university")
    data = _filled(client, [ACH_ROW])
    resp = _upload(client, data[: len(data) * 2 // 3])
    assert resp.status_code == 422 and zh("The .xlsx file is damaged or incomplete and cannot be read. Open it "
                                          "in Excel or WPS, save it again, and upload the new file.") in \
        resp.get_data(as_text=True)
    resp = _upload(client, _filled(client, []))
    assert resp.status_code == 422 and zh("The file has no data rows below the headers.") in resp.get_data(as_text=True)


def test_missing_file_is_a_form_error(client, login_as, zh):
    login_as("university")
    resp = client.submit("/imports/", {}, content_type="multipart/form-data")
    assert resp.status_code == 422 and zh("Choose a file to upload.") in resp.get_data(as_text=True)


def test_too_large_upload_gets_a_clear_413(app, client, login_as, zh):
    login_as("university")
    token = client.token("/imports/")
    app.config["MAX_CONTENT_LENGTH"] = 200 * 1024
    resp = client.post("/imports/", data={"csrf_token": token, "file": (io.BytesIO(b"a" * 300_000), "big.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 413
    assert zh("The upload is too large: at most %(mb)s MB. Split the file into smaller parts and upload them "
              "one by one.", mb=0.2) in resp.get_data(as_text=True)


def test_only_listers_import_and_only_their_own_batches(client, login_as, make_user, login):
    login_as("broker")
    assert client.get("/imports/").status_code == 403
    assert client.get("/imports/template.xlsx").status_code == 403
    owner = make_user("university")
    login(owner)
    batch_id = _batch_id(_upload(client, _filled(client, [ACH_ROW])))
    login_as("university")
    assert client.get(f"/imports/{batch_id}").status_code == 404
    assert client.get(f"/imports/{batch_id}/rejects.csv").status_code == 404
    resp = client.submit(f"/imports/{batch_id}/import", {}, form_url="/imports/")
    assert resp.status_code == 404


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get("/imports/").status_code == 302


def _rows(n: int) -> list[dict]:
    return [dict(ACH_ROW, 名称=f"批量导入的第{i}项成果：高镍正极包覆", 成果简介=ACH_ROW["成果简介"] + f"（编号{i}）")
            for i in range(n)]


def test_big_files_run_as_background_jobs(app, client, login_as, session):
    from models import Achievement, Job
    app.config["IMPORT_INLINE_ROWS"] = 5
    user = login_as("university")
    resp = _upload(client, _filled(client, _rows(12)))
    assert resp.status_code == 302 and "/jobs/" in resp.headers["Location"]
    job_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    session.expire_all()
    job = session.get(Job, job_id)
    assert job.status == "done" and job.total == 12 and job.progress == 12
    batch_id = int(job.result["href"].rstrip("/").split("/")[-1])
    resp = client.submit(f"/imports/{batch_id}/import", {}, form_url=f"/imports/{batch_id}")
    assert "/jobs/" in resp.headers["Location"]
    session.expire_all()
    assert _count(session, Achievement, owner_id=user.id) == 12


def test_five_thousand_rows(app, client, login_as, session):
    from models import Achievement
    user = login_as("university")
    book = Workbook()
    sheet = book.active
    headers = list(ACH_ROW)
    sheet.append(headers)
    for i in range(5000):
        row = dict(ACH_ROW, 名称=f"批量导入的第{i}项成果", 成果简介=ACH_ROW["成果简介"] + f"（编号{i}）")
        sheet.append([row[h] for h in headers])
    out = io.BytesIO()
    book.save(out)
    resp = _upload(client, out.getvalue())
    job_url = resp.headers["Location"]
    status = client.get(job_url.replace("/jobs/", "/jobs/").rstrip("/") + ".json").get_json()
    assert status["status"] == "done" and status["total"] == 5000
    batch_id = int(status["result"]["href"].rstrip("/").split("/")[-1])
    client.submit(f"/imports/{batch_id}/import", {}, form_url=f"/imports/{batch_id}")
    session.expire_all()
    assert _count(session, Achievement, owner_id=user.id) == 5000


# --- a confirm clicked several times imports once (issue 18: the third click started a second job) ---------------

def _big_batch(app, client, session, n=12):
    """A checked batch of n good rows, big enough to import as a background job; its id."""
    app.config["IMPORT_INLINE_ROWS"] = 5
    resp = _upload(client, _filled(client, _rows(n)))
    job_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    from models import Job
    session.expire_all()
    return int(session.get(Job, job_id).result["href"].rstrip("/").split("/")[-1])


def _confirm(client, batch_id, token):
    return client.post(f"/imports/{batch_id}/import", data={"csrf_token": token})


def _import_jobs(session):
    from models import Job
    session.expire_all()
    return list(session.scalars(select(Job).where(Job.kind == "import.commit")))


def test_confirming_three_times_imports_once(app, client, login_as, session, zh):
    from models import Achievement
    user = login_as("university")
    batch_id = _big_batch(app, client, session)
    token = client.token(f"/imports/{batch_id}")
    first = _confirm(client.c, batch_id, token)
    assert first.status_code == 302 and "/jobs/" in first.headers["Location"]
    for _ in range(2):  # the double click and the retry
        again = _confirm(client.c, batch_id, token)
        assert again.status_code == 302 and again.headers["Location"].endswith(f"/imports/{batch_id}")
        page = client.get(again.headers["Location"]).get_data(as_text=True)
        assert zh("This file has already been imported (or is being imported).") in page
    assert len(_import_jobs(session)) == 1
    assert _count(session, Achievement, owner_id=user.id) == 12


def test_a_confirm_while_the_import_runs_lands_on_its_progress_page(app, client, login_as, session, zh):
    from models import Achievement, ImportBatch
    from services import imports, jobs
    from web.db import sessionmaker_for
    from web.jobs import context as job_context
    user = login_as("university")
    batch_id = _big_batch(app, client, session)
    with sessionmaker_for(app)() as s:  # a first confirm whose job the queue has not finished yet
        batch = s.get(ImportBatch, batch_id)
        imports.claim_for_import(s, batch)
        job = jobs.submit_job(s, "import.commit", user.id, {"batch_id": batch_id, "include_duplicates": False,
                                                            "href": f"/imports/{batch_id}"},
                              key=imports.commit_job_key(batch_id))
        batch.job_id = job.id
        s.commit()
        job_id = job.id
    resp = client.submit(f"/imports/{batch_id}/import", {}, form_url=f"/imports/{batch_id}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/jobs/{job_id}")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert zh("This import was already confirmed and is running: its progress is shown here. Nothing is "
              "imported twice.") in page
    jobs.run_job(job_context(app), job_id)  # the queue gets to it
    jobs.run_job(job_context(app), job_id)  # and delivers it once more: nothing happens
    assert len(_import_jobs(session)) == 1
    assert _count(session, Achievement, owner_id=user.id) == 12


def test_two_confirms_at_the_same_moment_import_once(app, client, login_as, session):
    import threading

    from models import Achievement
    user = login_as("university")
    batch_id = _big_batch(app, client, session)
    token = client.token(f"/imports/{batch_id}")
    cookie = client.c.get_cookie(app.config["SESSION_COOKIE_NAME"])
    gate, answers = threading.Barrier(2), []

    def confirm():
        tab = app.test_client()  # a second tab of the same browser session
        tab.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        gate.wait()
        answers.append(_confirm(tab, batch_id, token))

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(a.status_code for a in answers) == [302, 302]
    assert len(_import_jobs(session)) == 1
    assert _count(session, Achievement, owner_id=user.id) == 12
