"""CLI commands on a database they cannot use (never migrated, or unreachable) say what to do in one line, in
both languages, and exit non-zero: no traceback."""
from __future__ import annotations

import pytest

from tests.conftest import app_config, dispose_app


@pytest.fixture
def unmigrated(tmp_path):
    from app import create_app

    application = create_app(app_config(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}"))
    yield application
    dispose_app(application)


@pytest.mark.parametrize("args", [["seed", "demo"], ["index", "check"], ["jobs", "status"],
                                  ["users", "create", "--email", "a@example.com", "--name", "A", "--role", "broker",
                                   "--password", "a long enough passphrase 42"]])
def test_a_database_without_tables_says_run_db_upgrade(unmigrated, args):
    result = unmigrated.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1, result.output
    assert "flask db upgrade" in result.output and "请先运行" in result.output
    assert "Traceback" not in result.output


def test_jobs_requeue_on_that_database_says_run_db_upgrade_not_queue_unreachable(tmp_path):
    from app import create_app

    application = create_app(app_config(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}", JOBS_MODE="queue",
                                        JOBS_QUEUE_URL=f"sqlite:///{tmp_path / 'queue.db'}"))
    try:
        result = application.test_cli_runner().invoke(args=["jobs", "requeue"])
    finally:
        dispose_app(application)
    assert result.exit_code == 1 and "flask db upgrade" in result.output, result.output
    assert "queue unreachable" not in result.output


def test_db_upgrade_itself_still_runs_on_that_database(unmigrated):
    runner = unmigrated.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    result = runner.invoke(args=["jobs", "status"])
    assert result.exit_code == 0 and "flask db upgrade" not in result.output


def test_an_unreachable_database_is_named(tmp_path):
    from app import create_app

    application = create_app(app_config(tmp_path, "postgresql+psycopg://nobody:x@127.0.0.1:9/none"))
    try:
        result = application.test_cli_runner().invoke(args=["index", "check"])
    finally:
        dispose_app(application)
    assert result.exit_code == 1 and "cannot reach the database" in result.output and "无法连接数据库" in result.output


def test_pages_on_that_database_answer_503_not_500(unmigrated, zh):
    client = unmigrated.test_client()
    for path in ("/", "/search/demand?q=电池", "/api/v1/demands/"):
        resp = client.get(path)
        assert resp.status_code == 503, (path, resp.status_code)
        assert resp.headers.get("Retry-After")
    page = client.get("/search/demand?q=电池").get_data(as_text=True)
    # the way on is the same page again, not the home page (which answers 503 too)
    assert 'href="/search/demand?q=%E7%94%B5%E6%B1%A0">' + zh("Try again") in page
    assert zh("Back to the home page") not in page


@pytest.mark.sqlite_only("SQLite's online backup API")
def test_a_backup_of_a_database_without_tables_is_refused_and_writes_nothing(unmigrated, tmp_path):
    unmigrated.extensions["db_engine"].connect().close()  # the empty file exists, as after a first start
    target = tmp_path / "backup.db"
    result = unmigrated.test_cli_runner().invoke(args=["backup", "create", str(target)])
    assert result.exit_code != 0 and "no backup was made" in result.output, result.output
    assert "Traceback" not in result.output
    assert not target.exists() and not (tmp_path / "backup.db.part").exists()
