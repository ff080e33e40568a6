"""PDF documents with Chinese text (reports, schedules): fpdf2 with an embedded CJK font.

The font is Debian's fonts-noto-cjk, installed by `make setup` (target `fonts`); PDF_FONT points
elsewhere when a deployment has another CJK TrueType/OpenType font. Only the glyphs used are embedded.
Every text is cleaned of what no document can hold (services.exports.UNSTORABLE) before it is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from fpdf import FPDF
from fpdf.fonts import FontFace

from .errors import ServiceError
from .exports import Table, clean_text

FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2: Simplified Chinese
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
PDF_MIME = "application/pdf"


def find_font(configured: Optional[str] = None) -> tuple[str, int]:
    """The CJK font to embed: the configured path (optionally 'path#index') or the first installed."""
    if configured:
        path, _, index = configured.partition("#")
        if Path(path).is_file():
            return path, int(index or 0)
        raise ServiceError("pdf.font_missing", path=path)
    for path, index in FONT_CANDIDATES:
        if Path(path).is_file():
            return path, index
    raise ServiceError("pdf.font_missing", path=FONT_CANDIDATES[0][0])


class Document:
    """A simple A4 document: headings, paragraphs, key/value lines and tables, all CJK-capable."""

    def __init__(self, title: str, *, font: Optional[str] = None, landscape: bool = False) -> None:
        path, index = find_font(font)
        self.pdf = FPDF(orientation="L" if landscape else "P", format="A4")
        title = _text(title)
        self.pdf.set_title(title)
        self.pdf.set_creator("TechMatch")
        self.pdf.add_font("cjk", fname=path, collection_font_number=index)
        self.pdf.add_font("cjk", style="B", fname=path, collection_font_number=index)
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()
        self.heading(title, size=16)

    def heading(self, text: str, size: int = 13) -> "Document":
        """A bold line of text."""
        self.pdf.set_font("cjk", "B", size)
        self.pdf.multi_cell(0, size * 0.6, _text(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)
        return self

    def paragraph(self, text: str, size: int = 10) -> "Document":
        """Wrapped body text."""
        self.pdf.set_font("cjk", "", size)
        self.pdf.multi_cell(0, size * 0.55, _text(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)
        return self

    def facts(self, pairs: Iterable[tuple[str, Any]], size: int = 10) -> "Document":
        """Label: value lines."""
        self.pdf.set_font("cjk", "", size)
        for label, value in pairs:
            self.pdf.multi_cell(0, size * 0.55, f"{_text(label)}：{_text(value)}", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)
        return self

    def table(self, table: Table, *, widths: Optional[Sequence[int]] = None, size: int = 8) -> "Document":
        """A table with a bold header row repeated on each page."""
        self.pdf.set_font("cjk", "", size)
        with self.pdf.table(col_widths=widths, headings_style=FontFace(emphasis="BOLD"),
                            line_height=size * 0.55, repeat_headings=1) as pdf_table:
            pdf_table.row([_text(h) for h in table.headers])
            for row in table.rows:
                pdf_table.row([_text(v) for v in row])
        self.pdf.ln(2)
        return self

    def output(self) -> bytes:
        """The finished PDF."""
        return bytes(self.pdf.output())


def _text(value: Any) -> str:
    """A value as text a PDF can hold (None: empty)."""
    return "" if value is None else clean_text(str(value))
