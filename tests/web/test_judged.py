"""Judged evaluation and calibration commands, and the calibrated score with the real model: a same-field
unrelated pair stays weak whatever its structured fields, and a demand with nothing relevant says so."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from matchmaking import bands
from services import judged

pytestmark = pytest.mark.model  # publishing listings updates the index (the embedding model)

SIBLING = dict(title="光伏组件清洗机器人自动轨道换行技术",
               abstract="面向大型地面光伏电站的组件清洗机器人，采用无水毛刷与自动换行轨道，单台日清洗面积2万平方米。",
               keywords="光伏清洗,机器人,轨道换行")  # filed under the battery demand's own field, region and modes


@pytest.fixture
def judged_market(market, make_user, make_listing):
    """The web tests' market plus a same-field unrelated achievement whose structured fields fit the demand
    perfectly (field, region, modes, TRL, price) and a demand that nothing published answers."""
    uni3 = make_user("university", org="西北工学院")
    sibling = make_listing("achievement", uni3, reviewer=market["broker"], region="shaanxi",
                           modes=["joint", "commissioned"], trl=7, price=100.0, **SIBLING)
    lonely = make_listing("demand", market["company"], reviewer=market["broker"], title="城市道路病害车载视频自动巡检识别",
                          description="希望利用车载摄像头视频自动识别城市道路裂缝、坑槽等病害并定位上报，识别准确率90%以上。",
                          indicators="裂缝识别准确率≥90%", keywords="道路病害,视频识别,巡检",
                          field_code="new_energy.wind")
    return {**market, "sibling": sibling, "lonely": lonely}


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "judged.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def _pairs(m: dict) -> list[dict]:
    d = m["demand"]
    return [{"demand_id": d.id, "achievement_id": m["good"].id, "grade": 2},
            {"demand_id": d.id, "achievement_id": m["off"].id, "grade": 0},
            {"demand_id": d.id, "achievement_id": m["sibling"].id, "grade": 0},
            {"demand_id": m["lonely"].id, "achievement_id": m["good"].id, "grade": 0},
            {"demand_id": 99999, "achievement_id": 99998, "grade": 1, "demand_title": "不存在的需求",
             "achievement_title": "不存在的成果"}]


def test_a_same_field_unrelated_pair_stays_weak_whatever_its_structured_fields(app, session, judged_market):
    rt = app.extensions["matching"]
    m = judged_market
    views = {v.listing.id: v.match for v in rt.score_pairs(session, m["demand"], [m["good"].id, m["sibling"].id])}
    sib = views[m["sibling"].id]
    assert sib.breakdown["field"] == 1.0 and sib.breakdown["region"] == 1.0  # the structure fits perfectly
    assert sib.band == bands.WEAK and sib.score < bands.POSSIBLE_MIN
    assert views[m["good"].id].band != bands.WEAK and views[m["good"].id].score > 5 * sib.score
    # and the structure gave it nothing: the same texts without structured fields score the same
    matcher = rt.matcher("achievement", session)
    from services.indexing import to_doc
    doc = to_doc(m["demand"])
    bare = type(doc)(doc.id, doc.kind, doc.title, doc.body, keywords=doc.keywords)
    plain = matcher.score_pairs(bare, [m["sibling"].id], query_vec=rt.vectors.text(doc), title_vec=rt.vectors.title(doc))
    assert plain[0].score >= sib.score


def test_a_demand_with_nothing_relevant_shows_the_empty_state_on_the_page_and_in_the_api(app, client, login,
                                                                                       judged_market, zh):
    from services import tokens

    m = judged_market
    login(m["company"])
    page = client.get(f"/matches/demand/{m['lonely'].id}").get_data(as_text=True)
    assert zh("No strong match yet.") in page or zh("No achievement is a strong or possible match yet.") in page
    with app.app_context():
        from web.db import db
        _row, clear = tokens.create_token(db(), m["company"], "t")
        db().commit()
    body = app.test_client().get(f"/api/v1/demands/{m['lonely'].id}/matches",
                                 headers={"Authorization": f"Bearer {clear}"}).get_json()
    assert body["has_strong_match"] is False and body["message"]
    assert all(item["band"] != "strong" for item in body["items"])


def test_evaluate_judged_prints_the_agreed_keys(app, judged_market, tmp_path):
    path = _write(tmp_path, _pairs(judged_market))
    result = app.test_cli_runner().invoke(args=["matches", "evaluate-judged", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert {"pairs", "unresolved", "demands", "auc", "grade0_strong_share", "grade0_possible_share",
            "relevant_possible_share", "grade2_strong_share", "p@1", "ndcg@10", "empty_demands",
            "empty_demands_flagged", "ece"} <= set(out)
    assert (out["pairs"], out["unresolved"], out["demands"]) == (4, 1, 2)
    assert out["auc"] == 1.0 and out["grade0_possible_share"] == 0.0 and out["p@1"] == 1.0
    assert (out["empty_demands"], out["empty_demands_flagged"]) == (1, 1)


def test_titles_resolve_pairs_whose_ids_moved(session, judged_market):
    m = judged_market
    rows = [judged.Judged(1, 123456, 654321, 2, m["demand"].title, m["good"].title)]
    pairs, unresolved = judged.resolve(session, rows)
    assert unresolved == 0 and [(d.id, a.id, g) for d, a, g in pairs] == [(m["demand"].id, m["good"].id, 2)]


@pytest.mark.parametrize("content, says", [
    (None, "no such file"), ("", "no judged pairs"), ("[1, 2]\n", "not a JSON object"),
    ("{oops\n", "not a JSON object"), ('{"demand_id": 1, "achievement_id": 2, "grade": 3}\n', "grade must be 0, 1 or 2"),
    ('{"demand_id": true, "achievement_id": 2, "grade": 1}\n', "demand_id must be a positive integer"),
    ('{"demand_id": 99999999999999999999999, "achievement_id": 2, "grade": 1}\n', "positive integer"),
    ('{"achievement_id": 2, "grade": 1}\n', "needs an id or a title"),
])
def test_bad_judged_files_get_a_clear_message_and_no_traceback(app, tmp_path, content, says):
    path = tmp_path / "judged.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    for command in ("evaluate-judged", "calibrate"):
        result = app.test_cli_runner().invoke(args=["matches", command, str(path)])
        assert result.exit_code == 2 and says in result.output, (command, result.output)
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception,
                                                                                           SystemExit)


def test_a_folder_or_binary_file_is_refused(app, tmp_path):
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    for path, says in ((tmp_path, "is a folder"), (tmp_path / "bin.jsonl", "not UTF-8")):
        result = app.test_cli_runner().invoke(args=["matches", "evaluate-judged", str(path), "--json"])
        assert result.exit_code == 2 and says in result.output


def test_calibrate_refuses_too_few_pairs_counting_each_pair_once(app, judged_market, tmp_path):
    result = app.test_cli_runner().invoke(args=["matches", "calibrate", str(_write(tmp_path, _pairs(judged_market)[:4]))])
    assert result.exit_code == 2 and "too few judged pairs" in result.output  # 4 pairs cannot be fit
    # the same 3 pairs judged 4 times each: a repeated pair counts once (its first line), still too few
    out = tmp_path / "cal.json"
    many = [dict(r, grade=g) for r in _pairs(judged_market)[:3] for g in (0, 1, 0, 2)]
    result = app.test_cli_runner().invoke(args=["matches", "calibrate", str(_write(tmp_path, many)), "--out",
                                                str(out)])
    assert result.exit_code == 2 and "(0 relevant, 3 not" in result.output and not out.exists()


def test_a_bom_is_not_data_and_unresolved_lines_are_named(app, judged_market, tmp_path):
    path = tmp_path / "bom.jsonl"
    rows = _pairs(judged_market)
    path.write_text("\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["matches", "evaluate-judged", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["pairs"] == 4 and list(out["unresolved_lines"]) == ["5"]
    assert "not published here" in out["unresolved_lines"]["5"]


def test_nothing_resolving_is_an_error_not_a_zero(app, tmp_path):
    path = _write(tmp_path, [{"demand_id": 99999, "achievement_id": 99998, "grade": 1}])
    for command in ("evaluate-judged", "calibrate"):
        result = app.test_cli_runner().invoke(args=["matches", command, str(path)])
        assert result.exit_code == 2 and "none of the 1 judged pairs resolves" in result.output, result.output


def test_calibrate_refuses_an_unwritable_out_before_fitting(app, tmp_path):
    path = _write(tmp_path, [{"demand_id": 1, "achievement_id": 2, "grade": 1}])
    result = app.test_cli_runner().invoke(args=["matches", "calibrate", str(path), "--out",
                                                str(tmp_path / "missing" / "dir" / "c.json")])
    assert result.exit_code == 2 and "does not exist or is not writable" in result.output
    assert not (tmp_path / "missing").exists()
