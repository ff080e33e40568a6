"""Translated messages for the refusals of the contract register, the region hierarchy and targets (the codes
of services/contracts.py, services/regions.py and services/contract_stats.py); other codes go to web/errors.py."""
from __future__ import annotations

from typing import Any, Callable

from flask_babel import gettext as _

from services.errors import ServiceError

from .errors import message_for


def _messages(p: dict[str, Any]) -> dict[str, Callable[[], str]]:
    return {
        "contract.reg_number_format": lambda: _("A registration number has 16 digits."),
        "contract.reg_number_taken": lambda: _("Registration number %(number)s is already in the register: open "
                                               "that contract to correct it.", number=p.get("number", "")),
        "contract.reg_number_twice": lambda: _("This registration number is already in row %(row)s of the file.",
                                               row=p.get("row", "")),
        "contract.text_length": lambda: _("Fill this in (at most %(max)s characters).", max=p.get("max", 200)),
        "contract.bad_type": lambda: _("Choose a contract type from the list."),
        "contract.bad_status": lambda: _("Choose registered or not registered."),
        "contract.bad_nature": lambda: _("Choose the party's nature (3-digit code) from the list."),
        "contract.unknown_region": lambda: _("Unknown region “%(value)s”: use a region code, its 6-digit GB/T 2260 "
                                             "code or its Chinese name as listed.", value=p.get("value", "")),
        "contract.bad_number": lambda: _("Enter a number, like 12.5."),
        "contract.amount_required": lambda: _("Enter the amount in 10k yuan."),
        "contract.amount_negative": lambda: _("An amount cannot be negative."),
        "contract.amount_too_large": lambda: _("This amount is too large: enter it in 10k yuan."),
        "contract.tech_above_amount": lambda: _("The technology transaction amount cannot exceed the contract "
                                                "amount."),
        "contract.bad_date": lambda: _("Enter a date like 2026-01-31 (from 1985 on)."),
        "contract.signed_required": lambda: _("Enter the signing date."),
        "contract.signed_future": lambda: _("The signing date cannot be in the future."),
        "contract.registered_future": lambda: _("The registration date cannot be in the future."),
        "contract.registered_before_signed": lambda: _("A contract is registered on or after the day it is "
                                                       "signed."),
        "contract.term_order": lambda: _("The term must end on or after the day it starts."),
        "contract.unknown_field": lambda: _("Choose a field from the list."),
        "contract.bad_ip_kind": lambda: _("Choose the kind of intellectual property from the list."),
        "contract.unknown_link": lambda: _("No such demand, achievement, opportunity or challenge: check the id."),
        "region.bad_code": lambda: _("Use 1 to 32 lower-case letters, digits, dots, dashes or underscores, like "
                                     "xian_gaoxin."),
        "region.code_taken": lambda: _("This code is already used by another region."),
        "region.bad_name": lambda: _("Enter the name in Chinese (up to 32 characters) and in English (up to 64)."),
        "region.bad_level": lambda: _("Choose a level from the list."),
        "region.bad_gb_code": lambda: _("A GB/T 2260 code has 6 digits; leave it empty for parks."),
        "region.gb_code_taken": lambda: _("This GB/T 2260 code belongs to another region."),
        "region.unknown_parent": lambda: _("Choose an existing region as parent."),
        "region.cycle": lambda: _("A region cannot be moved under itself or under one of its own sub-regions: "
                                  "choose another parent."),
        "region.level_needs_parent": lambda: _("Only a province stands without a parent: choose the parent region."),
        "region.level_order": lambda: _("A region's level must be below its parent's (province > city > district "
                                        "> park, township or street), and above its sub-regions'."),
        "stats.bad_period": lambda: _("Choose a year from 1985 to 2100, a quarter or month, or a start and end date "
                                      "with the end not before the start."),
        "target.bad_measure": lambda: _("Choose whether the target counts output or absorbed contracts."),
        "target.bad_amount": lambda: _("Enter a target of 0 or more, in 10k yuan, and a whole number of contracts."),
        "upload.no_rows": lambda: _("The file has no data rows: fill in the template below the header rows."),
        "upload.bad_headers": lambda: _("The file lacks these columns: %(missing)s. Start from the template.",
                                        missing=p.get("missing", "")),
    }


def message(err: ServiceError) -> str:
    """The message for a refusal, in the current language."""
    found = _messages(err.params).get(err.code)
    return found() if found is not None else message_for(err)


def problem_text(code: str, params: dict[str, Any]) -> str:
    """The message of one problem of an import row."""
    return message(ServiceError(code, **params))
