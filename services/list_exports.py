"""Filtered lists of demands and achievements as tables for .xlsx/.csv (written by services.exports).

Contact columns are added only when the caller says the reader may see them (the owner's own list);
public and broker lists never carry them.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from sqlalchemy import Select
from sqlalchemy.orm import Session

from models import User

from . import listings
from .exports import Table

# Columns per kind, in order: key -> how to read it from a listing (labels are the caller's)
COMMON = ("id", "title", "field", "region", "keywords", "modes")
KIND_COLUMNS = {
    "demand": COMMON + ("description", "indicators", "budget_min", "budget_max", "deadline", "min_trl"),
    "achievement": COMMON + ("abstract", "stage", "trl", "price", "negotiable", "team"),
}
TAIL = ("status", "published_at", "updated_at")
CONTACT = ("contact_name", "contact_phone", "contact_email")
# label(category, code) -> text in the reader's language; categories: field, region, mode, stage, status, header
Labeller = Callable[[str, str], str]


def columns(kind: str, with_contact: bool) -> tuple[str, ...]:
    """The column keys of an export."""
    listings.model_for(kind)
    return KIND_COLUMNS[kind] + TAIL + (CONTACT if with_contact else ())


def _value(item: Any, key: str, label: Labeller) -> Any:
    if key == "field":
        return label("field", item.field.code) if item.field else ""
    if key == "region":
        return label("region", item.region) if item.region else ""
    if key == "modes":
        return "、".join(label("mode", m) for m in item.modes)
    if key == "stage":
        return label("stage", item.stage) if item.stage else ""
    if key == "status":
        return label("status", item.status)
    if key == "negotiable":
        return label("bool", "1" if item.negotiable else "0")
    return getattr(item, key)


def listing_table(kind: str, items: Iterable[Any], label: Labeller, *, with_contact: bool,
                  title: str = "") -> Table:
    """A table of listings; contact columns only when with_contact."""
    keys = columns(kind, with_contact)
    table = Table([label("header", k) for k in keys], title=title or kind)
    for item in items:
        table.add([_value(item, k, label) for k in keys])
    return table


def search_rows(session: Session, kind: str, filters: listings.SearchFilters, viewer: Optional[User],
                limit: int, runtime: Any = None) -> list[Any]:
    """The rows of a filtered search as the viewer may see them, up to limit: the search page's rows in its
    order (ranked by the engine when there is a query and a runtime)."""
    if runtime is not None and filters.q.strip():
        from .search import search

        rows, _total, _ranked = search(session, runtime, kind, filters, viewer, 1, limit)
        return rows
    stmt: Select = listings.search_stmt(kind, filters, viewer).limit(limit)
    return list(session.scalars(stmt))


def own_rows(session: Session, kind: str, owner: User, limit: int) -> list[Any]:
    """The owner's listings of a kind (every status), newest first, up to limit."""
    return listings.owned_by(session, kind, owner)[:limit]
