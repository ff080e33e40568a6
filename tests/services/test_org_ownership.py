"""Organisation ownership (issue 21 part 3) in the later features: a listing belongs to its organisation, so a
colleague of the poster (a member of the same organisation with the listing's role) is treated as its owner in
challenges, roadshows, introductions, feedback and notifications; and a confidential demand's company stays
unnamed on a challenge made from it and in a report's export."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import Notification, RoadshowMeeting
from services import (challenge_race, challenges, exports, feedback, introductions, listings, notifications,
                      organisations, reports, roadshow_programme, roadshows)
from services.errors import ServiceError
from tests.conftest import PASSWORD
from services import clock

SECRET = "渭河绝密新能源科技有限公司"


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def _colleague(session, manager, email):
    """A member who joined the manager's organisation by invitation."""
    _, token = organisations.invite(session, manager, email)
    member = organisations.accept_new(session, token, display_name="同事", password=PASSWORD)
    session.commit()
    return member


@pytest.fixture
def org(session, make_user, make_listing):
    """A university whose achievement was posted by its manager, a colleague who did not post it, a company whose
    (confidential) demand was posted by its manager, and the company's colleague."""
    broker = make_user("broker")
    uni = make_user("university", org="西北大学技术转移中心")
    uni_mate = _colleague(session, uni, "mate@nwu.example.cn")
    company = make_user("company", org=SECRET)
    company_mate = _colleague(session, company, "mate@secret.example.cn")
    achievement = make_listing("achievement", uni, reviewer=broker)
    demand = make_listing("demand", company, reviewer=broker, confidential=True)
    return dict(broker=broker, uni=uni, uni_mate=uni_mate, company=company, company_mate=company_mate,
                achievement=achievement, demand=demand, stranger=make_user("university"))


def _challenge_data(**over):
    data = {"title": "全固态电池界面难题", "sponsor": "陕西省科技厅",
            "problem": "硫化物固态电解质与高镍正极界面阻抗大、循环衰减快，需要开发界面修饰与电解质改性技术。",
            "indicators": "室温离子电导率≥5mS/cm", "reward": 500.0, "deadline": clock.today() + timedelta(days=30),
            "eligibility": "", "field_code": "new_energy.battery", "criteria": "技术先进性 | scientist | 100"}
    data.update(over)
    return data


def _roadshow(session, broker):
    return roadshows.create_roadshow(session, broker, {
        "title": "组织路演", "theme": "", "field_code": "new_energy", "held_on": clock.today() + timedelta(days=9),
        "start_time": "14:00", "venue": "西安", "online_link": "", "presentation_slots": 2, "meeting_slots": 2,
        "tables": 2, "slot_minutes": 20, "presenter_cap": 2, "company_cap": 2, "seats": 5})


def _accepted(session, org):
    intro = introductions.request_introduction(session, org["company"], org["demand"].id, org["achievement"].id, "契合")
    introductions.accept(session, intro, org["uni"])
    session.commit()
    return intro


def test_the_owning_side_clause_matches_can_edit_listing(session, org):
    from models import Achievement
    ids = set(session.scalars(select(Achievement.id).where(listings.owning_side(Achievement, org["uni_mate"]))))
    assert org["achievement"].id in ids
    assert not set(session.scalars(select(Achievement.id).where(listings.owning_side(Achievement, org["stranger"]))))
    assert listings.owning_side_user_ids(session, org["achievement"]) == sorted([org["uni"].id, org["uni_mate"].id])


def test_a_colleague_applies_to_a_challenge_with_the_organisations_achievement(session, org):
    challenge = challenges.create_challenge(session, org["broker"], _challenge_data())
    application = challenges.apply(session, challenge, org["uni_mate"], {
        "team": "同事团队", "approach": "界面修饰", "achievement_ids": [org["achievement"].id]})
    assert application.achievement_ids == [org["achievement"].id]
    with pytest.raises(ServiceError) as err:  # someone of another organisation still cannot
        challenges.apply(session, challenge, org["stranger"], {
            "team": "外人", "approach": "x", "achievement_ids": [org["achievement"].id]})
    assert err.value.code == "challenge.bad_achievement"


def test_a_colleague_applies_jointly_with_the_organisations_achievement(session, org):
    challenge = challenges.create_challenge(session, org["broker"], _challenge_data())
    application = challenge_race.apply_joint(session, challenge, org["uni_mate"], {
        "team": "联合团队", "approach": "协同改性", "achievement_ids": [org["achievement"].id]})
    assert application.achievement_ids == [org["achievement"].id]


def test_a_challenge_from_a_confidential_demand_names_no_issuer(session, org):
    challenge = challenge_race.create_from_demands(session, org["broker"], [org["demand"].id], _challenge_data())
    assert challenge.issuer_org_id is None and SECRET not in challenge.sponsor
    assert challenge.sponsor == organisations.CONFIDENTIAL_NAME


def test_a_colleague_applies_to_present_the_organisations_achievement(session, org):
    rs = _roadshow(session, org["broker"])
    application = roadshow_programme.apply_to_present(session, rs, org["uni_mate"], org["achievement"].id, "路演")
    assert application.achievement_id == org["achievement"].id
    assert roadshow_programme.applications(session, rs, org["uni"]) == [application]  # the poster sees it too
    assert roadshow_programme.applications(session, rs, org["stranger"]) == []


