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


# --- confirming once (issue 18: the third click of a confirm started a second import) -----------------------------

def test_a_batch_is_claimed_once_and_a_failed_claim_leaves_it_alone(session, make_user):
    batch = _batch(session, make_user("university"), [ROW])
    imports.claim_for_import(session, batch)
    session.commit()
    for _ in range(2):  # a double click, a retry
        with pytest.raises(ServiceError) as err:
            imports.claim_for_import(session, batch)
        assert err.value.code == "import.not_ready"
        session.rollback()
    assert session.get(type(batch), batch.id).status == "importing"  # still the first confirm's


def _job(session, batch_id):
    from web import imports as web_imports  # noqa: F401  (registers the import job handlers)
    from services import jobs

    job = jobs.submit_job(session, "import.commit", None, {"batch_id": batch_id, "include_duplicates": False,
                                                           "href": "/"}, key=imports.commit_job_key(batch_id))
    session.flush()
    return job


@pytest.mark.model  # the drafts it commits go through the index's after-commit sync
def test_an_import_job_imports_only_the_batch_it_was_given(session, make_user):
    batch = _batch(session, make_user("university"), [ROW])
    imports.claim_for_import(session, batch)
    job = _job(session, batch.id)
    batch.job_id = job.id
    session.commit()
    assert _job(session, batch.id).id == job.id  # the job key: a second submit returns the same job
    with pytest.raises(ServiceError):
        imports.claim_for_job(session, batch.id, job.id + 1)  # another job never takes it
    session.rollback()
    assert imports.claim_for_job(session, batch.id, job.id) is batch
    imports.import_batch(session, batch, include_duplicates=False)
    session.commit()
    assert imports.claim_for_job(session, batch.id, job.id) is None  # delivered again: nothing to do
    assert session.scalar(select(func.count()).select_from(Achievement)) == 1


def test_a_job_retried_after_a_failed_try_claims_its_batch_again(session, make_user):
    batch = _batch(session, make_user("university"), [ROW])
    imports.claim_for_import(session, batch)
    job = _job(session, batch.id)
    batch.job_id = job.id
    session.commit()
    imports.release(session, batch.id)  # the first try failed (transient): the batch went back to ready
    session.commit()
    assert imports.claim_for_job(session, batch.id, job.id).status == "importing"
    session.commit()
    with pytest.raises(ServiceError):
        imports.claim_for_import(session, batch)  # meanwhile a confirm cannot start another import


# --- what a cell may hold ------------------------------------------------------------------------------------------

def test_control_characters_in_cells_are_dropped(session, make_user):
    row = list(ROW)
    row[0] = "原子层\x0b沉积\x01包覆\x85技术"
    batch = _batch(session, make_user("university"), [row])
    assert batch.rows[0]["values"]["title"] == "原子层沉积包覆技术" and batch.rows[0]["problems"] == []


@pytest.mark.parametrize("raw", ["9999-12-31", "0001-01-01", "10000-01-01", "99999999999999999999-1-1",
                                 "2027-02-30", "27-6-30"])
def test_dates_outside_the_calendar_of_the_platform_are_not_dates(raw):
    assert imports._date(raw) is None


def test_dates_as_people_write_them_are_read():
    from datetime import date

    for raw in ("2027-06-30", "2027/6/30", "2027年6月30日", "2027.06.30", "2027-06-30 00:00:00"):
        assert imports._date(raw) == date(2027, 6, 30), raw
