"""Time the contract-statistics queries of one dashboard at N contracts (default 10,000) on a fresh SQLite file.

    .venv/bin/python -m tools.bench_contract_stats [--contracts 10000] [--repeat 5]

Prints the median milliseconds of each figure and of the whole dashboard (what /contracts/statistics/ runs
for one node and year: flows, year on year, by type, by field, by sub-region, by broker, the target)."""
from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session

from migrations import runner
from models import Field, Region, TechContract
from services import contract_stats as stats
from services import regions, seed


def _fill(session: Session, n: int) -> None:
    rng = random.Random(7)
    ids = list(session.scalars(select(Region.id)))
    fields = list(session.scalars(select(Field.id).where(Field.parent_id.is_not(None))))
    cats = ["development", "transfer", "license", "consulting", "service"]
    rows = []
    for i in range(n):
        amount = Decimal(rng.randint(1, 50000)) / 10
        cat = rng.choice(cats)
        signed = date.today() - timedelta(days=rng.randint(0, 730))
        rows.append({"reg_number": f"{9000000000000000 + i}", "name": f"合同{i}", "contract_type": cat, "category": cat,
                     "status": "registered" if i % 20 else "not_registered", "seller_name": "卖方",
                     "seller_nature": "120", "seller_region_id": rng.choice(ids), "buyer_name": "买方",
                     "buyer_nature": "230", "buyer_region_id": rng.choice(ids), "amount": amount,
                     "tech_amount": amount * Decimal("0.8"), "signed_on": signed, "field_id": rng.choice(fields),
                     "ip_kind": "none", "ip_note": "", "note": "", "broker_id": None})
    session.execute(insert(TechContract), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'bench.db'}"
    runner.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        seed.load_reference(s)
        regions.load_tree(s, json.loads((seed.DATA / "region_tree.json").read_text(encoding="utf-8")))
        _fill(s, args.contracts)
        s.commit()
        node, period = regions.by_code(s, "xian"), stats.period("year", date.today().year)
        figures = {"flows": lambda: stats.flows(s, node, period),
                   "year_on_year": lambda: stats.year_on_year(s, node, period),
                   "by_type": lambda: stats.by_type(s, node, period),
                   "by_field": lambda: stats.by_field(s, node, period),
                   "by_child": lambda: stats.by_child(s, node, period),
                   "by_broker": lambda: stats.by_broker(s, node, period),
                   "progress": lambda: stats.progress(s, node, period.year or date.today().year)}
        total = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            for fn in figures.values():
                fn()
            total.append(1000 * (time.perf_counter() - started))
        for name, fn in figures.items():
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                fn()
                times.append(1000 * (time.perf_counter() - started))
            print(f"{name:14s} {statistics.median(times):8.1f} ms")
        print(f"{'dashboard':14s} {statistics.median(total):8.1f} ms  ({args.contracts} contracts, SQLite)")
    engine.dispose()


if __name__ == "__main__":
    main()
