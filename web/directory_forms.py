"""Forms of the service directory: a provider's entry, the directory's filters, a contact request, a review
decision. Every bad value answers with a message in the interface language (zh-CN or English)."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Email, Length, Optional, Regexp, ValidationError

from models import INVESTOR_STAGES, PROVIDER_KINDS

from .forms import PHONE_RE, FlaskForm, phone_text, MultiCheckboxField, _counted, _max, _money, _required

KIND_LABELS = {"agency": _l("Technology-transfer agency"), "pilot": _l("Pilot-scale platform"),
               "poc": _l("Proof-of-concept platform"), "lab": _l("Testing lab"), "ip": _l("IP services"),
               "investor": _l("Investor or financing institution"), "expert": _l("Expert")}
STAGE_LABELS = {"seed": _l("Seed"), "angel": _l("Angel"), "a": _l("Series A"), "b": _l("Series B"),
                "c": _l("Series C and later"), "growth": _l("Growth / pre-IPO"), "debt": _l("Loans and guarantees")}
NEED_LABELS = {"pilot": _l("pilot-scale production"), "testing": _l("testing and certification"),
               "finance": _l("finance")}
STATUS_LABELS = {"draft": _l("Draft"), "submitted": _l("Waiting for review"), "published": _l("Published"),
                 "returned": _l("Returned for changes"), "rejected": _l("Rejected")}
REQUEST_LABELS = {"requested": _l("Waiting for the provider"), "accepted": _l("Accepted"),
                  "declined": _l("Declined"), "withdrawn": _l("Withdrawn")}
WEBSITE_RE = r"^https?://\S+$"


class ProviderForm(FlaskForm):
    kind = SelectField(_l("Kind of provider"), choices=[(k, KIND_LABELS[k]) for k in PROVIDER_KINDS],
                       validators=[_required()])
    name = StringField(_l("Entry name"), validators=[_required(), Length(
        min=2, max=120, message=_l("The name needs 2 to 120 characters."))])
    description = TextAreaField(_l("What you offer"), validators=[_required(), Length(
        min=10, max=4000, message=_l("Describe what you offer in 10 to 4,000 characters."))],
        render_kw=_counted(4000))
    field_codes = SelectMultipleField(_l("Fields"), validators=[_required()], render_kw={"size": 8})
    region = SelectField(_l("Region"), validators=[_required()])
    services = TextAreaField(_l("Services offered"), validators=[Optional(), _max(2000)], render_kw=_counted(2000))
    equipment = TextAreaField(_l("Equipment (pilot, proof-of-concept and testing platforms)"),
                              validators=[Optional(), _max(2000)], render_kw=_counted(2000))
    capacity = StringField(_l("Capacity and booking"), validators=[Optional(), _max(300)])
    stages = MultiCheckboxField(_l("Investment stages (investors)"),
                                choices=[(s, STAGE_LABELS[s]) for s in INVESTOR_STAGES], validators=[Optional()])
    ticket_min = _money(_l("Ticket from (10k yuan)"))
    ticket_max = _money(_l("Ticket up to (10k yuan)"))
    website = StringField(_l("Website"), validators=[Optional(), _max(200), Regexp(
        WEBSITE_RE, message=_l("Enter a web address starting with http:// or https://."))])
    contact_name = StringField(_l("Contact person"), validators=[_required(), _max(50)])
    contact_phone = StringField(_l("Contact phone"), validators=[_required(), Regexp(
        PHONE_RE, message=_l("Enter a mobile number (11 digits) or a landline such as 029-88886666."))],
        filters=[phone_text])
    contact_email = StringField(_l("Contact e-mail"), validators=[_required(), _max(254), Email(
        message=_l("Enter a valid e-mail address, like name@example.com."))])

    def validate_ticket_max(self, field: Any) -> None:
        lo, hi = self.ticket_min.data, field.data
        if lo is not None and hi is not None and lo.is_finite() and hi.is_finite() and lo > hi:
            raise ValidationError(_l("The largest ticket must be at least the smallest."))

    def values(self) -> dict[str, Any]:
        """The form's values for services.directory."""
        return {"kind": self.kind.data, "name": self.name.data, "description": self.description.data,
                "field_codes": list(self.field_codes.data or []), "region": self.region.data,
                "services": self.services.data or "", "equipment": self.equipment.data or "",
                "capacity": self.capacity.data or "", "stages": list(self.stages.data or []),
                "ticket_min": float(self.ticket_min.data) if self.ticket_min.data is not None else None,
                "ticket_max": float(self.ticket_max.data) if self.ticket_max.data is not None else None,
                "website": self.website.data or "", "contact_name": self.contact_name.data,
                "contact_phone": self.contact_phone.data, "contact_email": self.contact_email.data}


class DirectoryFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), _max(100)])
    kind = SelectField(_l("Kind"), validators=[Optional()])
    field = SelectField(_l("Field"), validators=[Optional()])
    region = SelectField(_l("Region"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])


class ContactRequestForm(FlaskForm):
    message = TextAreaField(_l("Why you would like to get in touch (optional)"),
                            validators=[Optional(), _max(1000)], render_kw=_counted(1000))


class DecisionForm(FlaskForm):
    reason = TextAreaField(_l("Reason (required to return or reject)"), validators=[Optional(), _max(2000)])
