"""Tabular exports (CSV and .xlsx) that a spreadsheet cannot turn into formulas.

Every export of lists, reports, schedules and statistics goes through here so that formula injection is
escaped in one place (OWASP "CSV injection"): a text cell starting with = + - @, tab or carriage return
is prefixed with an apostrophe. Numbers stay numbers. Callers decide what columns a reader may see.

Text that a file format cannot hold (UNSTORABLE: control characters, lone surrogates, U+FFFE/U+FFFF) is
refused on input (web/input_guard.py), but rows stored before that rule, or by other paths, may still hold
some: every cell is cleaned here, so one such listing never breaks an export for everybody (openpyxl raises
IllegalCharacterError on them, and a lone surrogate cannot even be encoded as UTF-8).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Sequence

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"  # as a mimetype: Flask adds "; charset=utf-8" to text types itself
# Characters no text may contain: C0 controls except tab, newline and carriage return; DEL and the C1
# controls; lone surrogates (not Unicode scalar values: not encodable as UTF-8); the non-characters U+FFFE
# and U+FFFF. XML 1.0 (inside .xlsx), PDF text and UTF-8 cannot hold them, and databases differ on them.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def unstorable_char(text: str) -> str | None:
    """The first character of text that no text may contain (see UNSTORABLE), or None."""
    found = UNSTORABLE.search(text)
    return found.group() if found else None


def clean_text(text: str) -> str:
    """text without the characters no file format can hold (see UNSTORABLE)."""
    return UNSTORABLE.sub("", text)


def escape_cell(value: Any) -> Any:
    """A cell value safe to open in Excel/WPS/LibreOffice: text that would be a formula gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, Decimal, date, datetime)):
        return value
    text = clean_text(str(value))
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@dataclass
class Table:
    """Headers plus rows of plain values; one sheet of an export."""

    headers: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    title: str = "Sheet1"

    def add(self, row: Sequence[Any]) -> None:
        """Append one row (same length as headers)."""
        if len(row) != len(self.headers):
            raise ValueError(f"row has {len(row)} cells, headers {len(self.headers)}")
        self.rows.append(row)


def to_csv(table: Table) -> bytes:
    """UTF-8 CSV with a BOM, so Excel on Chinese Windows opens it without mojibake."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([escape_cell(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([_csv_value(escape_cell(v)) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_xlsx(tables: Table | Iterable[Table]) -> bytes:
    """An .xlsx workbook with one sheet per table, header row bold and frozen."""
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for table in ([tables] if isinstance(tables, Table) else tables):
        sheet = book.create_sheet(_sheet_title(table.title))
        sheet.append([escape_cell(h) for h in table.headers])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([escape_cell(v) for v in row])
        sheet.freeze_panes = "A2"
        for i, header in enumerate(table.headers, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = min(60, max(10, 2 * len(str(header)) + 2))
    if not book.sheetnames:
        book.create_sheet("Sheet1")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if c in '[]:*?/\\' else c for c in clean_text(title)).strip("'") or "Sheet1"
    return cleaned[:31]
