"""Background jobs: what the user sees of slow work (status, progress, result), whatever runs it."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class JobStatus(str, enum.Enum):
    """Lifecycle of a job: queued -> running -> done | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One unit of slow work (batch report, import, export, schedule), owned by the user who asked."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    owner_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    # error code from services.errors (translated when shown), never a traceback
    error: Mapped[Optional[str]] = mapped_column(String(64))
    error_detail: Mapped[Optional[str]] = mapped_column(Text)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[Optional[dict]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    # idempotency: a second submit with the key of a queued/running job (or a done one, for content-keyed
    # work) returns that job instead of a new one; finished jobs give their key up to a new submission
    key: Mapped[Optional[str]] = mapped_column(String(200), unique=True)
    # tries so far (a transient failure sends the job back to queued until JOBS_RETRIES is spent)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # last sign of life (submit, claim, progress, heartbeat): a running job whose heartbeat is older than
    # JOBS_STALE_MINUTES belonged to a dead consumer and is requeued
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(DateTime, default=utcnow, index=True)

    @property
    def finished(self) -> bool:
        """True once the job is done or failed."""
        return self.status in (JobStatus.DONE.value, JobStatus.FAILED.value)

    @property
    def percent(self) -> int:
        """Progress as a whole percentage (0 while the total is unknown)."""
        return int(100 * self.progress / self.total) if self.total else (100 if self.finished else 0)
