"""The faiss index follows the database: create, edit, close, a crash between commit and index write, rebuild."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Achievement, ListingVector, Status
from services import listings


@pytest.fixture
def people(make_user):
    return {"uni": make_user("university"), "broker": make_user("broker"), "company": make_user("company")}


def _runtime(app):
    return app.extensions["matching"]


def _live_ids(session):
    return set(session.scalars(select(Achievement.id).where(Achievement.status == Status.PUBLISHED.value)))


def _index_ids(app):
    return set(_runtime(app).store("achievement").ids().tolist())


def test_publish_edit_close_keep_index_equal_to_live_ids(app, session, people, make_listing):
    a = make_listing("achievement", people["uni"], reviewer=people["broker"])
    b = make_listing("achievement", people["uni"], reviewer=people["broker"], title="另一项成果：固态电解质膜")
    assert _index_ids(app) == _live_ids(session) == {a.id, b.id}
    listings.update_listing(session, a, people["uni"], {"title": "修改后的成果标题：包覆改性"})
    session.commit()  # edit of a published listing goes back to review and leaves the index
    assert _index_ids(app) == _live_ids(session) == {b.id}
    listings.transition(session, b, people["uni"], "close")
    session.commit()
    assert _index_ids(app) == _live_ids(session) == set()
    assert _runtime(app).check(session).consistent


def test_edited_text_is_re_encoded(app, session, people, make_listing):
    a = make_listing("achievement", people["uni"], reviewer=people["broker"])
    before = session.scalar(select(ListingVector.text_sha256).where(ListingVector.entity_id == a.id))
    listings.update_listing(session, a, people["uni"], {"abstract": "全新的摘要：采用喷雾干燥制备硅碳负极材料，首效90%。"})
    listings.transition(session, a, people["broker"], "approve")
    session.commit()
    after = session.scalar(select(ListingVector.text_sha256).where(ListingVector.entity_id == a.id))
    assert before != after and _index_ids(app) == {a.id}


def test_crash_between_commit_and_index_write_is_caught_up(app, session, people, make_listing, monkeypatch):
    runtime = _runtime(app)

    def crash(changed):
        raise RuntimeError("simulated crash after commit")

    monkeypatch.setattr(runtime, "_job", crash)
    a = make_listing("achievement", people["uni"], reviewer=people["broker"])
    assert session.get(Achievement, a.id).status == "published"  # the save is not lost
    monkeypatch.undo()
    report = runtime.check(session)
    assert not report.consistent and report.missing["achievement"] == 1
    runtime.sync(session)
    session.commit()
    assert runtime.check(session).consistent and _index_ids(app) == _live_ids(session) == {a.id}


def test_rebuild_restores_a_deleted_index(app, session, people, make_listing):
    import shutil
    a = make_listing("achievement", people["uni"], reviewer=people["broker"])
    shutil.rmtree(app.config["INDEX_DIR"])
    runtime = _runtime(app)
    runtime._stores.clear()
    assert not runtime.check(session).consistent
    report = runtime.rebuild(session)
    session.commit()
    assert report.encoded["achievement"] == 0  # vectors come from the database, nothing re-encoded
    assert _index_ids(app) == _live_ids(session) == {a.id}


def test_index_built_by_another_model_fails_loudly(app, session, people, make_listing):
    from matchmaking.vectorstore import FaissStore, IndexMismatchError
    make_listing("achievement", people["uni"], reviewer=people["broker"])
    runtime = _runtime(app)
    folder = runtime._dir("achievement")
    with pytest.raises(IndexMismatchError, match="rebuild"):
        FaissStore.load(folder, model_key="some-other-model@123", dim=runtime.encoder.dim)
