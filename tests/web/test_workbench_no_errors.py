"""No odd URL or form body on the workbench routes produces a 500, whatever the role."""
from __future__ import annotations

import pytest

GETS = ["/reports/", "/reports/new", "/reports/999999", "/reports/0.pdf", "/reports/999999.xlsx", "/opportunities/",
        "/opportunities/?stage=<script>", "/opportunities/999999", "/statistics/", "/statistics/funnel.csv",
        "/statistics/..%2Fconfig.csv", "/reports/abc"]


@pytest.mark.model  # publishes listings or shows the statistics page: the index (the embedding model)
@pytest.mark.parametrize("role", [None, "company", "university", "broker", "admin"])
def test_no_workbench_get_errors_for_any_role(client, login_as, role):
    if role:
        login_as(role)
    for url in GETS:
        status = client.get(url).status_code
        assert status < 500, f"{url} gave {status} for {role}"


def test_garbage_workbench_forms_are_answered_not_crashed(client, login_as):
    login_as("broker")
    garbage = {"scope": "\x00", "k": "1e999", "listing_id": "-1", "since": "31/12/2026", "field_code": "' OR 1=1"}
    resp = client.submit("/reports/new", garbage)  # the NUL taken out: the form answers its fields, typed text kept
    page = resp.get_data(as_text=True)
    assert resp.status_code < 500 and "has-error" in page and 'value="31/12/2026"' in page
    for url, body in (("/feedback/1/1", {"outcome": "x", "score": "NaN", "features": "{bad json"}),
                      ("/opportunities/1/sign", {"amount": "Infinity"}), ("/opportunities/1/close", {}),
                      ("/reports/1/rows/1/comment", {"comment": "x"})):
        assert client.submit(url, body, form_url="/reports/").status_code < 500
