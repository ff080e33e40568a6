"""The service directory (科技大市场): the public list with search and filters, an entry's page (its contact only
after the provider accepted the viewer's request), the provider's own entries and requests, the brokers' review
queue, and the panels the match pages include (providers for a demand, investors for an achievement)."""
from __future__ import annotations

from typing import Any, Callable, Optional

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from models import Achievement, Demand
from services import directory, listings, regions, taxonomy
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .db import abandon, db, separate_unit
from .directory_forms import (KIND_LABELS, NEED_LABELS, REQUEST_LABELS, STAGE_LABELS, STATUS_LABELS,
                              ContactRequestForm, DecisionForm, DirectoryFilterForm, ProviderForm)
from .errors import message_for
from .i18n import locale_code

bp = Blueprint("directory", __name__, url_prefix="/directory")
PROVIDER = (policy.PROVIDER,)
_PUBLIC = "published entries without contact details; the contact only after the provider accepted"
policy.allow("directory.index", "GET", policy.ALL_ROLES, note=_PUBLIC)
policy.allow("directory.detail", "GET", policy.ALL_ROLES, note=_PUBLIC + "; drafts for owner and staff only")
policy.allow("directory.contact", "POST", policy.SIGNED_IN, note="ask a provider for its contact (double opt-in)")
policy.allow("directory.mine", "GET", PROVIDER, relation="owner", note="the provider's own entries")
policy.allow("directory.new", ("GET", "POST"), PROVIDER, note="a new draft entry")
policy.allow("directory.edit", ("GET", "POST"), PROVIDER, relation="owner", note="404 for another's entry")
policy.allow("directory.act", "POST", PROVIDER, relation="owner", note="submit / withdraw / unpublish")
policy.allow("directory.review", "GET", policy.STAFF, relation="staff", note="entries waiting for review")
policy.allow("directory.decide", "POST", policy.STAFF, relation="staff", note="approve / return / reject")
policy.allow("directory.requests", "GET", policy.SIGNED_IN, relation="participant",
             note="contact requests the user sent or received")
policy.allow("directory.answer", "POST", PROVIDER, relation="owner", note="the provider accepts or declines")
policy.allow("directory.withdraw", "POST", policy.SIGNED_IN, relation="participant",
             note="either side withdraws: contacts hidden again")
PAGE = 20
OWNER_ACTIONS = ("submit", "withdraw", "unpublish")
REVIEW_ACTIONS = ("approve", "return", "reject")


def init_app(app: Any) -> None:
    """Labels for templates."""
    app.jinja_env.globals.update(PROVIDER_KIND_LABELS=KIND_LABELS, INVESTOR_STAGE_LABELS=STAGE_LABELS,
                                 PROVIDER_NEED_LABELS=NEED_LABELS, PROVIDER_STATUS_LABELS=STATUS_LABELS,
                                 PROVIDER_REQUEST_LABELS=REQUEST_LABELS)


def _messages(p: dict[str, Any]) -> dict[str, Callable[[], str]]:
    return {
        "directory.bad_kind": lambda: _("Choose the kind of provider from the list."),
        "directory.text_length": lambda: _("Use %(min)s to %(max)s characters here.", min=p.get("min", 0),
                                           max=p.get("max", 0)),
        "directory.bad_email": lambda: _("Enter a valid e-mail address, like name@example.com."),
        "directory.bad_phone": lambda: _("Enter a mobile number (11 digits) or a landline such as 029-88886666."),
        "directory.bad_website": lambda: _("Enter a web address starting with http:// or https://."),
        "directory.no_field": lambda: _("Choose at least one field."),
        "directory.bad_fields": lambda: _("Choose up to 10 fields from the list."),
        "directory.bad_region": lambda: _("Choose a region from the list."),
        "directory.bad_stages": lambda: _("Choose investment stages from the list."),
        "directory.bad_ticket": lambda: _("Enter an amount between 0 and 1,000,000 (in 10k yuan)."),
        "directory.ticket_order": lambda: _("The largest ticket must be at least the smallest."),
        "directory.wrong_role": lambda: _("Only provider accounts can list services in the directory."),
        "directory.not_editable": lambda: _("This entry cannot be edited while it waits for review: withdraw it "
                                            "first."),
        "directory.bad_action": lambda: _("Unknown action."),
        "directory.forbidden": lambda: _("You may not do this with this entry."),
        "directory.bad_transition": lambda: _("This step is not possible in the entry's current status."),
        "directory.reason_required": lambda: _("Give a reason so the provider knows what to change."),
        "directory.own_entry": lambda: _("This is your own entry."),
        "directory.already_requested": lambda: _("You have already asked this provider; see your contact "
                                                 "requests."),
    }


def message(err: ServiceError) -> str:
    """The message of a refusal, in the current language."""
    found = _messages(err.params).get(err.code)
    return found() if found is not None else message_for(err)


