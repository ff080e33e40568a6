"""Matrix builders for the contract register, the region hierarchy and contract statistics (issue 20); merged
into FEATURE_BUILDERS by tests/web/policy_builders.py. Objects belong to the acting staff member where it
matters (an import batch is its uploader's only)."""
from __future__ import annotations

import itertools
from datetime import date
from typing import Any

_n = itertools.count(1)
STAFF = ("broker", "admin")


def _staff(w: Any, role: str) -> Any:
    return w.users[role] if role in STAFF else w.users["broker"]


def _contract_values() -> dict:
    return {"reg_number": f"6199{next(_n):012d}", "name": "矩阵测试合同", "contract_type": "license",
            "status": "registered", "seller_name": "某大学", "seller_nature": "120", "seller_region": "shaanxi",
            "buyer_name": "某公司", "buyer_nature": "230", "buyer_region": "jiangsu", "amount": "10",
            "tech_amount": "8", "signed_on": date(2026, 1, 5), "registered_on": date(2026, 1, 6)}


def _contract(w: Any, role: str) -> Any:
    from services import contracts

    with w.factory() as s:
        actor = s.get(type(w.users["broker"]), _staff(w, role).id)
        row = contracts.create_contract(s, actor, _contract_values())
        s.commit()
        return row


def _batch(w: Any, role: str) -> Any:
    from services import contract_imports

    values = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in _contract_values().items()}
    with w.factory() as s:
        owner = s.get(type(w.users["broker"]), _staff(w, role).id)
        batch = contract_imports.start_batch(s, owner, "matrix.xlsx", [{"n": 3, "values": values}])
        s.commit()
        return batch


def _region_id(w: Any) -> int:
    from sqlalchemy import select

    from models import Region
    with w.factory() as s:
        return s.scalar(select(Region.id).where(Region.code == "shaanxi"))


CONTRACT_BUILDERS = {
    ("contracts.index", "GET"): lambda w, r: ("/contracts/?region=shaanxi", {}),
    ("contracts.new", "GET"): lambda w, r: ("/contracts/new", {}),
    ("contracts.new", "POST"): lambda w, r: ("/contracts/new", {}),
    ("contracts.edit", "GET"): lambda w, r: (f"/contracts/{_contract(w, r).id}/edit", {}),
    ("contracts.edit", "POST"): lambda w, r: (f"/contracts/{_contract(w, r).id}/edit", {}),
    ("contracts.export", "GET"): lambda w, r: ("/contracts/export.xlsx", {}),
    ("contracts.template", "GET"): lambda w, r: ("/contracts/template.xlsx", {}),
    ("contracts.upload", "GET"): lambda w, r: ("/contracts/import", {}),
    ("contracts.upload", "POST"): lambda w, r: ("/contracts/import", {}),
    ("contracts.preview", "GET"): lambda w, r: (f"/contracts/import/{_batch(w, r).id}", {}),
    ("contracts.preview", "POST"): lambda w, r: (f"/contracts/import/{_batch(w, r).id}", {"confirm": "1"}),
    ("regions.index", "GET"): lambda w, r: ("/admin/regions/", {}),
    ("regions.edit", "GET"): lambda w, r: (f"/admin/regions/{_region_id(w)}/edit", {}),
    ("regions.edit", "POST"): lambda w, r: (f"/admin/regions/{_region_id(w)}/edit", {}),
    ("regions.new", "GET"): lambda w, r: ("/admin/regions/new", {}),
    ("regions.new", "POST"): lambda w, r: ("/admin/regions/new", {}),
    ("contract_stats.dashboard", "GET"): lambda w, r: ("/contracts/statistics/?region=shaanxi&kind=year&year=2026", {}),
    ("contract_stats.table", "GET"): lambda w, r: ("/contracts/statistics/by_type.csv?region=shaanxi", {}),
    ("contract_stats.targets", "GET"): lambda w, r: ("/contracts/statistics/targets", {}),
    ("contract_stats.targets", "POST"): lambda w, r: ("/contracts/statistics/targets", {}),
    ("api_regions.index", "GET"): lambda w, r: ("/api/v1/regions/", {}),
    ("api_contracts.index", "GET"): lambda w, r: ("/api/v1/contracts/?region=shaanxi", {}),
    ("api_contracts.detail", "GET"): lambda w, r: (f"/api/v1/contracts/{_contract(w, r).id}", {}),
}
