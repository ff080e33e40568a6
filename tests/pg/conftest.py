"""tests/pg always runs on PostgreSQL: `app` is overridden here so that the shared fixtures (session,
client, make_user, login, make_listing) use a fresh copy of the template database on the session's server
(tests/pg_server.py, imported by tests/conftest.py) whatever TEST_DATABASE says.

When the server cannot start, the tests fail under CI (CI set) and are skipped, with the reason, elsewhere."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import app_config, dispose_app


@pytest.fixture
def app(tmp_path: Path, pg_url: str):
    """The application on a fresh PostgreSQL database (overrides the `app` of tests/conftest.py here)."""
    from app import create_app

    application = create_app(app_config(tmp_path, pg_url))
    yield application
    dispose_app(application)
