"""Marshmallow schemas of the API: what goes in (validated like the forms) and what comes out."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from models import COOPERATION_MODES, RIGHTS_STATUSES, STAGES
from services.bands import BANDS, POSSIBLE_MIN, STRONG_MIN

PHONE_RE = r"^(\+?86[- ]?)?(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?)$"  # as web/forms.py
PATENT_RE = r"^(CN|ZL)?\s?[0-9]{8,13}(\.[0-9X]|[A-Z][0-9]?)?$|^[0-9]{4}SR[0-9]{5,7}$"
MONEY = validate.Range(min=0, max=1_000_000)
SCORE_DOC = "calibrated probability x 100 that a broker judges the pair worth a conversation (0-100)"
BAND_DOC = (f"the score's named band: strong (score >= {STRONG_MIN:g}), possible (>= {POSSIBLE_MIN:g}) "
            f"or weak (below {POSSIBLE_MIN:g})")


# --- what comes in: one rule per kind of value, as the forms (web/forms.py) and the guard (web/input_guard.py) --
MAX_WHOLE = 2_147_483_647  # a database integer
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2999, 12, 31)  # date arithmetic near year 1 or 9999 overflows


class Whole(fields.Integer):
    """A whole number from -MAX_WHOLE to MAX_WHOLE: a JSON integer (or 4.0), or ASCII digits in a query string.
    Never 4.5 (marshmallow's Integer truncates it to 4 without a word), True, '١٢' or '²'."""

    def _validated(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?[0-9]{1,12}\s*", value):
            raise self.make_error("invalid")
        number = super()._validated(value)
        if number is not None and abs(number) > MAX_WHOLE:
            raise ma.ValidationError(f"Must be less than or equal to {MAX_WHOLE}.")
        return number


PERIOD_REVERSED = "The end date (until) is before the start date (since)."


class Day(fields.Date):
    """A date (YYYY-MM-DD) from FIRST_DATE to LAST_DATE."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):  # spaces around a date are no error (the pages' filters read them alike)
            value = value.strip()
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        day = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DATE <= day <= LAST_DATE:
            raise ma.ValidationError(f"Must be greater than or equal to {FIRST_DATE} and less than or equal to "
                                     f"{LAST_DATE}.")
        return day


class UniqueList(fields.List):
    """A list whose repeated items count once (["joint", "joint"] is ["joint"]), in the order first sent."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        items, seen = [], set()
        for item in super()._deserialize(value, attr, data, **kwargs):
            key = repr(sorted(item.items())) if isinstance(item, dict) else repr(item)
            if key not in seen:
                seen.add(key)
                items.append(item)
        return items


class UtcDateTime(fields.DateTime):
    """Naive UTC datetimes from the database, written with their zone (RFC 3339)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)


class ApiErrorSchema(ma.Schema):
    """Every error: a stable code, a message in the caller's language, and field errors."""

    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    message = fields.String(required=True, metadata={"description": "in the caller's language"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "field -> messages (validation errors)"})


class PageArgs(ma.Schema):
    page = Whole(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = Whole(load_default=20, validate=validate.Range(min=1, max=100))


class ListingFilterArgs(PageArgs):
    q = fields.String(load_default="", validate=validate.Length(max=200))
    field = fields.String(load_default="", validate=validate.Length(max=64))
    region = fields.String(load_default="", validate=validate.Length(max=32))
    mode = fields.String(load_default="", validate=validate.OneOf(("",) + COOPERATION_MODES))
    since = Day(load_default=None)
    until = Day(load_default=None)
    status = fields.String(load_default="published", validate=validate.OneOf(
        ("draft", "submitted", "published", "returned", "rejected", "closed", "all")),
        metadata={"description": "brokers and admins only; everyone else always gets published listings"})

    @ma.validates_schema
    def _period_in_order(self, data: dict, **_kwargs: Any) -> None:
        """A reversed period would list nothing, silently: the caller is told which end to move."""
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ma.ValidationError(PERIOD_REVERSED, "until")


class DemandFilterArgs(ListingFilterArgs):
    budget = fields.Float(load_default=None, allow_nan=False, validate=MONEY)


class AchievementFilterArgs(ListingFilterArgs):
    stage = fields.String(load_default="", validate=validate.OneOf(("",) + STAGES))
    max_price = fields.Float(load_default=None, allow_nan=False, validate=MONEY)


class MatchArgs(ma.Schema):
    k = Whole(load_default=10, validate=validate.Range(min=1, max=50))


class ContactSchema(ma.Schema):
    name = fields.String(required=True)
    phone = fields.String(required=True)
    email = fields.String(required=True)


class PatentSchema(ma.Schema):
    number = fields.String(required=True, validate=validate.Regexp(PATENT_RE))
    kind = fields.String(required=True, validate=validate.OneOf(("invention", "utility", "software")))
    status = fields.String(required=True, validate=validate.OneOf(("granted", "examining", "filed")))


class ListingOut(ma.Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    field = fields.String(required=True, metadata={"description": "field code"})
    field_name = fields.String(required=True)
    region = fields.String(required=True, allow_none=True)
    keywords = fields.List(fields.String(), required=True)
    modes = fields.List(fields.String(), required=True)
    status = fields.String(required=True)
    review_note = fields.String(required=True, allow_none=True,
                                metadata={"description": "owner and reviewers only"})
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    published_at = UtcDateTime(required=True, allow_none=True)
    contact = fields.Nested(ContactSchema, required=True, allow_none=True,
                            metadata={"description": "only for the owner and staff; null otherwise"})


class DemandOut(ListingOut):
    description = fields.String(required=True)
    indicators = fields.String(required=True)
    budget_min = fields.Float(required=True, allow_none=True)
    budget_max = fields.Float(required=True, allow_none=True)
    deadline = fields.Date(required=True, allow_none=True)
    min_trl = fields.Integer(required=True, allow_none=True)
    confidential = fields.Boolean(required=True, metadata={
        "description": "the company's name is hidden from the public and universities until an introduction is "
                       "accepted (issue 21)"})


class AchievementOut(ListingOut):
    abstract = fields.String(required=True)
    stage = fields.String(required=True, allow_none=True)
    trl = fields.Integer(required=True, allow_none=True)
    price = fields.Float(required=True, allow_none=True)
    negotiable = fields.Boolean(required=True)
    team = fields.String(required=True)
    rights_status = fields.String(required=True, validate=validate.OneOf(RIGHTS_STATUSES), metadata={
        "description": "职务科技成果赋权: none | partial | full"})
    patents = fields.List(fields.Nested(PatentSchema), required=True)


class DemandPage(ma.Schema):
    items = fields.List(fields.Nested(DemandOut), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class AchievementPage(DemandPage):
    items = fields.List(fields.Nested(AchievementOut), required=True)


class _ListingIn(ma.Schema):
    title = fields.String(required=True, validate=validate.Length(min=4, max=120))
    field_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    keywords = fields.String(load_default="", validate=validate.Length(max=300))
    region = fields.String(required=True, validate=validate.Length(min=1, max=32))
    modes = UniqueList(fields.String(validate=validate.OneOf(COOPERATION_MODES)), required=True,
                        validate=validate.Length(min=1, max=len(COOPERATION_MODES)))
    contact_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    contact_phone = fields.String(required=True, validate=validate.Regexp(PHONE_RE))
    contact_email = fields.Email(required=True, validate=validate.Length(max=254))


class DemandIn(_ListingIn):
    description = fields.String(required=True, validate=validate.Length(min=20, max=4000))
    indicators = fields.String(load_default="", validate=validate.Length(max=2000))
    budget_min = fields.Float(load_default=None, allow_none=True, allow_nan=False, validate=MONEY)
    budget_max = fields.Float(load_default=None, allow_none=True, allow_nan=False, validate=MONEY)
    deadline = Day(load_default=None, allow_none=True)
    min_trl = Whole(load_default=None, allow_none=True, validate=validate.Range(min=1, max=9))
    confidential = fields.Boolean(load_default=False, metadata={
        "description": "hide the company's name until an introduction is accepted"})


class AchievementIn(_ListingIn):
    abstract = fields.String(required=True, validate=validate.Length(min=20, max=6000))
    stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    trl = Whole(required=True, validate=validate.Range(min=1, max=9))
    price = fields.Float(load_default=None, allow_none=True, allow_nan=False, validate=MONEY)
    negotiable = fields.Boolean(load_default=False)
    team = fields.String(load_default="", validate=validate.Length(max=1000))
    rights_status = fields.String(load_default="none", validate=validate.OneOf(RIGHTS_STATUSES),
                                  metadata={"description": "职务科技成果赋权: none | partial | full"})
    patents = UniqueList(fields.Nested(PatentSchema), load_default=list, validate=validate.Length(max=10))


class MatchOut(ma.Schema):
    score = fields.Float(required=True, metadata={"description": SCORE_DOC})
    band = fields.String(required=True, validate=validate.OneOf(BANDS), metadata={"description": BAND_DOC})
    set_aside = fields.Boolean(required=True, metadata={
        "description": "a broker's latest feedback on the pair says not relevant: listed last, not a strong match"})
    breakdown = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    shared_terms = fields.List(fields.String(), required=True)
    best_sentence = fields.String(required=True)
    reasons = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    listing = fields.Dict(required=True, metadata={"description": "the counterpart (a demand or achievement)"})


class MatchList(ma.Schema):
    items = fields.List(fields.Nested(MatchOut), required=True)
    has_match = fields.Boolean(required=True, metadata={
        "description": "whether any item reaches the middle band (possible) or better; false: no strong or "
                       "possible match yet, whatever the number of (weak) items"})
    has_strong_match = fields.Boolean(required=True, metadata={
        "description": "whether any item reaches the top band (strong)"})
    message = fields.String(required=True, allow_none=True, metadata={
        "description": "when has_strong_match is false: why and what to do next, in the caller's language; "
                       "else null"})


class JobOut(ma.Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("queued", "running", "done", "failed")))
    progress = fields.Integer(required=True)
    total = fields.Integer(required=True)
    percent = fields.Integer(required=True)
    error = fields.Nested(ApiErrorSchema, required=True, allow_none=True)
    result = fields.Dict(required=True, allow_none=True)


class DemandPatch(DemandIn):
    """A partial update of a demand (send only what changes)."""


class AchievementPatch(AchievementIn):
    """A partial update of an achievement (send only what changes)."""


# -- the broker's workbench: match reports, feedback, roadshows ----------------------------------------------

MAX_ID = 2_147_483_647
ID = validate.Range(min=1, max=MAX_ID)


def _id(**kw):
    """An object id in a JSON body: a whole number (never a string or a boolean), 1 to 2147483647."""
    return Whole(strict=True, validate=ID, **kw)


class ReportIn(ma.Schema):
    """Run a match report: one published listing (scope demand/achievement with listing_id) or a batch of
    the open demands filtered by field, region and publication period (as the form on /reports/new)."""

    scope = fields.String(required=True, validate=validate.OneOf(("demand", "achievement", "batch")))
    listing_id = _id(load_default=None, allow_none=True,
                     metadata={"description": "required for scope demand or achievement"})
    k = Whole(strict=True, load_default=10, validate=validate.Range(min=1, max=50),
                       metadata={"description": "counterparts per listing"})
    field_code = fields.String(load_default="", validate=validate.Length(max=64),
                               metadata={"description": "batch: a field code (its sub-fields included)"})
    region = fields.String(load_default="", validate=validate.Length(max=32),
                           metadata={"description": "batch: a region code"})
    since = Day(load_default=None, allow_none=True, metadata={"description": "batch: published from"})
    until = Day(load_default=None, allow_none=True, metadata={"description": "batch: published until"})


class FeedbackBrief(ma.Schema):
    outcome = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    note = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class ReportRowOut(ma.Schema):
    """One pair of a report as it was when the report ran (no contact details)."""

    id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    demand_id = fields.Integer(required=True)
    demand_title = fields.String(required=True)
    demand_organisation = fields.String(required=True)
    achievement_id = fields.Integer(required=True)
    achievement_title = fields.String(required=True)
    achievement_organisation = fields.String(required=True)
    score = fields.Float(required=True, metadata={"description": SCORE_DOC + ", when the report ran"})
    band = fields.String(required=True, validate=validate.OneOf(BANDS),
                         metadata={"description": BAND_DOC + "; from the stored score"})
    breakdown = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), required=True)
    shared_terms = fields.List(fields.String(), required=True)
    best_sentence = fields.String(required=True)
    reasons = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    comment = fields.String(required=True, allow_none=True, metadata={"description": "the broker's comment"})
    feedback = fields.Nested(FeedbackBrief, required=True, allow_none=True,
                             metadata={"description": "the latest feedback on the pair"})


class ReportSummary(ma.Schema):
    id = fields.Integer(required=True)
    scope = fields.String(required=True, validate=validate.OneOf(("demand", "achievement", "batch")))
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("running", "ready", "failed")))
    owner_id = fields.Integer(required=True)
    params = fields.Dict(required=True, metadata={"description": "scope, listing_id, k, field, region, since, until"})
    model_key = fields.String(required=True)
    row_count = fields.Integer(required=True)
    job_id = fields.Integer(required=True, allow_none=True, metadata={"description": "batch reports"})
    created_at = UtcDateTime(required=True)


