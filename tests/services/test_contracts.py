"""The technology-contract register: validation (nothing half-saved), audited edits, and statistics whose every
split equals a direct SQL sum over the same contracts."""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from models import AuditEvent, Region, TechContract
from services import clock, contract_stats as stats
from services import contracts, regions
from services.errors import ServiceError
from services.seed import DATA


@pytest.fixture
def tree(session):
    regions.load_tree(session, json.loads((DATA / "region_tree.json").read_text(encoding="utf-8")))
    session.commit()
    return {r.code: r for r in session.scalars(select(Region))}


@pytest.fixture
def broker(make_user):
    return make_user("broker")


_numbers = iter(range(1, 10**6))


def contract_data(**over) -> dict:
    """Valid form values for a contract."""
    data = {"reg_number": f"6101{next(_numbers):012d}", "registered_on": date(2026, 3, 5), "name": "高镍正极包覆技术开发",
            "contract_type": "development.commissioned", "status": "registered", "seller_name": "秦岭理工大学",
            "seller_nature": "120", "seller_region": "xian_yanta", "buyer_name": "西安秦川新材料科技有限公司",
            "buyer_nature": "230", "buyer_region": "xian_gaoxin", "amount": "120.5", "tech_amount": "100",
            "signed_on": date(2026, 3, 1), "field_code": "new_energy.battery", "ip_kind": "invention"}
    data.update(over)
    return data


def test_a_valid_contract_is_recorded_and_audited(session, tree, broker):
    row = contracts.create_contract(session, broker, contract_data())
    session.commit()
    assert row.category == "development" and row.amount == Decimal("120.5") and row.broker_id == broker.id
    assert row.buyer_region_id == tree["xian_gaoxin"].id
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "contract.created")).target == f"contract:{row.id}"


BAD = [
    ({"reg_number": "12345"}, "reg_number", "contract.reg_number_format"),
    ({"amount": "-1"}, "amount", "contract.amount_negative"),
    ({"tech_amount": "130"}, "tech_amount", "contract.tech_above_amount"),
    ({"buyer_region": "atlantis"}, "buyer_region", "contract.unknown_region"),
    ({"contract_type": "gift"}, "contract_type", "contract.bad_type"),
    ({"seller_nature": "999"}, "seller_nature", "contract.bad_nature"),
    ({"signed_on": clock.today() + timedelta(days=3)}, "signed_on", "contract.signed_future"),
    ({"registered_on": date(2026, 2, 1)}, "registered_on", "contract.registered_before_signed"),
    ({"amount": "abc"}, "amount", "contract.bad_number"),
    ({"demand_id": "999999"}, "demand_id", "contract.unknown_link"),
]


def test_bad_values_are_refused_and_nothing_is_saved(session, tree, broker):
    for over, field, code in BAD:
        with pytest.raises(ServiceError) as err:
            contracts.create_contract(session, broker, contract_data(**over))
        assert (err.value.code, err.value.params["field"]) == (code, field)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(TechContract)) == 0


def test_a_registration_number_is_unique(session, tree, broker):
    first = contracts.create_contract(session, broker, contract_data())
    session.commit()
    with pytest.raises(ServiceError) as err:
        contracts.create_contract(session, broker, contract_data(reg_number=first.reg_number))
    assert err.value.code == "contract.reg_number_taken"


def test_an_edit_records_which_fields_changed(session, tree, broker):
    row = contracts.create_contract(session, broker, contract_data())
    session.commit()
    contracts.update_contract(session, broker, row, {**contracts.form_values(row), "amount": "150", "tech_amount": "140"})
    session.commit()
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "contract.changed"))
    assert event.detail["fields"] == ["amount", "tech_amount"] and row.amount == Decimal("150")


def test_a_region_is_found_by_code_gb_code_or_name(session, tree, broker):
    for value in ("xian_changan", "610116", "长安区"):
        row = contracts.create_contract(session, broker, contract_data(seller_region=value))
        assert row.seller_region_id == tree["xian_changan"].id


# --- statistics: every split equals a direct SQL sum ---------------------------------------------------------

