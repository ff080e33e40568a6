"""The service directory (科技大市场, issue 21 part 2): providers list themselves, brokers review them like
listings, visitors search them, demands and achievements are shown the providers they need, and a provider's
contact reaches a user only after the provider accepted that user's request (double opt-in).

Review decisions are audited as "listing.review" on "provider:<id>" (the review trail of listings, ReviewEvent,
feeds the listing notifications and is kept to demands and achievements)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Optional

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from matchmaking.text import tokenize
from models import (FACILITY_KINDS, INVESTOR_STAGES, PROVIDER_KINDS, Achievement, Demand, Field, OrgKind,
                    Organisation, Provider, ProviderContactRequest, Region, Role, User, utcnow)

from . import accounts, audit, notifications, regions
from .errors import NotFound, ServiceError

REVIEWERS = (Role.BROKER.value, Role.ADMIN.value)
# (action, from-statuses, to-status, who, reason required)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str, bool]] = {
    "submit": (("draft", "returned", "rejected"), "submitted", "owner", False),
    "withdraw": (("submitted",), "draft", "owner", False),
    "approve": (("submitted",), "published", "reviewer", False),
    "return": (("submitted",), "returned", "reviewer", True),
    "reject": (("submitted",), "rejected", "reviewer", True),
    "unpublish": (("published",), "draft", "owner", False),
}
EDITABLE = ("draft", "returned", "rejected", "published")
TEXT_LIMITS = {"name": (2, 120), "description": (10, 4000), "services": (0, 2000), "equipment": (0, 2000),
               "capacity": (0, 300), "website": (0, 200), "contact_name": (1, 50), "contact_phone": (5, 32),
               "contact_email": (3, 254)}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^[0-9+\-() ]{5,32}$")
WEBSITE_RE = re.compile(r"^https?://[^\s]+$")
MAX_TICKET = 1_000_000.0  # 万元: beyond this a figure was typed in yuan
MAX_MESSAGE = 1000

# what a demand's text or stage says it needs -> the provider kinds that answer it
NEED_WORDS = {
    "pilot": ("中试", "小试", "放大", "试生产", "试制", "量产", "pilot", "scale-up", "scale up"),
    "testing": ("检测", "测试", "认证", "检验", "testing", "certification"),
    "finance": ("融资", "投资", "资金", "finance", "financing", "investment"),
}
NEED_KINDS = {"pilot": ("pilot", "poc"), "testing": ("lab",), "finance": ("investor",)}


# --- who may see what --------------------------------------------------------------------------------------

def is_reviewer(user: Optional[User]) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.role in REVIEWERS


def is_owner(user: Optional[User], provider: Provider) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and provider.owner_id == user.id


def can_view(user: Optional[User], provider: Provider) -> bool:
    """Published entries are public; others only for their owner and reviewers."""
    return provider.status == "published" or is_owner(user, provider) or is_reviewer(user)


def accepted_request(session: Session, user: Optional[User], provider: Provider) -> Optional[ProviderContactRequest]:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return session.scalar(select(ProviderContactRequest).where(
        ProviderContactRequest.provider_id == provider.id, ProviderContactRequest.requester_id == user.id,
        ProviderContactRequest.status == "accepted").limit(1))


def can_see_contact(session: Session, user: Optional[User], provider: Provider) -> bool:
    """The owner, brokers and admins, and a user whose contact request the provider accepted (while the entry
    is published; a withdrawn request hides the contact again)."""
    if is_owner(user, provider) or is_reviewer(user):
        return True
    if provider.status != "published":
        return False
    return accepted_request(session, user, provider) is not None


def reveal_contact(session: Session, user: Optional[User], provider: Provider) -> bool:
    """can_see_contact, with the reveal audited when the viewer is not the owner."""
    if not can_see_contact(session, user, provider):
        return False
    if not is_owner(user, provider):
        audit.record(session, "contact.reveal", actor=user, target=f"provider:{provider.id}",
                     detail={"role": user.role})
    return True


def get(session: Session, provider_id: int, viewer: Optional[User]) -> Provider:
    """An entry the viewer may see; NotFound otherwise (a draft's existence is not revealed)."""
    provider = session.get(Provider, provider_id)
    if provider is None or not can_view(viewer, provider):
        raise NotFound()
    return provider


def get_owned(session: Session, provider_id: int, user: User) -> Provider:
    provider = session.get(Provider, provider_id)
    if provider is None or not is_owner(user, provider):
        raise NotFound()
    return provider


def owned_by(session: Session, user: User) -> list[Provider]:
    return list(session.scalars(select(Provider).where(Provider.owner_id == user.id)
                                .order_by(Provider.updated_at.desc(), Provider.id.desc())))


def review_queue(session: Session) -> list[Provider]:
    return list(session.scalars(select(Provider).where(Provider.status == "submitted")
                                .order_by(Provider.submitted_at, Provider.id)))


# --- registration ------------------------------------------------------------------------------------------

def register_provider(session: Session, *, email: str, password: str, display_name: str, org_name: str,
                      region: Optional[str], credit_code: Optional[str] = None, role: str = "provider",
                      industry: Optional[str] = None) -> User:
    """Self-registration of a provider with a new, unverified organisation (kind agency); like companies'
    (accounts.register's arguments: role is always provider here)."""
    org = Organisation(name=org_name.strip(), kind=OrgKind.AGENCY.value, region=region, industry=industry,
                       credit_code=(credit_code or None), verified=False)
    return accounts.create_user(session, email=email, password=password, display_name=display_name,
                                role=Role.PROVIDER, organisation=org)


# --- create, edit, review ----------------------------------------------------------------------------------

def _clean(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """Checked values of an entry; ServiceError(code, field=...) on the first bad one."""
    out: dict[str, Any] = {}
    kind = str(data.get("kind") or "")
    if kind not in PROVIDER_KINDS:
        raise ServiceError("directory.bad_kind", field="kind")
    out["kind"] = kind
    for name, (lo, hi) in TEXT_LIMITS.items():
        value = data.get(name)
        value = "" if value is None else str(value).strip()
        if not lo <= len(value) <= hi:
            raise ServiceError("directory.text_length", field=name, min=lo, max=hi)
        out[name] = value
    if not EMAIL_RE.match(out["contact_email"]):
        raise ServiceError("directory.bad_email", field="contact_email")
    if not PHONE_RE.match(out["contact_phone"]):
        raise ServiceError("directory.bad_phone", field="contact_phone")
    if out["website"] and not WEBSITE_RE.match(out["website"]):
        raise ServiceError("directory.bad_website", field="website")
    codes = data.get("field_codes") or []
    if isinstance(codes, str) or not isinstance(codes, (list, tuple)) or len(codes) > 10:
        raise ServiceError("directory.bad_fields", field="field_codes")
    codes = [str(c) for c in codes]
    if not codes:
        raise ServiceError("directory.no_field", field="field_codes")
    known = set(session.scalars(select(Field.code).where(Field.code.in_(codes))))
    if set(codes) - known:
        raise ServiceError("directory.bad_fields", field="field_codes")
    out["field_codes"] = codes
    region = str(data.get("region") or "")
    if region and regions.by_code(session, region) is None:
        raise ServiceError("directory.bad_region", field="region")
    out["region"] = region or None
    stages = data.get("stages") or []
    if isinstance(stages, str) or not isinstance(stages, (list, tuple)) or set(map(str, stages)) - set(INVESTOR_STAGES):
        raise ServiceError("directory.bad_stages", field="stages")
    tickets = []
    for name in ("ticket_min", "ticket_max"):
        value = data.get(name)
        if value in (None, ""):
            tickets.append(None)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ServiceError("directory.bad_ticket", field=name) from None
        if not 0 <= number <= MAX_TICKET or number != number:
            raise ServiceError("directory.bad_ticket", field=name)
        tickets.append(number)
    if tickets[0] is not None and tickets[1] is not None and tickets[0] > tickets[1]:
        raise ServiceError("directory.ticket_order", field="ticket_max")
    if kind == "investor":
        out["stages"], out["ticket_min"], out["ticket_max"] = [str(s) for s in stages], tickets[0], tickets[1]
    else:  # stages and tickets describe investors only; equipment and capacity facilities only
        out["stages"], out["ticket_min"], out["ticket_max"] = [], None, None
    if kind not in FACILITY_KINDS:
        out["equipment"], out["capacity"] = "", ""
    return out


def _apply(provider: Provider, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name == "field_codes":
            provider.field_codes = value
        elif name == "stages":
            provider.stages = value
        else:
            setattr(provider, name, value)


def create(session: Session, owner: User, data: dict[str, Any]) -> Provider:
    """A new draft entry of a provider account."""
    if owner.role != Role.PROVIDER.value:
        raise ServiceError("directory.wrong_role")
    provider = Provider(owner_id=owner.id, status="draft")
    _apply(provider, _clean(session, data))
    session.add(provider)
    session.flush()
    return provider


def update(session: Session, provider: Provider, editor: User, data: dict[str, Any]) -> Provider:
    """Edit an entry (owner only) in a status that allows it; a published entry stays published."""
    if not is_owner(editor, provider):
        raise NotFound()
    if provider.status not in EDITABLE:
        raise ServiceError("directory.not_editable")
    _apply(provider, _clean(session, data))
    session.flush()
    return provider


def transition(session: Session, provider: Provider, actor: User, action: str,
               reason: Optional[str] = None) -> Provider:
    """One step of the review lifecycle, if the actor may take it from the entry's status."""
    if action not in TRANSITIONS:
        raise ServiceError("directory.bad_action")
    sources, target, who, needs_reason = TRANSITIONS[action]
    allowed = is_owner(actor, provider) if who == "owner" else is_reviewer(actor)
    if not allowed:
        raise NotFound() if not can_view(actor, provider) else ServiceError("directory.forbidden")
    if provider.status not in sources:
        raise ServiceError("directory.bad_transition")
    reason = (reason or "").strip()
    if needs_reason and not reason:
        raise ServiceError("directory.reason_required", field="reason")
    if len(reason) > 2000:
        raise ServiceError("directory.text_length", field="reason", min=0, max=2000)
    source, now = provider.status, utcnow()
    provider.status = target
    if target == "submitted":
        provider.submitted_at = now
    if target == "published":
        provider.published_at, provider.review_note = now, None
    if target in ("returned", "rejected"):
        provider.review_note = reason
    if who == "reviewer":
        audit.record(session, "listing.review", actor=actor, target=f"provider:{provider.id}",
                     detail={"decision": action, "from": source, "to": target})
    session.flush()
    return provider


# --- search ------------------------------------------------------------------------------------------------

@dataclass
class DirectoryFilter:
    q: str = ""
    kind: str = ""
    field: str = ""   # a field code: the entry names it or one of its sub-fields
    region: str = ""  # a region code: the entry is placed in it or below
    status: str = ""  # reviewers only; others always see published entries


def search_stmt(session: Session, f: DirectoryFilter, viewer: Optional[User]) -> Select:
    """Entries matching the filters, newest published first; published only except for reviewers."""
    stmt = select(Provider)
    if is_reviewer(viewer) and f.status:
        stmt = stmt.where(Provider.status == f.status)
    else:
        stmt = stmt.where(Provider.status == "published")
    if f.kind:
        stmt = stmt.where(Provider.kind == f.kind)
    if f.field:
        stmt = stmt.where(or_(Provider.fields_raw.contains(f",{f.field},", autoescape=True),
                              Provider.fields_raw.contains(f",{f.field}.", autoescape=True)))
    if f.region:
        node = regions.by_code(session, f.region)
        stmt = stmt.where(Provider.region_id.in_(regions.subtree_ids(node))) if node is not None \
            else stmt.where(Provider.id == -1)
    for word in words_of(f.q)[:8]:
        stmt = stmt.where(Provider.search_text.contains(word, autoescape=True))
    return stmt.order_by(Provider.published_at.desc().nullslast(), Provider.id.desc())


def words_of(q: str) -> list[str]:
    """The search words of a query: whitespace-separated, lower-cased (a Chinese phrase is matched as typed)."""
    return [w for w in dict.fromkeys((q or "").lower().split()) if w][:8]


# --- contact requests (double opt-in) ----------------------------------------------------------------------

def request_contact(session: Session, user: User, provider: Provider, message: str = "") -> ProviderContactRequest:
    """A signed-in user asks for a published entry's contact; the provider answers."""
    if provider.status != "published" and not is_owner(user, provider):
        raise NotFound()
    if is_owner(user, provider):
        raise ServiceError("directory.own_entry")
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise ServiceError("directory.text_length", field="message", min=0, max=MAX_MESSAGE)
    live = session.scalar(select(ProviderContactRequest).where(
        ProviderContactRequest.provider_id == provider.id, ProviderContactRequest.requester_id == user.id,
        ProviderContactRequest.status.in_(("requested", "accepted"))).limit(1))
    if live is not None:
        raise ServiceError("directory.already_requested")
    req = ProviderContactRequest(provider_id=provider.id, requester_id=user.id, message=message)
    session.add(req)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ServiceError("directory.already_requested") from None
    audit.record(session, "intro.requested", actor=user, target=f"provider_contact:{req.id}",
                 detail={"provider": provider.id})
    who = user.organisation.name if user.organisation else user.display_name  # a name, never a contact
    notifications.notify(session, provider.owner_id, "directory_request",
                         {"provider_id": provider.id, "name": provider.name, "who": who, "request_id": req.id})
    return req


def get_request(session: Session, request_id: int, user: User) -> ProviderContactRequest:
    """A request the user is a side of (requester or the provider's owner); NotFound otherwise."""
    req = session.get(ProviderContactRequest, request_id)
    if req is None or user.id not in (req.requester_id, req.provider.owner_id):
        raise NotFound()
    return req


def answer(session: Session, req: ProviderContactRequest, user: User, accept: bool) -> ProviderContactRequest:
    """The provider accepts (both see each other's contact) or declines a pending request."""
    if req.provider.owner_id != user.id:
        raise NotFound() if user.id != req.requester_id else ServiceError("directory.forbidden")
    if req.status != "requested":
        raise ServiceError("directory.bad_transition")
    req.status, req.answered_at = ("accepted" if accept else "declined"), utcnow()
    audit.record(session, "intro.accepted" if accept else "intro.declined", actor=user,
                 target=f"provider_contact:{req.id}", detail={"provider": req.provider_id})
    notifications.notify(session, req.requester_id, "directory_answer",
                         {"provider_id": req.provider_id, "name": req.provider.name, "accepted": accept})
    session.flush()
    return req


def withdraw(session: Session, req: ProviderContactRequest, user: User) -> ProviderContactRequest:
    """Either side takes a requested or accepted request back: the contacts are hidden again."""
    if user.id not in (req.requester_id, req.provider.owner_id):
        raise NotFound()
    if req.status not in ("requested", "accepted"):
        raise ServiceError("directory.bad_transition")
    req.status, req.answered_at = "withdrawn", utcnow()
    audit.record(session, "intro.withdrawn", actor=user, target=f"provider_contact:{req.id}",
                 detail={"provider": req.provider_id})
    session.flush()
    return req


def requests_for(session: Session, user: User) -> tuple[list[ProviderContactRequest], list[ProviderContactRequest]]:
    """(requests to the user's entries, requests the user sent), newest first."""
    received = select(ProviderContactRequest).join(Provider).where(Provider.owner_id == user.id)
    sent = select(ProviderContactRequest).where(ProviderContactRequest.requester_id == user.id)
    order = (ProviderContactRequest.created_at.desc(), ProviderContactRequest.id.desc())
    return list(session.scalars(received.order_by(*order))), list(session.scalars(sent.order_by(*order)))


def request_between(session: Session, user: Optional[User], provider: Provider) -> Optional[ProviderContactRequest]:
    """The user's live request to this entry, if any."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return session.scalar(select(ProviderContactRequest).where(
        ProviderContactRequest.provider_id == provider.id, ProviderContactRequest.requester_id == user.id,
        ProviderContactRequest.status.in_(("requested", "accepted"))).limit(1))


# --- providers for a demand, investors for an achievement --------------------------------------------------

def needs_of(text: str, min_trl: Optional[int] = None) -> list[str]:
    """What a listing's text asks for: 'pilot', 'testing', 'finance' (in this order); a demand asking for a
    technology at TRL 4 to 7 is taken to need pilot-scale work."""
    low = (text or "").lower()
    found = [need for need, words in NEED_WORDS.items() if any(w in low for w in words)]
    if min_trl is not None and 4 <= min_trl <= 7 and "pilot" not in found:
        found.insert(0, "pilot")
    return found


@dataclass
class ProviderFit:
    provider: Provider
    score: float
    need: str
    field_fit: str  # "sub" (same sub-field), "top" (same top-level field), ""
    region_fit: bool


@lru_cache(maxsize=8192)
def _tokens(text: Optional[str]) -> frozenset[str]:
    """The words of a text (jieba), remembered per process: a demand's match page compares its words with every
    published provider of the kinds it needs, and segmenting each provider's text on every view grows with the
    directory (0.18 ms a provider here: ~5 ms of a demo match page, ~0.4 s with 2,000 providers)."""
    return frozenset(t for t in tokenize(text or "") if len(t) > 1)


def _rank(session: Session, kinds: Iterable[str], field_code: str, region_id: Optional[int], text: str,
          need_of_kind: dict[str, str], limit: int) -> list[ProviderFit]:
    """Published entries of these kinds ranked by field fit, region fit and shared words with the text."""
    kinds = tuple(kinds)
    if not kinds:
        return []
    top = field_code.split(".", 1)[0] if field_code else ""
    stmt = select(Provider).where(Provider.status == "published", Provider.kind.in_(kinds))
    candidates = list(session.scalars(stmt.order_by(Provider.id).limit(2000)))
    path = ""
    if region_id is not None:
        node = session.get(Region, region_id)
        path = node.path if node is not None else ""
    paths = dict(session.execute(select(Region.id, Region.path).where(
        Region.id.in_({p.region_id for p in candidates if p.region_id}))).all()) if candidates else {}
    words = _tokens(text)
    out = []
    for p in candidates:
        codes = p.field_codes
        field_fit = "sub" if field_code and field_code in codes else (
            "top" if top and any(c.split(".", 1)[0] == top for c in codes) else "")
        other = paths.get(p.region_id, "")
        region_fit = bool(path and other and (path.startswith(other) or other.startswith(path)))
        shared = len(words & _tokens(p.search_text or "")) / (len(words) ** 0.5) if words else 0.0
        score = {"sub": 3.0, "top": 2.0, "": 0.0}[field_fit] + (1.0 if region_fit else 0.0) + min(shared, 3.0)
        if field_fit or shared >= 0.5:
            out.append(ProviderFit(p, round(score, 3), need_of_kind[p.kind], field_fit, region_fit))
    out.sort(key=lambda f: (-f.score, f.provider.id))
    return out[:limit]


def providers_for_demand(session: Session, demand: Demand, limit: int = 8) -> tuple[list[str], list[ProviderFit]]:
    """(the demand's needs, matching published providers): pilot/poc platforms, testing labs and investors
    by what its text or TRL asks for, ranked by field, region and shared words."""
    text = "\n".join((demand.title or "", demand.keywords or "", demand.description or "", demand.indicators or ""))
    needs = needs_of(text, demand.min_trl)
    need_of_kind = {kind: need for need in needs for kind in NEED_KINDS[need]}
    field = session.get(Field, demand.field_id) if demand.field_id else None
    return needs, _rank(session, need_of_kind, field.code if field else "", demand.region_id, text,
                        need_of_kind, limit)


def investors_for_achievement(session: Session, achievement: Achievement,
                              limit: int = 8) -> tuple[bool, list[ProviderFit]]:
    """(whether the achievement looks for finance, matching investors): for staff. It looks for finance when
    its text says so or it seeks a joint venture (合作开发) at an early stage."""
    text = "\n".join((achievement.title or "", achievement.keywords or "", achievement.abstract or "",
                      achievement.team or ""))
    wants = "finance" in needs_of(text) or ("joint" in achievement.modes and (achievement.trl or 9) <= 6)
    if not wants:
        return False, []
    field = session.get(Field, achievement.field_id) if achievement.field_id else None
    return True, _rank(session, ("investor",), field.code if field else "", achievement.region_id, text,
                       {"investor": "finance"}, limit)
