"""Messages for the error codes of the advisory panel (科技顾问团), merged into web.errors.message_for."""
from __future__ import annotations

from typing import Callable

from flask_babel import gettext as _


def panel_messages(p: dict) -> dict[str, Callable[[], str]]:
    """Code -> message factory, in the current language; p are the error's parameters."""
    from .panel_forms import CONFLICT_LABELS, CRITERION_LABELS

    return {
        "panel.forbidden": lambda: _("Only brokers and administrators form advisory panels; administrators create "
                                     "advisor accounts."),
        "panel.bad_perspective": lambda: _("Choose the perspective: scientist, entrepreneur or investor."),
        "panel.bad_expertise": lambda: _("Describe the expertise in 2 to %(n)s characters.", n=p.get("max")),
        "panel.bad_fields": lambda: _("Keep the fields under %(n)s characters.", n=p.get("max")),
        "panel.bad_organisation": lambda: _("Choose an existing organisation or type its name (at most 200 "
                                            "characters)."),
        "panel.bad_achievement": lambda: _("Choose a published achievement."),
        "panel.bad_advisor": lambda: _("Choose advisors from the list (active advisor accounts)."),
        "panel.bad_deadline": lambda: _("The review deadline must be between today and one year from now."),
        "panel.no_advisors": lambda: _("Choose at least one advisor."),
        "panel.too_many": lambda: _("A panel has at most %(n)s advisors.", n=p.get("n")),
        "panel.bad_roadshow": lambda: _("Choose an existing roadshow, or none."),
        "panel.exists": lambda: _("This achievement already has an open panel (no. %(id)s) for the same roadshow: "
                                  "add advisors to that panel instead.", id=p.get("id")) if p.get("roadshow") else
        _("This achievement already has an open panel (no. %(id)s): add advisors to that panel instead.",
          id=p.get("id")),
        "panel.bad_note": lambda: _("Keep the note under %(n)s characters.", n=p.get("max")),
        "panel.conflict": lambda: _("%(name)s cannot sit on this panel: conflict of interest (%(reason)s).",
                                    name=p.get("name"), reason=str(CONFLICT_LABELS.get(p.get("reason"), p.get("reason")))),
        "panel.member_reviewed": lambda: _("%(name)s has already reviewed: taking them off removes their scores from "
                                           "the summary. Tick “Remove their review too” to confirm.",
                                           name=p.get("name")),
        "panel.already_member": lambda: _("%(name)s is already on this panel.", name=p.get("name")),
        "panel.deadline_passed": lambda: _("The deadline of this panel (%(date)s) has passed; reviews are closed.",
                                           date=p.get("date")),
        "panel.bad_score": lambda: _("Give %(criterion)s a score from 1 to 5.",
                                     criterion=str(CRITERION_LABELS.get(p.get("criterion"), p.get("criterion")))),
        "panel.bad_comment": lambda: _("Keep the comment under %(n)s characters.", n=p.get("max")),
        "panel.bad_value": lambda: _("Enter a value between 0 and 10,000,000 (in 10k yuan)."),
        "panel.value_required": lambda: _("As an investor, give the value range (from and to, in 10k yuan)."),
        "panel.value_order": lambda: _("The lower value must not exceed the upper value."),
        "panel.gate_open": lambda: _("The advisory panel on “%(title)s” must complete its reviews first (%(done)s of "
                                     "%(total)s in).", title=p.get("title"), done=p.get("done"), total=p.get("total")),
    }
