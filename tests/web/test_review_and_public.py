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