SEED = [  # (seller region, buyer region, type, amount, tech amount, signed on, status)
    ("xian_yanta", "xian_gaoxin", "development.commissioned", "100", "90", date(2025, 1, 1), "registered"),
    ("xian_yanta", "xian_hangtian", "transfer.patent", "50", "50", date(2025, 3, 31), "registered"),
    ("xian_hangtian", "jiangsu", "license", "30", "20", date(2025, 4, 1), "registered"),
    ("guangdong", "xian_gaoxin", "service", "20", "5", date(2025, 6, 30), "registered"),
    ("xian_gaoxin", "xian_gaoxin", "consulting", "8", "8", date(2025, 12, 31), "registered"),
    ("baoji_gaoxin", "xian_jingkai", "development.cooperative", "70", "60", date(2025, 7, 15), "registered"),
    ("xian_beilin", "xixian", "transfer.know_how", "40", "40", date(2025, 9, 9), "not_registered"),
    ("xian_beilin", "xian_weiyang", "service", "11", "11", date(2024, 12, 31), "registered"),
    ("xian_beilin", "xian_weiyang", "service", "13", "13", date(2024, 5, 1), "registered"),
    ("xian_changan", "xian_yanta", "transfer.patent", "9", "9", date(2026, 1, 1), "registered"),
]


@pytest.fixture
def seeded(session, tree, broker):
    for seller, buyer, ctype, amount, tech, signed, status in SEED:
        contracts.create_contract(session, broker, contract_data(
            seller_region=seller, buyer_region=buyer, contract_type=ctype, amount=amount, tech_amount=tech,
            signed_on=signed, registered_on=signed, status=status))
    session.commit()
    return tree


def _sql(session, where: str, **params) -> tuple[int, Decimal, Decimal]:
    """The direct SQL sum the statistics must equal (regions by materialised path, written out by hand)."""
    row = session.execute(text(
        "SELECT count(c.id), coalesce(sum(c.amount), 0), coalesce(sum(c.tech_amount), 0) FROM tech_contracts c "
        "JOIN regions s ON s.id = c.seller_region_id JOIN regions b ON b.id = c.buyer_region_id "
        "WHERE c.status = 'registered' AND c.signed_on >= :start AND c.signed_on < :end AND " + where),
        params).one()
    return int(row[0]), Decimal(str(row[1])), Decimal(str(row[2]))


def _t(totals: stats.Totals) -> tuple[int, Decimal, Decimal]:
    return totals.count, totals.amount, totals.tech_amount


def test_output_absorbed_and_local_equal_sql_sums(session, seeded):
    """Every node of several levels and every kind of period (one test: the seeding is the slow part)."""
    for code in ("xian", "xian_yanta", "xian_gaoxin", "shaanxi", "baoji"):
        for kind, part in (("year", 0), ("quarter", 1), ("quarter", 2), ("month", 12)):
            node, p = seeded[code], stats.period(kind, 2025, part)
            f = stats.flows(session, node, p)
            args = {"start": p.start, "end": p.end, "prefix": node.path + "%"}
            where = (code, kind, part)
            assert _t(f["output"]) == _sql(session, "s.path LIKE :prefix", **args), where
            assert _t(f["absorbed"]) == _sql(session, "b.path LIKE :prefix", **args), where
            assert _t(f["local"]) == _sql(session, "s.path LIKE :prefix AND b.path LIKE :prefix", **args), where


def test_the_figures_of_xian_in_2025_are_the_expected_ones(session, seeded):
    f = stats.flows(session, seeded["xian"], stats.period("year", 2025))
    # output: 100 + 50 + 30 + 8 (the refused 40 and the 2024/2026 ones are out); absorbed: 100 + 50 + 20 + 8 + 70
    assert _t(f["output"]) == (4, Decimal("188"), Decimal("168"))
    assert _t(f["absorbed"]) == (5, Decimal("248"), Decimal("213"))
    assert _t(f["local"]) == (3, Decimal("158"), Decimal("148"))
    assert stats.local_rate(f) == pytest.approx(158 / 188)


