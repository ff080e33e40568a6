"""Search as a newcomer tries it on the demo data (issue 17): natural Chinese queries, unsegmented or in two
words, find the related published listings on the first page, never an empty page while related ones exist,
with the query's words marked; filters still apply inside the full-text query, and a search that finds
nothing offers related fields. The demo is seeded and indexed once for the module (the real model)."""
from __future__ import annotations

import re

import pytest

from services import seed

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, new_database):
    from app import create_app
    from tests.conftest import app_config, dispose_app

    folder = tmp_path_factory.mktemp("demo-search")
    application = create_app(app_config(folder, new_database(folder)))
    with application.app_context():
        from web.db import db
        seed.load_demo(db())
        db().commit()
    assert application.test_cli_runner().invoke(args=["index", "sync"]).exit_code == 0
    yield application
    dispose_app(application)


def first_page(app, kind: str, **args) -> tuple[list[str], str]:
    page = app.test_client().get(f"/search/{kind}", query_string=args).get_data(as_text=True)
    found = re.findall(r'<a href="/%s/\d+">(.*?)</a>' % kind, page)
    return [re.sub(r"</?mark>", "", t) for t in found], page


# (query, kind, what a related title holds: every first-page result set must contain one of these, and the
# best result must hold one)
CASES = [
    ("固态电池", "achievement", ("电池", "储能", "固态", "电解质", "锂")),
    ("固态电池", "demand", ("电池", "储能", "固态", "锂")),
    ("锂电池回收", "achievement", ("回收", "电池", "锂")),
    ("工业机器人 视觉", "achievement", ("机器人", "视觉")),
    ("大豆 育种", "achievement", ("大豆",)),
]


@pytest.mark.parametrize("q, kind, related", CASES)
def test_natural_queries_find_the_related_listings_first(demo, q, kind, related):
    titles, page = first_page(demo, kind, q=q)
    assert titles, f"{q}: empty page"
    assert any(w in titles[0] for w in related), (q, titles[:3])
    assert "<mark>" in page  # the query's words are marked in what was found


def test_every_soybean_listing_is_on_the_first_page(demo):
    with demo.app_context():
        from sqlalchemy import select

        from models import Achievement
        from web.db import db
        soy = set(db().scalars(select(Achievement.title).where(Achievement.status == "published",
                                                                Achievement.title.contains("大豆"))))
    titles, _ = first_page(demo, "achievement", q="大豆 育种")
    assert soy and soy <= set(titles[: len(soy) + 3])


def test_a_two_character_query_and_a_one_character_query_still_find_listings(demo):
    assert first_page(demo, "achievement", q="电池")[0]
    assert first_page(demo, "achievement", q="锂")[0]


def test_filters_apply_inside_the_search_and_facets_count_what_was_found(demo):
    titles, page = first_page(demo, "achievement", q="固态电池", field="agriculture")
    assert not any("电池" in t for t in titles)
    _all, page = first_page(demo, "achievement", q="固态电池")
    assert re.search(r"\((\d+)\)</option>", page)  # the field and region options carry counts


def test_nothing_found_offers_the_unfiltered_count_and_related_fields(demo):
    _t, page = first_page(demo, "achievement", q="固态电池", field="agriculture.seed", region="xizang")
    if "results for these words without the other filters" not in page:  # the page speaks Chinese by default
        assert "不加其他筛选条件" in page
    titles, page = first_page(demo, "achievement", q="光伏清洗无人机巡检平台 zzqx", field="agriculture.seed")
    assert 'class="related"' in page


def test_a_query_of_words_most_listings_hold_is_ranked_by_the_engine(demo):
    from services import listings, search
    from web.db import db
    with demo.app_context():
        runtime = demo.extensions["matching"]
        first = search.find(db(), runtime, "achievement", listings.SearchFilters(q="大豆"), None, 1, 10)
        runtime.matchers.forget()  # a process's first search ranks as every later one does
        again = search.find(db(), runtime, "achievement", listings.SearchFilters(q="固态电池"), None, 1, 50)
        assert again.ids == search.find(db(), runtime, "achievement", listings.SearchFilters(q="固态电池"), None,
                                        1, 50).ids
        shares = runtime.word_shares(db(), "achievement", ["技术", "系统"])
        assert shares and all(s > search.COMMON_SHARE for s in shares)  # words most demo listings hold
        res = search.find(db(), runtime, "achievement", listings.SearchFilters(q="技术 系统"), None, 1, 10)
        assert first.order == "relevance" and res.order == "relevance" and res.rows
        filtered = search.find(db(), runtime, "achievement", listings.SearchFilters(q="技术 系统", field="agriculture"),
                               None, 1, 50)
        assert filtered.rows and all(r.field.code.startswith("agriculture") for r in filtered.rows)


