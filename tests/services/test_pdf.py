"""PDFs carry the Chinese text (extractable), tables included, and a missing font is a clear error."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from services.errors import ServiceError
from services.exports import Table
from services.pdf import Document, find_font


def pdf_text(data: bytes) -> str:
    """All text of a PDF without whitespace (pypdf interleaves NULs and spaces with fpdf2's CJK runs)."""
    reader = PdfReader(io.BytesIO(data))
    return "".join("".join(page.extract_text().replace("\x00", "").split()) for page in reader.pages)


def test_chinese_heading_paragraph_and_table_are_in_the_pdf():
    table = Table(["成果", "成熟度", "价格(万元)"])
    for i in range(60):  # enough rows for a second page
        table.add([f"单晶高镍正极包覆技术{i}", "中试", 150])
    data = (Document("撮合报告：高镍三元正极").paragraph("需求：循环寿命提升，容量保持率≥85%")
            .facts([("经纪人", "王经理")]).table(table).output())
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for expected in ("撮合报告：高镍三元正极", "容量保持率≥85%", "经纪人：王经理", "单晶高镍正极包覆技术59", "成熟度"):
        assert expected in text
    assert len(PdfReader(io.BytesIO(data)).pages) >= 2


def test_missing_configured_font_is_a_service_error(tmp_path):
    with pytest.raises(ServiceError) as err:
        find_font(str(tmp_path / "nope.ttf"))
    assert err.value.code == "pdf.font_missing"
