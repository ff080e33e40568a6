"""Notifications: review decisions and new matches (by band), in-app and by e-mail (.eml files), settings,
unsubscribe without signing in, weekly digest; never any contact details."""
from __future__ import annotations

import email
import json
import re
from email import policy as email_policy
from pathlib import Path

import pytest

from matchmaking.bands import POSSIBLE_MIN, STRONG_MIN
from sqlalchemy import func, select
from services import clock

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

CANARIES = ("canary.demand@example.com", "canary.achievement@example.cn", "13800000001", "13900000012", "张工",
            "李老师")


def _mails(app) -> list:
    folder = Path(app.config["MAIL_DIR"])
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(f.read_bytes(), policy=email_policy.default) for f in files]


def _body(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def _no_contacts(text: str) -> None:
    assert not any(c in text for c in CANARIES), text


def test_approval_is_notified_in_app_and_by_mail(app, client, login, make_user, make_listing, zh):
    owner, broker = make_user("company"), make_user("broker")
    item = make_listing("demand", owner, "published", reviewer=broker)
    mails = _mails(app)
    assert len(mails) == 1 and mails[0]["To"] == owner.email
    body = _body(mails[0])
    assert item.title in body and "审核通过" in mails[0]["Subject"] + body or item.title in body
    assert f"/demand/{item.id}" in body and "/notifications/unsubscribe/" in body
    assert mails[0]["List-Unsubscribe"].startswith("<http://127.0.0.1:5000/notifications/unsubscribe/")
    _no_contacts(mails[0].as_string() + body)
    login(owner)
    page = client.get("/notifications/").get_data(as_text=True)
    assert item.title in page and 'class="unread"' in page and 'id="unread-count">1<' in page
    _no_contacts(page.split("<main>")[1])


def test_sent_back_mail_has_the_reason_in_the_recipients_language(app, make_user, make_listing, session):
    owner, broker = make_user("university"), make_user("broker")
    owner.locale = "en"
    session.commit()
    make_listing("achievement", owner, "returned", reviewer=broker)
    (msg,) = _mails(app)
    body = _body(msg)
    assert "sent back for changes" in body and "需要补充技术指标" in body and "Hello" in body
    assert msg["Subject"] == "[TechMatch] Your listing was sent back for changes"
    _no_contacts(body)


def test_rejection_in_chinese_by_default(app, make_user, make_listing, zh):
    owner, broker = make_user("company"), make_user("broker")
    make_listing("demand", owner, "rejected", reviewer=broker)
    (msg,) = _mails(app)
    assert msg["Subject"] == zh("[TechMatch] %(text)s", text=zh("Your listing was rejected"))
    assert "需要补充技术指标" in _body(msg)


def test_settings_turn_channels_off(app, client, login, make_user, make_listing, session):
    from models import Notification
    owner, broker = make_user("company"), make_user("broker")
    login(owner)
    resp = client.submit("/notifications/settings", {"listing_approved-in_app": "on",
                                                     "listing_returned-email": "on", "strong_match-email": "on"})
    assert resp.status_code == 302
    make_listing("demand", owner, "published", reviewer=broker)
    assert _mails(app) == []  # approval e-mails off
    make_listing("demand", owner, "returned", reviewer=broker, title="被退回的需求：氢能储运")
    assert len(_mails(app)) == 1  # sent-back e-mails still on: settings are per event kind
    assert "高镍三元" in client.get("/notifications/").get_data(as_text=True)  # still in-app
    client.submit("/notifications/settings", {})
    make_listing("demand", owner, "published", reviewer=broker, title="第二个需求：固态电池界面")
    assert session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == owner.id)) == 2  # both channels off: nothing new