def test_a_colleague_of_the_presenter_sees_the_roadshow_and_answers_for_the_meeting(session, org):
    rs = _roadshow(session, org["broker"])
    presenter = roadshows.add_presenter(session, rs, org["achievement"].id)
    roadshows.invite(session, rs, org["company"].id)
    roadshows.register(session, rs.id, org["company"])
    meeting = RoadshowMeeting(roadshow_id=rs.id, company_id=org["company"].id, presenter_id=presenter.id, slot=1,
                              table_no=1, score=50.0)
    session.add(meeting)
    session.commit()
    mate = org["uni_mate"]
    assert roadshows.relation(session, rs, mate) == "presenter"
    assert rs in roadshows.visible_to(session, mate)
    assert roadshows.meetings(session, rs, mate) == [meeting]
    assert roadshows.meeting_for(session, meeting.id, mate) is meeting
    assert roadshows.record_intent(session, meeting.id, mate, "interested").presenter_intent == "interested"
    assert roadshows.relation(session, rs, org["stranger"]) is None
    assert roadshows.meeting_for(session, meeting.id, org["stranger"]) is None


def test_the_roadshow_schedule_hides_a_confidential_demands_company_from_the_presenter(session, org):
    rs = _roadshow(session, org["broker"])
    presenter = roadshows.add_presenter(session, rs, org["achievement"].id)
    roadshows.invite(session, rs, org["company"].id, demand_id=org["demand"].id)
    roadshows.register(session, rs.id, org["company"])
    session.add(RoadshowMeeting(roadshow_id=rs.id, company_id=org["company"].id, presenter_id=presenter.id, slot=1,
                                table_no=1, score=50.0))
    session.commit()
    assert SECRET not in repr(roadshows.schedule_rows(session, rs, org["uni"]))
    assert roadshows.schedule_rows(session, rs, org["uni"])[0]["company_hidden"] is True
    for who in ("broker", "company"):
        assert roadshows.schedule_rows(session, rs, org[who])[0]["company"] == SECRET
    assert roadshows.company_name(org["company"], org["company_mate"], rs) == SECRET  # its own members know
    assert roadshows.company_name(org["company"]) != SECRET  # an unknown reader (a file): the placeholder
    assert roadshows.company_name(org["uni"]) == "西北大学技术转移中心"
    _accepted(session, org)
    assert roadshows.schedule_rows(session, rs, org["uni"])[0]["company"] == SECRET


def test_a_colleague_sees_the_organisations_introductions_and_the_contact_after_acceptance(session, org):
    intro = _accepted(session, org)
    assert intro in introductions.inbox(session, org["uni_mate"])
    assert intro in introductions.inbox(session, org["company_mate"])
    assert intro not in introductions.inbox(session, org["stranger"])
    # the accepted introduction pairs the company's demand with the colleague's organisation's achievement
    assert listings.accepted_counterpart(session, org["uni_mate"], org["demand"]) is not None
    assert listings.can_see_contact(org["uni_mate"], org["demand"])
    assert listings.accepted_counterpart(session, org["stranger"], org["demand"]) is None


def test_a_colleague_is_a_party_of_the_accepted_pair_for_feedback(session, org):
    _accepted(session, org)
    assert feedback.is_party(session, org["uni_mate"], org["demand"], org["achievement"])
    assert feedback.is_party(session, org["company_mate"], org["demand"], org["achievement"])
    assert not feedback.is_party(session, org["stranger"], org["demand"], org["achievement"])


def _notes(session, user, kind):
    return list(session.scalars(select(Notification).where(Notification.user_id == user.id, Notification.kind == kind)))


def test_notifications_for_the_owner_reach_the_organisations_members(session, org, make_listing):
    draft = make_listing("achievement", org["uni"], status="submitted", title="同事可见的待审成果")
    listings.transition(session, draft, org["broker"], "approve")
    session.commit()
    for who in ("uni", "uni_mate"):
        assert [n.params["listing_id"] for n in _notes(session, org[who], "listing_approved")].count(draft.id) == 1
    assert not _notes(session, org["stranger"], "listing_approved")
    introductions.request_introduction(session, org["company"], org["demand"].id, org["achievement"].id, "契合")
    session.commit()
    assert _notes(session, org["uni_mate"], "intro_requested") and _notes(session, org["uni"], "intro_requested")
    assert not _notes(session, org["company"], "intro_requested")  # the requester is not told of its own request
    assert notifications.owner_ids(session, org["demand"]) == sorted([org["company"].id, org["company_mate"].id])


def test_a_report_export_never_names_a_confidential_demands_company(session, org):
    from models import MatchReport, MatchReportRow

    facts = {"breakdown": {}, "shared_terms": [], "best_sentence": "", "reasons": [], "query_kind": "demand",
             "demand": reports.listing_facts(org["demand"]), "achievement": reports.listing_facts(org["achievement"])}
    report = MatchReport(owner_id=org["broker"].id, scope="demand", subject_id=org["demand"].id, title="报告",
                         params={}, row_count=1)
    report.rows = [MatchReportRow(position=1, demand_id=org["demand"].id, achievement_id=org["achievement"].id,
                                  score=70.0, snapshot=facts)]
    session.add(report)
    session.commit()
    text = exports.to_csv(reports.report_table(session, report, {})).decode("utf-8-sig")
    assert SECRET not in text and organisations.CONFIDENTIAL_NAME in text
    assert "西北大学技术转移中心" in text  # the achievement's organisation is shown as before
