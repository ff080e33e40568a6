"""The service directory's services: entries, review, search, double opt-in contacts and provider matching."""
from __future__ import annotations

from typing import Any

import pytest

from services import directory
from services.errors import NotFound, ServiceError


@pytest.fixture(autouse=True)
def _no_index(monkeypatch):
    """Published listings would sync the search index at commit (the embedding model): not in these tests."""
    from services.index_sync import IndexSync
    monkeypatch.setattr(IndexSync, "on_commit", lambda self, changed: None)


def entry(**over: Any) -> dict[str, Any]:
    data = {"kind": "pilot", "name": "西安光电显示中试平台", "description": "Micro LED 巨量转移与检测修复中试线，提供试生产服务。",
            "field_codes": ["photonics.display"], "region": "shaanxi", "services": "中试验证、小批量试生产",
            "equipment": "巨量转移设备、AOI检测", "capacity": "月产能2000片", "stages": [], "ticket_min": None,
            "ticket_max": None, "website": "https://pilot.example.cn", "contact_name": "王工",
            "contact_phone": "029-88886666", "contact_email": "pilot.canary@example.cn"}
    data.update(over)
    return data


@pytest.fixture
def world(session, make_user):
    return {"provider": make_user("provider"), "broker": make_user("broker"), "company": make_user("company"),
            "other": make_user("provider")}


def published(session, world, **over: Any):
    p = directory.create(session, world["provider"], entry(**over))
    directory.transition(session, p, world["provider"], "submit")
    directory.transition(session, p, world["broker"], "approve")
    session.commit()
    return p


def test_lifecycle_and_visibility(session, world):
    p = directory.create(session, world["provider"], entry())
    assert p.status == "draft" and p.region_id is not None and "micro led" in p.search_text
    with pytest.raises(NotFound):
        directory.get(session, p.id, world["company"])
    assert directory.get(session, p.id, world["broker"]) is p
    with pytest.raises(NotFound):  # another provider cannot submit it
        directory.transition(session, p, world["other"], "submit")
    directory.transition(session, p, world["provider"], "submit")
    with pytest.raises(ServiceError) as err:
        directory.transition(session, p, world["broker"], "return", "  ")
    assert err.value.code == "directory.reason_required"
    directory.transition(session, p, world["broker"], "return", "补充设备清单")
    assert p.status == "returned" and p.review_note == "补充设备清单"
    directory.update(session, p, world["provider"], entry(equipment="巨量转移设备、激光修复机"))
    directory.transition(session, p, world["provider"], "submit")
    directory.transition(session, p, world["broker"], "approve")
    assert p.status == "published" and p.review_note is None
    assert directory.get(session, p.id, None) is p


@pytest.mark.parametrize("over,code", [
    ({"kind": "bank"}, "directory.bad_kind"), ({"name": "x"}, "directory.text_length"),
    ({"field_codes": []}, "directory.no_field"), ({"field_codes": ["nope"]}, "directory.bad_fields"),
    ({"region": "atlantis"}, "directory.bad_region"), ({"contact_email": "nobody"}, "directory.bad_email"),
    ({"website": "ftp://x"}, "directory.bad_website"),
    ({"kind": "investor", "stages": ["z"]}, "directory.bad_stages"),
    ({"kind": "investor", "ticket_min": -1}, "directory.bad_ticket"),
    ({"kind": "investor", "ticket_min": 500, "ticket_max": 100}, "directory.ticket_order"),
])
def test_bad_values_are_refused_with_their_field(session, world, over, code):
    with pytest.raises(ServiceError) as err:
        directory.create(session, world["provider"], entry(**over))
    assert err.value.code == code and err.value.params.get("field")


def test_only_providers_create_entries(session, world):
    with pytest.raises(ServiceError) as err:
        directory.create(session, world["company"], entry())
    assert err.value.code == "directory.wrong_role"


def test_investor_values_kept_only_for_investors(session, world):
    inv = directory.create(session, world["provider"], entry(kind="investor", stages=["a", "seed"], ticket_min=100,
                                                             ticket_max=2000))
    assert inv.stages == ["seed", "a"] and inv.ticket_max == 2000 and inv.equipment == ""
    lab = directory.create(session, world["provider"], entry(kind="lab", stages=["a"], ticket_min=100))
    assert lab.stages == [] and lab.ticket_min is None and lab.equipment


def test_search_filters(session, world):
    pilot = published(session, world)
    lab = published(session, world, kind="lab", name="陕西电池检测中心", description="动力电池安全检测与认证服务。",
                    field_codes=["new_energy.battery"], region="jiangsu")
    directory.create(session, world["provider"], entry(name="草稿平台"))
    session.commit()

    def ids(**f):
        return [p.id for p in session.scalars(directory.search_stmt(session, directory.DirectoryFilter(**f), None))]

    assert set(ids()) == {pilot.id, lab.id}
    assert ids(kind="lab") == [lab.id]
    assert ids(field="new_energy") == [lab.id] and ids(field="photonics.display") == [pilot.id]
    assert ids(region="jiangsu") == [lab.id] and ids(region="shaanxi") == [pilot.id]
    assert ids(q="micro led") == [pilot.id] and ids(q="检测 认证") == [lab.id]
    assert ids(region="nowhere") == []
    reviewer_view = directory.search_stmt(session, directory.DirectoryFilter(status="draft"), world["broker"])
    assert [p.name for p in session.scalars(reviewer_view)] == ["草稿平台"]


