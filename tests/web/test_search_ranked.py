"""Search ranks published listings by the hybrid engine: partial word overlap and meaning count, every other
filter still applies, odd input answers a normal page."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.model  # publishing listings updates the index (the embedding model)


def titles(page: str, kind: str) -> list[str]:
    """Result titles in page order (the query's words inside them are marked: tags dropped)."""
    return [re.sub(r"</?mark>", "", t) for t in re.findall(r'<a href="/%s/\d+">(.*?)</a>' % kind, page)]


def test_words_that_never_appear_together_still_find_the_listing(client, market):
    # "正极材料包覆" is nowhere in the texts as such: the literal filter found nothing
    page = client.get("/search/achievement", query_string={"q": "正极材料包覆"}).get_data(as_text=True)
    found = titles(page, "achievement")
    assert found and found[0] == market["good"].title and market["off"].title not in found[:1]


def test_other_filters_still_apply_to_a_ranked_search(client, market):
    page = client.get("/search/achievement", query_string={"q": "正极材料包覆", "field": "agriculture"}).get_data(
        as_text=True)
    assert market["good"].title not in titles(page, "achievement")


def test_the_api_ranks_the_same_way(app, market):
    body = app.test_client().get("/api/v1/achievements/", query_string={"q": "正极材料包覆"}).get_json()
    assert body["total"] >= 1 and body["items"][0]["id"] == market["good"].id


@pytest.mark.parametrize("q", ["。。。！！", "控制\t字符", "锂" * 5000, "a", "   ", "\" OR NEAR(*"])
def test_odd_queries_answer_a_normal_page(client, market, q):
    resp = client.get("/search/achievement", query_string={"q": q})
    assert resp.status_code == 200


def test_drafts_are_never_found_by_a_ranked_search(client, market, make_listing, make_user):
    make_listing("achievement", make_user("university"), status="draft", title="高镍正极包覆草稿")
    page = client.get("/search/achievement", query_string={"q": "高镍正极包覆"}).get_data(as_text=True)
    assert "高镍正极包覆草稿" not in page


def test_text_searches_are_counted_per_address_browsing_is_not(app, client, market):
    app.config["SEARCH_LIMIT_ADDRESS"] = "2 per minute"
    for _ in range(4):
        assert client.get("/search/achievement").status_code == 200  # no text: no model run, not counted
    assert client.get("/search/achievement", query_string={"q": "正极"}).status_code == 200
    assert app.test_client().get("/api/v1/achievements/", query_string={"q": "正极"}).status_code == 200
    resp = client.get("/search/demand", query_string={"q": "电池"})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    api = app.test_client().get("/api/v1/achievements/", query_string={"q": "包覆"})
    assert api.status_code == 429
