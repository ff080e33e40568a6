"""The chain editor's rules (codes, names, stages, edges: no self-edge, no duplicate, no cycle; every change
bumps the version), a broker adding a listing to a node and taking one off (both kept through recomputation),
and matches per node (a published demand and a published achievement on the same node)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import ChainEdge, ChainPlacement
from services import chains
from services.errors import ServiceError
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


def _refused(expected, fn, *args, **kw):
    with pytest.raises(ServiceError) as err:
        fn(*args, **kw)
    assert err.value.code == expected, err.value.code


def test_a_new_chain_with_nodes_and_edges_bumps_its_version(session, seeded):
    chain = chains.save_chain(session, None, code="Test_Chain", name_zh=" 测试链 ", leaders="甲公司\n\n 乙公司 ")
    assert (chain.code, chain.name_zh, chain.leader_list, chain.version) == ("test_chain", "测试链", ["甲公司", "乙公司"], 1)
    a = chains.save_node(session, chain, None, code="a", name_zh="材料", stage="upstream", description="原材料")
    b = chains.save_node(session, chain, None, code="b", name_zh="部件", stage="midstream", description="零部件")
    c = chains.save_node(session, chain, None, code="c", name_zh="整机", stage="downstream", description="整机")
    chains.save_edge(session, chain, None, from_id=a.id, to_id=b.id, weight=0.5, quantity="30%")
    edge = chains.save_edge(session, chain, None, from_id=b.id, to_id=c.id)
    assert chain.version == 6
    chains.save_edge(session, chain, edge, from_id=b.id, to_id=c.id, weight=1.0)
    chains.save_node(session, chain, a, code="a", name_zh="材料", stage="upstream", description="正极材料")
    assert chain.version == 8 and edge.weight == 1.0 and a.description == "正极材料"
    chains.delete_node(session, chain, b)
    assert chain.version == 9
    assert session.scalar(select(func.count()).select_from(ChainEdge).where(ChainEdge.chain_id == chain.id)) == 0


def test_the_editor_refuses_bad_input_and_changes_nothing(session, seeded):
    nev = seeded["nev"]
    version = nev.version
    _refused("chain.required", chains.save_chain, session, None, code="x", name_zh="  ")
    _refused("chain.duplicate_code", chains.save_chain, session, None, code="nev", name_zh="重复")
    _refused("chain.bad_code", chains.save_chain, session, None, code="有 空格", name_zh="代码")
    _refused("chain.duplicate_node_code", chains.save_node, session, nev, None, code="power_battery",
             name_zh="重复", stage="upstream", description="重复")
    _refused("chain.bad_stage", chains.save_node, session, nev, None, code="new1", name_zh="新", stage="sideways",
             description="新")
    _refused("chain.required", chains.save_node, session, nev, None, code="new2", name_zh="新", stage="upstream",
             description="")
    up, down = _node(nev, "battery_materials"), _node(nev, "nev_vehicles")
    _refused("chain.self_edge", chains.save_edge, session, nev, None, from_id=up.id, to_id=up.id)
    _refused("chain.cycle", chains.save_edge, session, nev, None, from_id=down.id, to_id=up.id)
    first = chains.edges(session, nev)[0]
    _refused("chain.duplicate_edge", chains.save_edge, session, nev, None, from_id=first.from_id, to_id=first.to_id)
    _refused("chain.bad_weight", chains.save_edge, session, nev, None, from_id=up.id, to_id=down.id, weight=2.0)
    _refused("chain.node_elsewhere", chains.save_edge, session, nev, None, from_id=up.id,
             to_id=_node(seeded["dairy"], "dairy_processing").id)
    assert nev.version == version


def test_a_removed_listing_stays_off_and_an_added_one_stays_on_through_recomputation(session, seeded, make_user,
                                                                                    make_listing):
    owner, broker = make_user("company"), make_user("broker")
    demand = make_listing("demand", owner, reviewer=broker)
    party = make_listing("demand", owner, reviewer=broker, title="年会节目策划", description="公司年会需要节目策划"
                         "与舞台主持，希望找到擅长晚会编排的团队。", keywords="年会,主持", indicators="")
    enc = StandInEncoder()
    chains.place_all(session, enc, threshold=LOW)
    nev = seeded["nev"]
    on = {p.node_id for p in session.scalars(select(ChainPlacement).where(
        ChainPlacement.entity_id == demand.id, ChainPlacement.entity_type == "demand",
        ChainPlacement.chain_id == nev.id))}
    assert on, "the stand-in places the battery demand on the NEV chain"
    node = session.get(type(nev.nodes[0]), sorted(on)[0])
    chains.remove_listing(session, broker, nev, "demand", demand.id, node.id)
    vehicles = _node(nev, "nev_vehicles")
    chains.add_listing(session, broker, nev, "demand", party.id, vehicles.id)
    session.commit()
    _refused("chain.not_on_node", chains.remove_listing, session, broker, nev, "demand", demand.id, node.id)
    _refused("chain.already_on_node", chains.add_listing, session, broker, nev, "demand", party.id, vehicles.id)
    for _ in range(2):
        chains.place_all(session, enc, threshold=LOW)
        session.commit()
        listed = {(p.kind, p.item.id) for p in chains.node_listings(session, nev, node)}
        assert ("demand", demand.id) not in listed
        assert ("demand", party.id) in {(p.kind, p.item.id) for p in chains.node_listings(session, nev, vehicles)}
        stats = {s.node.id: s for s in chains.node_stats(session, nev, None)}
        assert stats[node.id].demands == sum(1 for p in chains.node_listings(session, nev, node) if p.kind == "demand")
    assert [r.entity_id for r in chains.removed_listings(session, node)] == [demand.id]
    chains.add_listing(session, broker, nev, "demand", demand.id, node.id)  # a broker may put it back
    assert ("demand", demand.id) in {(p.kind, p.item.id) for p in chains.node_listings(session, nev, node)}


def test_matches_per_node_pair_a_demand_and_an_achievement_on_the_node(session, seeded, make_user, make_listing):
    owner, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    d1, d2 = make_listing("demand", owner, reviewer=broker), make_listing("demand", owner, reviewer=broker)
    a = make_listing("achievement", uni, reviewer=broker)
    draft = make_listing("achievement", uni, status="draft")
    nev = seeded["nev"]
    cell = _node(nev, "power_battery")
    for kind, item in (("demand", d1), ("demand", d2), ("achievement", a)):
        chains.move_listing(session, broker, nev, kind, item.id, cell.id)
    session.add(ChainPlacement(entity_type="achievement", entity_id=draft.id, node_id=cell.id, chain_id=nev.id,
                               source="engine", score=0.99))  # unpublished: never counted, never listed
    session.commit()
    stats = {s.node.code: s for s in chains.node_stats(session, nev, None)}
    assert (stats["power_battery"].demands, stats["power_battery"].achievements, stats["power_battery"].matches) == (2, 1, 2)
    listed = chains.node_listings(session, nev, cell)
    assert ("achievement", draft.id) not in {(p.kind, p.item.id) for p in listed}
    by_id = {(p.kind, p.item.id): p for p in listed}
    assert [q.item.id for q in by_id[("demand", d1.id)].matches] == [a.id]
    assert {q.item.id for q in by_id[("achievement", a.id)].matches} == {d1.id, d2.id}
    chains.remove_listing(session, broker, nev, "achievement", a.id, cell.id)
    assert {s.node.code: s for s in chains.node_stats(session, nev, None)}["power_battery"].matches == 0


def test_a_nodes_pages_read_in_sql_are_its_whole_list_in_order(session, seeded, make_user, make_listing):
    """Pages of every size, across the turn from demands to achievements, concatenate to the unpaged list."""
    owner, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    nev = seeded["nev"]
    cell = _node(nev, "power_battery")
    for kind, who, n in (("demand", owner, 3), ("achievement", uni, 4)):
        for _ in range(n):
            chains.move_listing(session, broker, nev, kind, make_listing(kind, who, reviewer=broker).id, cell.id)
    session.commit()
    whole = [(p.kind, p.item.id) for p in chains.node_listings(session, nev, cell)]
    counts = chains.node_listing_counts(session, cell)
    assert counts == {"demand": 3, "achievement": 4} and len(whole) == 7 and whole[0][0] == "demand"
    for size in (1, 2, 3, 4, 7, 10):
        pages = [chains.node_listings(session, nev, cell, offset=o, limit=size) for o in range(0, 7, size)]
        assert [(p.kind, p.item.id) for page in pages for p in page] == whole, size
        assert all(len(page) <= size for page in pages)
        assert [q.item.id for q in pages[-1][-1].matches] == [i for k, i in whole if k == "demand"][:chains.TOP_MATCHES]
    assert chains.node_listings(session, nev, cell, offset=7, limit=5) == []


def test_brokers_corrections_survive_flask_index_rebuild_and_placement(app, session, seeded, make_user,
                                                                       make_listing, monkeypatch):
    """`flask index rebuild` then `flask chains place` (what follows a rebuild), through the CLI, with the
    stand-in encoder in the runtime: a moved demand stays on its node and a removed one stays off."""
    runtime = app.extensions["matching"]
    monkeypatch.setattr(type(runtime), "encoder", property(lambda self: StandInEncoder()))
    monkeypatch.setattr(chains.place_all, "__kwdefaults__", {"threshold": LOW, "margin": chains.MARGIN,
                                                             "max_nodes": chains.MAX_NODES})
    owner, broker = make_user("company"), make_user("broker")
    moved, removed = make_listing("demand", owner, reviewer=broker), make_listing("demand", owner, reviewer=broker)
    chains.place_all(session, StandInEncoder(), threshold=LOW)
    nev = seeded["nev"]
    target = _node(nev, "nev_vehicles")
    chains.move_listing(session, broker, nev, "demand", moved.id, target.id)
    first = session.scalars(select(ChainPlacement).where(ChainPlacement.entity_id == removed.id,
                                                         ChainPlacement.entity_type == "demand",
                                                         ChainPlacement.chain_id == nev.id)).first()
    chains.remove_listing(session, broker, nev, "demand", removed.id, first.node_id)
    session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["index", "rebuild"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["chains", "place"])
    assert out.exit_code == 0, out.output
    session.expire_all()
    on_nev = session.execute(select(ChainPlacement.entity_id, ChainPlacement.node_id, ChainPlacement.source).where(
        ChainPlacement.entity_type == "demand", ChainPlacement.chain_id == nev.id)).all()
    assert (moved.id, target.id, "broker") in on_nev
    assert [r for r in on_nev if r[0] == moved.id] == [(moved.id, target.id, "broker")]
    assert (removed.id, first.node_id, "removed") in on_nev
    assert not [r for r in on_nev if r[0] == removed.id and r[1] == first.node_id and r[2] != "removed"]
