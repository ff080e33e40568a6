"""Matrix builders for the advisory panel (科技顾问团, issue 21): merged into FEATURE_BUILDERS by
tests/web/policy_builders.py. Each panel reviews the world's university's achievement and seats the world's
advisor, so that an allowed role reaches the view (the owner, the assigned advisor, staff) and a refused one is
stopped by the policy."""
from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any
from services import clock

_n = itertools.count(1)
PROFILE = {"perspective": "scientist", "expertise": "锂离子电池正极材料与界面改性", "fields": "新能源"}


def _staff(w: Any, role: str) -> Any:
    return w.users[role] if role in ("broker", "admin") else w.users["broker"]


def _advisor(w: Any, user: Any = None) -> Any:
    """The world's advisor (or user), with an advisor profile."""
    from services import panels

    user = user or w.users["advisor"]
    with w.factory() as s:
        fresh = s.get(type(user), user.id)
        if panels.profile_for(s, fresh) is None:
            panels.save_profile(s, fresh, PROFILE)
            s.commit()
    return user


def _panel(w: Any, role: str) -> int:
    from services import panels

    achievement = w.listing("achievement", w.users["university"])
    advisor = _advisor(w)
    with w.factory() as s:
        panel = panels.create_panel(s, s.get(type(advisor), _staff(w, role).id), {
            "achievement_id": achievement.id, "advisor_ids": [advisor.id],
            "deadline": clock.today() + timedelta(days=5)})
        s.commit()
        return panel.id


def _member(w: Any, role: str) -> tuple[int, int]:
    from sqlalchemy import select

    from models import PanelMember
    panel_id = _panel(w, role)
    with w.factory() as s:
        return panel_id, s.scalar(select(PanelMember.id).where(PanelMember.panel_id == panel_id))


def _new_panel(w: Any, role: str) -> tuple[str, dict]:
    achievement = w.listing("achievement", w.users["university"])
    advisor = _advisor(w)
    return f"/panels/new?achievement={achievement.id}", {
        "achievement_id": str(achievement.id), "advisor_ids": str(advisor.id),
        "deadline": (clock.today() + timedelta(days=5)).isoformat()}


def _add_member(w: Any, role: str) -> tuple[str, dict]:
    other = _advisor(w, w.user("advisor"))
    return f"/panels/{_panel(w, role)}/members", {"advisor_id": str(other.id)}


def _remove_member(w: Any, role: str) -> tuple[str, dict]:
    panel_id, member_id = _member(w, role)
    return f"/panels/{panel_id}/members/{member_id}/remove", {}


REVIEW = {"tech_score": "4", "market_score": "3", "value_score": "5", "comment": "矩阵评议"}


def _advisor_values() -> dict:
    n = next(_n)
    return {"display_name": f"矩阵顾问{n}", "email": f"matrix.advisor{n}@example.com",
            "password": "correct-horse-battery", "organisation_name": f"矩阵顾问单位{n}",
            "organisation_kind": "company", **PROFILE}


def _api_panel(w: Any, role: str) -> tuple[str, dict]:
    achievement = w.listing("achievement", w.users["university"])
    advisor = _advisor(w)
    return "/api/v1/panels/", {"achievement_id": achievement.id, "advisor_ids": [advisor.id],
                               "deadline": (clock.today() + timedelta(days=5)).isoformat()}


PANEL_BUILDERS = {
    ("panels.index", "GET"): lambda w, r: ("/panels/", {}),
    ("panels.new", "GET"): _new_panel,
    ("panels.new", "POST"): _new_panel,
    ("panels.detail", "GET"): lambda w, r: (f"/panels/{_panel(w, r)}", {}),
    ("panels.add_member", "POST"): _add_member,
    ("panels.remove_member", "POST"): _remove_member,
    ("panels.mine", "GET"): lambda w, r: ("/panels/mine", {}),
    ("panels.review", "GET"): lambda w, r: (f"/panels/{_panel(w, r)}/review", {}),
    ("panels.review", "POST"): lambda w, r: (f"/panels/{_panel(w, r)}/review", dict(REVIEW)),
    ("panels.profile", "GET"): lambda w, r: ("/panels/profile", {}),
    ("panels.profile", "POST"): lambda w, r: ("/panels/profile", dict(PROFILE)),
    ("panels.advisors", "GET"): lambda w, r: ("/panels/advisors/", {}),
    ("panels.new_advisor", "GET"): lambda w, r: ("/panels/advisors/new", {}),
    ("panels.new_advisor", "POST"): lambda w, r: ("/panels/advisors/new", _advisor_values()),
    ("api_panels.Panels", "GET"): lambda w, r: ("/api/v1/panels/", {}),
    ("api_panels.Panels", "POST"): _api_panel,
    ("api_panels.PanelDetail", "GET"): lambda w, r: (f"/api/v1/panels/{_panel(w, r)}", {}),
    ("api_panels.Review", "POST"): lambda w, r: (f"/api/v1/panels/{_panel(w, r)}/review",
                                                 {"tech_score": 4, "market_score": 3, "value_score": 5}),
}
