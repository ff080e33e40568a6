"""`flask model adapt|use|rollback|list` (issue 19): an adapted model becomes a new version with its own index while
the old one serves, rollback restores the previous ranking, a failed adaptation changes nothing, bad options say
what to fix. The ONNX export of the adapted folder is skipped here (a minute or two; tests/matchmaking/
test_onnx_export.py covers it): the adapted model then runs on torch, as the platform does without an export."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import app_config, dispose_app

pytestmark = pytest.mark.model

TEXTS = [
    ("锂电池回收技术", "废旧锂电池回收工艺，湿法冶金浸出钴镍锰等有价金属，回收率超过百分之九十五。能耗低，适合规模化生产线。"
                    "已完成中试验证并具备产业化条件。"),
    ("工业机器人视觉定位", "面向汽车焊装产线的机器视觉定位系统，采用深度学习识别工件位姿。定位精度零点一毫米，节拍小于两秒。"
                        "支持多品牌工业机器人，已在三条产线应用。"),
    ("大豆高产育种", "利用分子标记辅助选择培育高蛋白大豆新品种。亩产提高百分之十二，抗倒伏和抗病性好。"
                  "已在东北多个地区示范种植，适合规模推广。"),
    ("固态电池电解质", "硫化物固态电解质材料，室温离子电导率高，与锂金属负极界面稳定。可用于高能量密度固态电池，提升安全性。"
                    "已完成公斤级制备并开展电芯验证。"),
]
TINY = ["--max-pairs", "8", "--batch-size", "4", "--max-seq-length", "32"]


@pytest.fixture
def app(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch):
    """The app with an instance folder of its own: the version pointer lives there, not in the shared one."""
    from app import create_app
    from matchmaking import adapt

    monkeypatch.setattr(adapt, "export_onnx", lambda folder: None)
    application = create_app(app_config(tmp_path, database_url, INSTANCE_DIR=str(tmp_path / "instance")))
    yield application
    dispose_app(application)


@pytest.fixture
def market(session, make_user, make_listing):
    broker, company, university = make_user("broker"), make_user("company"), make_user("university")
    demands = [make_listing("demand", company, reviewer=broker, title=t, description=b) for t, b in TEXTS]
    for t, b in TEXTS:
        make_listing("achievement", university, reviewer=broker, title=f"{t}成果", abstract=b)
    return broker, demands[0]


def _ranking(app, session, demand) -> list[tuple[int, float]]:
    return [(v.listing.id, round(v.match.score, 6)) for v in app.extensions["matching"].find_matches(session, demand)]


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _match_page_ok(client, login, broker, demand) -> None:
    login(broker)
    assert client.get(f"/matches/demand/{demand.id}").status_code == 200


def test_an_adapted_version_serves_after_its_index_is_built_and_rollback_restores_the_ranking(
        app, session, market, client, login):
    broker, demand = market
    runtime = app.extensions["matching"]
    stock_model, stock = runtime.model_path, _ranking(app, session, demand)
    _match_page_ok(client, login, broker, demand)

    built = _cli(app, "model", "adapt", *TINY, "--no-activate", "--json")
    assert built.exit_code == 0, built.output
    report = json.loads(built.stdout.strip().splitlines()[-1])
    assert report["serving"] is False and report["encoded"] == {"demand": 4, "achievement": 4}
    assert runtime.model_path == stock_model and _ranking(app, session, demand) == stock  # the old one serves
    _match_page_ok(client, login, broker, demand)

    used = _cli(app, "model", "use", report["folder"])
    assert used.exit_code == 0, used.output
    assert Path(runtime.model_path) == Path(report["folder"]) and runtime.encoder.model_key == report["model_key"]
    adapted = _ranking(app, session, demand)
    assert adapted and adapted != stock  # the new model's scores
    _match_page_ok(client, login, broker, demand)
    listed = json.loads(_cli(app, "model", "list", "--json").stdout)
    assert [row["serving"] for row in listed] == [False, True]

    back = _cli(app, "model", "rollback")
    assert back.exit_code == 0, back.output
    assert runtime.model_path == stock_model and _ranking(app, session, demand) == stock
    _match_page_ok(client, login, broker, demand)


def test_another_process_serves_the_version_the_pointer_names(app, session, market, tmp_path, database_url):
    from app import create_app

    _broker, demand = market
    done = _cli(app, "model", "adapt", *TINY, "--json")
    assert done.exit_code == 0, done.output
    folder = json.loads(done.stdout.strip().splitlines()[-1])["folder"]
    other = create_app(app_config(tmp_path, database_url, INSTANCE_DIR=str(tmp_path / "instance")))
    try:
        assert Path(other.extensions["matching"].model_path) == Path(folder)
        assert _ranking(other, session, demand) == _ranking(app, session, demand)
    finally:
        dispose_app(other)


def test_a_failed_adaptation_leaves_the_serving_model_and_index_untouched(app, session, market, monkeypatch, tmp_path):
    from services import model_versions

    _broker, demand = market
    runtime = app.extensions["matching"]
    stock_model, stock = runtime.model_path, _ranking(app, session, demand)

    def full_disk(*_a, **_kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_versions, "_runtime_for", full_disk)
    failed = _cli(app, "model", "adapt", *TINY)
    assert failed.exit_code == 2 and "serving model is unchanged" in failed.output and "No space" in failed.output
    assert not list((tmp_path / "instance" / "models" / "versions").glob("*"))
    assert not (tmp_path / "instance" / "models" / "active-model.json").exists()
    assert runtime.model_path == stock_model and _ranking(app, session, demand) == stock


@pytest.mark.parametrize("args, says", [
    (["model", "adapt", "--epochs", "0"], "--epochs"),
    (["model", "adapt", "--batch-size", "abc"], "--batch-size"),
    (["model", "adapt", "--device", "tpu"], "--device"),
    (["model", "adapt", "--trained-layers", "-1"], "--trained-layers"),
    (["model", "adapt", "--calibrate", "/nonexistent/judged.jsonl"], "/nonexistent/judged.jsonl"),
    (["model", "rollback"], "没有可回滚的版本"),
    (["model", "use", "/nonexistent/model"], "不是模型目录"),
])
def test_bad_options_say_what_to_fix(app, args, says):
    result = _cli(app, *args)
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


def test_too_few_listings_to_adapt_on_is_said_plainly(app, market):
    result = _cli(app, "model", "adapt", "--batch-size", "64")
    assert result.exit_code == 2 and "training pairs" in result.output and "训练样本对" in result.output


def _fake_old_version(runtime, name: str) -> Path:
    """An older adaptation folder of the configured model (marker and modules.json), as earlier nights leave."""
    folder = runtime.versions.root / "versions" / name
    folder.mkdir(parents=True)
    (folder / "modules.json").write_text("[]", encoding="utf-8")
    (folder / "adaptation.json").write_text(json.dumps({"base": str(Path(runtime.configured_model).resolve())}),
                                            encoding="utf-8")
    return folder


def test_the_adaptation_job_serves_the_new_version_and_prunes_old_ones(app, session, market):
    """What MODEL_ADAPT_SCHEDULE queues each night (tests/jobs/test_scheduled_adaptation.py fires it), here
    queued by `flask model adapt --background`."""
    from models import Job

    _broker, demand = market
    runtime = app.extensions["matching"]
    stock = _ranking(app, session, demand)
    old = [_fake_old_version(runtime, f"old-{n}") for n in (1, 2)]
    os.utime(old[0] / "adaptation.json", (1_000_000_000, 1_000_000_000))  # made first, whatever the clock's grain
    app.config["MODEL_ADAPT_KEEP"] = 1
    queued = _cli(app, "model", "adapt", *TINY, "--background", "--json")  # inline jobs here: it runs at once
    assert queued.exit_code == 0, queued.output
    said = json.loads(queued.stdout.strip().splitlines()[-1])
    job_id = said["job"]
    assert said["queued"] is True and said["status"] == "done"  # inline: it ran in the foreground, and says so
    session.expire_all()
    job = session.get(Job, job_id)
    assert job.status == "done", (job.error, job.error_detail)
    assert Path(runtime.model_path) == Path(job.result["folder"]) and job.result["serving"] is True
    # keep 1 besides the serving version (and the rollback target, the configured model here): the older goes
    assert job.result["pruned"] == [str(old[0])] and not old[0].exists() and old[1].exists()
    assert _ranking(app, session, demand) != stock


def test_a_failed_adaptation_job_says_why_and_changes_nothing(app, session, market):
    from models import Job
    from services import model_versions

    _broker, demand = market
    runtime = app.extensions["matching"]
    stock_model, stock = runtime.model_path, _ranking(app, session, demand)
    job_id = app.extensions["jobs"].submit_now(lambda s: model_versions.submit_adapt(s, None, {
        "options": {"batch_size": 64}})[0])
    session.expire_all()
    job = session.get(Job, job_id)
    assert job.status == "failed" and job.error == "model.adapt_failed" and "training pairs" in job.error_detail
    assert runtime.model_path == stock_model and _ranking(app, session, demand) == stock
