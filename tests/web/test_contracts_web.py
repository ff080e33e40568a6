"""The contract register, the region hierarchy and contract statistics through the pages: forms with CSRF,
refusals with a clear message in both languages and nothing saved, import with preview and rejects, exports
and statistics downloads that equal the service's figures."""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import AuditEvent, Region, RegionTarget, TechContract
from services import contract_stats, contracts, regions
from services.seed import DATA
from tests.services.test_contracts import contract_data


@pytest.fixture
def tree(session):
    regions.load_tree(session, json.loads((DATA / "region_tree.json").read_text(encoding="utf-8")))
    session.commit()
    return {r.code: r for r in session.scalars(select(Region))}


def _form(**over) -> dict:
    data = contract_data(**over)
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}


def _count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(TechContract))


def test_a_broker_records_and_corrects_a_contract(client, session, tree, login_as):
    login_as("broker")
    resp = client.submit("/contracts/new", _form(reg_number="6101000000000001"))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    row = session.scalar(select(TechContract))
    assert row.reg_number == "6101000000000001" and row.seller_region_id == tree["xian_yanta"].id
    resp = client.submit(f"/contracts/{row.id}/edit", _form(reg_number="6101000000000001", amount="200",
                                                           tech_amount="180"))
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(TechContract, row.id).amount == Decimal("200")
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "contract.changed")).detail["fields"] == \
        ["amount", "tech_amount"]
    page = client.get("/contracts/?region=xian").get_data(as_text=True)
    assert "6101000000000001" in page  # a city's filter takes in its districts and parks
    assert "6101000000000001" not in client.get("/contracts/?region=baoji").get_data(as_text=True)


@pytest.mark.parametrize("over,zh_text", [
    ({"amount": "-5"}, "请输入大于或等于 0 的金额"),
    ({"tech_amount": "500"}, "技术交易额不能超过成交额"),
    ({"seller_region": ""}, "此项为必填项"),
])
def test_bad_values_answer_422_with_a_message_and_save_nothing(client, session, tree, login_as, over, zh_text):
    login_as("broker")
    resp = client.submit("/contracts/new", _form(**over))
    assert resp.status_code == 422
    assert zh_text in resp.get_data(as_text=True)
    assert _count(session) == 0


def test_a_duplicate_registration_number_is_refused_in_both_languages(client, session, tree, login_as, make_user):
    broker = login_as("broker")
    contracts.create_contract(session, session.get(type(broker), broker.id), contract_data(reg_number="6101000000000009"))
    session.commit()
    resp = client.submit("/contracts/new", _form(reg_number="6101000000000009"))
    assert resp.status_code == 422 and "已在登记册中" in resp.get_data(as_text=True)
    client.submit("/lang/en", {"next": "/"}, form_url="/")
    resp = client.submit("/contracts/new", _form(reg_number="6101000000000009"))
    assert resp.status_code == 422 and "is already in the register" in resp.get_data(as_text=True)
    assert _count(session) == 1


def test_listers_and_anonymous_never_reach_the_register(client, tree, login_as):
    assert client.get("/contracts/").status_code == 302
    login_as("company")
    assert client.get("/contracts/").status_code == 403
    assert client.get("/contracts/statistics/").status_code == 403


def _filled_template(client, rows: list[dict]) -> bytes:
    book = load_workbook(io.BytesIO(client.get("/contracts/template.xlsx").data))
    sheet = book["合同"]
    assert sheet.data_validations.dataValidation  # drop-down lists for the coded columns
    headers = [str(c.value).rstrip("*") for c in sheet[1]]
    for i, row in enumerate(rows, start=3):
        for j, h in enumerate(headers, start=1):
            if h in row:
                sheet.cell(row=i, column=j, value=row[h])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ROW = {"登记号": "6101130000000101", "登记日期": "2026-03-05", "合同名称": "钛合金锻造工艺技术转让",
       "合同类别": "技术转让（专利权）", "登记状态": "已登记", "卖方（技术输出方）": "秦岭理工大学", "卖方性质": "120 高等院校",
       "卖方所在地区": "雁塔区", "买方（技术吸纳方）": "西安秦川新材料科技有限公司", "买方性质": "230 民营企业",
       "买方所在地区": "西安高新区", "成交额（万元）": 80, "技术交易额（万元）": 80, "签订日期": "2026-03-01",
       "技术领域": "new_materials.metal", "知识产权类型": "发明专利"}


