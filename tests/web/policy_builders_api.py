"""Matrix builders for the REST API's workbench cells (match reports, feedback, roadshows).

Not a test module: tests/web/policy_builders.py merges API_BUILDERS into FEATURE_BUILDERS (one line at its
end). The helpers of policy_builders are imported inside the builders, so either module may be imported
first. A builder takes (world, role) and returns (url, JSON body); allowed roles reach the view with a valid
object of their own and get 200/201, the others are refused by the policy (401/403).
"""
from __future__ import annotations

from typing import Any, Callable

Builder = Callable[[Any, str], tuple[str, dict]]


def _pb() -> Any:
    from tests.web import policy_builders
    return policy_builders


def _report_post(w: Any, role: str) -> tuple[str, dict]:
    """A single report (201) on a published demand: a batch would answer 202."""
    demand = w.listing("demand", w.users["company"])
    return "/api/v1/reports/", {"scope": "demand", "listing_id": demand.id, "k": 3}


def _report_get(w: Any, role: str) -> tuple[str, dict]:
    return f"/api/v1/reports/{_pb()._report(w, role).id}", {}


def _feedback_pair(w: Any, role: str) -> tuple[int, int]:
    """A fresh pair whose owners (the role's user on its side) accepted an introduction."""
    url, _data = _pb()._feedback(w, role)  # "/feedback/<demand_id>/<achievement_id>"
    demand_id, achievement_id = (int(part) for part in url.rstrip("/").split("/")[-2:])
    return demand_id, achievement_id


def _feedback_post(w: Any, role: str) -> tuple[str, dict]:
    demand_id, achievement_id = _feedback_pair(w, role)
    return "/api/v1/feedback/", {"demand_id": demand_id, "achievement_id": achievement_id, "outcome": "relevant",
                                 "reason": "price_gap"}


def _feedback_get(w: Any, role: str) -> tuple[str, dict]:
    demand_id, achievement_id = _feedback_pair(w, role)
    return f"/api/v1/feedback/?demand_id={demand_id}&achievement_id={achievement_id}", {}


def _roadshow_get(w: Any, role: str) -> tuple[str, dict]:
    """A roadshow of the acting broker/admin with the university presenting and the company invited."""
    return f"/api/v1/roadshows/{_pb()._roadshow(w, role, meeting=True)['id']}", {}


API_BUILDERS: dict[tuple[str, str], Builder] = {
    ("api_reports.Collection", "GET"): lambda w, r: ("/api/v1/reports/?per_page=5", {}),
    ("api_reports.Collection", "POST"): _report_post,
    ("api_reports.Item", "GET"): _report_get,
    ("api_feedback.Collection", "POST"): _feedback_post,
    ("api_feedback.Collection", "GET"): _feedback_get,
    ("api_roadshows.Collection", "GET"): lambda w, r: ("/api/v1/roadshows/", {}),
    ("api_roadshows.Item", "GET"): _roadshow_get,
}
