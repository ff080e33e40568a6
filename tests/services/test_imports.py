"""Import rules without the web: header mapping, row checks, all-or-nothing import."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Achievement, Demand
from services import imports
from services.errors import ServiceError

HEAD = ["名称*", "所属领域*", "地区*", "合作方式*", "成果简介*", "成熟度阶段*", "技术就绪度（TRL）*", "价格面议",
        "联系人*", "联系电话*", "联系邮箱*"]
ROW = ["原子层沉积包覆技术", "new_energy.battery", "江苏省", "license", "采用原子层沉积在单晶高镍正极表面构筑纳米氧化铝包覆层，抑制相变。",
       "pilot", "TRL 6", "是", "李老师", "13900000012", "li@example.cn"]


def test_english_headers_and_second_header_line_are_understood():
    en = [c.en for c in imports.columns("achievement")]
    keys = [c.key for c in imports.columns("achievement")]
    sheet = imports.parse_rows("achievement", [en, en, ["x"] * len(en)])
    assert [r["n"] for r in sheet.rows] == [3] and set(sheet.rows[0]["values"]) == set(keys)


def test_unknown_columns_are_reported_and_error_column_ignored():
    sheet = imports.parse_rows("achievement", [HEAD + ["备注", "错误 / Errors"], ROW + ["x", "old error"]])
    assert sheet.ignored == ["备注"]


def test_missing_required_column_names_it():
    with pytest.raises(ServiceError) as err:
        imports.parse_rows("achievement", [HEAD[1:], ROW[1:]])
    assert err.value.code == "upload.bad_headers" and "名称" in err.value.params["missing"]


def test_empty_rows_are_not_data_but_numbers_keep_sheet_rows():
    sheet = imports.parse_rows("achievement", [HEAD, [], ["", None], ROW])
    assert [r["n"] for r in sheet.rows] == [4]


def test_row_check_accepts_names_codes_and_labels(session, make_user):
    user = make_user("university")
    rows = imports.parse_rows("achievement", [HEAD, ROW]).rows
    checked = imports.check_rows(session, "achievement", user, rows)
    assert checked[0]["problems"] == []


def _batch(session, user, rows):
    batch = imports.start_batch(session, "achievement", user, "../../etc/passwd",
                                imports.parse_rows("achievement", [HEAD] + rows))
    imports.validate_batch(session, batch)
    session.commit()
    return batch


def test_file_name_is_only_a_label(session, make_user):
    batch = _batch(session, make_user("university"), [ROW])
    assert batch.filename == "passwd"


def test_import_is_all_or_nothing(session, make_user):
    user = make_user("university")
    second = list(ROW)
    second[0] = "另一项原子层沉积技术"
    batch = _batch(session, user, [ROW, second])
    imports.claim_for_import(session, batch)
    user.role = "company"  # the account changed between preview and import: no row may be created
    with pytest.raises(ServiceError) as err:
        imports.import_batch(session, batch, include_duplicates=False)
    assert err.value.code == "import.row_failed" and err.value.params["row"] == 2
    session.rollback()
    imports.release(session, batch.id)
    session.commit()
    assert session.scalar(select(func.count()).select_from(Achievement)) == 0
    assert session.get(type(batch), batch.id).status == "ready"


def test_wrong_role_cannot_start_a_batch(session, make_user):
    with pytest.raises(ServiceError):
        imports.start_batch(session, "achievement", make_user("company"), "x.csv",
                            imports.parse_rows("achievement", [HEAD, ROW]))
    assert session.scalar(select(func.count()).select_from(Demand)) == 0