def test_an_import_previews_rejects_and_records_only_the_good_rows(client, session, tree, login_as):
    login_as("broker")
    data = _filled_template(client, [ROW, {**ROW, "登记号": "6101130000000102", "买方所在地区": "亚特兰蒂斯"},
                                     {**ROW, "登记号": "6101130000000103", "技术交易额（万元）": 90},
                                     {**ROW}])
    resp = client.submit("/contracts/import", {"file": (io.BytesIO(data), "登记.xlsx")},
                         content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1500]
    preview_url = resp.headers["Location"]
    page = client.get(preview_url).get_data(as_text=True)
    assert "未知地区“亚特兰蒂斯”" in page and "技术交易额不能超过成交额" in page and "已在文件第 3 行" in page
    assert _count(session) == 0  # nothing recorded before the broker confirms
    rejects = load_workbook(io.BytesIO(client.get(preview_url + "?rejects=xlsx").data)).worksheets[0]
    assert rejects.max_row == 4, [r[-1] for r in rejects.iter_rows(values_only=True)]  # header + three rejects
    resp = client.submit(preview_url, {"confirm": "1"})
    assert resp.status_code == 302
    assert _count(session) == 1
    assert session.scalar(select(TechContract)).buyer_region_id == tree["xian_gaoxin"].id
    # a second confirm records nothing more
    client.submit(preview_url, {"confirm": "1"})
    assert _count(session) == 1


def test_another_brokers_batch_is_not_found(client, session, tree, login_as, login, make_user):
    login_as("broker")
    data = _filled_template(client, [ROW])
    resp = client.submit("/contracts/import", {"file": (io.BytesIO(data), "a.xlsx")}, content_type="multipart/form-data")
    url = resp.headers["Location"]
    login(make_user("broker"))
    assert client.get(url).status_code == 404


def test_the_export_reads_back_as_an_import(client, session, tree, login_as):
    broker = login_as("broker")
    contracts.create_contract(session, session.get(type(broker), broker.id), contract_data(reg_number="6101000000000777"))
    session.commit()
    book = load_workbook(io.BytesIO(client.get("/contracts/export.xlsx").data))
    values = [c.value for c in book.worksheets[0][2]]
    assert "6101000000000777" in values and "技术开发（委托）" in values and "雁塔区" in values
    text = client.get("/contracts/export.csv").get_data(as_text=True)
    assert "6101000000000777" in text


def test_an_admin_refuses_a_region_cycle_with_a_message(client, session, tree, login_as):
    login_as("admin")
    city = tree["xian"]
    resp = client.submit(f"/admin/regions/{city.id}/edit", {
        "code": "xian", "name_zh": "西安市", "name_en": "Xi'an", "level": "city", "gb_code": "610100",
        "parent_id": str(tree["xian_changan"].id), "position": "0"})
    assert resp.status_code == 422
    assert "不能移到它自己或它的下级区域之下" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Region, city.id).parent_id == tree["shaanxi"].id
    resp = client.submit("/admin/regions/new", {"code": "xian_lintong", "name_zh": "临潼区", "name_en": "Lintong",
                                                "level": "district", "gb_code": "610115",
                                                "parent_id": str(city.id), "position": "3"})
    assert resp.status_code == 302
    assert "临潼区" in client.get("/admin/regions/").get_data(as_text=True)


def test_statistics_tables_and_downloads_equal_the_service_figures(client, session, tree, login_as, make_user):
    broker = login_as("broker")
    actor = session.get(type(broker), broker.id)
    for n, (seller, buyer, amount) in enumerate((("xian_yanta", "xian_gaoxin", "100"), ("xian_gaoxin", "jiangsu", "30"),
                                                 ("guangdong", "xian_hangtian", "20"))):
        contracts.create_contract(session, actor, contract_data(reg_number=f"61010000000005{n:02d}", seller_region=seller,
                                                                buyer_region=buyer, amount=amount, tech_amount=amount,
                                                                signed_on=date(2025, 5, 1), registered_on=date(2025, 5, 2)))
    session.commit()
    args = "region=xian&kind=year&year=2025"
    page = client.get(f"/contracts/statistics/?{args}")
    assert page.status_code == 200 and "西安高新区" in page.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(client.get(f"/contracts/statistics/overview.csv?{args}").get_data(as_text=True)
                                       .lstrip("\ufeff"))))
    flows = contract_stats.flows(session, tree["xian"], contract_stats.period("year", 2025))
    assert [int(r[1]) for r in rows[1:4]] == [flows["output"].count, flows["absorbed"].count, flows["local"].count]
    assert [Decimal(r[2]) for r in rows[1:4]] == [Decimal("130"), Decimal("120"), Decimal("100")]
    park = load_workbook(io.BytesIO(client.get(f"/contracts/statistics/by_park.xlsx?{args}").data)).worksheets[0]
    by_name = {r[0]: r for r in park.iter_rows(min_row=2, values_only=True)}
    assert by_name["西安高新区"][1:] == (1, 30, 1, 100, 0, 0)


