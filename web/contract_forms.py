"""Forms of the contract register, the region hierarchy and region targets (CSRF, server-side validation; the
services check everything again, so an import or API call meets the same rules)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from models import CONTRACT_STATUSES, IP_KINDS, PARTY_NATURES, REGION_LEVELS, TECH_CONTRACT_TYPES

from .forms import DateField, DecimalField, FlaskForm, IntegerField, REQUIRED, _finite, id_choice

TYPE_LABELS = {"development.commissioned": _l("Technology development (commissioned)"),
               "development.cooperative": _l("Technology development (cooperative)"),
               "transfer.patent": _l("Technology transfer (patent right)"),
               "transfer.patent_application": _l("Technology transfer (patent application right)"),
               "transfer.know_how": _l("Technology transfer (technical secret)"),
               "transfer.other": _l("Technology transfer (other)"), "license": _l("Technology licensing"),
               "consulting": _l("Technical consulting"), "service": _l("Technical service")}
CATEGORY_LABELS = {"development": _l("Technology development"), "transfer": _l("Technology transfer"),
                   "license": _l("Technology licensing"), "consulting": _l("Technical consulting"),
                   "service": _l("Technical service")}
STATUS_LABELS = {"registered": _l("Registered with the office"), "not_registered": _l("Not registered (refused)")}
LEVEL_LABELS = {"province": _l("Province"), "city": _l("City"), "district": _l("District / county"),
                "park": _l("Park"), "township": _l("Township"), "street": _l("Street")}
IP_LABELS = {"none": _l("None"), "invention": _l("Invention patent"), "utility": _l("Utility model"),
             "design": _l("Design patent"), "software": _l("Software copyright"), "ic_layout": _l("IC layout design"),
             "plant_variety": _l("Plant variety"), "know_how": _l("Technical secret"), "other": _l("Other IP")}
AMOUNT_MESSAGE = _l("Enter an amount of 0 or more, in 10k yuan.")


def _amount(label: object) -> DecimalField:
    return DecimalField(label, places=4, validators=[DataRequired(message=REQUIRED), _finite, NumberRange(
        min=0, max=1_000_000_000, message=AMOUNT_MESSAGE)], render_kw={"step": "0.0001", "min": "0"})


def _link(label: object) -> IntegerField:
    return IntegerField(label, validators=[Optional(), NumberRange(min=1, message=_l("Enter an id of 1 or more."))])


def nature_choices() -> list[tuple[str, str]]:
    """The 3-digit nature codes with their names (Chinese: the registration form's own words)."""
    return [("", "—")] + [(code, f"{code} {name}") for code, name in PARTY_NATURES.items()]


class ContractForm(FlaskForm):
    reg_number = StringField(_l("Registration number"), validators=[DataRequired(message=REQUIRED), Regexp(
        r"^\d{16}$", message=_l("A registration number has 16 digits."))])
    registered_on = DateField(_l("Registration date"), validators=[Optional()])
    name = StringField(_l("Contract name"), validators=[DataRequired(message=REQUIRED), Length(
        max=200, message=_l("Keep this under %(max)d characters.", max=200))])
    contract_type = SelectField(_l("Contract type"), validators=[DataRequired(message=REQUIRED)],
                                choices=[(t, TYPE_LABELS[t]) for t in TECH_CONTRACT_TYPES])
    status = SelectField(_l("Registration status"), choices=[(s, STATUS_LABELS[s]) for s in CONTRACT_STATUSES])
    seller_name = StringField(_l("Seller (technology output side)"), validators=[DataRequired(message=REQUIRED),
                                                                                 Length(max=200)])
    seller_nature = SelectField(_l("Seller nature"), validators=[DataRequired(message=REQUIRED)])
    seller_region = SelectField(_l("Seller region"), validators=[DataRequired(message=REQUIRED)])
    buyer_name = StringField(_l("Buyer (technology absorbing side)"), validators=[DataRequired(message=REQUIRED),
                                                                                 Length(max=200)])
    buyer_nature = SelectField(_l("Buyer nature"), validators=[DataRequired(message=REQUIRED)])
    buyer_region = SelectField(_l("Buyer region"), validators=[DataRequired(message=REQUIRED)])
    amount = _amount(_l("Contract amount (10k yuan)"))
    tech_amount = _amount(_l("Technology transaction amount (10k yuan)"))
    signed_on = DateField(_l("Signed on"), validators=[DataRequired(message=REQUIRED)])
    term_from = DateField(_l("Term from"), validators=[Optional()])
    term_to = DateField(_l("Term to"), validators=[Optional()])
    field_code = SelectField(_l("Field"), validators=[Optional()])
    ip_kind = SelectField(_l("Intellectual property involved"), choices=[(k, IP_LABELS[k]) for k in IP_KINDS])
    ip_note = StringField(_l("IP details (numbers)"), validators=[Optional(), Length(max=200)])
    demand_id = _link(_l("From demand (id)"))
    achievement_id = _link(_l("From achievement (id)"))
    opportunity_id = _link(_l("From opportunity (id)"))
    challenge_id = _link(_l("From challenge (id)"))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])

    def values(self) -> dict:
        """The submitted values as the service reads them."""
        return {name: field.data for name, field in self._fields.items() if name != "csrf_token"}


class ContractFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=100)])
    category = SelectField(_l("Type"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    region = SelectField(_l("Region"), validators=[Optional()])
    field = SelectField(_l("Field"), validators=[Optional()])
    since = DateField(_l("Signed from"), validators=[Optional()])
    until = DateField(_l("Signed until"), validators=[Optional()])


class RegionForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(message=REQUIRED), Regexp(
        r"^[a-z0-9][a-z0-9_.-]{0,31}$", message=_l("Use 1 to 32 lower-case letters, digits, dots, dashes or "
                                                    "underscores, like xian_gaoxin."))])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(message=REQUIRED), Length(max=32)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(message=REQUIRED), Length(max=64)])
    level = SelectField(_l("Level"), choices=[(lv, LEVEL_LABELS[lv]) for lv in REGION_LEVELS])
    gb_code = StringField(_l("GB/T 2260 code"), validators=[Optional(), Regexp(
        r"^\d{6}$", message=_l("A GB/T 2260 code has 6 digits; leave it empty for parks."))])
    parent_id = SelectField(_l("Parent"), coerce=lambda v: id_choice(v) if v not in ("", None) else None,
                            validators=[Optional()])
    position = IntegerField(_l("Position"), default=0, validators=[Optional(), NumberRange(min=0, max=100000)])


class TargetForm(FlaskForm):
    region_id = SelectField(_l("Region"), coerce=id_choice, validators=[DataRequired(message=REQUIRED)])
    year = IntegerField(_l("Year"), validators=[DataRequired(message=REQUIRED), NumberRange(min=1985, max=2100)])
    amount = _amount(_l("Target contract amount (10k yuan)"))
    count = IntegerField(_l("Target number of contracts"), validators=[Optional(), NumberRange(min=0, max=10**8)])
    measure = SelectField(_l("Counted on"), default="output", choices=[("output", _l("Output (seller inside)")),
                                                     ("absorbed", _l("Absorbed (buyer inside)"))])


class ImportConfirmForm(FlaskForm):
    confirm = HiddenField(default="1")
