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


# --- text a file format cannot hold (issue 18): one old listing must not break the export for everybody ----------

CONTROL_TITLE = "储能\x0b电池\x01热管理\x85方案\ufffe"


def _store_title(session, item, title):
    """Write a title straight into the database, as rows saved before the input rule (or by other paths) hold."""
    from sqlalchemy import update

    session.execute(update(type(item)).where(type(item).id == item.id).values(title=title))
    session.commit()


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_listing_with_control_characters_does_not_break_the_public_export(client, listed, session, fmt):
    _owner, _broker, battery, _other, _draft = listed
    _store_title(session, battery, CONTROL_TITLE)
    resp = client.get(f"/export/search/achievement.{fmt}")
    assert resp.status_code == 200
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(resp.data)).worksheets[0]
        titles = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    else:
        titles = [row[1] for row in _csv(resp)[1:]]
    assert "储能电池热管理方案" in titles  # the row is there, without the characters the file cannot hold
    assert len(titles) == 2


def test_the_owners_export_with_contacts_survives_an_escape_sequence_in_old_data(client, login, listed, session):
    from sqlalchemy import text

    owner, _broker, battery, _other, _draft = listed
    session.execute(text("UPDATE achievements SET team = :t WHERE id = :id"),
                    {"t": "李教授团队\x1b[31m", "id": battery.id})
    session.commit()
    login(owner)
    resp = client.get("/export/mine.xlsx")
    assert resp.status_code == 200
    cells = [str(v) for row in load_workbook(io.BytesIO(resp.data)).worksheets[0].iter_rows(values_only=True)
             for v in row if v is not None]
    assert "李教授团队[31m" in cells and not any("\x1b" in v for v in cells)
    assert "\x1b" not in "".join(",".join(r) for r in _csv(client.get("/export/mine.csv")))


def test_a_title_with_a_control_character_is_kept_without_it_and_the_reader_told(client, login_as, zh):
    login_as("university")
    resp = client.submit("/achievements/new", {"title": "储能电池\x07热管理方案"})
    assert resp.status_code in (200, 422)  # the form answers its own missing fields, with the title kept
    page = resp.get_data(as_text=True)
    assert "储能电池热管理方案" in page and "\x07" not in page
    assert zh("Invisible control characters (they often come with text copied from another program) were taken "
              "out of what you typed. Check the text before you go on.") in page
