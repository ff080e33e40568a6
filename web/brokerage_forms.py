"""Forms and refusal messages of the broker operations pages (web/brokerage.py, web/broker_stats.py)."""
from __future__ import annotations

from typing import Any, Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from models import CERTIFICATE_LEVELS
from services.errors import ServiceError

from .errors import message_for
from .forms import DateField, DemandForm, FlaskForm, IntegerField, MultiCheckboxField, id_choice

LEVEL_LABELS = {"junior": _l("Junior (初级)"), "intermediate": _l("Intermediate (中级)"), "senior": _l("Senior (高级)")}
HOW_LABELS = {"rule": _l("by a routing rule"), "admin": _l("by an administrator"), "self": _l("taken on")}


def _messages(p: dict[str, Any]) -> dict[str, Callable[[], str]]:
    return {
        "brokerage.rule_name": lambda: _("Name the rule (1 to 80 characters)."),
        "brokerage.rule_priority": lambda: _("Enter a priority from -1000 to 1000."),
        "brokerage.unknown_field": lambda: _("Choose a field from the list."),
        "brokerage.unknown_region": lambda: _("Choose a region from the list."),
        "brokerage.rule_brokers": lambda: _("Choose at least one active broker for the rule."),
        "brokerage.rule_duplicate": lambda: _("The active rule “%(name)s” already routes this field and region at "
                                              "this priority to the same brokers, so this one would never be used: "
                                              "change that rule instead.", name=p.get("name", "")),
        "brokerage.assign_self_only": lambda: _("Brokers can only take a demand on themselves; an administrator "
                                                "assigns it to someone else."),
        "brokerage.not_a_broker": lambda: _("Choose an active broker."),
        "brokerage.already_assigned": lambda: _("This demand is already in that broker's caseload."),
        "brokerage.not_a_company": lambda: _("Choose an active company account."),
        "brokerage.already_confirmed": lambda: _("This demand was already confirmed."),
        "brokerage.bad_level": lambda: _("Choose a certificate level from the list."),
        "brokerage.certificate_number": lambda: _("A certificate number has at most 40 characters."),
        "brokerage.training_hours": lambda: _("Enter the training hours as a whole number from 0 to 10000."),
        "brokerage.bad_period": lambda: _("The end of the period cannot be before its start."),
    }


def message(err: ServiceError) -> str:
    """The message for a refusal of the broker operations, in the current language."""
    found = _messages(err.params).get(err.code)
    return found() if found is not None else message_for(err)


class RuleForm(FlaskForm):
    name = StringField(_l("Rule name"), validators=[DataRequired(message=_l("Name the rule (1 to 80 characters).")),
                                                    Length(max=80, message=_l("Name the rule (1 to 80 characters)."))])
    field_code = SelectField(_l("Field (empty: any field)"), validators=[Optional()])
    region_code = SelectField(_l("Region (empty: anywhere; a region takes in everything under it)"),
                              validators=[Optional()])
    priority = IntegerField(_l("Priority (higher wins among equally specific rules)"), default=0, validators=[
        InputRequired(message=_l("Enter a priority from -1000 to 1000.")),
        NumberRange(min=-1000, max=1000, message=_l("Enter a priority from -1000 to 1000."))])
    active = BooleanField(_l("Active"), default=True)
    brokers = MultiCheckboxField(_l("Brokers (assigned in turn)"), coerce=id_choice, validators=[
        InputRequired(message=_l("Choose at least one active broker for the rule."))])


class AssignForm(FlaskForm):
    broker_id = SelectField(_l("Broker"), coerce=id_choice, validators=[
        InputRequired(message=_l("Choose an active broker."))])


class EnterDemandForm(DemandForm):
    company_id = SelectField(_l("Company account"), coerce=id_choice, validators=[
        InputRequired(message=_l("Choose an active company account."))])


class ConfirmForm(FlaskForm):
    """Confirm (intent=confirm) or keep as a draft to change first (intent=draft)."""


class ProfileForm(FlaskForm):
    certificate_level = SelectField(_l("Certificate level"), validators=[Optional()])
    certificate_number = StringField(_l("Certificate number"), validators=[
        Optional(), Length(max=40, message=_l("A certificate number has at most 40 characters."))])
    training_hours = IntegerField(_l("Training hours"), default=0, validators=[
        InputRequired(message=_l("Enter the training hours as a whole number from 0 to 10000.")),
        NumberRange(min=0, max=10000, message=_l("Enter the training hours as a whole number from 0 to 10000."))])
    field_codes = MultiCheckboxField(_l("Fields I work in"), validators=[Optional()])
    region_codes = SelectMultipleField(_l("Regions I work in"), validators=[Optional()])


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])

    def validate_until(self, field: Any) -> None:
        from wtforms.validators import ValidationError

        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end of the period cannot be before its start."))


def level_choices() -> list[tuple[str, Any]]:
    return [("", _l("No certificate"))] + [(c, LEVEL_LABELS[c]) for c in CERTIFICATE_LEVELS]
