"""The review lifecycle and who may take each step, on the services alone."""
from __future__ import annotations

import pytest

from services import listings
from services.errors import NotFound, ServiceError
from tests.conftest import demand_data

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


@pytest.fixture
def people(make_user):
    return {"owner": make_user("company", org="甲公司"), "other": make_user("company", org="乙公司"),
            "broker": make_user("broker"), "admin": make_user("admin"), "uni": make_user("university")}


def test_draft_submit_approve_close(session, people, make_listing):
    item = make_listing("demand", people["owner"], status="draft")
    assert item.status == "draft"
    listings.transition(session, item, people["owner"], "submit")
    listings.transition(session, item, people["broker"], "approve")
    assert item.status == "published" and item.published_at is not None
    listings.transition(session, item, people["owner"], "close")
    assert item.status == "closed"
    actions = [e.action for e in listings.history(session, item)]
    assert actions == ["create", "submit", "approve", "close"]


def test_send_back_needs_reason_and_owner_can_resubmit(session, people, make_listing):
    item = make_listing("demand", people["owner"], status="submitted")
    with pytest.raises(ServiceError) as err:
        listings.transition(session, item, people["broker"], "return", "  ")
    assert err.value.code == "listing.reason_required"
    listings.transition(session, item, people["broker"], "return", "请补充预算")
    assert item.status == "returned" and item.review_note == "请补充预算"
    listings.transition(session, item, people["owner"], "submit")
    assert item.status == "submitted"


@pytest.mark.parametrize("actor,action", [("owner", "approve"), ("uni", "approve"), ("other", "submit"),
                                          ("broker", "submit"), ("other", "withdraw")])
def test_wrong_actor_is_refused(session, people, make_listing, actor, action):
    item = make_listing("demand", people["owner"], status="draft" if action == "submit" else "submitted")
    with pytest.raises((ServiceError, NotFound)):
        listings.transition(session, item, people[actor], action)
    assert item.status in ("draft", "submitted")


def test_other_users_draft_is_not_found(session, people, make_listing):
    item = make_listing("demand", people["owner"], status="draft")
    with pytest.raises(NotFound):
        listings.get_listing(session, "demand", item.id, people["other"])
    assert listings.get_listing(session, "demand", item.id, people["broker"]) is item


def test_cannot_approve_a_draft(session, people, make_listing):
    item = make_listing("demand", people["owner"], status="draft")
    with pytest.raises(ServiceError) as err:
        listings.transition(session, item, people["broker"], "approve")
    assert err.value.code == "listing.bad_transition"


def test_editing_published_listing_sends_it_back_to_review(session, people, make_listing):
    item = make_listing("demand", people["owner"], reviewer=people["broker"])
    listings.update_listing(session, item, people["owner"], {"title": "新的标题：高镍正极寿命"})
    assert item.status == "submitted"


def test_rules_hold_outside_forms(session, people):
    with pytest.raises(ServiceError) as err:
        listings.create_listing(session, "demand", people["owner"], demand_data(budget_min=300.0, budget_max=10.0))
    assert err.value.code == "listing.budget_order"
    with pytest.raises(ServiceError) as err:
        listings.create_listing(session, "demand", people["owner"], demand_data(field_code="nope.nope"))
    assert err.value.code == "listing.unknown_field"
    with pytest.raises(ServiceError) as err:
        listings.create_listing(session, "achievement", people["owner"], demand_data())
    assert err.value.code == "listing.wrong_role"


def test_public_search_never_returns_unpublished(session, people, make_listing):
    make_listing("demand", people["owner"], status="draft", title="草稿需求不可见")
    published = make_listing("demand", people["owner"], reviewer=people["broker"], title="已发布需求")
    rows, total = listings.page(session, listings.search_stmt("demand", listings.SearchFilters(), None), 1, 50)
    assert [r.id for r in rows] == [published.id] and total == 1
    f = listings.SearchFilters(status="draft")
    rows, _ = listings.page(session, listings.search_stmt("demand", f, people["other"]), 1, 50)
    assert all(r.status == "published" for r in rows)
    rows, _ = listings.page(session, listings.search_stmt("demand", f, people["broker"]), 1, 50)
    assert [r.title for r in rows] == ["草稿需求不可见"]


def test_text_search_ignores_case_and_takes_wildcards_literally(session, people, make_listing):
    """The same answer on SQLite and PostgreSQL: case-insensitive (PostgreSQL's LIKE is not), % and _ literal."""
    hit = make_listing("demand", people["owner"], reviewer=people["broker"], title="ALD 包覆高镍正极",
                       keywords="PCR,Li-ion")
    other = make_listing("demand", people["owner"], reviewer=people["broker"], title="普通需求", keywords="x")

    def found(q: str) -> list[int]:
        stmt = listings.search_stmt("demand", listings.SearchFilters(q=q), None)
        return [r.id for r in listings.page(session, stmt, 1, 50)[0]]

    assert found("ald") == [hit.id] and found("pcr li-ion") == [hit.id] and found("ALD") == [hit.id]
    assert sorted(found("80%")) == sorted([hit.id, other.id])  # both descriptions say "不足80%"
    assert found("8_%") == [] and found("不%80") == []


def test_search_follows_edits_and_never_matches_across_title_and_keywords(session, people, make_listing):
    item = make_listing("demand", people["owner"], reviewer=people["broker"], title="石墨烯导热膜", keywords="散热")

    def found(q: str) -> list[int]:
        stmt = listings.search_stmt("demand", listings.SearchFilters(q=q), None)
        return [r.id for r in listings.page(session, stmt, 1, 50)[0]]

    assert found("石墨烯") == [item.id] and found("导热膜散热") == []  # title ends, keywords start: no match
    item.title, item.keywords = "Graphene Film 导热", "热管理"
    session.commit()
    assert found("石墨烯") == [] and found("graphene") == [item.id] and found("热管理") == [item.id]


def test_the_migration_fills_search_text_for_listings_saved_before_it(database_url, session, people, make_listing):
    from sqlalchemy import text

    from migrations import runner

    item = make_listing("demand", people["owner"], reviewer=people["broker"], title="Perovskite 叠层电池")
    session.close()
    runner.downgrade(database_url, "0007")
    runner.upgrade(database_url)
    stored = session.execute(text("SELECT search_text FROM demands WHERE id = :i"), {"i": item.id}).scalar()
    assert stored.startswith("perovskite 叠层电池\n")


def test_pages_carry_the_total_and_an_empty_page_still_counts(session, people, make_listing):
    made = [make_listing("demand", people["owner"], reviewer=people["broker"], title=f"分页需求{i}") for i in range(5)]
    stmt = listings.search_stmt("demand", listings.SearchFilters(q="分页需求"), None)
    pages = [listings.page(session, stmt, n, 2) for n in (1, 2, 3, 4)]
    assert [total for _, total in pages] == [5, 5, 5, 5]
    assert [len(rows) for rows, _ in pages] == [2, 2, 1, 0]
    assert sorted(r.id for rows, _ in pages for r in rows) == sorted(m.id for m in made)
