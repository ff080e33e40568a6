"""Amounts are stored in 10k yuan (万元); a reader sees them the way their language writes money: "1000 万元" in
Chinese, "CNY 10 million" in English (not "1000 10k yuan", read as a thousand and ten)."""
from __future__ import annotations

import pytest
from decimal import Decimal

from flask_babel import force_locale

from web.i18n import wan, wan_range


@pytest.mark.parametrize("value,zh,en", [
    (1000, "1000 万元", "CNY 10 million"), (150, "150 万元", "CNY 1.5 million"), (50, "50 万元", "CNY 500,000"),
    (0.5, "0.5 万元", "CNY 5,000"), (0, "0 万元", "CNY 0"), (12345.6, "12345.6 万元", "CNY 123.456 million"),
    (1_000_000, "1000000 万元", "CNY 10,000 million"), (123456.78, "123456.78 万元", "CNY 1,234.5678 million"),
    (0.01, "0.01 万元", "CNY 100"), (-5, "-5 万元", "CNY -50,000"), (float("nan"), "—", "—"), (float("inf"), "—", "—"),
])
def test_an_amount_in_each_language(app, value, zh, en):
    with app.test_request_context("/"):
        with force_locale("zh_Hans_CN"):
            assert wan(value) == zh
        with force_locale("en"):
            assert wan(value) == en
        assert wan(None) == ""
        with force_locale("en"):
            assert wan(Decimal("120.50")) == "CNY 1.205 million"  # a DecimalField's value


def test_a_range_and_its_open_ends(app):
    with app.test_request_context("/"):
        with force_locale("zh_Hans_CN"):
            assert wan_range(30, 80) == "30–80 万元"
        with force_locale("en"):
            assert wan_range(30, 80) == "CNY 300,000–800,000"
            assert wan_range(50, 150) == "CNY 500,000–1.5 million"
            assert wan_range(None, 80) == "up to CNY 800,000"
            assert wan_range(30, None) == "from CNY 300,000"
            assert wan_range(None, None) == ""
