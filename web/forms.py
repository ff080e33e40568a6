"""Flask-WTF forms: CSRF on every POST, server-side validation with translated messages."""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm as _FlaskForm
from flask_wtf.i18n import translations as wtforms_translations
from wtforms import fields as wtf
from wtforms import (BooleanField, EmailField, FieldList, FormField, HiddenField, PasswordField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import (DataRequired, Email, InputRequired, Length, NumberRange, Optional, Regexp,
                                StopValidation, ValidationError)
from wtforms.widgets import CheckboxInput, ListWidget

from models import COOPERATION_MODES, STAGE_TRL, STAGES

from services import clock

from .i18n import MODE_LABELS, PATENT_KIND_LABELS, PATENT_STATUS_LABELS, ROLE_LABELS, STAGE_LABELS

REQUIRED = _l("This field is required.")
PHONE_RE = r"^(\+?86[- ]?)?(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?)$"
CREDIT_CODE_RE = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"
RIGHTS_LABELS = {"none": _l("Not yet empowered"), "partial": _l("Partially empowered"),
                 "full": _l("Fully empowered")}
TRL_CHOICES = [(str(i), f"TRL {i}") for i in range(1, 10)]


def _max(n: int) -> Length:
    return Length(max=n, message=_l("Keep this under %(max)d characters.", max=n))


def _counted(limit: int) -> dict[str, Any]:
    """render_kw of a long text: no maxlength attribute (a browser silently cuts pasted text at it); the live
    counter (static/js/char-counter.js) shows the limit, and the server refuses longer text with a message."""
    return {"maxlength": False, "data-maxlength": str(limit)}


def phone_text(value: Any) -> Any:
    """A phone number as typed with a Chinese input method read as ASCII: full-width digits, hyphen, plus and
    spaces (１３８００１３８０００, ０２９－８８８８６６６６) become 13800138000, 029-88886666 (NFKC); spaces around it
    are dropped."""
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _required() -> DataRequired:
    return DataRequired(message=REQUIRED)


# --- one rule per kind of input (issue 18): the field classes every form here uses -----------------------------
# WTForms' own messages (a value it cannot parse, a choice not offered) in this platform's words and languages:
# Flask-WTF looks them up in WTForms' catalogues, whose zh lacks some (English in the Chinese UI) and which do not
# say what to do next.
WTFORMS_MESSAGES = {
    "This field is required.": REQUIRED,
    "Not a valid choice.": _l("Choose one of the options in the list."),
    "Invalid Choice: could not coerce.": _l("Choose one of the options in the list."),
    "'%(value)s' is not a valid choice for this field.": _l("“%(value)s” is not one of the options: choose from "
                                                            "the list."),
    "'%(value)s' are not valid choices for this field.": _l("“%(value)s” is not one of the options: choose from "
                                                            "the list."),
    "Invalid choice(s): one or more data inputs could not be coerced.": _l("Choose only options from the list."),
    "Not a valid integer value.": _l("Enter a whole number, using the digits 0 to 9."),
    "Not a valid decimal value.": _l("Enter a number, like 12.5."),
    "Not a valid float value.": _l("Enter a number, like 12.5."),
    "Not a valid date value.": _l("Enter a date like 2026-01-31."),
    "Not a valid datetime value.": _l("Enter a date and time like 2026-01-31 14:00."),
    "Not a valid time value.": _l("Enter a time like 14:00."),
    "Invalid input.": _l("This value is not valid: check what you entered."),
}
MAX_WHOLE = 2_147_483_647  # the largest value of a database integer (PostgreSQL's int4)
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2999, 12, 31)  # as web/input_guard.py


class _Translations:
    """WTForms' messages: WTFORMS_MESSAGES in the current language, else WTForms' own catalogue."""

    def gettext(self, string: str) -> str:
        ours = WTFORMS_MESSAGES.get(string)
        return str(ours) if ours is not None else wtforms_translations.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        ours = WTFORMS_MESSAGES.get(singular if n == 1 else plural)
        return str(ours) if ours is not None else wtforms_translations.ngettext(singular, plural, n)


TRANSLATIONS = _Translations()


class FlaskForm(_FlaskForm):
    """Flask-WTF's form (CSRF) whose built-in messages follow the interface language (TRANSLATIONS)."""

    class Meta(_FlaskForm.Meta):
        def get_translations(self, form: Any) -> Any:
            return TRANSLATIONS


