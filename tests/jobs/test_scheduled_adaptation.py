"""The nightly adaptation (MODEL_ADAPT_SCHEDULE): a Huey periodic task read in the platform's clock that
queues one `model.adapt` job per firing, however many consumers fire it; a bad crontab stops start-up."""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from config import Config, ConfigError
from matchmaking.adapt import MARKER
from matchmaking.versions import ModelVersions
from models import Job
from services import model_versions
from services.queue import last_firing, local_minute


@pytest.fixture
def app_overrides():
    return {"MODEL_ADAPT_SCHEDULE": "30 2 * * *", "PLATFORM_TIMEZONE": "Asia/Shanghai",
            "MODEL_ADAPT_TIME_BUDGET": 1800.0, "MODEL_ADAPT_KEEP": 2}


def test_huey_time_is_read_in_the_platform_clock():
    assert local_minute(datetime(2026, 3, 1, 18, 30), "Asia/Shanghai") == datetime(2026, 3, 2, 2, 30)
    assert local_minute(datetime(2026, 3, 1, 18, 30), "UTC") == datetime(2026, 3, 1, 18, 30)


def test_consumers_a_few_seconds_apart_name_the_same_firing():
    from huey import crontab

    nightly = crontab("30", "2", strict=True)
    assert last_firing(nightly, datetime(2026, 3, 2, 2, 30, 59)) == "2026-03-02T02:30"
    assert last_firing(nightly, datetime(2026, 3, 2, 2, 31, 0, 100)) == "2026-03-02T02:30"  # the next minute
    assert last_firing(nightly, datetime(2026, 3, 3, 2, 29)) == "2026-03-02T02:30"


def test_the_schedule_fires_at_its_local_time_and_queues_one_job(app, session):
    huey = app.extensions["jobs"].huey
    names = lambda when: [t.name for t in huey.read_periodic(when)]  # noqa: E731
    assert "techmatch.model_adapt" in names(datetime(2026, 3, 1, 18, 30))  # 02:30 in Shanghai
    assert "techmatch.model_adapt" not in names(datetime(2026, 3, 2, 2, 30))  # 10:30 there
    task = next(t for t in huey.read_periodic(datetime(2026, 3, 1, 18, 30)) if t.name == "techmatch.model_adapt")
    huey.execute(task)
    huey.execute(task)  # a second consumer firing the same minute
    rows = list(session.scalars(select(Job).where(Job.kind == model_versions.ADAPT_JOB)))
    assert len(rows) == 1 and rows[0].status == "queued" and rows[0].key.startswith("model.adapt@")
    assert rows[0].params == {"time_budget_s": 1800.0, "calibrate": "", "keep": 2, "activate": True}
    rows[0].status = "failed"  # it failed fast: a third consumer firing late must not queue it again
    session.commit()
    huey.execute(task)
    assert session.scalar(select(func.count(Job.id)).where(Job.kind == model_versions.ADAPT_JOB)) == 1


def test_a_scheduled_firing_waits_for_an_adaptation_already_running(app, session):
    running, new = model_versions.submit_adapt(session, None, {})
    assert new
    session.commit()
    assert model_versions.submit_scheduled(session, {}, "2026-03-02T02:30") is None
    again, new = model_versions.submit_adapt(session, None, {"options": {"epochs": 2}})
    assert again.id == running.id and not new  # by hand too: one adaptation at a time
    running.status = "done"
    session.commit()
    fired = model_versions.submit_scheduled(session, {}, "2026-03-02T02:30")
    assert fired is not None and fired.key == "model.adapt@2026-03-02T02:30"


def test_no_schedule_no_task(app, app_overrides, tmp_path):
    from app import create_app

    other = create_app({**app.config, "MODEL_ADAPT_SCHEDULE": "", "INSTANCE_DIR": str(tmp_path / "other")})
    try:
        periodic = other.extensions["jobs"].huey.read_periodic(datetime(2026, 3, 1, 18, 30))
        assert "techmatch.model_adapt" not in [t.name for t in periodic]
    finally:
        other.extensions["db_engine"].dispose()
        other.extensions["db_write_engine"].dispose()


@pytest.mark.parametrize("value", ["99 2 * * *", "30 2 * *", "nightly", "30 2,x * * *", "30 2 * * 1,fri"])
def test_a_bad_schedule_stops_start_up_saying_what_a_crontab_is(monkeypatch, tmp_path, value):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MODEL_ADAPT_SCHEDULE", value)
    with pytest.raises(ConfigError) as err:
        Config()
    message = str(err.value.code)
    assert "不是有效的 crontab 表达式" in message and "is not a crontab (five fields" in message
    monkeypatch.setenv("MODEL_ADAPT_SCHEDULE", " 30  2 * * * ")
    assert Config().MODEL_ADAPT_SCHEDULE == "30 2 * * *"


@pytest.mark.parametrize("value", ["30 2 31 2 *", "0 0 31 4,6,9,11 *", "0 0 30 2 *"])
def test_a_schedule_that_never_fires_stops_start_up(monkeypatch, tmp_path, value):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MODEL_ADAPT_SCHEDULE", value)
    with pytest.raises(ConfigError) as err:
        Config()
    assert "never fires" in str(err.value.code) and "不是有效的 crontab 表达式" in str(err.value.code)


@pytest.mark.parametrize("value", ["0 0 29 2 *", "0 0 29 2 1", "0 3 31 * *", "0 3 13 * 5"])
def test_rare_dates_that_do_come_are_accepted(monkeypatch, tmp_path, value):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MODEL_ADAPT_SCHEDULE", value)
    assert Config().MODEL_ADAPT_SCHEDULE == value


def test_a_negative_time_budget_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MODEL_ADAPT_TIME_BUDGET", "-60")
    with pytest.raises(ConfigError) as err:
        Config()
    assert "MODEL_ADAPT_TIME_BUDGET must be a number from 0 to 604800 (it is -60" in str(err.value.code)


def _folder(root: Path, name: str) -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "modules.json").write_text("[]")
    return root / name


def test_pruning_keeps_the_serving_version_the_rollback_target_and_the_newest_others(tmp_path):
    base = _folder(tmp_path, "base")
    versions = ModelVersions(tmp_path / "models")
    made = []
    for n in range(1, 6):
        folder = _folder(tmp_path / "models" / "versions", f"v{n}")
        (folder / MARKER).write_text(json.dumps({"base": str(base.resolve())}), encoding="utf-8")
        os.utime(folder / MARKER, (1_000_000 * n, 1_000_000 * n))  # made in this order
        made.append(folder)
    for folder in made[:3]:
        versions.activate(str(base), folder)  # v3 serves; history base, v1, v2
    shutil.rmtree(made[1])  # v2 removed by hand: a rollback would now go back to v1
    runtime = SimpleNamespace(versions=versions, configured_model=str(base))
    assert model_versions.prune(runtime, keep=1) == [made[3]]  # others than v3 (serving) and v1 (rollback): v4, v5; keep v5
    assert [f.name for f in versions.adapted(str(base))] == ["v1", "v3", "v5"]
    assert model_versions.prune(runtime, keep=1) == []
    assert versions.rollback(str(base)).active == str(made[0].resolve())
