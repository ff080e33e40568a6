"""Translated messages for the refusals of organisation accounts (the codes of services/organisations.py); other
codes go to web/errors.py."""
from __future__ import annotations

from typing import Callable

from flask_babel import gettext as _

from services.errors import ServiceError

from .errors import message_for

MESSAGES: dict[str, Callable[[], str]] = {
    "organisation.manager_only": lambda: _("Only a manager of your organisation can do this."),
    "organisation.bad_role": lambda: _("Choose manager or member."),
    "organisation.kind_not_invitable": lambda: _("Only companies and universities or institutes can invite "
                                                 "members; ask the platform staff."),
    "organisation.bad_email": lambda: _("Enter a valid e-mail address, like name@example.com."),
    "organisation.already_member": lambda: _("This address already belongs to a member of your organisation."),
    "organisation.invitee_wrong_kind": lambda: _("This address already belongs to an account whose type does not "
                                                 "fit this organisation, so it could not join: invite another "
                                                 "address of that person."),
    "organisation.invitee_has_organisation": lambda: _("This address already belongs to an account of another "
                                                       "organisation, so it could not join: ask the platform staff "
                                                       "to move that account, or invite another address of that "
                                                       "person."),
    "organisation.already_invited": lambda: _("This address already has a pending invitation: withdraw it first "
                                              "to send a new one."),
    "organisation.invitation_invalid": lambda: _("This invitation link is not valid (it may have been withdrawn). "
                                                 "Ask your organisation's manager for a new one."),
    "organisation.invitation_used": lambda: _("This invitation has already been used. Sign in with the account "
                                              "that accepted it."),
    "organisation.invitation_expired": lambda: _("This invitation has expired. Ask your organisation's manager "
                                                 "for a new one."),
    "organisation.invitation_other_email": lambda: _("This invitation is for another e-mail address: sign out, "
                                                     "then open the link again."),
    "organisation.invitation_wrong_kind": lambda: _("Your account type does not fit this organisation; sign out "
                                                    "and create a new account from the link."),
    "organisation.has_organisation": lambda: _("Your account already belongs to an organisation; ask the platform "
                                               "staff to move it."),
    "organisation.last_manager": lambda: _("An organisation needs at least one manager: make another member a "
                                           "manager first."),
}


def message(err: ServiceError) -> str:
    """The message for a refusal, in the current language."""
    found = MESSAGES.get(err.code)
    return found() if found is not None else message_for(err)
