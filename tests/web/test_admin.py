"""Admins manage users, roles and the field taxonomy."""
from __future__ import annotations


def test_admin_changes_a_role_and_the_user_is_signed_out(client, make_user, login, app):
    target = make_user("company")
    admin = make_user("admin")
    other = app.test_client()
    from tests.conftest import Client, PASSWORD
    c2 = Client(other)
    c2.submit("/login", {"email": target.email, "password": PASSWORD})
    assert c2.get("/demands/mine").status_code == 200
    login(admin)
    resp = client.submit(f"/admin/users/{target.id}/role", {"role": "broker"}, form_url="/admin/users")
    assert resp.status_code == 302
    assert c2.get("/demands/mine").status_code == 302  # session ended


def test_non_admins_get_403(client, login_as):
    login_as("broker")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/fields").status_code == 403


def test_admin_adds_a_sub_field_and_bad_codes_are_explained(client, login_as):
    login_as("admin")
    resp = client.submit("/admin/fields/new", {"code": "new_energy.tidal", "name_zh": "潮汐能", "name_en": "Tidal",
                                               "parent_code": "new_energy", "active": "y"})
    assert resp.status_code == 302
    assert "潮汐能" in client.get("/admin/fields").get_data(as_text=True)
    page = client.submit("/admin/fields/new", {"code": "tidal2", "name_zh": "x", "name_en": "x",
                                               "parent_code": "new_energy"}).get_data(as_text=True)
    assert "new_energy." in page and 'class="error"' in page
    page = client.submit("/admin/fields/new", {"code": "Bad Code!", "name_zh": "x", "name_en": "x",
                                               "parent_code": ""}).get_data(as_text=True)
    assert 'class="error"' in page


def test_admin_cannot_deactivate_self(client, login_as):
    admin = login_as("admin")
    resp = client.submit(f"/admin/users/{admin.id}/deactivate", {}, form_url="/admin/users", follow_redirects=True)
    assert resp.status_code == 200
    assert client.get("/admin/users").status_code == 200


def test_admin_creates_a_broker(client, login_as):
    login_as("admin")
    resp = client.submit("/admin/users/new", {"email": "b2@example.com", "display_name": "经纪人二",
                                              "role": "broker", "password": "long-enough-pw"},
                         form_url="/admin/users")
    assert resp.status_code == 302
    assert "b2@example.com" in client.get("/admin/users").get_data(as_text=True)


def test_the_user_list_is_paged(client, make_user, login, app):
    login(make_user("admin"))
    for _ in range(2 * app.config["PAGE_SIZE"] + 5):  # 46 more users at the default 20 a page
        make_user("company")
    first = client.get("/admin/users").get_data(as_text=True)
    assert first.count("@example.com</td>") == app.config["PAGE_SIZE"] and 'class="pager"' in first
    last = client.get("/admin/users?page=3").get_data(as_text=True)
    assert last.count("@example.com</td>") == 6  # 46 companies + the admin, 20 a page
    past = client.get("/admin/users?page=99").get_data(as_text=True)  # an old link: say so, lead back
    assert "@example.com</td>" not in past and "/admin/users?page=3" in past
    assert "没有第 99 页：最后一页是第 3 页" in past


def test_the_user_list_filters_by_role_state_and_text(client, make_user, login, session):
    admin = login(make_user("admin"))
    broker, gone = make_user("broker", email="wang.broker@example.com"), make_user("company")
    make_user("university")
    gone.active = False
    session.commit()
    brokers = client.get("/admin/users?role=broker").get_data(as_text=True)
    assert brokers.count("@example.com</td>") == 1 and broker.email in brokers
    inactive = client.get("/admin/users?active=no").get_data(as_text=True)
    assert inactive.count("@example.com</td>") == 1 and gone.email in inactive
    active = client.get("/admin/users?active=yes").get_data(as_text=True)
    assert active.count("@example.com</td>") == 3 and gone.email not in active
    by_text = client.get("/admin/users?q=wang").get_data(as_text=True)
    assert by_text.count("@example.com</td>") == 1 and broker.email in by_text
    paged_filter = client.get("/admin/users?role=company&active=no&page=1").get_data(as_text=True)
    assert paged_filter.count("@example.com</td>") == 1 and 'value="no" selected' in paged_filter
    assert admin.email in client.get("/admin/users?active=bogus&role=bogus").get_data(as_text=True)


def test_a_refused_new_account_keeps_the_list_paged(client, make_user, login):
    admin = login(make_user("admin"))
    resp = client.submit("/admin/users/new", {"email": admin.email, "display_name": "重复", "role": "broker",
                                              "password": "long-enough-pw"}, form_url="/admin/users")
    assert resp.status_code == 422 and 'class="error"' in resp.get_data(as_text=True)
