"""Capacity benchmark of issues 20 and 22: python -m tools.bench_capacity [--contracts 10000] [--listings 100000]
[--open-demands 10000] [--achievements 50000] [--repeat 5] [--only stats,chains,roadshows] [--json] [--keep].

1. a throw-away SQLite database in a temporary folder (migrated, fields, the region tree down to parks, the
   industry chains, a broker to sign in as), then by bulk INSERT: owners (companies and universities),
   --achievements published achievements and the rest of --listings as demands (--open-demands of them published
   with a deadline ahead, all in the roadshow's field; the others published with a past deadline or closed),
   titles and sentences from the real dev corpus (../shared/data/bench/dev/field), each listing placed on a node
   of a chain; --contracts technology contracts between random regions (provinces down to parks), every type,
   random fields, signed over three years, a quarter of them linked to a placed listing;
2. the listings' vectors are NOT encoded (100k texts on 2 cores would take hours): vectors near the real cached
   passage vectors of the corpus (matchmaking.tools.bench.synth_vectors) are written as the listings' stored
   vectors with the hash of their text, then `index sync` builds the faiss index from them exactly as after an
   import (nothing left to encode). Everything timed is the real code: the views through the Flask test client,
   the engine's rankings, the index queries and query encoding (the demand/achievement texts asked as queries are
   encoded by the real model on first use);
3. times GET /contracts/statistics/ (a city for a year, a park, a custom period), GET /chains/ and a chain's map
   (whole, for a city, and with its busiest node selected), and the roadshow views (POST propose presenters,
   the roadshow page with its live coverage, GET companies to
   invite): the first request ("cold": a fresh process's caches: query vectors, remembered coverage; the engine's
   matchers are built once before, their build time printed) and --repeat more ("warm"), p50/p95.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics as stats
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CATEGORIES = ["development", "transfer", "license", "consulting", "service"]


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    from tools.loadtest import _default_set, _default_vector_cache

    p = argparse.ArgumentParser(prog="python -m tools.bench_capacity", description=__doc__.splitlines()[0])
    p.add_argument("--contracts", type=int, default=10_000)
    p.add_argument("--listings", type=int, default=100_000, help="demands and achievements together")
    p.add_argument("--achievements", type=int, default=50_000)
    p.add_argument("--open-demands", type=int, default=10_000, help="open demands, all in the roadshow's field")
    p.add_argument("--owners", type=int, default=2000)
    p.add_argument("--field", default="new_energy", help="the roadshow's field")
    p.add_argument("--slots", type=int, default=8, help="the roadshow's presentation slots")
    p.add_argument("--repeat", type=int, default=5, help="warm runs of each page after the cold one")
    p.add_argument("--only", default="stats,chains,roadshows")
    p.add_argument("--old-path", action="store_true",
                   help="also time the first roadshow coverage (one engine query per open demand) on --old-sample demands")
    p.add_argument("--old-sample", type=int, default=200)
    p.add_argument("--model", default=str(ROOT / "instance/models/multilingual-e5-small"))
    p.add_argument("--set-dir", default=str(_default_set()))
    p.add_argument("--vector-cache", default=str(_default_vector_cache()))
    p.add_argument("--keep", action="store_true", help="keep the database folder (printed) at the end")
    p.add_argument("--reuse", default=None, metavar="DIR", help="time again on the folder a --keep run left")
    p.add_argument("--json", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------- seeding
def seed(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import create_engine, insert, select
    from sqlalchemy.orm import Session

    from models import Achievement, ChainNode, ChainPlacement, Demand, Field, Organisation, Region, TechContract, User
    from services import chains, regions, seed as seeding
    from tools.loadtest import _corpus

    rng = random.Random(args.seed)
    titles, _bodies, sentences = _corpus(args.set_dir)
    titles = [t for t in titles if t.strip()]
    engine = create_engine(url)
    with Session(engine) as s:
        if not s.scalar(select(Region.id).where(Region.parent_id.is_not(None)).limit(1)):
            regions.load_tree(s, json.loads((seeding.DATA / "region_tree.json").read_text(encoding="utf-8")))
        chains.load_chains(s, json.loads((seeding.DATA / "industry_chains.json").read_text(encoding="utf-8")))
        s.commit()
        region_rows = list(s.execute(select(Region.id, Region.code)))
        fields = {f.code: f.id for f in s.scalars(select(Field))}
        top = args.field
        field_ids = list(fields.values())
        theme_fields = [i for c, i in fields.items() if c == top or c.startswith(top + ".")]
        nodes = list(s.execute(select(ChainNode.id, ChainNode.chain_id)))
        org_ids = list(s.scalars(insert(Organisation).returning(Organisation.id), [
            dict(name=f"容量基准机构{i}", kind="company" if i % 4 else "university",
                 region=region_rows[i % len(region_rows)][1]) for i in range(args.owners)]))
        user_ids = list(s.scalars(insert(User).returning(User.id), [
            dict(email=f"owner{i}@bench-capacity.example.cn", password_hash="!", display_name=f"用户{i}",
                 role="company" if i % 4 else "university", organisation_id=org_ids[i]) for i in range(args.owners)]))
        companies = [i for i in range(args.owners) if i % 4]
        universities = [i for i in range(args.owners) if not i % 4]
        n_dem = args.listings - args.achievements
        t0, start = time.perf_counter(), datetime(2024, 1, 1)
        plan = [("achievement", Achievement, "abstract", args.achievements), ("demand", Demand, "description", n_dem)]
        for kind, model, body, n in plan:
            rows = []
            for i in range(n):
                o = rng.choice(universities if kind == "achievement" and i % 3 else companies)
                region_id, region_code = rng.choice(region_rows)
                created = start + timedelta(minutes=rng.randrange(0, 1000 * 1440))
                text = "".join(rng.choice(sentences) for _ in range(rng.randint(3, 6)))
                title = rng.choice(titles)[:110]
                status, deadline, field = "published", None, rng.choice(field_ids)
                if kind == "demand":
                    if i < args.open_demands:
                        deadline, field = date.today() + timedelta(days=rng.randint(30, 365)), rng.choice(theme_fields)
                    elif i % 3:
                        deadline = date.today() - timedelta(days=rng.randint(1, 300))
                    else:
                        status = "closed"
                row = dict(title=title, region=region_code, region_id=region_id, status=status, contact_name="联系人",
                           contact_phone="13800000000", contact_email=f"c{i}@bench.example.cn", created_at=created,
                           updated_at=created, owner_id=user_ids[o], organisation_id=org_ids[o], field_id=field,
                           modes_raw=",tech_transfer,", published_at=created + timedelta(days=1),
                           search_text=f"{title}\n\n{text}".lower(), **{body: text})
                if kind == "demand":
                    row["deadline"] = deadline
                rows.append(row)
            for chunk in range(0, len(rows), 10_000):
                s.execute(insert(model), rows[chunk:chunk + 10_000])
        s.commit()
        say(f"{args.achievements} achievements, {n_dem} demands ({args.open_demands} open) in "
            f"{time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        placed: dict[str, list[int]] = {}
        for kind, model, _body, _n in plan:
            ids = list(s.scalars(select(model.id)))
            placed[kind] = ids
            prow = []
            for i in ids:
                node_id, chain_id = rng.choice(nodes)
                prow.append(dict(entity_type=kind, entity_id=i, node_id=node_id, chain_id=chain_id,
                                 score=round(rng.uniform(0.3, 0.9), 3), source="engine"))
            for chunk in range(0, len(prow), 10_000):
                s.execute(insert(ChainPlacement), prow[chunk:chunk + 10_000])
        s.commit()
        say(f"chain placements in {time.perf_counter() - t0:.0f} s")
        crow = []
        for i in range(args.contracts):
            amount = Decimal(rng.randint(1, 50000)) / 10
            cat = rng.choice(CATEGORIES)
            linked = i % 4 == 0
            crow.append({"reg_number": f"{9100000000000000 + i}", "name": f"合同{i}", "contract_type": cat,
                         "category": cat, "status": "registered" if i % 20 else "not_registered",
                         "seller_name": "卖方", "seller_nature": "120", "seller_region_id": rng.choice(region_rows)[0],
                         "buyer_name": "买方", "buyer_nature": "230", "buyer_region_id": rng.choice(region_rows)[0],
                         "amount": amount, "tech_amount": amount * Decimal("0.8"),
                         "signed_on": date.today() - timedelta(days=rng.randint(0, 1095)),
                         "field_id": rng.choice(field_ids), "ip_kind": "none", "ip_note": "", "note": "",
                         "broker_id": None,
                         "demand_id": rng.choice(placed["demand"]) if linked and i % 8 == 0 else None,
                         "achievement_id": rng.choice(placed["achievement"]) if linked and i % 8 else None})
        s.execute(insert(TechContract), crow)
        s.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return {"achievements": args.achievements, "demands": n_dem, "open_demands": args.open_demands,
            "contracts": args.contracts, "placements": args.listings}


def store_vectors(app: Any, args: argparse.Namespace) -> str:
    """Stored vectors for every published listing, under the app's encoder and with the hash of each listing's
    text, so that `index sync` finds nothing to encode; near the real cached passage vectors of the corpus."""
    from sqlalchemy import insert, select

    from matchmaking.documents import Listing
    from matchmaking.tools.bench import synth_vectors
    from matchmaking.vectorcache import VectorCache, text_sha256 as sha
    from models import Achievement, Demand, ListingVector
    from services.indexing import text_sha256, to_doc
    from tools.loadtest import _corpus
    from web.db import sessionmaker_for

    enc = app.extensions["matching"].encoder
    titles, bodies, _ = _corpus(args.set_dir)
    texts = [Listing(i, "achievement", t, x).embed_text() for i, (t, x) in enumerate(zip(titles, bodies))]
    real = []
    for key in dict.fromkeys([enc.model_key, *(p.name for p in Path(args.vector_cache).iterdir())]):
        found, _ = VectorCache(args.vector_cache, key, "passage").get([sha(t) for t in texts])
        real = [v for v in found if v is not None and len(v) == enc.dim]
        if len(real) >= 100:
            say(f"{len(real)} real passage vectors from the cache {key}")
            break
    if len(real) < 100:
        raise SystemExit("too few cached real vectors: run `python -m matchmaking.bench` once (it fills the cache)")
    real_m = np.stack(real).astype(np.float32)
    nrng = np.random.default_rng(args.seed)
    with sessionmaker_for(app)() as s:
        for kind, model in (("achievement", Achievement), ("demand", Demand)):
            items = list(s.scalars(select(model).where(model.status == "published")))
            vecs = synth_vectors(real_m, len(items), nrng)
            rows = [dict(entity_type=kind, entity_id=item.id, model_key=enc.model_key,
                         text_sha256=text_sha256(to_doc(item)), dim=enc.dim, vector=vec.tobytes())
                    for item, vec in zip(items, vecs)]
            for chunk in range(0, len(rows), 10_000):
                s.execute(insert(ListingVector), rows[chunk:chunk + 10_000])
            s.commit()
            s.expunge_all()
    return enc.model_key


# --------------------------------------------------------------------------------------------- timing
def build_app(url: str, folder: Path, model: str) -> Any:
    from app import create_app

    return create_app({"DATABASE_URL": url, "INDEX_DIR": str(folder / "index"), "INSTANCE_DIR": str(folder),
                       "INDEX_SYNC": "inline", "MATCHER_REFRESH": "inline", "JOBS_MODE": "inline",
                       "EMBEDDING_MODEL": model, "SECRET_KEY": "bench-capacity", "TESTING": True,
                       "RATELIMIT_ENABLED": False, "MAIL_DIR": str(folder / "mail")})


def sign_in(app: Any) -> Any:
    from tools.loadtest import BROKER, PASSWORD

    client = app.test_client()
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    resp = client.post("/login", data={"email": BROKER, "password": PASSWORD, "csrf_token": token})
    if resp.status_code != 302:
        raise SystemExit(f"sign-in failed ({resp.status_code})")
    return client


def forget_caches(app: Any) -> None:
    """What a fresh process has not got yet: query vectors, remembered figures (the matchers are kept)."""
    rt = app.extensions["matching"]
    with rt.vectors._lock:
        rt.vectors._qvecs.clear()
        rt.vectors._search_vecs.clear()
    with rt.results._lock:
        rt.results._memo.clear()
    try:
        rt.results.cache.clear()
    except Exception:  # a store without clear(): nothing shared to forget in a bench process
        pass


def timing(fn: Callable[[], Any], repeat: int, cold: Callable[[], None]) -> dict[str, float]:
    cold()
    t = time.perf_counter()
    fn()
    first = (time.perf_counter() - t) * 1000
    ms, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)  # this process's CPU (SQLite runs in it): what load cannot inflate
    ms.sort()
    return {"cold_ms": round(first, 1), "p50_ms": round(stats.median(ms), 1), "cpu_p50_ms": round(stats.median(cpu), 1),
            "p95_ms": round(ms[max(0, int(np.ceil(0.95 * len(ms))) - 1)], 1), "max_ms": round(ms[-1], 1)}


def get(client: Any, path: str, needle: str = "") -> Callable[[], None]:
    def run() -> None:
        resp = client.get(path)
        body = resp.get_data(as_text=True)
        if resp.status_code != 200 or (needle and needle not in body):
            raise SystemExit(f"GET {path}: {resp.status_code} {needle!r} {'not ' if needle not in body else ''}found")
    return run


def measure(app: Any, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select

    from models import ChainPlacement, IndustryChain, Region, Roadshow, User
    from services import roadshows
    from tools.loadtest import BROKER
    from web.db import sessionmaker_for

    client = sign_in(app)
    rt = app.extensions["matching"]
    results: dict[str, Any] = {}
    only = set(args.only.split(","))
    cold = lambda: forget_caches(app)  # noqa: E731
    factory = sessionmaker_for(app)
    with factory() as s:
        park = s.scalar(select(Region.code).where(Region.level == "park").limit(1)) if hasattr(Region, "level") \
            else None
        if park is None:
            depth = {r.code: r.path.count("/") for r in s.scalars(select(Region))}
            park = max(depth, key=depth.get)
        chain_id = s.scalar(select(IndustryChain.id).order_by(IndustryChain.id))
    year = date.today().year
    if "stats" in only:
        base = "/contracts/statistics/"
        for name, q in (("city, a year", f"?kind=year&year={year}&region=xian"),
                        ("park, a year", f"?kind=year&year={year}&region={park}"),
                        ("province, custom period", f"?kind=custom&start={year - 2}-03-01&end={year}-02-28&region=shaanxi")):
            results[f"GET {base} ({name})"] = timing(get(client, base + q), args.repeat, cold)
    if "chains" in only:
        results["GET /chains/"] = timing(get(client, "/chains/"), args.repeat, cold)
        results[f"GET /chains/{chain_id} (the map)"] = timing(get(client, f"/chains/{chain_id}"), args.repeat, cold)
        results[f"GET /chains/{chain_id}?region=xian"] = timing(get(client, f"/chains/{chain_id}?region=xian"),
                                                                args.repeat, cold)
        # a node selected: the map plus that node's listings (the chain's busiest node)
        with factory() as s:
            node_id = s.scalar(select(ChainPlacement.node_id).where(ChainPlacement.chain_id == chain_id)
                               .group_by(ChainPlacement.node_id).order_by(func.count().desc()).limit(1))
        results[f"GET /chains/{chain_id}?node={node_id} (busiest node)"] = timing(
            get(client, f"/chains/{chain_id}?node={node_id}"), args.repeat, cold)
    if "roadshows" in only:
        with factory() as s:
            broker = s.scalar(select(User).where(User.email == BROKER))
            rs = roadshows.create_roadshow(s, broker, {
                "title": "容量基准路演", "theme": "新能源", "field_code": args.field,
                "held_on": date.today() + timedelta(days=20), "start_time": "14:00", "venue": "西安科技大市场",
                "online_link": "", "presentation_slots": args.slots, "meeting_slots": 6, "tables": 10,
                "slot_minutes": 20, "presenter_cap": 6, "company_cap": 3, "seats": 500})
            s.commit()
            rid = rs.id
            n_open = len(roadshows.open_demands(s, rs))
            n_cand = len(roadshows.candidate_achievements(s, rs))
        results["roadshow field"] = {"open_demands": n_open, "candidate_achievements": n_cand}
        say(f"roadshow {rid}: {n_open} open demands, {n_cand} candidate achievements")
        page = client.get(f"/roadshows/{rid}").get_data(as_text=True)
        token = CSRF_RE.search(page).group(1)

        # the proposal redirects to the roadshow page: timed alone (POST), then the page with its coverage
        def propose_post() -> None:
            resp = client.post(f"/roadshows/{rid}/propose", data={"csrf_token": token})
            if resp.status_code != 302:
                raise SystemExit(f"propose: {resp.status_code}")

        results["POST /roadshows/<id>/propose (propose presenters)"] = timing(propose_post, args.repeat, cold)
        with factory() as s:
            rs = s.get(Roadshow, rid)
            results["proposal"] = {"presenters": len(rs.presenters),
                                   "covered": sum(p.covered or 0 for p in rs.presenters)}
        results["GET /roadshows/<id> (live coverage)"] = timing(get(client, f"/roadshows/{rid}", "covered"),
                                                                 args.repeat, cold)
        results["GET /roadshows/<id>/companies (invitations)"] = timing(
            get(client, f"/roadshows/{rid}/companies"), args.repeat, cold)
        if args.old_path:
            with factory() as s:
                rs = s.get(Roadshow, rid)
                demands = roadshows.open_demands(s, rs)[:args.old_sample]
                presenters = [p.achievement for p in rs.presenters]
                forget_caches(app)
                t = time.perf_counter()
                roadshows.score_matrix_per_demand(rt, s, demands, presenters)
                per = (time.perf_counter() - t) / len(demands)
                results["old path: one engine query per open demand"] = {
                    "sample": len(demands), "ms_per_demand_cold": round(per * 1000, 1),
                    "extrapolated_s_at_open_demands": round(per * n_open, 1)}
    return results


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    from tools.bench_statistics import cpu_model
    from tools.loadtest import migrate

    folder = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    try:
        seeded: dict[str, Any] = json.loads((folder / "seeded.json").read_text()) if args.reuse else {}
        if not args.reuse:
            t = time.perf_counter()
            migrate(url)
            seeded = seed(url, args)
            say(f"seeded in {time.perf_counter() - t:.0f} s ({folder})")
        app = build_app(url, folder, args.model)
        rt = app.extensions["matching"]
        from web.db import sessionmaker_for
        if not args.reuse:
            t = time.perf_counter()
            seeded["model_key"] = store_vectors(app, args)
            say(f"stored vectors in {time.perf_counter() - t:.0f} s")
            (folder / "seeded.json").write_text(json.dumps(seeded))
        engine_needed = "roadshows" in args.only.split(",")
        t = time.perf_counter()
        if engine_needed:  # the statistics and the chain map read no index
            with sessionmaker_for(app)() as s:
                report = rt.sync(s)
                s.commit()
            say(f"index sync (stored vectors, nothing encoded: {dict(report.encoded)}) in "
                f"{time.perf_counter() - t:.0f} s")
        sync_s = time.perf_counter() - t
        builds = {}
        for kind in ("achievement", "demand") if engine_needed else ():
            t = time.perf_counter()
            with sessionmaker_for(app)() as s:
                rt.matcher(kind, s)
            builds[kind] = round(time.perf_counter() - t, 1)
        say(f"matchers built (once per process) in {builds} s")
        results = measure(app, args)
        out = {**seeded, "cpu": cpu_model(), "repeat": args.repeat, "index_sync_s": round(sync_s, 1),
               "matcher_build_s": builds, "results": results}
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        else:
            print(json.dumps({k: v for k, v in out.items() if k != "results"}, ensure_ascii=False))
            for name, r in results.items():
                if "p50_ms" in r:
                    print(f"  {name:<58} cold {r['cold_ms']:>8.1f}  p50 {r['p50_ms']:>8.1f}  p95 {r['p95_ms']:>8.1f}"
                          f"  max {r['max_ms']:>8.1f} ms  (CPU p50 {r['cpu_p50_ms']:.1f} ms)")
                else:
                    print(f"  {name:<58} {r}")
        from web.db import dispose
        dispose(app)
    finally:
        if args.keep or args.reuse:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
