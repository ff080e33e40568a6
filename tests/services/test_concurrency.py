"""SQLite under concurrent writers: IMMEDIATE write transactions, no 'database is locked', no lost rows."""
from __future__ import annotations

import multiprocessing
import shutil
import time

import pytest

pytestmark = pytest.mark.slow  # eight writers for ten seconds (not in `make test-fast`)


WRITERS = 8
SECONDS = 10.0


def _writer(url: str, worker: int, seconds: float, queue, immediate: bool = True) -> None:
    """Read-then-write units of work as fast as possible; report successes and lock errors."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from models import Job
    from web.db import make_engine

    engine = make_engine(url, busy_timeout=30, immediate=immediate)
    ok = locked = 0
    seen: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with Session(engine) as s:
                # read-then-write: under IMMEDIATE the count is exact, so all counts are distinct
                n = s.scalar(select(func.count()).select_from(Job).where(Job.kind.like("w%")))
                s.add(Job(kind=f"w{worker}", owner_id=None, params={"n": n}, status="queued"))
                s.commit()
            ok += 1
            seen.append(n)
        except OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err):
                raise
            locked += 1
    engine.dispose()
    queue.put((worker, ok, locked, seen))


@pytest.mark.sqlite_only("SQLite's single-writer lock and BEGIN IMMEDIATE; PostgreSQL runs at READ COMMITTED with "
                         "row locks and retries (tests/pg/test_retry_pg.py, 50 concurrent bookings in test_roadshows)")
def test_eight_writers_for_ten_seconds_no_lock_errors_no_lost_rows(tmp_path, template_db):
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from models import Job

    db = tmp_path / "busy.db"
    shutil.copy(template_db, db)
    url = f"sqlite:///{db}"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, n, SECONDS, queue)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=SECONDS + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    engine = create_engine(url)
    with Session(engine) as s:
        stored = s.scalar(select(func.count()).select_from(Job).where(Job.kind.like("w%")))
    engine.dispose()
    total = sum(r[1] for r in results)
    print(f"\n{WRITERS} writers x {SECONDS:.0f}s: {total} commits, "
          f"{sum(r[2] for r in results)} 'database is locked' errors, {stored} rows stored")
    assert sum(r[2] for r in results) == 0
    assert stored == total and total > WRITERS
    counts = sorted(n for r in results for n in r[3])
    assert counts == list(range(total)), "two transactions read the same count: a lost update"
