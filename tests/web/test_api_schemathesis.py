"""Schema-driven API tests: schemathesis against /api/v1/openapi.json, in-process (WSGI), per role.

For each role (anonymous, company, university, broker, admin) and each operation, schemathesis generates
valid requests (positive) and invalid ones (negative) and checks: no 5xx, status codes and bodies that match
the document, invalid input rejected, and no operation that needs a token working without one.
Examples are limited (derandomised, so a failure reproduces) to keep the run around a minute.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)
from services import clock

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

ROLES = [None, "company", "university", "broker", "admin"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 6}


@pytest.fixture
def world(app, make_user, make_listing, session):
    """Users of every role with tokens, and listings in several states."""
    from services import tokens
    users = {r: make_user(r) for r in ROLES if r}
    broker = users["broker"]
    ids = {"demand": [make_listing("demand", users["company"], "published", reviewer=broker).id,
                      make_listing("demand", users["company"], "draft").id],
           "achievement": [make_listing("achievement", users["university"], "published", reviewer=broker).id,
                           make_listing("achievement", users["university"], "submitted").id]}
    ids.update(_workbench_ids(app, session, users, ids))
    headers = {None: {}}
    for role, user in users.items():
        _row, clear = tokens.create_token(session, user, "schemathesis")
        headers[role] = {"Authorization": f"Bearer {clear}"}
    session.commit()
    return headers, ids


def _workbench_ids(app, session, users, ids):
    """A report of the broker and a roadshow it manages (the university presents, the company is invited),
    so the workbench operations also run against real objects."""
    from datetime import timedelta

    from services import reports, roadshows
    broker = users["broker"]
    report = reports.run_single(session, app.extensions["matching"], broker,
                                reports.ReportParams(scope="demand", listing_id=ids["demand"][0], k=3))
    roadshow = roadshows.create_roadshow(session, broker, {
        "title": "动力电池材料路演", "theme": "动力电池材料", "field_code": "new_energy",
        "held_on": clock.today() + timedelta(days=10), "start_time": "14:00", "venue": "西安科技大市场",
        "online_link": "", "presentation_slots": 3, "meeting_slots": 3, "tables": 2, "slot_minutes": 20,
        "presenter_cap": 3, "company_cap": 2, "seats": 10})
    roadshows.add_presenter(session, roadshow, ids["achievement"][0])
    roadshows.invite(session, roadshow, users["company"].id)
    session.commit()
    return {"report_id": [report.id], "roadshow_id": [roadshow.id]}


def _run(operation, mode, headers, path_parameters=None):
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


@pytest.mark.parametrize("role", ROLES)
def test_api_conforms_to_its_openapi_document(app, world, role):
    headers, ids = world
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # listings, jobs, and the workbench (reports, feedback, roadshows)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(operation, mode, headers[role])
        if "listing_id" in operation.path:
            kind = "demand" if "/demands/" in operation.path else "achievement"
            for listing_id in ids[kind]:
                _run(operation, GenerationMode.POSITIVE, headers[role], {"listing_id": listing_id})
        for name in ("report_id", "roadshow_id"):
            if "{%s}" % name in operation.path:
                for object_id in ids[name]:
                    _run(operation, GenerationMode.POSITIVE, headers[role], {name: object_id})


def test_operations_that_need_a_token_refuse_without_one(app, world):
    headers, ids = world
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    needs_token = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if {} in (operation.definition.raw.get("security") or [{}]):
            continue
        needs_token += 1
        params = {"listing_id": ids["demand"][0]} if "listing_id" in operation.path else None
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=params)

        @given(case=strategy)
        @settings(max_examples=5, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            # with a valid token the auth check compares against the same request without it
            case.call_and_validate(headers=headers["admin"], checks=[ignored_auth, not_a_server_error])
            response = case.call()
            assert response.status_code == 401, (operation.label, response.status_code)

        check()
    assert needs_token >= 16
