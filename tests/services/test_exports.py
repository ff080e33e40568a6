"""Exports: formulas are neutralised in CSV and .xlsx, Chinese survives, numbers stay numbers."""
from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import load_workbook

from services.exports import Table, escape_cell, to_csv, to_xlsx

EVIL = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def test_escape_cell_neutralises_formula_starts_only():
    assert [escape_cell(v)[0] for v in EVIL] == ["'"] * len(EVIL)
    assert escape_cell("高镍正极") == "高镍正极" and escape_cell(12.5) == 12.5 and escape_cell(None) == ""
    assert escape_cell(-3) == -3  # a real number is not text


def _table() -> Table:
    table = Table(["标题", "金额(万元)", "日期"], title="需求/列表")
    for v in EVIL:
        table.add([v, 10, date(2026, 11, 22)])
    table.add(["单晶高镍包覆", -5.5, None])
    return table


def test_csv_has_bom_chinese_and_no_live_formula():
    data = to_csv(_table())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["标题", "金额(万元)", "日期"]
    assert all(r[0].startswith("'") for r in rows[1:1 + len(EVIL)])
    assert rows[-1][:2] == ["单晶高镍包覆", "-5.5"]


def test_xlsx_cells_are_text_not_formulas():
    book = load_workbook(io.BytesIO(to_xlsx(_table())))
    sheet = book.worksheets[0]
    assert sheet.title == "需求_列表"
    values = [row for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(r[0], str) and r[0].startswith("'") for r in values[:len(EVIL)])
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert values[-1][:2] == ("单晶高镍包覆", -5.5)


def test_row_length_is_checked():
    table = Table(["a", "b"])
    try:
        table.add([1])
    except ValueError:
        return
    raise AssertionError("short row accepted")


# --- text a file format cannot hold (issue 18) -------------------------------------------------------------------

UNSTORABLE = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\x7f", "\x85", "\x9f", "\ud800", "\udfff",
              "\ufffe", "\uffff"]
KEPT = ["\t", "\n", "\r", "\u00a0", "\u2028", "\u202e", "Ω", "²", "😀"]


def test_the_rule_names_every_character_no_text_may_contain_and_nothing_else():
    from services.exports import clean_text, unstorable_char

    for c in UNSTORABLE:
        assert unstorable_char(f"ab{c}cd") == c and clean_text(f"ab{c}cd") == "abcd", repr(c)
    for c in KEPT:
        assert unstorable_char(f"ab{c}") is None and clean_text(f"ab{c}") == f"ab{c}", repr(c)


def test_xlsx_and_csv_write_cells_and_sheet_names_that_held_control_characters():
    table = Table(["标题\x01", "金额"], title="需求\x02列表")
    table.add(["储能" + "".join(UNSTORABLE) + "电池", 12.5])
    table.add(["\x01=CMD()", 1])  # cleaned first, then still escaped as a formula
    sheet = load_workbook(io.BytesIO(to_xlsx(table))).active
    assert sheet.title == "需求列表"
    assert [c.value for c in sheet[1]] == ["标题", "金额"]
    assert sheet["A2"].value == "储能电池" and sheet["A3"].value == "'=CMD()"
    rows = list(csv.reader(io.StringIO(to_csv(table).decode("utf-8-sig"))))
    assert rows[1] == ["储能电池", "12.5"] and rows[2][0] == "'=CMD()"


def test_pdf_writes_text_that_held_control_characters_and_lone_surrogates():
    import pytest

    from services.errors import ServiceError
    from services.pdf import Document

    try:
        doc = Document("撮合报告\x01\ud800")
    except ServiceError:
        pytest.skip("no CJK font installed (make fonts)")
    table = Table(["需求\x0b", "成果"], title="t")
    table.add(["储能\x85电池", "热管理\udfff"])
    pdf = doc.paragraph("说明\x07文字").facts([("匹配度\x1b", 87.5), ("备注", None)]).table(table).output()
    assert pdf.startswith(b"%PDF")
