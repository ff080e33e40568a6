"""Brokers and owners see ranked, explained matches in both directions."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def test_broker_sees_related_achievement_first_with_explanation(client, market, login):
    login(market["broker"])
    page = client.get(f"/matches/demand/{market['demand'].id}").get_data(as_text=True)
    assert page.index(f'/achievement/{market["good"].id}"') < page.index(f'/achievement/{market["off"].id}"')
    assert "<mark>" in page and "<meter" in page


def test_reverse_direction_achievement_to_demands(client, market, login):
    login(market["broker"])
    page = client.get(f"/matches/achievement/{market['good'].id}").get_data(as_text=True)
    assert f'/demand/{market["demand"].id}"' in page


def test_owner_sees_matches_of_own_published_demand_only(client, market, login, make_user):
    login(market["company"])
    assert client.get(f"/matches/demand/{market['demand'].id}").status_code == 200
    login(make_user("company", org="别的公司"))
    assert client.get(f"/matches/demand/{market['demand'].id}").status_code == 404


def test_matches_never_show_contact_details(client, market, login):
    login(market["company"])
    page = client.get(f"/matches/demand/{market['demand'].id}").get_data(as_text=True)
    assert "canary.achievement@example.cn" not in page and "13900000012" not in page


def test_a_repost_of_a_published_listing_is_flagged_as_possible_duplicate(client, market, login, make_listing,
                                                                           make_user, zh):
    uni = make_user("university", org="另一所大学")
    copy = make_listing("achievement", uni, status="submitted")  # same text as market["good"]
    login(market["broker"])
    page = client.get(f"/achievement/{copy.id}").get_data(as_text=True)
    assert zh("Possible duplicates: similar listings are already published.") in page
    assert f'/achievement/{market["good"].id}"' in page
    other = make_listing("achievement", uni, status="submitted", title="深海探测机器人水下自主导航",
                         abstract="基于多普勒计程仪与惯导的组合导航算法，实现深海长航时水下机器人厘米级定位。",
                         field_code="new_energy.battery",
                         keywords="水下机器人,组合导航")
    assert zh("Possible duplicates: similar listings are already published.") not in \
        client.get(f"/achievement/{other.id}").get_data(as_text=True)


def test_marked_escapes_the_text_and_wraps_only_the_shared_terms():
    from web.matches import marked

    html = str(marked("<b>锂电池</b>正极 & 锂电池", ["锂电池"]))
    assert html == "&lt;b&gt;<mark>锂电池</mark>&lt;/b&gt;正极 &amp; <mark>锂电池</mark>"
    assert str(marked("<i>x</i>", [])) == "&lt;i&gt;x&lt;/i&gt;" and str(marked(None, ["a"])) == ""
