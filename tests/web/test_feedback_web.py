"""Brokers record outcomes on suggested pairs; pairs judged not relevant go down in later lists and
reports; feedback on a withdrawn or closed listing is refused clearly."""
from __future__ import annotations

import pytest

import io

from openpyxl import load_workbook

from tests.web.test_reports_web import report_id_of, run_single

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def _row(session, rid, position):
    from models import MatchReportRow
    return session.query(MatchReportRow).filter_by(report_id=rid, position=position).one()


def give(client, rid, row, outcome, follow_redirects=False, **extra):
    data = {"outcome": outcome, "row_id": row.id, "query_kind": "demand", "next": f"/reports/{rid}", **extra}
    return client.submit(f"/feedback/{row.demand_id}/{row.achievement_id}", data, form_url=f"/reports/{rid}",
                         follow_redirects=follow_redirects)


def test_not_relevant_pushes_the_pair_down_in_later_reports_and_match_lists(client, market, login, session):
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    top = _row(session, rid, 1)
    assert top.achievement_id == market["good"].id
    resp = give(client, rid, top, "not_relevant")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/reports/{rid}")
    again = report_id_of(run_single(client, "demand", market["demand"].id))
    assert _row(session, again, 1).achievement_id == market["off"].id
    assert _row(session, again, 2).achievement_id == market["good"].id
    page = client.get(f"/matches/demand/{market['demand'].id}").get_data(as_text=True)
    assert page.index(f'/achievement/{market["off"].id}"') < page.index(f'/achievement/{market["good"].id}"')
    # the old report is a snapshot: its order is unchanged
    assert _row(session, rid, 1).achievement_id == market["good"].id


def test_feedback_is_stored_with_the_engine_features_and_shown_in_the_report_and_export(client, market, login,
                                                                                        session, zh):
    from models import PairFeedback
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    row = _row(session, rid, 1)
    assert give(client, rid, row, "relevant", reason="price_gap", note="预算偏低").status_code == 302
    fb = session.query(PairFeedback).one()
    assert (fb.user_id, fb.outcome, fb.reason, fb.note) == (market["broker"].id, "relevant", "price_gap", "预算偏低")
    assert fb.score == row.score and fb.features["semantic"] == row.snapshot["breakdown"]["semantic"]
    page = client.get(f"/reports/{rid}").get_data(as_text=True)
    assert zh("Price-budget gap") in page and "预算偏低" in page
    sheet = load_workbook(io.BytesIO(client.get(f"/reports/{rid}.xlsx").data)).active
    assert sheet.cell(row=2, column=26).value == "相关：价格与预算差距（预算偏低）"


def test_relevant_needs_a_reason_and_other_needs_a_note(client, market, login, session, zh):
    from models import PairFeedback
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    row = _row(session, rid, 1)
    page = give(client, rid, row, "relevant", follow_redirects=True).get_data(as_text=True)
    assert zh("Say why the pair is relevant but not ready: choose a reason.") in page
    page = give(client, rid, row, "relevant", reason="other", follow_redirects=True).get_data(as_text=True)
    assert zh("Describe the other reason in a few words.") in page
    page = give(client, rid, row, "maybe", follow_redirects=True).get_data(as_text=True)
    assert 'class="flash danger"' in page
    assert session.query(PairFeedback).count() == 0


def test_feedback_on_a_closed_listing_is_refused(client, market, login, session, zh):
    from models import PairFeedback
    from services import listings
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    row = _row(session, rid, 1)
    listings.transition(session, market["good"], market["uni"], "close")
    session.commit()
    page = give(client, rid, row, "introduce", follow_redirects=True).get_data(as_text=True)
    assert zh('Feedback is not possible: "%(title)s" has been withdrawn or closed.',
              title=market["good"].title) in page
    assert session.query(PairFeedback).count() == 0


def test_introduce_opens_one_opportunity_for_the_pair(client, market, login, session):
    from models import Opportunity
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    row = _row(session, rid, 1)
    give(client, rid, row, "introduce")
    give(client, rid, row, "introduce")
    opp = session.query(Opportunity).one()
    assert (opp.demand_id, opp.achievement_id, opp.broker_id, opp.stage) == \
        (market["demand"].id, market["good"].id, market["broker"].id, "introduced")
    assert f'/opportunities/{opp.id}"' in client.get(f"/reports/{rid}").get_data(as_text=True)


def test_match_list_offers_feedback_to_brokers_only(client, market, login, session):
    from models import PairFeedback
    url = f"/matches/demand/{market['demand'].id}"
    login(market["company"])
    assert "/feedback/" not in client.get(url).get_data(as_text=True)
    # a company may judge a pair only as a party of an accepted introduction (test_introductions.py): not here
    assert client.submit(f"/feedback/{market['demand'].id}/{market['good'].id}", {"outcome": "introduce"},
                         form_url="/").status_code == 404
    login(market["broker"])
    page = client.get(url).get_data(as_text=True)
    assert f'/feedback/{market["demand"].id}/{market["good"].id}"' in page
    resp = client.submit(f"/feedback/{market['demand'].id}/{market['good'].id}",
                         {"outcome": "not_relevant", "query_kind": "demand", "score": "77.5",
                          "features": '{"semantic": 0.8, "region": 7, "bogus": 1}', "next": "//evil.example"},
                         form_url=url)
    assert resp.status_code == 302 and "evil" not in resp.headers["Location"]
    fb = session.query(PairFeedback).one()
    assert fb.score == 77.5 and fb.features == {"semantic": 0.8}


def test_feedback_on_unknown_listings_is_404(client, market, login):
    login(market["broker"])
    assert client.submit("/feedback/99999/99998", {"outcome": "introduce"}, form_url="/reports/").status_code == 404


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example/"])
def test_feedback_next_goes_through_the_safe_redirect_check(client, market, login, target):
    login(market["broker"])
    url = f"/matches/demand/{market['demand'].id}"
    resp = client.submit(f"/feedback/{market['demand'].id}/{market['good'].id}",
                         {"outcome": "not_relevant", "query_kind": "demand", "next": target}, form_url=url)
    assert resp.status_code == 302 and "evil" not in resp.headers["Location"], resp.headers["Location"]


def test_no_outcome_is_preselected_and_sending_none_records_nothing(client, market, login, session, zh):
    import re
    from models import PairFeedback
    login(market["broker"])
    rid = report_id_of(run_single(client, "demand", market["demand"].id))
    for url in (f"/reports/{rid}", f"/matches/demand/{market['demand'].id}"):
        page = client.get(url).get_data(as_text=True)
        selects = re.findall(r'<select name="outcome"[^>]*>(.*?)</select>', page, re.S)
        assert selects and all(s.startswith('<option value="" selected disabled>') for s in selects), url
        assert all(s.count("selected") == 1 for s in selects), url  # only the empty placeholder
        assert all('name="outcome" required' in page for _ in selects)
    row = _row(session, rid, 1)
    page = give(client, rid, row, "", follow_redirects=True).get_data(as_text=True)
    assert zh("Nothing was recorded: choose an outcome (not relevant, relevant but…, or introduce) and send again.") \
        in page
    data = {"row_id": row.id, "query_kind": "demand", "next": f"/reports/{rid}"}  # no outcome field at all
    client.submit(f"/feedback/{row.demand_id}/{row.achievement_id}", data, form_url=f"/reports/{rid}")
    assert session.query(PairFeedback).count() == 0