def test_an_admin_sets_a_target_and_sees_the_progress(client, session, tree, login_as):
    login_as("admin")
    resp = client.submit("/contracts/statistics/targets", {"region_id": str(tree["xian_gaoxin"].id), "year": "2025",
                                                           "amount": "-3", "count": ""})
    assert resp.status_code == 422 and session.scalar(select(func.count()).select_from(RegionTarget)) == 0
    resp = client.submit("/contracts/statistics/targets", {"region_id": str(tree["xian_gaoxin"].id), "year": "2025",
                                                           "amount": "500", "count": "10"})
    assert resp.status_code == 302
    page = client.get("/contracts/statistics/targets?year=2025").get_data(as_text=True)
    assert "西安高新区" in page and "500" in page
    assert "500" in client.get("/contracts/statistics/?region=xian_gaoxin&kind=year&year=2025").get_data(as_text=True)


# --- /api/v1: the same visibility as the pages ------------------------------------------------------------------

def _token(session, user) -> str:
    from services import tokens
    _row, clear = tokens.create_token(session, session.get(type(user), user.id), "test")
    session.commit()
    return clear


def test_the_api_lists_regions_to_anyone_signed_in_and_contracts_to_staff(app, session, tree, make_user):
    broker, company = make_user("broker"), make_user("company")
    contracts.create_contract(session, session.get(type(broker), broker.id),
                              contract_data(reg_number="6101000000000888", seller_region="xian_hangtian"))
    session.commit()
    api = app.test_client()
    staff = {"Authorization": f"Bearer {_token(session, broker)}"}
    lister = {"Authorization": f"Bearer {_token(session, company)}"}
    items = api.get("/api/v1/regions/", headers=lister).get_json()["items"]
    park = next(i for i in items if i["code"] == "xian_hangtian")
    assert park["level"] == "park" and park["parent_id"] == tree["xian_changan"].id and park["depth"] == 3
    assert api.get("/api/v1/regions/").status_code == 401
    assert api.get("/api/v1/contracts/", headers=lister).status_code == 403
    page = api.get("/api/v1/contracts/?region=xian", headers=staff).get_json()
    assert page["total"] == 1 and page["items"][0]["reg_number"] == "6101000000000888"
    assert page["items"][0]["amount"] == "120.5000" and page["items"][0]["seller_region"] == "xian_hangtian"
    assert api.get("/api/v1/contracts/?region=baoji", headers=staff).get_json()["total"] == 0
    one = api.get(f"/api/v1/contracts/{page['items'][0]['id']}", headers=staff)
    assert one.status_code == 200 and one.get_json()["buyer_region"] == "xian_gaoxin"
    assert api.get("/api/v1/contracts/999999", headers=staff).status_code == 404
    assert api.get("/api/v1/contracts/?category=gift", headers=staff).status_code == 422


BAD_URLS = [
    "/contracts/?page=99999999999999999999", "/contracts/?since=2025-02-30&region=atlantis&category=x",
    "/contracts/new?opportunity=99999999999999999999", "/contracts/new?opportunity=12",
    "/contracts/statistics/?kind=quarter&part=9&year=2025", "/contracts/statistics/?kind=custom&start=2025-05-01&end=2025-01-01",
    "/contracts/statistics/?year=99999&region=%00", "/contracts/statistics/by_park.csv?region=nowhere&kind=month&part=13",
    "/contracts/export.csv?until=x", "/contracts/import/99999999999999999999",
]


def test_bad_query_values_never_give_a_server_error(client, tree, login_as):
    login_as("admin")
    for url in BAD_URLS:
        assert client.get(url).status_code in (200, 302, 400, 404), url
