"""The full-text index the database owns (migration 0009): each listing's title, keywords and body segmented by
jieba into `search_terms` on save, and the database's own index over it (an FTS5 table per kind on SQLite,
the generated `search_tsv` column with a GIN index on PostgreSQL), kept in the writing transaction by triggers or
the generated column. A search asks it for the listings holding any of the query's words among those that pass
every other filter, in one query, best first (bm25 on SQLite, ts_rank on PostgreSQL); the hybrid engine
re-ranks what it returns (services/search.py)."""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import Select, event, inspect, literal_column, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.orm import Session

from matchmaking.text import tokenize
from models import Achievement, Demand

# the body columns searched with title and keywords (migration 0009 BODY has the same)
BODY = {"demand": ("description", "indicators"), "achievement": ("abstract",)}
SOURCE_COLUMNS = {kind: ("title", "keywords") + body for kind, body in BODY.items()}
MAX_QUERY_WORDS = 16  # a pasted page of text asks the index for its first words only
PREFIX_BELOW = 2  # a one-character word also finds the words it starts (电 -> 电池, 电机)
REBUILD_BATCH = 1000


def terms_of(item: Any) -> str:
    """A listing's searchable words, segmented as the engine segments (search mode: 锂电池 -> 电池 锂电池)."""
    parts = [getattr(item, c, "") or "" for c in SOURCE_COLUMNS[item.kind]]
    return " ".join(tokenize("\n".join(parts)))


def _on_save(_mapper: Any, _connection: Any, target: Any) -> None:
    state = inspect(target)
    if target.search_terms is None or any(state.attrs[c].history.has_changes() for c in SOURCE_COLUMNS[target.kind]):
        target.search_terms = terms_of(target)


def install() -> None:
    """Segment on every insert and on every update that changes a searched column (idempotent). Called by
    services.listings at import, so every code path that saves a listing through the ORM keeps it."""
    for model in (Demand, Achievement):
        for name in ("before_insert", "before_update"):
            if not event.contains(model, name, _on_save):
                event.listen(model, name, _on_save)


install()


def query_words(q: str) -> list[str]:
    """The distinct words of a query, in order, at most MAX_QUERY_WORDS."""
    words: dict[str, None] = {}
    for w in tokenize(q):
        if len(words) >= MAX_QUERY_WORDS:
            break
        words.setdefault(w, None)
    return list(words)


def _fts_match(words: list[str]) -> str:
    # each word a quoted FTS5 string (quotes doubled), OR-ed; a short one is a prefix query as well
    return " OR ".join('"%s"%s' % (w.replace('"', '""'), "*" if len(w) < PREFIX_BELOW else "") for w in words)


def _tsquery(words: list[str]) -> str:
    # tsquery input syntax, each word a quoted lexeme taken verbatim (no parser: the same lexemes as the tsvector)
    def lexeme(w: str) -> str:
        return "'%s'%s" % (w.replace("\\", "\\\\").replace("'", "''"), ":*" if len(w) < PREFIX_BELOW else "")
    return " | ".join(lexeme(w) for w in words)


def lexical_stmt(session: Session, kind: str, base: Select, words: list[str], limit: int) -> Optional[Select]:
    """Ids of the rows of `base` (a filtered listing query) holding any of the words, best first, at most
    `limit`: the filters and the text in one query; None without words or on a database with no such index."""
    if not words:
        return None
    model = Demand if kind == "demand" else Achievement
    table = model.__tablename__
    ids = base.with_only_columns(model.id).order_by(None)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        fts = f"{table}_fts"
        hits = (select(literal_column("rowid").label("id"), literal_column(f"bm25({fts})").label("rank"))
                .select_from(sa_table(fts))
                .where(text(f"{fts} MATCH :match").bindparams(match=_fts_match(words))).subquery("fts_hits"))
        return ids.join(hits, hits.c.id == model.id).order_by(hits.c.rank, model.id).limit(limit)
    if dialect == "postgresql":
        tsq = _tsquery(words)
        return (ids.where(text(f"{table}.search_tsv @@ CAST(:tsq AS tsquery)").bindparams(tsq=tsq))
                .order_by(text(f"ts_rank({table}.search_tsv, CAST(:tsq_r AS tsquery)) DESC").bindparams(tsq_r=tsq),
                          model.id)
                .limit(limit))
    return None
