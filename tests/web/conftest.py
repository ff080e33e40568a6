"""Fixtures shared by the web tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def market(make_user, make_listing):
    """A demand, a related achievement and an unrelated one, their owners and a broker (all published)."""
    company, uni, uni2, broker = (make_user("company", org="秦川电池"), make_user("university", org="秦岭理工大学"),
                                  make_user("university", org="江南农业大学"), make_user("broker"))
    demand = make_listing("demand", company, reviewer=broker)
    good = make_listing("achievement", uni, reviewer=broker)
    off = make_listing("achievement", uni2, reviewer=broker, title="水稻抗稻瘟病分子育种技术",
                       abstract="利用分子标记辅助选择将抗稻瘟病基因聚合到优良水稻品种中，田间抗性显著提高，产量稳定。",
                       field_code="agriculture.breeding", keywords="水稻,抗病育种,分子标记", price=None,
                       negotiable=True)
    return {"company": company, "uni": uni, "broker": broker, "demand": demand, "good": good, "off": off}


@pytest.fixture
def api(app):
    """A test client for the REST API (Bearer tokens from token_for; no CSRF, no session)."""
    return app.test_client()


@pytest.fixture
def token_for(session):
    """token_for(user, lang="") -> the Authorization (and Accept-Language) headers of a fresh API token."""
    from services import tokens

    def make(user, lang: str = ""):
        _row, clear = tokens.create_token(session, user, "test")
        session.commit()
        return {"Authorization": f"Bearer {clear}", **({"Accept-Language": lang} if lang else {})}

    return make
