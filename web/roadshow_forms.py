"""Forms of roadshows and 揭榜挂帅 challenges (kept apart from web/forms.py to keep merges small)."""
from __future__ import annotations

from datetime import date
from typing import Any, Optional

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Regexp, ValidationError
from wtforms.validators import Optional as Blank

from services import clock

# the field classes of web/forms.py: one rule per kind of input (bounded whole numbers and dates, choices of
# rows as ids, multi-selects without repeats, WTForms' messages in the interface language)
from .forms import (REQUIRED, DateField, FlaskForm, IntegerField, MultiCheckboxField, _max, _money, _required,
                    id_choice)


def _count(label: Any, lo: int, hi: int, default: int) -> IntegerField:
    return IntegerField(label, default=default, validators=[
        InputRequired(message=REQUIRED),
        NumberRange(min=lo, max=hi, message=_l("Enter a whole number from %(min)s to %(max)s."))],
        render_kw={"min": lo, "max": hi})


class RoadshowForm(FlaskForm):
    title = StringField(_l("Title"), validators=[_required(), Length(
        min=4, max=120, message=_l("The title needs 4 to 120 characters."))])
    theme = TextAreaField(_l("Theme"), validators=[Blank(), _max(2000)])
    field_code = SelectField(_l("Field"), validators=[_required()])
    held_on = DateField(_l("Date"), validators=[InputRequired(message=_l("Enter a date, like 2026-12-01."))])
    start_time = StringField(_l("Start time"), default="14:00", validators=[_required(), Regexp(
        r"^([01]\d|2[0-3]):[0-5]\d$", message=_l("Enter a time like 14:00."))])
    venue = StringField(_l("Venue"), validators=[Blank(), _max(200)])
    online_link = StringField(_l("Online link"), validators=[Blank(), _max(300), Regexp(
        r"^https?://\S+$", message=_l("Enter a link starting with http:// or https://."))])
    presentation_slots = _count(_l("Presentation slots (presenters)"), 1, 50, 6)
    meeting_slots = _count(_l("1:1 meeting slots"), 1, 40, 6)
    tables = _count(_l("Meeting tables"), 1, 200, 6)
    slot_minutes = _count(_l("Slot length (minutes)"), 5, 240, 20)
    presenter_cap = _count(_l("Meetings per presenter at most"), 1, 40, 6)
    company_cap = _count(_l("Meetings per company at most"), 1, 40, 3)
    seats = _count(_l("Company seats"), 1, 5000, 30)
    # the programme (web/programme_forms.py has the choices' labels)
    kind = SelectField(_l("Roadshow type"), choices=[("achievement", _l("Achievement roadshow (成果路演)")),
                                                     ("product", _l("Product roadshow (产品路演)")),
                                                     ("scenario", _l("Scenario roadshow (场景路演)"))],
                       default="achievement", validators=[_required()])
    city = StringField(_l("City"), validators=[Blank(), _max(64)])
    region_code = SelectField(_l("Region (for the programme figures)"), validators=[Blank()], default="")
    agenda = TextAreaField(_l("Agenda"), validators=[Blank(), _max(4000)])
    open_registration = BooleanField(_l("Open registration: companies and investors register themselves"))
    meeting_link_template = StringField(_l("Online 1:1 meeting link"), validators=[Blank(), _max(300), Regexp(
        r"^https?://\S+$", message=_l("Enter a link starting with http:// or https://."))],
        description=_l("{table} and {slot} are replaced per meeting, e.g. https://meeting.example.cn/rs-{table}"))

    def validate_held_on(self, field: DateField) -> None:
        if field.data and field.data < clock.today():
            raise ValidationError(_l("The date must be today or later."))

    def validate(self, extra_validators: Any = None) -> bool:
        """Field checks, then: a venue or an online link (Optional() stops per-field checks on blanks)."""
        ok = super().validate(extra_validators)
        if not (self.online_link.data or "").strip() and not (self.venue.data or "").strip():
            self.venue.errors = list(self.venue.errors) + [_l("Give a venue, an online link, or both.")]
            ok = False
        return ok


