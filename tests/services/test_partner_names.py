"""Partners of a joint challenge application are typed by their registered names: compared as people write them
(full- or half-width brackets, spacing, case), the verified organisation meant where a newer registration took the
same name, and every name that matches none or several alike refused, naming it."""
from __future__ import annotations

import pytest

from models import OrgKind, Organisation
from services import challenge_race as races
from services.errors import ServiceError


@pytest.fixture
def orgs(session, make_user):
    def add(name, kind=OrgKind.UNIVERSITY.value, verified=False):
        org = Organisation(name=name, kind=kind, verified=verified)
        session.add(org)
        session.flush()
        return org.id

    ids = {"brackets": add("西安交通大学储能研究院（顾问）"), "spaced": add("Beta  Labs", OrgKind.COMPANY.value),
           "real": add("关中工业大学", verified=True), "squatter": add("关中工业大学", OrgKind.COMPANY.value),
           "twin_a": add("秦岭材料"), "twin_b": add("秦岭材料", OrgKind.COMPANY.value),
           "agency": add("某技术转移中心", OrgKind.AGENCY.value)}
    session.commit()
    return ids, make_user("company", org="申报企业")


def test_names_compare_as_people_write_them(session, orgs):
    ids, applicant = orgs
    typed = "西安交通大学储能研究院(顾问)\n beta labs 、ＢＥＴＡ　Labs；关中工业大学"
    assert races.partner_ids_named(session, applicant, typed) == [ids["brackets"], ids["spaced"], ids["real"]]
    assert races.partner_ids_named(session, applicant, "Beta  Labs") == [ids["spaced"]]
    assert races.partner_ids_named(session, applicant, " \n、 ") == []


@pytest.mark.parametrize("typed, code, names", [
    ("秦岭材料", "race.ambiguous_partner", "秦岭材料"),
    ("关中工业大学\n不存在的公司\n某技术转移中心", "race.unknown_partner", "不存在的公司、某技术转移中心"),
    ("x" * 201, "race.unknown_partner", "x" * 40 + "…"),
    ("\n".join(f"伙伴{i}" for i in range(6)), "race.partners_many", None),
    ("申报企业", "race.own_partner", None),
])
def test_names_that_do_not_resolve_are_named(session, orgs, typed, code, names):
    _ids, applicant = orgs
    with pytest.raises(ServiceError) as err:
        races.partner_ids_named(session, applicant, typed)
    assert err.value.code == code
    if names is not None:
        assert err.value.params["names"] == names
