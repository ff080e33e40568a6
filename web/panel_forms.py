"""Forms of the advisory panel (科技顾问团): advisor accounts and profiles, forming a panel, adding an advisor,
and an advisor's review."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, NumberRange
from wtforms.validators import Optional as Blank

from .forms import (REQUIRED, DateField, DecimalField, FlaskForm, MultiCheckboxField, _counted, _finite, _max,
                    _required, id_choice)

PERSPECTIVE_LABELS = {"scientist": _l("Scientist (科学家)"), "entrepreneur": _l("Entrepreneur (企业家)"),
                      "investor": _l("Investor (投资家)")}
CRITERION_LABELS = {"tech_score": _l("Technology prospects (技术前景)"), "market_score": _l("Market demand (市场需求)"),
                    "value_score": _l("Value of the achievement (成果价值)")}
CONFLICT_LABELS = {"same_organisation": _l("same organisation as the achievement"),
                   "co_applied": _l("applied to a challenge together with the achievement's owner"),
                   "owner": _l("owns the achievement")}
ORG_KIND_LABELS = {"company": _l("Company"), "university": _l("University or institute"), "agency": _l("Agency")}
SCORE_CHOICES = [("", "—")] + [(str(i), str(i)) for i in range(1, 6)]
SCORE_MESSAGE = _l("Give a score from 1 to 5.")


class ProfileForm(FlaskForm):
    perspective = SelectField(_l("Perspective"), choices=list(PERSPECTIVE_LABELS.items()),
                              validators=[InputRequired(message=REQUIRED)])
    expertise = TextAreaField(_l("Expertise (what you can judge; the engine ranks advisors by it)"),
                              validators=[_required(), Length(min=2, max=4000, message=_l(
                                  "Describe the expertise in 2 to 4000 characters."))], render_kw=_counted(4000))
    fields = StringField(_l("Fields (comma separated)"), validators=[Blank(), _max(500)])


class AdvisorForm(ProfileForm):
    display_name = StringField(_l("Name"), validators=[_required(), _max(100)])
    email = EmailField(_l("E-mail"), validators=[_required(), _max(254), Email(
        message=_l("Enter a valid e-mail address, like name@example.com."))])
    password = PasswordField(_l("Initial password"), validators=[_required(), Length(
        min=10, max=200, message=_l("Use a password of at least 10 characters."))])
    organisation_name = StringField(_l("Organisation (conflicts of interest are checked against it)"),
                                    validators=[Blank(), _max(200)])
    organisation_kind = SelectField(_l("Kind of organisation"), choices=list(ORG_KIND_LABELS.items()),
                                    default="company", validators=[InputRequired(message=REQUIRED)])


class PanelForm(FlaskForm):
    achievement_id = SelectField(_l("Achievement"), coerce=id_choice,
                                 validators=[InputRequired(message=_l("Choose a published achievement."))])
    advisor_ids = MultiCheckboxField(_l("Advisors"), coerce=id_choice,
                                     validators=[InputRequired(message=_l("Choose at least one advisor."))])
    deadline = DateField(_l("Reviews due by"), validators=[InputRequired(message=REQUIRED)])
    gate = BooleanField(_l("Gate: a roadshow presentation is accepted only once every review is in"))
    note = TextAreaField(_l("Note to the advisors"), validators=[Blank(), _max(4000)], render_kw=_counted(4000))


class AddMemberForm(FlaskForm):
    advisor_id = SelectField(_l("Advisor"), coerce=id_choice,
                             validators=[InputRequired(message=_l("Choose an advisor."))])


class RemoveMemberForm(FlaskForm):
    pass


class ReviewForm(FlaskForm):
    tech_score = SelectField(CRITERION_LABELS["tech_score"], choices=SCORE_CHOICES,
                             validators=[InputRequired(message=SCORE_MESSAGE)])
    market_score = SelectField(CRITERION_LABELS["market_score"], choices=SCORE_CHOICES,
                               validators=[InputRequired(message=SCORE_MESSAGE)])
    value_score = SelectField(CRITERION_LABELS["value_score"], choices=SCORE_CHOICES,
                              validators=[InputRequired(message=SCORE_MESSAGE)])
    comment = TextAreaField(_l("Comment"), validators=[Blank(), _max(4000)], render_kw=_counted(4000))
    value_min = DecimalField(_l("Value from (10k yuan)"), places=2, validators=[Blank(), _finite, NumberRange(
        min=0, max=10_000_000, message=_l("Enter a value between 0 and 10,000,000 (in 10k yuan)."))])
    value_max = DecimalField(_l("Value to (10k yuan)"), places=2, validators=[Blank(), _finite, NumberRange(
        min=0, max=10_000_000, message=_l("Enter a value between 0 and 10,000,000 (in 10k yuan)."))])
