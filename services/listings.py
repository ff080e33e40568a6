"""Demands and achievements: create, edit, the review lifecycle, and who may see what."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timezone, tzinfo
from typing import Any, Iterable, Optional, Union

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, contains_eager, joinedload, object_session

from models import (ORG_MANAGER, ORG_ROLES, Achievement, Demand, Field, Introduction, IntroStatus, Patent,
                    ReviewEvent, Role, STAGE_TRL, Status, User, utcnow)

from . import audit, clock, ownership, regions, search_index  # search_index: listings are segmented for the full-text index on save
from .errors import NotFound, ServiceError

Listing = Union[Demand, Achievement]
KINDS: dict[str, type] = {"demand": Demand, "achievement": Achievement}
# Which role owns which kind of listing.
OWNER_ROLE = ownership.OWNER_ROLE
REVIEWERS = (Role.BROKER.value, Role.ADMIN.value)

COMMON_FIELDS = ("title", "keywords", "region", "contact_name", "contact_phone", "contact_email")
KIND_FIELDS = {
    "demand": ("description", "indicators", "budget_min", "budget_max", "deadline", "min_trl", "confidential"),
    "achievement": ("abstract", "trl", "stage", "price", "negotiable", "team", "rights_status"),
}

# (action, allowed from-statuses, to-status, who: owner|reviewer|either, reason required)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str, bool]] = {
    "submit": (("draft", "returned"), "submitted", "owner", False),
    "withdraw": (("submitted",), "draft", "owner", False),
    "approve": (("submitted",), "published", "reviewer", False),
    "return": (("submitted",), "returned", "reviewer", True),
    "reject": (("submitted",), "rejected", "reviewer", True),
    "close": (("published",), "closed", "either", False),
}
EDITABLE = ("draft", "returned", "published")


def model_for(kind: str) -> type:
    """The model class for 'demand' or 'achievement'."""
    try:
        return KINDS[kind]
    except KeyError:
        raise NotFound() from None


def is_reviewer(user: Optional[User]) -> bool:
    """Brokers and admins review listings."""
    return user is not None and user.is_authenticated and user.role in REVIEWERS


def can_edit_listing(user: Optional[User], listing: Listing) -> bool:
    """True if the user is on the owning side of the listing: a listing belongs to its organisation, so any member
    (manager or member) of that organisation with the listing's owner role sees and edits it; a listing without
    an organisation belongs to whoever posted it (issue 21 part 3). Every ownership check goes through here."""
    return on_owning_side(user, listing.kind, listing.owner_id, listing.organisation_id)


def on_owning_side(user: Optional[User], kind: str, owner_id: Optional[int], organisation_id: Optional[int]) -> bool:
    """can_edit_listing from a listing's kind, owner and organisation alone (a cached page keeps just these)."""
    if user is None or not user.is_authenticated:
        return False
    if organisation_id is None:
        return owner_id == user.id
    return (user.organisation_id == organisation_id and user.role == OWNER_ROLE.get(kind)
            and user.org_role in ORG_ROLES)


def owning_side(model: type, user: User) -> Any:
    """can_edit_listing as a WHERE clause on `model` (Demand or Achievement): the listings on the user's side."""
    kind = "demand" if model is Demand else "achievement"
    posted = (model.owner_id == user.id) & model.organisation_id.is_(None)
    if user.organisation_id is not None and user.role == OWNER_ROLE[kind] and user.org_role in ORG_ROLES:
        return or_(model.organisation_id == user.organisation_id, posted)
    return posted


def owning_side_user_ids(session: Session, listing: Listing) -> list[int]:
    """The active accounts on a listing's owning side (can_edit_listing): ownership.side_user_ids."""
    return ownership.side_user_ids(session, listing)


def can_manage_listing(user: Optional[User], listing: Listing) -> bool:
    """Closing (or deleting) a listing: its organisation's managers, or the member who posted it."""
    return can_edit_listing(user, listing) and (user.org_role == ORG_MANAGER or listing.owner_id == user.id)


def is_owner(user: Optional[User], listing: Listing) -> bool:
    """True if the user is on the owning side of this listing (see can_edit_listing)."""
    return can_edit_listing(user, listing)


def can_view(user: Optional[User], listing: Listing) -> bool:
    """Published listings are public; anything else only for its organisation's members and reviewers."""
    return listing.status == Status.PUBLISHED.value or is_owner(user, listing) or is_reviewer(user)


can_view_listing = can_view


