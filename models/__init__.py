"""SQLAlchemy models: the database is the source of truth."""
from .base import Base, utcnow
from .job import Job, JobStatus
from .listing import (COOPERATION_MODES, MODE_ZH, STAGE_TRL, STAGE_ZH, STAGES, Achievement, Demand,
                      ListingMixin, Patent, ReviewEvent, Status)
from .taxonomy import Field, Region
from .trust import LIVE_STATUSES, AuditEvent, Introduction, IntroStatus
from .user import Organisation, OrgKind, Role, User
from .vector import ListingVector

__all__ = ["Base", "utcnow", "Achievement", "Demand", "ListingMixin", "Patent", "ReviewEvent", "Status",
           "COOPERATION_MODES", "MODE_ZH", "STAGES", "STAGE_ZH", "STAGE_TRL", "Field", "Region",
           "Organisation", "OrgKind", "Role", "User", "ListingVector", "Job", "JobStatus",
           "AuditEvent", "Introduction", "IntroStatus", "LIVE_STATUSES"]