def test_empty_pages_say_why_and_related_counts_hold_sub_fields(demo):
    _t, page = first_page(demo, "achievement", q="zzqxv")
    assert "没有找到与这些词相关的结果" in page and "请减少筛选条件" not in page  # no filter was set
    titles, _p = first_page(demo, "achievement", q="电池", page=50)
    assert not titles
    _t, page = first_page(demo, "achievement", q="电池", page=50)
    assert "没有第 50 页" in page and "前往最后一页" in page and "这一页超出了最后一页" not in page  # one notice
    with demo.app_context():
        from models import Achievement, Field
        from services import listings, search
        from sqlalchemy import func, or_, select
        from web.db import db
        f = listings.SearchFilters(q="新材料 zzqxv")
        rel = search.related(db(), "achievement", f, None, "zh")
        top = {code: n for code, _label, n in rel["fields"]}
        assert "new_materials" in top
        held = db().scalar(select(func.count()).select_from(Achievement).join(Field).where(
            Achievement.status == "published",
            or_(Field.code == "new_materials", Field.code.startswith("new_materials."))))
        assert top["new_materials"] == held > 0


def test_a_search_the_engine_finds_nothing_for_does_not_scan_every_listing(demo, monkeypatch):
    from services import listings, search
    from web.db import db
    scans = []
    real = listings.page
    monkeypatch.setattr(listings, "page", lambda *a, **kw: scans.append(1) or real(*a, **kw))
    with demo.app_context():
        runtime = demo.extensions["matching"]
        res = search.find(db(), runtime, "achievement", listings.SearchFilters(q="。。。！！ zzqxv"), None, 1, 10)
        assert res.total == 0 and not scans
        short = search.find(db(), runtime, "achievement", listings.SearchFilters(q="池"), None, 1, 10)
        assert short.rows  # one character inside words (电池): ranked, or else the literal filter finds it


def test_facets_count_each_found_listing_under_its_field_its_parent_and_its_region(demo):
    from collections import Counter

    from sqlalchemy import select

    from models import Achievement
    from services import listings, search
    from web.db import db
    with demo.app_context():
        res = search.find(db(), demo.extensions["matching"], "achievement", listings.SearchFilters(q="电池 材料 检测"),
                          None, 1, 10)
        assert res.ranked and len(res.ids) > 10
        want_field: Counter[str] = Counter()
        want_region: Counter[str] = Counter()
        for row in db().scalars(select(Achievement).where(Achievement.id.in_(res.ids))):
            want_region[row.region or ""] += 1
            if row.field is not None:
                want_field[(row.field.parent or row.field).code] += 1
                if row.field.parent is not None:
                    want_field[row.field.code] += 1
        got = search.facets(db(), "achievement", res)
        assert got == {"field": dict(want_field), "region": dict(want_region)}
        assert any("." in code for code in got["field"]) and sum(got["region"].values()) == len(res.ids)


def test_past_the_search_depth_the_engine_keeps_the_best_by_its_own_bm25(demo, monkeypatch):
    """The database hands over the listings holding a word in no order; when there are more than a search ranks,
    the engine keeps those its BM25 scores best (the database no longer scores every matching row)."""
    from services import listings, matching, search_index
    from web.db import db
    with demo.app_context():
        runtime = demo.extensions["matching"]
        base = listings.search_stmt("achievement", listings.SearchFilters(), None)
        stmt = search_index.lexical_stmt(db(), "achievement", base, search_index.query_words("电池 材料"), 5000,
                                         ranked=False)
        holding = list(db().scalars(stmt))
        assert len(holding) > 6
        ranked_stmt = search_index.lexical_stmt(db(), "achievement", base, search_index.query_words("电池 材料"), 5000)
        assert sorted(db().scalars(ranked_stmt)) == sorted(holding)  # the same listings, only unordered
        best = {i for i, _ in runtime.matcher("achievement", db()).lexical.search("电池 材料", 3, set(holding))}
        monkeypatch.setattr(matching, "SEARCH_DEPTH", 3)
        got = runtime.search_text(db(), "achievement", "电池 材料", list(reversed(holding)), admit=lambda ids: set())
        assert got and {i for i, _ in got} <= best


def test_a_query_holding_more_listings_than_are_read_unranked_is_ranked_by_the_index(demo, monkeypatch):
    from services import listings, search
    from web.db import db
    with demo.app_context():
        runtime = demo.extensions["matching"]
        before = search.find(db(), runtime, "achievement", listings.SearchFilters(q="电池 材料"), None, 1, 50)
        monkeypatch.setattr(search, "MATCHING_CAP", 2)
        capped = search.find(db(), runtime, "achievement", listings.SearchFilters(q="电池 材料"), None, 1, 50)
        assert capped.order == "relevance" and capped.rows
        assert capped.rows[0].id == before.rows[0].id


def test_an_engine_that_fails_leaves_the_index_ranked_order(demo, monkeypatch):
    """The listings holding a word come unranked for the engine; when it fails, the page gets the index's own best
    first, not the unranked read."""
    from services import listings, search, search_index
    from web.db import db
    with demo.app_context():
        runtime = demo.extensions["matching"]

        def broken(*a, **kw):
            raise RuntimeError("engine down")
        monkeypatch.setattr(runtime, "search_text", broken)
        res = search.find(db(), runtime, "achievement", listings.SearchFilters(q="电池 材料"), None, 1, 50)
        base = listings.search_stmt("achievement", listings.SearchFilters(), None)
        words = search.telling(search_index.query_words("电池 材料"),
                               runtime.word_shares(db(), "achievement", search_index.query_words("电池 材料")))
        best = list(db().scalars(search_index.lexical_stmt(db(), "achievement", base, words, search.SEARCH_DEPTH)))
        assert res.order == "words" and res.ids == best and len(best) > 3
