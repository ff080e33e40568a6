"""The field taxonomy and regions."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import Field, Region, User

from . import audit
from .errors import NotFound, ServiceError


def top_fields(session: Session, *, include_inactive: bool = False) -> list[Field]:
    """Top-level fields in display order (children reachable via .children)."""
    # children in one more query, not one per top-level field (the search page's filter lists them all)
    stmt = select(Field).where(Field.parent_id.is_(None)).order_by(Field.position, Field.id) \
        .options(selectinload(Field.children))
    if not include_inactive:
        stmt = stmt.where(Field.active.is_(True))
    return list(session.scalars(stmt))


def field_choices(session: Session, locale: str) -> list[tuple[str, str]]:
    """(code, label) pairs for selects: each sub-field under its parent's name."""
    return [(child.code, f"{top.name(locale)} / {child.name(locale)}")
            for top in top_fields(session) for child in top.children if child.active]


def field_names(session: Session, locale: str) -> dict[str, str]:
    """Field code -> display name (a sub-field's under its parent's), inactive fields too (old reports name them)."""
    names: dict[str, str] = {}
    for top in top_fields(session, include_inactive=True):
        names[top.code] = top.name(locale)
        names.update((c.code, f"{top.name(locale)} / {c.name(locale)}") for c in top.children)
    return names


def filter_field_choices(session: Session, locale: str) -> list[tuple[str, str]]:
    """(code, label) pairs for filters: each top-level field followed by its sub-fields."""
    out: list[tuple[str, str]] = []
    for top in top_fields(session):
        out.append((top.code, top.name(locale)))
        out.extend((c.code, f"— {c.name(locale)}") for c in top.children if c.active)
    return out


def regions(session: Session) -> list[Region]:
    """All regions in display order: depth first, each node followed by the nodes under it."""
    from .regions import tree
    return [node.region for node in tree(session)]


def region_names(session: Session, locale: str) -> dict[str, str]:
    """Region code -> display name."""
    return {r.code: r.name(locale) for r in regions(session)}


def get_field(session: Session, field_id: int) -> Field:
    """A field by id or NotFound."""
    field = session.get(Field, field_id)
    if field is None:
        raise NotFound()
    return field


def save_field(session: Session, *, code: str, name_zh: str, name_en: str, parent_code: Optional[str],
               field: Optional[Field] = None, active: bool = True, actor: Optional[User] = None) -> Field:
    """Create or edit a field (audited); a code stays unique and a sub-field's code starts with its parent's."""
    code = code.strip().lower()
    parent = None
    if parent_code:
        parent = session.scalar(select(Field).where(Field.code == parent_code, Field.parent_id.is_(None)))
        if parent is None:
            raise ServiceError("field.unknown_parent")
        if not code.startswith(parent.code + "."):
            raise ServiceError("field.code_prefix", prefix=parent.code + ".")
    clash = session.scalar(select(Field).where(Field.code == code))
    if clash is not None and clash is not field:
        raise ServiceError("field.code_taken")
    created = field is None
    if field is None:
        field = Field(position=_next_position(session, parent))
        session.add(field)
    before = {} if created else _audited(field)
    old_code = field.code
    field.code, field.name_zh, field.name_en, field.parent, field.active = code, name_zh.strip(), \
        name_en.strip(), parent, active
    session.flush()
    after = _audited(field)
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if not created and old_code != code:
        changes["renamed_from"] = old_code
    if created or changes:
        audit.record(session, "taxonomy.field_created" if created else "taxonomy.field_changed", actor=actor,
                     target=f"field:{code}"[:80], detail=after if created else changes)
    return field


def _audited(field: Field) -> dict[str, object]:
    """What the audit log keeps of a field's state (its code is the event's target)."""
    return {"name_zh": field.name_zh, "name_en": field.name_en,
            "parent": field.parent.code if field.parent is not None else None, "active": bool(field.active)}


def _next_position(session: Session, parent: Optional[Field]) -> int:
    siblings = parent.children if parent else top_fields(session, include_inactive=True)
    return max((f.position for f in siblings), default=0) + 1