def test_unsubscribe_link_works_without_signing_in(app, client, make_user, make_listing, session, zh):
    from services import notifications
    owner, broker = make_user("company"), make_user("broker")
    make_listing("demand", owner, "published", reviewer=broker)
    url = re.search(r"http://127\.0\.0\.1:5000(/notifications/unsubscribe/\S+)", _body(_mails(app)[0])).group(1)
    assert client.get(url).status_code == 200
    assert notifications.preference(session, owner.id, "listing_approved") == (True, True)  # GET changes nothing
    resp = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200 and 'id="unsubscribed"' in resp.get_data(as_text=True)
    session.expire_all()
    assert notifications.preference(session, owner.id, "listing_approved") == (True, False)
    assert client.get(url[:-3] + "xyz").status_code == 404  # tampered signature
    assert client.post("/notifications/unsubscribe/garbage").status_code == 404


def test_bell_mark_read_and_others_notifications(app, client, login, login_as, make_user, make_listing, session):
    from models import Notification
    owner, broker = make_user("company"), make_user("broker")
    make_listing("demand", owner, "published", reviewer=broker)
    note = session.scalar(select(Notification).where(Notification.user_id == owner.id))
    login_as("company")
    assert client.submit(f"/notifications/{note.id}/read", {}, form_url="/notifications/").status_code == 404
    login(owner)
    assert client.submit(f"/notifications/{note.id}/read", {}, form_url="/notifications/").status_code == 302
    page = client.get("/notifications/").get_data(as_text=True)
    assert 'id="unread-count"' not in page and 'class="read"' in page


def test_anonymous_cannot_see_notifications(client):
    assert client.get("/notifications/").status_code == 302
    assert client.get("/notifications/settings").status_code == 302


def scored_pairs(app, monkeypatch, score: float) -> None:
    """The runtime answers every published demand/achievement pair with this score (chosen, not the engine's)."""
    from matchmaking.engine import Match
    from models import Achievement, Demand
    from tests.services.test_band_consumers import View

    def find_matches(session, item, k=10):
        other = Achievement if item.kind == "demand" else Demand
        return [View(o, Match(id=o.id, score=score, breakdown={}))
                for o in session.scalars(select(other).where(other.status == "published"))][:k]
    monkeypatch.setattr(app.extensions["matching"], "find_matches", find_matches)


def test_new_matches_are_announced_once_per_pair(app, make_user, make_listing, session, monkeypatch, zh):
    from models import MatchNotice, Notification
    from web.notification_texts import describe
    company, university, broker = make_user("company"), make_user("university"), make_user("broker")
    demand = make_listing("demand", company, reviewer=broker)
    achievement = make_listing("achievement", university, reviewer=broker)
    # the middle band: announced under the default NOTIFY_MATCH_MIN_BAND
    scored_pairs(app, monkeypatch, POSSIBLE_MIN + 1.0)
    before = len(_mails(app))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["notify", "matches"])
    assert result.exit_code == 0, result.output
    assert "1 new matches announced (band possible or better)" in result.output
    notes = list(session.scalars(select(Notification).where(Notification.kind == "strong_match")))
    assert {n.user_id for n in notes} == {company.id, university.id}
    assert {n.params["other_id"] for n in notes} == {demand.id, achievement.id}
    assert {n.params["band"] for n in notes} == {"possible"}
    with app.test_request_context("/"):
        assert "可能相关" in describe(notes[0])  # a possible match is not called a strong one
    mails = _mails(app)[before:]
    assert len(mails) == 2
    assert all(zh("A new possible match for your listing") in m["Subject"] for m in mails)
    for msg in mails:
        _no_contacts(msg.as_string() + _body(msg))
    again = runner.invoke(args=["notify", "matches"])
    assert "0 new matches" in again.output
    assert session.scalar(select(func.count()).select_from(MatchNotice)) == 1
    assert runner.invoke(args=["notify", "matches", "--min-band", "weak"]).exit_code != 0