class _StopOnParseError:
    """A field whose value could not be parsed says so once: no range message after it (an empty value goes on
    to Optional/InputRequired as before)."""

    def pre_validate(self, form: Any) -> None:
        if self.process_errors and any(str(v).strip() for v in self.raw_data or ()):  # type: ignore[attr-defined]
            raise StopValidation()
        super().pre_validate(form)  # type: ignore[misc]


class IntegerField(_StopOnParseError, wtf.IntegerField):
    """A whole number: ASCII digits with an optional sign (no 1.5, no '²' or '١٢'), at most MAX_WHOLE."""

    def process_formdata(self, valuelist: list) -> None:
        if not valuelist:
            return
        text = str(valuelist[0]).strip()
        self.data = None
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise ValueError(str(WTFORMS_MESSAGES["Not a valid integer value."]))
        if len(text.lstrip("+-")) > 10 or abs(int(text)) > MAX_WHOLE:
            raise ValueError(_l("Enter a smaller number: at most %(max)s.", max=MAX_WHOLE))
        self.data = int(text)


class DecimalField(_StopOnParseError, wtf.DecimalField):
    """A decimal number that is finite (no NaN, Infinity or sNaN) and of a sane size (no 1e999999999)."""

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)
        if not valuelist or self.data is None:  # nothing sent: the object's own value (a float) stays
            return
        if not isinstance(self.data, Decimal):
            self.data = Decimal(str(self.data))
        if not self.data.is_finite() or self.data.adjusted() > 15:
            self.data = None
            raise ValueError(_l("Enter an amount between 0 and 1,000,000 (in 10k yuan)."))


class DateField(_StopOnParseError, wtf.DateField):
    """A date from FIRST_DATE to LAST_DATE (dates near year 1 or 9999 break date arithmetic)."""

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_DATE <= self.data <= LAST_DATE:
            self.data = None
            raise ValueError(_l("Enter a date between %(first)s and %(last)s.", first=FIRST_DATE.isoformat(),
                                last=LAST_DATE.isoformat()))


