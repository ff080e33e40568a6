"""Messages for the error codes of the roadshow programme and 揭榜挂帅 end to end (merged into message_for)."""
from __future__ import annotations

from typing import Callable

from flask_babel import gettext as _


def programme_messages(p: dict) -> dict[str, Callable[[], str]]:
    """Code -> message factory, in the current language; p are the error's parameters."""
    return {
        "programme.bad_kind": lambda: _("Choose the roadshow type: achievement, product or scenario roadshow."),
        "programme.bad_region": lambda: _("Choose a region from the list."),
        "programme.register_role": lambda: _("Companies and investors register here with a company account; "
                                             "universities apply to present instead."),
        "programme.bad_participant": lambda: _("Register as a company or as an investor."),
        "programme.registration_closed": lambda: _("This roadshow takes invited companies only; ask its broker for "
                                                   "an invitation."),
        "programme.already_waiting": lambda: _("You are already on the waiting list (number %(n)s).",
                                               n=p.get("position")),
        "programme.not_registered": lambda: _("You hold no seat and no place on the waiting list of this roadshow."),
        "programme.apply_role": lambda: _("Universities and institutes apply to present with one of their "
                                          "achievements."),
        "programme.apply_achievement": lambda: _("Choose one of your own published achievements."),
        "programme.already_applied": lambda: _("This achievement has already applied to present at this roadshow."),
        "programme.already_decided": lambda: _("This application has already been decided."),
        "programme.bad_link": lambda: _("Enter a link starting with http:// or https:// (at most %(n)s characters).",
                                        n=p.get("max")),
        "race.no_demands": lambda: _("Choose at least one published demand."),
        "race.demand_unknown": lambda: _("Only published demands can become a challenge."),
        "race.one_issuer": lambda: _("The demands of one challenge must come from one company (the issuer, "
                                     "发榜方)."),
        "race.bad_budget": lambda: _("Enter the budget as a number from 0 to 1,000,000 (10k yuan), or leave it "
                                     "empty."),
        "race.bad_winners": lambda: _("Allow 1 to 20 winning teams."),
        "race.apply_role": lambda: _("Universities, institutes and companies apply; brokers and administrators run "
                                     "the challenge."),
        "race.bad_partner": lambda: _("Partners must be other companies or universities registered on the platform, "
                                      "not your own organisation."),
        "race.unknown_partner": lambda: _("No company or university is registered as %(names)s: type each partner's "
                                          "name as it is registered on the platform, one per line.",
                                          names=p.get("names")),
        "race.ambiguous_partner": lambda: _("Several organisations are registered as %(names)s and cannot be told "
                                            "apart: name it in the team description instead.", names=p.get("names")),
        "race.own_partner": lambda: _("Your own organisation is the applicant, not a partner: leave it out."),
        "race.partners_many": lambda: _("A joint application has at most %(n)s partners.", n=p.get("n")),
        "race.too_many_winners": lambda: _("At most %(n)s teams can win this challenge.", n=p.get("n")),
        "race.not_shortlisted": lambda: _("Winners are chosen from the shortlist: shortlist the application first."),
        "race.not_awardable": lambda: _("This challenge has already been awarded."),
        "race.not_winner": lambda: _("Milestones and acceptance belong to winning applications."),
        "race.bad_milestone": lambda: _("Give a due date, a deliverable and an amount from 0 to 1,000,000 (10k "
                                        "yuan)."),
        "race.bad_progress": lambda: _("Enter the progress as a whole number from 0 to 100."),
        "race.bad_acceptance_score": lambda: _("Enter the acceptance score as a whole number from 0 to 100."),
        "race.no_acceptance_scores": lambda: _("The panel has not scored the acceptance yet."),
        "race.already_concluded": lambda: _("The acceptance of this application is already concluded."),
    }
