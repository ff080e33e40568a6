"""The full-text index the database owns stays with the listings through edits, closes, rollbacks and a
kill -9 in the middle of writes, on SQLite (FTS5 + triggers) and PostgreSQL (generated tsvector + GIN);
`flask index check` reports drift and `flask index rebuild` / `sync` repair it."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from models import Achievement
from services import listings, search_index

pytestmark = pytest.mark.model  # every listing commit runs the index sync, which loads the embedding model


def found(session, words: str, status: str | None = None) -> set[int]:
    """Ids the database's index finds for the words (every status unless one is given)."""
    base = select(Achievement)
    if status:
        base = base.where(Achievement.status == status)
    stmt = search_index.lexical_stmt(session, "achievement", base, search_index.query_words(words), 100)
    return set() if stmt is None else set(session.scalars(stmt))


def test_words_are_found_after_create_and_edit_and_not_before(session, make_user, make_listing):
    uni = make_user("university")
    item = make_listing("achievement", uni, status="draft", title="钙钛矿叠层太阳能电池封装", keywords="钙钛矿,封装")
    assert item.id in found(session, "钙钛矿")
    assert item.id in found(session, "电池")  # search-mode segmentation: 太阳能电池 -> 电池 as well
    assert item.id not in found(session, "育种")
    listings.update_listing(session, item, uni, {"title": "大豆分子育种平台", "keywords": "大豆,育种",
                                                 "abstract": "高油大豆分子标记辅助育种。"})
    session.commit()
    assert item.id in found(session, "大豆 育种")
    assert item.id not in found(session, "钙钛矿")


def test_a_rolled_back_edit_leaves_the_committed_words(session, make_user, make_listing):
    uni = make_user("university")
    item = make_listing("achievement", uni, status="draft", title="高温超导带材连续制备")
    listings.update_listing(session, item, uni, {"title": "完全不同的标题：盐碱地改良"})
    session.flush()
    assert item.id in found(session, "盐碱地")  # inside the transaction the index follows the row
    session.rollback()
    assert item.id in found(session, "超导") and item.id not in found(session, "盐碱地")
    assert search_index.check(session).consistent


def test_closing_keeps_the_words_and_the_status_filter_in_the_same_query_leaves_it_out(session, make_user,
                                                                                        make_listing):
    uni, broker = make_user("university"), make_user("broker")
    item = make_listing("achievement", uni, reviewer=broker, title="海水淡化反渗透膜抗污染改性")
    assert item.id in found(session, "反渗透膜", status="published")
    listings.transition(session, item, uni, "close")
    session.commit()
    assert item.id in found(session, "反渗透膜") and item.id not in found(session, "反渗透膜", status="published")


def test_odd_queries_are_plain_words_never_syntax(session, make_user, make_listing):
    uni = make_user("university")
    make_listing("achievement", uni, status="draft", title="NEAR 测试 AND OR 引号\"成果\"")
    for q in ['"', '" OR "', "NEAR(", "a* OR b*", "'; DROP TABLE achievements; --", "\\", ":*", "(", "^"]:
        found(session, q)  # no syntax error from FTS5 or tsquery
    assert session.scalar(select(Achievement.id).limit(1)) is not None


def test_check_reports_unsegmented_rows_and_sync_fills_them(session, make_user, make_listing):
    uni = make_user("university")
    item = make_listing("achievement", uni, status="draft", title="页岩气压裂返排液处理")
    session.execute(text("UPDATE achievements SET search_terms = NULL WHERE id = :i"), {"i": item.id})
    session.commit()
    report = search_index.check(session)
    assert report.unsegmented["achievement"] == 1 and not report.consistent
    assert search_index.fill(session) == {"demand": 0, "achievement": 1}
    session.commit()
    assert search_index.check(session).consistent and item.id in found(session, "页岩气")


def test_check_reports_words_written_around_the_application_and_rebuild_repairs(session, make_user,
                                                                                 make_listing):
    uni = make_user("university")
    item = make_listing("achievement", uni, status="draft", title="稀土永磁电机退磁故障诊断")
    session.execute(text("UPDATE achievements SET title = '氢燃料电池双极板' WHERE id = :i"), {"i": item.id})
    session.commit()
    report = search_index.check(session)
    assert report.drifted["achievement"] == 1 and not report.consistent
    search_index.rebuild(session)
    session.commit()
    assert search_index.check(session).consistent and item.id in found(session, "双极板")


def test_a_dropped_trigger_is_reported_and_rebuild_restores_it(session, make_user, make_listing):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite keeps the index by triggers; PostgreSQL's is a generated column")
    uni = make_user("university")
    item = make_listing("achievement", uni, status="draft", title="光纤光栅温度传感器")
    session.execute(text("DROP TRIGGER achievements_fts_au"))
    session.commit()
    listings.update_listing(session, item, uni, {"title": "微波等离子体化学气相沉积金刚石"})
    session.commit()
    report = search_index.check(session)
    assert any("achievements_fts_au" in p for p in report.problems)
    search_index.rebuild(session)
    session.commit()
    report = search_index.check(session)
    assert report.consistent, report
    assert item.id in found(session, "金刚石") and item.id not in found(session, "光纤光栅")