def _refusal(err: ServiceError) -> str:
    abandon()
    return message(err)


def _filters() -> tuple[DirectoryFilterForm, directory.DirectoryFilter]:
    form = DirectoryFilterForm(request.args)
    lc = locale_code()
    form.kind.choices = [("", _("All kinds"))] + [(k, str(v)) for k, v in KIND_LABELS.items()]
    form.field.choices = [("", _("All fields"))] + [(f.code, f.name(lc)) for f in taxonomy.top_fields(db())]
    form.region.choices = [("", _("All regions"))] + regions.choices(db(), lc)
    form.status.choices = [("", _("Published"))] + [(k, str(v)) for k, v in STATUS_LABELS.items()
                                                    if k != "published"]
    form.validate()
    ok = lambda name: not getattr(form, name).errors  # noqa: E731
    f = directory.DirectoryFilter(
        q=(form.q.data or "") if ok("q") else "", kind=form.kind.data if ok("kind") else "",
        field=form.field.data if ok("field") else "", region=form.region.data if ok("region") else "",
        status=form.status.data if ok("status") and directory.is_reviewer(current_user) else "")
    return form, f


def _names() -> dict[str, Any]:
    lc = locale_code()
    # top-level fields too: an investor or a platform may name a whole field (新能源) rather than a sub-field
    return {"region_names": taxonomy.region_names(db(), lc), "field_names": taxonomy.field_names(db(), lc)}


@bp.route("/")
def index():
    form, f = _filters()
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    rows, total = listings.page(db(), directory.search_stmt(db(), f, current_user), number, PAGE)
    status = 422 if form.errors else 200
    return render_template("directory/index.html", form=form, rows=rows, total=total, page=number, size=PAGE,
                           reviewer=directory.is_reviewer(current_user), **_names()), status


@bp.route("/<int:provider_id>")
def detail(provider_id: int):
    try:
        provider = directory.get(db(), provider_id, current_user)
    except NotFound:
        abort(404)
    return _detail_page(provider, ContactRequestForm())


def _detail_page(provider: Any, form: ContactRequestForm, status: int = 200) -> Any:
    show_contact = directory.can_see_contact(db(), current_user, provider)
    if show_contact and not directory.is_owner(current_user, provider):
        with separate_unit() as s:
            directory.reveal_contact(s, current_user, provider)
    return render_template("directory/detail.html", p=provider, show_contact=show_contact,
                           owner=directory.is_owner(current_user, provider),
                           reviewer=directory.is_reviewer(current_user),
                           live=directory.request_between(db(), current_user, provider),
                           form=form, decision=DecisionForm(), **_names()), status


@bp.route("/<int:provider_id>/contact", methods=["POST"])
def contact(provider_id: int):
    form = ContactRequestForm()
    try:
        provider = directory.get(db(), provider_id, current_user)
    except NotFound:
        abort(404)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("Keep the message under 1,000 characters."), "danger")
        return _detail_page(provider, form, 422)  # the message comes back to be shortened, not retyped
    try:
        directory.request_contact(db(), current_user, provider, form.message.data or "")
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(_refusal(err), "danger")
        return redirect(url_for("directory.detail", provider_id=provider_id))
    flash(_("Your request was sent. The contact details show here once the provider accepts."), "success")
    return redirect(url_for("directory.detail", provider_id=provider_id))


@bp.route("/mine")
@roles_required(*PROVIDER)
def mine():
    received, _sent = directory.requests_for(db(), current_user)
    return render_template("directory/mine.html", rows=directory.owned_by(db(), current_user),
                           pending=[r for r in received if r.status == "requested"], **_names())


def _choices(form: ProviderForm) -> None:
    lc = locale_code()
    form.field_codes.choices = taxonomy.field_choices(db(), lc)
    form.region.choices = [("", "—")] + regions.choices(db(), lc)


def _values_of(p: Any) -> dict[str, Any]:
    return {"kind": p.kind, "name": p.name, "description": p.description, "field_codes": p.field_codes,
            "region": p.region or "", "services": p.services, "equipment": p.equipment, "capacity": p.capacity,
            "stages": p.stages, "ticket_min": p.ticket_min, "ticket_max": p.ticket_max, "website": p.website,
            "contact_name": p.contact_name, "contact_phone": p.contact_phone, "contact_email": p.contact_email}


def _form_refused(form: ProviderForm, err: ServiceError, provider: Optional[Any]):
    abandon()  # (also in _refusal: named here for tests/test_unit_of_work.py, which reads one call deep)
    text = _refusal(err)
    field = getattr(form, str(err.params.get("field", "")), None)
    if field is not None:
        field.errors = list(field.errors) + [text]
    else:
        flash(text, "danger")
    return render_template("directory/form.html", form=form, p=provider), 422


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*PROVIDER)
def new():
    form = ProviderForm()
    _choices(form)
    if form.validate_on_submit():
        try:
            provider = directory.create(db(), current_user, form.values())
        except ServiceError as err:
            return _form_refused(form, err, None)
        flash(_("Saved as a draft. Submit it for review when it is complete."), "success")
        return redirect(url_for("directory.detail", provider_id=provider.id))
    return render_template("directory/form.html", form=form, p=None), 422 if form.errors else 200


