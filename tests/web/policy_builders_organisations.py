"""Matrix builders for organisation accounts (issue 21 part 3); merged into FEATURE_BUILDERS by
tests/web/policy_builders.py. The world's company and university users registered their organisations, so they
are their managers: objects (a colleague, an invitation) are made in the acting role's own organisation, or the
company's for the roles that may not call the route."""
from __future__ import annotations

import itertools
from typing import Any

_n = itertools.count(1)
LISTERS = ("company", "university")


def _manager(w: Any, role: str) -> Any:
    return w.users[role] if role in LISTERS else w.users["company"]


def _invitation(w: Any, role: str) -> tuple[Any, str]:
    from services import organisations

    with w.factory() as s:
        manager = s.get(type(w.users["company"]), _manager(w, role).id)
        invitation, token = organisations.invite(s, manager, f"matrix.invitee{next(_n)}@example.com")
        s.commit()
        return invitation, token


def _colleague(w: Any, role: str) -> Any:
    from services import organisations
    from tests.conftest import PASSWORD

    _, token = _invitation(w, role)
    with w.factory() as s:
        member = organisations.accept_new(s, token, display_name=f"同事 {next(_n)}", password=PASSWORD)
        s.commit()
        return member


ORGANISATION_BUILDERS = {
    ("organisations.index", "GET"): lambda w, r: ("/organisation/", {}),
    ("organisations.invite", "POST"): lambda w, r: ("/organisation/invite", {
        "email": f"matrix.invite{next(_n)}@example.com", "org_role": "member"}),
    ("organisations.revoke", "POST"): lambda w, r: (f"/organisation/invitations/{_invitation(w, r)[0].id}/revoke", {}),
    ("organisations.remove", "POST"): lambda w, r: (f"/organisation/members/{_colleague(w, r).id}/remove", {}),
    ("organisations.role", "POST"): lambda w, r: (f"/organisation/members/{_colleague(w, r).id}/role",
                                                  {"org_role": "manager"}),
    ("organisations.accept", "GET"): lambda w, r: (f"/organisation/join/{_invitation(w, r)[1]}", {}),
    ("organisations.accept", "POST"): lambda w, r: (f"/organisation/join/{_invitation(w, r)[1]}", {}),
    ("api_organisation.Members", "GET"): lambda w, r: ("/api/v1/organisation/members", {}),
    ("api_organisation.Invitations", "POST"): lambda w, r: ("/api/v1/organisation/invitations", {
        "email": f"matrix.api{next(_n)}@example.com"}),
    ("api_organisation.Member", "DELETE"): lambda w, r: (f"/api/v1/organisation/members/{_colleague(w, r).id}", {}),
}
