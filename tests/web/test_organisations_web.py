"""Organisation accounts through the pages and the API (issue 21 part 3): a TTO manager invites a colleague who then
edits the office's listing; managers remove members and change roles; every bad input answers a clear message in
both languages and saves nothing."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models import OrganisationInvitation, User
from services import accounts, listings, organisations, tokens
from tests.conftest import PASSWORD, CSRF_RE, achievement_data


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


LINK_RE = re.compile(r"(/organisation/join/[A-Za-z0-9_\-]+)")


def _invitations(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(OrganisationInvitation))


def _bearer(session, user) -> dict:
    _row, clear = tokens.create_token(session, user, "test")
    session.commit()
    return {"Authorization": f"Bearer {clear}"}


def test_a_tto_manager_invites_a_colleague_who_edits_the_offices_listing(app, client, session, login, make_user,
                                                                          make_listing):
    manager = make_user("university", org="西北大学技术转移中心")
    item = make_listing("achievement", manager, status="draft")
    login(manager)
    resp = client.submit("/organisation/invite", {"email": "colleague@nwu.example.cn", "org_role": "member"},
                         form_url="/organisation/", follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "colleague@nwu.example.cn" in page
    link = LINK_RE.search(page).group(1)
    # the colleague opens the link in another browser and creates the account there
    other = app.test_client()
    form = other.get(link)
    assert form.status_code == 200 and "西北大学技术转移中心" in form.get_data(as_text=True)
    token = CSRF_RE.search(form.get_data(as_text=True)).group(1)
    resp = other.post(link, data={"csrf_token": token, "display_name": "赵老师", "password": PASSWORD})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    session.expire_all()
    colleague = accounts.get_user_by_email(session, "colleague@nwu.example.cn")
    assert colleague.organisation_id == manager.organisation_id and colleague.org_role == "member"
    assert colleague.role == "university"
    # signed in: the office's listing is theirs to edit
    assert item.title in other.get("/achievements/mine").get_data(as_text=True)
    edit = other.get(f"/achievements/{item.id}/edit")
    assert edit.status_code == 200
    values = achievement_data(title="同事编辑后的成果标题")
    data = {k: v for k, v in values.items() if k not in ("patents", "modes", "negotiable")}
    data.update({"modes": values["modes"], "trl": "6", "csrf_token": CSRF_RE.search(edit.get_data(as_text=True)).group(1),
                 "intent": "draft", "rights_status": "partial"})
    resp = other.post(f"/achievements/{item.id}/edit", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    session.expire_all()
    edited = session.get(type(item), item.id)
    assert edited.title == "同事编辑后的成果标题" and edited.rights_status == "partial"
    # the manager's page lists the colleague; the invitation link is used up
    assert "赵老师" in client.get("/organisation/").get_data(as_text=True)
    assert other.get(link).status_code == 404


@pytest.mark.parametrize("email,lang,text", [
    ("", "en", "This field is required."),
    ("not-an-address", "en", "Enter a valid e-mail address, like name@example.com."),
    ("", "zh", "This field is required."),
    ("not-an-address", "zh", "Enter a valid e-mail address, like name@example.com."),
])
def test_bad_invitations_say_why_in_both_languages_and_save_nothing(client, session, login_as, zh, email, lang,
                                                                    text):
    login_as("company")
    if lang == "en":
        client.submit("/lang/en", {"next": "/"}, form_url="/")
    resp = client.submit("/organisation/invite", {"email": email, "org_role": "member"}, form_url="/organisation/")
    assert resp.status_code == 422
    assert (text if lang == "en" else zh(text)) in resp.get_data(as_text=True)
    assert _invitations(session) == 0


def test_inviting_a_member_twice_and_a_members_invitation_are_refused(client, session, login, make_user, zh):
    manager = make_user("company")
    _, token = organisations.invite(session, manager, "member@example.com")
    member = organisations.accept_new(session, token, display_name="成员", password=PASSWORD)
    session.commit()
    login(manager)
    resp = client.submit("/organisation/invite", {"email": "member@example.com", "org_role": "member"},
                         form_url="/organisation/")
    assert resp.status_code == 422
    assert zh("This address already belongs to a member of your organisation.") in resp.get_data(as_text=True)
    client.submit("/logout", {}, form_url="/")
    login(member)
    page = client.get("/organisation/").get_data(as_text=True)
    assert "/organisation/invite" not in page  # members see the list, not the managers' forms
    resp = client.submit("/organisation/invite", {"email": "x@example.com", "org_role": "member"},
                         form_url="/organisation/")
    assert resp.status_code == 422
    assert zh("Only a manager of your organisation can do this.") in resp.get_data(as_text=True)
    assert _invitations(session) == 1


def test_managers_remove_members_and_change_roles_but_keep_a_manager(client, session, login, make_user, zh):
    manager = make_user("company")
    _, token = organisations.invite(session, manager, "m@example.com")
    member = organisations.accept_new(session, token, display_name="成员甲", password=PASSWORD)
    session.commit()
    login(manager)
    resp = client.submit(f"/organisation/members/{manager.id}/role", {"org_role": "member"},
                         form_url="/organisation/", follow_redirects=True)
    assert zh("An organisation needs at least one manager: make another member a manager first.") in \
        resp.get_data(as_text=True)
    resp = client.submit(f"/organisation/members/{member.id}/role", {"org_role": "manager"}, form_url="/organisation/")
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(User, member.id).org_role == "manager"
    resp = client.submit(f"/organisation/members/{member.id}/remove", {}, form_url="/organisation/")
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(User, member.id).organisation_id is None
    stranger = make_user("company")
    assert client.submit(f"/organisation/members/{stranger.id}/remove", {},
                         form_url="/organisation/").status_code == 404


def test_an_invitation_link_refuses_clearly(app, client, session, make_user, zh):
    manager = make_user("company")
    _, token = organisations.invite(session, manager, "new@example.com")
    session.commit()
    resp = client.get("/organisation/join/not-a-token")
    assert resp.status_code == 404
    assert zh("This invitation link is not valid (it may have been withdrawn). Ask your organisation's manager for "
              "a new one.") in resp.get_data(as_text=True)
    resp = client.submit(f"/organisation/join/{token}", {"display_name": "新人", "password": "short"})
    assert resp.status_code == 422
    assert zh("Use a password of at least 10 characters.") in resp.get_data(as_text=True)
    assert accounts.get_user_by_email(session, "new@example.com") is None
    # signed in with an account that has an organisation of its own (made after the invitation, which refuses
    # such an address when it is made): refused, nothing changes
    _, token2 = organisations.invite(session, manager, "new2@example.com")
    other = make_user("company", email="new2@example.com")
    session.commit()
    client.submit("/login", {"email": other.email, "password": PASSWORD})
    resp = client.submit(f"/organisation/join/{token2}", {})
    assert resp.status_code == 422
    assert zh("Your account already belongs to an organisation; ask the platform staff to move it.") in \
        resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, other.id).organisation_id != manager.organisation_id


def test_registration_makes_the_registering_user_the_manager(session):
    user = accounts.register(session, email="boss@example.com", password=PASSWORD, display_name="老板",
                             role="company", org_name="秦川新材料", region="shaanxi")
    session.commit()
    assert user.org_role == "manager" and organisations.is_manager(user)


def test_the_api_lists_invites_and_removes_members(app, session, make_user, zh):
    api = app.test_client()
    manager = make_user("university")
    headers = _bearer(session, manager)
    resp = api.post("/api/v1/organisation/invitations", json={"email": "api.colleague@example.com"}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    link = resp.get_json()["link"]
    assert "/organisation/join/" in link and resp.get_json()["org_role"] == "member"
    colleague = organisations.accept_new(session, link.rsplit("/", 1)[1], display_name="钱老师", password=PASSWORD)
    session.commit()
    members = api.get("/api/v1/organisation/members", headers=headers).get_json()
    assert [m["org_role"] for m in members["items"]] == ["manager", "member"]
    # bad input: a clear message, in the caller's language
    bad = api.post("/api/v1/organisation/invitations", json={"email": "nope", "org_role": "boss"}, headers=headers)
    assert bad.status_code == 422 and {"email", "org_role"} <= set(bad.get_json()["errors"])
    twice = api.post("/api/v1/organisation/invitations", json={"email": "api.colleague@example.com"},
                     headers=dict(headers, **{"Accept-Language": "en"}))
    assert twice.status_code == 409
    assert twice.get_json()["errors"] == {"email": ["This address already belongs to a member of your organisation."]}
    elsewhere = make_user("university", email="prof@elsewhere.example.com", org="别处大学")
    other = api.post("/api/v1/organisation/invitations", json={"email": elsewhere.email},
                     headers=dict(headers, **{"Accept-Language": "en"}))
    assert other.status_code == 409 and "already belongs to an account of another organisation" in \
        other.get_json()["errors"]["email"][0]
    member_headers = _bearer(session, colleague)
    refused = api.post("/api/v1/organisation/invitations", json={"email": "x@example.com"}, headers=member_headers)
    assert refused.status_code == 403
    assert refused.get_json()["message"] == zh("Only a manager of your organisation can do this.")
    assert api.delete(f"/api/v1/organisation/members/{manager.id}", headers=headers).status_code == 409
    resp = api.delete(f"/api/v1/organisation/members/{colleague.id}", headers=headers)
    assert resp.status_code == 200 and resp.get_json()["id"] == colleague.id
    assert api.delete(f"/api/v1/organisation/members/{colleague.id}", headers=headers).status_code == 404
    session.expire_all()
    assert session.get(User, colleague.id).organisation_id is None
    assert listings.owned_by(session, "achievement", session.get(User, colleague.id)) == []


def test_joining_with_a_pasted_control_character_keeps_the_notice_past_sign_in(client, session, make_user, zh):
    manager = make_user("company")
    _, token = organisations.invite(session, manager, "paste@example.com")
    session.commit()
    resp = client.submit(f"/organisation/join/{token}", {"display_name": "周老师\x07", "password": "a long enough passphrase 42"},
                         follow_redirects=True)
    assert resp.status_code == 200
    assert zh("Invisible control characters (they often come with text copied from another program) were taken out "
              "of what you typed. Check the text before you go on.") in resp.get_data(as_text=True)
    assert accounts.get_user_by_email(session, "paste@example.com").display_name == "周老师"
