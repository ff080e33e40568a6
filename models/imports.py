"""Bulk imports of listings from spreadsheets: the parsed rows with their problems, kept until imported."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ImportBatch(Base):
    """One uploaded file: its rows (values as typed, problems found) and, once imported, the outcome.

    The uploaded file itself is never stored; only the cell values parsed from it.
    """

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # the uploaded file's name, for display only (never used as a path)
    filename: Mapped[str] = mapped_column(String(200), default="")
    # validating -> ready -> importing -> imported | failed
    status: Mapped[str] = mapped_column(String(16), default="validating", index=True)
    # [{"n": sheet row number, "values": {column: text}, "problems": [{field, code, params, level}]}]
    rows: Mapped[list] = mapped_column(JSON, default=list)
    # columns of the file that were not recognised (ignored), shown on the preview
    ignored_columns: Mapped[list] = mapped_column(JSON, default=list)
    # after import: {"created": [ids], "skipped": [{"n", "problems"}]}
    result: Mapped[Optional[dict]] = mapped_column(JSON)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    imported_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    @property
    def total(self) -> int:
        """How many data rows the file had."""
        return len(self.rows or [])