def test_period_boundaries_take_the_first_and_last_day(session, seeded):
    node = seeded["shaanxi"]
    q1 = stats.flows(session, node, stats.period("quarter", 2025, 1))["output"]
    assert q1.count == 2  # 1 January and 31 March
    custom = stats.flows(session, node, stats.period("custom", 0, start=date(2025, 3, 31), end=date(2025, 4, 1)))
    assert custom["output"].count == 2  # both ends inclusive
    dec = stats.flows(session, node, stats.period("month", 2025, 12))["output"]
    assert dec.count == 1 and dec.amount == Decimal("8")


def test_by_type_equals_sql_group_by(session, seeded):
    node, p = seeded["xian"], stats.period("year", 2025)
    got = {k: _t(v) for k, v in stats.by_type(session, node, p)}
    for category in ("development", "transfer", "license", "consulting", "service"):
        want = _sql(session, "s.path LIKE :prefix AND c.category = :cat", start=p.start, end=p.end,
                    prefix=node.path + "%", cat=category)
        assert got.get(category, (0, Decimal(0), Decimal(0))) == want


def test_by_park_equals_sql_sums_per_child(session, seeded):
    node, p = seeded["xian"], stats.period("year", 2025)
    rows = stats.by_child(session, node, p)
    assert {r.code for r, _ in rows} == {"xian_beilin", "xian_yanta", "xian_weiyang", "xian_changan", "xian_gaoxin"}
    for child, f in rows:
        args = {"start": p.start, "end": p.end, "prefix": child.path + "%"}
        assert _t(f["output"]) == _sql(session, "s.path LIKE :prefix", **args), child.code
        assert _t(f["absorbed"]) == _sql(session, "b.path LIKE :prefix", **args), child.code
        assert _t(f["local"]) == _sql(session, "s.path LIKE :prefix AND b.path LIKE :prefix", **args), child.code
    gaoxin = dict((r.code, f) for r, f in rows)["xian_gaoxin"]
    assert gaoxin["absorbed"].amount == Decimal("128") and gaoxin["local"].amount == Decimal("8")


def test_by_field_and_by_broker_add_up_to_the_output(session, seeded, broker):
    node, p = seeded["xian"], stats.period("year", 2025)
    output = stats.flows(session, node, p)["output"]
    fields = stats.by_field(session, node, p)
    assert sum(t.amount for _, t in fields) == output.amount and len(fields) == 1
    assert stats.by_broker(session, node, p) == [(broker.id, output)]


def test_year_on_year_compares_the_same_days(session, seeded):
    yoy = stats.year_on_year(session, seeded["xian_beilin"], stats.period("year", 2025))
    now, before, change = yoy["output"]
    assert now.count == 0 and before.amount == Decimal("24") and change == pytest.approx(-100.0)


def test_a_target_shows_the_nodes_progress(session, seeded, make_user):
    admin = make_user("admin")
    stats.set_target(session, admin, seeded["xian"], 2025, "376", 8)
    session.commit()
    prog = stats.progress(session, seeded["xian"], 2025)
    assert prog.done.amount == Decimal("188") and prog.share == pytest.approx(0.5)
    stats.set_target(session, admin, seeded["xian"], 2025, "188")  # replaces, never a second row
    assert stats.progress(session, seeded["xian"], 2025).share == pytest.approx(1.0)
    with pytest.raises(ServiceError):
        stats.set_target(session, admin, seeded["xian"], 2025, "-5")


def test_a_parks_target_may_count_what_it_absorbs(session, seeded, make_user):
    admin = make_user("admin")
    stats.set_target(session, admin, seeded["xian_gaoxin"], 2025, "256", measure="absorbed")
    prog = stats.progress(session, seeded["xian_gaoxin"], 2025)
    assert prog.done.amount == Decimal("128") and prog.share == pytest.approx(0.5)
    with pytest.raises(ServiceError) as err:
        stats.set_target(session, admin, seeded["xian_gaoxin"], 2025, "1", measure="everything")
    assert err.value.code == "target.bad_measure"