def id_choice(value: Any) -> int:
    """coerce= of a choice of database rows: a whole number in ASCII digits up to MAX_WHOLE, else ValueError."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(value)
    if not 0 <= number <= MAX_WHOLE:
        raise ValueError(value)
    return number


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes for one multi-valued field; a value sent twice counts once."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(list(dict.fromkeys(valuelist)))
        if self.data:
            self.data = list(dict.fromkeys(self.data))


def _finite(form: Any, field: DecimalField) -> None:
    """NaN and Infinity parse as decimals but are not amounts (and break comparisons: stop here)."""
    if field.data is not None and not field.data.is_finite():
        raise StopValidation(_l("Enter an amount between 0 and 1,000,000 (in 10k yuan)."))


def _money(label: Any) -> DecimalField:
    return DecimalField(label, places=2, validators=[Optional(), _finite, NumberRange(
        min=0, max=1_000_000, message=_l("Enter an amount between 0 and 1,000,000 (in 10k yuan)."))],
        render_kw={"step": "0.01", "min": "0"})


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[_required(), _max(254)])
    password = PasswordField(_l("Password"), validators=[_required(), _max(200)])


class RegisterForm(FlaskForm):
    role = SelectField(_l("I register as"), choices=[("company", ROLE_LABELS["company"]),
                                                     ("university", ROLE_LABELS["university"])],
                       validators=[_required()])
    org_name = StringField(_l("Organisation name"), validators=[_required(), Length(
        min=2, max=200, message=_l("Enter the organisation's full name (2 to 200 characters)."))])
    credit_code = StringField(_l("Unified social credit code (optional)"), validators=[Optional(), Regexp(
        CREDIT_CODE_RE, message=_l("A unified social credit code has 18 characters: digits and capital letters."))],
        filters=[lambda v: v.strip().upper() if v else v])
    region = SelectField(_l("Region"), validators=[_required()])
    industry = SelectField(_l("Industry"), validators=[Optional()])
    display_name = StringField(_l("Your name"), validators=[_required(), _max(100)])
    email = EmailField(_l("E-mail"), validators=[_required(), _max(254), Email(
        message=_l("Enter a valid e-mail address, like name@example.com."))])
    password = PasswordField(_l("Password"), validators=[_required(), Length(
        min=10, max=200, message=_l("Use a password of at least 10 characters."))])


class ListingForm(FlaskForm):
    """Fields shared by demands and achievements."""

    title = StringField(_l("Title"), validators=[_required(), Length(
        min=4, max=120, message=_l("The title needs 4 to 120 characters."))])
    field_code = SelectField(_l("Field"), validators=[_required()])
    keywords = StringField(_l("Keywords (separated by commas)"), validators=[Optional(), _max(300)])
    region = SelectField(_l("Region"), validators=[_required()])
    modes = MultiCheckboxField(_l("Cooperation modes"), choices=[(m, MODE_LABELS[m]) for m in COOPERATION_MODES],
                               validators=[InputRequired(message=_l("Choose at least one cooperation mode."))])
    contact_name = StringField(_l("Contact person"), validators=[_required(), _max(50)])
    contact_phone = StringField(_l("Contact phone"), validators=[_required(), Regexp(
        PHONE_RE, message=_l("Enter a mobile number (11 digits) or a landline such as 029-88886666."))],
        filters=[phone_text])
    contact_email = EmailField(_l("Contact e-mail"), validators=[_required(), _max(254), Email(
        message=_l("Enter a valid e-mail address, like name@example.com."))])


class DemandForm(ListingForm):
    description = TextAreaField(_l("Problem description"), validators=[_required(), Length(
        min=20, max=4000, message=_l("Describe the problem in 20 to 4,000 characters."))], render_kw=_counted(4000))
    indicators = TextAreaField(_l("Technical indicators"), validators=[Optional(), _max(2000)],
                               render_kw=_counted(2000))
    budget_min = _money(_l("Budget from (10k yuan)"))
    budget_max = _money(_l("Budget up to (10k yuan)"))
    deadline = DateField(_l("Deadline"), validators=[Optional()])
    min_trl = SelectField(_l("Minimum maturity wanted"), choices=[("", _l("Any"))] + TRL_CHOICES,
                          validators=[Optional()])
    # issue 21 part 3: the company's name is hidden from the public and universities until an introduction is accepted
    confidential = BooleanField(_l("Confidential: hide our company's name until an introduction is accepted"))

    def validate_budget_max(self, field: DecimalField) -> None:
        lo, hi = self.budget_min.data, field.data
        if lo is not None and hi is not None and lo.is_finite() and hi.is_finite() and lo > hi:
            raise ValidationError(_l("The maximum budget must be at least the minimum."))

    def validate_deadline(self, field: DateField) -> None:
        keep = getattr(self, "_existing_deadline", None)
        if field.data and field.data < clock.today() and field.data != keep:
            raise ValidationError(_l("The deadline must be today or later."))


class PatentForm(FlaskForm):
    """One patent row; rows left without a number are ignored."""

    class Meta:
        csrf = False  # a sub-form: the outer form carries the token

    number = StringField(_l("Patent number"), validators=[Optional(), Regexp(
        r"^(CN|ZL)?\s?\d{8,13}(\.[0-9X]|[A-Z]\d?)?$|^\d{4}SR\d{5,7}$",
        message=_l("Use a number like CN202110123456.7, ZL201910001234.5 or 2023SR0123456."))],
        filters=[lambda v: v.strip().upper() if v else v])
    kind = SelectField(_l("Type"), choices=list(PATENT_KIND_LABELS.items()))
    status = SelectField(_l("Status"), choices=list(PATENT_STATUS_LABELS.items()))

    def validate(self, extra_validators: Any = None) -> bool:
        if not (self.number.data or "").strip():
            return True
        return super().validate(extra_validators)


class AchievementForm(ListingForm):
    abstract = TextAreaField(_l("Abstract"), validators=[_required(), Length(
        min=20, max=6000, message=_l("Write the abstract in 20 to 6,000 characters."))], render_kw=_counted(6000))
    stage = SelectField(_l("Maturity stage"), choices=[(s, STAGE_LABELS[s]) for s in STAGES],
                        validators=[_required()])
    trl = SelectField(_l("Technology readiness level (TRL)"), choices=TRL_CHOICES, validators=[_required()])
    patents = FieldList(FormField(PatentForm), min_entries=3, max_entries=10)
    price = _money(_l("Asking price (10k yuan)"))
    negotiable = BooleanField(_l("Price negotiable"))
    team = TextAreaField(_l("Team / inventors"), validators=[Optional(), _max(1000)], render_kw=_counted(1000))
    # 职务科技成果赋权 (issue 21 part 3)
    rights_status = SelectField(_l("Ownership rights of the inventors (职务科技成果赋权)"),
                                choices=list(RIGHTS_LABELS.items()), default="none", validators=[_required()])

    def validate_trl(self, field: SelectField) -> None:
        if self.stage.data in STAGE_TRL and field.data and field.data.isascii() and field.data.isdigit():
            lo, hi = STAGE_TRL[self.stage.data]
            if not lo <= int(field.data) <= hi:
                raise ValidationError(_l("For this maturity stage the TRL must be between %(lo)s and %(hi)s.",
                                         lo=lo, hi=hi))

    def validate_negotiable(self, field: BooleanField) -> None:
        # Checked here, not on price: price's Optional() stops its chain when it is empty.
        if self.price.data is None and not field.data and not self.price.errors:
            raise ValidationError(_l("Enter an asking price or tick 'Price negotiable'."))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason (shown to the owner)"), validators=[Optional(), _max(2000)],
                           render_kw=_counted(2000))


class ActionForm(FlaskForm):
    """An empty form: a button that POSTs with CSRF."""


class UserAdminForm(FlaskForm):
    role = SelectField(_l("Role"), choices=list(ROLE_LABELS.items()), validators=[_required()])


class CreateUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[_required(), _max(254), Email(
        message=_l("Enter a valid e-mail address, like name@example.com."))])
    display_name = StringField(_l("Name"), validators=[_required(), _max(100)])
    role = SelectField(_l("Role"), choices=list(ROLE_LABELS.items()), validators=[_required()])
    password = PasswordField(_l("Initial password"), validators=[_required(), Length(
        min=10, max=200, message=_l("Use a password of at least 10 characters."))])


class FieldForm(FlaskForm):
    code = StringField(_l("Code"), validators=[_required(), Regexp(
        r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$",
        message=_l("Use lower-case letters, digits and _; a sub-field is parent.code."))])
    name_zh = StringField(_l("Chinese name"), validators=[_required(), _max(64)])
    name_en = StringField(_l("English name"), validators=[_required(), _max(100)])
    parent_code = SelectField(_l("Parent field"), validators=[Optional()])
    active = BooleanField(_l("Active"), default=True)


def listing_data(form: ListingForm) -> dict[str, Any]:
    """What a listing form sends to the services, with types the models expect."""
    skip = {"csrf_token", "patents"}
    data = {name: f.data for name, f in form._fields.items() if name not in skip}
    for name in ("budget_min", "budget_max", "price"):
        if name in data and data[name] is not None:
            data[name] = float(data[name])
    for name in ("trl", "min_trl"):
        if name in data:
            data[name] = int(data[name]) if data[name] else None
    for name in ("title", "keywords", "contact_name", "contact_email"):
        data[name] = (data.get(name) or "").strip()
    if "patents" in form._fields:
        data["patents"] = [{"number": p["number"], "kind": p["kind"], "status": p["status"]}
                           for p in form.patents.data if p["number"]]
    return data


# -- broker workbench: reports, feedback, opportunities ----------------------------------------------
class ReportForm(FlaskForm):
    """Run a match report: one listing (by id) or a batch of open demands filtered by field/region/period."""

    scope = SelectField(_l("Report on"), choices=[("demand", _l("One technical demand")),
                                                  ("achievement", _l("One research achievement")),
                                                  ("batch", _l("All open demands (batch)"))],
                        validators=[_required()])
    listing_id = IntegerField(_l("Listing number"), validators=[Optional(), NumberRange(
        min=1, message=_l("Enter the number shown in the listing's address, e.g. 12."))])
    k = IntegerField(_l("Counterparts per listing"), default=10, validators=[InputRequired(message=REQUIRED),
                     NumberRange(min=1, max=50, message=_l("Enter a number from 1 to 50."))])
    field_code = SelectField(_l("Field"), validators=[Optional()])
    region = SelectField(_l("Region"), validators=[Optional()])
    since = DateField(_l("Published from"), validators=[Optional()])
    until = DateField(_l("Published until"), validators=[Optional()])

    def validate_scope(self, field: SelectField) -> None:
        # Checked here, not on listing_id: its Optional() stops its chain when it is empty.
        if field.data in ("demand", "achievement") and not self.listing_id.data and not self.listing_id.errors:
            self.listing_id.errors = [*self.listing_id.errors,
                                      _l("Enter the number of the listing to report on.")]
            raise ValidationError(_l("Enter the number of the listing to report on."))

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end of the period must not be before its start."))


class CommentForm(FlaskForm):
    comment = TextAreaField(_l("Broker's comment"), validators=[Optional(), _max(2000)], render_kw=_counted(2000))


class FeedbackForm(FlaskForm):
    """A broker's outcome for one suggested pair."""

    outcome = SelectField(_l("Outcome"), choices=[("not_relevant", _l("Not relevant")),
                                                  ("relevant", _l("Relevant, but")),
                                                  ("introduce", _l("Introduce"))], validators=[_required()])
    reason = SelectField(_l("Reason"), choices=[("", "—"), ("early_stage", _l("Too early stage")),
                                                ("price_gap", _l("Price-budget gap")),
                                                ("unclear_benefit", _l("Unclear benefit")), ("region", _l("Region")),
                                                ("ip_issue", _l("IP issue")), ("other", _l("Other"))],
                         validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), _max(500)])
    query_kind = HiddenField(default="demand")
    row_id = HiddenField()
    score = HiddenField()
    features = HiddenField()
    next = HiddenField()

    def validate_outcome(self, field: SelectField) -> None:
        # Checked here, not on reason: its Optional() stops its chain when it is empty.
        if field.data == "relevant" and not self.reason.data:
            raise ValidationError(_l("Say why the pair is relevant but not ready: choose a reason."))