def test_contact_double_opt_in(session, world):
    p = published(session, world)
    company = world["company"]
    assert not directory.can_see_contact(session, company, p)
    req = directory.request_contact(session, company, p, "想预约中试")
    with pytest.raises(ServiceError) as err:
        directory.request_contact(session, company, p)
    assert err.value.code == "directory.already_requested"
    with pytest.raises(ServiceError):
        directory.request_contact(session, world["provider"], p)
    assert not directory.can_see_contact(session, company, p)
    with pytest.raises(NotFound):  # only the provider's owner answers
        directory.answer(session, req, world["other"], True)
    directory.answer(session, req, world["provider"], True)
    assert directory.can_see_contact(session, company, p)
    assert not directory.can_see_contact(session, world["other"], p)
    directory.withdraw(session, req, company)
    assert not directory.can_see_contact(session, company, p)
    again = directory.request_contact(session, company, p)  # a withdrawn request may be asked again
    directory.answer(session, again, world["provider"], False)
    assert not directory.can_see_contact(session, company, p)


def test_needs_of_text():
    assert directory.needs_of("需要建设中试线并完成检测认证") == ["pilot", "testing"]
    assert directory.needs_of("寻求A轮融资") == ["finance"]
    assert directory.needs_of("提升循环寿命", min_trl=5) == ["pilot"]
    assert directory.needs_of("提升循环寿命", min_trl=8) == []


def test_providers_for_a_demand_needing_pilot_production(session, world, make_listing):
    pilot = published(session, world)
    published(session, world, kind="pilot", name="宝鸡钛合金中试基地", description="钛合金熔炼锻造中试放大。",
              field_codes=["new_materials.metal"], region="shaanxi")
    published(session, world, kind="ip", name="专利代理所", description="专利申请与布局服务，显示技术方向。",
              field_codes=["photonics.display"])
    demand = make_listing("demand", world["company"], reviewer=world["broker"], title="Micro LED巨量转移良率提升",
                          description="公司正在建设Micro LED显示模组中试线，希望引进巨量转移及快速检测修复技术。",
                          field_code="photonics.display", keywords="Micro LED,巨量转移", min_trl=None)
    needs, fits = directory.providers_for_demand(session, demand)
    assert needs == ["pilot", "testing"]
    assert fits and fits[0].provider.id == pilot.id and fits[0].field_fit == "sub"
    assert all(f.provider.kind in ("pilot", "poc", "lab") for f in fits)
    plain = make_listing("demand", world["company"], reviewer=world["broker"], min_trl=None,
                         description="希望通过表面包覆提升高镍正极循环寿命，满足动力电池要求。", indicators="")
    assert directory.providers_for_demand(session, plain) == ([], [])


def test_investors_for_an_achievement_that_looks_for_finance(session, world, make_listing, make_user):
    inv = published(session, world, kind="investor", name="秦创原种子基金", description="投资新能源早期项目。",
                    field_codes=["new_energy"], stages=["seed", "angel"], ticket_min=100, ticket_max=1000)
    uni = make_user("university")
    ach = make_listing("achievement", uni, reviewer=world["broker"],
                       abstract="固态电池电解质技术，寻求融资建设中试线，已完成实验室验证。")
    wants, fits = directory.investors_for_achievement(session, ach)
    assert wants and [f.provider.id for f in fits] == [inv.id]
    quiet = make_listing("achievement", uni, reviewer=world["broker"], modes=["license"])
    assert directory.investors_for_achievement(session, quiet) == (False, [])


@pytest.mark.slow  # seeds the whole demo
def test_the_demo_directory_shows_a_pilot_platform_on_the_micro_led_demand(tmp_path):
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from migrations import runner
    from models import Demand, Provider
    from services import seed

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner.upgrade(url)
    with Session(create_engine(url)) as s:
        seed.load_demo(s)
        s.commit()
        counts = dict(s.execute(select(Provider.kind, func.count()).group_by(Provider.kind)).all())
        assert set(counts) == {"agency", "pilot", "poc", "lab", "ip", "investor", "expert"}
        assert all(n == 12 for n in counts.values())
        assert s.scalar(select(func.count()).select_from(Provider).where(Provider.status == "submitted")) == 2
        places = set(s.scalars(select(Provider.region)))
        assert places <= {"xian_gaoxin", "xian_yanta", "xian_beilin", "xian_changan", "xian_jingkai", "xian_hangtian",
                          "xian_weiyang", "xixian", "xianyang", "baoji_gaoxin", "xian", "shaanxi"}
        assert None not in set(s.scalars(select(Provider.region_id)))
        demand = s.scalar(select(Demand).where(Demand.title == "Micro LED巨量转移良率与坏点修复效率提升"))
        assert demand.status == "published"
        needs, fits = directory.providers_for_demand(s, demand)
        assert "pilot" in needs and fits[0].provider.name == "西安光电显示中试平台"
