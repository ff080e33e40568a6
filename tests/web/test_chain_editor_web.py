"""The chain editor in the browser's terms (admins only; every refusal on the form in Chinese, status 422,
nothing saved), a broker adding a listing to a node and taking one off through the page (kept through
recomputation), matches per node on the map and under each listing, the local province from
CHAIN_HOME_REGION, and placement after publishing in inline job mode."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models import ChainEdge, ChainNode, ChainPlacement, IndustryChain
from services import chains
from tests.chain_fixtures import StandInEncoder, load_seed_chains, no_index_sync

LOW = 0.2


@pytest.fixture
def seeded(app, session, monkeypatch):
    no_index_sync(app, monkeypatch)
    load_seed_chains(session)
    session.commit()
    return {c.code: c for c in chains.all_chains(session)}


def _node(chain, code):
    return next(n for n in chain.nodes if n.code == code)


def _count(session, model):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_an_admin_builds_a_chain_in_the_browser(client, login_as, session, seeded):
    login_as("admin")
    assert client.get("/chains/new").status_code == 200
    resp = client.submit("/chains/new", {"code": "robots", "name_zh": "机器人", "name_en": "Robots",
                                         "description": "工业机器人产业链", "leaders": "甲机器人公司\n乙公司"},
                         form_url="/chains/new")
    assert resp.status_code == 302
    chain = session.scalar(select(IndustryChain).where(IndustryChain.code == "robots"))
    assert chain.leader_list == ["甲机器人公司", "乙公司"] and chain.version == 1
    ids = []
    for code, stage in (("servo", "upstream"), ("arm", "midstream"), ("line", "downstream")):
        url = f"/chains/{chain.id}/nodes/new"
        assert client.submit(url, {"code": code, "name_zh": code + "节点", "stage": stage,
                                   "description": f"{code} 的描述"}, form_url=url).status_code == 302
        session.expire_all()
        ids.append(session.scalar(select(ChainNode.id).where(ChainNode.chain_id == chain.id, ChainNode.code == code)))
    url = f"/chains/{chain.id}/edges/new"
    for a, b in ((0, 1), (1, 2)):
        resp = client.submit(url, {"from_id": ids[a], "to_id": ids[b], "weight": "0.5", "quantity": "40%"},
                             form_url=url)
        assert resp.status_code == 302
    edit = client.get(f"/chains/{chain.id}/edit").get_data(as_text=True)
    assert edit.count("data-node=") == 3 and edit.count("data-edge=") == 2
    session.expire_all()
    assert session.get(IndustryChain, chain.id).version == 6
    page = client.get(f"/chains/{chain.id}").get_data(as_text=True)
    assert page.count('class="node"') == 3 and page.count('class="edge') == 2


def test_the_editor_refuses_bad_input_in_chinese_and_saves_nothing(client, login_as, session, seeded, zh):
    login_as("admin")
    nev = seeded["nev"]
    up, down = _node(nev, "battery_materials"), _node(nev, "nev_vehicles")
    version, edges, nodes = nev.version, _count(session, ChainEdge), _count(session, ChainNode)
    cases = [
        ("/chains/new", {"code": "nev", "name_zh": "重复"}, "Another chain has this code: choose another code."),
        ("/chains/new", {"code": "empty", "name_zh": ""}, "This field is required."),
        ("/chains/new", {"code": "Bad Code", "name_zh": "代码"}, "Use lower-case letters, digits, - and _ only (at most 32)."),
        (f"/chains/{nev.id}/nodes/new", {"code": "power_battery", "name_zh": "重复", "stage": "upstream",
                                         "description": "重复"},
         "Another node of this chain has this code: choose another code."),
        (f"/chains/{nev.id}/edges/new", {"from_id": up.id, "to_id": up.id}, "An edge cannot lead from a node to itself."),
        (f"/chains/{nev.id}/edges/new", {"from_id": down.id, "to_id": up.id},
         "This edge would make a cycle: supply flows one way along a chain."),
        (f"/chains/{nev.id}/edges/new", {"from_id": up.id, "to_id": down.id, "weight": "3"},
         "Enter a weight between 0 and 1."),
        (f"/chains/{nev.id}/edges/new", {"from_id": up.id, "to_id": down.id, "weight": "NaN"},
         "Enter a weight between 0 and 1."),
    ]
    for url, data, msgid in cases:
        resp = client.submit(url, data, form_url=url)
        assert resp.status_code == 422, (url, data, resp.status_code)
        assert zh(msgid) in resp.get_data(as_text=True), (url, data)
    assert client.get(f"/chains/{nev.id}/edges/999999/edit").status_code == 404
    assert client.get(f"/chains/{nev.id}/nodes/{_node(seeded['dairy'], 'dairy_processing').id}/edit").status_code == 404
    session.expire_all()
    assert session.get(IndustryChain, nev.id).version == version
    assert (_count(session, ChainEdge), _count(session, ChainNode)) == (edges, nodes)
    assert _count(session, IndustryChain) == len(seeded)


def test_brokers_may_not_edit_chains(client, login_as, seeded):
    login_as("broker")
    nev = seeded["nev"]
    assert client.get("/chains/new").status_code == 403
    assert client.get(f"/chains/{nev.id}/edit").status_code == 403
    assert "/chains/new" not in client.get("/chains/").get_data(as_text=True)


@pytest.fixture
def placed(session, seeded, make_user, make_listing):
    owner, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    items = {"demand": make_listing("demand", owner, reviewer=broker),
             "achievement": make_listing("achievement", uni, reviewer=broker),
             "other": make_listing("demand", owner, reviewer=broker, title="年会节目策划",
                                   description="公司年会需要节目策划与舞台主持，希望找到擅长晚会编排的团队。",
                                   keywords="年会,主持", indicators="")}
    nev = seeded["nev"]
    cell = _node(nev, "power_battery")
    chains.move_listing(session, broker, nev, "demand", items["demand"].id, cell.id)
    chains.move_listing(session, broker, nev, "achievement", items["achievement"].id, cell.id)
    session.commit()
    return items


def test_the_map_counts_matches_and_lists_them_under_each_listing(client, login_as, session, seeded, placed):
    login_as("broker")
    nev = seeded["nev"]
    cell = _node(nev, "power_battery")
    html = client.get(f"/chains/{nev.id}").get_data(as_text=True)
    assert re.search(rf'data-node="{cell.id}"[^>]*data-matches="1"', html)
    page = client.get(f"/chains/{nev.id}?node={cell.id}").get_data(as_text=True)
    d, a = placed["demand"], placed["achievement"]
    row = re.search(rf'<tr class="placed" data-kind="demand" data-id="{d.id}">.*?</tr>', page, re.S).group(0)
    assert f'data-kind="achievement" data-id="{a.id}"' in row and f"/matches/demand/{d.id}" in row
    assert d.contact_email not in page and a.contact_email not in page


def test_a_broker_takes_a_listing_off_a_node_and_adds_another(client, login_as, session, seeded, placed, zh):
    login_as("broker")
    nev = seeded["nev"]
    cell = _node(nev, "power_battery")
    d, other = placed["demand"], placed["other"]
    url = f"/chains/{nev.id}/nodes/{cell.id}"
    resp = client.submit(url + "/remove", {"kind": "demand", "listing_id": d.id}, form_url=f"/chains/{nev.id}?node={cell.id}")
    assert resp.status_code == 302
    resp = client.submit(url + "/add", {"kind": "demand", "listing_id": other.id}, form_url=f"/chains/{nev.id}?node={cell.id}")
    assert resp.status_code == 302
    again = client.submit(url + "/add", {"kind": "demand", "listing_id": other.id},
                          form_url=f"/chains/{nev.id}?node={cell.id}", follow_redirects=True)
    assert zh("That listing is already on this node.") in again.get_data(as_text=True)
    bad = client.submit(url + "/add", {"kind": "demand", "listing_id": "x"},
                        form_url=f"/chains/{nev.id}?node={cell.id}", follow_redirects=True)
    assert 'class="flash danger"' in bad.get_data(as_text=True)
    chains.place_all(session, StandInEncoder(), threshold=LOW)  # `flask chains place`, the job after a rebuild
    session.commit()
    page = client.get(f"/chains/{nev.id}?node={cell.id}").get_data(as_text=True)
    assert f'data-kind="demand" data-id="{d.id}"' not in page
    assert f'data-kind="demand" data-id="{other.id}"' in page
    assert "removed-listings" in page


def test_the_local_province_comes_from_chain_home_region(app, client, login_as, seeded, monkeypatch):
    login_as("broker")
    nev = seeded["nev"]
    assert 'value="shaanxi" selected' in client.get(f"/chains/{nev.id}").get_data(as_text=True)
    monkeypatch.setitem(app.config, "CHAIN_HOME_REGION", "jiangsu")
    assert 'value="jiangsu" selected' in client.get(f"/chains/{nev.id}").get_data(as_text=True)


def test_config_declares_chain_home_region():
    from config import WorkbenchSettings, settings_of

    assert settings_of(WorkbenchSettings)["CHAIN_HOME_REGION"].default == "shaanxi"


def test_publishing_in_inline_job_mode_places_the_listing(app, session, make_user, make_listing, monkeypatch):
    """JOBS_MODE=inline runs no index.sync job (so no follower): the commit itself submits chains.place."""
    assert app.extensions["jobs"].inline and app.extensions.get("chains_autoplace") is not None
    monkeypatch.setattr(app.extensions["matching"].indexing, "_job", lambda changed: None)  # no real model
    runtime = app.extensions["matching"]
    monkeypatch.setattr(type(runtime), "encoder", property(lambda self: StandInEncoder()))
    monkeypatch.setattr(chains.place_all, "__kwdefaults__", {"threshold": LOW, "margin": chains.MARGIN,
                                                             "max_nodes": chains.MAX_NODES})
    load_seed_chains(session)
    session.commit()
    owner, broker = make_user("company"), make_user("broker")
    demand = make_listing("demand", owner, reviewer=broker)  # published and committed
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ChainPlacement).where(
        ChainPlacement.entity_type == "demand", ChainPlacement.entity_id == demand.id)) > 0
