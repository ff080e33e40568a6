"""Uploads are read by content, within limits, and every malformed file ends in a clear error code."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from services.errors import ServiceError
from services.uploads import UploadLimits, check_zip, read_table


def _xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _code(data: bytes, limits: UploadLimits = UploadLimits()) -> str:
    with pytest.raises(ServiceError) as err:
        read_table(data, limits)
    return err.value.code


def test_xlsx_rows_are_read():
    assert read_table(_xlsx([["名称", "地区"], ["电池", "陕西"]])) == [["名称", "地区"], ["电池", "陕西"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_csv_in_the_usual_encodings(encoding):
    data = "名称,地区\n高镍正极,陕西\n".encode(encoding)
    assert read_table(data) == [["名称", "地区"], ["高镍正极", "陕西"]]


def test_tab_separated_text_is_read():
    assert read_table("名称\t地区\n电池\t陕西\n".encode("utf-8"))[1] == ["电池", "陕西"]


@pytest.mark.parametrize("data,code", [
    (b"", "upload.empty"),
    (b"   \n", "upload.empty"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "upload.old_xls"),
    (bytes(range(256)) * 20, "upload.unknown_type"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00\x01" * 300, "upload.unknown_type"),
    (b"a,\"b\n" + b"x" * 200_000, "upload.bad_csv"),
])
def test_malformed_files_get_a_code(data, code):
    assert _code(data) == code


def test_truncated_xlsx_is_reported_as_damaged():
    data = _xlsx([["名称"], ["电池"]])
    assert _code(data[: len(data) // 2]) == "upload.bad_xlsx"


def test_a_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "hello")
    assert _code(out.getvalue()) == "upload.unknown_type"


def test_a_workbook_with_broken_xml_is_damaged():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types")
        z.writestr("xl/workbook.xml", "not xml at all")
    assert _code(out.getvalue()) == "upload.bad_xlsx"


def _bomb(size: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * size)
    return out.getvalue()


def test_zip_bomb_is_refused_before_opening():
    data = _bomb(50 * 1024 * 1024)
    assert len(data) < 200_000  # small on the wire
    assert _code(data) == "upload.zip_bomb"


def test_total_unpacked_size_is_limited():
    assert _code(_bomb(2 * 1024 * 1024), UploadLimits(max_uncompressed=1024 * 1024, max_ratio=10**6)) == \
        "upload.zip_bomb"


def test_member_count_is_limited():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(20):
            z.writestr(f"xl/x{i}.xml", "<x/>")
    with pytest.raises(ServiceError) as err:
        check_zip(out.getvalue(), UploadLimits(max_members=10))
    assert err.value.code == "upload.zip_bomb"


def test_size_and_row_limits():
    assert _code(b"a,b\n" * 100, UploadLimits(max_bytes=100)) == "upload.too_large"
    assert _code(b"a,b\n" * 100, UploadLimits(max_rows=10)) == "upload.too_many_rows"
    assert _code(_xlsx([["a"]] * 30), UploadLimits(max_rows=10)) == "upload.too_many_rows"


def test_openpyxl_parses_xml_through_defusedxml():
    from openpyxl.xml import DEFUSEDXML
    assert DEFUSEDXML is True
