"""`flask seed demo` loads Shaanxi down to Xi'an's parks and contracts between the demo parties."""
from __future__ import annotations


import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from migrations import runner
from models import Achievement, Demand, Region, RegionTarget, TechContract
from services import clock, contract_stats, regions, seed

pytestmark = pytest.mark.slow  # seeds the whole demo (about 30 s); no model: a plain session runs no index sync


def test_the_demo_has_parks_contracts_of_its_listings_and_targets(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        seed.load_demo(s)
        s.commit()
        parks = set(s.scalars(select(Region.code).where(Region.level == "park")))
        assert {"xian_gaoxin", "xixian", "xian_hangtian"} <= parks
        rows = list(s.scalars(select(TechContract)))
        assert len(rows) >= 50
        titles = {a.id: a.title for a in s.scalars(select(Achievement))}
        assert all(r.achievement_id in titles and r.name.startswith(titles[r.achievement_id]) for r in rows)
        assert sum(r.demand_id is not None for r in rows) >= 30
        demands = {d.id: d for d in s.scalars(select(Demand))}
        assert all(demands[r.demand_id].organisation.name == r.buyer_name for r in rows if r.demand_id)
        signed = [r.signed_on for r in rows]
        assert max(signed) <= clock.today() and (max(signed) - min(signed)).days > 365  # two years: year on year
        xian = regions.by_code(s, "xian")
        flows = contract_stats.flows(s, xian, contract_stats.Period(min(signed), clock.today()))
        assert flows["local"].count > 0 and flows["absorbed"].count > flows["local"].count
        assert s.scalar(select(func.count()).select_from(RegionTarget)) == 4
        again = seed.demo_contracts.load(s, None, None, {})  # a second load adds nothing
        assert again == 0
    engine.dispose()