class AmountField(DecimalField):
    """A contract amount in 10k yuan whose parse error says what to type."""

    def process_formdata(self, valuelist: list) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter the amount as a number in 10k yuan, e.g. 120.5.")) from None


class AdvanceForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Optional(), _max(500)])


class SignForm(FlaskForm):
    contract_type = SelectField(_l("Contract type"), choices=[
        ("development", _l("Technology development")), ("transfer", _l("Technology transfer")),
        ("license", _l("Technology licensing")), ("consulting", _l("Technical consulting")),
        ("service", _l("Technical service"))], validators=[_required()])
    amount = AmountField(_l("Contract amount (10k yuan)"), places=2, validators=[
        InputRequired(message=_l("Enter the amount as a number in 10k yuan, e.g. 120.5.")), _finite,
        NumberRange(min=0, max=1_000_000, message=_l("Enter an amount between 0 and 1,000,000 (in 10k yuan)."))],
        render_kw={"step": "0.01", "min": "0"})
    signed_on = DateField(_l("Signed on"), validators=[InputRequired(message=REQUIRED)])

    def validate_signed_on(self, field: DateField) -> None:
        if field.data and field.data > clock.today():
            raise ValidationError(_l("The signing date cannot be in the future."))


class CloseForm(FlaskForm):
    reason = TextAreaField(_l("Why is it closed?"), validators=[_required(), _max(2000)], render_kw=_counted(2000))