@bp.route("/<int:provider_id>/edit", methods=["GET", "POST"])
@roles_required(*PROVIDER)
def edit(provider_id: int):
    try:
        provider = directory.get_owned(db(), provider_id, current_user)
    except NotFound:
        abort(404)
    form = ProviderForm(data=_values_of(provider) if request.method == "GET" else None)
    _choices(form)
    if form.validate_on_submit():
        try:
            directory.update(db(), provider, current_user, form.values())
        except ServiceError as err:
            return _form_refused(form, err, provider)
        flash(_("Saved."), "success")
        return redirect(url_for("directory.detail", provider_id=provider.id))
    return render_template("directory/form.html", form=form, p=provider), 422 if form.errors else 200


@bp.route("/<int:provider_id>/<any(submit, withdraw, unpublish):action>", methods=["POST"])
@roles_required(*PROVIDER)
def act(provider_id: int, action: str):
    form = DecisionForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    try:
        provider = directory.get_owned(db(), provider_id, current_user)
        directory.transition(db(), provider, current_user, action)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(_refusal(err), "danger")
        return redirect(url_for("directory.detail", provider_id=provider_id))
    flash({"submit": _("Submitted for review."), "withdraw": _("Withdrawn from review: back to draft."),
           "unpublish": _("Taken out of the directory: back to draft.")}[action], "success")
    return redirect(url_for("directory.mine"))


@bp.route("/review")
@roles_required("broker", "admin")
def review():
    return render_template("directory/review.html", rows=directory.review_queue(db()), form=DecisionForm(),
                           **_names())


@bp.route("/<int:provider_id>/review/<any(approve, return, reject):action>", methods=["POST"])
@roles_required("broker", "admin")
def decide(provider_id: int, action: str):
    form = DecisionForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("Keep the reason under 2,000 characters."), "danger")
        return redirect(url_for("directory.detail", provider_id=provider_id))
    try:
        provider = directory.get(db(), provider_id, current_user)
        directory.transition(db(), provider, current_user, action, form.reason.data)
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(_refusal(err), "danger")
        return redirect(url_for("directory.detail", provider_id=provider_id))
    flash({"approve": _("Approved and published."), "return": _("Sent back to the provider."),
           "reject": _("Rejected.")}[action], "success")
    return redirect(url_for("directory.review"))


@bp.route("/requests")
def requests():
    received, sent = directory.requests_for(db(), current_user)
    return render_template("directory/requests.html", received=received, sent=sent, form=DecisionForm())


@bp.route("/requests/<int:request_id>/<any(accept, decline):answer>", methods=["POST"])
@roles_required(*PROVIDER)
def answer(request_id: int, answer: str):
    return _on_request(request_id, lambda req: directory.answer(db(), req, current_user, answer == "accept"),
                       _("Accepted: you and the requester now see each other's contact details.")
                       if answer == "accept" else _("Declined."))


@bp.route("/requests/<int:request_id>/withdraw", methods=["POST"])
def withdraw(request_id: int):
    return _on_request(request_id, lambda req: directory.withdraw(db(), req, current_user),
                       _("Withdrawn: the contact details are hidden again."))


def _on_request(request_id: int, change: Callable[[Any], Any], done: str):
    form = DecisionForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    try:
        change(directory.get_request(db(), request_id, current_user))
    except NotFound:
        abort(404)
    except ServiceError as err:
        flash(_refusal(err), "danger")
        return redirect(url_for("directory.requests"))
    flash(done, "success")
    return redirect(url_for("directory.requests"))


# --- panels of the match pages (web/matches.py) ------------------------------------------------------------

def match_panel(kind: str, listing_id: int) -> Markup:
    """Providers a demand needs (for whoever sees its match page), or investors for an achievement that
    looks for finance (staff only); empty markup when there is nothing to show."""
    s = db()
    if kind == "demand":
        demand = s.get(Demand, listing_id)
        if demand is None:
            return Markup("")
        needs, fits = directory.providers_for_demand(s, demand)
        if not needs:
            return Markup("")
        return Markup(render_template("directory/_providers_for_demand.html", fits=fits,
                                      need_labels=[str(NEED_LABELS[n]) for n in needs], **_names()))
    if kind == "achievement" and directory.is_reviewer(current_user):
        achievement = s.get(Achievement, listing_id)
        if achievement is None:
            return Markup("")
        wants, fits = directory.investors_for_achievement(s, achievement)
        if not wants:
            return Markup("")
        return Markup(render_template("directory/_investors_for_achievement.html", fits=fits, **_names()))
    return Markup("")
