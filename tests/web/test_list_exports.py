"""List exports: the filtered search without contacts, the owner's own list with them, formulas escaped."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def _csv(resp) -> list[list[str]]:
    assert resp.status_code == 200 and resp.data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))


@pytest.fixture
def listed(make_user, make_listing):
    owner, broker = make_user("university"), make_user("broker")
    battery = make_listing("achievement", owner, "published", reviewer=broker)
    other = make_listing("achievement", owner, "published", reviewer=broker, title="=HYPERLINK(\"http://evil\")",
                         field_code="new_energy.photovoltaic", keywords="光伏", region="shaanxi")
    draft = make_listing("achievement", owner, "draft", title="尚未发布的草稿成果")
    return owner, broker, battery, other, draft


@pytest.mark.parametrize("role", [None, "company", "broker", "admin"])
def test_search_export_follows_filters_and_never_has_contacts(client, login_as, listed, role, zh):
    if role:
        login_as(role)
    rows = _csv(client.get("/export/search/achievement.csv"))
    body = "\n".join(",".join(r) for r in rows)
    assert "canary.achievement@example.cn" not in body and "13900000012" not in body and "李老师" not in body
    assert "尚未发布的草稿成果" not in body
    assert len(rows) == 3
    assert "'=HYPERLINK(\"http://evil\")" in body  # formula injection escaped
    filtered = _csv(client.get("/export/search/achievement.csv?region=jiangsu"))
    assert len(filtered) == 2 and filtered[1][1] == "单晶高镍正极原子层沉积包覆技术"


def test_search_export_xlsx_in_english(client, listed):
    client.submit("/lang/en", {"next": "/"}, form_url="/")
    resp = client.get("/export/search/achievement.xlsx?field=new_energy.battery")
    sheet = load_workbook(io.BytesIO(resp.data)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][1] == "单晶高镍正极原子层沉积包覆技术" and rows[0][1] == "Title"
    assert all("contact" not in str(h).lower() and "联系" not in str(h) for h in rows[0])


def test_owner_list_has_contacts_and_drafts(client, login, listed):
    owner = listed[0]
    login(owner)
    rows = _csv(client.get("/export/mine.csv"))
    body = "\n".join(",".join(r) for r in rows)
    assert len(rows) == 4 and "尚未发布的草稿成果" in body and "canary.achievement@example.cn" in body
    sheet = load_workbook(io.BytesIO(client.get("/export/mine.xlsx").data)).worksheets[0]
    assert sheet.max_row == 4



def test_owner_exports_with_contacts_are_audited(client, login, listed, session):
    from models import AuditEvent
    owner = listed[0]
    login(owner)
    client.get("/export/mine.csv")
    client.get("/export/search/achievement.csv")  # public fields only: not an event
    events = session.query(AuditEvent).filter_by(action="export.download").all()
    assert [(e.actor_id, e.target, e.detail) for e in events] == [(owner.id, "achievements:mine",
                                                                 {"format": "csv", "rows": 3})]


def test_other_owner_sees_only_their_own(client, login_as, listed):
    login_as("university")
    rows = _csv(client.get("/export/mine.csv"))
    assert len(rows) == 1  # headers only


@pytest.mark.parametrize("url,status", [("/export/mine.csv", 302), ("/export/search/gadget.csv", 404),
                                        ("/export/search/demand.pdf", 404)])
def test_bad_export_urls(client, url, status):
    assert client.get(url).status_code == status


def test_brokers_have_no_own_list(client, login_as):
    login_as("broker")
    assert client.get("/export/mine.csv").status_code == 403
