"""Companies post demands and universities list achievements through the forms."""
from __future__ import annotations

from datetime import timedelta

import pytest
from services import clock

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

DEMAND_FORM = {"title": "高镍三元正极材料循环寿命提升", "description": "我司动力电池高镍正极循环衰减快，"
               "1000次循环后容量保持率不足80%，希望通过表面包覆或掺杂改性提升循环寿命。",
               "indicators": "0.5C循环1000次容量保持率≥85%", "field_code": "new_energy.battery",
               "keywords": "高镍三元,循环寿命", "region": "shaanxi", "modes": ["joint", "commissioned"],
               "budget_min": "50", "budget_max": "200", "deadline": (clock.today() + timedelta(days=30)).isoformat(),
               "min_trl": "4", "contact_name": "张工", "contact_phone": "13800000001",
               "contact_email": "zhang.gong@example.com", "intent": "draft"}

ACH_FORM = {"title": "单晶高镍正极原子层沉积包覆技术", "abstract": "采用原子层沉积在单晶高镍正极表面构筑纳米氧化铝包覆层，"
            "抑制循环过程中的相变与界面副反应。", "field_code": "new_energy.battery", "keywords": "单晶高镍,原子层沉积",
            "region": "jiangsu", "modes": ["license"], "stage": "pilot", "trl": "6", "price": "150",
            "team": "李教授团队", "patents-0-number": "CN202110123456.7", "patents-0-kind": "invention",
            "patents-0-status": "granted", "contact_name": "李老师", "contact_phone": "13900000012",
            "contact_email": "li@example.cn", "intent": "submit"}


def test_company_saves_a_draft_then_submits(client, login_as, zh):
    login_as("company")
    resp = client.submit("/demands/new", DEMAND_FORM)
    assert resp.status_code == 302
    detail = resp.headers["Location"]
    page = client.get(detail).get_data(as_text=True)
    assert "高镍三元正极材料循环寿命提升" in page and "st-draft" in page and zh("Draft") in page
    listing_id = detail.rstrip("/").split("/")[-1]
    resp = client.submit(f"/demands/{listing_id}/submit", {}, form_url=detail)
    assert resp.status_code == 302
    assert "st-submitted" in client.get(detail).get_data(as_text=True)


def test_a_phone_typed_in_full_width_digits_is_read_as_ascii(client, login_as, session):
    from sqlalchemy import select
    from models import Demand
    login_as("company")
    for typed, stored in (("１３８００１３８０００", "13800138000"), ("０２９－８８８８６６６６", "029-88886666")):
        resp = client.submit("/demands/new", dict(DEMAND_FORM, contact_phone=typed))
        assert resp.status_code == 302, resp.get_data(as_text=True)
        session.expire_all()
        assert session.scalars(select(Demand.contact_phone).order_by(Demand.id.desc())).first() == stored
    page = client.submit("/demands/new", dict(DEMAND_FORM, contact_phone="١٣٨٠٠١٣٨٠٠٠")).get_data(as_text=True)
    assert 'class="error"' in page  # other scripts' digits are not a Chinese phone number


@pytest.mark.parametrize("change,message", [
    ({"title": ""}, "This field is required."),
    ({"budget_min": "300", "budget_max": "100"}, "The maximum budget must be at least the minimum."),
    ({"deadline": (clock.today() - timedelta(days=1)).isoformat()}, "The deadline must be today or later."),
    ({"field_code": "no.such_field"}, None),
    ({"modes": ["barter"]}, None),
    ({"contact_phone": "12345"}, "Enter a mobile number (11 digits) or a landline such as 029-88886666."),
    ({"contact_email": "nobody"}, "Enter a valid e-mail address, like name@example.com."),
    ({"budget_min": "abc"}, None),
    ({"title": "长" * 200}, "The title needs 4 to 120 characters."),
])
def test_bad_demand_input_is_explained_and_kept(client, login_as, zh, change, message):
    login_as("company")
    resp = client.submit("/demands/new", dict(DEMAND_FORM, **change))
    page = resp.get_data(as_text=True)
    assert resp.status_code in (200, 422)
    assert 'class="error"' in page
    if message:
        assert zh(message) in page
    assert "张工" in page  # what the user typed is still there
    assert "1000次循环后容量保持率不足80%" in page


def test_university_lists_an_achievement_for_review(client, login_as):
    login_as("university")
    resp = client.submit("/achievements/new", ACH_FORM)
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "CN202110123456.7" in page and "st-submitted" in page


def test_stage_and_trl_must_agree(client, login_as):
    login_as("university")
    page = client.submit("/achievements/new", dict(ACH_FORM, stage="lab", trl="8")).get_data(as_text=True)
    assert 'class="error"' in page and "TRL" in page


def test_price_or_negotiable_required(client, login_as):
    login_as("university")
    page = client.submit("/achievements/new", dict(ACH_FORM, price="")).get_data(as_text=True)
    assert 'class="error"' in page


def test_company_cannot_post_achievements(client, login_as):
    login_as("company")
    assert client.get("/achievements/new").status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    resp = client.get("/demands/new")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_another_companys_draft_is_404(client, make_user, make_listing, login):
    owner = make_user("company", org="甲公司")
    item = make_listing("demand", owner, status="draft")
    login(make_user("company", org="乙公司"))
    assert client.get(f"/demand/{item.id}").status_code == 404
    assert client.get(f"/demands/{item.id}/edit").status_code == 404


def test_owner_edits_and_sees_the_change(client, make_user, make_listing, login):
    owner = make_user("company")
    item = make_listing("demand", owner, status="draft")
    login(owner)
    form = dict(DEMAND_FORM, title="改过的标题：高镍正极寿命")
    resp = client.submit(f"/demands/{item.id}/edit", form)
    assert resp.status_code == 302
    assert "改过的标题" in client.get(f"/demand/{item.id}").get_data(as_text=True)


def test_withdraw_returns_to_draft(client, make_user, make_listing, login):
    owner = make_user("company")
    item = make_listing("demand", owner, status="submitted")
    login(owner)
    client.submit(f"/demands/{item.id}/withdraw", {}, form_url=f"/demand/{item.id}")
    assert "st-draft" in client.get(f"/demand/{item.id}").get_data(as_text=True)
