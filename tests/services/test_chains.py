"""Industry chains: the seeded key chains, placing listings on nodes by similarity (a stand-in encoder), a
broker's correction kept through recomputation, node counts and gaps of a region, the placement job."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import ChainEdge, ChainPlacement, IndustryChain
from services import chains, jobs, regions
from services.errors import NotFound, ServiceError
from tests.chain_fixtures import StandInEncoder, load_seed_chains, no_index_sync

LOW = 0.2  # the stand-in's similarities are lower than the real model's


@pytest.fixture
def seeded(app, session, monkeypatch):
    no_index_sync(app, monkeypatch)
    load_seed_chains(session)
    session.commit()
    return {c.code: c for c in chains.all_chains(session)}


def _node(chain, code):
    return next(n for n in chain.nodes if n.code == code)


def _battery_demand(make_user, make_listing, **over):
    owner, broker = make_user("company"), make_user("broker")
    return make_listing("demand", owner, reviewer=broker, **over), broker


def test_the_seed_holds_13_key_chains_each_with_4_to_8_nodes_over_three_stages(session, seeded):
    assert len(seeded) == 13 and all(c.key_chain and c.leader_list for c in seeded.values())
    for chain in seeded.values():
        assert 4 <= len(chain.nodes) <= 8
        assert {n.stage for n in chain.nodes} == {"upstream", "midstream", "downstream"}
        assert all(n.description.count("。") >= 2 for n in chain.nodes), chain.code
    assert session.scalar(select(func.count()).select_from(ChainEdge)) > 13
    assert load_seed_chains(session) == 0  # loading again adds nothing


def test_a_listing_is_placed_on_the_node_whose_description_it_resembles(session, seeded, make_user, make_listing):
    demand, _ = _battery_demand(make_user, make_listing)
    chains.place_all(session, StandInEncoder(), threshold=LOW)
    session.commit()
    placed = session.scalars(select(ChainPlacement).where(ChainPlacement.entity_id == demand.id,
                                                          ChainPlacement.entity_type == "demand")).all()
    nev = seeded["nev"]
    on_nev = [p.node_id for p in placed if p.chain_id == nev.id]
    assert _node(nev, "battery_materials").id in on_nev
    assert all(p.source == "engine" and p.score >= LOW for p in placed)


def test_an_unrelated_listing_is_not_placed_under_the_threshold(session, seeded, make_user, make_listing):
    party, _ = _battery_demand(make_user, make_listing, title="年会节目策划", description="公司年会需要节目策划与舞台主持，"
                               "希望找到擅长晚会编排的团队。", keywords="年会,主持", indicators="")
    battery, _ = _battery_demand(make_user, make_listing)
    report = chains.place_all(session, StandInEncoder(), threshold=LOW)
    assert report.placed["demand"] == 1
    placed = set(session.scalars(select(ChainPlacement.entity_id)))
    assert battery.id in placed and party.id not in placed


def test_a_brokers_correction_survives_recomputation(session, seeded, make_user, make_listing):
    demand, broker = _battery_demand(make_user, make_listing)
    enc = StandInEncoder()
    chains.place_all(session, enc, threshold=LOW)
    nev = seeded["nev"]
    target = _node(nev, "nev_vehicles")
    chains.move_listing(session, broker, nev, "demand", demand.id, target.id)
    session.commit()
    chains.place_all(session, enc, threshold=LOW)
    session.commit()
    on_nev = session.scalars(select(ChainPlacement).where(ChainPlacement.entity_id == demand.id,
                                                          ChainPlacement.chain_id == nev.id)).all()
    assert [(p.node_id, p.source, p.by_id) for p in on_nev] == [(target.id, "broker", broker.id)]


def test_moving_to_a_node_of_another_chain_is_refused(session, seeded, make_user, make_listing):
    demand, broker = _battery_demand(make_user, make_listing)
    with pytest.raises(ServiceError) as err:
        chains.move_listing(session, broker, seeded["nev"], "demand", demand.id, _node(seeded["dairy"], "dairy_processing").id)
    assert err.value.code == "chain.node_elsewhere"
    with pytest.raises(NotFound):
        chains.move_listing(session, broker, seeded["nev"], "demand", 999_999, _node(seeded["nev"], "power_battery").id)
    with pytest.raises(NotFound):
        chains.move_listing(session, broker, seeded["nev"], "demand", demand.id, 999_999)


def test_node_counts_split_local_and_name_the_gaps(session, seeded, make_user, make_listing):
    owner, uni, broker = make_user("company"), make_user("university"), make_user("broker")
    nev = seeded["nev"]
    battery, vehicles = _node(nev, "battery_materials"), _node(nev, "nev_vehicles")
    d = make_listing("demand", owner, reviewer=broker, region="shaanxi")
    a = make_listing("achievement", uni, reviewer=broker, region="jiangsu")
    chains.move_listing(session, broker, nev, "demand", d.id, battery.id)
    chains.move_listing(session, broker, nev, "achievement", a.id, vehicles.id)
    session.commit()
    stats = {s.node.code: s for s in chains.node_stats(session, nev, regions.by_code(session, "shaanxi"))}
    assert (stats["battery_materials"].demands, stats["battery_materials"].local_demands) == (1, 1)
    assert stats["battery_materials"].needs_results and not stats["battery_materials"].needs_firms
    assert (stats["nev_vehicles"].achievements, stats["nev_vehicles"].local_achievements) == (1, 0)
    assert stats["nev_vehicles"].needs_firms
    jiangsu = {s.node.code: s for s in chains.node_stats(session, nev, regions.by_code(session, "jiangsu"))}
    assert jiangsu["nev_vehicles"].local_achievements == 1 and not jiangsu["battery_materials"].needs_results


def test_the_placement_job_places_with_the_contexts_encoder(app, session, seeded, make_user, make_listing,
                                                           monkeypatch):
    from web.db import sessionmaker_for

    demand, _ = _battery_demand(make_user, make_listing)
    monkeypatch.setattr(chains, "THRESHOLD", LOW)
    monkeypatch.setattr(chains.place_all, "__kwdefaults__", {"threshold": LOW, "margin": chains.MARGIN,
                                                             "max_nodes": chains.MAX_NODES})

    class Runtime:
        encoder = StandInEncoder()

    ctx = jobs.JobContext(sessionmaker_for(app)).provide(matching=Runtime())
    job = jobs.submit_job(session, chains.PLACE_JOB, None, {})
    session.commit()
    jobs.run_job(ctx, job.id)
    session.expire_all()
    assert session.get(type(job), job.id).status == "done"
    assert session.scalar(select(func.count()).select_from(ChainPlacement)
                          .where(ChainPlacement.entity_id == demand.id)) > 0


def test_the_follower_of_an_index_sync_places_the_listings(app, session, seeded, make_user, make_listing,
                                                          monkeypatch):
    from web.db import sessionmaker_for

    demand, _ = _battery_demand(make_user, make_listing)
    monkeypatch.setattr(chains.place_all, "__kwdefaults__", {"threshold": LOW, "margin": chains.MARGIN,
                                                             "max_nodes": chains.MAX_NODES})

    class Runtime:
        encoder = StandInEncoder()

    assert chains._after_index_sync in jobs.FOLLOWERS["index.sync"]
    chains._after_index_sync(jobs.JobContext(sessionmaker_for(app)).provide(matching=Runtime()))
    assert session.scalar(select(func.count()).select_from(ChainPlacement)
                          .where(ChainPlacement.entity_id == demand.id)) > 0


def test_the_cli_loads_the_chains_and_places_the_listings(app, session, make_user, make_listing, monkeypatch):
    no_index_sync(app, monkeypatch)
    demand, _ = _battery_demand(make_user, make_listing)
    runtime = app.extensions["matching"]
    monkeypatch.setattr(type(runtime), "encoder", property(lambda self: StandInEncoder()))
    monkeypatch.setattr(chains.place_all, "__kwdefaults__", {"threshold": LOW, "margin": chains.MARGIN,
                                                             "max_nodes": chains.MAX_NODES})
    runner = app.test_cli_runner()
    out = runner.invoke(args=["chains", "load"])
    assert out.exit_code == 0 and "13" in out.output
    assert runner.invoke(args=["chains", "load"]).output.startswith("loaded 0")
    out = runner.invoke(args=["chains", "place"])
    assert out.exit_code == 0, out.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(IndustryChain)) == 13
    assert session.scalar(select(func.count()).select_from(ChainPlacement)
                          .where(ChainPlacement.entity_id == demand.id)) > 0


@pytest.mark.model
def test_a_brokers_correction_survives_an_index_rebuild_with_the_real_model(app, session, make_user, make_listing):
    load_seed_chains(session)
    session.commit()
    demand, broker = _battery_demand(make_user, make_listing)  # published: the index sync encodes it
    party, _ = _battery_demand(make_user, make_listing, title="年会节目策划", description="公司年会需要节目策划与"
                               "舞台主持，希望找到擅长晚会编排的团队。", keywords="年会,主持", indicators="")
    runtime = app.extensions["matching"]
    chains.place_all(session, runtime.encoder)
    assert party.id not in set(session.scalars(select(ChainPlacement.entity_id).where(
        ChainPlacement.entity_type == "demand")))  # unrelated to every chain: under the threshold
    nev = session.scalar(select(IndustryChain).where(IndustryChain.code == "nev"))
    engine_nodes = {p.node.code for p in session.scalars(select(ChainPlacement).where(
        ChainPlacement.entity_id == demand.id, ChainPlacement.chain_id == nev.id))}
    assert engine_nodes & {"battery_materials", "power_battery"}, engine_nodes  # the real model finds the battery
    target = _node(nev, "nev_vehicles")
    chains.move_listing(session, broker, nev, "demand", demand.id, target.id)
    session.commit()
    runtime.rebuild(session)  # `flask index rebuild`
    chains.place_all(session, runtime.encoder)  # and the placement that follows it
    session.commit()
    on_nev = session.scalars(select(ChainPlacement).where(ChainPlacement.entity_id == demand.id,
                                                          ChainPlacement.chain_id == nev.id)).all()
    assert [(p.node_id, p.source) for p in on_nev] == [(target.id, "broker")]
