"""Forms of the industry-chain map: a broker moves a listing to another node of the chain (CSRF, validated;
the service checks the node belongs to the chain and the listing is published)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import DataRequired, NumberRange

from .forms import FlaskForm, IntegerField, REQUIRED

KIND_LABELS = {"demand": _l("Demand"), "achievement": _l("Achievement")}
ID_MESSAGE = _l("Enter an id of 1 or more.")


class PlaceForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[(k, v) for k, v in KIND_LABELS.items()],
                       validators=[DataRequired(message=REQUIRED)])
    listing_id = IntegerField(_l("Listing"), validators=[DataRequired(message=REQUIRED),
                                                         NumberRange(min=1, max=2_147_483_647, message=ID_MESSAGE)])
    node_id = IntegerField(_l("Node"), validators=[DataRequired(message=REQUIRED),
                                                   NumberRange(min=1, max=2_147_483_647, message=ID_MESSAGE)])
