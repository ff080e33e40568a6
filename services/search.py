"""Search of published listings. A text query asks the database's full-text index (services/search_index.py) for
the listings holding its words among those passing every other filter, in one query; the hybrid engine adds
the listings nearest in meaning that pass the filters too, and ranks the lot as matching does (jieba BM25 that
rewards partial overlap, plus the dense model). An empty query lists newest first. Staff filtering other
statuses get the word-by-word filter; an engine that cannot serve leaves the full-text index's own order."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Field, Status, User

from . import listings, search_index
from .matching import SEARCH_DEPTH, MatchingUnavailable

log = logging.getLogger(__name__)


@dataclass
class Results:
    """One page of a search: its rows, how many passed, how they were ordered ("relevance": the hybrid engine,
    "words": the full-text index alone, "newest"/"literal": no ranking), the query's words (for highlighting)
    and, for ranked searches, each row's calibrated score."""

    rows: list[Any]
    total: int
    order: str
    words: list[str] = field(default_factory=list)
    scores: dict[int, float] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)  # every ranked id passing the filters (facets count these)

    @property
    def ranked(self) -> bool:
        return self.order in ("relevance", "words")


def search(session: Session, runtime: Any, kind: str, f: listings.SearchFilters, viewer: Optional[User],
           number: int, size: int) -> tuple[list[Any], int, bool]:
    """(rows of the page, total, ranked?): see find()."""
    res = find(session, runtime, kind, f, viewer, number, size)
    return res.rows, res.total, res.ranked


def find(session: Session, runtime: Any, kind: str, f: listings.SearchFilters, viewer: Optional[User],
         number: int, size: int) -> Results:
    """A page of listings for the filters: ranked by relevance when the query has words and only published
    listings are asked for, newest first otherwise."""
    published_only = not listings.is_reviewer(viewer) or f.status in ("", Status.PUBLISHED.value)
    if f.q.strip() and published_only:
        words = search_index.query_words(f.q)
        base = listings.search_stmt(kind, replace(f, q=""), viewer)
        shares = _shares(session, runtime, kind, words)
        lexical: Optional[list[int]] = []
        asked = telling(words, shares)
        if shares and all(share > COMMON_SHARE for share in shares):
            lexical = None  # only words most listings hold: the engine ranks them in memory (below)
        else:
            lexical = _holding(session, kind, base, asked)
        ranked, order = _rank(session, runtime, kind, f, viewer, lexical, base, asked)
        if ranked:
            ids = [i for i, _ in ranked]
            rows, total = listings.ranked_page(session, kind, f, viewer, ids, number, size)
            if total:
                return Results(rows, total, order, words, dict(ranked), ids)
        if len(f.q.strip()) > LITERAL_UP_TO and order == "relevance":
            # the engine served and found nothing: no scan of every listing for it (a character inside a word is
            # what only the literal filter finds, and only short queries look for one)
            return Results([], 0, order, words)
    rows, total = listings.page(session, listings.search_stmt(kind, f, viewer), number, size)
    return Results(rows, total, "literal" if f.q.strip() else "newest", search_index.query_words(f.q))


def _holding(session: Session, kind: str, base: Any, words: list[str]) -> list[int]:
    """The listings passing the filters that hold a word, in no order (the engine keeps the SEARCH_DEPTH best by its
    own BM25): up to MATCHING_CAP of them; past that (a one-character prefix, held by a quarter of the catalogue),
    the index's SEARCH_DEPTH best."""
    stmt = search_index.lexical_stmt(session, kind, base, words, MATCHING_CAP, ranked=False)
    if stmt is None:
        return []
    found = list(session.scalars(stmt))
    if len(found) < MATCHING_CAP:
        return found
    return list(session.scalars(search_index.lexical_stmt(session, kind, base, words, SEARCH_DEPTH)))


MATCHING_CAP = 5000  # ids read unranked at most: 5% of 100k, the share above which a word is not asked (COMMON_SHARE)
LITERAL_UP_TO = 2  # characters: a query this short that ranks nothing gets the literal filter (电 in 锂电池)
COMMON_SHARE = 0.05  # a word held by more listings than this says little about which: not asked of the index


def telling(words: list[str], shares: Optional[list[float]]) -> list[str]:
    """The words to ask the full-text index for: without those held by more than COMMON_SHARE of the listings,
    unless nothing else is left. Ranking a word that half the catalogue holds means scoring half the catalogue
    (100 ms at 100k listings), and the engine re-scores every candidate with all the words anyway."""
    if not shares:
        return words
    rare = [w for w, share in zip(words, shares) if share <= COMMON_SHARE]
    return rare or words


def _shares(session: Session, runtime: Any, kind: str, words: list[str]) -> Optional[list[float]]:
    try:
        return runtime.word_shares(session, kind, words)
    except MatchingUnavailable as err:  # an engine that cannot say: every word goes to the index
        log.warning("word shares unavailable: %s", type(err).__name__)
    except Exception:
        log.exception("word shares unavailable")
    return None


