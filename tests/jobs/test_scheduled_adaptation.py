"""The nightly adaptation (MODEL_ADAPT_SCHEDULE): a Huey periodic task read in the platform's clock that
queues one `model.adapt` job per firing, however many consumers fire it; a bad crontab stops start-up."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from config import Config, ConfigError
from models import Job
from services import model_versions
from services.queue import local_minute


@pytest.fixture
def app_overrides():
    return {"MODEL_ADAPT_SCHEDULE": "30 2 * * *", "PLATFORM_TIMEZONE": "Asia/Shanghai",
            "MODEL_ADAPT_TIME_BUDGET": 1800.0, "MODEL_ADAPT_KEEP": 2}


def test_huey_time_is_read_in_the_platform_clock():
    assert local_minute(datetime(2026, 3, 1, 18, 30), "Asia/Shanghai") == datetime(2026, 3, 2, 2, 30)
    assert local_minute(datetime(2026, 3, 1, 18, 30), "UTC") == datetime(2026, 3, 1, 18, 30)


def test_the_schedule_fires_at_its_local_time_and_queues_one_job(app, session):
    huey = app.extensions["jobs"].huey
    names = lambda when: [t.name for t in huey.read_periodic(when)]  # noqa: E731
    assert "techmatch.model_adapt" in names(datetime(2026, 3, 1, 18, 30))  # 02:30 in Shanghai
    assert "techmatch.model_adapt" not in names(datetime(2026, 3, 2, 2, 30))  # 10:30 there
    task = next(t for t in huey.read_periodic(datetime(2026, 3, 1, 18, 30)) if t.name == "techmatch.model_adapt")
    huey.execute(task)
    huey.execute(task)  # a second consumer firing the same minute
    rows = list(session.scalars(select(Job).where(Job.kind == model_versions.ADAPT_JOB)))
    assert len(rows) == 1 and rows[0].status == "queued"
    assert rows[0].params == {"time_budget_s": 1800.0, "calibrate": "", "keep": 2, "activate": True}


def test_no_schedule_no_task(app, app_overrides, tmp_path):
    from app import create_app

    other = create_app({**app.config, "MODEL_ADAPT_SCHEDULE": "", "INSTANCE_DIR": str(tmp_path / "other")})
    try:
        periodic = other.extensions["jobs"].huey.read_periodic(datetime(2026, 3, 1, 18, 30))
        assert "techmatch.model_adapt" not in [t.name for t in periodic]
    finally:
        other.extensions["db_engine"].dispose()
        other.extensions["db_write_engine"].dispose()


@pytest.mark.parametrize("value", ["99 2 * * *", "30 2 * *", "nightly"])
def test_a_bad_schedule_stops_start_up_saying_what_a_crontab_is(monkeypatch, tmp_path, value):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MODEL_ADAPT_SCHEDULE", value)
    with pytest.raises(ConfigError) as err:
        Config()
    message = str(err.value.code)
    assert "不是有效的 crontab 表达式" in message and "is not a crontab (five fields" in message
    monkeypatch.setenv("MODEL_ADAPT_SCHEDULE", " 30  2 * * * ")
    assert Config().MODEL_ADAPT_SCHEDULE == "30 2 * * *"
