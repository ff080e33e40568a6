"""Match pages as a broker opens them on a demo instance, whole requests in this process (Flask test client):
the engine's ranking, the service-directory panel, the database and the templates, with no result cache
(CACHE_URL=none) and the query vectors warm (each demand opened once first).

    python -m tools.bench_match_page --instance DIR [--demands 20] [--rounds 3] [--json]

DIR is an instance folder holding a seeded demo (`INSTANCE_DIR=DIR flask db upgrade && flask seed demo &&
flask index sync`), a copy: signing in writes a session and an audit row into it. docs/capacity.md records the
figures."""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instance", required=True, help="an instance folder with the seeded demo (platform.db)")
    p.add_argument("--demands", type=int, default=20, help="published demands opened, 1 to 1000")
    p.add_argument("--ids", default="", help="these demand ids instead (comma-separated), e.g. those whose page "
                                              "shows service providers")
    p.add_argument("--rounds", type=int, default=3, help="times each is opened after the warm-up, 1 to 100")
    p.add_argument("--json", action="store_true", help="one JSON object")
    args = p.parse_args(argv)
    db = os.path.join(args.instance, "platform.db")
    if not os.path.isfile(db):
        p.error(f"--instance {args.instance}: no platform.db there; seed a demo first (see the docstring)")
    if not 1 <= args.demands <= 1000 or not 1 <= args.rounds <= 100:
        p.error("--demands must be 1 to 1000 and --rounds 1 to 100")
    os.environ["INSTANCE_DIR"], os.environ["CACHE_URL"] = args.instance, "none"
    from app import create_app

    app = create_app({"RATELIMIT_ENABLED": False})
    client = app.test_client()
    try:
        chosen = [int(i) for i in args.ids.split(",") if i.strip()]
    except ValueError:
        p.error(f"--ids {args.ids!r}: give whole numbers separated by commas, e.g. 8,12")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        ids = chosen or [r[0] for r in con.execute(
            "SELECT id FROM demands WHERE status = 'published' ORDER BY id LIMIT ?", (args.demands,))]
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    signed_in = client.post("/login", data={"email": "broker@demo.example.cn", "password": "demo-password-2026",
                                            "csrf_token": token})
    if signed_in.status_code != 302:
        p.error("could not sign in as broker@demo.example.cn: is DIR a demo instance?")
    for i in ids:  # warm-up: the model, the matchers, each demand's query vectors
        client.get(f"/matches/demand/{i}")
    times = []
    for _ in range(args.rounds):
        for i in ids:
            start = time.perf_counter()
            status = client.get(f"/matches/demand/{i}").status_code
            times.append((time.perf_counter() - start) * 1000)
            if status != 200:
                print(f"/matches/demand/{i} answered {status}", file=sys.stderr)
                return 1
    times.sort()
    out = {"pages": len(times), "p50_ms": round(statistics.median(times), 1),
           "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}"}
    print(json.dumps(out) if args.json else "\n".join(f"{k:>8}: {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
