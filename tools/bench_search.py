"""The database's part of a search on SQLite at scale: the full-text index (FTS5) against the literal LIKE filter
it replaced, for natural Chinese queries, with and without other filters.

    python -m tools.bench_search --listings 100000 [--db PATH] [--repeat 3] [--json]

Builds (or reuses, --db) a throw-away SQLite database by migrations and bulk inserts: published achievements
with titles and sentences of the real dev corpus (../shared/data/bench/dev/field), as tools/loadtest.py seeds
PostgreSQL, their words segmented once per title and sentence. Then times, per query, what a search page asks
the database: the full-text index's best 300 among the listings passing the filters (services/search_index.py),
the page's 20 rows (services/listings.ranked_page), and, for comparison, the literal filter's page (LIKE on every
word over every published row, what the search page did before). The hybrid engine's re-ranking of those
candidates runs in memory over the same ids whatever the database; docs/benchmarks.md times it."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tools.loadtest import ROOT, _corpus, _default_set, _Words, migrate, natural_queries


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.bench_search", description=__doc__.split("\n\n")[0])
    p.add_argument("--listings", type=int, default=100_000, help="published achievements in the database")
    p.add_argument("--db", default=None, help="SQLite file to build (kept) or reuse when it exists")
    p.add_argument("--queries", type=int, default=120, help="natural queries (a third each kind)")
    p.add_argument("--repeat", type=int, default=3, help="timed passes over the queries")
    p.add_argument("--set-dir", default=str(_default_set()), help="BEIR dev set giving real texts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def build(path: str, n: int, set_dir: str, seed: int) -> float:
    """Migrate an empty SQLite file and insert n published achievements; seconds taken."""
    t = time.perf_counter()
    migrate(f"sqlite:///{path}")
    rng = np.random.default_rng(seed)
    titles, _bodies, sentences = _corpus(set_dir)
    words = _Words()
    con = sqlite3.connect(path)
    fields = [r[0] for r in con.execute("SELECT id FROM fields WHERE parent_id IS NOT NULL")]
    regions = [r[0] for r in con.execute("SELECT code FROM regions")] or [None]
    owner, org = con.execute("SELECT id, organisation_id FROM users LIMIT 1").fetchone()
    rows = []
    for j in range(n):
        picked = [sentences[int(s)] for s in rng.integers(0, len(sentences), int(rng.integers(3, 7)))]
        body = "".join(picked)
        title = titles[int(rng.integers(0, len(titles)))][:110] or "无题"
        terms = " ".join(w for w in [words(title), *map(words, picked)] if w)
        rows.append((title, "", regions[j % len(regions)], ",tech_transfer,", "published", "联系人", "13800000000",
                     f"c{j}@bench.example.cn", "2026-01-01", "2026-01-01", "2026-01-02", owner, org,
                     fields[j % len(fields)], body, f"{title}\n\n{body}".lower(), terms, 5, 0, ""))
        if len(rows) == 5000 or j == n - 1:
            con.executemany(
                "INSERT INTO achievements (title, keywords, region, modes, status, contact_name, contact_phone, "
                "contact_email, created_at, updated_at, published_at, owner_id, organisation_id, field_id, "
                "abstract, search_text, search_terms, trl, negotiable, team) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            con.commit()
            rows = []
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.perf_counter() - t


def _ms(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"p50_ms": round(statistics.median(xs) * 1000, 2),
            "p95_ms": round(xs[max(0, int(len(xs) * 0.95) - 1)] * 1000, 2), "n": len(xs)}


def measure(path: str, queries: list[str], repeat: int) -> dict:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from sqlalchemy import text

    from models import Field
    from services import listings, search, search_index

    engine = create_engine(f"sqlite:///{path}")
    out: dict = {}
    with Session(engine) as s:
        # the share of listings holding each word, which the engine's matcher tells a web process
        # (services/search.telling); here from FTS5's own vocabulary
        s.execute(text("CREATE VIRTUAL TABLE IF NOT EXISTS temp.ach_vocab USING fts5vocab(main, achievements_fts, 'row')"))
        n_rows = s.scalar(text("SELECT count(*) FROM achievements")) or 1

        def shares(words: list[str]) -> list[float]:
            docs = dict(s.execute(text("SELECT term, doc FROM temp.ach_vocab WHERE term IN (%s)" % ",".join(
                ":w%d" % i for i in range(len(words)))), {f"w{i}": w for i, w in enumerate(words)}).all()) \
                if words else {}
            return [docs.get(w, 0) / n_rows for w in words]

        field = s.scalar(select(Field.code).where(Field.parent_id.is_(None)).order_by(Field.position).limit(1))
        for label, extra, prune in (("no filter", {}, True), (f"field={field}", {"field": field}, True),
                                    ("no filter, every word asked", {}, False)):
            fts, unranked, page, like, found = [], [], [], [], []
            for _ in range(repeat):
                for q in queries:
                    f = listings.SearchFilters(q=q, **extra)
                    base = listings.search_stmt("achievement", listings.SearchFilters(**extra), None)
                    words = search_index.query_words(q)
                    asked = search.telling(words, shares(words) if prune else None)
                    t = time.perf_counter()
                    stmt = search_index.lexical_stmt(s, "achievement", base, asked, 300)
                    ids = list(s.scalars(stmt)) if stmt is not None else []
                    fts.append(time.perf_counter() - t)
                    t = time.perf_counter()  # what a search page reads now: the matching ids unranked (services/search)
                    stmt = search_index.lexical_stmt(s, "achievement", base, asked, search.MATCHING_CAP, ranked=False)
                    if stmt is not None:
                        list(s.scalars(stmt))
                    unranked.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    listings.ranked_page(s, "achievement", f, None, ids, 1, 20)
                    page.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    _rows, total = listings.page(s, listings.search_stmt("achievement", f, None), 1, 20)
                    like.append(time.perf_counter() - t)
                    found.append((len(ids), total))
                    s.expunge_all()
            out[label] = {"full_text_best_300": _ms(fts), "full_text_unranked_ids": _ms(unranked),
                          "page_rows": _ms(page), "literal_like_page": _ms(like),
                          "queries_with_results": {"full_text": sum(1 for a, _ in found if a) // repeat,
                                                   "literal": sum(1 for _, b in found if b) // repeat,
                                                   "of": len(queries)}}
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="tm-search-"), "bench.db")
    result: dict = {"machine": f"{platform.node()} {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
                    "listings": args.listings, "db": path}
    if not Path(path).exists():
        result["build_seconds"] = round(build(path, args.listings, args.set_dir, args.seed), 1)
    con = sqlite3.connect(path)
    titles = [r[0] for r in con.execute("SELECT title FROM achievements ORDER BY random() LIMIT 400")]
    con.close()
    queries = natural_queries(titles, args.queries, np.random.default_rng(args.seed))
    result["results"] = measure(path, queries, args.repeat)
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
