"""Matrix builders for the service directory (科技大市场, issue 21 part 2); merged into FEATURE_BUILDERS by
tests/web/policy_builders.py. Each call makes fresh entries of the world's provider (or another provider where the
acting provider must not own the entry), with canary contacts."""
from __future__ import annotations

import itertools
from typing import Any

_n = itertools.count(1)


def entry_data(**over: Any) -> dict[str, Any]:
    n = next(_n)
    data = {"kind": "pilot", "name": f"金丝雀中试平台{n}", "description": "Micro LED 中试线与检测修复试生产服务。",
            "field_codes": ["new_energy.battery"], "region": "shaanxi", "services": "中试", "equipment": "涂布机",
            "capacity": "月产500只", "stages": [], "ticket_min": None, "ticket_max": None, "website": "",
            "contact_name": f"金丝雀服务{n}", "contact_phone": f"029-7{n:07d}",
            "contact_email": f"provider{n}@canary-directory.test"}
    data.update(over)
    return data


def _provider_user(w: Any, other: bool = False) -> Any:
    if other:
        if "_provider2" not in w.__dict__:
            w._provider2 = w.user("provider")
        return w._provider2
    return w.users["provider"]


def make_entry(w: Any, status: str = "published", other: bool = False, **over: Any) -> Any:
    from services import directory

    with w.factory() as s:
        owner = s.get(type(w.users["provider"]), _provider_user(w, other).id)
        provider = directory.create(s, owner, entry_data(**over))
        if status in ("submitted", "published"):
            directory.transition(s, provider, owner, "submit")
        if status == "published":
            directory.transition(s, provider, s.get(type(owner), w.users["broker"].id), "approve")
        s.commit()
        return provider


def make_request(w: Any, requester_role: str) -> Any:
    from services import directory

    provider = make_entry(w)
    with w.factory() as s:
        requester = s.get(type(w.users["company"]), w.users[requester_role].id)
        req = directory.request_contact(s, requester, s.get(type(provider), provider.id), "想合作")
        s.commit()
        return req


def _contact(w: Any, role: str) -> tuple[str, dict]:
    return f"/directory/{make_entry(w, other=role == 'provider').id}/contact", {"message": "想预约"}


def _withdraw(w: Any, role: str) -> tuple[str, dict]:
    requester = role if role in w.users and role != "provider" else "company"
    return f"/directory/requests/{make_request(w, requester).id}/withdraw", {}


def _api_in() -> dict[str, Any]:
    data = entry_data()
    data.pop("ticket_min"), data.pop("ticket_max")
    return data


DIRECTORY_BUILDERS = {
    ("directory.index", "GET"): lambda w, r: ("/directory/?kind=pilot&q=中试", {}),
    ("directory.detail", "GET"): lambda w, r: (f"/directory/{make_entry(w).id}", {}),
    ("directory.contact", "POST"): _contact,
    ("directory.mine", "GET"): lambda w, r: ("/directory/mine", {}),
    ("directory.new", "GET"): lambda w, r: ("/directory/new", {}),
    ("directory.new", "POST"): lambda w, r: ("/directory/new", {}),
    ("directory.edit", "GET"): lambda w, r: (f"/directory/{make_entry(w, 'draft').id}/edit", {}),
    ("directory.edit", "POST"): lambda w, r: (f"/directory/{make_entry(w, 'draft').id}/edit", {}),
    ("directory.act", "POST"): lambda w, r: (f"/directory/{make_entry(w, 'draft').id}/submit", {}),
    ("directory.review", "GET"): lambda w, r: ("/directory/review", {}),
    ("directory.decide", "POST"): lambda w, r: (f"/directory/{make_entry(w, 'submitted').id}/review/approve",
                                                {"reason": ""}),
    ("directory.requests", "GET"): lambda w, r: ("/directory/requests", {}),
    ("directory.answer", "POST"): lambda w, r: (f"/directory/requests/{make_request(w, 'company').id}/accept", {}),
    ("directory.withdraw", "POST"): _withdraw,
    ("api_directory.index", "GET"): lambda w, r: ("/api/v1/directory/?kind=pilot", {}),
    ("api_directory.detail", "GET"): lambda w, r: (f"/api/v1/directory/{make_entry(w).id}", {}),
    ("api_directory.create", "POST"): lambda w, r: ("/api/v1/directory/", _api_in()),
    ("api_directory.update", "PATCH"): lambda w, r: (f"/api/v1/directory/{make_entry(w, 'draft').id}", _api_in()),
    ("api_directory.submit", "POST"): lambda w, r: (f"/api/v1/directory/{make_entry(w, 'draft').id}/submit", {}),
}