class ReportOut(ReportSummary):
    rows = fields.List(fields.Nested(ReportRowOut), required=True)


class ReportPage(ma.Schema):
    items = fields.List(fields.Nested(ReportSummary), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class BatchStarted(ma.Schema):
    """A batch report runs as a job: poll job_url, then fetch report_url when the job is done."""

    report_id = fields.Integer(required=True)
    job_id = fields.Integer(required=True)
    job_url = fields.String(required=True)
    report_url = fields.String(required=True)
    queued = fields.Boolean(required=True, metadata={"description": "false: the queue was down; the report is "
                                                     "saved and its job starts when the queue is back"})
    warning = fields.String(allow_none=True, metadata={"description": "set when queued is false"})


class FeedbackIn(ma.Schema):
    demand_id = _id(required=True)
    achievement_id = _id(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("not_relevant", "relevant", "introduce")))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        ("early_stage", "price_gap", "unclear_benefit", "region", "ip_issue", "other")),
        metadata={"description": "required when the outcome is relevant"})
    note = fields.String(load_default="", validate=validate.Length(max=500),
                         metadata={"description": "required when the reason is other"})
    query_kind = fields.String(load_default="demand", validate=validate.OneOf(("demand", "achievement")),
                               metadata={"description": "which side the ranking was for"})
    report_row_id = _id(load_default=None, allow_none=True,
                        metadata={"description": "a row of one's own report: its score and breakdown are kept"})


