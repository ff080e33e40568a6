"""Forms of the roadshow programme and of 揭榜挂帅 end to end (kept apart from web/roadshow_forms.py)."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Regexp, ValidationError
from wtforms.validators import Optional as Blank

from services import clock

from .forms import REQUIRED, DateField, FlaskForm, IntegerField, MultiCheckboxField, _max, _money, _required, id_choice

LINK = Regexp(r"^https?://\S+$", message=_l("Enter a link starting with http:// or https://."))
KIND_LABELS = {"achievement": _l("Achievement roadshow (成果路演)"), "product": _l("Product roadshow (产品路演)"),
               "scenario": _l("Scenario roadshow (场景路演)")}
PARTICIPANT_LABELS = {"company": _l("Company"), "investor": _l("Investor")}


class RegisterForm(FlaskForm):
    participant = SelectField(_l("I register as"), choices=list(PARTICIPANT_LABELS.items()), default="company",
                              validators=[InputRequired(message=REQUIRED)])


class PresentForm(FlaskForm):
    achievement_id = SelectField(_l("Achievement to present"), coerce=id_choice,
                                 validators=[InputRequired(message=_l("Choose one of your published achievements."))])
    pitch = TextAreaField(_l("Why this achievement fits the roadshow"), validators=[Blank(), _max(2000)])


class DecideForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=[("accept", _l("Accept")), ("decline", _l("Decline"))],
                           validators=[InputRequired(message=REQUIRED)])
    reason = TextAreaField(_l("Reason (told to the applicant)"), validators=[Blank(), _max(2000)])


class PresenterLinksForm(FlaskForm):
    live_link = StringField(_l("Live link"), validators=[Blank(), _max(300), LINK])
    recording_link = StringField(_l("Recording link"), validators=[Blank(), _max(300), LINK])


class MeetingLinkForm(FlaskForm):
    meeting_link = StringField(_l("Meeting link"), validators=[Blank(), _max(300), LINK])


# ------------------------------------------------------------------------------------------ 揭榜挂帅

class FromDemandsForm(FlaskForm):
    demand_ids = MultiCheckboxField(_l("Published demands behind the challenge"), coerce=id_choice,
                                    validators=[InputRequired(message=_l("Choose at least one published demand."))])
    title = StringField(_l("Title"), validators=[_required(), Length(
        min=4, max=120, message=_l("The title needs 4 to 120 characters."))])
    problem = TextAreaField(_l("Key technical problem"), validators=[_required(), Length(
        min=20, max=4000, message=_l("Describe the problem in 20 to 4,000 characters."))])
    indicators = TextAreaField(_l("Required indicators"), validators=[_required(), _max(2000)])
    reward = _money(_l("Reward (10k yuan)"))
    budget = _money(_l("Budget for all teams (10k yuan)"))
    max_winners = IntegerField(_l("Winning teams at most (赛马)"), default=2, validators=[
        InputRequired(message=REQUIRED),
        NumberRange(min=1, max=20, message=_l("Enter a whole number from %(min)s to %(max)s."))])
    deadline = DateField(_l("Application deadline"), validators=[
        InputRequired(message=_l("Enter a date, like 2026-12-01."))])
    eligibility = TextAreaField(_l("Eligibility"), validators=[Blank(), _max(2000)])
    criteria = TextAreaField(_l("Scoring criteria"), validators=[_required(), _max(2000)],
                             default="技术先进性 | scientist | 40\n产业化前景 | entrepreneur | 35\n投入产出 | investor | 25",
                             description=_l("One per line: name | scientist, entrepreneur or investor | weight, "
                                            "e.g. 技术先进性 | scientist | 40"))

    def validate_reward(self, field: Any) -> None:
        if field.data is None:
            raise ValidationError(REQUIRED)

    def validate_deadline(self, field: DateField) -> None:
        if field.data and field.data < clock.today():
            raise ValidationError(_l("The deadline must be today or later."))


class JointApplicationForm(FlaskForm):
    team = TextAreaField(_l("Team"), validators=[_required(), Length(
        min=4, max=2000, message=_l("Describe the team in 4 to 2,000 characters."))])
    approach = TextAreaField(_l("Technical approach"), validators=[_required(), Length(
        min=20, max=6000, message=_l("Describe the approach in 20 to 6,000 characters."))])
    partners = TextAreaField(_l("Partner organisations (joint application)"), validators=[Length(
        max=1200, message=_l("Keep the partners' names under 1,200 characters in all, one per line."))])
    achievement_ids = MultiCheckboxField(_l("Linked achievements"), coerce=id_choice, validators=[Blank()])


class AwardForm(FlaskForm):
    application_ids = MultiCheckboxField(_l("Winning applications"), coerce=id_choice,
                                         validators=[InputRequired(message=_l("Choose at least one winner."))])


class MilestoneForm(FlaskForm):
    due_on = DateField(_l("Due date"), validators=[InputRequired(message=_l("Enter a date, like 2026-12-01."))])
    deliverable = StringField(_l("Deliverable"), validators=[_required(), Length(
        min=2, max=200, message=_l("Describe the deliverable in 2 to 200 characters."))])
    amount = _money(_l("Amount (10k yuan)"))

    def validate_amount(self, field: Any) -> None:
        if field.data is None:
            raise ValidationError(REQUIRED)


class ProgressForm(FlaskForm):
    progress = IntegerField(_l("Progress (%)"), validators=[
        InputRequired(message=REQUIRED),
        NumberRange(min=0, max=100, message=_l("Enter a whole number from %(min)s to %(max)s."))])
    note = TextAreaField(_l("Note"), validators=[Blank(), _max(2000)])


class AcceptanceForm(FlaskForm):
    score = IntegerField(_l("Acceptance score (0-100)"), validators=[
        InputRequired(message=REQUIRED),
        NumberRange(min=0, max=100, message=_l("Enter a whole number from %(min)s to %(max)s."))])
