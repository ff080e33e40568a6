"""Fixtures for the job queue: the app with JOBS_MODE=queue on a real Huey queue (a SQLite file, or the real
redis-server of tests/redis_server.py), consumer threads started by the test, and a polling helper."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.conftest import MODEL_DIR
from tests.redis_server import redis_server, redis_url  # noqa: F401


@pytest.fixture
def queue_url(tmp_path: Path) -> str:
    """The SQLite queue by default; a module overrides this fixture for Redis."""
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Settings a module or test changes (e.g. INDEX_SYNC)."""
    return {}


@pytest.fixture
def app(tmp_path: Path, template_db: Path, queue_url: str, app_overrides: dict[str, Any]):
    """The application with a real queue; no embedded consumer until a test starts one."""
    from app import create_app

    db_path = tmp_path / "app.db"
    shutil.copy(template_db, db_path)
    settings = {"DATABASE_URL": f"sqlite:///{db_path}", "INDEX_DIR": str(tmp_path / "index"),
                "INDEX_SYNC": "inline", "MATCHER_REFRESH": "inline", "JOBS_MODE": "queue", "JOBS_QUEUE_URL": queue_url,
                "JOBS_EMBEDDED_WORKER": False, "JOBS_RETRIES": 2, "JOBS_RETRY_DELAY": 0.2,
                "JOBS_HEARTBEAT_SECONDS": 0.2, "EMBEDDING_MODEL": MODEL_DIR, "SECRET_KEY": "test-secret",
                "TESTING": True, "SERVER_NAME": "localhost", "MAIL_DIR": str(tmp_path / "mail"),
                "RATELIMIT_ENABLED": False, "INSTANCE_DIR": str(tmp_path)}
    settings.update(app_overrides)
    application = create_app(settings)
    yield application
    application.extensions["jobs"].stop_embedded()
    application.extensions["db_engine"].dispose()
    application.extensions["db_write_engine"].dispose()


@pytest.fixture
def consumer(app):
    """Start this app's consumer threads (two workers, as `flask jobs worker --workers 2` would)."""
    queue = app.extensions["jobs"]
    queue.start_embedded(2)
    yield queue
    queue.stop_embedded()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until predicate() is truthy; fail with what was awaited after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def job_row(app) -> Callable[[int], Any]:
    """A fresh read of a job row (own session, so it sees other threads' commits)."""
    from models import Job
    from web.db import sessionmaker_for

    def read(job_id: int) -> Any:
        with sessionmaker_for(app)() as s:
            return s.get(Job, job_id)

    return read
