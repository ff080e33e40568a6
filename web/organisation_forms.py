"""Forms of the organisation pages: invite a member, change a member's role, accept an invitation."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import Email, Length

from .forms import FlaskForm, _max, _required

ORG_ROLE_LABELS = {"manager": _l("Manager"), "member": _l("Member")}


def _role_field() -> SelectField:
    return SelectField(_l("Role in the organisation"), choices=list(ORG_ROLE_LABELS.items()), default="member",
                       validators=[_required()])


class InviteForm(FlaskForm):
    email = EmailField(_l("Colleague's e-mail"), validators=[_required(), _max(254), Email(
        message=_l("Enter a valid e-mail address, like name@example.com."))])
    org_role = _role_field()


class RoleForm(FlaskForm):
    org_role = _role_field()


class AcceptNewForm(FlaskForm):
    """The invitee's new account: the address comes from the invitation."""

    display_name = StringField(_l("Your name"), validators=[_required(), _max(100)])
    password = PasswordField(_l("Password"), validators=[_required(), Length(
        min=10, max=200, message=_l("Use a password of at least 10 characters."))])
