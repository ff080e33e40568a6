"""Random create/edit/close sequences with crashes in the index writer; `flask index sync` reconciles."""
from __future__ import annotations

import pytest

import random

from sqlalchemy import select

from matchmaking import vectorstore
from models import Achievement, Demand, Status
from services import listings

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

OPS = 40


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def _live(session, model):
    return set(session.scalars(select(model.id).where(model.status == Status.PUBLISHED.value)))


def _on_disk(app, kind):
    """The ids a fresh process would load from the index folder."""
    runtime = app.extensions["matching"]
    enc = runtime.encoder
    return set(vectorstore.FaissStore.load(runtime.index_dir(kind), model_key=enc.model_key, dim=enc.dim).ids().tolist())


def _forget(runtime):
    """What a restarted process has: nothing in memory."""
    runtime.forget()


def test_random_sequences_with_crashes_are_reconciled_by_index_sync(app, session, make_user, monkeypatch):
    rng = random.Random(42)
    owners = {"demand": make_user("company"), "achievement": make_user("university")}
    broker = make_user("broker")
    runtime = app.extensions["matching"]
    real_save = vectorstore.FaissStore.save
    crashes = 0
    always = []

    def flaky_save(self, directory):
        if always or rng.random() < 0.35:
            where = rng.choice(("before", "after_index"))
            if where == "after_index":  # the data file is written, the manifest is not
                vectorstore._atomic_write(directory / "index-crashed.faiss",
                                          lambda p: vectorstore.faiss.write_index(self._index, p))
            raise Crash(where)
        return real_save(self, directory)

    monkeypatch.setattr(vectorstore.FaissStore, "save", flaky_save)
    items = []
    for n in range(OPS + 2):
        op = rng.choice(("create", "create", "edit", "close", "approve"))
        if n >= OPS:  # the last two publications crash for sure: the index is left behind
            always.append(True)
            op = "create"
        try:
            if op == "create" or not items:
                kind = rng.choice(("demand", "achievement"))
                item = listings.create_listing(session, kind, owners[kind], _data(kind, n))
                listings.transition(session, item, owners[kind], "submit")
                listings.transition(session, item, broker, "approve")
                items.append(item)
            else:
                item = rng.choice(items)
                if op == "edit" and item.status in listings.EDITABLE:
                    listings.update_listing(session, item, item.owner, {"title": f"修改后的标题 {n} 号"})
                elif op == "close" and item.status == "published":
                    listings.transition(session, item, item.owner, "close")
                elif op == "approve" and item.status == "submitted":
                    listings.transition(session, item, broker, "approve")
            session.commit()  # the index update runs after commit and may crash
        except Crash:
            crashes += 1
            _forget(runtime)
            session.close()  # the database commit went through; carry on with fresh objects
            items = [session.get(type(i), i.id) for i in items]
            owners = {k: session.get(type(u), u.id) for k, u in owners.items()}
            broker = session.get(type(broker), broker.id)
    monkeypatch.undo()
    assert crashes >= 5
    _forget(runtime)
    cli = app.test_cli_runner()
    assert cli.invoke(args=["index", "check"]).exit_code == 1  # the crashes left the index behind
    assert cli.invoke(args=["index", "sync"]).exit_code == 0
    result = cli.invoke(args=["index", "check"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert _on_disk(app, "demand") == _live(session, Demand)
    assert _on_disk(app, "achievement") == _live(session, Achievement)
    assert _live(session, Demand) | _live(session, Achievement)


def _data(kind, n):
    from tests.conftest import achievement_data, demand_data
    title = f"第{n}号" + ("需求：锂电池隔膜涂覆工艺改进" if kind == "demand" else "成果：陶瓷涂覆隔膜制备技术")
    return demand_data(title=title) if kind == "demand" else achievement_data(title=title)
