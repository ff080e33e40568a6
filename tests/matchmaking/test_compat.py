"""Structured compatibility."""
import pytest

from matchmaking.compat import compatibility, structured_score
from matchmaking.documents import Listing


def demand(**kw):
    return Listing(1, "demand", "需求", "", **kw)


def ach(**kw):
    return Listing(2, "achievement", "成果", "", **kw)


def test_field_levels():
    d = demand(field="new_energy.battery")
    assert compatibility(d, ach(field="new_energy.battery"))["field"].value == 1.0
    assert compatibility(d, ach(field="new_energy.solar"))["field"].value == 0.6
    assert compatibility(d, ach(field="medicine.drug"))["field"].value == 0.0


def test_maturity_reached_or_short():
    assert compatibility(demand(trl=6), ach(trl=7))["maturity"].value == 1.0
    short = compatibility(demand(trl=6), ach(trl=4))["maturity"]
    assert short.value == 0.5 and short.reason == "trl_short:2"


def test_budget_within_negotiable_and_over():
    d = demand(budget_min=50, budget_max=100)
    assert compatibility(d, ach(price=80))["budget"].value == 1.0
    assert compatibility(d, ach(price=300, negotiable=True))["budget"].value == 0.7
    over = compatibility(d, ach(price=125))["budget"]
    assert over.value == pytest.approx(0.75) and over.reason == "over_budget:25%"
    assert compatibility(d, ach(price=500))["budget"].value == 0.0


def test_region_same_national_other():
    assert compatibility(demand(region="广东"), ach(region="广东"))["region"].value == 1.0
    assert compatibility(demand(region="广东"), ach(region="全国"))["region"].value == 0.8
    assert compatibility(demand(region="广东"), ach(region="江苏"))["region"].value == 0.5


def test_modes_overlap():
    d = demand(modes=frozenset({"license", "transfer"}))
    assert compatibility(d, ach(modes=frozenset({"license"})))["mode"].value == 0.75
    assert compatibility(d, ach(modes=frozenset({"joint"})))["mode"].value == 0.0


def test_missing_data_is_neutral_and_never_crashes():
    comps = compatibility(demand(), ach())
    assert all(not c.known and c.value == 0.5 for c in comps.values())
    assert structured_score(comps) is None


def test_order_of_arguments_does_not_matter():
    d, a = demand(trl=7, field="a.b"), ach(trl=5, field="a.c")
    assert compatibility(d, a) == compatibility(a, d)


def test_structured_score_ignores_unknown_components():
    comps = compatibility(demand(field="a.b"), ach(field="a.b"))
    assert structured_score(comps) == 1.0
