"""Uploaded spreadsheets read safely: type decided by content, zip-bomb limits before opening an .xlsx.

Returns plain rows of cell values; the upload itself is never written to disk. Any malformed file ends in a
ServiceError with a code the web layer explains, never in an exception that reaches the user.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .errors import ServiceError

XLSX_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls / .doc
MAX_COLUMNS = 60


@dataclass(frozen=True)
class UploadLimits:
    """Limits checked before and while reading an upload."""

    max_bytes: int = 8 * 1024 * 1024
    max_rows: int = 10_000
    max_uncompressed: int = 100 * 1024 * 1024   # sum of an .xlsx's members once unpacked
    max_ratio: int = 200                         # unpacked / packed size of the .xlsx as a whole
    max_members: int = 500


def read_table(data: bytes, limits: UploadLimits = UploadLimits()) -> list[list[Any]]:
    """Rows of cell values from an .xlsx or .csv upload (decided by content, not by the file name)."""
    if not data or not data.strip():
        raise ServiceError("upload.empty")
    if len(data) > limits.max_bytes:
        raise ServiceError("upload.too_large", mb=round(limits.max_bytes / 1024 / 1024, 1))
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, limits)
    if data.startswith(OLE_MAGIC):
        raise ServiceError("upload.old_xls")
    return _read_csv(data, limits)


def check_zip(data: bytes, limits: UploadLimits) -> zipfile.ZipFile:
    """Open the zip container and refuse it unless it is a plausible .xlsx within the size limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise ServiceError("upload.bad_xlsx") from None
    names = {i.filename for i in infos}
    if not all(part in names for part in XLSX_PARTS):
        raise ServiceError("upload.unknown_type")
    if len(infos) > limits.max_members:
        raise ServiceError("upload.zip_bomb")
    unpacked = sum(i.file_size for i in infos)
    packed = max(sum(i.compress_size for i in infos), 1)
    # zipfile never inflates a member past its declared file_size, so the declared sizes bound the work
    if unpacked > limits.max_uncompressed or unpacked / packed > limits.max_ratio:
        raise ServiceError("upload.zip_bomb")
    return archive


def _read_xlsx(data: bytes, limits: UploadLimits) -> list[list[Any]]:
    check_zip(data, limits).close()
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a truncated or hand-made zip fails in many ways (zip, XML, KeyError): all "corrupt"
        raise ServiceError("upload.bad_xlsx") from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[Any]] = []
        for values in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
            cells = [_cell(v) for v in values]
            while cells and cells[-1] is None:  # read-only sheets pad rows to max_col
                cells.pop()
            rows.append(cells)
            if len(rows) > limits.max_rows + 2:
                raise ServiceError("upload.too_many_rows", max=limits.max_rows)
        return rows
    except ServiceError:
        raise
    except Exception:
        raise ServiceError("upload.bad_xlsx") from None
    finally:
        book.close()


def _cell(value: Any) -> Any:
    if isinstance(value, (datetime, date, int, float)) or value is None:
        return value
    return str(value)


def decode_text(data: bytes) -> str:
    """Text of a CSV: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or _binary(text):
            break
        return text
    raise ServiceError("upload.unknown_type")


def _binary(text: str) -> bool:
    """Control characters other than tab/newline mean this is not a text table."""
    sample = text[:4096]
    bad = sum(1 for c in sample if ord(c) < 32 and c not in "\t\r\n")
    return bad > 0


def _read_csv(data: bytes, limits: UploadLimits) -> list[list[Any]]:
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    rows: list[list[Any]] = []
    try:
        for values in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(values[:MAX_COLUMNS])
            if len(rows) > limits.max_rows + 2:
                raise ServiceError("upload.too_many_rows", max=limits.max_rows)
    except csv.Error:
        raise ServiceError("upload.bad_csv") from None
    return rows
