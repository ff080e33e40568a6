"""Search of published listings: a text query is ranked by the same hybrid engine as matching (jieba BM25 that
rewards partial overlap, plus the dense model), then every other filter runs in the database over the ranked
ids; an empty query lists newest first. Staff filtering other statuses, or an engine that cannot serve, get
the word-by-word filter instead."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Optional

from sqlalchemy.orm import Session

from models import Status, User

from . import listings
from .matching import MatchingUnavailable

log = logging.getLogger(__name__)


def search(session: Session, runtime: Any, kind: str, f: listings.SearchFilters, viewer: Optional[User],
           number: int, size: int) -> tuple[list[Any], int, bool]:
    """(rows of the page, total, ranked?): ranked by relevance when the query has text and the engine serves."""
    published_only = not listings.is_reviewer(viewer) or f.status in ("", Status.PUBLISHED.value)
    if f.q.strip() and published_only:
        try:
            allowed = _passing(session, kind, f, viewer) if _filtered(f) else None
            ranked = runtime.search_text(session, kind, f.q, allowed_ids=allowed)
        except MatchingUnavailable as err:  # the index must be rebuilt: the literal filter still answers
            log.warning("search falls back to the literal filter: %s", type(err).__name__)
        except Exception:  # the engine failing must not take the search page down with it
            log.exception("ranked search failed; the literal filter answers")
        else:
            rows, total = listings.ranked_page(session, kind, f, viewer, [i for i, _ in ranked], number, size)
            if total:  # nothing ranked (a single character, say): the literal filter may still find it
                return rows, total, True
    rows, total = listings.page(session, listings.search_stmt(kind, f, viewer), number, size)
    return rows, total, False


def _filtered(f: listings.SearchFilters) -> bool:
    return any((f.field, f.region, f.mode, f.stage, f.budget is not None, f.max_price is not None, f.since,
                f.until))


def _passing(session: Session, kind: str, f: listings.SearchFilters, viewer: Optional[User]) -> set[int]:
    """Ids of the listings that pass every filter but the text (one indexed query, ids only)."""
    model = listings.model_for(kind)
    stmt = listings.search_stmt(kind, replace(f, q=""), viewer).with_only_columns(model.id).order_by(None)
    return set(session.scalars(stmt))