class FeedbackArgs(PageArgs):
    demand_id = Whole(required=True, validate=ID)
    achievement_id = Whole(required=True, validate=ID)


class FeedbackOut(ma.Schema):
    id = fields.Integer(required=True)
    demand_id = fields.Integer(required=True)
    achievement_id = fields.Integer(required=True)
    outcome = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    note = fields.String(required=True)
    query_kind = fields.String(required=True)
    by_role = fields.String(required=True, metadata={"description": "the role of who recorded it"})
    mine = fields.Boolean(required=True, metadata={"description": "recorded by the caller"})
    created_at = UtcDateTime(required=True)


class FeedbackPage(ma.Schema):
    items = fields.List(fields.Nested(FeedbackOut), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class PresenterOut(ma.Schema):
    id = fields.Integer(required=True)
    achievement_id = fields.Integer(required=True)
    title = fields.String(required=True)
    organisation = fields.String(required=True)


class MeetingOut(ma.Schema):
    """A 1:1 meeting: the caller's own (managers: all); organisations by name only, no contact details."""

    id = fields.Integer(required=True)
    slot = fields.Integer(required=True)
    time = fields.String(required=True, metadata={"description": "HH:MM-HH:MM"})
    table = fields.Integer(required=True)
    company = fields.String(required=True, metadata={"description": "the company's organisation"})
    presenter_id = fields.Integer(required=True)
    achievement_id = fields.Integer(required=True)
    achievement_title = fields.String(required=True)
    presenter_organisation = fields.String(required=True)
    counterpart = fields.String(required=True, allow_none=True,
                                metadata={"description": "the other side's organisation (null for managers)"})
    score = fields.Float(required=True, metadata={"description": "the company's best demand against the "
                                                                 "presenter's achievement: calibrated 0-100"})
    band = fields.String(required=True, validate=validate.OneOf(BANDS), metadata={"description": BAND_DOC})
    company_intent = fields.String(required=True, allow_none=True)
    presenter_intent = fields.String(required=True, allow_none=True)


class RoadshowSummary(ma.Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    theme = fields.String(required=True)
    field = fields.String(required=True)
    field_name = fields.String(required=True)
    held_on = fields.Date(required=True)
    start_time = fields.String(required=True)
    venue = fields.String(required=True)
    online_link = fields.String(required=True)
    relation = fields.String(required=True, validate=validate.OneOf(("manager", "company", "presenter")))
    presenter_count = fields.Integer(required=True)
    scheduled = fields.Boolean(required=True)


class RoadshowOut(RoadshowSummary):
    presentation_slots = fields.Integer(required=True)
    meeting_slots = fields.Integer(required=True)
    tables = fields.Integer(required=True)
    slot_minutes = fields.Integer(required=True)
    seats = fields.Integer(required=True)
    seats_taken = fields.Integer(required=True)
    invitation_status = fields.String(required=True, allow_none=True,
                                      metadata={"description": "an invited company's: invited, registered, declined"})
    presenters = fields.List(fields.Nested(PresenterOut), required=True)
    meetings = fields.List(fields.Nested(MeetingOut), required=True)


class RoadshowPage(ma.Schema):
    items = fields.List(fields.Nested(RoadshowSummary), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