class AddPresenterForm(FlaskForm):
    achievement_id = IntegerField(_l("Achievement number"), validators=[
        InputRequired(message=REQUIRED), NumberRange(min=1, message=_l("Enter the number of a published achievement."))])


class InviteForm(FlaskForm):
    company_id = HiddenField(validators=[_required(), Regexp(r"^\d{1,9}$", message=_l("Unknown company."))])
    demand_id = HiddenField(validators=[Blank(), Regexp(r"^\d{1,9}$", message=_l("Unknown company."))])


class WishForm(FlaskForm):
    presenter_ids = MultiCheckboxField(_l("Presenters I want to meet"), coerce=id_choice, validators=[Blank()])


class AttendanceForm(FlaskForm):
    companies = MultiCheckboxField(_l("Companies present"), coerce=id_choice, validators=[Blank()])
    presenters = MultiCheckboxField(_l("Presenters present"), coerce=id_choice, validators=[Blank()])


class ConflictForm(FlaskForm):
    company_id = SelectField(_l("Company"), coerce=id_choice, validators=[InputRequired(message=REQUIRED)])
    presenter_id = SelectField(_l("Presenter"), coerce=id_choice, validators=[InputRequired(message=REQUIRED)])


class IntentForm(FlaskForm):
    intent = SelectField(_l("Intent"), choices=[("interested", _l("Interested")),
                                                ("not_interested", _l("Not interested"))],
                         validators=[_required()])


class ChallengeForm(FlaskForm):
    title = StringField(_l("Title"), validators=[_required(), Length(
        min=4, max=120, message=_l("The title needs 4 to 120 characters."))])
    problem = TextAreaField(_l("Key technical problem"), validators=[_required(), Length(
        min=20, max=4000, message=_l("Describe the problem in 20 to 4,000 characters."))])
    indicators = TextAreaField(_l("Required indicators"), validators=[_required(), _max(2000)])
    reward = _money(_l("Reward (10k yuan)"))
    deadline = DateField(_l("Application deadline"), validators=[
        InputRequired(message=_l("Enter a date, like 2026-12-01."))])
    eligibility = TextAreaField(_l("Eligibility"), validators=[Blank(), _max(2000)])
    sponsor = StringField(_l("Sponsor (government body or company)"), validators=[Blank(), _max(200)])
    field_code = SelectField(_l("Field"), validators=[_required()])
    criteria = TextAreaField(_l("Scoring criteria"), validators=[_required(), _max(2000)],
                             description=_l("One per line: name | scientist, entrepreneur or investor | weight, "
                                            "e.g. 技术先进性 | scientist | 40"))

    def validate_reward(self, field: Any) -> None:
        if field.data is None:
            raise ValidationError(REQUIRED)

    # the saved deadline when editing: keeping a past one unchanged is not an error
    current_deadline: Optional[date] = None

    def validate_deadline(self, field: DateField) -> None:
        if field.data and field.data < clock.today() and field.data != self.current_deadline:
            raise ValidationError(_l("The deadline must be today or later."))


class ApplicationForm(FlaskForm):
    team = TextAreaField(_l("Team"), validators=[_required(), Length(
        min=4, max=2000, message=_l("Describe the team in 4 to 2,000 characters."))])
    approach = TextAreaField(_l("Technical approach"), validators=[_required(), Length(
        min=20, max=6000, message=_l("Describe the approach in 20 to 6,000 characters."))])
    achievement_ids = MultiCheckboxField(_l("Linked achievements"), coerce=id_choice, validators=[Blank()])


class PanelForm(FlaskForm):
    user_id = SelectField(_l("Panel member"), coerce=id_choice, validators=[InputRequired(message=REQUIRED)])


__all__ = ["RoadshowForm", "AddPresenterForm", "InviteForm", "WishForm", "AttendanceForm", "ConflictForm",
           "IntentForm", "ChallengeForm", "ApplicationForm", "PanelForm"]
