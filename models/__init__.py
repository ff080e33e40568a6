"""SQLAlchemy models: the database is the source of truth."""
from .base import Base, utcnow
from .challenge import PERSPECTIVES, Challenge, ChallengeApplication, ChallengePanelist, ChallengeScore
from .job import Job, JobStatus
from .listing import (COOPERATION_MODES, MODE_ZH, STAGE_TRL, STAGE_ZH, STAGES, Achievement, Demand,
                      ListingMixin, Patent, ReviewEvent, Status)
from .roadshow import (Roadshow, RoadshowConflict, RoadshowInvitation, RoadshowMeeting, RoadshowPresenter,
                       RoadshowWish)
from .taxonomy import Field, Region
from .user import Organisation, OrgKind, Role, User
from .vector import ListingVector

__all__ = ["Base", "utcnow", "Achievement", "Demand", "ListingMixin", "Patent", "ReviewEvent", "Status",
           "COOPERATION_MODES", "MODE_ZH", "STAGES", "STAGE_ZH", "STAGE_TRL", "Field", "Region",
           "Organisation", "OrgKind", "Role", "User", "ListingVector", "Job", "JobStatus",
           "Roadshow", "RoadshowPresenter", "RoadshowInvitation", "RoadshowWish", "RoadshowConflict",
           "RoadshowMeeting", "Challenge", "ChallengeApplication", "ChallengePanelist", "ChallengeScore",
           "PERSPECTIVES"]
