"""The faiss index follows the database: create, edit, close, a crash between commit and index write, rebuild."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Achievement, ListingVector, Status
from services import listings

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


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

    monkeypatch.setattr(runtime.indexing, "_job", crash)
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
    runtime.forget()
    assert not runtime.check(session).consistent
    report = runtime.rebuild(session)
    session.commit()
    assert report.encoded["achievement"] == 0  # vectors come from the database, nothing re-encoded
    assert _index_ids(app) == _live_ids(session) == {a.id}


def test_index_built_by_another_model_fails_loudly(app, session, people, make_listing):
    from matchmaking.vectorstore import FaissStore, IndexMismatchError
    make_listing("achievement", people["uni"], reviewer=people["broker"])
    runtime = _runtime(app)
    folder = runtime.index_dir("achievement")
    with pytest.raises(IndexMismatchError, match="rebuild"):
        FaissStore.load(folder, model_key="some-other-model@123", dim=runtime.encoder.dim)


def test_match_pages_are_not_held_up_while_a_sync_encodes(app, session, people, make_listing, monkeypatch):
    """index.sync encodes outside the lock that match pages take (the embedded job consumer runs it in web
    processes): while an encode is in progress, the store and matcher still answer."""
    import threading

    from web.db import sessionmaker_for

    runtime = _runtime(app)
    make_listing("achievement", people["uni"], reviewer=people["broker"])
    demand = make_listing("demand", people["company"], reviewer=people["broker"])
    encoder = runtime.encoder
    entered, release = threading.Event(), threading.Event()
    real = encoder.encode_passages

    def slow(texts, *a, **kw):
        entered.set()
        assert release.wait(30), "the test never released the encoder"
        return real(texts, *a, **kw)

    new = make_listing("achievement", people["uni"], status="draft", title="新成果：钠离子电池硬碳负极")
    from sqlalchemy import update  # published behind the index's back (no ORM change): the sync below picks it up
    session.execute(update(Achievement).where(Achievement.id == new.id).values(status=Status.PUBLISHED.value))
    session.commit()
    monkeypatch.setattr(encoder, "encode_passages", slow)

    def sync() -> None:
        with sessionmaker_for(app)() as s:
            runtime.sync(s, kinds=["achievement"])
            s.commit()

    worker = threading.Thread(target=sync)
    worker.start()
    try:
        assert entered.wait(30), "the sync never started encoding"
        answered = threading.Event()
        reader = threading.Thread(target=lambda: (runtime.store("achievement"), answered.set()))
        reader.start()
        assert answered.wait(10), "the store waited for the encode"
        assert new.id not in _index_ids(app)  # not yet: still encoding
    finally:
        release.set()
        worker.join(60)
    assert new.id in _index_ids(app) and _runtime(app).check(session).consistent
    assert runtime.find_matches(session, demand) is not None


def test_index_sync_on_the_command_line_names_the_encoder_and_shows_its_progress(app, session, people,
                                                                                 make_listing):
    from sqlalchemy import delete

    for i in range(3):
        make_listing("achievement", people["uni"], reviewer=people["broker"], title=f"单晶高镍正极包覆技术{i}")
    session.execute(delete(ListingVector))  # as after a model change: every vector must be encoded again
    session.commit()
    result = app.test_cli_runner().invoke(args=["index", "sync"])
    assert result.exit_code == 0, result.output
    assert "loading the embedding model / 加载嵌入模型" in result.stderr
    assert "encoding achievements / 编码成果: 0/3, 0 s" in result.stderr  # at once, before the first chunk
    assert "encoding achievements / 编码成果: 3/3" in result.stderr
    assert "achievement  encoded=3" in result.stdout