def can_see_contact(user: Optional[User], listing: Listing) -> bool:
    """Contact details: the owner, brokers and admins, and the counterpart's owner while an accepted
    introduction pairs the two listings (double opt-in; withdrawn consent hides them again)."""
    if is_owner(user, listing) or is_reviewer(user):
        return True
    if user is None or not user.is_authenticated or listing.status != Status.PUBLISHED.value:
        return False
    session = object_session(listing)
    if session is None:
        return False
    return accepted_counterpart(session, user, listing) is not None


def accepted_counterpart(session: Session, user: User, listing: Listing) -> Optional[Introduction]:
    """An accepted introduction pairing this listing with one on the user's side (can_edit_listing: a colleague's
    listing of the user's organisation counts; contact may be shown)."""
    if listing.kind == "demand":
        stmt = select(Introduction).join(Achievement, Introduction.achievement_id == Achievement.id).where(
            Introduction.demand_id == listing.id, owning_side(Achievement, user))
    else:
        stmt = select(Introduction).join(Demand, Introduction.demand_id == Demand.id).where(
            Introduction.achievement_id == listing.id, owning_side(Demand, user))
    return session.scalar(stmt.where(Introduction.status == IntroStatus.ACCEPTED.value).limit(1))


def reveal_contact(session: Session, user: Optional[User], listing: Listing) -> bool:
    """True if the user may see the listing's contact; logs the reveal when the user is not the owner."""
    if not can_see_contact(user, listing):
        return False
    if not is_owner(user, listing):
        audit.record(session, "contact.reveal", actor=user, target=f"{listing.kind}:{listing.id}",
                     detail={"role": user.role})
    return True


def get_listing(session: Session, kind: str, listing_id: int, viewer: Optional[User]) -> Listing:
    """A listing the viewer may see; NotFound otherwise, so a draft's existence is not revealed."""
    model = model_for(kind)
    # every page showing a listing names its field and organisation: joined in, not two more queries
    listing = session.get(model, listing_id, options=(joinedload(model.field), joinedload(model.organisation)))
    if listing is None or not can_view(viewer, listing):
        raise NotFound()
    return listing


def get_owned(session: Session, kind: str, listing_id: int, user: User) -> Listing:
    """A listing owned by the user; NotFound for anyone else's."""
    listing = session.get(model_for(kind), listing_id)
    if listing is None or not is_owner(user, listing):
        raise NotFound()
    return listing


def _check_owner_role(kind: str, user: User) -> None:
    if user.role != OWNER_ROLE[kind]:
        raise ServiceError("listing.wrong_role")


def _apply(session: Session, listing: Listing, kind: str, data: dict[str, Any]) -> None:
    for name in COMMON_FIELDS + KIND_FIELDS[kind]:
        if name in data:
            setattr(listing, name, data[name])
    if "modes" in data:
        listing.modes = list(data["modes"])
    if "field_code" in data:
        listing.field = _field(session, data["field_code"])
    if kind == "achievement" and "patents" in data:
        listing.patents = [Patent(**p) for p in data["patents"]]
    _validate(listing, kind)


def _field(session: Session, code: str) -> Field:
    field = session.scalar(select(Field).where(Field.code == code, Field.active.is_(True)))
    if field is None:
        raise ServiceError("listing.unknown_field")
    return field


def _validate(listing: Listing, kind: str) -> None:
    """Rules that hold whatever the entry point (form, CLI, import)."""
    if not listing.modes:
        raise ServiceError("listing.no_mode")
    if kind == "demand":
        lo, hi = listing.budget_min, listing.budget_max
        if lo is not None and hi is not None and lo > hi:
            raise ServiceError("listing.budget_order")
    if kind == "achievement" and listing.stage and listing.trl:
        lo, hi = STAGE_TRL[listing.stage]
        if not lo <= listing.trl <= hi:
            raise ServiceError("listing.stage_trl", stage=listing.stage, lo=lo, hi=hi)


def create_listing(session: Session, kind: str, owner: User, data: dict[str, Any]) -> Listing:
    """Save a new draft owned by the user."""
    _check_owner_role(kind, owner)
    if kind == "demand" and data.get("deadline") and data["deadline"] < clock.today():
        raise ServiceError("listing.deadline_past")
    listing = model_for(kind)(owner=owner, organisation=owner.organisation, status=Status.DRAFT.value)
    _apply(session, listing, kind, data)
    session.add(listing)
    session.flush()
    _record(session, listing, owner, "create", Status.DRAFT.value, Status.DRAFT.value)
    return listing


