"""Shared fixtures: a migrated database per test, the app, a CSRF-aware client, users by role.

The database is SQLite (a copy of a migrated template file) unless TEST_DATABASE=postgresql, where it is a
copy of a migrated template database on one real PostgreSQL server per session (tests/pg_server.py;
`make test-pg`). Tests about SQLite itself carry `@pytest.mark.sqlite_only("why")` and are skipped, with
that reason, on PostgreSQL."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="techmatch-test-instance-"))
MODEL_DIR = os.environ.get("EMBEDDING_MODEL") or str(ROOT / "instance" / "models" / "multilingual-e5-small")
PASSWORD = "correct-horse-battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
BACKENDS = ("sqlite", "postgresql")
TEST_DATABASE = os.environ.get("TEST_DATABASE") or "sqlite"
ON_POSTGRESQL = TEST_DATABASE == "postgresql"

from tests.pg_server import (pg_drop_database, pg_new_database, pg_server, pg_template,  # noqa: E402,F401
                             pg_url)
from services import clock  # noqa: E402


# `make test-fast` (TEST_TIER=fast): only the tests marked neither `model`, `server`, `e2e` nor `slow`, and a test
# that loads the embedding model or starts a server without its marker fails, saying which marker it needs.
FAST_TIER = os.environ.get("TEST_TIER") == "fast"
SERVER_FIXTURES = ("pg_server", "redis_server")


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DATABASE not in BACKENDS:
        raise pytest.UsageError(f"TEST_DATABASE={TEST_DATABASE!r}: use one of {', '.join(BACKENDS)}")


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> None:
    if FAST_TIER and fixturedef.argname in SERVER_FIXTURES:
        pytest.fail(f"{request.node.nodeid} starts a server ({fixturedef.argname}): mark it @pytest.mark.server")


@pytest.fixture(autouse=True)
def _fast_tier_has_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the fast tier, building the real encoder fails the test with the marker it needs."""
    if not FAST_TIER:
        return
    from matchmaking import encoders

    def refuse(*_a: Any, **_kw: Any) -> Any:
        pytest.fail("this test loads the embedding model: mark it @pytest.mark.model")

    monkeypatch.setattr(encoders, "_BUILDERS", {name: refuse for name in encoders._BUILDERS})