def _rank(session: Session, runtime: Any, kind: str, f: listings.SearchFilters, viewer: Optional[User],
          lexical: Optional[list[int]], base: Any, asked: list[str]) -> tuple[list[tuple[int, float]], str]:
    model = listings.model_for(kind)
    ids_of = base.with_only_columns(model.id).order_by(None)

    def admit(ids: list[int]) -> set[int]:
        return set(session.scalars(ids_of.where(model.id.in_(ids)))) if ids else set()

    def passing() -> Optional[set[int]]:  # every listing passing the filters (None: no filter, all of them)
        return set(session.scalars(ids_of)) if is_filtered(f) else None

    try:
        return runtime.search_text(session, kind, f.q, lexical, admit, passing), "relevance"
    except MatchingUnavailable as err:  # the vector index must be rebuilt: the full-text index still answers
        log.warning("search ranks by words only: %s", type(err).__name__)
    except Exception:  # the engine failing must not take the search page down with it
        log.exception("ranked search failed; the full-text index's order answers")
    # the engine cannot serve: the index ranks its best (lexical came unranked; common words too when none else)
    stmt = search_index.lexical_stmt(session, kind, base, asked if lexical is not None else search_index.query_words(
        f.q), SEARCH_DEPTH)
    return [(i, 0.0) for i in (session.scalars(stmt) if stmt is not None else [])], "words"


def is_filtered(f: listings.SearchFilters) -> bool:
    """Whether any filter but the text is set."""
    return any((f.field, f.region, f.mode, f.stage, f.budget is not None, f.max_price is not None, f.since,
                f.until))


def facets(session: Session, kind: str, res: Results) -> dict[str, dict[str, int]]:
    """Counts per top-level field and per region of the listings a ranked search found (at most SEARCH_DEPTH,
    so one GROUP BY query over a bounded id list); empty for an unranked list, which would count the whole
    catalogue on every page."""
    if not res.ranked or not res.ids:
        return {"field": {}, "region": {}}
    model = listings.model_for(kind)
    # one pass over the ids (their field and region), the taxonomy mapped here: each IN list of 300 ids costs
    # its own rendering and planning, and three of them were a tenth of a search page at 100k
    counts = session.execute(select(model.field_id, model.region, func.count()).where(model.id.in_(res.ids))
                             .group_by(model.field_id, model.region)).all()
    fields = {i: (code, parent) for i, code, parent in session.execute(select(Field.id, Field.code, Field.parent_id))}
    by_field: Counter[str] = Counter()
    by_region: Counter[str] = Counter()
    for field_id, region, n in counts:
        by_region[region or ""] += n
        if field_id not in fields:
            continue
        code, parent = fields[field_id]
        by_field[fields[parent][0] if parent in fields else code] += n  # each top-level field holds its sub-fields'
        if parent is not None:
            by_field[code] += n  # and each sub-field its own (a top-level code never names a sub-field)
    return {"field": dict(by_field), "region": dict(by_region)}


EXCERPT = 120  # characters of a result's body shown under its title


def excerpt(text: str, words: list[str], width: int = EXCERPT) -> str:
    """The part of a body to show under a result: its start, or the stretch around the first word of the query
    it holds when that comes later (so the highlighted word is in view)."""
    flat = " ".join((text or "").split())
    low = flat.lower()
    found = [p for p in (low.find(w.lower()) for w in words if w) if p >= 0]
    start = max(0, min(found) - width // 4) if found and min(found) > width * 3 // 4 else 0
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


RELATED = 6  # fields suggested when nothing passes


def related(session: Session, kind: str, f: listings.SearchFilters, viewer: Optional[User], locale: str,
            ) -> dict[str, Any]:
    """What to offer when a search found nothing: how many the same words find without the other filters
    (when there were some), and the taxonomy's fields whose names share a word or two characters with the
    query, each with how many published listings it holds."""
    unfiltered = None
    if is_filtered(f):
        base = listings.search_stmt(kind, listings.SearchFilters(), viewer)
        stmt = search_index.lexical_stmt(session, kind, base, search_index.query_words(f.q), SEARCH_DEPTH)
        unfiltered = len(list(session.scalars(stmt))) if stmt is not None else 0
    words = [w for w in search_index.query_words(f.q) if len(w) >= 2]
    pairs = {w[i : i + 2] for w in words for i in range(len(w) - 1)}
    scored = []
    for fld in session.scalars(select(Field).where(Field.active.is_(True))):
        names = f"{fld.name_zh} {fld.name_en}".lower()
        score = sum(2 for w in words if w in names) + sum(1 for p in pairs if p in names)
        if score:
            scored.append((score, fld))
    scored.sort(key=lambda t: (-t[0], t[1].position, t[1].id))
    fields = [fld for _, fld in scored[:RELATED]]
    model = listings.model_for(kind)
    # a top-level field holds its sub-fields' listings too, as its filter does
    under = {fld.id: [fld.id] + ([c.id for c in fld.children] if fld.parent_id is None else []) for fld in fields}
    held = dict(session.execute(
        select(model.field_id, func.count()).where(model.status == Status.PUBLISHED.value,
                                                   model.field_id.in_([i for ids in under.values() for i in ids]))
        .group_by(model.field_id)).all()) if fields else {}
    return {"unfiltered": unfiltered,
            "fields": [(fld.code, fld.name(locale), sum(held.get(i, 0) for i in under[fld.id])) for fld in fields]}