def update_listing(session: Session, listing: Listing, editor: User, data: dict[str, Any]) -> Listing:
    """Edit a listing; editing a published one sends it back to review before it shows again."""
    if not is_owner(editor, listing):
        raise NotFound()
    if listing.status not in EDITABLE:
        raise ServiceError("listing.not_editable", status=listing.status)
    if listing.kind == "demand" and data.get("deadline") and data["deadline"] < clock.today() \
            and data["deadline"] != listing.deadline:
        raise ServiceError("listing.deadline_past")
    _apply(session, listing, listing.kind, data)
    if listing.status == Status.PUBLISHED.value:
        _move(session, listing, editor, "edit", Status.SUBMITTED.value)
    return listing


def transition(session: Session, listing: Listing, actor: User, action: str,
               reason: Optional[str] = None) -> Listing:
    """Apply one lifecycle step if the actor may take it from the listing's current status."""
    if action not in TRANSITIONS:
        raise ServiceError("listing.bad_action")
    sources, target, who, needs_reason = TRANSITIONS[action]
    allowed = {"owner": is_owner(actor, listing), "reviewer": is_reviewer(actor),
               "either": is_owner(actor, listing) or is_reviewer(actor)}[who]
    if not allowed:
        raise NotFound() if not can_view(actor, listing) else ServiceError("listing.forbidden")
    if action == "close" and not is_reviewer(actor) and not can_manage_listing(actor, listing):
        raise ServiceError("listing.manager_only")
    if listing.status not in sources:
        raise ServiceError("listing.bad_transition", action=action, status=listing.status)
    if needs_reason and not (reason or "").strip():
        raise ServiceError("listing.reason_required")
    source = listing.status
    _move(session, listing, actor, action, target, reason)
    if who == "reviewer" or not is_owner(actor, listing):
        audit.record(session, "listing.review", actor=actor, target=f"{listing.kind}:{listing.id}",
                     detail={"decision": action, "from": source, "to": target})
    return listing


def _move(session: Session, listing: Listing, actor: User, action: str, target: str,
          reason: Optional[str] = None) -> None:
    now = utcnow()
    source = listing.status
    listing.status = target
    if target == Status.SUBMITTED.value:
        listing.submitted_at = now
    if target == Status.PUBLISHED.value:
        listing.published_at = now
        listing.review_note = None
    if target in (Status.RETURNED.value, Status.REJECTED.value):
        listing.review_note = reason.strip() if reason else None
    if target == Status.CLOSED.value:
        listing.closed_at = now
    _record(session, listing, actor, action, source, target, reason)
    if listing.kind == "demand" and target == Status.SUBMITTED.value:
        from . import brokerage  # a demand entering review is routed to a broker (issue 21 part 4)
        brokerage.route_demand(session, listing)


def _record(session: Session, listing: Listing, actor: User, action: str, source: str, target: str,
            reason: Optional[str] = None) -> None:
    session.flush()
    session.add(ReviewEvent(entity_type=listing.kind, entity_id=listing.id, actor=actor, action=action,
                            from_status=source, to_status=target, reason=reason))


def history(session: Session, listing: Listing) -> list[ReviewEvent]:
    """The listing's lifecycle events, oldest first."""
    stmt = select(ReviewEvent).where(ReviewEvent.entity_type == listing.kind,
                                     ReviewEvent.entity_id == listing.id).order_by(ReviewEvent.id)
    return list(session.scalars(stmt))


def owned_by(session: Session, kind: str, user: User) -> list[Listing]:
    """The listings of the user's side (their organisation's, see can_edit_listing), newest first."""
    model = model_for(kind)
    return list(session.scalars(select(model).where(owning_side(model, user)).order_by(model.updated_at.desc())))


def review_queue(session: Session, kind: str) -> list[Listing]:
    """Submitted listings waiting for a reviewer, oldest first."""
    model = model_for(kind)
    stmt = select(model).where(model.status == Status.SUBMITTED.value).order_by(model.submitted_at)
    return list(session.scalars(stmt))


def queue_counts(session: Session) -> dict[str, int]:
    """How many listings of each kind wait for review."""
    return {kind: session.scalar(select(func.count()).select_from(model).where(
        model.status == Status.SUBMITTED.value)) or 0 for kind, model in KINDS.items()}


