"""The search page's region filter takes a node and everything under it: a city includes its parks."""
from __future__ import annotations

import json

import pytest

from services import regions
from services.seed import DATA

pytestmark = pytest.mark.model  # published listings: the index sync loads the real embedding model


def test_a_city_filter_on_the_search_page_includes_its_parks(client, session, make_user, make_listing):
    regions.load_tree(session, json.loads((DATA / "region_tree.json").read_text(encoding="utf-8")))
    session.commit()
    owner, broker = make_user("company"), make_user("broker")
    make_listing("demand", owner, reviewer=broker, region="xian_hangtian", title="航天基地钛合金焊接需求")
    make_listing("demand", owner, reviewer=broker, region="baoji_gaoxin", title="宝鸡高新区钛材轧制需求")
    city = client.get("/search/demand?region=xian").get_data(as_text=True)
    assert "航天基地钛合金焊接需求" in city and "宝鸡高新区钛材轧制需求" not in city
    province = client.get("/search/demand?region=shaanxi").get_data(as_text=True)
    assert "航天基地钛合金焊接需求" in province and "宝鸡高新区钛材轧制需求" in province
    assert "西安航天基地" in client.get("/search/demand").get_data(as_text=True)  # parks are offered as filters
