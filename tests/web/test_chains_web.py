"""The industry-chain map in the browser's terms: every seeded chain renders (page, SVG file, .xlsx), a node's
counts equal its list, a broker's move through the form survives recomputation, and bad ids are answered
with a message in both languages, nothing saved."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from models import ChainPlacement
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


@pytest.fixture
def placed(session, seeded, make_user, make_listing):
    """Two demands and an achievement placed by the stand-in engine."""
    owner, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    items = [make_listing("demand", owner, reviewer=broker),
             make_listing("demand", owner, reviewer=broker, title="动力电池热失控防护",
                          description="动力电池包热失控蔓延快，需要电池管理系统预警与隔热防护方案，提高电池包安全。"),
             make_listing("achievement", uni, reviewer=broker)]
    chains.place_all(session, StandInEncoder(), threshold=LOW)
    session.commit()
    return items


def test_the_map_renders_for_every_seeded_chain(client, login_as, session, seeded, placed):
    login_as("broker")
    for chain in seeded.values():
        page = client.get(f"/chains/{chain.id}")
        assert page.status_code == 200, chain.code
        html = page.get_data(as_text=True)
        assert html.count('class="node"') == len(chain.nodes) and chain.name_zh in html
        svg = client.get(f"/chains/{chain.id}/map.svg")
        assert svg.mimetype == "image/svg+xml"
        root = ET.fromstring(svg.get_data())  # a well-formed file
        assert len(root.findall(".//{http://www.w3.org/2000/svg}rect")) == len(chain.nodes) + 1
    listing = client.get("/chains/").get_data(as_text=True)
    assert all(c.name_zh in listing for c in seeded.values())


def test_a_nodes_counts_equal_its_list(client, login_as, session, seeded, placed):
    login_as("broker")
    nev = seeded["nev"]
    html = client.get(f"/chains/{nev.id}").get_data(as_text=True)
    counted = 0
    for node in nev.nodes:
        found = re.search(rf'data-node="{node.id}"\s+data-demands="(\d+)" data-achievements="(\d+)"', html)
        demands, achievements = int(found.group(1)), int(found.group(2))
        page = client.get(f"/chains/{nev.id}?node={node.id}").get_data(as_text=True)
        rows = re.findall(r'<tr class="placed" data-kind="(\w+)"', page)
        assert (rows.count("demand"), rows.count("achievement")) == (demands, achievements), node.code
        counted += demands + achievements
    assert counted > 0  # the stand-in placed something on this chain


def test_a_busy_nodes_list_is_paged_and_the_pages_add_up_to_its_counts(client, login_as, session, seeded, placed,
                                                                         monkeypatch):
    from web import chains as chains_web

    monkeypatch.setattr(chains_web, "NODE_PAGE_SIZE", 2)
    broker = login_as("broker")
    nev = seeded["nev"]
    busiest = nev.nodes[0]
    for item in placed:  # a broker gathers all three listings on one node: more than a page of two
        chains.move_listing(session, broker, nev, item.kind, item.id, busiest.id)
    session.commit()
    html = client.get(f"/chains/{nev.id}").get_data(as_text=True)
    found = re.search(rf'data-node="{busiest.id}"\s+data-demands="(\d+)" data-achievements="(\d+)"', html)
    most = int(found.group(1)) + int(found.group(2))
    assert most == 3
    seen: list[tuple[str, str]] = []
    for page in (1, 2):
        text = client.get(f"/chains/{nev.id}?node={busiest.id}&page={page}").get_data(as_text=True)
        rows = re.findall(r'<tr class="placed" data-kind="(\w+)" data-id="(\d+)"', text)
        shown = re.search(r'id="listed-range" data-total="(\d+)">[^<]*\b{most}\b'.replace("{most}", str(most)), text)
        assert len(rows) == (2 if page == 1 else 1) and shown and shown.group(1) == str(most)
        seen += rows
    assert len(set(seen)) == most  # every listing once, on exactly one page
    # a page past the end or not a number shows the last or the first page, never an error
    assert client.get(f"/chains/{nev.id}?node={busiest.id}&page=999").status_code == 200
    assert client.get(f"/chains/{nev.id}?node={busiest.id}&page=-1").status_code == 200


def test_a_brokers_move_through_the_form_survives_recomputation(client, login_as, session, seeded, placed):
    login_as("broker")
    nev, demand = seeded["nev"], placed[0]
    target = _node(nev, "intelligent_driving")
    resp = client.submit(f"/chains/{nev.id}/place", {"kind": "demand", "listing_id": demand.id, "node_id": target.id},
                         form_url=f"/chains/{nev.id}")
    assert resp.status_code == 302 and f"node={target.id}" in resp.headers["Location"]
    chains.place_all(session, StandInEncoder(), threshold=LOW)  # as `flask chains place` or the job does
    session.commit()
    page = client.get(f"/chains/{nev.id}?node={target.id}").get_data(as_text=True)
    assert f'data-kind="demand" data-id="{demand.id}"' in page
    rows = session.scalars(select(ChainPlacement).where(ChainPlacement.entity_id == demand.id,
                                                        ChainPlacement.entity_type == "demand",
                                                        ChainPlacement.chain_id == nev.id)).all()
    assert [(r.node_id, r.source) for r in rows] == [(target.id, "broker")]


def test_bad_ids_are_answered_with_a_message_and_nothing_is_saved(client, login_as, session, seeded, placed, zh):
    login_as("broker")
    nev, dairy, demand = seeded["nev"], seeded["dairy"], placed[0]
    before = sorted(session.execute(select(ChainPlacement.entity_id, ChainPlacement.node_id, ChainPlacement.source)))
    unknown = client.get("/chains/999999")
    assert unknown.status_code == 404
    assert zh("No such industry chain: choose one from the list of chains.") in unknown.get_data(as_text=True)
    for url in ("/chains/999999/map.svg", "/chains/999999/export.xlsx"):
        assert client.get(url).status_code == 404
    assert client.get(f"/chains/{nev.id}?node=999999").status_code == 404
    assert client.get(f"/chains/{nev.id}?node=abc").status_code == 404
    other = client.get(f"/chains/{nev.id}?node={dairy.nodes[0].id}")
    assert other.status_code == 422
    assert zh("That node belongs to another chain: choose a node of this chain.") in other.get_data(as_text=True)
    moved = client.submit(f"/chains/{nev.id}/place", {"kind": "demand", "listing_id": demand.id,
                                                     "node_id": dairy.nodes[0].id},
                          form_url=f"/chains/{nev.id}", follow_redirects=True)
    assert moved.status_code == 200
    assert zh("That node belongs to another chain: choose a node of this chain.") in moved.get_data(as_text=True)
    for data in ({"kind": "demand", "listing_id": 999999, "node_id": nev.nodes[0].id},
                 {"kind": "patent", "listing_id": demand.id, "node_id": nev.nodes[0].id},
                 {"kind": "demand", "listing_id": "x", "node_id": nev.nodes[0].id}):
        resp = client.submit(f"/chains/{nev.id}/place", data, form_url=f"/chains/{nev.id}", follow_redirects=True)
        assert resp.status_code == 200 and 'class="flash danger"' in resp.get_data(as_text=True), data
    assert client.submit("/chains/999999/place", {"kind": "demand", "listing_id": demand.id, "node_id": 1},
                         form_url=f"/chains/{nev.id}").status_code == 404
    session.expire_all()
    assert sorted(session.execute(select(ChainPlacement.entity_id, ChainPlacement.node_id,
                                         ChainPlacement.source))) == before


def test_messages_in_english(client, login_as, session, seeded):
    login_as("broker")
    client.submit("/lang/en", {"next": "/"}, form_url="/")
    page = client.get("/chains/999999")
    assert "No such industry chain: choose one from the list of chains." in page.get_data(as_text=True)
    nev = seeded["nev"]
    other = client.get(f"/chains/{nev.id}?node={seeded['dairy'].nodes[0].id}").get_data(as_text=True)
    assert "That node belongs to another chain: choose a node of this chain." in other
    assert "Upstream" in client.get(f"/chains/{nev.id}").get_data(as_text=True)


def test_an_unknown_region_falls_back_to_the_province_with_a_message(client, login_as, seeded, zh):
    login_as("admin")
    nev = seeded["nev"]
    page = client.get(f"/chains/{nev.id}?region=nowhere")
    assert page.status_code == 200 and zh("Unknown region: choose one from the list.") in page.get_data(as_text=True)


def test_the_xlsx_holds_every_node_with_its_counts(client, login_as, seeded, placed):
    from openpyxl import load_workbook

    login_as("broker")
    nev = seeded["nev"]
    resp = client.get(f"/chains/{nev.id}/export.xlsx")
    book = load_workbook(io.BytesIO(resp.get_data()))
    nodes, listings = book.worksheets
    assert nodes.max_row == len(nev.nodes) + 1
    total = sum((row[2] or 0) + (row[3] or 0) for row in nodes.iter_rows(min_row=2, values_only=True))
    assert listings.max_row - 1 == total


def test_listers_cannot_see_the_map(client, login_as, seeded):
    login_as("company")
    nev = seeded["nev"]
    assert client.get("/chains/").status_code == 403
    assert client.get(f"/chains/{nev.id}/map.svg").status_code == 403