@pytest.mark.parametrize("score, announced", [(STRONG_MIN - 1.0, 0), (STRONG_MIN + 1.0, 1)])
def test_min_band_strong_announces_only_strong_matches(app, make_user, make_listing, monkeypatch, score, announced):
    broker = make_user("broker")
    make_listing("demand", make_user("company"), "published", reviewer=broker)
    make_listing("achievement", make_user("university"), "published", reviewer=broker)
    scored_pairs(app, monkeypatch, score)
    app.config["NOTIFY_MATCH_MIN_BAND"] = "strong"
    result = app.test_cli_runner().invoke(args=["notify", "matches"])
    assert f"{announced} new matches announced (band strong or better)" in result.output


def test_below_the_middle_band_nothing_is_announced_and_the_option_beats_the_setting(app, make_user, make_listing,
                                                                                    monkeypatch):
    broker = make_user("broker")
    make_listing("demand", make_user("company"), "published", reviewer=broker)
    make_listing("achievement", make_user("university"), "published", reviewer=broker)
    scored_pairs(app, monkeypatch, POSSIBLE_MIN - 1.0)
    runner = app.test_cli_runner()
    assert "0 new matches" in runner.invoke(args=["notify", "matches"]).output
    scored_pairs(app, monkeypatch, POSSIBLE_MIN + 1.0)
    assert "0 new matches" in runner.invoke(args=["notify", "matches", "--min-band", "strong"]).output
    old = runner.invoke(args=["notify", "matches", "--min-score", "70"])  # a cron line from before the bands
    assert old.exit_code == 0 and "--min-score is no longer used" in old.output
    assert "1 new matches announced (band possible or better)" in old.output


def test_weekly_digest(app, client, login, make_user, make_listing, session):
    from services import notifications
    owner, other, broker = make_user("company"), make_user("company"), make_user("broker")
    make_listing("demand", owner, "published", reviewer=broker)
    make_listing("demand", owner, "returned", reviewer=broker, title="另一项需求：钠电池硬碳负极")
    make_listing("demand", other, "published", reviewer=broker, title="第三项需求：光伏清洗")
    notifications.save_preference(session, other.id, "digest", in_app=False, email=False)
    session.commit()
    before = len(_mails(app))
    result = app.test_cli_runner().invoke(args=["notify", "digest"])
    assert result.output.strip() == "1 digests sent"
    (digest,) = _mails(app)[before:]
    body = _body(digest)
    assert digest["To"] == owner.email and "另一项需求" in body and "需要补充技术指标" in body
    assert "/notifications/unsubscribe/" in body
    _no_contacts(body)
    assert app.test_cli_runner().invoke(args=["notify", "digest"]).output.strip() == "0 digests sent"


def test_failed_mail_is_kept_and_sent_later(app, make_user, make_listing, session):
    from models import Notification
    from services.mail import FileMailer
    blocker = Path(app.config["MAIL_DIR"]).parent / "not-a-folder"
    blocker.write_text("x")
    app.extensions["job_context"].provide(mailer=FileMailer(blocker))  # mkdir fails: a real delivery error
    owner, broker = make_user("company"), make_user("broker")
    make_listing("demand", owner, "published", reviewer=broker)
    note = session.scalar(select(Notification).where(Notification.user_id == owner.id))
    session.refresh(note)
    assert note.email_status == "failed"
    app.extensions["job_context"].provide(mailer=FileMailer(Path(app.config["MAIL_DIR"])))
    result = app.test_cli_runner().invoke(args=["notify", "send"])
    assert "1 of 1 pending e-mails sent" in result.output
    assert len(_mails(app)) == 1


def test_mail_backends(capsys):
    from services.mail import ConsoleMailer, FileMailer, SmtpMailer, build_mailer, compose
    assert isinstance(build_mailer({"MAIL_BACKEND": "file", "MAIL_DIR": "/tmp/x"}), FileMailer)
    smtp = build_mailer({"MAIL_BACKEND": "smtp", "SMTP_HOST": "mail.example.com", "SMTP_PORT": "465",
                         "SMTP_USER": "u", "SMTP_PASSWORD": "p", "SMTP_TLS": "ssl"})
    assert isinstance(smtp, SmtpMailer) and smtp.port == 465 and smtp.tls == "ssl"
    with pytest.raises(ValueError):
        build_mailer({"MAIL_BACKEND": "pigeon"})
    ConsoleMailer().send(compose("a@example.com", "b@example.com", "主题", "正文"))
    assert "b@example.com" in capsys.readouterr().out


