"""Messages for the error codes of imports, uploads, the API and notifications (merged into message_for)."""
from __future__ import annotations

from typing import Callable

from flask_babel import gettext as _


def api_notice(code: str, **params: object) -> str:
    """The message of a code that is no error (e.g. an empty result explained), in the current language."""
    return api_messages(params)[code]()


def api_messages(p: dict) -> dict[str, Callable[[], str]]:
    """Code -> message factory, in the current language; p are the error's parameters."""
    return {
        "upload.empty": lambda: _("The file is empty. Fill in the template and upload it again."),
        "upload.too_large": lambda: _("The file is too large: at most %(mb)s MB. Split it into smaller files.",
                                      mb=p.get("mb")),
        "upload.unknown_type": lambda: _("This is neither an .xlsx workbook nor a CSV text file. Save it from "
                                         "Excel or WPS as .xlsx (or CSV) and upload it again."),
        "upload.old_xls": lambda: _("Old-style .xls files are not read. In Excel or WPS choose Save As, "
                                    "type .xlsx, and upload that file."),
        "upload.bad_xlsx": lambda: _("The .xlsx file is damaged or incomplete and cannot be read. Open it in "
                                     "Excel or WPS, save it again, and upload the new file."),
        "upload.zip_bomb": lambda: _("The .xlsx file unpacks to far more data than a spreadsheet of listings "
                                     "needs, so it was not opened. Copy the rows into the template and upload that."),
        "upload.bad_csv": lambda: _("The CSV file could not be read (unbalanced quotes or very long cells). "
                                    "Save it again from Excel or WPS, or use the .xlsx template."),
        "upload.too_many_rows": lambda: _("The file has more than %(max)s rows. Split it into smaller files.",
                                          max=p.get("max")),
        "upload.bad_headers": lambda: _("The first row must hold the template's column headers; missing: "
                                        "%(missing)s. Download the template and copy your rows into it.",
                                        missing=p.get("missing")),
        "upload.no_rows": lambda: _("The file has no data rows below the headers."),
        "import.required": lambda: _("required, but empty"),
        "import.too_long": lambda: _("too long (at most %(max)s characters)", max=p.get("max")),
        "import.too_short": lambda: _("too short (at least %(min)s characters)", min=p.get("min")),
        "import.unknown_field": lambda: _("unknown field “%(value)s”: pick one from the template's list",
                                          value=p.get("value")),
        "import.unknown_region": lambda: _("unknown region “%(value)s”: pick one from the template's list",
                                           value=p.get("value")),
        "import.unknown_mode": lambda: _("unknown cooperation mode “%(value)s” (see the template's notes)",
                                         value=p.get("value")),
        "import.unknown_stage": lambda: _("unknown maturity stage “%(value)s”: laboratory, small-scale trial, "
                                          "pilot scale or industrialised", value=p.get("value")),
        "import.bad_integer": lambda: _("not a whole number"),
        "import.bad_number": lambda: _("not a number (write e.g. 50 or 12.5, in 10k yuan)"),
        "import.out_of_range": lambda: _("must be between %(min)s and %(max)s", min=p.get("min"),
                                         max=p.get("max")),
        "import.bad_date": lambda: _("not a date (write e.g. 2027-06-30)"),
        "import.date_past": lambda: _("the date has passed; it must be today or later"),
        "import.bad_bool": lambda: _("write 是 or 否 (yes or no)"),
        "import.bad_phone": lambda: _("not a phone number: a mobile number (11 digits) or a landline such as "
                                      "029-88886666"),
        "import.bad_email": lambda: _("not a valid e-mail address"),
        "import.budget_order": lambda: _("the maximum budget is below the minimum"),
        "import.stage_trl": lambda: _("for this maturity stage the TRL must be between %(lo)s and %(hi)s",
                                      lo=p.get("lo"), hi=p.get("hi")),
        "import.price_or_negotiable": lambda: _("give an asking price or write 是 under 'price negotiable'"),
        "import.dup_in_file": lambda: _("same title and text as row %(row)s of this file", row=p.get("row")),
        "import.dup_own": lambda: _("you already have a listing with this title (#%(id)s)", id=p.get("id")),
        "import.dup_similar": lambda: _("possible duplicate of the published listing “%(title)s” (#%(id)s, "
                                        "similarity %(score)s)", title=p.get("title"), id=p.get("id"),
                                        score=p.get("score")),
        "token.bad_name": lambda: _("Give the token a name of 1 to 80 characters."),
        "token.too_many": lambda: _("You have %(max)s active tokens; revoke one you no longer use first.",
                                    max=p.get("max")),
        "import.not_ready": lambda: _("This file has already been imported (or is being imported)."),
        "import.row_failed": lambda: _("Row %(row)s could not be saved, so nothing was imported. Fix the row "
                                       "and try again.", row=p.get("row")),
        "match.only_weak": lambda: _("No strong or possible match yet: only weak matches were found. Widen the "
                                     "search to every field, propose the listing for a roadshow, or ask a broker."),
        "match.no_counterpart": lambda: _("No published counterpart matches yet."),
        "match.no_strong": lambda: _("No strong match yet: the possible matches are leads to check, not answers. "
                                     "Widen the search to every field, propose the listing for a roadshow, or ask a "
                                     "broker."),
    }
