"""Issue 22's journeys in a real headless browser, through the pages only (accounts, listings and the passing of
time are the only things set up directly):

- a visitor browses the calendar, filters it and subscribes to the feed;
- a company registers itself, an investor registers, a university applies to present and is accepted, and the
  schedule carries the online meeting links into the participants' pages and calendars;
- a broker publishes demands as a 揭榜挂帅 challenge, a company and a university apply jointly, two winners are
  chosen, milestones are recorded, one acceptance is scored, every applicant hears the result, and the winners
  appear in the pipeline.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import update

from tests.e2e.test_journey import CHROMIUM, _login, browser, server  # noqa: F401  (fixtures)
from tests.services.test_roadshows import SOLID_ACH, SOLID_DEMAND
from services import clock

pytestmark = pytest.mark.e2e
assert CHROMIUM


def _session(browser, base, user):  # noqa: F811
    from tests.conftest import PASSWORD
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, base, user.email, PASSWORD)
    return ctx, page


def _submit(page, form_selector: str) -> None:
    page.locator(f"{form_selector} button[type=submit]").first.click()
    page.wait_for_load_state()


def test_visitor_browses_the_calendar_and_subscribes_to_the_feed(server, browser, session, make_user, tmp_path):  # noqa: F811
    from services import roadshows
    from tests.services.test_roadshow_programme import roadshow_data
    broker = make_user("broker")
    xian = roadshows.create_roadshow(session, broker, roadshow_data(title="西安储能产品路演", city="西安", kind="product"))
    roadshows.create_roadshow(session, broker, roadshow_data(title="南京农业成果路演", city="南京", kind="achievement",
                                                              field_code="agriculture"))
    past = roadshows.create_roadshow(session, broker, roadshow_data(title="西安往期场景路演", city="西安", kind="scenario"))
    past.held_on = clock.today() - timedelta(days=30)
    session.commit()

    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{server}/")
    page.goto(f"{server}/programme/")
    calendar = page.locator("#calendar").inner_text()
    assert "西安储能产品路演" in calendar and "南京农业成果路演" in calendar and "西安往期场景路演" not in calendar

    page.select_option("#calendar-filters select[name=city]", "西安")
    _submit(page, "#calendar-filters")
    calendar = page.locator("#calendar").inner_text()
    assert "西安储能产品路演" in calendar and "南京农业成果路演" not in calendar
    page.select_option("#calendar-filters select[name=kind]", "scenario")
    _submit(page, "#calendar-filters")
    assert "西安储能产品路演" not in page.locator("#calendar").inner_text()
    page.click("p.tabs >> nth=0 >> a >> nth=1")  # "past", the filters kept
    page.wait_for_load_state()
    assert "when=past" in page.url and "西安往期场景路演" in page.locator("#calendar").inner_text()
    page.go_back()
    page.wait_for_load_state()
    assert page.locator("#calendar-filters select[name=kind]").input_value() == "scenario"

    # subscribe: the feed keeps the filters shown and is an iCalendar file
    page.select_option("#calendar-filters select[name=kind]", "")
    _submit(page, "#calendar-filters")
    feed = page.get_attribute("#feed", "href")
    assert feed.startswith("http") and "西安" in unquote(feed)
    resp = page.request.get(feed)
    body = resp.text().replace("\r\n ", "")
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/calendar")
    assert body.startswith("BEGIN:VCALENDAR") and "西安储能产品路演" in body and "西安往期场景路演" in body
    assert "南京农业成果路演" not in body

    # one roadshow's public page, and it as an event
    page.click("text=西安储能产品路演")
    page.wait_for_url(f"**/programme/roadshows/{xian.id}")
    one = page.request.get(f"{server}{page.get_attribute('#ics', 'href')}")
    assert one.status == 200 and one.text().count("BEGIN:VEVENT") == 1
    assert page.locator("#register").count() == 0  # a visitor sees no registration form
    page.screenshot(path=str(tmp_path / "calendar.png"), full_page=True)
    ctx.close()


def test_registration_presenting_and_online_meeting_links(server, browser, session, make_user, make_listing,  # noqa: F811
                                                          zh, tmp_path):
    broker = make_user("broker")
    uni = make_user("university", org="西北大学")
    company, investor = make_user("company", org="秦川电池"), make_user("company", org="秦创原投资")
    make_listing("demand", company, reviewer=broker, **SOLID_DEMAND)
    make_listing("achievement", uni, reviewer=broker, **SOLID_ACH)

    # the broker announces an open roadshow with an online room per table
    ctx, page = _session(browser, server, broker)
    page.goto(f"{server}/roadshows/new")
    page.fill("input[name=title]", "储能成果线上线下路演")
    page.select_option("select[name=field_code]", "new_energy")
    page.select_option("select[name=kind]", "achievement")
    page.fill("input[name=city]", "西安")
    page.check("input[name=open_registration]")
    page.fill("input[name=meeting_link_template]", "https://meet.example.cn/rs-{table}-{slot}")
    page.fill("input[name=held_on]", (clock.today() + timedelta(days=14)).isoformat())
    page.fill("input[name=venue]", "")
    page.fill("input[name=online_link]", "not a link")  # answered on the form, nothing typed is lost
    for name, value in (("presentation_slots", "1"), ("meeting_slots", "2"), ("tables", "2"), ("seats", "5")):
        page.fill(f"input[name={name}]", value)
    page.click("button[type=submit].primary")
    assert page.locator(".error").count() >= 1
    assert page.input_value("input[name=meeting_link_template]") == "https://meet.example.cn/rs-{table}-{slot}"
    page.fill("input[name=online_link]", "https://live.example.cn/energy")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/roadshows/*")
    page.click("text=" + zh("Public page, registration and online links"))
    page.wait_for_url("**/programme/roadshows/*")
    public_url = page.url
    assert page.get_attribute("#online-link", "href") == "https://live.example.cn/energy"
    ctx.close()

    # a company registers itself, an investor registers as an investor
    for user, participant in ((company, "company"), (investor, "investor")):
        ctx, page = _session(browser, server, user)
        page.goto(f"{server}/programme/")
        page.click("text=储能成果线上线下路演")
        page.select_option("select[name=participant]", participant)
        page.click("#register ~ .panel button.primary")
        page.wait_for_load_state()
        assert page.locator(".flash.success").count() == 1
        assert page.locator("#register ~ .panel form[action$='/cancel']").count() == 1
        ctx.close()

    # a university applies to present its achievement
    ctx, page = _session(browser, server, uni)
    page.goto(public_url)
    page.select_option("select[name=achievement_id]", label=SOLID_ACH["title"])
    page.fill("textarea[name=pitch]", "覆盖本场两家企业的储能需求。")
    _submit(page, "form[action$='/apply']")
    assert page.locator(".flash.success").count() == 1
    ctx.close()

    # the broker accepts it; the seats line counts one company and one investor
    ctx, page = _session(browser, server, broker)
    page.goto(public_url)
    assert "1" in page.locator("#seats").inner_text()
    page.select_option("form[action*='/decide'] select[name=decision]", "accept")
    _submit(page, "form[action*='/decide']")
    assert page.locator(".flash.success").count() == 1
    assert SOLID_ACH["title"] in page.locator("#presenters ~ table").first.inner_text()
    ctx.close()

    # both registered participants wish the presenter on the planning page
    for user in (company, investor):
        ctx, page = _session(browser, server, user)
        page.goto(public_url)
        page.click("text=" + zh("Planning and schedule"))
        page.wait_for_load_state()
        for box in page.locator("input[name=presenter_ids]").all():
            box.check()
        page.click("#save-wishes")
        page.wait_for_load_state()
        assert page.locator(".flash.success").count() == 1
        ctx.close()

    # the broker builds the schedule: every meeting has its room link
    ctx, page = _session(browser, server, broker)
    page.goto(public_url)
    page.click("text=" + zh("Planning and schedule"))
    page.click("#build-schedule")
    page.wait_for_load_state()
    page.goto(public_url)
    links = [i.input_value() for i in page.locator("#schedule ~ table input[name=meeting_link]").all()]
    assert len(links) == 2 and all(link.startswith("https://meet.example.cn/rs-") for link in links)
    # one link changed by hand; a bad one is refused and the saved one stays
    first = page.locator("#schedule ~ table form").first
    first.locator("input[name=meeting_link]").fill("https://meet.example.cn/vip")
    first.locator("button").click()
    page.wait_for_load_state()
    bad = page.locator("#schedule ~ table form").first
    bad.locator("input[name=meeting_link]").fill("javascript:alert(1)")
    bad.locator("button").click()
    page.wait_for_load_state()
    assert page.locator(".flash.danger").count() == 1
    # the refused row comes back with what was typed, to be corrected; what is saved is unchanged
    assert page.locator("#schedule ~ table form").first.locator("input[name=meeting_link]").input_value() \
        == "javascript:alert(1)"
    page.goto(public_url)
    links = [i.input_value() for i in page.locator("#schedule ~ table input[name=meeting_link]").all()]
    assert "https://meet.example.cn/vip" in links and "javascript:alert(1)" not in links
    ctx.close()

    # each participant sees their own meeting's link and gets it in the calendar file
    for user in (company, investor):
        ctx, page = _session(browser, server, user)
        page.goto(public_url)
        join = page.locator("#meetings ~ table a").first.get_attribute("href")
        assert join.startswith("https://meet.example.cn/")
        ics = page.request.get(f"{public_url}.ics").text().replace("\r\n ", "")
        assert ics.count("BEGIN:VEVENT") == 2 and join in ics
        page.screenshot(path=str(tmp_path / f"meetings-{user.id}.png"), full_page=True)
        ctx.close()


def test_challenge_from_demands_joint_applications_two_winners_milestones_acceptance(  # noqa: F811
        server, browser, session, make_user, make_listing, zh, tmp_path):
    from models import Challenge
    broker, panelist = make_user("broker"), make_user("broker")
    issuer = make_user("company", org="陕西电池集团")
    make_listing("demand", issuer, reviewer=broker, **SOLID_DEMAND)
    uni, partner = make_user("university", org="西安交通大学"), make_user("company", org="秦创原新材料")
    make_listing("achievement", uni, reviewer=broker, **SOLID_ACH)
    lone, loser = make_user("company", org="独立攻关公司"), make_user("university", org="长安理工学院")

    # the broker turns the published demand into a challenge (a bad form first: answered, nothing lost)
    ctx, page = _session(browser, server, broker)
    page.goto(f"{server}/programme/challenges/")
    page.click("text=" + zh("New challenge from demands"))
    page.fill("input[name=title]", "动力电池安全揭榜")
    page.fill("textarea[name=problem]", "太短")
    page.click("button[type=submit].primary")
    assert page.locator(".error").count() >= 2  # no demand chosen, the problem too short
    assert page.input_value("input[name=title]") == "动力电池安全揭榜"
    page.locator("input[name=demand_ids]").first.check()
    page.fill("textarea[name=problem]", "高镍电池热失控风险高，需要从材料到系统的安全防护技术方案，并完成中试验证。")
    page.fill("textarea[name=indicators]", "热失控蔓延时间≥30min")
    page.fill("input[name=reward]", "300")
    page.fill("input[name=budget]", "600")
    page.fill("input[name=max_winners]", "2")
    page.fill("input[name=deadline]", (clock.today() + timedelta(days=20)).isoformat())
    page.click("button[type=submit].primary")
    page.wait_for_url("**/programme/challenges/*")
    race_url = page.url
    assert "陕西电池集团" in page.locator(".panel").first.inner_text()
    ctx.close()

    # a university applies jointly with a company; a company and another university apply alone
    ctx, page = _session(browser, server, uni)
    page.goto(f"{server}/programme/challenges/")
    page.click("text=动力电池安全揭榜")
    page.fill("textarea[name=team]", "西交大+秦创原联合团队")
    page.fill("textarea[name=approach]", "正极包覆与电池包隔热层协同，降低热失控风险并延缓蔓延。")
    page.fill("textarea[name=partners]", " 秦创原新材料 \n")  # the partner's registered name, typed
    page.locator("input[name=achievement_ids]").first.check()
    _submit(page, "form[action$='/apply']")
    assert page.locator(".flash.success").count() == 1
    ctx.close()
    for user, team in ((lone, "独立攻关团队"), (loser, "长安理工团队")):
        ctx, page = _session(browser, server, user)
        page.goto(race_url)
        page.fill("textarea[name=team]", team)
        page.fill("textarea[name=approach]", "电池管理系统早期预警算法，识别热失控前兆并主动隔离。")
        _submit(page, "form[action$='/apply']")
        assert page.locator(".flash.success").count() == 1
        ctx.close()

    # applications close (time passes); the broker seats a panel, shortlists two and names both winners
    challenge = session.query(Challenge).filter_by(title="动力电池安全揭榜").one()
    session.execute(update(Challenge).where(Challenge.id == challenge.id)
                    .values(deadline=clock.today() - timedelta(days=1)))
    session.commit()
    ctx, page = _session(browser, server, broker)
    page.goto(race_url)
    page.click("text=" + zh("Applications, panel and shortlist"))
    page.wait_for_load_state()
    detail_url = page.url
    page.select_option("form[action$='/panel'] select[name=user_id]", str(panelist.id))
    _submit(page, "form[action$='/panel']")
    assert page.locator(".flash.success").count() == 1
    for row in page.locator("#applications ~ table").first.locator("tr").all():
        text = row.inner_text()
        if "西安交通大学" in text or "独立攻关公司" in text:
            row.locator("input[name=application_ids]").check()
    page.click("button[form=shortlist-form]")
    page.wait_for_load_state()
    assert page.locator(".flash.success").count() == 1
    page.goto(race_url)
    for box in page.locator("form[action$='/award'] input[name=application_ids]").all():
        box.check()
    _submit(page, "form[action$='/award']")
    assert page.locator(".flash.success").count() == 1
    teams = page.locator(".team h3").all_inner_texts()
    assert len(teams) == 2 and any("西安交通大学 + 秦创原新材料" in t for t in teams)

    # milestones for the first team; its progress rolls up to the challenge
    team = page.locator(".team").first
    for due, deliverable, amount in ((90, "样品电池包", "100"), (180, "中试验证报告", "300")):
        team = page.locator(".team").first
        team.locator("input[name=due_on]").fill((clock.today() + timedelta(days=due)).isoformat())
        team.locator("input[name=deliverable]").fill(deliverable)
        team.locator("input[name=amount]").fill(amount)
        team.locator("form[action$='/milestones'] button").click()
        page.wait_for_load_state()
        assert page.locator(".flash.success").count() == 1
    team = page.locator(".team").first
    team.locator("form[action$='/progress'] input[name=progress]").first.fill("100")
    team.locator("form[action$='/progress'] button").first.click()
    page.wait_for_load_state()
    assert page.locator("#progress").inner_text() == "12.5%"  # (100 x 100 + 0 x 300) / 400 = 25, over 2 teams
    ctx.close()

    # the panelist scores the first team's acceptance; the broker concludes it
    ctx, page = _session(browser, server, panelist)
    page.goto(race_url)
    page.locator(".team").first.locator("input[name=score]").fill("82")
    _submit(page, ".team >> nth=0 >> form[action$='/acceptance']")
    assert page.locator(".flash.success").count() == 1
    ctx.close()
    ctx, page = _session(browser, server, broker)
    page.goto(race_url)
    _submit(page, ".team >> nth=0 >> form[action$='/conclude']")
    assert page.locator(".flash.success").count() == 1
    assert "82" in page.locator(".team").first.inner_text()

    # the winners are in the broker's pipeline, with the demand
    page.goto(f"{server}/opportunities/")
    assert SOLID_DEMAND["title"] in page.content() and SOLID_ACH["title"] in page.content()
    page.goto(detail_url)
    page.screenshot(path=str(tmp_path / "challenge.png"), full_page=True)
    ctx.close()

    # every applicant, the joint partner included, hears the result
    results = {uni: "winner", partner: "winner", lone: "winner", loser: "not_selected"}
    for user, result in results.items():
        ctx, page = _session(browser, server, user)
        page.goto(f"{server}/notifications/")
        content = page.content()
        if result == "winner":
            assert zh("Your application to the challenge “%(title)s” won (%(place)s). Milestones follow.") % {
                "title": "动力电池安全揭榜", "place": "1" if user is not lone else "2"} in content
        else:
            assert zh("The challenge “%(title)s” was awarded; your application was not selected.") % {
                "title": "动力电池安全揭榜"} in content
        ctx.close()

    # the public board names both teams, without contacts
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{server}/programme/challenges/")
    board = page.locator("#board").inner_text()
    assert "西安交通大学 + 秦创原新材料" in board and "独立攻关公司" in board
    ctx.close()
