"""Forms of the industry-chain map: a broker moves a listing to another node of the chain (CSRF, validated;
the service checks the node belongs to the chain and the listing is published), adds a listing to a node or
takes it off; an admin edits chains, nodes and edges (the service checks codes, self-edges and cycles again)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from .forms import DecimalField, FlaskForm, IntegerField, REQUIRED, id_choice

KIND_LABELS = {"demand": _l("Demand"), "achievement": _l("Achievement")}
STAGE_CHOICES = {"upstream": _l("Upstream"), "midstream": _l("Midstream"), "downstream": _l("Downstream")}
ID_MESSAGE = _l("Enter an id of 1 or more.")


class PlaceForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[(k, v) for k, v in KIND_LABELS.items()],
                       validators=[DataRequired(message=REQUIRED)])
    listing_id = IntegerField(_l("Listing"), validators=[DataRequired(message=REQUIRED),
                                                         NumberRange(min=1, max=2_147_483_647, message=ID_MESSAGE)])
    node_id = IntegerField(_l("Node"), validators=[DataRequired(message=REQUIRED),
                                                   NumberRange(min=1, max=2_147_483_647, message=ID_MESSAGE)])


WEIGHT_MESSAGE = _l("Enter a weight between 0 and 1.")


class WeightField(DecimalField):
    """A weight 0-1: NaN, Infinity or text answer with the weight's message (not an amount's)."""

    def process_formdata(self, valuelist: list) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(WEIGHT_MESSAGE) from None


CODE_MESSAGE = _l("Use lower-case letters, digits, - and _ only (at most 32).")


class ChainForm(FlaskForm):
    """An admin creates or edits a chain: code, names, description, 链主 enterprises (one a line)."""

    code = StringField(_l("Code"), validators=[DataRequired(message=REQUIRED), Length(max=32, message=CODE_MESSAGE),
                                               Regexp(r"^[a-z0-9_-]+$", message=CODE_MESSAGE)])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(message=REQUIRED), Length(max=64)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=128)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    leaders = TextAreaField(_l("Chain leaders (链主 enterprises, one a line)"), validators=[Optional(), Length(max=2000)])
    key_chain = BooleanField(_l("Key chain"))


class NodeForm(FlaskForm):
    """An admin adds or edits a node: its stage and the description the engine places listings by."""

    code = StringField(_l("Code"), validators=[DataRequired(message=REQUIRED), Length(max=32, message=CODE_MESSAGE),
                                               Regexp(r"^[a-z0-9_-]+$", message=CODE_MESSAGE)])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(message=REQUIRED), Length(max=64)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=128)])
    stage = SelectField(_l("Stage"), choices=[(s, v) for s, v in STAGE_CHOICES.items()],
                        validators=[DataRequired(message=REQUIRED)])
    description = TextAreaField(_l("Description (listings are placed by their similarity to it)"),
                                validators=[DataRequired(message=REQUIRED), Length(max=2000)])


class EdgeForm(FlaskForm):
    """An admin adds or edits an edge: supply from one node to another, its weight (0-1) and quantity."""

    from_id = SelectField(_l("From node"), coerce=id_choice, validators=[DataRequired(message=REQUIRED)])
    to_id = SelectField(_l("To node"), coerce=id_choice, validators=[DataRequired(message=REQUIRED)])
    weight = WeightField(_l("Weight (0-1, drawn as the line's width)"), places=2, validators=[
        Optional(), NumberRange(min=0, max=1, message=WEIGHT_MESSAGE)])
    quantity = StringField(_l("Quantity"), validators=[Optional(), Length(max=64)])


class ListingOnNodeForm(FlaskForm):
    """A broker adds a listing to a node or takes it off (kept through recomputation)."""

    kind = SelectField(_l("Kind"), choices=[(k, v) for k, v in KIND_LABELS.items()],
                       validators=[DataRequired(message=REQUIRED)])
    listing_id = IntegerField(_l("Listing id"), validators=[DataRequired(message=REQUIRED),
                                                            NumberRange(min=1, max=2_147_483_647, message=ID_MESSAGE)])


class DeleteForm(FlaskForm):
    """A CSRF-protected button."""
