"""The region hierarchy: nodes to the park, moves without cycles, subtree filters, the engine's region path."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from models import AuditEvent, Demand, Region
from services import listings, regions
from services.errors import ServiceError
from services.indexing import to_doc
from services.seed import DATA
from tests.conftest import demand_data


@pytest.fixture
def tree(session):
    regions.load_tree(session, json.loads((DATA / "region_tree.json").read_text(encoding="utf-8")))
    session.commit()
    return {r.code: r for r in session.scalars(select(Region))}


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def test_the_demo_tree_hangs_parks_under_districts_cities_and_the_province(tree):
    park, district, city, province = (tree[c] for c in ("xian_hangtian", "xian_changan", "xian", "shaanxi"))
    assert park.path.startswith(district.path) and district.path.startswith(city.path)
    assert city.path.startswith(province.path) and province.path == f"/{province.id}/"
    assert province.gb_code == "610000" and park.gb_code is None and park.level == "park"


def test_every_province_of_the_reference_data_is_a_root_with_a_path(session):
    rows = list(session.scalars(select(Region)))
    assert rows and all(r.path == f"/{r.id}/" for r in rows if r.parent_id is None)


def test_a_node_cannot_move_under_itself_or_a_descendant(session, tree, admin):
    city = tree["xian"]
    for new_parent in ("xian", "xian_changan", "xian_hangtian"):
        with pytest.raises(ServiceError) as err:
            regions.update_region(session, admin, city, {**_form(city), "parent_id": tree[new_parent].id})
        assert err.value.code in ("region.cycle", "region.level_order")
    session.rollback()
    fresh = session.get(Region, city.id)
    assert fresh.parent_id == tree["shaanxi"].id and fresh.path == f"{tree['shaanxi'].path}{city.id}/"


def test_moving_a_node_moves_its_subtree_paths(session, tree, admin):
    district = tree["xian_changan"]
    regions.update_region(session, admin, district, {**_form(district), "parent_id": tree["xianyang"].id})
    session.commit()
    park = session.get(Region, tree["xian_hangtian"].id)
    assert park.path == f"{tree['xianyang'].path}{district.id}/{park.id}/"
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "region.changed")) is not None


def test_a_level_must_sit_below_its_parent(session, tree, admin):
    with pytest.raises(ServiceError) as err:
        regions.create_region(session, admin, {"code": "bad_city", "name_zh": "某市", "name_en": "Some City",
                                               "level": "city", "parent_id": tree["xian_yanta"].id})
    assert err.value.code == "region.level_order"
    with pytest.raises(ServiceError) as err:
        regions.create_region(session, admin, {"code": "lonely_park", "name_zh": "某园区", "name_en": "A park",
                                               "level": "park"})
    assert err.value.code == "region.level_needs_parent"


@pytest.mark.parametrize("change,code", [({"code": "xian"}, "region.code_taken"),
                                         ({"code": "Bad Code"}, "region.bad_code"),
                                         ({"gb_code": "61011"}, "region.bad_gb_code"),
                                         ({"gb_code": "610100"}, "region.gb_code_taken"),
                                         ({"name_zh": ""}, "region.bad_name")])
def test_bad_region_values_are_refused(session, tree, admin, change, code):
    data = {"code": "xian_lintong", "name_zh": "临潼区", "name_en": "Lintong", "level": "district",
            "parent_id": tree["xian"].id, "gb_code": "610115", **change}
    with pytest.raises(ServiceError) as err:
        regions.create_region(session, admin, data)
    assert err.value.code == code


def _draft(session, owner, **over):
    """A draft flushed, not committed: no index update runs (no model in the fast tier)."""
    item = listings.create_listing(session, "demand", owner, demand_data(**over))
    session.flush()
    return item


def test_a_city_filter_takes_in_its_districts_and_parks(session, tree, make_user):
    owner, broker = make_user("company"), make_user("broker")
    in_park = _draft(session, owner, region="xian_hangtian", title="航天基地的需求标题")
    in_city = _draft(session, owner, region="xian", title="西安市本级的需求标题")
    elsewhere = _draft(session, owner, region="baoji_gaoxin", title="宝鸡高新区需求标题")
    found = set(session.scalars(listings.search_stmt("demand", listings.SearchFilters(region="xian", status="all"), broker)))
    assert {in_park, in_city} <= found and elsewhere not in found
    assert in_park.region_id == tree["xian_hangtian"].id  # the id follows the code on save
    province = set(session.scalars(listings.search_stmt("demand", listings.SearchFilters(region="shaanxi", status="all"), broker)))
    assert {in_park, in_city, elsewhere} <= province


def test_the_engine_gets_the_listings_region_path(session, tree, make_user):
    item = _draft(session, make_user("company"), region="xian_hangtian")
    doc = to_doc(session.get(Demand, item.id))
    assert doc.region_path == (("province", "shaanxi"), ("city", "xian"), ("district", "xian_changan"),
                               ("park", "xian_hangtian"))


def _form(node: Region) -> dict:
    return {"code": node.code, "name_zh": node.name_zh, "name_en": node.name_en, "level": node.level,
            "gb_code": node.gb_code or "", "parent_id": node.parent_id, "position": node.position}
