"""VECTOR_STORE=pgvector: a listing's vector is written in the listing's own transaction, so pgvector
search finds a published listing, its edited text and its closing at the commit that made them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pytest
from sqlalchemy import event, select, text

from matchmaking.pgvector_store import table_name
from tests.conftest import MODEL_DIR, achievement_data


@pytest.fixture
def app(tmp_path: Path, pg_url: str):
    """The application on PostgreSQL with the pgvector store."""
    from app import create_app

    application = create_app({"DATABASE_URL": pg_url, "INDEX_DIR": str(tmp_path / "index"),
                              "VECTOR_STORE": "pgvector", "INDEX_SYNC": "inline", "MATCHER_REFRESH": "inline", "JOBS_MODE": "inline",
                              "EMBEDDING_MODEL": MODEL_DIR, "SECRET_KEY": "test-secret", "TESTING": True,
                              "SERVER_NAME": "localhost", "MAIL_DIR": str(tmp_path / "mail")})
    yield application
    application.extensions["matching"].shelf.close()
    application.extensions["db_engine"].dispose()
    application.extensions["db_write_engine"].dispose()


def _vector(session, item) -> np.ndarray:
    from models import ListingVector

    blob = session.scalar(select(ListingVector.vector).where(
        ListingVector.entity_type == item.kind, ListingVector.entity_id == item.id))
    return np.frombuffer(blob, dtype=np.float32)


def test_listing_changes_are_in_pgvector_at_their_commit(app, session, make_user, make_listing, pg_url):
    from services import listings

    runtime = app.extensions["matching"]
    runtime.on_commit = lambda changed: None  # no after-commit path: only the listing's transaction indexes
    owner, broker = make_user("university"), make_user("broker")
    item = make_listing("achievement", owner, reviewer=broker)
    store = runtime.store("achievement")
    vec = _vector(session, item)
    assert store.search(vec, 1)[0][0] == item.id

    listings.update_listing(session, item, owner, achievement_data(title="钙钛矿叠层光伏组件封装工艺"))
    session.commit()  # an edited published listing goes back to review: out of the index
    assert item.id not in store
    listings.transition(session, item, broker, "approve")
    factory, table = runtime.factory, "vec_" + table_name("achievement", runtime.encoder.model_key)
    seen: list[int] = []

    def fail(s) -> None:  # runs after the indexing listener: sees its row, then makes the commit fail
        seen.append(s.execute(text(f"SELECT count(*) FROM {table}")).scalar())
        raise RuntimeError("commit fails")

    event.listen(factory, "before_commit", fail)
    try:
        with pytest.raises(RuntimeError, match="commit fails"):
            session.commit()
    finally:
        event.remove(factory, "before_commit", fail)
    session.rollback()
    assert seen == [1]  # written in the listing's transaction ...
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as other:
        assert other.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0  # ... and rolled back with it
    listings.transition(session, item, broker, "approve")
    session.commit()
    new = _vector(session, item)
    assert not np.allclose(new, vec)
    np.testing.assert_allclose(store.vectors([item.id])[0], new, atol=1e-6)
    assert store.search(new, 1)[0][0] == item.id

    listings.transition(session, item, owner, "close")
    session.commit()
    assert item.id not in store and store.search(new, 5) == []


def test_a_cached_match_page_follows_pgvector_writes(app, client, login, session, make_user, make_listing):
    """A served match page names both pgvector stamps (read in one query): a listing published after the page
    was stored is on the next one, even when the page-version bump is lost."""
    from services.cache import MemoryCache

    runtime = app.extensions["matching"]
    cache = runtime.pages.cache = MemoryCache(600)
    cache.shared = True
    broker = make_user("broker")
    demand = make_listing("demand", make_user("company"), reviewer=broker)
    make_listing("achievement", make_user("university"), reviewer=broker)
    assert runtime.stamps(("achievement", "demand")) == [runtime.stamp("achievement"), runtime.stamp("demand")]
    login(broker)
    url = f"/matches/demand/{demand.id}"
    assert client.get(url).status_code == 200
    pages = [k for k in cache._items if k.startswith("techmatch:page:")]
    assert len(pages) == 1
    assert client.get(url).status_code == 200 and [k for k in cache._items if k.startswith("techmatch:page:")] == pages
    before = runtime.stamp("achievement")
    cache.incr = lambda _key: 0  # every page-version bump from here on is lost (and not known to be)
    new = make_listing("achievement", make_user("university"), reviewer=broker, title="固态电池高镍正极界面稳定化包覆工艺")
    assert runtime.stamp("achievement") > before
    assert f'/achievement/{new.id}"' in client.get(url).get_data(as_text=True)