def test_an_index_apart_from_its_rows_fails_the_integrity_check(session, make_user, make_listing):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("FTS5 only")
    uni = make_user("university")
    item = make_listing("achievement", uni, status="draft", title="生物质热解炭基肥")
    # the index told a row holds other words than it does (what a write around the triggers leaves)
    session.execute(text("INSERT INTO achievements_fts(achievements_fts, rowid, search_terms) "
                         "SELECT 'delete', id, search_terms FROM achievements WHERE id = :i"), {"i": item.id})
    session.execute(text("INSERT INTO achievements_fts(rowid, search_terms) VALUES (:i, '无关 词语')"),
                    {"i": item.id})
    session.commit()
    report = search_index.check(session)
    assert any("differs" in p for p in report.problems)
    search_index.rebuild(session)
    session.commit()
    assert search_index.check(session).consistent


WRITER = textwrap.dedent("""
    import sys, itertools
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session
    from models import Achievement
    from services import search_index  # installs the segmenting listener
    engine = create_engine(sys.argv[1])
    words = ["锂电池隔膜", "大豆育种", "工业机器人视觉", "海水淡化", "钙钛矿电池", "盐碱地改良"]
    with Session(engine) as s:
        for n in itertools.count():
            for item in s.scalars(select(Achievement).order_by(Achievement.id)):
                item.title = f"{words[n % len(words)]} 第{n}轮"
                item.abstract = f"{words[(n + 1) % len(words)]} 的摘要 {n}"
            s.flush()
            if n == 0:
                print("writing", flush=True)
            s.commit()
""")


def test_kill_9_in_the_middle_of_writes_leaves_the_index_with_its_rows(session, database_url, make_user,
                                                                       make_listing, tmp_path):
    uni = make_user("university")
    ids = [make_listing("achievement", uni, status="draft", title=f"初始标题 {i}").id for i in range(30)]
    session.close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, str(script), database_url], cwd=root, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(1.5)  # many commits, and one in flight when the kill lands
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    session.expire_all()
    report = search_index.check(session)
    assert report.consistent, report
    rows = {a.id: a for a in session.scalars(select(Achievement).where(Achievement.id.in_(ids)))}
    last = rows[ids[0]].title.split()[0]
    assert last != "初始标题" and set(ids) <= found(session, last)  # the last committed words are found


def test_words_most_listings_hold_are_not_asked_of_the_index_unless_nothing_else_is_left():
    from services.search import COMMON_SHARE, telling
    assert telling(["材料", "钙钛矿"], [COMMON_SHARE * 4, 0.001]) == ["钙钛矿"]
    assert telling(["材料", "方法"], [COMMON_SHARE * 4, COMMON_SHARE * 2]) == ["材料", "方法"]
    assert telling(["材料", "新词"], [COMMON_SHARE * 4, 0.0]) == ["新词"]
    assert telling(["材料"], None) == ["材料"]  # no matcher yet: every word is asked


def test_the_unranked_read_finds_what_the_ranked_one_does_and_asks_the_index_once(session, make_user, make_listing):
    """A search reads the listings holding a word unranked. On SQLite the MATCH stays a subquery the index answers
    once: folded into the listing scan (as a join without bm25() is, with no ANALYZE statistics) it ran once per
    published row, 0.5-1.2 s at 20k listings."""
    uni, broker = make_user("university"), make_user("broker")
    items = [make_listing("achievement", uni, reviewer=broker, title=f"固态电池电解质第{i}代") for i in range(3)]
    make_listing("achievement", uni, reviewer=broker, title="大豆分子育种平台")
    base = select(Achievement).where(Achievement.status == "published")
    words = search_index.query_words("固态电池")
    unranked = search_index.lexical_stmt(session, "achievement", base, words, 100, ranked=False)
    ranked = search_index.lexical_stmt(session, "achievement", base, words, 100)
    assert sorted(session.scalars(unranked)) == sorted(session.scalars(ranked)) == sorted(i.id for i in items)
    assert len(list(session.scalars(search_index.lexical_stmt(session, "achievement", base, words, 2,
                                                              ranked=False)))) == 2
    if session.get_bind().dialect.name == "sqlite":
        compiled = unranked.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = " | ".join(r[-1] for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "LIST SUBQUERY" in plan and "VIRTUAL TABLE" in plan, plan  # the MATCH once, its rowids a list
        assert not re.search(r"SCAN (TABLE )?achievements( |$)", plan), plan  # and no scan of the listings
