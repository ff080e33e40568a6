"""The industry-chain map in headless chromium: every seeded chain draws its SVG under the site's CSP (no
console error), a click on a node lists its listings, a broker moves one to another node, and the PNG export
draws the map in the browser."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.chain_fixtures import StandInEncoder, load_seed_chains, no_index_sync
from tests.e2e.test_journey import _login, browser, server  # noqa: F401  (fixtures: chromium, the app on a port)

pytestmark = pytest.mark.e2e


def test_every_chain_map_renders_and_a_broker_moves_a_listing(app, server, browser, session, make_user,
                                                              make_listing, monkeypatch):
    from services import chains
    from tests.conftest import PASSWORD

    no_index_sync(app, monkeypatch)
    load_seed_chains(session)
    owner, broker = make_user("company"), make_user("broker")
    demand = make_listing("demand", owner, reviewer=broker)
    chains.place_all(session, StandInEncoder(), threshold=0.2)
    session.commit()
    ctx = browser.new_context()
    page = ctx.new_page()
    problems: list[str] = []
    # CSP violations are console errors; a failed resource is checked by its response (the browser's own
    # /favicon.ico probe is no page's doing)
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400
            and not r.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda err: problems.append(str(err)))
    _login(page, server, broker.email, PASSWORD)
    for chain in chains.all_chains(session):
        page.goto(f"{server}/chains/{chain.id}")
        assert page.locator("svg.chain-map a.node").count() == len(chain.nodes), chain.code
        assert page.locator("svg.chain-map a.node rect").first.bounding_box()["width"] > 100  # drawn, not hidden
    nev = next(c for c in chains.all_chains(session) if c.code == "nev")
    page.goto(f"{server}/chains/{nev.id}")
    battery = next(n for n in nev.nodes if n.code == "battery_materials")
    page.locator(f'svg.chain-map a.node[data-node="{battery.id}"]').click()
    page.wait_for_selector("#listings")
    row = page.locator(f'tr.placed[data-kind="demand"][data-id="{demand.id}"]')
    assert row.count() == 1
    target = next(n for n in nev.nodes if n.code == "nev_vehicles")
    row.locator("select[name=node_id]").select_option(str(target.id))
    row.locator("button.move").click()
    page.wait_for_selector("#listings")
    assert page.locator(f'tr.placed[data-kind="demand"][data-id="{demand.id}"]').count() == 1
    assert target.name_zh in page.locator("#listings").inner_text()
    # PNG: static/js/chain_png.js draws the served SVG on a canvas in the page (no CDN, under the CSP)
    with page.expect_download() as got:
        page.locator("button.chain-png").click()
    png = Path(got.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and got.value.suggested_filename == f"chain-{nev.id}.png"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (2 * 960, 2 * int(page.locator("svg.chain-map").get_attribute("height")))
    ctx.close()
    assert not problems, problems  # a CSP violation is reported on the console as an error
