"""Matrix builders for the broker operations (issue 21 part 4); merged into FEATURE_BUILDERS by
tests/web/policy_builders.py. Each builder makes its own object: an open demand for the queue and assignment, a
demand entered for the acting company (or the matrix company for other roles), a routing rule."""
from __future__ import annotations

from typing import Any


def _company(w: Any, role: str) -> Any:
    return w.users["company"] if role != "company" else w.users[role]


def _open_demand(w: Any, role: str) -> int:
    return w.listing("demand", w.users["company"], status="submitted").id


def _entered(w: Any, role: str) -> int:
    from services import brokerage_entries
    from tests.conftest import demand_data

    with w.factory() as s:
        broker = s.get(type(w.users["broker"]), w.users["broker"].id)
        demand = brokerage_entries.enter_for_company(s, broker, _company(w, role).id, demand_data(title="经纪人代录的需求"))
        s.commit()
        return demand.id


def _rule(w: Any) -> int:
    """The matrix's routing rule, made once per world (an exact copy of an active rule is refused), again after a
    case deleted it."""
    from sqlalchemy import select

    from models import RoutingRule
    from services import brokerage

    with w.factory() as s:
        existing = s.scalar(select(RoutingRule.id).where(RoutingRule.name == "矩阵规则"))
        if existing is not None:
            return existing
        admin = s.get(type(w.users["admin"]), w.users["admin"].id)
        rule = brokerage.save_rule(s, admin, None, {"name": "矩阵规则", "field_code": "", "region_code": "jiangsu",
                                                   "priority": 0, "active": True,
                                                   "broker_ids": [w.users["broker"].id]})
        s.commit()
        return rule.id


def _broker_arg(w: Any, role: str) -> str:
    return f"?broker={w.users['broker'].id}" if role == "admin" else ""


BROKERAGE_BUILDERS = {
    ("brokerage.caseload", "GET"): lambda w, r: (f"/caseload/{_broker_arg(w, r)}", {}),
    ("brokerage.overdue", "GET"): lambda w, r: ("/caseload/overdue?days=1", {}),
    ("brokerage.assign", "POST"): lambda w, r: (f"/caseload/{_open_demand(w, r)}/assign",
                                                {"broker_id": str(w.users["broker"].id)}),
    ("brokerage.enter", "GET"): lambda w, r: ("/caseload/enter", {}),
    ("brokerage.enter", "POST"): lambda w, r: ("/caseload/enter", {}),
    ("brokerage.confirm", "GET"): lambda w, r: (f"/entered/{_entered(w, r)}", {}),
    ("brokerage.confirm", "POST"): lambda w, r: (f"/entered/{_entered(w, r)}", {"intent": "confirm"}),
    ("brokerage.rules", "GET"): lambda w, r: ("/admin/routing/", {}),
    ("brokerage.rule_new", "GET"): lambda w, r: ("/admin/routing/new", {}),
    ("brokerage.rule_new", "POST"): lambda w, r: ("/admin/routing/new", {}),
    ("brokerage.rule_edit", "GET"): lambda w, r: (f"/admin/routing/{_rule(w)}", {}),
    ("brokerage.rule_edit", "POST"): lambda w, r: (f"/admin/routing/{_rule(w)}", {}),
    ("brokerage.rule_delete", "POST"): lambda w, r: (f"/admin/routing/{_rule(w)}/delete", {}),
    ("brokerage.profile", "GET"): lambda w, r: ("/brokers/profile", {}),
    ("brokerage.profile", "POST"): lambda w, r: ("/brokers/profile", {"training_hours": "12"}),
    ("brokerage.profiles", "GET"): lambda w, r: ("/brokers/", {}),
    ("broker_stats.table", "GET"): lambda w, r: ("/statistics/brokers/?since=2026-01-01", {}),
    ("broker_stats.csv", "GET"): lambda w, r: ("/statistics/brokers/brokers.csv", {}),
    ("api_brokerage.caseload", "GET"): lambda w, r: (f"/api/v1/brokerage/caseload{_broker_arg(w, r)}", {}),
    ("api_brokerage.overdue", "GET"): lambda w, r: ("/api/v1/brokerage/overdue?days=1", {}),
    ("api_brokerage.rules", "GET"): lambda w, r: ("/api/v1/brokerage/rules", {}),
    ("api_brokerage.profile", "GET"): lambda w, r: ("/api/v1/brokerage/profile", {}),
    ("api_brokerage.profile_update", "PUT"): lambda w, r: ("/api/v1/brokerage/profile",
                                                           {"certificate_level": "junior", "training_hours": 8}),
    ("api_brokerage.performance", "GET"): lambda w, r: ("/api/v1/brokerage/performance?since=2026-01-01", {}),
}
