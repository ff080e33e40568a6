"""SQLAlchemy models: the database is the source of truth."""
from .base import Base, utcnow
from .api_token import ApiToken
from .imports import ImportBatch
from .notification import MatchNotice, Notification, NotificationSetting
from .credentials import PasswordReset, UserSession
from .challenge import PERSPECTIVES, Challenge, ChallengeApplication, ChallengePanelist, ChallengeScore
from .challenge import ChallengeAcceptanceScore, ChallengeDemand, ChallengeMilestone, ChallengePartner
from .job import Job, JobStatus
from .listing import (COOPERATION_MODES, MODE_ZH, STAGE_TRL, STAGE_ZH, STAGES, Achievement, Demand,
                      ListingMixin, Patent, ReviewEvent, Status)
from .roadshow import (Roadshow, RoadshowConflict, RoadshowInvitation, RoadshowMeeting, RoadshowPresenter,
                       RoadshowWish)
from .roadshow import PARTICIPANT_KINDS, ROADSHOW_KINDS, RoadshowApplication
from .taxonomy import REGION_LEVELS, Field, Region
from .contract import (CONTRACT_STATUSES, IP_KINDS, PARTY_NATURES, TECH_CONTRACT_CATEGORIES,
                       TECH_CONTRACT_TYPE_ZH, TECH_CONTRACT_TYPES, RegionTarget, TechContract)
from .chain import CHAIN_STAGES, PLACEMENT_SOURCES, ChainEdge, ChainNode, ChainPlacement, IndustryChain
from .panel import (ADVISOR_PERSPECTIVES, CRITERIA, CRITERIA_ZH, PERSPECTIVE_ZH, AdvisorProfile, Panel,
                    PanelMember, PanelReview)
from .directory import (FACILITY_KINDS, INVESTOR_STAGES, PROVIDER_KIND_ZH, PROVIDER_KINDS, Provider,
                        ProviderContactRequest)
from .brokerage import (CERTIFICATE_LEVEL_ZH, CERTIFICATE_LEVELS, BrokerProfile, DemandAssignment, DemandEntry,
                        RoutingRule)
from .trust import LIVE_STATUSES, AuditEvent, Introduction, IntroStatus
from .user import Organisation, OrgKind, Role, User
from .user import ORG_MANAGER, ORG_MEMBER, ORG_ROLES, OrganisationInvitation
from .listing import RIGHTS_STATUSES
from .vector import ListingVector
from .workbench import (CONTRACT_TYPE_ZH, CONTRACT_TYPES, FEEDBACK_REASONS, FINAL_STAGES, OPEN_STAGES, OUTCOMES,
                        PIPELINE_STAGES, MatchReport, MatchReportRow, Opportunity, OpportunityEvent,
                        PairFeedback)

__all__ = ["Base", "utcnow", "Achievement", "Demand", "ListingMixin", "Patent", "ReviewEvent", "Status",
           "COOPERATION_MODES", "MODE_ZH", "STAGES", "STAGE_ZH", "STAGE_TRL", "Field", "Region",
           "Organisation", "OrgKind", "Role", "User", "ORG_MANAGER", "ORG_MEMBER", "ORG_ROLES",
           "OrganisationInvitation", "RIGHTS_STATUSES", "ListingVector", "Job", "JobStatus",
           "MatchReport", "MatchReportRow", "PairFeedback", "Opportunity", "OpportunityEvent", "OUTCOMES",
           "FEEDBACK_REASONS", "OPEN_STAGES", "FINAL_STAGES", "PIPELINE_STAGES", "CONTRACT_TYPES",
           "CONTRACT_TYPE_ZH", "ImportBatch", "ApiToken", "UserSession", "PasswordReset",
           "Notification", "NotificationSetting", "MatchNotice",
           "Roadshow", "RoadshowPresenter", "RoadshowInvitation", "RoadshowWish", "RoadshowConflict",
           "RoadshowMeeting", "Challenge", "ChallengeApplication", "ChallengePanelist", "ChallengeScore",
           "PERSPECTIVES", "ChallengeAcceptanceScore", "ChallengeDemand", "ChallengeMilestone", "ChallengePartner",
           "PARTICIPANT_KINDS", "ROADSHOW_KINDS", "RoadshowApplication",
           "AuditEvent", "Introduction", "IntroStatus", "LIVE_STATUSES",
           "REGION_LEVELS", "TechContract", "RegionTarget", "TECH_CONTRACT_TYPES", "TECH_CONTRACT_TYPE_ZH",
           "TECH_CONTRACT_CATEGORIES", "PARTY_NATURES", "IP_KINDS", "CONTRACT_STATUSES",
           "CHAIN_STAGES", "PLACEMENT_SOURCES", "IndustryChain", "ChainNode", "ChainEdge", "ChainPlacement",
           "ADVISOR_PERSPECTIVES", "CRITERIA", "CRITERIA_ZH", "PERSPECTIVE_ZH", "AdvisorProfile", "Panel",
           "PanelMember", "PanelReview",
           "PROVIDER_KINDS", "PROVIDER_KIND_ZH", "FACILITY_KINDS", "INVESTOR_STAGES", "Provider",
           "ProviderContactRequest",
           "RoutingRule", "DemandAssignment", "BrokerProfile", "DemandEntry", "CERTIFICATE_LEVELS",
           "CERTIFICATE_LEVEL_ZH"]