@dataclass
class SearchFilters:
    """Filters from the search and browse pages; every one optional."""

    q: str = ""
    field: str = ""        # top-level or sub-field code
    region: str = ""
    mode: str = ""
    stage: str = ""        # achievements
    budget: Optional[float] = None   # demands: budget reaching at least this much (万元)
    max_price: Optional[float] = None  # achievements: asking price at most this (or negotiable)
    status: str = "published"
    since: Optional[date] = None  # days as the platform's clock has them (zone), inclusive
    until: Optional[date] = None
    zone: tzinfo = timezone.utc


def search_stmt(kind: str, f: SearchFilters, viewer: Optional[User]) -> Select:
    """The query for a filtered list; non-reviewers only ever get published listings."""
    model = model_for(kind)
    # the joined field row also fills item.field (the cards show its name): no query per card
    stmt = select(model).join(Field, model.field_id == Field.id).options(contains_eager(model.field))
    status = f.status if (is_reviewer(viewer) and f.status) else Status.PUBLISHED.value
    if status != "all" or not is_reviewer(viewer):
        stmt = stmt.where(model.status == status)
    return _filter(stmt, model, kind, f).order_by(
        func.coalesce(model.published_at, model.updated_at).desc(), model.id.desc())


def _filter(stmt: Select, model: type, kind: str, f: SearchFilters) -> Select:
    if f.q.strip():
        for term in f.q.split()[:8]:
            # search_text is title, keywords and body lower-cased on save: case-insensitive on every database
            # without lower() per row; % and _ are literal
            stmt = stmt.where(model.search_text.contains(term.lower(), autoescape=True))
    if f.field:
        stmt = stmt.where(or_(Field.code == f.field, Field.code.startswith(f"{f.field}.", autoescape=True)))
    if f.region:  # the node and everything under it (a city takes in its districts and parks)
        stmt = stmt.where(model.region.in_(regions.subtree_codes_of(f.region)))
    if f.mode:
        stmt = stmt.where(model.modes_raw.like(f"%,{f.mode},%"))
    if kind == "achievement" and f.stage:
        stmt = stmt.where(model.stage == f.stage)
    if kind == "demand" and f.budget is not None:
        stmt = stmt.where(or_(model.budget_max >= f.budget, model.budget_max.is_(None)))
    if kind == "achievement" and f.max_price is not None:
        stmt = stmt.where(or_(model.price <= f.max_price, model.negotiable.is_(True)))
    date_col = func.coalesce(model.published_at, model.created_at)
    start, end = audit.day_range(f.since, f.until, f.zone)  # the stored times are UTC
    if start is not None:
        stmt = stmt.where(date_col >= start)
    if end is not None:
        stmt = stmt.where(date_col < end)
    return stmt


def ranked_page(session: Session, kind: str, f: SearchFilters, viewer: Optional[User], ranked: list[int],
                number: int, size: int) -> tuple[list[Any], int]:
    """One page of ranked listing ids (a search) in their rank order, and how many there are. The ids already
    passed every filter in the query that found them (services/search.py); only the page's rows are loaded,
    and re-checked against the filters in the same query (one that changed since is left out, and counted out)."""
    if not ranked:
        return [], 0
    model = model_for(kind)
    start = max(number - 1, 0) * size
    shown = ranked[start : start + size]
    if not shown:
        return [], len(ranked)
    stmt = search_stmt(kind, replace(f, q=""), viewer).where(model.id.in_(shown))
    rows = {r.id: r for r in session.scalars(stmt)}
    return [rows[i] for i in shown if i in rows], len(ranked) - sum(1 for i in shown if i not in rows)


def page(session: Session, stmt: Select, number: int, size: int) -> tuple[list[Any], int]:
    """One page of a query's rows and the total count: one scan, the count riding along as a window
    function (a search's LIKE filter read every row twice before); a second query only for an empty page."""
    counted = stmt.add_columns(func.count().over().label("total_rows"))
    found = session.execute(counted.limit(size).offset(max(number - 1, 0) * size)).all()
    if found:
        return [row[0] for row in found], int(found[0][-1])
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return [], total


def published(session: Session, kind: str, ids: Optional[Iterable[int]] = None) -> list[Listing]:
    """Published listings of a kind, optionally only these ids."""
    model = model_for(kind)
    stmt = select(model).where(model.status == Status.PUBLISHED.value)
    if ids is not None:
        stmt = stmt.where(model.id.in_(list(ids)))
    return list(session.scalars(stmt))
