"""Job latency and throughput through the real queues (not a test; run by hand, figures in docs/jobs.md):

    .venv/bin/python -m tests.jobs.bench_queue --jobs 200 --workers 2
    .venv/bin/python -m tests.jobs.bench_queue --jobs 30 --serial

For each backend (the SQLite queue file, and Redis when redis-server is installed) it migrates a fresh
database, starts the consumer threads, submits N no-op jobs through the same path a view takes
(commit the row, enqueue the id) and reports, from the rows' own timestamps, the latency from commit to
done (p50/p95) and the throughput (jobs per second from the first submit to the last finish).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from services import jobs


@jobs.handler("bench.noop")
def _noop(session, job, progress, ctx):
    progress(1, 1)
    return {}


def _wait(factory, ids: list[int]) -> list:
    from sqlalchemy import select

    from models import Job

    while True:
        with factory() as s:
            rows = list(s.scalars(select(Job).where(Job.id.in_(ids))))
        if all(r.status == "done" for r in rows):
            return rows
        time.sleep(0.01)


def run(queue_url: str, n: int, workers: int, tmp: Path, serial: bool = False) -> dict:
    from app import create_app
    from migrations import runner
    from tests.conftest import MODEL_DIR

    db = tmp / f"bench-{queue_url.split(':')[0]}.db"
    runner.upgrade(f"sqlite:///{db}")
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "JOBS_MODE": "queue", "JOBS_QUEUE_URL": queue_url,
                      "JOBS_EMBEDDED_WORKER": False, "INDEX_SYNC": "inline", "EMBEDDING_MODEL": MODEL_DIR,
                      "INDEX_DIR": str(tmp / "index"), "SECRET_KEY": "bench", "INSTANCE_DIR": str(tmp)})
    queue = app.extensions["jobs"]
    queue.start_embedded(workers)
    factory = app.extensions["db_sessionmaker"]
    start = time.monotonic()
    ids = []
    for _ in range(n):
        with factory() as s:
            job = jobs.submit_job(s, "bench.noop", None, {})
            s.commit()
            ids.append(job.id)
        queue.enqueue(ids[-1])
        if serial:  # one at a time: the latency of a job that meets an idle consumer
            _wait(factory, ids[-1:])
            time.sleep(0.5)  # let the idle consumer back off as it would between requests
    submit_s = time.monotonic() - start
    rows = _wait(factory, ids)
    total_s = time.monotonic() - start
    queue.stop_embedded()
    lat = sorted((r.finished_at - r.created_at).total_seconds() * 1000 for r in rows)
    app.extensions["db_engine"].dispose()
    app.extensions["db_write_engine"].dispose()
    return {"jobs": n, "workers": workers, "submit_per_s": n / submit_s, "done_per_s": n / total_s,
            "p50_ms": statistics.median(lat), "p95_ms": lat[int(0.95 * (len(lat) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial", action="store_true", help="submit the next job only when one is done")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="techmatch-bench-queue-"))
    backends = {"sqlite": f"sqlite:///{tmp / 'queue.db'}"}
    redis = None
    binary = shutil.which("redis-server")
    if binary:
        from tests.redis_server import RedisServer, _free_port

        redis = RedisServer(binary=binary, port=_free_port(), workdir=str(tmp))
        redis.start()
        backends["redis"] = redis.url
    try:
        for name, url in backends.items():
            r = run(url, args.jobs, args.workers, tmp, args.serial)
            print(f"{name:<7} {r['jobs']} jobs{' one by one' if args.serial else ''}, {r['workers']} workers: submit {r['submit_per_s']:.0f}/s, "
                  f"done {r['done_per_s']:.0f}/s, latency p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms")
    finally:
        if redis:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
