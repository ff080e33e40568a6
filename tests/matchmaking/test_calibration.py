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
