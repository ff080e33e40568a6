"""The chain, target and contract-statistics API (/api/v1): chains with nodes, edges and counts, a node's
listings with their matches (equal to the node's counts; published only, no contacts), targets read by staff
and set by admins with PUT, the statistics of a region node and period equal to the page's figures; bad input
answered with its code and a message in the caller's language. No embedding model."""
from __future__ import annotations


import pytest

from models import ChainPlacement
from services import chains, clock, contract_stats, contracts, regions
from tests.chain_fixtures import load_seed_chains, no_index_sync
from tests.web.policy_builders_contracts import _contract_values


@pytest.fixture
def seeded(app, session, monkeypatch):
    no_index_sync(app, monkeypatch)
    load_seed_chains(session)
    session.commit()
    return {c.code: c for c in chains.all_chains(session)}


def test_chains_nodes_and_listings(api, session, seeded, make_user, make_listing, token_for):
    owner, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    d = make_listing("demand", owner, reviewer=broker)
    a = make_listing("achievement", uni, reviewer=broker)
    draft = make_listing("demand", owner, status="draft")
    nev = seeded["nev"]
    cell = next(n for n in nev.nodes if n.code == "power_battery")
    session.add(ChainPlacement(entity_type="demand", entity_id=draft.id, node_id=cell.id, chain_id=nev.id,
                               source="engine", score=0.99))  # a draft on the node: never counted nor listed
    chains.move_listing(session, broker, nev, "demand", d.id, cell.id)
    chains.move_listing(session, broker, nev, "achievement", a.id, cell.id)
    session.commit()
    h = token_for(broker)
    items = api.get("/api/v1/chains/", headers=h).get_json()["items"]
    assert len(items) == 13 and {i["code"] for i in items} >= {"nev", "dairy"}
    one = api.get(f"/api/v1/chains/{nev.id}?region=shaanxi", headers=h).get_json()
    assert one["region"] == "shaanxi" and len(one["node_list"]) == len(nev.nodes) and one["edges"]
    node = next(n for n in one["node_list"] if n["id"] == cell.id)
    assert (node["demands"], node["achievements"], node["matches"]) == (1, 1, 1)
    listed = api.get(f"/api/v1/chains/{nev.id}/nodes/{cell.id}/listings", headers=h).get_json()
    kinds = [i["kind"] for i in listed["items"]]
    assert (kinds.count("demand"), kinds.count("achievement")) == (node["demands"], node["achievements"])
    demand_row = next(i for i in listed["items"] if i["kind"] == "demand")
    assert demand_row["matches"] == [{"kind": "achievement", "id": a.id, "title": a.title}]
    text = str(listed)
    assert d.contact_email not in text
    assert draft.id not in {i["id"] for i in listed["items"] if i["kind"] == "demand"}
    assert api.get(f"/api/v1/chains/{nev.id}", headers=h).get_json()["region"] == "shaanxi"  # CHAIN_HOME_REGION


def test_chain_refusals_in_both_languages(api, session, seeded, make_user, token_for, zh):
    broker = make_user("broker")
    nev, dairy = seeded["nev"], seeded["dairy"]
    en, cn = token_for(broker, "en"), token_for(broker, "zh-CN")
    r = api.get("/api/v1/chains/999999", headers=en)
    assert r.status_code == 404 and r.get_json()["message"] == "No such industry chain: choose one from the list of chains."
    r = api.get("/api/v1/chains/999999", headers=cn)
    assert r.get_json()["message"] == zh("No such industry chain: choose one from the list of chains.")
    r = api.get(f"/api/v1/chains/{nev.id}/nodes/{dairy.nodes[0].id}/listings", headers=en)
    assert r.status_code == 404
    r = api.get(f"/api/v1/chains/{nev.id}?region=nowhere", headers=cn)
    assert r.status_code == 422 and r.get_json()["message"] == zh("Unknown region: choose one from the list.")
    lister = token_for(make_user("company"))
    assert api.get("/api/v1/chains/", headers=lister).status_code == 403
    assert api.get("/api/v1/chains/").status_code == 401


def test_targets_read_by_staff_and_set_by_admins(api, session, make_user, token_for, zh):
    admin, broker = make_user("admin"), make_user("broker")
    year = clock.today().year
    put = api.put(f"/api/v1/targets/shaanxi/{year}", json={"amount": "1000", "count": 5}, headers=token_for(admin))
    assert put.status_code == 200, put.get_json()
    body = put.get_json()
    assert (body["region"], body["year"], body["amount"], body["count"]) == ("shaanxi", year, "1000.0000", 5)
    h = token_for(broker)
    assert api.get(f"/api/v1/targets/shaanxi/{year}", headers=h).get_json()["amount"] == body["amount"]
    assert [t["region"] for t in api.get(f"/api/v1/targets/?year={year}", headers=h).get_json()["items"]] == ["shaanxi"]
    assert api.put(f"/api/v1/targets/shaanxi/{year}", json={"amount": "1"}, headers=h).status_code == 403
    assert api.get(f"/api/v1/targets/jiangsu/{year}", headers=h).status_code == 404
    cn = token_for(admin, "zh-CN")
    bad = api.put(f"/api/v1/targets/shaanxi/{year}", json={"amount": "-5"}, headers=cn)
    assert bad.status_code == 422
    bad = api.put(f"/api/v1/targets/shaanxi/{year}", json={"amount": "5", "tech_amount": "9"}, headers=cn)
    assert bad.status_code == 422 and bad.get_json()["code"] == "target.bad_amount"
    assert bad.get_json()["message"] == zh("Enter a target of 0 or more, in 10k yuan, and a whole number of contracts.")
    unknown = api.put(f"/api/v1/targets/nowhere/{year}", json={"amount": "5"}, headers=cn)
    assert unknown.status_code == 422
    session.expire_all()
    row = contract_stats.get_target(session, regions.by_code(session, "shaanxi"), year)
    assert row.amount == 1000 and row.tech_amount is None  # nothing of a refused PUT was saved


def test_statistics_equal_the_services_figures(api, session, make_user, token_for, zh):
    broker = make_user("broker")
    for _ in range(2):
        contracts.create_contract(session, broker, _contract_values())
    session.commit()
    h = token_for(broker)
    r = api.get("/api/v1/contract-statistics/?region=shaanxi&year=2026", headers=h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    node = regions.by_code(session, "shaanxi")
    p = contract_stats.period("year", 2026)
    f = contract_stats.flows(session, node, p)
    assert body["flows"]["output"] == {"count": f["output"].count, "amount": str(f["output"].amount),
                                       "tech_amount": str(f["output"].tech_amount)}
    assert body["flows"]["output"]["count"] == 2
    assert body["period"] == {"start": "2026-01-01", "end": "2026-12-31", "kind": "year", "label": "2026"}
    assert [t["key"] for t in body["by_type"]] == ["license"]
    q = api.get("/api/v1/contract-statistics/?region=shaanxi&kind=quarter&year=2026&part=1", headers=h).get_json()
    assert q["flows"]["output"]["count"] == 2
    bad = api.get("/api/v1/contract-statistics/?region=shaanxi&kind=quarter&year=2026&part=7",
                  headers=token_for(broker, "zh-CN"))
    assert bad.status_code == 422 and bad.get_json()["code"] == "stats.bad_period"
    assert api.get("/api/v1/contract-statistics/?kind=custom&start=2026-02-01&end=2026-01-01",
                   headers=h).status_code == 422
    assert api.get("/api/v1/contract-statistics/?region=nowhere", headers=h).status_code == 422
    assert api.get("/api/v1/contract-statistics/", headers=token_for(make_user("company"))).status_code == 403
