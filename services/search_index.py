"""The full-text index the database owns (migration 0009): each listing's title, keywords and body segmented by
jieba into `search_terms` on save, and the database's own index over it (an FTS5 table per kind on SQLite,
the generated `search_tsv` column with a GIN index on PostgreSQL), kept in the writing transaction by triggers or
the generated column. A search asks it for the listings holding any of the query's words among those that pass
every other filter, in one query, best first (bm25 on SQLite, ts_rank on PostgreSQL); the hybrid engine
re-ranks what it returns (services/search.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import Select, event, func, inspect, literal_column, select, text
from sqlalchemy.exc import DBAPIError
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
    """Segment on every insert and on every update that changes a searched column (idempotent). Runs when this
    module is imported, which services.listings does, so every code path that saves a listing through the ORM
    keeps the words; rows written around the ORM are found by `flask index check` and segmented by `index sync`."""
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


def lexical_stmt(session: Session, kind: str, base: Select, words: list[str], limit: int, ranked: bool = True
                 ) -> Optional[Select]:
    """Ids of the rows of `base` (a filtered listing query) holding any of the words, at most `limit`: the filters
    and the text in one query; None without words or on a database with no such index. ranked: best first by the
    index's own score; otherwise in no order (reading each row's words to score it costs more than the search: 12 ms
    at the median and 45 at the 90th percentile on PostgreSQL at 100k, against 2 and 10 for the ids alone)."""
    if not words:
        return None
    model = Demand if kind == "demand" else Achievement
    table = model.__tablename__
    ids = base.with_only_columns(model.id).order_by(None)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        fts = f"{table}_fts"
        match = text(f"{fts} MATCH :match").bindparams(match=_fts_match(words))
        if not ranked:
            # IN (subquery), not a join: without bm25() SQLite would fold a joined subquery into the outer query
            # and, with no ANALYZE statistics, run the MATCH once per published row (0.5-1.2 s at 20k listings)
            return ids.where(model.id.in_(select(literal_column("rowid")).select_from(sa_table(fts)).where(match))
                             ).limit(limit)
        hits = (select(literal_column("rowid").label("id"), literal_column(f"bm25({fts})").label("rank"))
                .select_from(sa_table(fts)).where(match).subquery("fts_hits"))
        return ids.join(hits, hits.c.id == model.id).order_by(hits.c.rank, model.id).limit(limit)
    if dialect == "postgresql":
        tsq = _tsquery(words)
        stmt = ids.where(text(f"{table}.search_tsv @@ CAST(:tsq AS tsquery)").bindparams(tsq=tsq))
        if ranked:
            stmt = stmt.order_by(text(f"ts_rank({table}.search_tsv, CAST(:tsq_r AS tsquery)) DESC")
                                 .bindparams(tsq_r=tsq), model.id)
        return stmt.limit(limit)
    return None


# -- operations: `flask index check` and `flask index rebuild` ---------------------------------------------------
CHECK_SAMPLE = 500  # the most recently changed listings of each kind are re-segmented and compared


@dataclass
class TextIndexReport:
    """What a check of the full-text index found, per kind: listings never segmented, listings whose stored
    words differ from a fresh segmentation (of the CHECK_SAMPLE changed last), and problems of the database's
    index itself (FTS5 integrity, a missing trigger or column)."""

    unsegmented: dict[str, int] = field(default_factory=dict)
    drifted: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (any(self.unsegmented.values()) or any(self.drifted.values()) or self.problems)


def _models() -> dict[str, type]:
    return {"demand": Demand, "achievement": Achievement}


def check(session: Session, sample: int = CHECK_SAMPLE) -> TextIndexReport:
    """Compare the full-text index with the listings (read-only)."""
    report = TextIndexReport()
    for kind, model in _models().items():
        report.unsegmented[kind] = session.scalar(
            select(func.count()).select_from(model).where(model.search_terms.is_(None))) or 0
        recent = session.scalars(select(model).order_by(model.updated_at.desc(), model.id.desc()).limit(sample)
                                 .execution_options(populate_existing=True))  # the rows as stored, not as cached
        report.drifted[kind] = sum(1 for item in recent
                                   if item.search_terms is not None and item.search_terms != terms_of(item))
        report.problems.extend(_index_problems(session, model.__tablename__))
    return report


def _index_problems(session: Session, table: str) -> list[str]:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        fts = f"{table}_fts"
        names = set(session.scalars(text("SELECT name FROM sqlite_master WHERE name LIKE :p"), {"p": f"{fts}%"}))
        missing = [n for n in (fts, f"{fts}_ai", f"{fts}_ad", f"{fts}_au") if n not in names]
        if missing:
            return [f"{table}: missing {', '.join(missing)} (run `flask index rebuild`)"]
        try:  # with rank 1, FTS5 also compares the index with the external content (the listings)
            with session.begin_nested():
                session.execute(text(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)"))
        except DBAPIError as err:
            return [f"{table}: the full-text index differs from the listings ({err.orig}); run `flask index rebuild`"]
        return []
    if dialect == "postgresql":
        found = session.scalar(text("SELECT count(*) FROM pg_indexes WHERE tablename = :t AND indexname = :i"),
                               {"t": table, "i": f"ix_{table}_search_tsv"})
        return [] if found else [f"{table}: the GIN index ix_{table}_search_tsv is missing (run `flask db upgrade`)"]
    return []


def fill(session: Session) -> dict[str, int]:
    """Segment the listings that never were (rows written around the application: a bulk COPY, a restore of an
    old dump); `flask index sync` runs it. Returns how many of each kind it segmented."""
    return _segment(session, only_missing=True)


def rebuild(session: Session) -> dict[str, int]:
    """Segment every listing again (after a change of the segmentation or its dictionary) and rebuild the
    database's index over the words, recreating SQLite's triggers if a table rebuild dropped them. Returns
    how many listings of each kind changed words."""
    changed = _segment(session, only_missing=False)
    if session.get_bind().dialect.name == "sqlite":
        for model in _models().values():
            _recreate_sqlite(session, model.__tablename__)
    return changed


def _segment(session: Session, only_missing: bool) -> dict[str, int]:
    changed: dict[str, int] = {}
    for kind, model in _models().items():
        changed[kind] = 0
        last = 0
        while True:
            stmt = select(model).where(model.id > last).order_by(model.id).limit(REBUILD_BATCH)
            if only_missing:
                stmt = stmt.where(model.search_terms.is_(None))
            batch = list(session.scalars(stmt.execution_options(populate_existing=True)))
            if not batch:
                break
            for item in batch:
                words = terms_of(item)
                if item.search_terms != words:
                    item.search_terms = words
                    changed[kind] += 1
            session.flush()
            last = batch[-1].id
    return changed


def _recreate_sqlite(session: Session, table: str) -> None:
    """Drop and create the FTS5 table and its triggers exactly as migration 0009 does, filled from the rows."""
    fts = f"{table}_fts"
    for suffix in ("ai", "ad", "au"):
        session.execute(text(f"DROP TRIGGER IF EXISTS {fts}_{suffix}"))
    session.execute(text(f"DROP TABLE IF EXISTS {fts}"))
    for statement in sqlite_index_ddl(table):
        session.execute(text(statement))


def sqlite_index_ddl(table: str) -> list[str]:
    """The FTS5 table over a listings table's search_terms and the triggers that keep it (migration 0009)."""
    fts = f"{table}_fts"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5(search_terms, content='{table}', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 0')",
        f"INSERT INTO {fts}({fts}) VALUES('rebuild')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, search_terms) VALUES (new.id, new.search_terms); END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF search_terms ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); "
        f"INSERT INTO {fts}(rowid, search_terms) VALUES (new.id, new.search_terms); END",
    ]