# folders whose every test needs a server (PostgreSQL, Redis, gunicorn) or a browser: marked `server`
SERVER_FOLDERS = ("pg", "scale", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests in SERVER_FOLDERS are marked `server`; on PostgreSQL, skip the tests about SQLite itself, with the
    reason their marker gives."""
    for item in items:
        if Path(str(item.fspath)).parent.name in SERVER_FOLDERS:
            item.add_marker(pytest.mark.server)
    if not ON_POSTGRESQL:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason")
            assert why, f"{item.nodeid}: sqlite_only needs a reason"
            item.add_marker(pytest.mark.skip(reason=f"about SQLite itself: {why}"))


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated to head with fields and regions, copied for each test."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from migrations import runner
    from services import seed

    path = tmp_path_factory.mktemp("db") / "template.db"
    url = f"sqlite:///{path}"
    runner.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        seed.load_reference(s)
        s.commit()
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def new_database(request: pytest.FixtureRequest) -> Callable[[Path], str]:
    """Factory: the URL of a fresh copy of the template database on the backend under test (SQLite: the
    file `folder/app.db`; PostgreSQL: a new database on the session's server, dropped with the server)."""

    def create(folder: Path) -> str:
        if ON_POSTGRESQL:
            return request.getfixturevalue("pg_new_database")(request.getfixturevalue("pg_template"))
        shutil.copy(request.getfixturevalue("template_db"), folder / "app.db")
        return f"sqlite:///{folder / 'app.db'}"

    return create


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh copy of the template database for one test (SQLite: tmp_path/app.db)."""
    if ON_POSTGRESQL:
        return request.getfixturevalue("pg_url")  # dropped after the test
    return request.getfixturevalue("new_database")(tmp_path)


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (no schema) for one test, on the backend under test."""
    if not ON_POSTGRESQL:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url, drop = request.getfixturevalue("pg_new_database")(), request.getfixturevalue("pg_drop_database")
    yield url
    drop(url)


def app_config(tmp_path: Path, database_url: str, **over: Any) -> dict[str, Any]:
    """The configuration of a test app on database_url: index updates and jobs inline, files in tmp_path."""
    return {"DATABASE_URL": database_url, "INDEX_DIR": str(tmp_path / "index"), "INDEX_SYNC": "inline",
            "MATCHER_REFRESH": "inline",
            "JOBS_MODE": "inline", "EMBEDDING_MODEL": MODEL_DIR, "SECRET_KEY": "test-secret", "TESTING": True,
            "SERVER_NAME": "localhost", "MAIL_DIR": str(tmp_path / "mail"), **over}


def dispose_app(application: Any) -> None:
    """Close the pooled connections of a test app's engines (before its database is dropped)."""
    application.extensions["db_engine"].dispose()
    application.extensions["db_write_engine"].dispose()


@pytest.fixture
def app(tmp_path: Path, database_url: str):
    """The application on a fresh copy of the template database; index updates run inline."""
    from app import create_app

    application = create_app(app_config(tmp_path, database_url))
    yield application
    dispose_app(application)


@pytest.fixture
def session(app):
    """A session of the app's database (commit what a test sets up)."""
    from web.db import sessionmaker_for

    with sessionmaker_for(app)() as s:
        yield s


class Client:
    """Test client that reads the CSRF token from the page like a browser would."""

    def __init__(self, flask_client: Any) -> None:
        self.c = flask_client

    def get(self, url: str, **kw: Any) -> Any:
        return self.c.get(url, **kw)

    def token(self, url: str) -> str:
        page = self.c.get(url)
        found = CSRF_RE.search(page.get_data(as_text=True))
        assert found, f"no CSRF token on {url} (status {page.status_code})"
        return found.group(1)

    def submit(self, url: str, data: dict[str, Any], *, form_url: str | None = None, **kw: Any) -> Any:
        """POST a form the way a browser would after loading form_url (default: the same url)."""
        payload = dict(data)
        payload["csrf_token"] = self.token(form_url or url)
        return self.c.post(url, data=payload, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.c.post(url, **kw)


@pytest.fixture
def client(app) -> Client:
    return Client(app.test_client())


@pytest.fixture
def make_user(session) -> Callable[..., Any]:
    """Create a user of a role (with an organisation for companies and universities)."""
    from models import OrgKind
    from services import accounts

    counter = iter(range(1, 10_000))

    def make(role: str = "company", *, org: str | None = None, email: str | None = None) -> Any:
        n = next(counter)
        organisation = None
        if role in ("company", "university"):
            kind = OrgKind.COMPANY if role == "company" else OrgKind.UNIVERSITY
            organisation = accounts.find_or_create_organisation(session, org or f"{role} org {n}", kind,
                                                                region="shaanxi")
        user = accounts.create_user(session, email=email or f"{role}{n}@example.com", password=PASSWORD,
                                    display_name=f"{role} user {n}", role=role, organisation=organisation)
        session.commit()
        return user

    return make


def demand_data(**over: Any) -> dict[str, Any]:
    """Valid service data for a demand."""
    data = {"title": "高镍三元正极材料循环寿命提升", "description": "我司动力电池高镍正极循环衰减快，"
            "1000次循环后容量保持率不足80%，希望通过表面包覆或掺杂改性提升循环寿命。",
            "indicators": "0.5C循环1000次容量保持率≥85%", "field_code": "new_energy.battery",
            "keywords": "高镍三元,循环寿命,包覆改性", "region": "shaanxi", "modes": ["joint", "commissioned"],
            "budget_min": 50.0, "budget_max": 200.0, "deadline": clock.today() + timedelta(days=60),
            "min_trl": 4, "contact_name": "张工", "contact_phone": "13800000001",
            "contact_email": "canary.demand@example.com"}
    data.update(over)
    return data


def achievement_data(**over: Any) -> dict[str, Any]:
    """Valid service data for an achievement."""
    data = {"title": "单晶高镍正极原子层沉积包覆技术", "abstract": "采用原子层沉积在单晶高镍正极表面构筑纳米氧化铝包覆层，"
            "抑制循环过程中的相变与界面副反应，1000次循环容量保持率达到88%。",
            "field_code": "new_energy.battery", "keywords": "单晶高镍,原子层沉积,包覆", "region": "jiangsu",
            "modes": ["license", "joint"], "trl": 6, "stage": "pilot", "price": 150.0, "negotiable": False,
            "team": "李教授团队", "patents": [{"number": "CN202110123456.7", "kind": "invention", "status": "granted"}],
            "contact_name": "李老师", "contact_phone": "13900000012", "contact_email": "canary.achievement@example.cn"}
    data.update(over)
    return data


@pytest.fixture
def make_listing(session) -> Callable[..., Any]:
    """Create a listing through the services and move it to a status."""
    from services import listings

    def make(kind: str, owner: Any, status: str = "published", reviewer: Any = None, **over: Any) -> Any:
        data = demand_data(**over) if kind == "demand" else achievement_data(**over)
        item = listings.create_listing(session, kind, owner, data)
        if status in ("submitted", "published", "returned", "rejected", "closed"):
            listings.transition(session, item, owner, "submit")
        if status in ("published", "returned", "rejected", "closed"):
            assert reviewer is not None, "a reviewer is needed for this status"
            action = {"published": "approve", "closed": "approve", "returned": "return", "rejected": "reject"}[status]
            listings.transition(session, item, reviewer, action, "需要补充技术指标")
        if status == "closed":
            listings.transition(session, item, owner, "close")
        session.commit()
        return item

    return make


@pytest.fixture
def login(client) -> Callable[[Any], Any]:
    """Sign a user in through the real login form."""

    def do(user: Any) -> Any:
        resp = client.submit("/login", {"email": user.email, "password": PASSWORD})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return user

    return do


@pytest.fixture
def login_as(make_user, login) -> Callable[..., Any]:
    """Create a user of a role and sign them in."""

    def do(role: str, **kw: Any) -> Any:
        return login(make_user(role, **kw))

    return do


@pytest.fixture
def zh(app) -> Callable[..., str]:
    """The Simplified Chinese text of a message id, as the UI shows it (asserts it is translated)."""
    from flask_babel import force_locale, gettext

    def translate(msgid: str, **kw: Any) -> str:
        with app.test_request_context("/"), force_locale("zh_Hans_CN"):
            text = gettext(msgid, **kw)
        assert text != msgid, f"not translated: {msgid}"
        return text

    return translate
