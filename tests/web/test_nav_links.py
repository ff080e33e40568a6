"""Every link of a role's navigation opens for that role: no menu entry leads to a refusal (403) or a missing
page (404). Catches a route whose policy narrowed (e.g. roadshow pages for the listing market only) while the
menu kept offering it."""
from __future__ import annotations

import re

import pytest

from web.policy import ALL_ROLES

NAV = re.compile(r"<nav.*?</nav>", re.S)
HREF = re.compile(r'href="(/[^"#?]*)')
pytestmark = pytest.mark.model  # staff menus open /statistics/, whose figures come from the matching engine


@pytest.mark.parametrize("role", sorted(ALL_ROLES - {"anonymous"}))
def test_every_navigation_link_of_a_role_opens_for_it(client, login, make_user, role):
    login(make_user(role))
    home = client.get("/")
    assert home.status_code == 200
    links = sorted(set(HREF.findall(NAV.search(home.get_data(as_text=True)).group(0))))
    assert len(links) >= 3, links
    refused = {}
    for href in links:
        status = client.get(href).status_code
        if status in (403, 404, 500):
            refused[href] = status
    assert refused == {}, (role, refused)
