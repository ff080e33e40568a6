"""What a notification says and where it leads, in the current language: its text, its mail subject, its link,
the topics' labels, and the signed unsubscribe token. Shared by the pages and the mail (web/notification_mail.py)."""
from __future__ import annotations

from typing import Any, Optional

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from models import Notification
from services import bands, listings

from .i18n import KIND_LABELS

TOPIC_LABELS = {"listing_approved": _l("My listing was approved"),
                "listing_returned": _l("My listing was sent back for changes (with the reason)"),
                "listing_rejected": _l("My listing was rejected (with the reason)"),
                "strong_match": _l("New matches for my published listings"),
                "intro_requested": _l("Someone asks to introduce one of my listings to a counterpart"),
                "intro_accepted": _l("An introduction I asked for was accepted by both sides"),
                "roadshow_invited": _l("I am invited to a roadshow"),
                "challenge_deadline": _l("A 揭榜挂帅 challenge in my field closes soon"),
                "roadshow_seat": _l("A roadshow seat I waited for is mine"),
                "roadshow_application": _l("My application to present at a roadshow was decided"),
                "challenge_result": _l("A 揭榜挂帅 challenge I applied to has a shortlist or a result"),
                "panel_assigned": _l("I am assigned to an advisory panel"),
                "panel_review_due": _l("A review of an advisory panel I sit on is due soon"),
                "demand_assigned": _l("A demand was assigned to me (brokers)"),
                "demand_confirm": _l("A broker entered a demand for my company and asks me to confirm it"),
                "directory_request": _l("Someone asks for the contact of my service directory entry"),
                "directory_answer": _l("A service provider answered my contact request"),
                "digest": _l("Weekly digest")}


def describe(note: Notification) -> str:
    """The notification's text in the current language (no contact details: params carry none)."""
    p = note.params or {}
    kind_label = KIND_LABELS.get(p.get("listing_kind", ""), "")
    texts = {
        "listing_approved": lambda: _("Your %(kind)s “%(title)s” was approved and is now published.",
                                      kind=kind_label, title=p.get("title")),
        "listing_returned": lambda: _("Your %(kind)s “%(title)s” was sent back for changes. Reason: %(reason)s",
                                      kind=kind_label, title=p.get("title"), reason=p.get("reason") or "—"),
        "listing_rejected": lambda: _("Your %(kind)s “%(title)s” was rejected. Reason: %(reason)s",
                                      kind=kind_label, title=p.get("title"), reason=p.get("reason") or "—"),
        "strong_match": lambda: _match_text(p, kind_label),
        "intro_requested": lambda: _("Introduction request: demand “%(demand)s” and achievement “%(achievement)s”. "
                                     "Open your introductions to accept or decline.",
                                     demand=p.get("demand_title"), achievement=p.get("achievement_title")),
        "intro_accepted": lambda: _("Both sides agreed to the introduction of “%(demand)s” and “%(achievement)s”; "
                                    "contact details are now visible to them.",
                                    demand=p.get("demand_title"), achievement=p.get("achievement_title")),
        "roadshow_invited": lambda: _("You are invited to the roadshow “%(title)s” on %(date)s. Register to "
                                      "take a seat.", title=p.get("title"), date=p.get("date")),
        "challenge_deadline": lambda: _("The challenge “%(title)s” in your field takes applications until "
                                        "%(date)s.", title=p.get("title"), date=p.get("deadline")),
        "roadshow_seat": lambda: _("A seat at the roadshow “%(title)s” on %(date)s was freed and is now yours.",
                                   title=p.get("title"), date=p.get("date")),
        "roadshow_application": lambda: (
            _("Your application to present “%(achievement)s” at the roadshow “%(title)s” was accepted.",
              achievement=p.get("achievement"), title=p.get("title")) if p.get("accepted") else
            _("Your application to present “%(achievement)s” at the roadshow “%(title)s” was declined. "
              "Reason: %(reason)s", achievement=p.get("achievement"), title=p.get("title"),
              reason=p.get("reason") or "—")),
        "challenge_result": lambda: _challenge_result(p),
        "demand_assigned": lambda: _("The demand “%(title)s” is now in your caseload.", title=p.get("title")),
        "demand_confirm": lambda: _("Broker %(broker)s entered the demand “%(title)s” for your company. Check it "
                                    "and confirm it to send it to review.", broker=p.get("broker"),
                                    title=p.get("title")),
        "directory_request": lambda: _("%(who)s asks for the contact of your directory entry “%(name)s”. Accept to "
                                       "show both contacts to each other.", who=p.get("who"), name=p.get("name")),
        "directory_answer": lambda: (
            _("“%(name)s” accepted your contact request: its contact is now shown on its directory page.",
              name=p.get("name")) if p.get("accepted") else
            _("“%(name)s” declined your contact request.", name=p.get("name"))),
        "panel_assigned": lambda: _("You are assigned to the advisory panel on “%(title)s”; please review it by "
                                    "%(date)s.", title=p.get("title"), date=p.get("deadline")),
        "panel_review_due": lambda: _("Your review for the advisory panel on “%(title)s” is due on %(date)s.",
                                      title=p.get("title"), date=p.get("deadline")),
    }
    return texts.get(note.kind, lambda: _("Notification"))()


