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
