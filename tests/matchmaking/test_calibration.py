"""The score calibration: fitting, loading, and how structured fields may move a pair (no model needed)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from matchmaking import bands, calibration
from matchmaking.calibration import Calibration, CalibrationError, Stratum


def _stratum() -> Stratum:
    return Stratum(("fused",), (4.0,), 0.0, (0.5,), (0.1,))


def test_the_shipped_calibration_has_every_stratum_and_is_monotone_in_the_text_score():
    cal = calibration.load()
    assert {"demand", "achievement", "text"} <= set(cal.strata)
    for name, stratum in cal.strata.items():
        assert stratum.pairs > 0 and stratum.positives > 0, name  # fitted, not typed in
    fused = np.linspace(0.0, 1.0, 50)
    p = cal.probability(cal.strata["text"].logit({"fused": fused}))
    assert np.all(np.diff(p) > 0) and 0 < p[0] < p[-1] < 1


def test_a_fit_recovers_which_side_is_relevant_and_is_calibrated_in_the_large():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, 4000)
    truth = 1 / (1 + np.exp(-(12 * x - 8)))
    y = rng.uniform(0, 1, 4000) < truth
    s = calibration.fit_stratum({"fused": x}, y, ("fused",))
    p = Calibration({"text": s}).probability(s.logit({"fused": x}))
    assert s.weights[0] > 0 and abs(p.mean() - y.mean()) < 0.01
    assert calibration.ece(p, y) < 0.03
    assert np.allclose(p, truth, atol=0.06)


def test_too_few_judged_pairs_are_refused_with_a_message():
    with pytest.raises(CalibrationError, match="too few judged pairs"):
        calibration.fit_stratum({"fused": [0.1, 0.9] * 4}, [False, True] * 4, ("fused",))


@pytest.mark.parametrize("content, says", [
    (None, "not found"), ("{not json", "unreadable"), ('{"format": 99, "strata": {}}', "refit"),
    ('{"format": 1, "strata": {"demand": {"features": ["fused"], "weights": [1], "bias": 0, "mean": [0], '
     '"std": [1]}}}', "refit"),  # no text stratum
    ('{"format": 1, "strata": {"text": {"features": ["colour"], "weights": [1], "bias": 0, "mean": [0], '
     '"std": [1]}}}', "refit"),  # a feature the engine does not compute
    ('{"format": 1, "strata": {"text": {"features": ["fused"], "weights": [NaN], "bias": 0, "mean": [0], '
     '"std": [1]}}}', "refit"),  # NaN would read as 99 everywhere
    ('{"format": 1, "strata": {"text": {"features": ["title_cos"], "weights": [1], "bias": 0, "mean": [0], '
     '"std": [1]}}}', "refit"),  # an untitled query has no title features
])
def test_a_broken_calibration_file_says_what_is_wrong(tmp_path, content, says):
    path = tmp_path / "calibration.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CalibrationError, match=says) as err:
        calibration.load(path)
    assert "校准" in str(err.value)


def test_save_and_load_round_trip(tmp_path):
    cal = Calibration({"text": _stratum()}, structured_logit=0.4)
    again = calibration.load(cal.save(tmp_path / "c.json"))
    assert again.strata["text"] == cal.strata["text"] and again.structured_logit == 0.4
    assert json.loads((tmp_path / "c.json").read_text())["format"] == calibration.FORMAT


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_structured_fields_never_lift_a_pair_that_is_weak_on_its_text():
    cal = Calibration({"text": _stratum()}, structured_logit=0.5)
    weak = _logit(bands.POSSIBLE_MIN / 100 * 0.9)
    z = np.array([weak, weak, weak])
    p = cal.probability(z, np.array([1.0, np.nan, 0.0]))
    assert p[0] == pytest.approx(p[1])  # perfect structure: no lift at all
    assert p[2] < p[1]  # poor structure still lowers it
    assert all(bands.band_of(100 * x) == bands.WEAK for x in p)


def test_structured_fields_move_a_text_relevant_pair_both_ways_within_the_bound():
    cal = Calibration({"text": _stratum()}, structured_logit=0.5)
    z = np.full(3, _logit(0.5))
    p = cal.probability(z, np.array([1.0, 0.5, 0.0]))
    assert p[0] > p[1] > p[2] and p[1] == pytest.approx(0.5)
    assert _logit(p[0]) - _logit(0.5) == pytest.approx(0.5) and _logit(0.5) - _logit(p[2]) == pytest.approx(0.5)


def test_reliability_bins_report_predicted_against_observed():
    p = np.array([0.01, 0.02, 0.5, 0.55, 0.9, 0.95])
    y = np.array([False, False, True, False, True, True])
    rows = calibration.reliability(p, y)
    assert [(r["pairs"], r["observed"]) for r in rows] == [(2, 0.0), (2, 0.5), (2, 1.0)]
    assert calibration.ece(p, y) == pytest.approx((0.015 * 2 + 0.025 * 2 + 0.075 * 2) / 6)


def test_bands_are_ordered_probabilities():
    assert 0 < bands.POSSIBLE_MIN < bands.STRONG_MIN < 100
    assert [bands.band_of(x) for x in (bands.STRONG_MIN, bands.POSSIBLE_MIN, bands.POSSIBLE_MIN - 0.1)] == [
        bands.STRONG, bands.POSSIBLE, bands.WEAK]


def test_head_coverage_is_the_share_of_the_heads_idf_mass_the_query_holds():
    from matchmaking.lexical import LexicalIndex
    from matchmaking.text import split_sentences

    texts = {1: "钙钛矿太阳能电池\n钙钛矿,封装\n采用原子层沉积封装钙钛矿电池。", 2: "水稻育种\n分子标记\n抗病水稻品种选育。",
             3: "锂电池回收\n黑粉,湿法\n湿法回收锂电池黑粉中的锂钴镍。"}
    index = LexicalIndex.build(list(texts), list(texts.values()))
    terms = index.query_terms("钙钛矿电池的封装寿命")
    heads = [len(split_sentences("\n".join(texts[i].split("\n")[:2]))) for i in texts]
    got = index.head_coverage(terms, [1, 2, 3, 99], heads + [2])
    for j, i in enumerate(texts):  # the same figure, computed the slow way
        r = index.rows([i])[0]
        s0 = index._doc_sent[r]
        toks = np.unique(index._tok[index._sent_ptr[s0]:index._sent_ptr[s0 + heads[j]]])
        want = index.idf[toks[np.isin(toks, terms.ids)]].sum() / index.idf[toks].sum()
        assert got[j] == pytest.approx(want, abs=1e-6)
    assert got[0] > 0.5 and got[1] == 0.0 and got[3] == 0.0  # 99: not indexed


def test_a_running_platform_picks_up_a_first_refit_and_falls_back_from_a_broken_one(tmp_path, monkeypatch):
    from services import matchers as matching

    runtime = object.__new__(matching.MatcherSet)  # only the calibration part: no database, no model
    config = {"INSTANCE_DIR": str(tmp_path), "CALIBRATION_FILE": ""}
    runtime._config, runtime._lock, runtime._matchers = config, __import__("threading").RLock(), {}
    runtime._model_folder = lambda: None  # the configured model serves (no adapted version with its own refit)
    runtime.calibration_path = matching.calibration_path(config)
    runtime._calibration = matching.load_calibration(runtime.calibration_path)
    runtime._calibration_seen = (0.0, matching._mtime(runtime.calibration_path))
    assert runtime.calibration.source == str(calibration.SHIPPED)
    refit = Calibration({"text": _stratum()}, structured_logit=0.3).save(tmp_path / "calibration.json")
    runtime._calibration_seen = (0.0, runtime._calibration_seen[1])  # a second has passed
    assert runtime.calibration.source == str(refit) and runtime.calibration.structured_logit == 0.3
    refit.write_text("{broken", encoding="utf-8")
    assert matching.load_calibration(refit).source == str(calibration.SHIPPED)


def test_a_serving_model_version_uses_its_own_refit_first(tmp_path):
    from services.matchers import calibration_path

    version = tmp_path / "versions" / "adapted"
    version.mkdir(parents=True)
    config = {"INSTANCE_DIR": str(tmp_path), "CALIBRATION_FILE": ""}
    instance_refit = Calibration({"text": _stratum()}).save(tmp_path / "calibration.json")
    assert calibration_path(config, str(version)) == instance_refit  # the version has none: the instance's
    own = Calibration({"text": _stratum()}).save(version / "calibration.json")
    assert calibration_path(config, str(version)) == own
    assert calibration_path(config, None) == instance_refit
    assert calibration_path({**config, "CALIBRATION_FILE": str(instance_refit)}, str(version)) == instance_refit