def _challenge_result(p: dict) -> str:
    """Shortlisted or not, won (with the place) or not: what an applicant of a challenge is told."""
    title = p.get("title")
    return {"shortlisted": lambda: _("Your application to the challenge “%(title)s” is on the shortlist.", title=title),
            "not_shortlisted": lambda: _("Your application to the challenge “%(title)s” is not on the shortlist.",
                                         title=title),
            "winner": lambda: _("Your application to the challenge “%(title)s” won (%(place)s). Milestones follow.",
                                title=title, place=p.get("place") or "—"),
            "not_selected": lambda: _("The challenge “%(title)s” was awarded; your application was not selected.",
                                      title=title)}.get(p.get("result"), lambda: _("Notification"))()


def _match_band(p: dict) -> str:
    """The band of an announced pair; notices from before the bands carry only their score."""
    return p.get("band") or bands.band_of(float(p.get("score") or 0))


def _match_text(p: dict, kind_label: Any) -> str:
    """A new-match notice says which band the pair is in (NOTIFY_MATCH_MIN_BAND may let possible ones through)."""
    args = dict(score=p.get("score"), kind=kind_label, title=p.get("title"), other=p.get("other_title"))
    if _match_band(p) == bands.STRONG:
        return _("New strong match (score %(score)s) for your %(kind)s “%(title)s”: “%(other)s”.", **args)
    return _("New possible match (score %(score)s) for your %(kind)s “%(title)s”: “%(other)s”.", **args)


def subject(note: Notification) -> str:
    """The subject of the notification's mail, in the current language (without the [TechMatch] prefix)."""
    return {"listing_approved": _("Your listing was approved"),
            "listing_returned": _("Your listing was sent back for changes"),
            "listing_rejected": _("Your listing was rejected"),
            "strong_match": (_("A new strong match for your listing") if _match_band(note.params or {}) == bands.STRONG
                             else _("A new possible match for your listing")),
            "intro_requested": _("An introduction request is waiting for you"),
            "intro_accepted": _("Your introduction was accepted"),
            "roadshow_invited": _("Invitation to a roadshow"),
            "challenge_deadline": _("A challenge in your field closes soon"),
            "roadshow_seat": _("A roadshow seat is yours"),
            "roadshow_application": _("Your application to present was decided"),
            "challenge_result": _("News of a challenge you applied to"),
            "demand_assigned": _("A demand was assigned to you"),
            "demand_confirm": _("Please confirm a demand entered for your company"),
            "directory_request": _("A contact request for your directory entry"),
            "directory_answer": _("A service provider answered your contact request"),
            "panel_assigned": _("You are assigned to an advisory panel"),
            "panel_review_due": _("An advisory panel review is due soon")}.get(note.kind, _("Notification"))


def link_for(note: Notification) -> Optional[str]:
    """Where the notification leads (the listing, or its matches)."""
    p = note.params or {}
    if note.kind == "strong_match":
        return url_for("matches.for_listing", kind=p["listing_kind"], listing_id=p["listing_id"])
    if note.kind == "demand_assigned":
        return url_for("brokerage.caseload")
    if note.kind == "demand_confirm":
        return url_for("brokerage.confirm", demand_id=p["listing_id"])
    if note.kind in ("intro_requested", "intro_accepted"):
        return url_for("introductions.inbox")
    if note.kind == "directory_request":
        return url_for("directory.requests")
    if note.kind == "directory_answer":
        return url_for("directory.detail", provider_id=p["provider_id"])
    if note.kind == "roadshow_invited":
        return url_for("roadshows.detail", roadshow_id=p["roadshow_id"])
    if note.kind in ("roadshow_seat", "roadshow_application"):
        return url_for("programme.roadshow", roadshow_id=p["roadshow_id"])
    if note.kind == "challenge_result":
        return url_for("challenges.detail", challenge_id=p["challenge_id"])
    if note.kind in ("panel_assigned", "panel_review_due"):
        return url_for("panels.review", panel_id=p["panel_id"])
    if note.kind == "challenge_deadline":
        return url_for("challenges.detail", challenge_id=p["challenge_id"])
    if p.get("listing_kind") in listings.KINDS:
        return url_for("public.detail", kind=p["listing_kind"], listing_id=p["listing_id"])
    return None


def unsubscribe_token(user_id: int, topic: str) -> str:
    """A signed, non-expiring token naming a user and the topic to stop mailing."""
    return _serializer().dumps({"u": user_id, "t": topic})


def read_unsubscribe_token(token: str) -> Optional[tuple[int, str]]:
    """(user id, topic) named by a token of unsubscribe_token; None when it is not one."""
    try:
        data = _serializer().loads(token)
        return int(data["u"]), str(data["t"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe")
