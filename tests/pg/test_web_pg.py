"""The web app on PostgreSQL, through the test client with CSRF on: register, sign in, a demand from
draft to public search; and 50 concurrent bookings for 10 seats (threads, own sessions) confirm 10."""
from __future__ import annotations

import threading

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from services import roadshows
from services.errors import ServiceError
from tests.services.test_roadshows import roadshow_data
from tests.web.test_auth import REGISTER
from tests.web.test_listing_forms import DEMAND_FORM


def test_runs_on_postgresql(app):
    assert app.extensions["db_engine"].dialect.name == "postgresql"


def test_register_sign_in_demand_approved_and_found_in_public_search(app, client, make_user, login):
    resp = client.submit("/register", REGISTER)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    client.submit("/logout", {}, form_url="/")
    resp = client.submit("/login", {"email": REGISTER["email"], "password": "wrong-password"})
    assert resp.status_code == 200
    resp = client.submit("/login", {"email": REGISTER["email"], "password": REGISTER["password"]})
    assert resp.status_code == 302

    resp = client.submit("/demands/new", dict(DEMAND_FORM, title="PG 高镍正极循环寿命提升"))
    assert resp.status_code == 302
    detail = resp.headers["Location"]
    listing_id = detail.rstrip("/").split("/")[-1]
    assert client.submit(f"/demands/{listing_id}/submit", {}, form_url=detail).status_code == 302
    assert "st-submitted" in client.get(detail).get_data(as_text=True)
    assert "PG 高镍正极循环寿命提升" not in client.get("/search/demand").get_data(as_text=True)
    client.submit("/logout", {}, form_url="/")

    login(make_user("broker"))
    assert "PG 高镍正极循环寿命提升" in client.get("/review/").get_data(as_text=True)
    resp = client.submit(f"/review/demand/{listing_id}/approve", {"reason": ""}, form_url="/review/")
    assert resp.status_code == 302
    client.submit("/logout", {}, form_url="/review/")

    public = client.get("/search/demand?q=高镍").get_data(as_text=True).replace("<mark>", "").replace("</mark>", "")
    assert "PG 高镍正极循环寿命提升" in public
    assert "PG 高镍正极循环寿命提升" in client.get("/search/demand?region=shaanxi").get_data(as_text=True)
    assert "PG 高镍正极循环寿命提升" not in client.get("/search/demand?region=jiangsu").get_data(as_text=True)
    page = client.get(f"/demand/{listing_id}").get_data(as_text=True)
    assert "PG 高镍正极循环寿命提升" in page and DEMAND_FORM["contact_email"] not in page


def test_fifty_concurrent_bookings_for_ten_seats_confirm_exactly_ten(app, session, make_user):
    """50 threads, each with its own engine and session on the PostgreSQL database, race for 10 seats."""
    from models import Roadshow, User

    broker = make_user("broker")
    companies = [make_user("company") for _ in range(50)]
    rs = roadshows.create_roadshow(session, broker, roadshow_data(seats=10))
    for c in companies:
        roadshows.invite(session, rs, c.id)
    session.commit()
    url = app.config["DATABASE_URL"]
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(company_id: int) -> None:
        engine = create_engine(url, isolation_level="READ COMMITTED")
        try:
            with Session(engine) as s:
                company = s.get(User, company_id)
                barrier.wait()
                try:
                    roadshows.register(s, rs.id, company)
                    s.commit()
                    result = "ok"
                except ServiceError as err:
                    s.rollback()
                    result = err.code
            with lock:
                outcomes.append(result)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=book, args=(c.id,)) for c in companies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 50
    assert outcomes.count("ok") == 10
    assert outcomes.count("roadshow.full") == 40
    session.expire_all()
    assert session.get(Roadshow, rs.id).seats_taken == 10
    registered = [i for i in session.get(Roadshow, rs.id).invitations if i.status == "registered"]
    assert len(registered) == 10
