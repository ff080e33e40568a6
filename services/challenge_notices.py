"""Tell every applicant of a challenge (the lead account and the users of its partner organisations) about the
shortlist and the result: notifications of kind "challenge_result" (titles and places only)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Challenge, ChallengeApplication, User

from . import notifications


def members(session: Session, application: ChallengeApplication) -> list[int]:
    """The user ids an application speaks for: its applicant and the active users of its partner organisations."""
    ids = {application.applicant_id}
    org_ids = [p.organisation_id for p in application.partners]
    if org_ids:
        ids |= set(session.scalars(select(User.id).where(User.organisation_id.in_(org_ids), User.active.is_(True))))
    return sorted(ids)


def tell(session: Session, challenge: Challenge, result_of: dict[int, str]) -> int:
    """result_of: application id -> shortlisted | not_shortlisted | winner | not_selected. Returns notices made."""
    made = 0
    for application in challenge.applications:
        result = result_of.get(application.id)
        if result is None:
            continue
        for user_id in members(session, application):
            made += notifications.notify(session, user_id, "challenge_result", {
                "challenge_id": challenge.id, "title": challenge.title, "result": result,
                "place": application.place or ""}) is not None
    session.flush()
    return made
