"""Brokers review; the public sees published listings without contact details."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

CANARY = "canary.demand@example.com"


@pytest.fixture
def parties(make_user):
    return {"owner": make_user("company", org="甲公司"), "broker": make_user("broker"),
            "other": make_user("company", org="乙公司")}


def test_broker_approves_from_the_queue_and_it_goes_public_without_contact(client, parties, make_listing, login):
    item = make_listing("demand", parties["owner"], status="submitted")
    login(parties["broker"])
    queue = client.get("/review/").get_data(as_text=True)
    assert item.title in queue
    resp = client.submit(f"/review/demand/{item.id}/approve", {"reason": ""}, form_url="/review/")
    assert resp.status_code == 302
    client.submit("/logout", {}, form_url="/review/")
    public = client.get(f"/demand/{item.id}").get_data(as_text=True)
    assert item.title in public and CANARY not in public and "13800000001" not in public
    assert item.title in client.get("/").get_data(as_text=True)


def test_send_back_shows_the_reason_to_the_owner(client, parties, make_listing, login, zh):
    item = make_listing("demand", parties["owner"], status="submitted")
    login(parties["broker"])
    client.submit(f"/review/demand/{item.id}/return", {"reason": "请补充技术指标"}, form_url=f"/demand/{item.id}")
    login(parties["owner"])
    page = client.get("/demands/mine").get_data(as_text=True)
    assert "请补充技术指标" in page and zh("Sent back") in page


def test_send_back_without_reason_is_refused(client, parties, make_listing, login, zh):
    item = make_listing("demand", parties["owner"], status="submitted")
    login(parties["broker"])
    resp = client.submit(f"/review/demand/{item.id}/return", {"reason": ""}, form_url=f"/demand/{item.id}",
                         follow_redirects=True)
    assert zh("Give a reason so the owner knows what to change.") in resp.get_data(as_text=True)
    assert "st-submitted" in client.get(f"/demand/{item.id}").get_data(as_text=True)


def test_companies_cannot_review(client, parties, make_listing, login):
    item = make_listing("demand", parties["owner"], status="submitted")
    login(parties["other"])
    assert client.get("/review/").status_code == 403
    resp = client.submit(f"/review/demand/{item.id}/approve", {"reason": ""}, form_url="/demands/mine")
    assert resp.status_code == 403


def test_contact_is_hidden_from_other_companies_but_shown_to_owner_and_broker(client, parties, make_listing, login):
    item = make_listing("demand", parties["owner"], reviewer=parties["broker"])
    login(parties["other"])
    assert CANARY not in client.get(f"/demand/{item.id}").get_data(as_text=True)
    login(parties["owner"])
    assert CANARY in client.get(f"/demand/{item.id}").get_data(as_text=True)
    login(parties["broker"])
    assert CANARY in client.get(f"/demand/{item.id}").get_data(as_text=True)


def test_search_filters_and_bad_filter_values(client, parties, make_listing, zh):
    make_listing("demand", parties["owner"], reviewer=parties["broker"], title="光伏组件清洗机器人",
                 field_code="new_energy.photovoltaic", region="jiangsu", keywords="光伏,清洗",
                 description="大型光伏电站组件表面积灰严重，需要无水清洗机器人，可跨排自动转场，日清洗面积不低于2万平方米。")
    make_listing("demand", parties["owner"], reviewer=parties["broker"], title="高镍正极寿命提升", region="shaanxi")
    page = client.get("/search/demand?region=jiangsu").get_data(as_text=True)
    assert "光伏组件清洗机器人" in page and "高镍正极寿命提升" not in page
    page = client.get("/search/demand?q=高镍").get_data(as_text=True).replace("<mark>", "").replace("</mark>", "")
    assert "高镍正极寿命提升" in page and "光伏组件清洗机器人" not in page
    resp = client.get("/search/demand?budget=abc&since=yesterday&page=-3")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert zh("Amounts are numbers in 10k yuan, e.g. 50; the filter was ignored.") in page
    assert zh("Dates look like 2026-01-31; the date filter was ignored.") in page
    assert client.get("/search/nothing").status_code == 404


def test_drafts_never_appear_in_public_search(client, parties, make_listing):
    make_listing("demand", parties["owner"], status="draft", title="保密的草稿需求")
    assert "保密的草稿需求" not in client.get("/search/demand").get_data(as_text=True)
    assert "保密的草稿需求" not in client.get("/search/demand?status=draft").get_data(as_text=True)


def test_closed_listing_leaves_public_view(client, parties, make_listing, login):
    item = make_listing("demand", parties["owner"], reviewer=parties["broker"])
    login(parties["owner"])
    client.submit(f"/demands/{item.id}/close", {}, form_url=f"/demand/{item.id}")
    client.submit("/logout", {}, form_url="/demands/mine")
    assert client.get(f"/demand/{item.id}").status_code == 404


def test_the_queue_flags_a_likely_duplicate_with_a_link_to_the_published_look_alike(client, parties, make_listing,
                                                                                    login, zh):
    published = make_listing("demand", parties["owner"], reviewer=parties["broker"])
    repost = make_listing("demand", parties["other"], status="submitted")  # the same text again
    fresh = make_listing("demand", parties["other"], status="submitted", title="深海探测机器人水下自主导航需求",
                         description="需要基于多普勒计程仪与惯导的组合导航算法，实现深海长航时水下机器人厘米级定位。",
                         field_code="new_energy.battery", keywords="水下机器人,组合导航")
    login(parties["broker"])
    queue = client.get("/review/").get_data(as_text=True)
    rows = {item.id: queue[queue.index(f'/demand/{item.id}"'):] for item in (repost, fresh)}
    repost_row, fresh_row = (row[:row.index("</tr>")] for row in rows.values())
    assert zh("Possible duplicate") in repost_row and f'/demand/{published.id}" class="duplicate-of"' in repost_row
    assert zh("Possible duplicate") not in fresh_row
    assert zh("Submitted on") in queue


def test_over_long_text_is_refused_with_the_limit_not_cut(client, parties, make_listing, login, zh):
    item = make_listing("demand", parties["owner"], status="submitted")
    login(parties["broker"])
    page = client.get(f"/demand/{item.id}").get_data(as_text=True)
    assert "js/char-counter.js" in page  # counts the reason box (and lifts its maxlength) in the browser
    resp = client.submit(f"/review/demand/{item.id}/return", {"reason": "补" * 2001}, form_url=f"/demand/{item.id}",
                         follow_redirects=True)
    assert zh("Keep the reason under 2,000 characters.") in resp.get_data(as_text=True)
    from services import listings
    from web.db import sessionmaker_for
    with sessionmaker_for(client.c.application)() as s:
        assert listings.get_listing(s, "demand", item.id, parties["broker"]).status == "submitted"


def test_the_listing_form_shows_limits_and_keeps_an_over_long_text_whole(client, login_as, zh):
    login_as("company")
    form = client.get("/demands/new").get_data(as_text=True)
    assert 'data-maxlength="4000"' in form and ' maxlength="4000"' not in form
    long_text = "我司动力电池高镍正极循环衰减快，希望通过包覆改性提升寿命。" * 150  # 4,350 characters
    page = client.submit("/demands/new", {"title": "高镍三元正极材料循环寿命提升", "description": long_text,
                                          "field_code": "new_energy.battery", "region": "shaanxi",
                                          "modes": "joint", "contact_name": "张工", "contact_phone": "13800000001",
                                          "contact_email": "a@example.com"}).get_data(as_text=True)
    assert zh("Describe the problem in 20 to 4,000 characters.") in page
    assert long_text in page  # nothing was cut: the writer shortens it


@pytest.mark.parametrize("args", [
    {"q": "锂" * 10_000}, {"q": "   "}, {"q": "。，！？…—"}, {"q": '" OR NEAR(a b) *'}, {"q": "'|&!:*"},
    {"since": "2026-12-31", "until": "2026-01-01", "q": "机器人"},
])
def test_odd_search_input_answers_a_normal_page(client, parties, make_listing, args):
    make_listing("demand", parties["owner"], reviewer=parties["broker"], title="工业机器人视觉分拣")
    resp = client.get("/search/demand", query_string=args)
    assert resp.status_code == 200


def test_contradicting_dates_say_so(client, parties, zh):
    page = client.get("/search/demand", query_string={"since": "2026-12-31", "until": "2026-01-01"}).get_data(
        as_text=True)
    assert zh("The start date is after the end date, so nothing can match: swap them.") in page


def test_csv_exports_name_their_charset_once(client, parties, make_listing):
    make_listing("demand", parties["owner"], reviewer=parties["broker"])
    resp = client.get("/export/search/demand.csv")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
