"""Two writers storing the same listing's vector (a request's after-commit sync and `flask index sync`, or the
background thread and the seed) must not collide on the unique key: the later one overwrites."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import event, select

from models import ListingVector
from services import indexing
from web.db import sessionmaker_for

pytestmark = pytest.mark.model  # publishing a listing encodes it with the real model


class _Encoder:
    """Stands in for the model: this test is about the rows, not the vectors' meaning."""
    model_key = "test-encoder"

    def __init__(self, value: float) -> None:
        self.value = value

    def encode_passages(self, texts):
        return [np.full(4, self.value, dtype=np.float32) for _ in texts]


def test_two_writers_of_one_vector_do_not_collide(app, make_user, make_listing):
    """The second writer looks before the first commits and writes after it: it must overwrite, not fail."""
    uni, broker = make_user("university"), make_user("broker")
    a = make_listing("achievement", uni, reviewer=broker)
    make = sessionmaker_for(app)
    engine = app.extensions["db_engine"]
    writing, errors = threading.Event(), []

    def signal(conn, cursor, statement, *args):
        if threading.current_thread().name == "second-writer" and "INSERT INTO listing_vectors" in statement:
            writing.set()

    def second_writer():
        try:
            with make() as second:
                docs = {a.id: indexing.to_doc(second.get(type(a), a.id))}
                indexing.refresh_vectors(second, _Encoder(2.0), "achievement", docs, have={})
                second.commit()
        except Exception as exc:  # surfaced below: the race's failure is an exception in this thread
            errors.append(exc)
            writing.set()

    event.listen(engine, "before_cursor_execute", signal)
    try:
        with make() as first:
            docs = {a.id: indexing.to_doc(first.get(type(a), a.id))}
            indexing.refresh_vectors(first, _Encoder(1.0), "achievement", docs, have={})  # flushed, not committed
            thread = threading.Thread(target=second_writer, name="second-writer")
            thread.start()
            assert writing.wait(30)  # the second writer is at its write, waiting on the first's lock
            first.commit()
        thread.join(30)
    finally:
        event.remove(engine, "before_cursor_execute", signal)
    assert not thread.is_alive() and errors == []
    with make() as s:
        rows = s.scalars(select(ListingVector).where(ListingVector.entity_id == a.id,
                                                     ListingVector.model_key == "test-encoder")).all()
        assert len(rows) == 1
        assert np.frombuffer(rows[0].vector, dtype=np.float32).tolist() == [2.0] * 4