def test_challenge_deadlines_are_reminded_once_to_universities_of_the_field(app, make_user, make_listing, session):
    from datetime import timedelta

    from models import Notification
    from services import challenges
    from tests.services.test_challenges import application, challenge_data

    broker = make_user("broker")
    in_field, applied, other_field = (make_user("university") for _ in range(3))
    make_listing("achievement", in_field, "published", reviewer=broker, field_code="new_energy.photovoltaic")  # same top field
    make_listing("achievement", applied, "published", reviewer=broker)
    make_listing("achievement", other_field, "published", reviewer=broker, field_code="agriculture.breeding")
    make_listing("achievement", make_user("university"), "draft")  # not published: not told
    soon = challenges.create_challenge(session, broker, challenge_data(deadline=clock.today() + timedelta(days=3)))
    challenges.create_challenge(session, broker, challenge_data(title="远期难题",
                                                                deadline=clock.today() + timedelta(days=30)))
    session.commit()
    challenges.apply(session, soon, applied, application())
    session.commit()
    before = len(_mails(app))
    runner = app.test_cli_runner()
    assert "0 deadline reminders" in runner.invoke(args=["notify", "deadlines", "--days", "2"]).output
    result = runner.invoke(args=["notify", "deadlines"])
    assert result.exit_code == 0 and "1 deadline reminders" in result.output, result.output
    notes = session.scalars(select(Notification).where(Notification.kind == "challenge_deadline")).all()
    assert [(n.user_id, n.params["challenge_id"]) for n in notes] == [(in_field.id, soon.id)]
    mails = _mails(app)[before:]
    assert len(mails) == 1 and soon.title in _body(mails[0])
    assert "0 deadline reminders" in runner.invoke(args=["notify", "deadlines"]).output  # once per challenge
    bad = runner.invoke(args=["notify", "deadlines", "--days", "-1"])
    assert bad.exit_code != 0 and "0-365" in bad.output and "天数须在 0 到 365 之间" in bad.output
    assert "Traceback" not in runner.invoke(args=["notify", "deadlines", "--days", "soon"]).output


def test_the_bell_count_from_a_shared_cache_follows_new_and_read_notifications(app, client, login, make_user,
                                                                              make_listing, session):
    from models import Notification
    from services.cache import MemoryCache

    counts = app.extensions["unread_counts"]
    counts.cache = MemoryCache(600)
    counts.cache.shared = True  # as Redis would be (the test's writes are in this process)
    owner, broker = make_user("company"), make_user("broker")
    login(owner)
    assert 'id="unread-count"' not in client.get("/notifications/").get_data(as_text=True)
    assert [json.loads(v[1].partition("\n")[2]) for k, v in counts.cache._items.items()
            if k == f"techmatch:unread:v3:{owner.id}"] == [0], "the count was cached"
    make_listing("demand", owner, "published", reviewer=broker)  # an approval: a new notification, committed
    assert 'id="unread-count">1<' in client.get("/notifications/").get_data(as_text=True)
    make_listing("demand", owner, "published", reviewer=broker)
    assert 'id="unread-count">2<' in client.get("/notifications/").get_data(as_text=True)
    note = session.scalar(select(Notification).where(Notification.user_id == owner.id))
    assert client.submit(f"/notifications/{note.id}/read", {}, form_url="/notifications/").status_code == 302
    assert 'id="unread-count">1<' in client.get("/notifications/").get_data(as_text=True)
    assert client.submit("/notifications/read-all", {}, form_url="/notifications/").status_code == 302
    assert 'id="unread-count"' not in client.get("/notifications/").get_data(as_text=True)