# --- trust and safety (issue 6) -----------------------------------------------------------------------------

class IntroductionForm(FlaskForm):
    """Ask for an introduction of a demand and an achievement, with a reason the other side reads."""

    demand_id = SelectField(_l("Demand"), coerce=id_choice, validate_choice=False, validators=[_required()])
    achievement_id = SelectField(_l("Achievement"), coerce=id_choice, validate_choice=False,
                                 validators=[_required()])
    reason = TextAreaField(_l("Why should they talk? (shown to the other side)"),
                           validators=[_required(), _max(1000)], render_kw=_counted(1000))


class PasswordChangeForm(FlaskForm):
    """Change one's password; every other session ends."""

    current = PasswordField(_l("Current password"), validators=[_required(), _max(200)])
    password = PasswordField(_l("New password"), validators=[_required(), _max(200)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[_required(), _max(200)])

    def validate_confirm(self, field: Any) -> None:
        if field.data != self.password.data:
            raise ValidationError(_l("The two new passwords differ."))


class ForgotPasswordForm(FlaskForm):
    """The e-mail address of an account whose password was forgotten."""

    email = EmailField(_l("E-mail"), validators=[_required(), _max(254), Email(
        message=_l("Enter a valid e-mail address, like name@example.com."))])


class ResetPasswordForm(FlaskForm):
    """A new password, set through an e-mailed link."""

    password = PasswordField(_l("New password"), validators=[_required(), _max(200)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[_required(), _max(200)])

    def validate_confirm(self, field: Any) -> None:
        if field.data != self.password.data:
            raise ValidationError(_l("The two new passwords differ."))


class AuditFilterForm(FlaskForm):
    """Filters of the audit log page (GET, no CSRF)."""

    class Meta:
        csrf = False

    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    actor = StringField(_l("User (id or e-mail)"), validators=[Optional(), _max(254)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])


class TotpForm(FlaskForm):
    """A six-digit code from an authenticator app."""

    code = StringField(_l("Six-digit code from your authenticator app"), validators=[_required(), Regexp(
        r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the six digits your authenticator app shows."))])
